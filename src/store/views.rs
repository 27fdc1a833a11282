//! What reads return, decoded once from rows: a product as of one version, its tables,
//! its history, and the head (the mutable pointer to a product's latest version).
//! Snapshots of exact versions never change, so they are shared (`Arc`) from the cache.
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use sea_orm::DbErr;

use super::{
    products::ProductRow,
    versions::{TableRow, VersionRow},
};
use crate::domain::{
    diff::{Change, ChangeClass},
    model::ProductMetadata,
    version::Version,
};

// The one place rows become the values reads and writes work with.

/// A version as its stored numbers.
pub fn version_of(major: i32, minor: i32) -> Version {
    Version { major: major as u32, minor: minor as u32 }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &serde_json::Value) -> Result<T, DbErr> {
    T::deserialize(json).map_err(|e| DbErr::Json(format!("stored {what}: {e}")))
}

impl ProductView {
    /// The latest version of a product, from its row.
    pub fn of_row(row: &ProductRow) -> Result<ProductView, DbErr> {
        Ok(ProductView {
            name: row.name.clone(),
            version: version_of(row.version_major, row.version_minor),
            metadata: decode("metadata", &row.metadata)?,
            tables: decode("table names", &row.table_names)?,
            created_at: row.created_at,
            created_by: row.created_by.clone(),
            updated_at: row.updated_at,
            updated_by: row.updated_by.clone(),
            deleted_at: row.deleted_at,
        })
    }

    /// The product as of the version `row`, holding `tables`.
    pub fn of_version(head: &Head, row: &VersionRow, tables: &[TableView]) -> Result<ProductView, DbErr> {
        Ok(ProductView {
            name: head.name.clone(),
            version: version_of(row.major, row.minor),
            metadata: decode("metadata", &row.metadata)?,
            tables: tables.iter().map(|t| t.name.clone()).collect(),
            created_at: head.created_at,
            created_by: head.created_by.clone(),
            updated_at: row.created_at,
            updated_by: row.created_by.clone(),
            deleted_at: None,
        })
    }
}

impl Head {
    pub fn of_row(row: &ProductRow) -> Head {
        Head {
            id: row.id,
            name: row.name.clone(),
            domain: row.domain.clone(),
            latest: version_of(row.version_major, row.version_minor),
            deleted_at: row.deleted_at,
            created_at: row.created_at,
            created_by: row.created_by.clone(),
            loaded_at: std::time::Instant::now(),
        }
    }
}

impl TableView {
    /// A table of `product` as version `version` holds it.
    pub fn of_row(product: &str, version: Version, row: TableRow) -> Result<TableView, DbErr> {
        Ok(TableView {
            product: product.to_owned(),
            version,
            name: row.name,
            description: row.description,
            columns: decode("columns", &row.columns)?,
        })
    }
}

impl VersionSummary {
    pub fn of_row(row: VersionRow) -> Result<VersionSummary, DbErr> {
        Ok(VersionSummary {
            version: version_of(row.major, row.minor),
            change_type: ChangeClass::parse(&row.change_type)
                .ok_or_else(|| DbErr::Type(format!("stored change type `{}`", row.change_type)))?,
            changes: decode("changes", &row.changes)?,
            created_at: row.created_at,
            created_by: row.created_by,
        })
    }
}

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

/// Where a product stands now: the only part of it that changes.
#[derive(Debug, Clone)]
pub struct Head {
    pub id: i64,
    pub name: String,
    pub domain: String,
    pub latest: Version,
    pub deleted_at: Option<DateTime<Utc>>,
    /// When and by whom the product was created (every version shows it).
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// When this was read from the database.
    pub loaded_at: std::time::Instant,
}

/// One immutable version of a product, decoded, with its tables in name order, and the
/// JSON documents of it rendered when first served (for a product that is not deleted).
#[derive(Debug)]
pub struct VersionSnapshot {
    pub product: ProductView,
    pub tables: Vec<TableView>,
    /// The product's JSON answer.
    pub product_json: OnceLock<Bytes>,
    /// The JSON answer of each table, in the order of `tables`.
    pub table_json: Vec<OnceLock<Bytes>>,
    /// The JSON answer listing every table.
    pub tables_json: OnceLock<Bytes>,
    /// Approximate bytes this takes in memory (the cache's weight), rendered JSON included
    /// (about as large again as the decoded values).
    pub weight: u64,
}

impl VersionSnapshot {
    pub fn new(product: ProductView, tables: Vec<TableView>) -> Arc<VersionSnapshot> {
        let decoded = weigh_product(&product) + tables.iter().map(weigh_table).sum::<u64>();
        let table_json = tables.iter().map(|_| OnceLock::new()).collect();
        Arc::new(VersionSnapshot {
            product,
            tables,
            product_json: OnceLock::new(),
            table_json,
            tables_json: OnceLock::new(),
            weight: 2 * decoded,
        })
    }

    /// The position of table `name` in `tables`.
    pub fn table_index(&self, name: &str) -> Option<usize> {
        self.tables.binary_search_by(|t| t.name.as_str().cmp(name)).ok()
    }

    /// The product as of this version, as a reader that sees `head` is shown it.
    pub fn view(&self, head: &Head) -> ProductView {
        ProductView { deleted_at: head.deleted_at, ..self.product.clone() }
    }

    pub fn table(&self, name: &str) -> Option<&TableView> {
        self.table_index(name).map(|i| &self.tables[i])
    }
}

/// Fixed cost of an allocation-bearing value, on top of its bytes.
const OVERHEAD: u64 = 64;

fn weigh_product(p: &ProductView) -> u64 {
    let m = &p.metadata;
    let text = [
        &p.name,
        &p.created_by,
        &p.updated_by,
        &m.description,
        &m.domain,
        &m.data_product_owner,
        &m.data_product_owner_display_name,
        &m.email,
    ]
    .iter()
    .map(|s| s.len() as u64 + OVERHEAD)
    .sum::<u64>();
    let optional = [&m.data_product_maintainer, &m.data_product_maintainer_display_name, &m.dpia_location]
        .iter()
        .map(|s| s.as_ref().map_or(0, |s| s.len() as u64 + OVERHEAD))
        .sum::<u64>();
    let tags = m.tags.iter().map(|(k, v)| (k.len() + v.len()) as u64 + 2 * OVERHEAD).sum::<u64>();
    let names = p.tables.iter().map(|t| t.len() as u64 + OVERHEAD).sum::<u64>();
    std::mem::size_of::<VersionSnapshot>() as u64 + text + optional + tags + names
}

fn weigh_table(t: &TableView) -> u64 {
    let columns = t
        .columns
        .iter()
        .map(|c| (c.name.len() + c.ty.len() + c.description.len()) as u64 + 3 * OVERHEAD + 8)
        .sum::<u64>();
    std::mem::size_of::<TableView>() as u64
        + (t.product.len() + t.name.len() + t.description.len()) as u64
        + 3 * OVERHEAD
        + columns
}
