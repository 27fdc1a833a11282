//! The workflows behind the HTTP API: each owns its transaction, applies the
//! versioning rules of `domain::diff` to the latest snapshot, and writes a new
//! immutable version only when something changed. Writers to one product are
//! serialised, so version numbers never repeat and no change is lost.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, IntoActiveModel, TransactionTrait};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;

use crate::{
    auth::Principal,
    domain::{
        column_type::ColumnType,
        diff::{Change, ChangeClass, classify, diff},
        model::{Column, ProductMetadata, Snapshot, Table},
        names::{ColumnName, ProductName, TableName},
        public_id::PublicId,
        version::{Version, VersionSelector},
    },
    error::ApiError,
    events::{self, EventType, NewEvent, Notifier},
    idempotency::{self, ClaimedKey, StoredResponse},
    store::{
        Db,
        entities::{data_product_versions, data_products},
        products::{self as q, ProductFilter, ProductRow, TableRow, VersionRow},
    },
};

/// A product as of one version, ready to render.
#[derive(Debug, Clone)]
pub struct ProductView {
    pub name: String,
    pub version: Version,
    pub metadata: ProductMetadata,
    pub tables: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A table as it is in one version.
#[derive(Debug, Clone)]
pub struct TableView {
    pub product: String,
    pub version: Version,
    pub name: String,
    pub description: String,
    pub columns: Vec<ColumnRecord>,
}

/// A column as stored (JSON) and returned: the type in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub description: String,
    pub nullable: bool,
}

/// One entry of a product's history.
#[derive(Debug, Clone)]
pub struct VersionSummary {
    pub version: Version,
    pub change_type: ChangeClass,
    pub changes: Vec<Change>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// How a write is guarded and whether it is real.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The raw `If-Match` header.
    pub if_match: Option<String>,
    pub expected: Option<ChangeClass>,
    pub dry_run: bool,
}

/// What a write did (or, for a dry run or a no-op, would do).
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub product: ProductView,
    pub class: ChangeClass,
    pub changes: Vec<Change>,
    pub snapshot: Snapshot,
}

/// What a public ID names.
#[allow(clippy::large_enum_variant)]
pub enum Resolved {
    Product(ProductView),
    Table(TableView),
}

/// A write done but not yet committed: the handler renders its answer, which is stored
/// with the change (idempotency) when it commits.
pub struct Pending<T> {
    txn: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
    feed: Notifier,
    emitted: bool,
    pub value: T,
}

impl<T> Pending<T> {
    /// Starts a write transaction (holding the SQLite writer lock until it ends).
    pub(crate) async fn begin(db: &Db, value: T) -> Result<Pending<T>, ApiError> {
        let writer = db.writer().await;
        let txn = db.conn.begin().await?;
        Ok(Pending { txn, _writer: writer, feed: db.feed.clone(), emitted: false, value })
    }

    /// The transaction the write runs in.
    pub(crate) fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Pending<U> {
        Pending { txn: self.txn, _writer: self._writer, feed: self.feed, emitted: self.emitted, value: f(self.value) }
    }

    /// Appends an event to the feed in this transaction.
    pub(crate) async fn emit(&mut self, event: NewEvent) -> Result<(), ApiError> {
        events::append(&self.txn, event).await?;
        self.emitted = true;
        Ok(())
    }

    /// Commits the change together with the answer to replay for an idempotency key.
    pub async fn commit(self, answer: Option<(ClaimedKey, StoredResponse)>) -> Result<T, ApiError> {
        if let Some((key, response)) = &answer {
            idempotency::complete(&self.txn, key, response).await?;
        }
        self.txn.commit().await?;
        if self.emitted {
            self.feed.notify();
        }
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

fn version_of(major: i32, minor: i32) -> Version {
    Version { major: major as u32, minor: minor as u32 }
}

fn parse_metadata(json: &serde_json::Value) -> Result<ProductMetadata, ApiError> {
    serde_json::from_value(json.clone()).map_err(|e| internal("stored metadata", e))
}

fn parse_names(json: &serde_json::Value) -> Result<Vec<String>, ApiError> {
    serde_json::from_value(json.clone()).map_err(|e| internal("stored table names", e))
}

fn head_view(row: &ProductRow) -> Result<ProductView, ApiError> {
    Ok(ProductView {
        name: row.name.clone(),
        version: version_of(row.version_major, row.version_minor),
        metadata: parse_metadata(&row.metadata)?,
        tables: parse_names(&row.table_names)?,
        created_at: row.created_at,
        created_by: row.created_by.clone(),
        updated_at: row.updated_at,
        updated_by: row.updated_by.clone(),
        deleted_at: row.deleted_at,
    })
}

fn version_view(product: &ProductRow, v: &VersionRow) -> Result<ProductView, ApiError> {
    Ok(ProductView {
        name: product.name.clone(),
        version: version_of(v.major, v.minor),
        metadata: parse_metadata(&v.metadata)?,
        tables: parse_names(&v.table_names)?,
        created_at: product.created_at,
        created_by: product.created_by.clone(),
        updated_at: v.created_at,
        updated_by: v.created_by.clone(),
        deleted_at: product.deleted_at,
    })
}

fn table_view(product: &str, version: Version, row: TableRow) -> Result<TableView, ApiError> {
    Ok(TableView {
        product: product.to_owned(),
        version,
        name: row.name,
        description: row.description,
        columns: serde_json::from_value(row.columns).map_err(|e| internal("stored columns", e))?,
    })
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

fn table_from_row(row: &TableRow) -> Result<Table, ApiError> {
    let records: Vec<ColumnRecord> =
        serde_json::from_value(row.columns.clone()).map_err(|e| internal("stored columns", e))?;
    let columns = records
        .into_iter()
        .map(|r| {
            Ok(Column {
                name: ColumnName::parse(&r.name).map_err(|e| internal("stored column name", e))?,
                ty: ColumnType::parse(&r.ty).map_err(|e| internal("stored column type", e))?,
                description: r.description,
                nullable: r.nullable,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Table {
        name: TableName::parse(&row.name).map_err(|e| internal("stored table name", e))?,
        description: row.description.clone(),
        columns,
    })
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

/// `If-Match`: strong comparison (RFC 9110), so a weak tag never matches.
pub fn etag_matches_strong(header: &str, version: Version) -> bool {
    let want = format!("\"{version}\"");
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag == want)
}

fn metadata_json(m: &ProductMetadata) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(m).map_err(|e| internal("metadata to JSON", e))
}

fn names_json(snapshot: &Snapshot) -> serde_json::Value {
    serde_json::Value::from(snapshot.tables.iter().map(|t| t.name.as_str().to_owned()).collect::<Vec<_>>())
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
    let txn = &pending.txn;
    if q::find_product(txn, name.as_str(), true).await?.is_some() {
        return Err(already_exists(name));
    }
    let now = Utc::now();
    let first = Version::FIRST;
    let metadata_value = metadata_json(&metadata)?;
    let row = q::insert_product(
        txn,
        data_products::ActiveModel {
            name: Set(name.as_str().to_owned()),
            domain: Set(metadata.domain.clone()),
            status: Set(metadata.status.as_str().to_owned()),
            owner_lc: Set(metadata.data_product_owner.to_lowercase()),
            description_lc: Set(metadata.description.to_lowercase()),
            metadata: Set(metadata_value.clone()),
            table_names: Set(serde_json::json!([])),
            latest_version_id: Set(0),
            version_major: Set(first.major as i32),
            version_minor: Set(first.minor as i32),
            created_at: Set(now),
            created_by: Set(who.sub.clone()),
            updated_at: Set(now),
            updated_by: Set(who.sub.clone()),
            deleted_at: Set(None),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| on_unique(e, || already_exists(name)))?;
    let version = q::insert_version(
        txn,
        data_product_versions::ActiveModel {
            product_id: Set(row.id),
            major: Set(first.major as i32),
            minor: Set(first.minor as i32),
            change_type: Set(ChangeClass::Major.as_str().to_owned()),
            changes: Set(serde_json::json!([])),
            metadata: Set(metadata_value),
            table_names: Set(serde_json::json!([])),
            created_at: Set(now),
            created_by: Set(who.sub.clone()),
            ..Default::default()
        },
    )
    .await?;
    q::replace_tags(txn, row.id, tag_rows(&metadata)).await?;
    let mut active = row.into_active_model();
    active.latest_version_id = Set(version.id);
    let row = q::update_product(txn, active).await?;
    let view = head_view(&row)?;
    pending
        .emit(NewEvent {
            version: Some(view.version.to_string()),
            ..event(EventType::DataProductCreated, name.as_str(), who)
        })
        .await?;
    Ok(pending.map(|()| view))
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

/// Applies `change` to the latest snapshot of `name` and records a version if anything changed.
async fn write<F>(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    opts: &WriteOptions,
    change: F,
) -> Result<Pending<WriteOutcome>, ApiError>
where
    F: FnOnce(&Snapshot) -> Result<Snapshot, ApiError>,
{
    let pending = Pending::begin(db, ()).await?;
    let txn = &pending.txn;
    let row = q::lock_product(txn, name.as_str()).await?.ok_or_else(|| product_not_found(name.as_str()))?;
    if row.deleted_at.is_some() {
        return Err(ApiError::Conflict(format!("data product `{name}` is deleted; restore it before changing it")));
    }
    let current = version_of(row.version_major, row.version_minor);
    if let Some(if_match) = &opts.if_match
        && !etag_matches_strong(if_match, current)
    {
        return Err(ApiError::PreconditionFailed(format!(
            "If-Match {if_match} does not match the current version \"{current}\""
        )));
    }
    let tables = q::version_tables(txn, row.latest_version_id)
        .await?
        .iter()
        .map(table_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let old = Snapshot { metadata: parse_metadata(&row.metadata)?, tables };
    who.require_domain(&old.metadata.domain)?;
    let mut new = change(&old)?;
    // Moving a product into another domain needs that domain too.
    who.require_domain(&new.metadata.domain)?;
    new.tables.sort_by(|a, b| a.name.cmp(&b.name));
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
        let outcome = WriteOutcome { product: head_view(&row)?, class, changes, snapshot: old };
        return Ok(pending.map(|()| outcome));
    }
    let next = current.next(class);
    let now = Utc::now();
    let mut view = head_view(&row)?;
    view.version = next;
    view.metadata = new.metadata.clone();
    view.tables = new.tables.iter().map(|t| t.name.as_str().to_owned()).collect();
    view.updated_at = now;
    view.updated_by = who.sub.clone();
    if opts.dry_run {
        let outcome = WriteOutcome { product: view, class, changes, snapshot: new };
        return Ok(pending.map(|()| outcome));
    }
    let metadata_value = metadata_json(&new.metadata)?;
    let version = q::insert_version(
        txn,
        data_product_versions::ActiveModel {
            product_id: Set(row.id),
            major: Set(next.major as i32),
            minor: Set(next.minor as i32),
            change_type: Set(class.as_str().to_owned()),
            changes: Set(serde_json::to_value(&changes).map_err(|e| internal("changes to JSON", e))?),
            metadata: Set(metadata_value.clone()),
            table_names: Set(names_json(&new)),
            created_at: Set(now),
            created_by: Set(who.sub.clone()),
            ..Default::default()
        },
    )
    .await?;
    q::insert_tables(
        txn,
        version.id,
        new.tables
            .iter()
            .map(|t| {
                (
                    t.name.as_str().to_owned(),
                    t.description.clone(),
                    serde_json::to_value(records_of(t)).unwrap_or_default(),
                )
            })
            .collect(),
    )
    .await?;
    if new.metadata.tags != old.metadata.tags {
        q::replace_tags(txn, row.id, tag_rows(&new.metadata)).await?;
    }
    let mut active = row.into_active_model();
    active.domain = Set(new.metadata.domain.clone());
    active.status = Set(new.metadata.status.as_str().to_owned());
    active.owner_lc = Set(new.metadata.data_product_owner.to_lowercase());
    active.description_lc = Set(new.metadata.description.to_lowercase());
    active.metadata = Set(metadata_value);
    active.table_names = Set(names_json(&new));
    active.latest_version_id = Set(version.id);
    active.version_major = Set(next.major as i32);
    active.version_minor = Set(next.minor as i32);
    active.updated_at = Set(now);
    active.updated_by = Set(who.sub.clone());
    q::update_product(txn, active).await?;
    let outcome = WriteOutcome { product: view, class, changes, snapshot: new };
    Ok(pending.map(|()| outcome))
}

/// Replaces the metadata of `name` (every field but the name).
pub async fn update_metadata(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    metadata: ProductMetadata,
    opts: &WriteOptions,
) -> Result<Pending<WriteOutcome>, ApiError> {
    let mut pending = write(db, who, name, opts, |old| Ok(Snapshot { metadata, tables: old.tables.clone() })).await?;
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
    let table_name = table.name.clone();
    let mut created = false;
    let mut pending = write(db, who, name, opts, |old| {
        let mut new = old.clone();
        match new.tables.iter_mut().find(|t| t.name == table.name) {
            Some(existing) => *existing = table,
            None => {
                created = true;
                new.tables.push(table);
            }
        }
        Ok(new)
    })
    .await?;
    if wrote(&pending.value, opts) {
        let kind = if created { EventType::SchemaCreated } else { EventType::SchemaUpdated };
        let e = version_event(kind, &pending.value, who, Some(table_name.as_str()));
        pending.emit(e).await?;
    }
    let outcome = &pending.value;
    let written = outcome
        .snapshot
        .tables
        .iter()
        .find(|t| t.name == table_name)
        .ok_or_else(|| internal("put table", "the table is missing from the new snapshot"))?;
    let view = snapshot_table(name.as_str(), outcome.product.version, written);
    Ok(pending.map(|outcome| (outcome, view, created)))
}

/// Removes a table from the next (major) version.
pub async fn delete_table(
    db: &Db,
    who: &Principal,
    name: &ProductName,
    table: &TableName,
    opts: &WriteOptions,
) -> Result<Pending<WriteOutcome>, ApiError> {
    let mut pending = write(db, who, name, opts, |old| {
        let mut new = old.clone();
        let before = new.tables.len();
        new.tables.retain(|t| &t.name != table);
        if new.tables.len() == before {
            return Err(ApiError::not_found(format_args!("table `{table}` in the latest version of `{name}`")));
        }
        Ok(new)
    })
    .await?;
    if wrote(&pending.value, opts) {
        let e = version_event(EventType::SchemaDeleted, &pending.value, who, Some(table.as_str()));
        pending.emit(e).await?;
    }
    Ok(pending)
}

/// The latest version of a product.
pub async fn get_product(db: &Db, name: &ProductName, include_deleted: bool) -> Result<ProductView, ApiError> {
    let key = format!("latest:{name}:{include_deleted}");
    if let Some(view) = db.reads.get::<ProductView>(&key) {
        return Ok(view);
    }
    let epoch = db.reads.epoch();
    let row = q::find_product(&db.conn, name.as_str(), include_deleted)
        .await?
        .ok_or_else(|| product_not_found(name.as_str()))?;
    let view = head_view(&row)?;
    db.reads.put(key, epoch, view.clone());
    Ok(view)
}

/// One page of products and the name to continue after, if there is more.
pub async fn list_products(
    db: &Db,
    filter: &ProductFilter,
    limit: u64,
) -> Result<(Vec<ProductView>, Option<String>), ApiError> {
    let key = format!("list:{limit}:{filter:?}");
    if let Some(page) = db.reads.get::<(Vec<ProductView>, Option<String>)>(&key) {
        return Ok(page);
    }
    let epoch = db.reads.epoch();
    let mut rows = q::list_products(&db.conn, filter, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|r| r.name.clone()) } else { None };
    let views: Vec<ProductView> = rows.iter().map(head_view).collect::<Result<_, _>>()?;
    db.reads.put(key, epoch, (views.clone(), next.clone()));
    Ok((views, next))
}

/// The product, unless it is soft-deleted and the reader did not ask for deleted ones.
async fn live_product(db: &Db, name: &str, include_deleted: bool) -> Result<ProductRow, ApiError> {
    q::find_product(&db.conn, name, include_deleted).await?.ok_or_else(|| product_not_found(name))
}

async fn select_version(db: &Db, product: &ProductRow, selector: VersionSelector) -> Result<VersionRow, ApiError> {
    let found = match selector {
        VersionSelector::Latest => q::version_by_id(&db.conn, product.latest_version_id).await?,
        VersionSelector::Major(major) => q::find_version(&db.conn, product.id, major as i32, None).await?,
        VersionSelector::Exact(v) => {
            q::find_version(&db.conn, product.id, v.major as i32, Some(v.minor as i32)).await?
        }
    };
    found.ok_or_else(|| {
        ApiError::not_found(format_args!("version `{}` of data product `{}`", describe(selector), product.name))
    })
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
    let key = format!("version:{name}:{selector}:{include_deleted}");
    if let Some(view) = db.reads.get::<ProductView>(&key) {
        return Ok(view);
    }
    let epoch = db.reads.epoch();
    let product = live_product(db, name.as_str(), include_deleted).await?;
    let version = select_version(db, &product, selector).await?;
    let view = version_view(&product, &version)?;
    db.reads.put(key, epoch, view.clone());
    Ok(view)
}

/// Versions newest first, strictly older than `before`, and the last one shown if there is more.
pub async fn list_versions(
    db: &Db,
    name: &ProductName,
    before: Option<Version>,
    limit: u64,
    include_deleted: bool,
) -> Result<(Vec<VersionSummary>, Option<Version>), ApiError> {
    let product = live_product(db, name.as_str(), include_deleted).await?;
    let before = before.map(|v| (v.major as i32, v.minor as i32));
    let mut rows = q::list_versions(&db.conn, product.id, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let items: Vec<VersionSummary> = rows
        .into_iter()
        .map(|v| {
            Ok(VersionSummary {
                version: version_of(v.major, v.minor),
                change_type: ChangeClass::parse(&v.change_type)
                    .ok_or_else(|| internal("stored change type", &v.change_type))?,
                changes: serde_json::from_value(v.changes).map_err(|e| internal("stored changes", e))?,
                created_at: v.created_at,
                created_by: v.created_by,
            })
        })
        .collect::<Result<_, ApiError>>()?;
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
    let product = live_product(db, name.as_str(), include_deleted).await?;
    let version = select_version(db, &product, selector).await?;
    let at = version_of(version.major, version.minor);
    q::version_tables(&db.conn, version.id).await?.into_iter().map(|row| table_view(name.as_str(), at, row)).collect()
}

/// One table of the version a selector names.
pub async fn version_table(
    db: &Db,
    name: &ProductName,
    selector: VersionSelector,
    table: &TableName,
    include_deleted: bool,
) -> Result<TableView, ApiError> {
    let product = live_product(db, name.as_str(), include_deleted).await?;
    let version = select_version(db, &product, selector).await?;
    let at = version_of(version.major, version.minor);
    let row = q::version_table(&db.conn, version.id, table.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("table `{table}` in version {at} of `{name}`")))?;
    table_view(name.as_str(), at, row)
}

/// The direct diff between two versions' snapshots.
pub async fn compare(
    db: &Db,
    name: &ProductName,
    from: VersionSelector,
    to: VersionSelector,
    include_deleted: bool,
) -> Result<(Version, Version, Vec<Change>), ApiError> {
    let product = live_product(db, name.as_str(), include_deleted).await?;
    let from_row = select_version(db, &product, from).await?;
    let to_row = select_version(db, &product, to).await?;
    let a = snapshot_of(db, &from_row).await?;
    let b = snapshot_of(db, &to_row).await?;
    Ok((version_of(from_row.major, from_row.minor), version_of(to_row.major, to_row.minor), diff(&a, &b)))
}

async fn snapshot_of(db: &Db, version: &VersionRow) -> Result<Snapshot, ApiError> {
    let tables =
        q::version_tables(&db.conn, version.id).await?.iter().map(table_from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot { metadata: parse_metadata(&version.metadata)?, tables })
}

/// Soft-deletes a product: hidden from reads and lists, name kept.
pub async fn delete_product(db: &Db, who: &Principal, name: &ProductName) -> Result<Pending<()>, ApiError> {
    let mut pending = Pending::begin(db, ()).await?;
    let row = q::lock_product(&pending.txn, name.as_str())
        .await?
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(|| product_not_found(name.as_str()))?;
    who.require_domain(&row.domain)?;
    let mut active = row.into_active_model();
    active.deleted_at = Set(Some(Utc::now()));
    q::update_product(&pending.txn, active).await?;
    pending.emit(event(EventType::DataProductDeleted, name.as_str(), who)).await?;
    Ok(pending)
}

/// Undoes a soft delete without making a version.
pub async fn restore_product(db: &Db, who: &Principal, name: &ProductName) -> Result<Pending<ProductView>, ApiError> {
    let mut pending = Pending::begin(db, ()).await?;
    let row = q::lock_product(&pending.txn, name.as_str()).await?.ok_or_else(|| product_not_found(name.as_str()))?;
    who.require_domain(&row.domain)?;
    if row.deleted_at.is_none() {
        return Err(ApiError::Conflict(format!("data product `{name}` is not deleted")));
    }
    let mut active = row.into_active_model();
    active.deleted_at = Set(None);
    let row = q::update_product(&pending.txn, active).await?;
    let view = head_view(&row)?;
    pending.emit(event(EventType::DataProductRestored, name.as_str(), who)).await?;
    Ok(pending.map(|()| view))
}

/// Removes a product and all its versions for good, freeing the name.
pub async fn purge_product(db: &Db, who: &Principal, name: &ProductName) -> Result<Pending<()>, ApiError> {
    let mut pending = Pending::begin(db, ()).await?;
    let row = q::lock_product(&pending.txn, name.as_str()).await?.ok_or_else(|| product_not_found(name.as_str()))?;
    q::purge_product(&pending.txn, row.id).await?;
    crate::uploads::delete_for_product(&pending.txn, name.as_str()).await?;
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
