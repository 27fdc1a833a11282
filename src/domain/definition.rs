//! Whole-product definitions (SPEC 8.2): the document a product is read as and written
//! from (its metadata and every table), YAML as another spelling of it, and the import of
//! an Open Data Contract Standard (ODCS v3) contract into one.
//!
//! The import never drops what it cannot hold: every member of a contract either becomes
//! part of the definition, is checked to agree with it (what daap regenerates on export), or
//! is a problem naming it by JSON pointer. A member with no value (null, false, empty) holds
//! nothing and passes; so do `id`, `version` and `contractCreatedTs`, which describe the
//! contract document itself, not the product (daap numbers its versions).
use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    column_type::ColumnType,
    export::{self, ODCS_API_VERSION},
    model::ProductMetadata,
};

/// The definition of one version, as `GET .../definition` answers it: `name`, every
/// metadata field (absent optionals left out), then the tables in name order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document<'a> {
    pub name: &'a str,
    #[serde(flatten)]
    pub metadata: &'a ProductMetadata,
    pub tables: Vec<DocumentTable<'a>>,
}

/// One table of a definition.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTable<'a> {
    pub name: &'a str,
    pub table_description: &'a str,
    pub columns: Vec<DocumentColumn<'a>>,
}

/// One column of a definition's table, its type in canonical form.
#[derive(Debug, Serialize)]
pub struct DocumentColumn<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub ty: &'a str,
    pub description: &'a str,
    pub nullable: bool,
}

/// A YAML document as the JSON value it spells. One document per body; anchors and
/// aliases resolve (serde_yaml bounds their expansion), keys must be strings.
pub fn yaml_value(bytes: &[u8]) -> Result<Value, String> {
    serde_yaml::from_slice::<Value>(bytes).map_err(|e| e.to_string())
}

/// A contract turned into a definition document, with what could not be held.
#[derive(Debug)]
pub struct Imported {
    /// The definition, to be checked like any other (its problems are then `locate`d).
    pub document: Value,
    /// Members of the contract daap cannot hold: (pointer into the contract, why).
    pub problems: Vec<(String, String)>,
    /// Where each part of the definition came from: (definition pointer, contract pointer).
    sources: Vec<(String, String)>,
}

impl Imported {
    /// The contract pointer a definition pointer came from: that of the longest mapped
    /// prefix (a definition member that is missing points at where it would come from).
    pub fn locate(&self, pointer: &str) -> String {
        let mut best: Option<&(String, String)> = None;
        for entry in &self.sources {
            let doc = entry.0.as_str();
            let covers = pointer == doc || pointer.strip_prefix(doc).is_some_and(|rest| rest.starts_with('/'));
            // On a tie the later entry wins: what the contract holds over where it would be.
            if covers && best.is_none_or(|b| doc.len() >= b.0.len()) {
                best = Some(entry);
            }
        }
        best.map_or_else(|| "/".to_owned(), |(_, contract)| if contract.is_empty() { "/" } else { contract }.to_owned())
    }
}

/// RFC 6901: `base` plus one escaped member name.
fn ptr(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// True when a member holds nothing: null, false, "", [], {} (and `-1`, ODCS's "not a key
/// column", for the `...Position` members).
fn is_unset(key: &str, value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => key.ends_with("Position") && n.as_i64() == Some(-1),
        Value::Bool(true) => false,
    }
}

/// Two JSON values that are the same number or the same value.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The text of a value, shortened for a message.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

struct Import<'a> {
    product: &'a str,
    problems: Vec<(String, String)>,
    sources: Vec<(String, String)>,
}

impl Import<'_> {
    fn refuse(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.problems.push((at.into(), message.into()));
    }

    fn map(&mut self, doc: impl Into<String>, contract: impl Into<String>) {
        self.sources.push((doc.into(), contract.into()));
    }

    /// Refuses `key` unless it holds nothing.
    fn cannot_hold(&mut self, at: &str, key: &str, value: &Value, what: &str) {
        if !is_unset(key, value) {
            self.refuse(at, format!("daap cannot hold `{key}` {what}"));
        }
    }
}

/// ODCS status -> daap status.
fn status_of(odcs: &str) -> Option<&'static str> {
    match odcs {
        "draft" => Some("draft"),
        "active" => Some("published"),
        "deprecated" => Some("deprecated"),
        "retired" => Some("retired"),
        _ => None,
    }
}

/// Converts an ODCS v3 contract for the product `product` into a definition document.
pub fn from_odcs(contract: &Value, product: &str) -> Imported {
    let mut im = Import { product, problems: Vec::new(), sources: Vec::new() };
    let mut doc = Map::new();
    let Some(top) = contract.as_object() else {
        im.refuse("/", "an ODCS contract is a mapping (a JSON object)");
        return Imported { document: Value::Object(doc), problems: im.problems, sources: im.sources };
    };
    // A required member that is missing points at where it would come from.
    for (member, from) in [
        ("/description", "/description"),
        ("/domain", "/domain"),
        ("/dataProductOwner", "/team"),
        ("/dataProductOwnerDisplayName", "/team"),
        ("/email", "/support"),
        ("/status", "/status"),
        ("/retentionPeriod", "/customProperties"),
        ("/dpiaRequired", "/customProperties"),
        ("/dpiaLocation", "/customProperties"),
        ("/tags", "/tags"),
        ("/tables", "/schema"),
        ("/name", "/name"),
    ] {
        im.map(member, from);
    }
    let mut team_name: Option<(String, Value)> = None;
    for (key, value) in top {
        let at = ptr("", key);
        if value.is_null() {
            // A member with no value holds nothing, whatever its name.
            continue;
        }
        match key.as_str() {
            "apiVersion" => {
                let v3 = value.as_str().is_some_and(|v| {
                    let mut parts = v.strip_prefix('v').unwrap_or("").split('.');
                    parts.next() == Some("3") && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                });
                if !v3 {
                    im.refuse(at, format!("daap reads ODCS v3 contracts (`v3.0.0` .. `{ODCS_API_VERSION}`)"));
                }
            }
            "kind" => {
                if value.as_str() != Some("DataContract") {
                    im.refuse(at, "must be `DataContract`");
                }
            }
            // The contract document's own identity: daap names and numbers versions itself.
            "id" | "version" | "contractCreatedTs" => {}
            "name" | "dataProduct" => {
                if value.as_str() != Some(im.product) {
                    let product = im.product;
                    im.refuse(at, format!("must be `{product}`, the data product's name in the path (daap holds no other name)"));
                }
            }
            "status" => match value.as_str().and_then(status_of) {
                Some(status) => {
                    doc.insert("status".into(), json!(status));
                }
                None => im.refuse(
                    at,
                    format!(
                        "daap's statuses come from ODCS `draft`, `active` (published), `deprecated` and `retired`; `{}` cannot be held",
                        shown(value)
                    ),
                ),
            },
            "domain" => {
                doc.insert("domain".into(), value.clone());
            }
            "description" => description(&mut im, &mut doc, value),
            "team" => team_name = team(&mut im, &mut doc, value),
            "support" => support(&mut im, &mut doc, value),
            "tags" => tags(&mut im, &mut doc, value),
            "customProperties" => custom_properties(&mut im, &mut doc, value),
            "schema" => schema(&mut im, &mut doc, value),
            _ => im.cannot_hold(&at, key, value, "(it has no place in a data product's definition)"),
        }
    }
    for required in ["apiVersion", "kind"] {
        if top.get(required).is_none_or(Value::is_null) {
            im.refuse(ptr("", required), format!("`{required}` is required"));
        }
    }
    let missing: [(&str, &str, &str); 7] = [
        ("description", "/description", "daap needs the product's description: `description.purpose`"),
        ("domain", "/domain", "daap needs the owning domain: `domain`"),
        (
            "dataProductOwner",
            "/team",
            "daap needs an owner: a team member with `role: owner`, an e-mail address as `username` and a `name`",
        ),
        ("email", "/support", "daap needs the team's e-mail: a support channel whose `url` is `mailto:<address>`"),
        (
            "retentionPeriod",
            "/customProperties",
            "daap needs `retentionPeriod`: a custom property with the days the data is kept",
        ),
        ("dpiaRequired", "/customProperties", "daap needs `dpiaRequired`: a custom property, true or false"),
        ("tables", "", ""),
    ];
    for (member, at, message) in missing {
        if doc.contains_key(member) {
            continue;
        }
        if member == "tables" {
            // A contract without schema objects defines a product without tables.
            doc.insert("tables".into(), json!([]));
        } else {
            im.refuse(at, message);
        }
    }
    if let Some((at, name)) = team_name
        && doc.get("domain").is_none_or(|domain| !same(domain, &name))
    {
        im.refuse(at, "daap keeps no team name apart from the domain: it must equal `domain`");
    }
    Imported { document: Value::Object(doc), problems: im.problems, sources: im.sources }
}

fn description(im: &mut Import<'_>, doc: &mut Map<String, Value>, value: &Value) {
    let Some(parts) = value.as_object() else {
        im.refuse("/description", "must be an object whose `purpose` says what the product holds");
        return;
    };
    for (key, part) in parts {
        let at = ptr("/description", key);
        if key == "purpose" {
            doc.insert("description".into(), part.clone());
            im.map("/description", at);
        } else {
            im.cannot_hold(&at, key, part, "(daap keeps one description: `purpose`)");
        }
    }
}

/// The owner and maintainer; returns the team's name (to compare with the domain), if any.
fn team(im: &mut Import<'_>, doc: &mut Map<String, Value>, value: &Value) -> Option<(String, Value)> {
    let (members, base, mut name) = match value {
        // ODCS v3.0: the team is a list of members.
        Value::Array(members) => (members, "/team".to_owned(), None),
        Value::Object(team) => {
            let mut name = None;
            for (key, v) in team {
                match key.as_str() {
                    "members" | "name" => {}
                    _ => im.cannot_hold(&ptr("/team", key), key, v, "(daap keeps only the owner and maintainer)"),
                }
                if key == "name" && !v.is_null() {
                    name = Some(("/team/name".to_owned(), v.clone()));
                }
            }
            match team.get("members") {
                Some(Value::Array(members)) => (members, "/team/members".to_owned(), name),
                Some(Value::Null) | None => return name,
                Some(_) => {
                    im.refuse("/team/members", "must be a list of team members");
                    return name;
                }
            }
        }
        _ => {
            im.refuse("/team", "must be a team object (or, in ODCS v3.0, a list of members)");
            return None;
        }
    };
    let mut seen = BTreeSet::new();
    for (i, member) in members.iter().enumerate() {
        let at = format!("{base}/{i}");
        let Some(fields) = member.as_object() else {
            im.refuse(at, "must be a team member object");
            continue;
        };
        let role = fields.get("role").and_then(Value::as_str).map(str::to_ascii_lowercase);
        let (email, display) = match role.as_deref() {
            Some("owner") => ("dataProductOwner", "dataProductOwnerDisplayName"),
            Some("maintainer") => ("dataProductMaintainer", "dataProductMaintainerDisplayName"),
            _ => {
                let role = fields.get("role").map(shown).unwrap_or_default();
                im.refuse(
                    at,
                    format!(
                        "daap keeps only an `owner` and a `maintainer`; a member with role `{role}` cannot be held"
                    ),
                );
                continue;
            }
        };
        if !seen.insert(email) {
            im.refuse(ptr(&at, "role"), format!("daap keeps one {}", role.unwrap_or_default()));
            continue;
        }
        for (key, v) in fields {
            let here = ptr(&at, key);
            match key.as_str() {
                "role" => {}
                "username" => {
                    doc.insert(email.into(), v.clone());
                }
                "name" => {
                    doc.insert(display.into(), v.clone());
                }
                _ => im.cannot_hold(&here, key, v, "of a team member"),
            }
        }
        im.map(format!("/{email}"), ptr(&at, "username"));
        im.map(format!("/{display}"), ptr(&at, "name"));
    }
    name.take()
}

fn support(im: &mut Import<'_>, doc: &mut Map<String, Value>, value: &Value) {
    let Some(channels) = value.as_array() else {
        im.refuse("/support", "must be a list of support channels");
        return;
    };
    for (i, channel) in channels.iter().enumerate() {
        let at = format!("/support/{i}");
        let mailto = channel.get("url").and_then(Value::as_str).and_then(|u| u.strip_prefix("mailto:"));
        let (Some(fields), Some(address)) = (channel.as_object(), mailto) else {
            im.refuse(at, "daap keeps one contact e-mail (a channel whose `url` is `mailto:<address>`); this channel cannot be held");
            continue;
        };
        if doc.contains_key("email") {
            im.refuse(at, "daap keeps one contact e-mail; this second one cannot be held");
            continue;
        }
        doc.insert("email".into(), json!(address));
        im.map("/email", ptr(&at, "url"));
        for (key, v) in fields {
            match key.as_str() {
                // The channel's label and tool say how to reach the address; daap regenerates them.
                "url" | "channel" => {}
                "tool" if v.as_str() == Some("email") => {}
                _ => im.cannot_hold(&ptr(&at, key), key, v, "of a support channel"),
            }
        }
    }
}

fn tags(im: &mut Import<'_>, doc: &mut Map<String, Value>, value: &Value) {
    let Some(list) = value.as_array() else {
        im.refuse("/tags", "must be a list of tags");
        return;
    };
    let mut out = Map::new();
    for (i, tag) in list.iter().enumerate() {
        let at = format!("/tags/{i}");
        let Some(tag) = tag.as_str() else {
            im.refuse(at, "must be a string (`key` or `key:value`)");
            continue;
        };
        let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
        if out.contains_key(key) {
            im.refuse(at, format!("the tag key `{key}` appears twice; daap keeps one value per key"));
            continue;
        }
        out.insert(key.to_owned(), json!(value));
        im.map(ptr("/tags", key), at);
    }
    doc.insert("tags".into(), Value::Object(out));
}

fn custom_properties(im: &mut Import<'_>, doc: &mut Map<String, Value>, value: &Value) {
    let Some(list) = value.as_array() else {
        im.refuse("/customProperties", "must be a list of custom properties");
        return;
    };
    for (i, entry) in list.iter().enumerate() {
        let at = format!("/customProperties/{i}");
        let Some(fields) = entry.as_object() else {
            im.refuse(at, "must be a custom property object: { property, value }");
            continue;
        };
        let property = fields.get("property").and_then(Value::as_str).unwrap_or_default();
        if !matches!(property, "retentionPeriod" | "dpiaRequired" | "dpiaLocation") {
            im.refuse(
                at,
                format!(
                    "daap cannot hold the custom property `{property}` (it keeps `retentionPeriod`, `dpiaRequired` and `dpiaLocation`)"
                ),
            );
            continue;
        }
        if doc.contains_key(property) {
            im.refuse(ptr(&at, "property"), format!("`{property}` is given twice"));
            continue;
        }
        doc.insert(property.into(), fields.get("value").cloned().unwrap_or(Value::Null));
        im.map(format!("/{property}"), ptr(&at, "value"));
        for (key, v) in fields {
            match key.as_str() {
                // What the property means; daap regenerates it on export.
                "property" | "value" | "description" => {}
                _ => im.cannot_hold(&ptr(&at, key), key, v, "of a custom property"),
            }
        }
    }
}

fn schema(im: &mut Import<'_>, doc: &mut Map<String, Value>, value: &Value) {
    let Some(objects) = value.as_array() else {
        im.refuse("/schema", "must be a list of schema objects");
        return;
    };
    let mut tables = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        let at = format!("/schema/{i}");
        let table_at = format!("/tables/{i}");
        im.map(&table_at, &at);
        im.map(format!("{table_at}/name"), format!("{at}/name"));
        im.map(format!("{table_at}/tableDescription"), format!("{at}/description"));
        im.map(format!("{table_at}/columns"), format!("{at}/properties"));
        let Some(fields) = object.as_object() else {
            im.refuse(at, "must be a schema object");
            tables.push(Value::Null);
            continue;
        };
        let mut table = Map::new();
        for (key, v) in fields {
            let here = ptr(&at, key);
            match key.as_str() {
                "name" => {
                    table.insert("name".into(), v.clone());
                }
                "description" => {
                    table.insert("tableDescription".into(), v.clone());
                }
                "physicalName" => {
                    if fields.get("name").is_none_or(|name| name != v) {
                        im.refuse(here, "differs from `name`: daap holds one name per table");
                    }
                }
                "physicalType" => {
                    if !v.as_str().is_some_and(|t| t.eq_ignore_ascii_case("table")) {
                        im.refuse(here, format!("daap holds tables; a `{}` cannot be held", shown(v)));
                    }
                }
                "logicalType" => {
                    if v.as_str() != Some("object") {
                        im.refuse(here, "a schema object's `logicalType` is `object`");
                    }
                }
                "properties" => match v.as_array() {
                    Some(properties) => {
                        let columns: Vec<Value> = properties
                            .iter()
                            .enumerate()
                            .map(|(j, p)| {
                                column(im, p, &format!("{at}/properties/{j}"), &format!("{table_at}/columns/{j}"))
                            })
                            .collect();
                        table.insert("columns".into(), Value::Array(columns));
                    }
                    None => im.refuse(here, "must be a list of properties"),
                },
                _ => im.cannot_hold(&here, key, v, "of a schema object"),
            }
        }
        tables.push(Value::Object(table));
    }
    doc.insert("tables".into(), Value::Array(tables));
}

/// One property: a column. Members that describe its type must agree with the type.
fn column(im: &mut Import<'_>, property: &Value, at: &str, column_at: &str) -> Value {
    im.map(column_at, at);
    for member in ["name", "description"] {
        im.map(format!("{column_at}/{member}"), format!("{at}/{member}"));
    }
    im.map(format!("{column_at}/nullable"), format!("{at}/required"));
    let Some(fields) = property.as_object() else {
        im.refuse(at, "must be a property object");
        return Value::Null;
    };
    let mut column = Map::new();
    let ty = match type_of(im, fields, at, false) {
        Some((text, from)) => {
            im.map(format!("{column_at}/type"), from);
            column.insert("type".into(), json!(text));
            ColumnType::parse(&text).ok()
        }
        None => {
            im.map(format!("{column_at}/type"), at);
            None
        }
    };
    for (key, v) in fields {
        let here = ptr(at, key);
        match key.as_str() {
            "name" => {
                column.insert("name".into(), v.clone());
            }
            "description" => {
                column.insert("description".into(), v.clone());
            }
            "required" => {
                let nullable = match v {
                    Value::Bool(required) => json!(!required),
                    other => other.clone(),
                };
                column.insert("nullable".into(), nullable);
            }
            "physicalName" => {
                if fields.get("name").is_none_or(|name| name != v) {
                    im.refuse(here, "differs from `name`: daap holds one name per column");
                }
            }
            "physicalType" | "logicalType" | "logicalTypeOptions" | "items" | "map" | "properties" => {}
            "customProperties" => decimal_properties(im, v, ty.as_ref(), &here),
            _ => im.cannot_hold(&here, key, v, "of a column"),
        }
    }
    Value::Object(column)
}

/// datacontract-cli writes a decimal's precision and scale as custom properties too: they
/// are held when they agree with the type.
fn decimal_properties(im: &mut Import<'_>, value: &Value, ty: Option<&ColumnType>, at: &str) {
    let Some(list) = value.as_array() else {
        im.cannot_hold(at, "customProperties", value, "of a column");
        return;
    };
    for (i, entry) in list.iter().enumerate() {
        let here = format!("{at}/{i}");
        let property = entry.get("property").and_then(Value::as_str).unwrap_or_default();
        let implied = match (ty, property) {
            (Some(ColumnType::Decimal { precision, .. }), "precision") => Some(json!(precision)),
            (Some(ColumnType::Decimal { scale, .. }), "scale") => Some(json!(scale)),
            _ => None,
        };
        let agrees = implied.is_some_and(|implied| entry.get("value").is_some_and(|v| same(v, &implied)))
            && entry.as_object().is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "property" | "value")));
        if !agrees {
            im.refuse(here, format!("daap cannot hold the custom property `{property}` of a column"));
        }
    }
}

/// The type of a property (or of a nested node) as text, with the member it came from:
/// its `physicalType` when it has one, else built from `logicalType`. Nested nodes also
/// have every other member checked here.
fn type_of(im: &mut Import<'_>, node: &Map<String, Value>, at: &str, nested: bool) -> Option<(String, String)> {
    if nested {
        for (key, v) in node {
            match key.as_str() {
                "name" | "physicalType" | "logicalType" | "logicalTypeOptions" | "items" | "map" | "properties" => {}
                "physicalName" => {
                    if node.get("name").is_none_or(|name| name != v) {
                        im.refuse(ptr(at, key), "differs from `name`: daap holds one name per field");
                    }
                }
                "required" if v == &Value::Bool(true) => {
                    im.refuse(ptr(at, key), "struct fields, array elements and map values are always nullable in daap")
                }
                _ => im.cannot_hold(&ptr(at, key), key, v, "of a nested field"),
            }
        }
    }
    match node.get("physicalType") {
        Some(Value::String(text)) => {
            let from = ptr(at, "physicalType");
            match ColumnType::parse(text) {
                Ok(ty) => {
                    agrees_with(im, node, &ty, at);
                    Some((text.clone(), from))
                }
                // The definition's own check reports why, at `physicalType`.
                Err(_) if !nested => Some((text.clone(), from)),
                Err(e) => {
                    im.refuse(from, format!("invalid type `{}`: {e}", shown(&json!(text))));
                    None
                }
            }
        }
        Some(other) if !other.is_null() => {
            im.refuse(ptr(at, "physicalType"), "must be a string (a Hive type such as `decimal(10,2)`)");
            None
        }
        _ => match node.get("logicalType").and_then(Value::as_str) {
            Some(logical) => built(im, node, logical, at).map(|text| (text, ptr(at, "logicalType"))),
            None => {
                im.refuse(at, "daap needs the type: a `physicalType` (a Hive type) or a `logicalType`");
                None
            }
        },
    }
}

/// Checks that what a node says about its type beyond `physicalType` agrees with it: its
/// `logicalTypeOptions` and nested `items`, `map` and `properties` are what daap's export
/// writes for that type (a subset of it). `logicalType` is not used when a `physicalType`
/// is given.
fn agrees_with(im: &mut Import<'_>, node: &Map<String, Value>, ty: &ColumnType, at: &str) {
    let implied = export::odcs_property(ty);
    if let Some(options) = node.get("logicalTypeOptions") {
        match options.as_object() {
            Some(options) => {
                let implied = implied.get("logicalTypeOptions").and_then(Value::as_object);
                for (key, v) in options {
                    if !implied.and_then(|o| o.get(key)).is_some_and(|i| same(i, v)) {
                        im.refuse(
                            ptr(&ptr(at, "logicalTypeOptions"), key),
                            format!("daap cannot hold `{key}: {}` on a `{ty}` column", shown(v)),
                        );
                    }
                }
            }
            None => im.cannot_hold(&ptr(at, "logicalTypeOptions"), "logicalTypeOptions", options, "here"),
        }
    }
    let element_of = |key: &str| format!("daap cannot hold `{key}` on a `{ty}` column");
    if let Some(items) = node.get("items") {
        match (ty, items.as_object()) {
            (ColumnType::Array(element), Some(items)) => nested_agrees(im, items, element, &ptr(at, "items")),
            _ if is_unset("items", items) => {}
            _ => im.refuse(ptr(at, "items"), element_of("items")),
        }
    }
    if let Some(map) = node.get("map") {
        match (ty, map.as_object()) {
            (ColumnType::Map(key, value), Some(parts)) => {
                for (part, v) in parts {
                    let here = ptr(&ptr(at, "map"), part);
                    match (part.as_str(), v.as_object()) {
                        ("key", Some(node)) => nested_agrees(im, node, key, &here),
                        ("value", Some(node)) => nested_agrees(im, node, value, &here),
                        _ => im.cannot_hold(&here, part, v, "of a map"),
                    }
                }
            }
            _ if is_unset("map", map) => {}
            _ => im.refuse(ptr(at, "map"), element_of("map")),
        }
    }
    if let Some(properties) = node.get("properties") {
        match (ty, properties.as_array()) {
            (ColumnType::Struct(fields), Some(list)) if list.len() == fields.len() => {
                for (k, (field, node)) in fields.iter().zip(list).enumerate() {
                    let here = format!("{at}/properties/{k}");
                    let Some(node) = node.as_object() else {
                        im.refuse(here, "must be a property object");
                        continue;
                    };
                    if node.get("name").and_then(Value::as_str).is_none_or(|n| n.to_lowercase() != field.name) {
                        im.refuse(ptr(&here, "name"), format!("the struct's field {} is `{}`", k + 1, field.name));
                    }
                    nested_agrees(im, node, &field.ty, &here);
                }
            }
            (ColumnType::Struct(fields), Some(list)) => im.refuse(
                ptr(at, "properties"),
                format!("lists {} fields, the type `{ty}` has {}", list.len(), fields.len()),
            ),
            _ if is_unset("properties", properties) => {}
            _ => im.refuse(ptr(at, "properties"), element_of("properties")),
        }
    }
}

/// A nested node under a `physicalType`: its own `physicalType`, if any, must name the
/// same type, and everything else must agree too.
fn nested_agrees(im: &mut Import<'_>, node: &Map<String, Value>, ty: &ColumnType, at: &str) {
    if let Some(v) = node.get("physicalType").filter(|v| !v.is_null())
        && v.as_str().and_then(|t| ColumnType::parse(t).ok()).as_ref() != Some(ty)
    {
        im.refuse(ptr(at, "physicalType"), format!("disagrees with the column's type (`{ty}` here)"));
    }
    // Members other than the type's are checked like any nested node's; the physicalType
    // was compared above, so the type check runs on the node without it.
    let mut rest = node.clone();
    rest.remove("physicalType");
    rest.insert("physicalType".into(), json!(ty.to_string()));
    let _ = type_of(im, &rest, at, true);
}

/// A field name fit to go into a type's text.
fn plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The type a `logicalType` (with its options and nested nodes) names, as text.
fn built(im: &mut Import<'_>, node: &Map<String, Value>, logical: &str, at: &str) -> Option<String> {
    let no_options = Map::new();
    let options = node.get("logicalTypeOptions").and_then(Value::as_object).unwrap_or(&no_options);
    let mut used: Vec<&str> = Vec::new();
    let option = |key: &str| options.get(key).filter(|v| !v.is_null());
    let text = match logical {
        "string" => match (option("format").and_then(Value::as_str), option("maxLength").and_then(Value::as_u64)) {
            (Some("binary"), _) => {
                used.push("format");
                Some("binary".to_owned())
            }
            (None, Some(n)) => {
                used.push("maxLength");
                Some(format!("varchar({n})"))
            }
            _ => Some("string".to_owned()),
        },
        "integer" => {
            let ty = match option("format").and_then(Value::as_str) {
                None => Some("bigint"),
                Some("i8") => Some("tinyint"),
                Some("i16") => Some("smallint"),
                Some("i32") => Some("int"),
                Some("i64") => Some("bigint"),
                Some(_) => None,
            };
            if ty.is_some() && option("format").is_some() {
                used.push("format");
            }
            ty.map(str::to_owned).or(Some("bigint".to_owned()))
        }
        "number" => {
            let ty = match option("format").and_then(Value::as_str) {
                Some("f32") => Some("float"),
                Some("f64") => Some("double"),
                _ => None,
            };
            if ty.is_some() {
                used.push("format");
            }
            Some(ty.unwrap_or("double").to_owned())
        }
        "boolean" => Some("boolean".to_owned()),
        "date" => {
            if option("format").and_then(Value::as_str) == Some("yyyy-MM-dd") {
                used.push("format");
            }
            Some("date".to_owned())
        }
        "timestamp" => Some("timestamp".to_owned()),
        "array" => match node.get("items").and_then(Value::as_object) {
            Some(items) => type_of(im, items, &ptr(at, "items"), true).map(|(t, _)| format!("array<{t}>")),
            None => {
                im.refuse(at, "an `array` needs `items` (or give a `physicalType`)");
                None
            }
        },
        "map" => {
            let key = node.get("map").and_then(|m| m.get("key")).and_then(Value::as_object);
            let value = node.get("map").and_then(|m| m.get("value")).and_then(Value::as_object);
            match (key, value) {
                (Some(key), Some(value)) => {
                    let k = type_of(im, key, &format!("{at}/map/key"), true);
                    let v = type_of(im, value, &format!("{at}/map/value"), true);
                    Some(format!("map<{},{}>", k?.0, v?.0))
                }
                _ => {
                    im.refuse(at, "a `map` needs `map.key` and `map.value` (or give a `physicalType`)");
                    None
                }
            }
        }
        "object" => match node.get("properties").and_then(Value::as_array).filter(|l| !l.is_empty()) {
            Some(list) => {
                let mut fields = Vec::with_capacity(list.len());
                let mut complete = true;
                for (k, field) in list.iter().enumerate() {
                    let here = format!("{at}/properties/{k}");
                    let Some(field) = field.as_object() else {
                        im.refuse(here, "must be a property object");
                        complete = false;
                        continue;
                    };
                    let name = field.get("name").and_then(Value::as_str).filter(|n| plain_name(n));
                    if name.is_none() {
                        im.refuse(ptr(&here, "name"), "a struct field needs a `name` of letters, digits and `_`");
                    }
                    match (name, type_of(im, field, &here, true)) {
                        (Some(name), Some((ty, _))) => fields.push(format!("{name}:{ty}")),
                        _ => complete = false,
                    }
                }
                complete.then(|| format!("struct<{}>", fields.join(",")))
            }
            None => {
                im.refuse(at, "an `object` needs `properties` (or give a `physicalType`)");
                None
            }
        },
        other => {
            im.refuse(
                ptr(at, "logicalType"),
                format!("daap has no type for logicalType `{other}`; give a `physicalType` (a Hive type)"),
            );
            return None;
        }
    };
    for (key, v) in options {
        if !used.contains(&key.as_str()) && !is_unset(key, v) {
            im.refuse(
                ptr(&ptr(at, "logicalTypeOptions"), key),
                format!("daap cannot hold `{key}: {}` on a `{logical}` column", shown(v)),
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Value {
        json!({
            "apiVersion": "v3.2.0",
            "kind": "DataContract",
            "id": "dp:orders:v1.0",
            "name": "orders",
            "version": "1.0.0",
            "status": "active",
            "domain": "HMPPS",
            "description": { "purpose": "Orders" },
            "team": { "name": "HMPPS", "members": [{ "username": "o@example.com", "name": "O", "role": "owner" }] },
            "support": [{ "channel": "email", "tool": "email", "url": "mailto:team@example.com" }],
            "tags": ["team:data", "bare"],
            "customProperties": [
                { "property": "retentionPeriod", "value": 30 },
                { "property": "dpiaRequired", "value": false },
            ],
            "schema": [{
                "name": "lines",
                "physicalType": "table",
                "description": "Lines",
                "properties": [
                    { "name": "id", "physicalType": "BIGINT", "logicalType": "integer", "required": true, "description": "Id" },
                    { "name": "tags", "logicalType": "array", "items": { "logicalType": "string" }, "description": "Tags" },
                ],
            }],
        })
    }

    #[test]
    fn a_contract_becomes_a_definition_document() {
        let imported = from_odcs(&contract(), "orders");
        assert_eq!(imported.problems, vec![]);
        let doc = &imported.document;
        assert_eq!(doc["status"], "published");
        assert_eq!(doc["dataProductOwner"], "o@example.com");
        assert_eq!(doc["email"], "team@example.com");
        assert_eq!(doc["tags"], json!({ "team": "data", "bare": "" }));
        assert_eq!(
            doc["tables"][0]["columns"][0],
            json!({ "name": "id", "type": "BIGINT", "description": "Id", "nullable": false })
        );
        assert_eq!(doc["tables"][0]["columns"][1]["type"], "array<string>");
        assert_eq!(imported.locate("/tables/0/columns/1/type"), "/schema/0/properties/1/logicalType");
        assert_eq!(imported.locate("/tables/0/columns/0/type"), "/schema/0/properties/0/physicalType");
        assert_eq!(imported.locate("/retentionPeriod"), "/customProperties/0/value");
        assert_eq!(imported.locate("/dpiaLocation"), "/customProperties");
    }

    #[test]
    fn a_v3_0_team_list_and_members_without_value_are_read() {
        let mut c = contract();
        c["apiVersion"] = json!("v3.0.2");
        c["team"] = json!([{ "username": "o@example.com", "name": "O", "role": "Owner" }]);
        c["servers"] = Value::Null;
        c["schema"] = Value::Null;
        c["slaProperties"] = json!([]);
        let imported = from_odcs(&c, "orders");
        assert_eq!(imported.problems, vec![]);
        assert_eq!(imported.document["dataProductOwner"], "o@example.com");
        assert_eq!(imported.document["tables"], json!([]));
        c["apiVersion"] = json!("v2.2.2");
        c["kind"] = Value::Null;
        let mut at: Vec<String> = from_odcs(&c, "orders").problems.into_iter().map(|(p, _)| p).collect();
        at.sort();
        assert_eq!(at, ["/apiVersion", "/kind"]);
    }

    #[test]
    fn what_cannot_be_held_is_named() {
        let mut c = contract();
        c["servers"] = json!([{ "server": "x" }]);
        c["schema"][0]["properties"][0]["primaryKey"] = json!(true);
        c["schema"][0]["properties"][0]["unique"] = json!(false);
        c["schema"][0]["properties"][1]["items"]["description"] = json!("an element");
        c["schema"][0]["properties"][0]["logicalTypeOptions"] = json!({ "minimum": 0 });
        let imported = from_odcs(&c, "orders");
        let mut at: Vec<&str> = imported.problems.iter().map(|(p, _)| p.as_str()).collect();
        at.sort();
        assert_eq!(
            at,
            vec![
                "/schema/0/properties/0/logicalTypeOptions/minimum",
                "/schema/0/properties/0/primaryKey",
                "/schema/0/properties/1/items/description",
                "/servers",
            ]
        );
    }

    #[test]
    fn options_and_nested_nodes_must_agree_with_the_physical_type() {
        let mut c = contract();
        c["schema"][0]["properties"][0] = json!({
            "name": "m", "description": "M", "physicalType": "map<string,array<varchar(5)>>",
            "map": { "key": { "logicalType": "string" }, "value": { "items": { "logicalTypeOptions": { "maxLength": 6 } } } },
        });
        let imported = from_odcs(&c, "orders");
        assert_eq!(imported.problems.len(), 1, "{:?}", imported.problems);
        assert_eq!(imported.problems[0].0, "/schema/0/properties/0/map/value/items/logicalTypeOptions/maxLength");
    }

    #[test]
    fn a_document_renders_name_first_and_tables_last() {
        let metadata: ProductMetadata = serde_json::from_value(json!({
            "description": "D", "domain": "X", "dataProductOwner": "o@example.com",
            "dataProductOwnerDisplayName": "O", "email": "t@example.com", "status": "draft",
            "retentionPeriod": 1, "dpiaRequired": false, "tags": {},
        }))
        .unwrap();
        let doc = Document { name: "p", metadata: &metadata, tables: vec![] };
        let yaml = serde_yaml::to_string(&doc).unwrap();
        assert!(yaml.starts_with("name: p\n") && yaml.ends_with("tables: []\n"), "{yaml}");
        assert_eq!(yaml_value(yaml.as_bytes()).unwrap(), serde_json::to_value(&doc).unwrap());
    }
}
