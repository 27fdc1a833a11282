//! Schema migrations for daap, applied in order and never edited once landed.
//! The same migrations run on PostgreSQL (production) and SQLite (embedded default).
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_events_idempotency;
mod m20261123_000003_uploads;
mod m20261123_000004_webhooks;
mod m20261203_000005_version_store;
mod m20261203_000006_upload_validation;
mod m20261203_000007_one_statement_table_change;

/// Every migration of the service, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_events_idempotency::Migration),
            Box::new(m20261123_000003_uploads::Migration),
            Box::new(m20261123_000004_webhooks::Migration),
            Box::new(m20261203_000005_version_store::Migration),
            Box::new(m20261203_000006_upload_validation::Migration),
            Box::new(m20261203_000007_one_statement_table_change::Migration),
        ]
    }
}

/// The content address of a table schema: sha256 (hex) of its description and columns in
/// canonical JSON (object keys sorted, no whitespace). Equal content, equal hash.
pub fn schema_blob_hash(description: &str, columns: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    // serde_json's Map is a BTreeMap (no `preserve_order`), so keys come out sorted.
    let canonical = serde_json::json!({ "c": columns, "d": description }).to_string();
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
