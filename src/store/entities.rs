//! SeaORM entities, one module per table, mirroring `migration/` exactly.
//! Behaviour lives in `store::*` and `catalog`; these are plain row shapes. Outside
//! `store`, rows are seen only as the domain types its modules decode them into.

/// A data product and a copy of its latest version's metadata, for lists and filters.
pub(in crate::store) mod data_products {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "data_products")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub domain: String,
        pub status: String,
        pub owner_lc: String,
        pub description_lc: String,
        pub metadata: Json,
        pub table_names: Json,
        pub latest_version_id: i64,
        /// The `ord` of the latest version.
        pub latest_ord: i32,
        pub version_major: i32,
        pub version_minor: i32,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One tag of a product's latest version, so tag filters use an index.
pub(in crate::store) mod data_product_tags {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "data_product_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An immutable version: the metadata snapshot and what changed from the one before.
/// `ord` numbers a product's versions 1, 2, … in order; tables refer to it.
pub(in crate::store) mod data_product_versions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "data_product_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub product_id: i64,
        pub major: i32,
        pub minor: i32,
        pub ord: i32,
        pub change_type: String,
        pub changes: Json,
        pub metadata: Json,
        pub created_at: DateTimeUtc,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One distinct table content of a product (description and columns), stored once and
/// shared by every version and table name that has it; `hash` is its content address.
pub(in crate::store) mod schema_blobs {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "schema_blobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub product_id: i64,
        pub hash: String,
        pub description: String,
        pub columns: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A table name pointing at one blob for the versions `from_ord <= ord < to_ord`
/// (`to_ord` NULL: still in the latest version).
pub(in crate::store) mod version_tables {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "version_tables")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub product_id: i64,
        pub name: String,
        pub blob_id: i64,
        pub from_ord: i32,
        pub to_ord: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One entry of the change feed; `(txid, seq)` orders the feed.
pub(in crate::store) mod events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// The writing transaction's id (PostgreSQL; 0 on SQLite and for older rows).
        pub txid: i64,
        pub id: String,
        pub event_type: String,
        pub data_product: String,
        pub version: Option<String>,
        pub table_name: Option<String>,
        pub occurred_at: DateTimeUtc,
        pub actor: String,
        pub data: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A claimed idempotency key and, once finished, the response to replay.
pub(in crate::store) mod idempotency_keys {
    use sea_orm::entity::prelude::*;

    pub use crate::store::idempotency_keys::KeyState;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub principal: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub fingerprint: String,
        pub state: KeyState,
        pub locked_until: DateTimeUtc,
        pub response_status: Option<i32>,
        pub response_headers: Option<Json>,
        pub response_body: Option<String>,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A webhook subscription and where its delivery stands in the feed.
pub(in crate::store) mod webhook_subscriptions {
    use sea_orm::entity::prelude::*;

    pub use crate::store::webhooks::SubscriptionStatus;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub url: String,
        pub secret: String,
        pub event_types: Json,
        pub data_products: Json,
        pub description: Option<String>,
        pub status: SubscriptionStatus,
        pub paused_reason: Option<String>,
        pub cursor: i64,
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub next_attempt_at: DateTimeUtc,
        pub attempt: i32,
        pub first_failure_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One delivery attempt of one event to one subscription.
pub(in crate::store) mod webhook_deliveries {
    use sea_orm::entity::prelude::*;

    pub use crate::store::webhooks::DeliveryOutcome;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub subscription_id: String,
        pub event_id: String,
        pub event_seq: i64,
        pub attempt: i32,
        pub outcome: DeliveryOutcome,
        pub response_status: Option<i32>,
        pub latency_ms: i64,
        pub error: Option<String>,
        pub attempted_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A tracked upload; `status` goes `pending` -> `received` -> `validated` | `rejected`, or `expired`.
pub(in crate::store) mod uploads {
    use sea_orm::entity::prelude::*;

    pub use crate::store::uploads::{FileFormat, UploadStatus};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "uploads")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub id: String,
        pub data_product: String,
        pub version: String,
        pub table_name: String,
        /// The table's column names in `version`, what the file is validated against.
        pub columns: Json,
        pub filename: String,
        pub format: FileFormat,
        pub content_type: Option<String>,
        pub content_length: i64,
        pub content_md5: String,
        pub bucket: String,
        pub object_key: String,
        pub multipart_id: Option<String>,
        pub part_size: Option<i64>,
        pub status: UploadStatus,
        pub size: Option<i64>,
        pub etag: Option<String>,
        pub received_at: Option<DateTimeUtc>,
        pub rejection: Option<String>,
        pub expires_at: DateTimeUtc,
        pub lease_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        /// The validation report (`uploads::validate::Report`), once the file was checked.
        pub validation: Option<Json>,
        /// The validation worker holding a `received` upload until `lease_until`.
        pub validation_lease: Option<String>,
        /// How many times a validation worker took the upload.
        pub validation_attempts: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
