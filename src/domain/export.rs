//! Exports of one version in formats other tools read: an Open Data Contract Standard
//! (ODCS v3.2.0) document for the product, and a JSON Schema (2020-12) for one row of a
//! table. Both are pure functions of the frozen snapshot, so an exact version always
//! exports the same bytes.
//!
//! Decimals are JSON strings (`"-12.50"`) with a pattern that enforces the precision and
//! scale: a JSON number cannot carry 38 significant digits through most parsers.
use serde_json::{Map, Value, json};

use super::{
    column_type::ColumnType,
    model::{ProductMetadata, ProductStatus, Table},
    version::Version,
};

/// The ODCS version every contract declares (and is validated against).
pub const ODCS_API_VERSION: &str = "v3.2.0";

/// The JSON Schema dialect of row schemas.
pub const JSON_SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// ODCS status for a product status.
fn odcs_status(status: ProductStatus) -> &'static str {
    match status {
        ProductStatus::Draft => "draft",
        ProductStatus::Published => "active",
        ProductStatus::Deprecated => "deprecated",
        ProductStatus::Retired => "retired",
    }
}

/// What a contract is made from: one version of a product.
pub struct ContractSource<'a> {
    pub name: &'a str,
    pub version: Version,
    pub metadata: &'a ProductMetadata,
    /// When this version was made (RFC 3339).
    pub created_at: &'a str,
    pub tables: &'a [Table],
}

/// The ODCS data contract of one version.
pub fn contract(src: &ContractSource<'_>) -> Value {
    let m = src.metadata;
    let mut members = vec![json!({
        "username": m.data_product_owner,
        "name": m.data_product_owner_display_name,
        "role": "owner",
    })];
    if let Some(maintainer) = &m.data_product_maintainer {
        let mut member = json!({ "username": maintainer, "role": "maintainer" });
        if let Some(name) = &m.data_product_maintainer_display_name {
            member["name"] = json!(name);
        }
        members.push(member);
    }
    let mut custom = vec![
        json!({ "property": "retentionPeriod", "value": m.retention_period, "description": "Days the data is kept." }),
        json!({ "property": "dpiaRequired", "value": m.dpia_required, "description": "Whether a DPIA is required." }),
    ];
    if let Some(location) = &m.dpia_location {
        custom.push(json!({ "property": "dpiaLocation", "value": location, "description": "Where the DPIA is." }));
    }
    json!({
        "apiVersion": ODCS_API_VERSION,
        "kind": "DataContract",
        "id": format!("dp:{}:{}", src.name, src.version),
        "name": src.name,
        "version": format!("{}.{}.0", src.version.major, src.version.minor),
        "status": odcs_status(m.status),
        "domain": m.domain,
        "description": { "purpose": m.description },
        "team": { "name": m.domain, "members": members },
        "support": [{ "channel": "email", "tool": "email", "url": format!("mailto:{}", m.email) }],
        "tags": m.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>(),
        "customProperties": custom,
        "contractCreatedTs": src.created_at,
        "schema": src.tables.iter().map(schema_object).collect::<Vec<_>>(),
    })
}

fn schema_object(table: &Table) -> Value {
    json!({
        "name": table.name.as_str(),
        "physicalName": table.name.as_str(),
        "physicalType": "table",
        "logicalType": "object",
        "description": table.description,
        "properties": table.columns.iter().map(|c| {
            let mut p = odcs_property(&c.ty);
            p.insert("name".into(), json!(c.name.as_str()));
            p.insert("physicalName".into(), json!(c.name.as_str()));
            p.insert("description".into(), json!(c.description));
            p.insert("required".into(), json!(!c.nullable));
            Value::Object(p)
        }).collect::<Vec<_>>(),
    })
}

/// `logicalType`, `physicalType` and type details of one ODCS property (no name). Each
/// node renders its own `physicalType`, so the work is the type's size times its depth,
/// and depth is at most `MAX_DEPTH` (10): linear in the type nodes (at most 10,000).
pub(crate) fn odcs_property(ty: &ColumnType) -> Map<String, Value> {
    let (logical, options) = match ty {
        ColumnType::TinyInt => ("integer", json!({ "format": "i8" })),
        ColumnType::SmallInt => ("integer", json!({ "format": "i16" })),
        ColumnType::Int => ("integer", json!({ "format": "i32" })),
        ColumnType::BigInt => ("integer", json!({ "format": "i64" })),
        ColumnType::Float => ("number", json!({ "format": "f32" })),
        ColumnType::Double => ("number", json!({ "format": "f64" })),
        ColumnType::Decimal { .. } => ("number", Value::Null),
        ColumnType::Boolean => ("boolean", Value::Null),
        ColumnType::String => ("string", Value::Null),
        ColumnType::Char(n) => ("string", json!({ "maxLength": n })),
        ColumnType::Varchar(n) => ("string", json!({ "maxLength": n })),
        ColumnType::Binary => ("string", json!({ "format": "binary" })),
        ColumnType::Date => ("date", json!({ "format": "yyyy-MM-dd" })),
        ColumnType::Timestamp => ("timestamp", Value::Null),
        ColumnType::Array(_) => ("array", Value::Null),
        ColumnType::Map(..) => ("map", Value::Null),
        ColumnType::Struct(_) => ("object", Value::Null),
    };
    let mut p = Map::new();
    p.insert("logicalType".into(), json!(logical));
    p.insert("physicalType".into(), json!(ty.to_string()));
    if !options.is_null() {
        p.insert("logicalTypeOptions".into(), options);
    }
    match ty {
        ColumnType::Array(element) => {
            p.insert("items".into(), Value::Object(odcs_property(element)));
        }
        ColumnType::Map(key, value) => {
            p.insert(
                "map".into(),
                json!({ "key": Value::Object(odcs_property(key)), "value": Value::Object(odcs_property(value)) }),
            );
        }
        ColumnType::Struct(fields) => {
            let props = fields
                .iter()
                .map(|f| {
                    let mut fp = odcs_property(&f.ty);
                    fp.insert("name".into(), json!(f.name));
                    fp.insert("required".into(), json!(false));
                    Value::Object(fp)
                })
                .collect::<Vec<_>>();
            p.insert("properties".into(), Value::Array(props));
        }
        _ => {}
    }
    p
}

/// The JSON Schema (2020-12) of one row of `table`; `id` is the table's public ID.
pub fn row_schema(id: &str, table: &Table) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for c in &table.columns {
        let mut schema = value_schema(&c.ty, c.nullable);
        if let Value::Object(s) = &mut schema {
            s.insert("description".into(), json!(c.description));
            s.insert("x-hive-type".into(), json!(c.ty.to_string()));
        }
        properties.insert(c.name.as_str().to_owned(), schema);
        if !c.nullable {
            required.push(c.name.as_str().to_owned());
        }
    }
    json!({
        "$schema": JSON_SCHEMA_DIALECT,
        "title": id,
        "description": table.description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// `"T"`, or `["T", "null"]` when null is allowed.
fn json_type(name: &str, nullable: bool) -> Value {
    if nullable { json!([name, "null"]) } else { json!(name) }
}

/// The schema of one value of `ty`. Values inside arrays, maps and structs may be null
/// (Hive allows it), so nested schemas always admit null.
fn value_schema(ty: &ColumnType, nullable: bool) -> Value {
    let int = |min: i64, max: i64| json!({ "type": json_type("integer", nullable), "minimum": min, "maximum": max });
    match ty {
        ColumnType::TinyInt => int(i8::MIN.into(), i8::MAX.into()),
        ColumnType::SmallInt => int(i16::MIN.into(), i16::MAX.into()),
        ColumnType::Int => int(i32::MIN.into(), i32::MAX.into()),
        ColumnType::BigInt => int(i64::MIN, i64::MAX),
        ColumnType::Float | ColumnType::Double => json!({ "type": json_type("number", nullable) }),
        ColumnType::Boolean => json!({ "type": json_type("boolean", nullable) }),
        ColumnType::String => json!({ "type": json_type("string", nullable) }),
        ColumnType::Char(n) => json!({ "type": json_type("string", nullable), "maxLength": n }),
        ColumnType::Varchar(n) => json!({ "type": json_type("string", nullable), "maxLength": n }),
        ColumnType::Binary => json!({ "type": json_type("string", nullable), "contentEncoding": "base64" }),
        ColumnType::Date => json!({ "type": json_type("string", nullable), "format": "date" }),
        ColumnType::Timestamp => json!({ "type": json_type("string", nullable), "format": "date-time" }),
        ColumnType::Decimal { precision, scale } => json!({
            "type": json_type("string", nullable),
            "pattern": decimal_pattern(*precision, *scale),
        }),
        ColumnType::Array(element) => json!({
            "type": json_type("array", nullable),
            "items": value_schema(element, true),
        }),
        ColumnType::Map(key, value) => {
            let mut schema = json!({
                "type": json_type("object", nullable),
                "additionalProperties": value_schema(value, true),
            });
            if let Some(pattern) = key_pattern(key) {
                schema["propertyNames"] = json!({ "pattern": pattern });
            }
            schema
        }
        ColumnType::Struct(fields) => {
            let properties: Map<String, Value> =
                fields.iter().map(|f| (f.name.clone(), value_schema(&f.ty, true))).collect();
            json!({
                "type": json_type("object", nullable),
                "properties": properties,
                "additionalProperties": false,
            })
        }
    }
}

/// A decimal as text: an optional minus, at most `precision - scale` integer digits (no
/// leading zeros) and at most `scale` fraction digits.
fn decimal_pattern(precision: u8, scale: u8) -> String {
    let whole = precision.saturating_sub(scale);
    let integer = match whole {
        0 => "0".to_owned(),
        1 => "[0-9]".to_owned(),
        n => format!("(0|[1-9][0-9]{{0,{}}})", n - 1),
    };
    let fraction = if scale == 0 { String::new() } else { format!("(\\.[0-9]{{1,{scale}}})?") };
    format!("^-?{integer}{fraction}$")
}

/// Map keys are JSON object keys (text); keys of numeric or boolean types must spell one.
fn key_pattern(key: &ColumnType) -> Option<String> {
    match key {
        ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int | ColumnType::BigInt => {
            Some("^-?(0|[1-9][0-9]*)$".to_owned())
        }
        ColumnType::Boolean => Some("^(true|false)$".to_owned()),
        ColumnType::Decimal { precision, scale } => Some(decimal_pattern(*precision, *scale)),
        ColumnType::Date => Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$".to_owned()),
        ColumnType::Char(n) => Some(format!("^.{{0,{n}}}$")),
        ColumnType::Varchar(n) => Some(format!("^.{{0,{n}}}$")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_patterns_bound_precision_and_scale() {
        assert_eq!(decimal_pattern(10, 2), "^-?(0|[1-9][0-9]{0,7})(\\.[0-9]{1,2})?$");
        assert_eq!(decimal_pattern(3, 0), "^-?(0|[1-9][0-9]{0,2})$");
        assert_eq!(decimal_pattern(2, 2), "^-?0(\\.[0-9]{1,2})?$");
        assert_eq!(decimal_pattern(1, 0), "^-?[0-9]$");
    }

    #[test]
    fn nullable_values_allow_null_and_nested_values_are_nested_schemas() {
        let ty = ColumnType::parse("array<struct<a:int,b:map<string,decimal(5,2)>>>").unwrap();
        let schema = value_schema(&ty, false);
        assert_eq!(schema["type"], "array");
        assert_eq!(schema["items"]["type"], json!(["object", "null"]));
        assert_eq!(schema["items"]["properties"]["a"]["maximum"], i32::MAX);
        assert_eq!(schema["items"]["properties"]["b"]["additionalProperties"]["type"], json!(["string", "null"]));
        assert_eq!(value_schema(&ColumnType::Date, true), json!({ "type": ["string", "null"], "format": "date" }));
    }
}

/// `value` as block YAML that YAML 1.1 and 1.2 readers load alike: every string is
/// double-quoted (JSON escapes are YAML escapes), so a time, a version such as `1.10`, `yes`,
/// `on` or `0777` stays a string for PyYAML too; numbers, booleans and null stay plain.
pub fn yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    matches!(value, Value::Object(m) if !m.is_empty()) || matches!(value, Value::Array(a) if !a.is_empty())
}

fn key(k: &str) -> String {
    let plain = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { k.to_owned() } else { Value::String(k.to_owned()).to_string() }
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                if is_block(v) {
                    out.push_str(&format!("{pad}{}:\n", key(k)));
                    write_yaml(v, if v.is_array() { indent } else { indent + 2 }, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", key(k), scalar(v)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_block(item) {
                    // The item's first line follows `- `; the rest align under it.
                    let mut nested = String::new();
                    write_yaml(item, indent + 2, &mut nested);
                    let nested = nested.strip_prefix(&" ".repeat(indent + 2)).unwrap_or(&nested);
                    out.push_str(&format!("{pad}- {nested}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod yaml_tests {
    use serde_json::json;

    #[test]
    fn yaml_quotes_every_string_and_keeps_the_structure() {
        let doc = json!({
            "apiVersion": "v3.1.0",
            "contractCreatedTs": "2026-11-23T15:12:59.123Z",
            "version": "1.10.0",
            "flags": ["yes", "on", "0777", 12, true, null],
            "schema": [{"name": "t", "properties": [{"name": "a", "required": false}]}],
            "empty": {},
            "none": [],
        });
        let text = super::yaml(&doc);
        assert!(text.contains("contractCreatedTs: \"2026-11-23T15:12:59.123Z\"\n"), "{text}");
        assert!(text.contains("- \"yes\"\n") && text.contains("- 12\n") && text.contains("- null\n"), "{text}");
        let back: serde_json::Value = serde_yaml::from_str(&text).expect("valid YAML");
        assert_eq!(back, doc, "{text}");
    }
}
