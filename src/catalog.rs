//! The workflows behind the HTTP API: each owns its transaction, applies the
//! versioning rules of `domain::diff` to the latest version, and writes a new
//! immutable version only when something changed. Writers to one product are
//! serialised, so version numbers never repeat and no change is lost.
//!
//! A write reads and stores only what it changes (the metadata, or the one table it
//! names): versions share every other table with the version before (`store::versions`).
//! Reads go through the cache: a product's head says which version is latest, and an
//! exact version is an immutable snapshot, loaded once.
use std::sync::Arc;

use chrono::Utc;
use sea_orm::DatabaseTransaction;

pub use crate::store::views::{ColumnRecord, Head, ProductView, TableView, VersionSnapshot, VersionSummary};
use crate::{
    auth::Principal,
    domain::{
        column_type::ColumnType,
        diff::{Change, ChangeClass, classify, diff, diff_tables},
        model::{Column, ProductMetadata, Snapshot, Table},
        names::{ColumnName, ProductName, TableName},
        public_id::PublicId,
        version::{Version, VersionSelector},
    },
    error::{ApiError, FieldError},
    events::{EventType, NewEvent},
    idempotency::{ClaimedKey, StoredResponse},
    store::{
        Db,
        products::{self as q, ProductFilter, ProductRow},
        tx::Write,
        versions::{self as vq, VersionRow},
        views::version_of,
    },
};

/// At most this many tables in one version of a product (SPEC 8.1).
pub const MAX_TABLES: usize = 1000;

/// How a write is guarded and whether it is real.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The raw `If-Match` header.
    pub if_match: Option<String>,
    pub expected: Option<ChangeClass>,
    pub dry_run: bool,
    /// An `Idempotency-Key` is held: the answer is stored with the change, so the write
    /// runs in a transaction the answer can join.
    pub keyed: bool,
}

/// What a write did (or, for a dry run or a no-op, would do).
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub product: ProductView,
    pub class: ChangeClass,
    pub changes: Vec<Change>,
}

/// What a public ID names.
#[allow(clippy::large_enum_variant)]
pub enum Resolved {
    Product(ProductView),
    Table(TableView),
}

/// A write done but not yet committed: the handler renders its answer, which is stored
/// with the change (idempotency) when it commits (a `store::tx::Write` carrying a value).
pub struct Pending<T> {
    /// `None` when the change committed already (one statement, nothing to store with it).
    write: Option<Write>,
    pub value: T,
}

impl<T> Pending<T> {
    /// Starts a write transaction (holding the SQLite writer lock until it ends).
    pub(crate) async fn begin(db: &Db, value: T) -> Result<Pending<T>, ApiError> {
        Ok(Pending { write: Some(Write::begin(db).await?), value })
    }

    /// A write that committed on its own, its product's head already forgotten.
    fn committed(value: T) -> Pending<T> {
        Pending { write: None, value }
    }

    fn write(&self) -> &Write {
        self.write.as_ref().expect("only a write begun with `begin` is given out to add to")
    }

    /// The transaction the write runs in.
    pub(crate) fn txn(&self) -> &DatabaseTransaction {
        self.write().txn()
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Pending<U> {
        Pending { write: self.write, value: f(self.value) }
    }

    /// Appends an event to the feed in this transaction.
    pub(crate) async fn emit(&mut self, event: NewEvent) -> Result<(), ApiError> {
        let write = self.write.as_mut().expect("only a write begun with `begin` is given out to add to");
        Ok(write.emit(event).await?)
    }

    /// Commits the change together with the answer to replay for an idempotency key.
    pub async fn commit(self, answer: Option<(ClaimedKey, StoredResponse)>) -> Result<T, ApiError> {
        let Some(write) = self.write else {
            return match answer {
                None => Ok(self.value),
                Some(_) => Err(internal("idempotent answer", "the change committed without it")),
            };
        };
        write.commit(answer).await?;
        Ok(self.value)
    }
}

fn event(event_type: EventType, product: &str, who: &Principal) -> NewEvent {
    NewEvent {
        event_type,
        data_product: product.to_owned(),
        version: None,
        table: None,
        actor: who.sub.clone(),
        data: serde_json::json!({}),
    }
}

fn version_event(event_type: EventType, outcome: &WriteOutcome, who: &Principal, table: Option<&str>) -> NewEvent {
    NewEvent {
        version: Some(outcome.product.version.to_string()),
        table: table.map(str::to_owned),
        data: serde_json::json!({
            "changeType": outcome.class.as_str(),
            "changes": outcome.changes,
        }),
        ..event(event_type, &outcome.product.name, who)
    }
}

/// True when a write made a version (not a dry run, not a no-op).
fn wrote(outcome: &WriteOutcome, opts: &WriteOptions) -> bool {
    outcome.class != ChangeClass::None && !opts.dry_run
}

fn internal(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("{what}: {err}"))
}

fn records_of(table: &Table) -> Vec<ColumnRecord> {
    table
        .columns
        .iter()
        .map(|c| ColumnRecord {
            name: c.name.as_str().to_owned(),
            ty: c.ty.to_string(),
            description: c.description.clone(),
            nullable: c.nullable,
        })
        .collect()
}

/// A stored table, parsed back into domain types (for the versioning rules).
fn table_of(view: &TableView) -> Result<Table, ApiError> {
    table_from(&view.name, view.description.clone(), &view.columns)
}

fn table_from(name: &str, description: String, columns: &[ColumnRecord]) -> Result<Table, ApiError> {
    let columns = columns
        .iter()
        .map(|r| {
            Ok(Column {
                name: ColumnName::parse(&r.name).map_err(|e| internal("stored column name", e))?,
                ty: ColumnType::parse(&r.ty).map_err(|e| internal("stored column type", e))?,
                description: r.description.clone(),
                nullable: r.nullable,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Table { name: TableName::parse(name).map_err(|e| internal("stored table name", e))?, description, columns })
}

/// A table of the snapshot as it reads in `version`.
pub fn snapshot_table(product: &str, version: Version, table: &Table) -> TableView {
    TableView {
        product: product.to_owned(),
        version,
        name: table.name.as_str().to_owned(),
        description: table.description.clone(),
        columns: records_of(table),
    }
}

/// `If-None-Match`: weak comparison, so `W/"v1.2"` and `*` match too.
pub fn etag_matches(header: &str, version: Version) -> bool {
    let want = version.to_string();
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == want)
}

/// Why `If-Match` did not match: an unquoted tag (`v1.0`) is named as such, since ETags
/// are compared exactly as they were sent (`"v1.0"`).
fn if_match_failure(if_match: &str, current: Version) -> String {
    let unquoted = if_match.split(',').map(str::trim).any(|tag| tag != "*" && !tag.ends_with('"'));
    if unquoted {
        format!(
            "If-Match {if_match} is not a quoted entity tag: send the ETag exactly as it was received, \
             e.g. If-Match: \"{current}\" for the current version"
        )
    } else {
        format!("If-Match {if_match} does not match the current version \"{current}\"")
    }
}

/// `If-Match`: strong comparison (RFC 9110), so a weak tag never matches.
pub fn etag_matches_strong(header: &str, version: Version) -> bool {
    let want = format!("\"{version}\"");
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag == want)
}

fn tag_rows(m: &ProductMetadata) -> Vec<(String, String)> {
    m.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Registers a product at `v1.0`.
pub async fn create_product(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    metadata: ProductMetadata,
) -> Result<Pending<ProductView>, ApiError> {
    who.require_domain(&metadata.domain)?;
    let mut pending = Pending::begin(db, ()).await?;
    let txn = pending.txn();
    if q::find_product(txn, name.as_str(), true).await?.is_some() {
        return Err(already_exists(name));
    }
    let first = FirstVersion { name, metadata: &metadata, class: ChangeClass::Major, changes: &[] };
    let row = insert_first_version(txn, who, Utc::now(), first).await?;
    let view = ProductView::of_row(&row)?;
    pending
        .emit(NewEvent {
            version: Some(view.version.to_string()),
            ..event(EventType::DataProductCreated, name.as_str(), who)
        })
        .await?;
    Ok(pending.map(|()| view))
}

/// The first version of a new product, as it is recorded.
struct FirstVersion<'a> {
    name: &'a ProductName,
    metadata: &'a ProductMetadata,
    class: ChangeClass,
    changes: &'a [Change],
}

/// Inserts a new product's row, its first version (`v1.0`, `ord` 1) and its tags.
async fn insert_first_version(
    txn: &DatabaseTransaction,
    who: &Principal,
    now: chrono::DateTime<Utc>,
    first: FirstVersion<'_>,
) -> Result<ProductRow, ApiError> {
    let FirstVersion { name, metadata, class, changes } = first;
    let row = q::insert_product(txn, name.as_str(), metadata, &who.sub, now)
        .await
        .map_err(|e| on_unique(e, || already_exists(name)))?;
    let version = vq::insert_version(
        txn,
        vq::NewVersion {
            product_id: row.id,
            version: Version::FIRST,
            ord: 1,
            class,
            changes,
            metadata,
            actor: &who.sub,
            now,
        },
    )
    .await?;
    q::replace_tags(txn, row.id, tag_rows(metadata)).await?;
    Ok(q::set_first_version(txn, row, version.id).await?)
}

fn already_exists(name: &ProductName) -> ApiError {
    ApiError::AlreadyExists(format!(
        "a data product named `{name}` already exists (names of deleted products stay reserved)"
    ))
}

/// Maps a unique-constraint violation to a client error; anything else stays a server error.
fn on_unique(err: sea_orm::DbErr, client_error: impl FnOnce() -> ApiError) -> ApiError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => client_error(),
        _ => err.into(),
    }
}

fn product_not_found(name: &str) -> ApiError {
    ApiError::not_found(format_args!("data product `{name}`"))
}

/// What one write changes of the latest version.
enum Edit {
    Metadata(ProductMetadata),
    PutTable(Table),
    DeleteTable(TableName),
    /// A whole-product definition (SPEC 8.2): the metadata and every table at once.
    Define(ProductMetadata, Vec<Table>),
}

/// The latest version's table `name`, decoded, if it has one.
async fn live_table(txn: &DatabaseTransaction, row: &ProductRow, name: &TableName) -> Result<Option<Table>, ApiError> {
    let version = version_of(row.version_major, row.version_minor);
    match vq::live_table(txn, row.id, name.as_str()).await? {
        Some(stored) => Ok(Some(table_of(&TableView::of_row(&row.name, version, stored)?)?)),
        None => Ok(None),
    }
}

/// Applies `edit` to the latest version of `name` and records a version if anything
/// changed. Only the edited part is read, compared and stored: the versioning rules see
/// the old and new metadata and, for a table edit, that table alone.
async fn write(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    opts: &WriteOptions,
    edit: Edit,
) -> Result<Pending<WriteOutcome>, ApiError> {
    let pending = Pending::begin(db, ()).await?;
    let txn = pending.txn();
    let row = q::lock_product(txn, name.as_str()).await?.ok_or_else(|| product_not_found(name.as_str()))?;
    if row.deleted_at.is_some() {
        return Err(ApiError::Conflict(format!("data product `{name}` is deleted; restore it before changing it")));
    }
    let current = version_of(row.version_major, row.version_minor);
    if let Some(if_match) = &opts.if_match
        && !etag_matches_strong(if_match, current)
    {
        return Err(ApiError::PreconditionFailed(if_match_failure(if_match, current)));
    }
    let latest = ProductView::of_row(&row)?;
    let old_metadata = latest.metadata.clone();
    who.require_domain(&old_metadata.domain)?;
    let mut names = latest.tables.clone();
    let (old, new) = match edit {
        Edit::Metadata(metadata) => {
            (Snapshot { metadata: old_metadata, tables: vec![] }, Snapshot { metadata, tables: vec![] })
        }
        Edit::PutTable(table) => {
            let before = live_table(txn, &row, &table.name).await?;
            if before.is_none() && names.len() >= MAX_TABLES {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "",
                    format!("a data product has at most {MAX_TABLES} tables; `{name}` has {}", names.len()),
                )]));
            }
            let metadata = old_metadata.clone();
            (
                Snapshot { metadata: old_metadata, tables: before.into_iter().collect() },
                Snapshot { metadata, tables: vec![table] },
            )
        }
        Edit::DeleteTable(table) => {
            let before = live_table(txn, &row, &table).await?.ok_or_else(|| {
                ApiError::not_found(format_args!("table `{table}` in the latest version of `{name}`"))
            })?;
            let metadata = old_metadata.clone();
            (Snapshot { metadata: old_metadata, tables: vec![before] }, Snapshot { metadata, tables: vec![] })
        }
        Edit::Define(metadata, tables) => {
            if tables.len() > MAX_TABLES {
                return Err(too_many_tables(tables.len()));
            }
            let mut before = Vec::with_capacity(names.len());
            for stored in vq::tables_at(txn, row.id, row.latest_ord).await? {
                before.push(table_of(&TableView::of_row(&row.name, current, stored)?)?);
            }
            // Only the tables that differ take part: a table left as it was keeps its
            // interval, and the diff of the rest is the diff of the whole product.
            let removed_or_changed: Vec<Table> = before.iter().filter(|b| !tables.contains(b)).cloned().collect();
            let added_or_changed: Vec<Table> = tables.into_iter().filter(|t| !before.contains(t)).collect();
            (
                Snapshot { metadata: old_metadata, tables: removed_or_changed },
                Snapshot { metadata, tables: added_or_changed },
            )
        }
    };
    // Moving a product into another domain needs that domain too.
    who.require_domain(&new.metadata.domain)?;
    let changes = diff(&old, &new);
    let class = classify(&changes);
    if let Some(expected) = opts.expected
        && expected != class
    {
        return Err(ApiError::UnexpectedChange {
            detail: format!(
                "expectedChange is `{}` but this write is a `{}` change",
                expected.as_str(),
                class.as_str()
            ),
            changes,
        });
    }
    if class == ChangeClass::None {
        let outcome = WriteOutcome { product: latest, class, changes };
        return Ok(pending.map(|()| outcome));
    }
    let next = current.next(class);
    let ord = row.latest_ord + 1;
    let now = Utc::now();
    // The table names of the new version: one added or one removed at most.
    for table in &old.tables {
        names.retain(|n| n != table.name.as_str());
    }
    for table in &new.tables {
        names.push(table.name.as_str().to_owned());
    }
    names.sort();
    let mut view = latest;
    view.version = next;
    view.metadata = new.metadata.clone();
    view.tables = names.clone();
    view.updated_at = now;
    view.updated_by = who.sub.clone();
    if opts.dry_run {
        return Ok(pending.map(|()| WriteOutcome { product: view, class, changes }));
    }
    vq::insert_version(
        txn,
        vq::NewVersion {
            product_id: row.id,
            version: next,
            ord,
            class,
            changes: &changes,
            metadata: &new.metadata,
            actor: &who.sub,
            now,
        },
    )
    .await?;
    for table in old.tables.iter().filter(|t| !new.tables.iter().any(|n| n.name == t.name)) {
        vq::close_table(txn, row.id, table.name.as_str(), ord).await?;
    }
    for table in &new.tables {
        let columns = columns_json(&records_of(table))?;
        let blob = vq::put_blob(txn, row.id, &table.description, columns).await?;
        vq::replace_table(txn, row.id, table.name.as_str(), blob, ord).await?;
    }
    if new.metadata.tags != old.metadata.tags {
        q::replace_tags(txn, row.id, tag_rows(&new.metadata)).await?;
    }
    q::move_head(
        txn,
        row,
        q::NewHead { metadata: &new.metadata, tables: &names, ord, version: next, actor: &who.sub, now },
    )
    .await?;
    Ok(pending.map(|()| WriteOutcome { product: view, class, changes }))
}

/// Replaces the metadata of `name` (every field but the name).
pub async fn update_metadata(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    metadata: ProductMetadata,
    opts: &WriteOptions,
) -> Result<Pending<WriteOutcome>, ApiError> {
    let mut pending = write(db, who, name, opts, Edit::Metadata(metadata)).await?;
    if wrote(&pending.value, opts) {
        let e = version_event(EventType::DataProductUpdated, &pending.value, who, None);
        pending.emit(e).await?;
    }
    Ok(pending)
}

/// Creates or replaces one table; the flag says whether the table is new.
pub async fn put_table(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    table: Table,
    opts: &WriteOptions,
) -> Result<Pending<(WriteOutcome, TableView, bool)>, ApiError> {
    if let Some((outcome, created)) = change_table_at_once(db, who, name, &table, opts).await? {
        let view = snapshot_table(name.as_str(), outcome.product.version, &table);
        return Ok(Pending::committed((outcome, view, created)));
    }
    let table_name = table.name.clone();
    let mut pending = write(db, who, name, opts, Edit::PutTable(table.clone())).await?;
    let created = pending.value.changes.iter().any(|c| c.kind == crate::domain::diff::ChangeKind::TableAdded);
    if wrote(&pending.value, opts) {
        let kind = if created { EventType::SchemaCreated } else { EventType::SchemaUpdated };
        let e = version_event(kind, &pending.value, who, Some(table_name.as_str()));
        pending.emit(e).await?;
    }
    let view = snapshot_table(name.as_str(), pending.value.product.version, &table);
    Ok(pending.map(|outcome| (outcome, view, created)))
}

/// A version-creating table change in one statement, where the database can make one
/// (`store::versions::change_table`) and nothing has to commit with it (no idempotent
/// answer, not a dry run, no `If-Match`). The change is computed against the table as one
/// unlocked read finds it (the product's other tables are never read); the statement makes
/// the version only if the product, its domain and that table are still what it was
/// computed from, which is all a table change's class depends on. `None`: nothing was written, take the general path (which
/// also answers every error, read under the product's lock).
async fn change_table_at_once(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    table: &Table,
    opts: &WriteOptions,
) -> Result<Option<(WriteOutcome, bool)>, ApiError> {
    if !vq::changes_tables_in_one_statement(db.backend()) || opts.dry_run || opts.keyed || opts.if_match.is_some() {
        return Ok(None);
    }
    let Some(mut live) = vq::live_for_change(&db.conn, name.as_str(), table.name.as_str()).await? else {
        return Ok(None);
    };
    if live.deleted || who.require_domain(&live.domain).is_err() {
        return Ok(None);
    }
    let before = match (live.description.take(), live.columns.take()) {
        (Some(description), Some(columns)) => {
            let columns: Vec<ColumnRecord> =
                serde_json::from_value(columns).map_err(|e| internal("stored columns", e))?;
            Some(table_from(table.name.as_str(), description, &columns)?)
        }
        _ => None,
    };
    let changes = diff_tables(before.as_slice(), std::slice::from_ref(table));
    let class = classify(&changes);
    if class == ChangeClass::None || opts.expected.is_some_and(|expected| expected != class) {
        return Ok(None);
    }
    let created = before.is_none();
    let event_type = if created { EventType::SchemaCreated } else { EventType::SchemaUpdated };
    let changes_json = serde_json::to_value(&changes).map_err(|e| internal("changes to JSON", e))?;
    let change = vq::TableChange {
        product_id: live.product_id,
        domain: &live.domain,
        table: table.name.as_str(),
        old_hash: live.hash.clone(),
        class: class.as_str(),
        description: &table.description,
        columns: columns_json(&records_of(table))?,
        changes: changes_json.clone(),
        actor: &who.sub,
        now: Utc::now(),
        event_type: event_type.as_str(),
        event_data: serde_json::json!({ "changeType": class.as_str(), "changes": changes_json }),
        max_tables: MAX_TABLES,
    };
    let Some(row) = vq::change_table(&db.conn, change).await? else {
        return Ok(None);
    };
    db.reads.forget_head(name.as_str());
    db.feed.committed(vec![name.as_str().to_owned()]);
    Ok(Some((WriteOutcome { product: ProductView::of_row(&row)?, class, changes }, created)))
}

fn columns_json(columns: &[ColumnRecord]) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(columns).map_err(|e| internal("columns to JSON", e))
}

/// Removes a table from the next (major) version.
pub async fn delete_table(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    table: &TableName,
    opts: &WriteOptions,
) -> Result<Pending<WriteOutcome>, ApiError> {
    let mut pending = write(db, who, name, opts, Edit::DeleteTable(table.clone())).await?;
    if wrote(&pending.value, opts) {
        let e = version_event(EventType::SchemaDeleted, &pending.value, who, Some(table.as_str()));
        pending.emit(e).await?;
    }
    Ok(pending)
}

fn too_many_tables(count: usize) -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "/tables",
        format!("a data product has at most {MAX_TABLES} tables; the definition has {count}"),
    )])
}

/// Makes `name` exactly what a definition says, in one version (SPEC 8.2): creates the
/// product at `v1.0` holding every table when the name is free, else replaces its metadata
/// and every table at once (a table left out is removed). The flag says whether it was
/// created. One event per version: `data_product.created` or `data_product.updated`, with
/// the change class and changes.
pub async fn define_product(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    metadata: ProductMetadata,
    tables: Vec<Table>,
    opts: &WriteOptions,
) -> Result<Pending<(WriteOutcome, bool)>, ApiError> {
    if tables.len() > MAX_TABLES {
        return Err(too_many_tables(tables.len()));
    }
    if q::find_product(&db.conn, name.as_str(), true).await?.is_none() {
        match create_defined(db, who, name, &metadata, &tables, opts).await {
            // Another writer registered the name first: replace what it made.
            Err(ApiError::AlreadyExists(_)) => {}
            other => return other.map(|pending| pending.map(|outcome| (outcome, true))),
        }
    }
    let mut pending = write(db, who, name, opts, Edit::Define(metadata, tables)).await?;
    if wrote(&pending.value, opts) {
        let e = version_event(EventType::DataProductUpdated, &pending.value, who, None);
        pending.emit(e).await?;
    }
    Ok(pending.map(|outcome| (outcome, false)))
}

/// Registers a product at `v1.0` with every table of its definition.
async fn create_defined(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    metadata: &ProductMetadata,
    tables: &[Table],
    opts: &WriteOptions,
) -> Result<Pending<WriteOutcome>, ApiError> {
    who.require_domain(&metadata.domain)?;
    if let Some(if_match) = &opts.if_match {
        return Err(ApiError::PreconditionFailed(format!(
            "If-Match {if_match} cannot match: data product `{name}` does not exist yet"
        )));
    }
    // A first version is major and lists no changes (SPEC 3).
    let (class, changes) = (ChangeClass::Major, Vec::new());
    if let Some(expected) = opts.expected
        && expected != class
    {
        return Err(ApiError::UnexpectedChange {
            detail: format!(
                "expectedChange is `{}` but creating `{name}` makes its first version, a `major` change",
                expected.as_str()
            ),
            changes,
        });
    }
    let mut pending = Pending::begin(db, ()).await?;
    let txn = pending.txn();
    if q::find_product(txn, name.as_str(), true).await?.is_some() {
        return Err(already_exists(name));
    }
    let now = Utc::now();
    let mut names: Vec<String> = tables.iter().map(|t| t.name.as_str().to_owned()).collect();
    names.sort();
    if opts.dry_run {
        let view = ProductView {
            name: name.as_str().to_owned(),
            version: Version::FIRST,
            metadata: metadata.clone(),
            tables: names,
            created_at: now,
            created_by: who.sub.clone(),
            updated_at: now,
            updated_by: who.sub.clone(),
            deleted_at: None,
        };
        return Ok(pending.map(|()| WriteOutcome { product: view, class, changes }));
    }
    let row = insert_first_version(txn, who, now, FirstVersion { name, metadata, class, changes: &changes }).await?;
    for table in tables {
        let blob = vq::put_blob(txn, row.id, &table.description, columns_json(&records_of(table))?).await?;
        vq::open_table(txn, row.id, table.name.as_str(), blob, 1).await?;
    }
    let row = q::move_head(
        txn,
        row,
        q::NewHead { metadata, tables: &names, ord: 1, version: Version::FIRST, actor: &who.sub, now },
    )
    .await?;
    let outcome = WriteOutcome { product: ProductView::of_row(&row)?, class, changes };
    let e = version_event(EventType::DataProductCreated, &outcome, who, None);
    pending.emit(e).await?;
    Ok(pending.map(|()| outcome))
}

/// The head of `name`: from the cache when it can be trusted, else from the database.
async fn head(db: &Db, name: &str, include_deleted: bool) -> Result<Arc<Head>, ApiError> {
    let head = match db.reads.head(name) {
        Some(head) => head,
        None => {
            let generation = db.reads.generation();
            let row = q::find_product(&db.conn, name, true).await?.ok_or_else(|| product_not_found(name))?;
            let head = Arc::new(Head::of_row(&row));
            db.reads.put_head(generation, head.clone());
            head
        }
    };
    if head.deleted_at.is_some() && !include_deleted {
        return Err(product_not_found(name));
    }
    Ok(head)
}

/// The immutable snapshot of `version`, loaded once.
async fn snapshot(db: &Db, head: &Head, version: Version) -> Result<Option<Arc<VersionSnapshot>>, ApiError> {
    if version > head.latest {
        return Ok(None);
    }
    if let Some(found) = db.reads.snapshot(head.id, version) {
        return Ok(Some(found));
    }
    let Some(row) = vq::find_version(&db.conn, head.id, version.major as i32, Some(version.minor as i32)).await? else {
        return Ok(None);
    };
    let loaded = load_snapshot(db, head, &row).await?;
    db.reads.put_snapshot(head.id, version, loaded.clone());
    Ok(Some(loaded))
}

async fn load_snapshot(db: &Db, head: &Head, row: &VersionRow) -> Result<Arc<VersionSnapshot>, ApiError> {
    let version = version_of(row.major, row.minor);
    let tables = vq::tables_at(&db.conn, head.id, row.ord)
        .await?
        .into_iter()
        .map(|t| TableView::of_row(&head.name, version, t))
        .collect::<Result<Vec<_>, _>>()?;
    let view = ProductView::of_version(head, row, &tables)?;
    Ok(VersionSnapshot::new(view, tables))
}

/// The version a selector names now.
async fn select(db: &Db, head: &Head, selector: VersionSelector) -> Result<Version, ApiError> {
    let missing =
        || ApiError::not_found(format_args!("version `{}` of data product `{}`", describe(selector), head.name));
    match selector {
        VersionSelector::Latest => Ok(head.latest),
        VersionSelector::Exact(v) => Ok(v),
        VersionSelector::Major(m) if m == head.latest.major => Ok(head.latest),
        VersionSelector::Major(m) if m > head.latest.major => Err(missing()),
        VersionSelector::Major(m) => {
            // A major older than the latest one never gains another version.
            if let Some(v) = db.reads.major(head.id, m) {
                return Ok(v);
            }
            let row = vq::find_version(&db.conn, head.id, m as i32, None).await?.ok_or_else(missing)?;
            let v = version_of(row.major, row.minor);
            db.reads.put_major(head.id, m, v);
            Ok(v)
        }
    }
}

/// The snapshot a selector names, or 404, with the head it was read through.
pub async fn selected(
    db: &Db,
    name: &ProductName,
    selector: VersionSelector,
    include_deleted: bool,
) -> Result<(Arc<Head>, Arc<VersionSnapshot>), ApiError> {
    let head = head(db, name.as_str(), include_deleted).await?;
    let version = select(db, &head, selector).await?;
    let found = snapshot(db, &head, version).await?.ok_or_else(|| {
        ApiError::not_found(format_args!("version `{}` of data product `{}`", describe(selector), head.name))
    })?;
    Ok((head, found))
}

/// The latest version of a product.
pub async fn get_product(db: &Db, name: &ProductName, include_deleted: bool) -> Result<ProductView, ApiError> {
    get_version(db, name, VersionSelector::Latest, include_deleted).await
}

/// One page of products and the name to continue after, if there is more.
pub async fn list_products(
    db: &Db,
    filter: &ProductFilter,
    limit: u64,
) -> Result<(Vec<ProductView>, Option<String>), ApiError> {
    let mut rows = q::list_products(&db.conn, filter, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|r| r.name.clone()) } else { None };
    let views: Vec<ProductView> = rows.iter().map(ProductView::of_row).collect::<Result<_, _>>()?;
    Ok((views, next))
}

fn describe(selector: VersionSelector) -> String {
    match selector {
        VersionSelector::Latest => "latest".to_owned(),
        VersionSelector::Major(m) => format!("v{m}"),
        VersionSelector::Exact(v) => v.to_string(),
    }
}

/// A product as of the version a selector names.
pub async fn get_version(
    db: &Db,
    name: &ProductName,
    selector: VersionSelector,
    include_deleted: bool,
) -> Result<ProductView, ApiError> {
    let (head, found) = selected(db, name, selector, include_deleted).await?;
    Ok(found.view(&head))
}

/// Versions newest first, strictly older than `before`, and the last one shown if there is more.
pub async fn list_versions(
    db: &Db,
    name: &ProductName,
    before: Option<Version>,
    limit: u64,
    include_deleted: bool,
) -> Result<(Vec<VersionSummary>, Option<Version>), ApiError> {
    let head = head(db, name.as_str(), include_deleted).await?;
    let before = before.map(|v| (v.major as i32, v.minor as i32));
    let mut rows = vq::list_versions(&db.conn, head.id, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let items: Vec<VersionSummary> = rows.into_iter().map(VersionSummary::of_row).collect::<Result<_, _>>()?;
    let next = if more { items.last().map(|v| v.version) } else { None };
    Ok((items, next))
}

/// Every table of the version a selector names.
pub async fn version_tables(
    db: &Db,
    name: &ProductName,
    selector: VersionSelector,
    include_deleted: bool,
) -> Result<Vec<TableView>, ApiError> {
    let (_, found) = selected(db, name, selector, include_deleted).await?;
    Ok(found.tables.clone())
}

/// One table of the version a selector names.
pub async fn version_table(
    db: &Db,
    name: &ProductName,
    selector: VersionSelector,
    table: &TableName,
    include_deleted: bool,
) -> Result<TableView, ApiError> {
    let (_, found) = selected(db, name, selector, include_deleted).await?;
    found.table(table.as_str()).cloned().ok_or_else(|| {
        ApiError::not_found(format_args!("table `{table}` in version {} of `{name}`", found.product.version))
    })
}

/// The direct diff between two versions' snapshots (computed off the async workers: a
/// product may have many wide tables).
pub async fn compare(
    db: &Db,
    name: &ProductName,
    from: VersionSelector,
    to: VersionSelector,
    include_deleted: bool,
) -> Result<(Version, Version, Vec<Change>), ApiError> {
    let (_, a) = selected(db, name, from, include_deleted).await?;
    let (_, b) = selected(db, name, to, include_deleted).await?;
    let (va, vb) = (a.product.version, b.product.version);
    let changes = tokio::task::spawn_blocking(move || -> Result<Vec<Change>, ApiError> {
        Ok(diff(&domain_snapshot(&a)?, &domain_snapshot(&b)?))
    })
    .await
    .map_err(|e| internal("compare", e))??;
    Ok((va, vb, changes))
}

fn domain_snapshot(s: &VersionSnapshot) -> Result<Snapshot, ApiError> {
    Ok(Snapshot {
        metadata: s.product.metadata.clone(),
        tables: s.tables.iter().map(table_of).collect::<Result<_, _>>()?,
    })
}

/// Soft-deletes a product: hidden from reads and lists, name kept.
pub async fn delete_product(db: &Db, who: &Principal, name: &ProductName) -> Result<Pending<()>, ApiError> {
    let mut pending = Pending::begin(db, ()).await?;
    let row = q::lock_product(pending.txn(), name.as_str())
        .await?
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(|| product_not_found(name.as_str()))?;
    who.require_domain(&row.domain)?;
    q::set_deleted(pending.txn(), row, Some(Utc::now())).await?;
    pending.emit(event(EventType::DataProductDeleted, name.as_str(), who)).await?;
    Ok(pending)
}

/// Undoes a soft delete without making a version.
pub async fn restore_product(db: &Db, who: &Principal, name: &ProductName) -> Result<Pending<ProductView>, ApiError> {
    let mut pending = Pending::begin(db, ()).await?;
    let row = q::lock_product(pending.txn(), name.as_str()).await?.ok_or_else(|| product_not_found(name.as_str()))?;
    who.require_domain(&row.domain)?;
    if row.deleted_at.is_none() {
        return Err(ApiError::Conflict(format!("data product `{name}` is not deleted")));
    }
    let row = q::set_deleted(pending.txn(), row, None).await?;
    let view = ProductView::of_row(&row)?;
    pending.emit(event(EventType::DataProductRestored, name.as_str(), who)).await?;
    Ok(pending.map(|()| view))
}

/// Removes a product and all its versions for good, freeing the name.
pub async fn purge_product(db: &Db, who: &Principal, name: &ProductName) -> Result<Pending<()>, ApiError> {
    let mut pending = Pending::begin(db, ()).await?;
    let row = q::lock_product(pending.txn(), name.as_str()).await?.ok_or_else(|| product_not_found(name.as_str()))?;
    q::purge_product(pending.txn(), row.id).await?;
    crate::uploads::delete_for_product(pending.txn(), name.as_str()).await?;
    // The product's earlier events stay in the feed; this is their tombstone.
    pending.emit(event(EventType::DataProductPurged, name.as_str(), who)).await?;
    Ok(pending)
}

/// What a public ID names, as of the version it selects.
pub async fn resolve(db: &Db, id: &PublicId, include_deleted: bool) -> Result<Resolved, ApiError> {
    match &id.table {
        None => Ok(Resolved::Product(get_version(db, &id.product, id.selector, include_deleted).await?)),
        Some(table) => Ok(Resolved::Table(version_table(db, &id.product, id.selector, table, include_deleted).await?)),
    }
}

/// What an upload into `table` of `name` is checked against: the product's head (deleted
/// or not) and the table as the latest version has it, if it does.
pub async fn upload_target(
    db: &Db,
    name: &ProductName,
    table: &TableName,
) -> Result<(Arc<Head>, Option<TableView>), ApiError> {
    let head = head(db, name.as_str(), true).await?;
    let latest = snapshot(db, &head, head.latest)
        .await?
        .ok_or_else(|| internal("upload target", "the latest version is missing"))?;
    Ok((head.clone(), latest.table(table.as_str()).cloned()))
}
