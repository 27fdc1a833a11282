//! The snapshot of a data product that one version freezes: its metadata and
//! its tables. Pure data with no storage or HTTP concerns; names and types in
//! it are already parsed, so a `Snapshot` is valid by construction except for
//! the field rules of SPEC section 2, which the API layer checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::column_type::ColumnType;
use super::names::{ColumnName, TableName};

/// A data product's lifecycle status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    #[default]
    Draft,
    Published,
    Deprecated,
    Retired,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Deprecated => "deprecated",
            Self::Retired => "retired",
        }
    }

    /// The status with this exact lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Published, Self::Deprecated, Self::Retired].into_iter().find(|status| status.as_str() == s)
    }
}

/// Everything about a data product but its name and tables, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductMetadata {
    pub description: String,
    pub domain: String,
    pub data_product_owner: String,
    pub data_product_owner_display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_product_maintainer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_product_maintainer_display_name: Option<String>,
    pub email: String,
    pub status: ProductStatus,
    pub retention_period: u32,
    pub dpia_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpia_location: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl ProductMetadata {
    /// Every field, in declaration order, by its camelCase wire name with its
    /// JSON value (an absent optional is `Value::Null`, tags an object).
    pub fn fields_json(&self) -> Vec<(&'static str, Value)> {
        let tags = self.tags.iter().map(|(key, value)| (key.clone(), Value::from(value.as_str()))).collect();
        vec![
            ("description", Value::from(self.description.as_str())),
            ("domain", Value::from(self.domain.as_str())),
            ("dataProductOwner", Value::from(self.data_product_owner.as_str())),
            ("dataProductOwnerDisplayName", Value::from(self.data_product_owner_display_name.as_str())),
            ("dataProductMaintainer", Value::from(self.data_product_maintainer.clone())),
            ("dataProductMaintainerDisplayName", Value::from(self.data_product_maintainer_display_name.clone())),
            ("email", Value::from(self.email.as_str())),
            ("status", Value::from(self.status.as_str())),
            ("retentionPeriod", Value::from(self.retention_period)),
            ("dpiaRequired", Value::from(self.dpia_required)),
            ("dpiaLocation", Value::from(self.dpia_location.clone())),
            ("tags", Value::Object(tags)),
        ]
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: ColumnName,
    pub ty: ColumnType,
    pub description: String,
    pub nullable: bool,
}

/// One table: its description and ordered columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: TableName,
    pub description: String,
    pub columns: Vec<Column>,
}

/// A data product as of one version; tables in any order, matched by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub metadata: ProductMetadata,
    pub tables: Vec<Table>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata() -> ProductMetadata {
        ProductMetadata {
            description: "Prison population".to_owned(),
            domain: "HMPPS".to_owned(),
            data_product_owner: "owner@example.com".to_owned(),
            data_product_owner_display_name: "Owner".to_owned(),
            data_product_maintainer: None,
            data_product_maintainer_display_name: None,
            email: "team@example.com".to_owned(),
            status: ProductStatus::Draft,
            retention_period: 365,
            dpia_required: false,
            dpia_location: None,
            tags: BTreeMap::from([("team".to_owned(), "data".to_owned())]),
        }
    }

    #[test]
    fn statuses_parse_and_render_by_their_lower_case_names() {
        for status in
            [ProductStatus::Draft, ProductStatus::Published, ProductStatus::Deprecated, ProductStatus::Retired]
        {
            assert_eq!(ProductStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), json!(status.as_str()));
        }
        assert_eq!(ProductStatus::parse("Draft"), None);
        assert_eq!(ProductStatus::default(), ProductStatus::Draft);
    }

    #[test]
    fn metadata_serializes_in_camel_case_and_omits_absent_optionals() {
        assert_eq!(
            serde_json::to_value(metadata()).unwrap(),
            json!({
                "description": "Prison population",
                "domain": "HMPPS",
                "dataProductOwner": "owner@example.com",
                "dataProductOwnerDisplayName": "Owner",
                "email": "team@example.com",
                "status": "draft",
                "retentionPeriod": 365,
                "dpiaRequired": false,
                "tags": { "team": "data" },
            })
        );
    }

    #[test]
    fn fields_json_lists_every_wire_field_with_its_value() {
        let mut metadata = metadata();
        metadata.dpia_location = Some("https://dpia".to_owned());
        let fields = metadata.fields_json();
        let serialized = serde_json::to_value(&metadata).unwrap();
        assert_eq!(fields.len(), 12);
        for (name, value) in &fields {
            assert_eq!(serialized.get(*name).unwrap_or(&Value::Null), value, "{name}");
        }
        assert_eq!(fields[4], ("dataProductMaintainer", Value::Null));
        assert_eq!(fields[10], ("dpiaLocation", json!("https://dpia")));
    }
}
