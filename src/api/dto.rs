//! Wire shapes of the HTTP API (camelCase JSON). Their `///` comments and validators
//! become the OpenAPI document; request bodies are checked by `api::input`, which
//! enforces the same rules and reports every violation at once.
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

use poem_openapi::{
    Enum, Object,
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};

use crate::{
    catalog::{ColumnRecord, ProductView, TableView, VersionSummary},
    domain::{
        diff::{Change, ChangeClass, ChangeKind},
        event::EventType,
        model::ProductStatus,
        version::Version,
    },
};

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-23T15:12:59.123Z`.
pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A time on the wire: RFC 3339 in UTC with millisecond precision, documented as
/// `format: date-time` so that generated clients hand out their language's time type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp(pub String);

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) if DateTime::parse_from_rfc3339(&s).is_ok() => Ok(Timestamp(s)),
            _ => Err(ParseError::custom("must be an RFC 3339 time")),
        }
    }
}

/// Lifecycle status of a data product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Published,
    Deprecated,
    Retired,
}

impl From<Status> for ProductStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => ProductStatus::Draft,
            Status::Published => ProductStatus::Published,
            Status::Deprecated => ProductStatus::Deprecated,
            Status::Retired => ProductStatus::Retired,
        }
    }
}

impl From<ProductStatus> for Status {
    fn from(s: ProductStatus) -> Self {
        match s {
            ProductStatus::Draft => Status::Draft,
            ProductStatus::Published => Status::Published,
            ProductStatus::Deprecated => Status::Deprecated,
            ProductStatus::Retired => Status::Retired,
        }
    }
}

/// How strongly a change can affect consumers: `major` may break them, `minor` cannot, `none` changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ChangeType {
    None,
    Minor,
    Major,
}

impl From<ChangeClass> for ChangeType {
    fn from(c: ChangeClass) -> Self {
        match c {
            ChangeClass::None => ChangeType::None,
            ChangeClass::Minor => ChangeType::Minor,
            ChangeClass::Major => ChangeType::Major,
        }
    }
}

/// What kind of change an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ChangeKind", rename_all = "snake_case")]
pub enum ChangeKindDto {
    MetadataChanged,
    TableAdded,
    TableRemoved,
    TableDescriptionChanged,
    ColumnAdded,
    ColumnRemoved,
    ColumnTypeChanged,
    ColumnNullabilityChanged,
    ColumnDescriptionChanged,
    ColumnsReordered,
}

impl From<ChangeKind> for ChangeKindDto {
    fn from(k: ChangeKind) -> Self {
        match k {
            ChangeKind::MetadataChanged => Self::MetadataChanged,
            ChangeKind::TableAdded => Self::TableAdded,
            ChangeKind::TableRemoved => Self::TableRemoved,
            ChangeKind::TableDescriptionChanged => Self::TableDescriptionChanged,
            ChangeKind::ColumnAdded => Self::ColumnAdded,
            ChangeKind::ColumnRemoved => Self::ColumnRemoved,
            ChangeKind::ColumnTypeChanged => Self::ColumnTypeChanged,
            ChangeKind::ColumnNullabilityChanged => Self::ColumnNullabilityChanged,
            ChangeKind::ColumnDescriptionChanged => Self::ColumnDescriptionChanged,
            ChangeKind::ColumnsReordered => Self::ColumnsReordered,
        }
    }
}

/// One classified change between two versions.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Change", rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ChangeDto {
    // What changed.
    pub kind: ChangeKindDto,
    /// The table concerned, for table and column changes.
    pub table: Option<String>,
    /// The top-level column concerned, for column changes (nested changes are reported on it).
    pub column: Option<String>,
    /// The metadata field, for `metadata_changed` (camelCase wire name).
    pub field: Option<String>,
    /// The value before the change.
    pub before: Option<serde_json::Value>,
    /// The value after the change.
    pub after: Option<serde_json::Value>,
    // How this change is classified.
    pub class: ChangeType,
    /// A sentence describing the change.
    pub message: String,
}

impl From<&Change> for ChangeDto {
    fn from(c: &Change) -> Self {
        ChangeDto {
            kind: c.kind.into(),
            table: c.table.clone(),
            column: c.column.clone(),
            field: c.field.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
            class: c.class.into(),
            message: c.message.clone(),
        }
    }
}

pub fn changes(list: &[Change]) -> Vec<ChangeDto> {
    list.iter().map(ChangeDto::from).collect()
}

/// A table of a version, by name and immutable public ID.
#[derive(Debug, Clone, Object)]
pub struct SchemaRef {
    /// Table name.
    pub name: String,
    /// Public ID of the table in this version, `dp:<name>:v<M>.<m>:<table>`.
    pub id: String,
}

/// A data product as of one version.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct DataProduct {
    /// Public ID of the product (always its latest version), `dp:<name>`.
    pub id: String,
    /// Unique name; never changes.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{1,62}$"))]
    pub name: String,
    /// The version shown, `v<major>.<minor>`.
    #[oai(validator(pattern = r"^v[0-9]+\.[0-9]+$"))]
    pub version: String,
    /// Public ID of exactly this version, `dp:<name>:v<M>.<m>`.
    pub version_id: String,
    /// What the product holds (1..=4096 characters).
    pub description: String,
    /// Owning domain, e.g. `HMPPS` (1..=64 characters).
    pub domain: String,
    /// E-mail of the owner.
    pub data_product_owner: String,
    /// Display name of the owner.
    pub data_product_owner_display_name: String,
    /// E-mail of the maintainer.
    pub data_product_maintainer: Option<String>,
    /// Display name of the maintainer.
    pub data_product_maintainer_display_name: Option<String>,
    /// Team contact e-mail.
    pub email: String,
    // Lifecycle status.
    pub status: Status,
    /// Retention period in days (0..=36500).
    pub retention_period: u32,
    /// Whether a data protection impact assessment is required.
    pub dpia_required: bool,
    /// Where the DPIA is kept.
    pub dpia_location: Option<String>,
    /// Free-form labels, string to string.
    pub tags: BTreeMap<String, String>,
    /// The tables of this version.
    pub schemas: Vec<SchemaRef>,
    /// When the product was created (RFC 3339, UTC).
    pub created_at: Timestamp,
    /// Who created the product (the token's `sub`).
    pub created_by: String,
    /// When this version was made (RFC 3339, UTC).
    pub updated_at: Timestamp,
    /// Who made this version.
    pub updated_by: String,
    /// When the product was soft-deleted; only shown with `includeDeleted=true`.
    pub deleted_at: Option<Timestamp>,
}

pub fn version_id(name: &str, version: Version) -> String {
    format!("dp:{name}:{version}")
}

pub fn table_id(name: &str, version: Version, table: &str) -> String {
    format!("dp:{name}:{version}:{table}")
}

impl From<&ProductView> for DataProduct {
    fn from(p: &ProductView) -> Self {
        let m = &p.metadata;
        DataProduct {
            id: format!("dp:{}", p.name),
            name: p.name.clone(),
            version: p.version.to_string(),
            version_id: version_id(&p.name, p.version),
            description: m.description.clone(),
            domain: m.domain.clone(),
            data_product_owner: m.data_product_owner.clone(),
            data_product_owner_display_name: m.data_product_owner_display_name.clone(),
            data_product_maintainer: m.data_product_maintainer.clone(),
            data_product_maintainer_display_name: m.data_product_maintainer_display_name.clone(),
            email: m.email.clone(),
            status: m.status.into(),
            retention_period: m.retention_period,
            dpia_required: m.dpia_required,
            dpia_location: m.dpia_location.clone(),
            tags: m.tags.clone(),
            schemas: p
                .tables
                .iter()
                .map(|t| SchemaRef { name: t.clone(), id: table_id(&p.name, p.version, t) })
                .collect(),
            created_at: timestamp(p.created_at),
            created_by: p.created_by.clone(),
            updated_at: timestamp(p.updated_at),
            updated_by: p.updated_by.clone(),
            deleted_at: p.deleted_at.map(timestamp),
        }
    }
}

/// A column of a table.
#[derive(Debug, Clone, Object)]
pub struct ColumnDef {
    /// Column name, unique within the table.
    #[oai(validator(pattern = r"^[a-z_][a-z0-9_]{0,127}$"))]
    pub name: String,
    /// Hive/Athena/Glue type in canonical form, e.g. `decimal(10,2)` or `struct<a:int,b:array<string>>`.
    /// Accepted case-insensitively with spaces; `integer` means `int`, `decimal` means `decimal(10,0)`.
    /// At most 10 container levels, 1,000 fields per struct and 10,000 type nodes (SPEC 8.1).
    #[oai(rename = "type", validator(min_length = 1, max_length = 65536))]
    pub ty: String,
    /// What the column holds (1..=1024 characters; tabs and line breaks allowed, no other
    /// control characters).
    #[oai(validator(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    ))]
    pub description: String,
    /// Whether the column may be null (default `true`).
    #[oai(default = "default_true")]
    pub nullable: bool,
}

fn default_true() -> bool {
    true
}

impl From<&ColumnRecord> for ColumnDef {
    fn from(c: &ColumnRecord) -> Self {
        ColumnDef { name: c.name.clone(), ty: c.ty.clone(), description: c.description.clone(), nullable: c.nullable }
    }
}

/// A table's schema as of one version.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct TableSchema {
    /// Public ID of the table in this version, `dp:<name>:v<M>.<m>:<table>`.
    pub id: String,
    /// Table name.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))]
    pub name: String,
    /// The product version this schema is read in.
    pub version: String,
    /// What the table holds.
    pub table_description: String,
    /// The columns, in order.
    pub columns: Vec<ColumnDef>,
}

impl From<&TableView> for TableSchema {
    fn from(t: &TableView) -> Self {
        TableSchema {
            id: table_id(&t.product, t.version, &t.name),
            name: t.name.clone(),
            version: t.version.to_string(),
            table_description: t.description.clone(),
            columns: t.columns.iter().map(ColumnDef::from).collect(),
        }
    }
}

/// A page of data products ordered by name.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DataProductPage {
    /// The products on this page.
    pub items: Vec<DataProduct>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An entry of a product's history.
#[derive(Debug, Clone, Object)]
#[oai(rename = "VersionSummary", rename_all = "camelCase")]
pub struct VersionSummaryDto {
    /// The version number, `v<M>.<m>`.
    pub version: String,
    /// Public ID of the version.
    pub id: String,
    // How the change that made it is classified (`v1.0` is `major`).
    pub change_type: ChangeType,
    /// What changed from the version before.
    pub changes: Vec<ChangeDto>,
    /// When the version was made.
    pub created_at: Timestamp,
    /// Who made it.
    pub created_by: String,
}

impl VersionSummaryDto {
    pub fn of(name: &str, v: &VersionSummary) -> Self {
        VersionSummaryDto {
            version: v.version.to_string(),
            id: version_id(name, v.version),
            change_type: v.change_type.into(),
            changes: changes(&v.changes),
            created_at: timestamp(v.created_at),
            created_by: v.created_by.clone(),
        }
    }
}

/// A page of versions, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct VersionPage {
    /// The versions on this page.
    pub items: Vec<VersionSummaryDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The tables of a version.
#[derive(Debug, Clone, Object)]
pub struct TableSchemaList {
    /// Every table, ordered by name.
    pub items: Vec<TableSchema>,
}

/// The result of a metadata write or a table removal.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProductWriteResult {
    // The product as of the new version (the current one when nothing changed; the would-be one on a dry run).
    pub data_product: DataProduct,
    // How the write is classified.
    pub change_type: ChangeType,
    /// Every change, relative to the version it replaced.
    pub changes: Vec<ChangeDto>,
}

/// The result of a table schema write.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SchemaWriteResult {
    // The product as of the new version.
    pub data_product: DataProduct,
    // The table as written.
    pub schema: TableSchema,
    // How the write is classified.
    pub change_type: ChangeType,
    /// Every change, relative to the version it replaced.
    pub changes: Vec<ChangeDto>,
}

/// The diff between two versions.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Comparison {
    /// The exact version compared from.
    pub from: String,
    /// The exact version compared to.
    pub to: String,
    // The strongest class among the changes.
    pub change_type: ChangeType,
    /// The changes that turn `from` into `to`.
    pub changes: Vec<ChangeDto>,
}

/// A class a write is expected to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ExpectedChange {
    None,
    Minor,
    Major,
}

/// Declares a request body holding every metadata member of a data product after its own
/// members. The members are written out (not flattened) so that the schema can say
/// `additionalProperties: false`, which is what the server enforces.
macro_rules! metadata_body {
    ($(#[$doc:meta])* $body:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Object)]
        #[oai(rename_all = "camelCase", deny_unknown_fields, skip_serializing_if_is_none, example)]
        pub struct $body {
            $($(#[$field_doc])* pub $field: $ty,)*
            /// What the product holds (free text: tabs and line breaks allowed, no other control characters).
            #[oai(validator(min_length = 1, max_length = 4096, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"))]
            pub description: String,
            /// Owning domain, e.g. `HMPPS` (no control characters).
            #[oai(validator(min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
            pub domain: String,
            /// E-mail address of the owner.
            #[oai(validator(max_length = 254, pattern = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"))]
            pub data_product_owner: String,
            /// Display name of the owner (no control characters).
            #[oai(validator(min_length = 1, max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
            pub data_product_owner_display_name: String,
            /// E-mail address of the maintainer.
            #[oai(validator(max_length = 254, pattern = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"))]
            pub data_product_maintainer: Option<String>,
            /// Display name of the maintainer (no control characters).
            #[oai(validator(min_length = 1, max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
            pub data_product_maintainer_display_name: Option<String>,
            /// Team contact e-mail address.
            #[oai(validator(max_length = 254, pattern = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"))]
            pub email: String,
            // Lifecycle status (default `draft`).
            pub status: Option<Status>,
            /// Retention period in days.
            #[oai(validator(minimum(value = "0"), maximum(value = "36500")))]
            pub retention_period: u32,
            /// Whether a data protection impact assessment is required.
            pub dpia_required: bool,
            /// Where the DPIA is kept (no control characters).
            #[oai(validator(min_length = 1, max_length = 2048, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
            pub dpia_location: Option<String>,
            /// Labels: at most 50; keys match `^[a-z0-9_.-]{1,64}$`, values at most 256 characters
            /// without control characters.
            #[oai(validator(max_properties = 50))]
            pub tags: Option<BTreeMap<String, String>>,
        }
    };
}

metadata_body! {
    /// The body of `POST /v1/data-products`. Unknown members are refused with 422.
    DataProductCreate {
        /// Unique name; never changes.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{1,62}$"))]
        name: String,
    }
}

metadata_body! {
    /// The body of `PUT /v1/data-products/{name}`: a full replacement of the metadata.
    /// Unknown members are refused with 422.
    DataProductUpdate {
        /// Optional; if present it must equal the name in the path.
        name: Option<String>,
        // Refuse the write with 409 unless the server classifies it so.
        expected_change: Option<ExpectedChange>,
    }
}

/// The body of `PUT /v1/data-products/{name}/schemas/{table}`: the whole table.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, skip_serializing_if_is_none, example)]
pub struct TableSchemaPut {
    /// What the table holds (free text: tabs and line breaks allowed, no other control characters).
    #[oai(validator(
        min_length = 1,
        max_length = 4096,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    ))]
    pub table_description: String,
    /// The columns in order: 1..=1000, names unique.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub columns: Vec<ColumnDef>,
    // Refuse the write with 409 unless the server classifies it so.
    pub expected_change: Option<ExpectedChange>,
}

/// The body of `POST /v1/webhooks`. Unknown members are refused with 422.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, skip_serializing_if_is_none, example)]
pub struct WebhookCreate {
    /// Where to POST events: an `http(s)` URL without credentials, at most 2048 characters.
    /// Hosts on loopback, link-local and private addresses are refused unless the server runs
    /// with `DAAP_WEBHOOK_ALLOW_PRIVATE=true`.
    #[oai(validator(max_length = 2048, pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+([/?#]\S*)?$"))]
    pub url: String,
    /// Only these event types (e.g. `schema.updated`), at most 100, each once; absent or empty:
    /// every type.
    #[oai(validator(max_items = 100, unique_items))]
    pub event_types: Option<Vec<EventTypeName>>,
    /// Only events of these data products (plain names), at most 100, each once; absent or
    /// empty: every product.
    #[oai(validator(max_items = 100, unique_items))]
    pub data_products: Option<Vec<String>>,
    /// A note for people (free text: tabs and line breaks allowed, no other control characters).
    #[oai(validator(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    ))]
    pub description: Option<String>,
}

/// A subscription's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Events are delivered.
    Active,
    /// An event kept failing for the whole retry window; see `pausedReason`.
    Paused,
}

/// A webhook subscription (its secret is shown only at creation).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Webhook {
    /// The subscription's id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event types it receives (empty: every type).
    pub event_types: Vec<EventTypeName>,
    /// Data products it receives events of (empty: every product).
    pub data_products: Vec<String>,
    /// The note given at creation.
    pub description: Option<String>,
    // `active`, or `paused` after an event failed for the whole retry window.
    pub status: WebhookStatus,
    /// Why the subscription was paused.
    pub paused_reason: Option<String>,
    /// When it was created (RFC 3339, UTC).
    pub created_at: Timestamp,
    /// Who created it (the token's `sub`).
    pub created_by: String,
}

/// The answer to `POST /v1/webhooks`: the subscription and its signing secret.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct WebhookCreated {
    #[oai(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes: the HMAC-SHA256 key (base64-decoded part) of the
    /// `webhook-signature` header. Shown only in this answer.
    pub secret: String,
}

/// A page of subscriptions in creation order.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct WebhookPage {
    /// Subscriptions, oldest first.
    pub items: Vec<Webhook>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Succeeded,
    /// A timeout, a connection error, a refused target, or a non-2xx answer.
    Failed,
}

/// One delivery attempt of one event.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Delivery {
    /// The event's `id` (also sent as `webhook-id`).
    pub event_id: String,
    /// 1 for the first attempt at this event, 2 for the first retry, ...
    pub attempt: u32,
    // `succeeded` (2xx) or `failed`.
    pub outcome: DeliveryOutcome,
    /// The receiver's HTTP status, when it answered.
    pub response_status: Option<u16>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: u64,
    /// What went wrong, for failed attempts.
    pub error: Option<String>,
    /// When the attempt ended (RFC 3339, UTC).
    pub attempted_at: Timestamp,
}

/// A page of delivery attempts, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DeliveryPage {
    /// Attempts, newest first.
    pub items: Vec<Delivery>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl From<&crate::webhooks::SubscriptionRow> for Webhook {
    fn from(row: &crate::webhooks::SubscriptionRow) -> Self {
        let filter = crate::webhooks::filter_of(row);
        Webhook {
            id: row.id.clone(),
            url: row.url.clone(),
            event_types: filter.event_types.into_iter().map(EventTypeName).collect(),
            data_products: filter.data_products,
            description: row.description.clone(),
            status: if row.status == crate::webhooks::PAUSED { WebhookStatus::Paused } else { WebhookStatus::Active },
            paused_reason: row.paused_reason.clone(),
            created_at: timestamp(row.created_at),
            created_by: row.created_by.clone(),
        }
    }
}

impl From<&crate::webhooks::DeliveryRow> for Delivery {
    fn from(row: &crate::webhooks::DeliveryRow) -> Self {
        Delivery {
            event_id: row.event_id.clone(),
            attempt: row.attempt.max(0) as u32,
            outcome: if row.outcome == crate::webhooks::DeliveryOutcome::Succeeded {
                DeliveryOutcome::Succeeded
            } else {
                DeliveryOutcome::Failed
            },
            response_status: row.response_status.and_then(|s| u16::try_from(s).ok()),
            latency_ms: row.latency_ms.max(0) as u64,
            error: row.error.clone(),
            attempted_at: timestamp(row.attempted_at),
        }
    }
}

/// An event type name as it travels: in `Event.type`, the feed's `type` filter and a
/// webhook's `eventTypes`. One schema, `EventType`, lists every type for all three.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventTypeName(pub String);

impl EventTypeName {
    fn allowed() -> String {
        EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl Type for EventTypeName {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "EventType".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference("EventType".to_owned())
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        registry.create_schema::<Self, _>("EventType".to_owned(), |_| MetaSchema {
            description: Some(
                "What happened: `data_product.*` for product lifecycle changes, `schema.*` for table \
                 changes, `upload.*` for uploads reaching a state.",
            ),
            enum_items: EventType::ALL.iter().map(|t| serde_json::Value::from(t.as_str())).collect(),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ToJSON for EventTypeName {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

impl ParseFromJSON for EventTypeName {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) => Self::parse_from_parameter(&s),
            _ => Err(ParseError::custom(format!("must be one of {}", Self::allowed()))),
        }
    }
}

impl ParseFromParameter for EventTypeName {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        match EventType::parse(value) {
            Some(t) => Ok(EventTypeName(t.as_str().to_owned())),
            None => Err(ParseError::custom(format!("must be one of {}", Self::allowed()))),
        }
    }
}

// Examples: the values `/docs` prefills. They are chosen so that "Try it out -> Execute" in
// workflow order (register the product, add the table, ask for an upload URL) succeeds on a
// fresh zero-setup server.

/// The product name of the examples.
pub const EXAMPLE_PRODUCT: &str = "prison_incidents";
/// The table name of the examples.
pub const EXAMPLE_TABLE: &str = "incidents";

fn example_columns() -> Vec<ColumnDef> {
    let column = |name: &str, ty: &str, description: &str, nullable: bool| ColumnDef {
        name: name.to_owned(),
        ty: ty.to_owned(),
        description: description.to_owned(),
        nullable,
    };
    vec![
        column("incident_id", "bigint", "Incident key", false),
        column("occurred_at", "timestamp", "When the incident happened", true),
        column("cost", "decimal(10,2)", "Cost in pounds", true),
    ]
}

fn example_tags() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([("team".to_owned(), "incidents".to_owned())]))
}

impl poem_openapi::types::Example for DataProductCreate {
    fn example() -> Self {
        DataProductCreate {
            name: EXAMPLE_PRODUCT.to_owned(),
            description: "Incidents recorded in prisons, one row per incident".to_owned(),
            domain: "HMPPS".to_owned(),
            data_product_owner: "jane.doe@justice.gov.uk".to_owned(),
            data_product_owner_display_name: "Jane Doe".to_owned(),
            data_product_maintainer: None,
            data_product_maintainer_display_name: None,
            email: "data-team@justice.gov.uk".to_owned(),
            status: Some(Status::Draft),
            retention_period: 3650,
            dpia_required: false,
            dpia_location: None,
            tags: example_tags(),
        }
    }
}

impl poem_openapi::types::Example for DataProductUpdate {
    fn example() -> Self {
        let c = DataProductCreate::example();
        DataProductUpdate {
            name: None,
            expected_change: None,
            description: c.description,
            domain: c.domain,
            data_product_owner: c.data_product_owner,
            data_product_owner_display_name: c.data_product_owner_display_name,
            data_product_maintainer: c.data_product_maintainer,
            data_product_maintainer_display_name: c.data_product_maintainer_display_name,
            email: c.email,
            status: Some(Status::Published),
            retention_period: c.retention_period,
            dpia_required: c.dpia_required,
            dpia_location: c.dpia_location,
            tags: c.tags,
        }
    }
}

impl poem_openapi::types::Example for TableSchemaPut {
    fn example() -> Self {
        TableSchemaPut {
            table_description: "One row per incident".to_owned(),
            columns: example_columns(),
            expected_change: None,
        }
    }
}

impl poem_openapi::types::Example for WebhookCreate {
    fn example() -> Self {
        WebhookCreate {
            url: "https://catalogue.example.com/hooks/daap".to_owned(),
            event_types: Some(vec![EventTypeName("schema.created".to_owned())]),
            data_products: Some(vec![EXAMPLE_PRODUCT.to_owned()]),
            description: Some("Catalogue sync".to_owned()),
        }
    }
}

impl poem_openapi::types::Example for DataProduct {
    fn example() -> Self {
        let c = DataProductCreate::example();
        let at = Timestamp("2026-11-23T15:12:59.123Z".to_owned());
        DataProduct {
            id: format!("dp:{EXAMPLE_PRODUCT}"),
            name: EXAMPLE_PRODUCT.to_owned(),
            version: "v1.1".to_owned(),
            version_id: format!("dp:{EXAMPLE_PRODUCT}:v1.1"),
            description: c.description,
            domain: c.domain,
            data_product_owner: c.data_product_owner,
            data_product_owner_display_name: c.data_product_owner_display_name,
            data_product_maintainer: None,
            data_product_maintainer_display_name: None,
            email: c.email,
            status: Status::Draft,
            retention_period: c.retention_period,
            dpia_required: c.dpia_required,
            dpia_location: None,
            tags: c.tags.unwrap_or_default(),
            schemas: vec![SchemaRef {
                name: EXAMPLE_TABLE.to_owned(),
                id: format!("dp:{EXAMPLE_PRODUCT}:v1.1:{EXAMPLE_TABLE}"),
            }],
            created_at: at.clone(),
            created_by: "alice".to_owned(),
            updated_at: at,
            updated_by: "alice".to_owned(),
            deleted_at: None,
        }
    }
}

impl poem_openapi::types::Example for TableSchema {
    fn example() -> Self {
        TableSchema {
            id: format!("dp:{EXAMPLE_PRODUCT}:v1.1:{EXAMPLE_TABLE}"),
            name: EXAMPLE_TABLE.to_owned(),
            version: "v1.1".to_owned(),
            table_description: "One row per incident".to_owned(),
            columns: example_columns(),
        }
    }
}
