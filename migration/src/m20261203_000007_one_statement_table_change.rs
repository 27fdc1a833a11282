//! A table's open interval is unique per name (a partial unique index, which also makes
//! "the latest version's table `t`" one index lookup however long its history is; it
//! replaces the unique index on `(product_id, name, from_ord)`, which a fresh `from_ord`
//! under the product's lock made redundant), the feed's indexes by `seq` alone go (every
//! read orders by `(txid, seq)` since migration 000005), so a write maintains fewer, and,
//! on PostgreSQL, `daap_change_table`: the whole of a version-creating table change as one
//! function call, so the product's row lock is held for one round trip and the commit.
//!
//! The caller diffs the new table against the content it last saw (hash `p_old_hash`,
//! `NULL` for a new table) and passes the change's class. The function locks the product,
//! and, in fresh snapshots taken after the lock, checks that the product is live, still in
//! `p_domain`, and that the table still has that content; the class of a table change
//! depends on nothing else, so the version it makes is the current version moved by that
//! class. When a check fails it returns no row and changes nothing: the caller then takes
//! the general path, which reads everything under the lock and answers the right error.
use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VersionTables {
    Table,
    ProductId,
    Name,
    FromOrd,
    ToOrd,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    DataProduct,
    EventType,
    Seq,
}

/// Indexes of the feed by `seq` alone, which no read uses any more.
const SEQ_INDEXES: [(&str, Events); 2] =
    [("events_data_product_seq_idx", Events::DataProduct), ("events_type_seq_idx", Events::EventType)];

const NAME_FROM_KEY: &str = "version_tables_product_name_from_key";

const LIVE_INDEX: &str = "version_tables_live_key";

const CHANGE_TABLE: &str = r#"
CREATE OR REPLACE FUNCTION daap_change_table(
    p_product bigint, p_domain text, p_table text, p_old_hash text, p_class text,
    p_hash text, p_description text, p_columns jsonb, p_changes jsonb, p_actor text,
    p_now timestamptz, p_event_id text, p_event_type text, p_event_data jsonb,
    p_max_tables integer)
RETURNS SETOF data_products
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    r data_products%ROWTYPE;
    live text;
    names jsonb;
    next_major integer;
    next_minor integer;
    next_ord integer;
    blob bigint;
BEGIN
    SELECT * INTO r FROM data_products WHERE id = p_product FOR UPDATE;
    IF NOT FOUND OR r.deleted_at IS NOT NULL OR r.domain <> p_domain THEN
        RETURN;
    END IF;
    -- Each statement below reads a snapshot taken after the lock: every earlier writer of
    -- this product has committed.
    SELECT b.hash INTO live FROM version_tables t JOIN schema_blobs b ON b.id = t.blob_id
     WHERE t.product_id = p_product AND t.name = p_table AND t.to_ord IS NULL;
    IF live IS DISTINCT FROM p_old_hash THEN
        RETURN;
    END IF;
    names := r.table_names;
    IF live IS NULL THEN
        IF jsonb_array_length(names) >= p_max_tables THEN
            RETURN;
        END IF;
        SELECT jsonb_agg(n ORDER BY n COLLATE "C") INTO names
          FROM (SELECT jsonb_array_elements_text(r.table_names) AS n UNION ALL SELECT p_table) AS s;
    END IF;
    IF p_class = 'major' THEN
        next_major := r.version_major + 1;
        next_minor := 0;
    ELSE
        next_major := r.version_major;
        next_minor := r.version_minor + 1;
    END IF;
    next_ord := r.latest_ord + 1;
    INSERT INTO data_product_versions (product_id, major, minor, ord, change_type, changes, metadata, created_at, created_by)
    VALUES (p_product, next_major, next_minor, next_ord, p_class, p_changes, r.metadata, p_now, p_actor);
    INSERT INTO schema_blobs (product_id, hash, description, columns)
    VALUES (p_product, p_hash, p_description, p_columns)
    ON CONFLICT (product_id, hash) DO NOTHING RETURNING id INTO blob;
    IF blob IS NULL THEN
        SELECT id INTO blob FROM schema_blobs WHERE product_id = p_product AND hash = p_hash;
    END IF;
    UPDATE version_tables SET to_ord = next_ord
     WHERE product_id = p_product AND name = p_table AND to_ord IS NULL;
    INSERT INTO version_tables (product_id, name, blob_id, from_ord) VALUES (p_product, p_table, blob, next_ord);
    UPDATE data_products
       SET table_names = names, latest_ord = next_ord, version_major = next_major, version_minor = next_minor,
           updated_at = p_now, updated_by = p_actor
     WHERE id = p_product
    RETURNING * INTO r;
    INSERT INTO events (id, event_type, data_product, version, table_name, occurred_at, actor, data)
    VALUES (p_event_id, p_event_type, r.name, format('v%s.%s', next_major, next_minor), p_table, p_now, p_actor,
            p_event_data);
    RETURN NEXT r;
END
$fn$
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(LIVE_INDEX)
                    .table(VersionTables::Table)
                    .col(VersionTables::ProductId)
                    .col(VersionTables::Name)
                    .unique()
                    .and_where(Expr::col(VersionTables::ToOrd).is_null())
                    .to_owned(),
            )
            .await?;
        manager.drop_index(Index::drop().name(NAME_FROM_KEY).table(VersionTables::Table).to_owned()).await?;
        for (name, _) in SEQ_INDEXES {
            manager.drop_index(Index::drop().name(name).table(Events::Table).to_owned()).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(CHANGE_TABLE).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP FUNCTION IF EXISTS daap_change_table(bigint, text, text, text, text, text, text, jsonb, \
                     jsonb, text, timestamptz, text, text, jsonb, integer)",
                )
                .await?;
        }
        for (name, col) in SEQ_INDEXES {
            manager
                .create_index(Index::create().name(name).table(Events::Table).col(col).col(Events::Seq).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(NAME_FROM_KEY)
                    .table(VersionTables::Table)
                    .col(VersionTables::ProductId)
                    .col(VersionTables::Name)
                    .col(VersionTables::FromOrd)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.drop_index(Index::drop().name(LIVE_INDEX).table(VersionTables::Table).to_owned()).await?;
        Ok(())
    }
}
