//! Request bodies are parsed here, once, into domain types. Unlike a derive-based
//! parser that stops at the first problem, this walks the whole JSON value and reports
//! every violation as a JSON pointer, so one 422 tells a client all that is wrong.
//!
//! Control characters never get past here (README "Input rules"): U+0000 and every other
//! control character (Unicode `Cc`) is refused in any string or member name of any body,
//! except tab, line feed and carriage return in free text (descriptions); names, ids, keys
//! and other one-line values refuse those too, and filenames also refuse bidi controls.
use std::collections::{BTreeMap, HashSet};

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::{Map, Value};
use validator::ValidateEmail;

use super::dto;
use crate::{
    domain::{
        column_type::ColumnType,
        diff::ChangeClass,
        model::{Column, ProductMetadata, ProductStatus, Table},
        names::{ColumnName, ProductName, TableName},
    },
    error::{ApiError, FieldError},
};

/// A body parsed from JSON with every violation collected.
pub trait FromJsonBody: Sized + Send {
    /// The documented shape (OpenAPI schema) of the body.
    type Doc: Type;
    /// Whether every string of the body is checked for control characters before parsing;
    /// bodies that store nothing as sent (storage events) check what they use instead.
    const REFUSE_CONTROLS: bool = true;
    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self>;
}

/// A JSON request body: 415 if it is not `application/json`, 400 if it is not JSON,
/// 422 listing every violation if it breaks the schema.
pub struct JsonBody<T>(pub T);

impl<T: FromJsonBody> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::Doc::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::Doc::register(registry);
    }
}

impl<T: FromJsonBody> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = Vec::<u8>::from_request(request, body).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::MalformedRequest(if bytes.is_empty() {
                "the request body is empty; send a JSON document".to_owned()
            } else {
                format!("the request body is not valid JSON: {e}")
            })
        })?;
        let mut errors = Errors::default();
        if T::REFUSE_CONTROLS {
            refuse_controls(&value, "", &mut errors);
        }
        if !errors.0.is_empty() {
            return Err(ApiError::Validation(errors.0).into());
        }
        match T::from_json(&value, &mut errors) {
            Some(parsed) if errors.0.is_empty() => Ok(JsonBody(parsed)),
            _ => Err(ApiError::Validation(errors.0).into()),
        }
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: FromJsonBody);

/// The violations found so far.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
}

/// A control character that free text may hold: tab, line feed, carriage return.
fn is_text_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
}

/// Why `s` may not be free text (a description), if it may not.
pub fn text_problem(s: &str) -> Option<&'static str> {
    s.chars()
        .any(|c| c.is_control() && !is_text_whitespace(c))
        .then_some("must not contain control characters (tab, line feed and carriage return are allowed)")
}

/// Why `s` may not be a one-line value (a name, id, key, address, tag value), if it may not.
pub fn line_problem(s: &str) -> Option<&'static str> {
    s.chars().any(char::is_control).then_some("must not contain control characters (nor tabs or line breaks)")
}

/// Bidirectional formatting characters and line separators: they make a name display as
/// something it is not (`exe.csv` shown for `vsc.exe` with U+202E).
fn is_deceptive_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Why `s` may not be a filename, if it may not.
pub fn filename_problem(s: &str) -> Option<&'static str> {
    s.chars()
        .any(|c| c.is_control() || is_deceptive_format(c))
        .then_some("must not contain control characters, line breaks or bidirectional formatting characters")
}

/// Walks the whole body: no string or member name may hold a control character other than
/// those free text allows (one-line fields are checked again, more strictly, where parsed).
fn refuse_controls(value: &Value, at: &str, errors: &mut Errors) {
    match value {
        Value::String(s) => {
            if let Some(problem) = text_problem(s) {
                errors.add(if at.is_empty() { "/" } else { at }, problem);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                refuse_controls(item, &format!("{at}/{i}"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let here = ptr(at, key);
                if key.chars().any(char::is_control) {
                    errors.add(here, "member names must not contain control characters");
                } else {
                    refuse_controls(item, &here, errors);
                }
            }
        }
        _ => {}
    }
}

fn ptr(base: &str, key: &str) -> String {
    let escaped = key.replace('~', "~0").replace('/', "~1");
    format!("{base}/{escaped}")
}

/// Reads members of one JSON object, noting every violation.
struct Members<'a> {
    map: &'a Map<String, Value>,
    base: String,
}

impl<'a> Members<'a> {
    fn of(value: &'a Value, base: &str, errors: &mut Errors) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Members { map, base: base.to_owned() }),
            _ => {
                errors.add(if base.is_empty() { "/" } else { base }, "must be a JSON object");
                None
            }
        }
    }

    fn at(&self, key: &str) -> String {
        ptr(&self.base, key)
    }

    fn refuse_unknown(&self, allowed: &[&str], errors: &mut Errors) {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                errors.add(self.at(key), format!("unknown member `{key}`"));
            }
        }
    }

    /// The member, treating `null` as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str, errors: &mut Errors) -> Option<&'a Value> {
        let v = self.map.get(key);
        match v {
            None => errors.add(self.at(key), format!("`{key}` is required")),
            Some(Value::Null) => errors.add(self.at(key), format!("`{key}` is required and may not be null")),
            Some(_) => {}
        }
        v.filter(|v| !v.is_null())
    }

    /// A one-line string of `min..=max` characters.
    fn string(&self, key: &str, v: &'a Value, min: usize, max: usize, errors: &mut Errors) -> Option<String> {
        self.checked_string(key, v, min, max, line_problem, errors)
    }

    fn checked_string(
        &self,
        key: &str,
        v: &'a Value,
        min: usize,
        max: usize,
        problem: fn(&str) -> Option<&'static str>,
        errors: &mut Errors,
    ) -> Option<String> {
        let Some(s) = v.as_str() else {
            errors.add(self.at(key), "must be a string");
            return None;
        };
        let len = s.chars().count();
        if len < min || len > max {
            errors.add(self.at(key), format!("must be {min} to {max} characters long (is {len})"));
            return None;
        }
        if let Some(problem) = problem(s) {
            errors.add(self.at(key), problem);
            return None;
        }
        Some(s.to_owned())
    }

    fn req_string(&self, key: &str, min: usize, max: usize, errors: &mut Errors) -> Option<String> {
        self.required(key, errors).and_then(|v| self.string(key, v, min, max, errors))
    }

    /// Free text (a description): line breaks and tabs allowed.
    fn req_text(&self, key: &str, min: usize, max: usize, errors: &mut Errors) -> Option<String> {
        self.required(key, errors).and_then(|v| self.checked_string(key, v, min, max, text_problem, errors))
    }

    fn opt_text(&self, key: &str, min: usize, max: usize, errors: &mut Errors) -> Option<Option<String>> {
        match self.get(key) {
            None => Some(None),
            Some(v) => self.checked_string(key, v, min, max, text_problem, errors).map(Some),
        }
    }

    fn opt_string(&self, key: &str, min: usize, max: usize, errors: &mut Errors) -> Option<Option<String>> {
        match self.get(key) {
            None => Some(None),
            Some(v) => self.string(key, v, min, max, errors).map(Some),
        }
    }

    fn email(&self, key: &str, v: Option<String>, errors: &mut Errors) -> Option<String> {
        let v = v?;
        if v.len() <= 254 && v.validate_email() {
            Some(v)
        } else {
            errors.add(self.at(key), "must be an e-mail address");
            None
        }
    }

    fn req_bool(&self, key: &str, errors: &mut Errors) -> Option<bool> {
        let v = self.required(key, errors)?;
        v.as_bool().or_else(|| {
            errors.add(self.at(key), "must be a boolean");
            None
        })
    }

    fn req_int(&self, key: &str, min: u64, max: u64, errors: &mut Errors) -> Option<u64> {
        let v = self.required(key, errors)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                errors.add(self.at(key), format!("must be between {min} and {max}"));
                None
            }
            None if v.as_i64().is_some() => {
                errors.add(self.at(key), format!("must be between {min} and {max}"));
                None
            }
            None => {
                errors.add(self.at(key), "must be an integer");
                None
            }
        }
    }

    fn expected_change(&self, errors: &mut Errors) -> Option<Option<ChangeClass>> {
        match self.get("expectedChange") {
            None => Some(None),
            Some(v) => match v.as_str().and_then(ChangeClass::parse) {
                Some(c) => Some(Some(c)),
                None => {
                    errors.add(self.at("expectedChange"), "must be one of `major`, `minor`, `none`");
                    None
                }
            },
        }
    }
}

const METADATA_MEMBERS: [&str; 12] = [
    "description",
    "domain",
    "dataProductOwner",
    "dataProductOwnerDisplayName",
    "dataProductMaintainer",
    "dataProductMaintainerDisplayName",
    "email",
    "status",
    "retentionPeriod",
    "dpiaRequired",
    "dpiaLocation",
    "tags",
];

fn valid_tag_key(k: &str) -> bool {
    (1..=64).contains(&k.len())
        && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

fn tags(m: &Members<'_>, errors: &mut Errors) -> Option<BTreeMap<String, String>> {
    let Some(v) = m.get("tags") else {
        return Some(BTreeMap::new());
    };
    let at = m.at("tags");
    let Some(obj) = v.as_object() else {
        errors.add(at, "must be an object of string values");
        return None;
    };
    let before = errors.0.len();
    if obj.len() > 50 {
        errors.add(&at, format!("at most 50 tags are allowed (got {})", obj.len()));
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if !valid_tag_key(k) {
            errors.add(ptr(&at, k), "tag keys must match ^[a-z0-9_.-]{1,64}$");
        }
        match v.as_str() {
            Some(s) if s.chars().count() <= 256 => match line_problem(s) {
                Some(problem) => errors.add(ptr(&at, k), problem),
                None => {
                    out.insert(k.clone(), s.to_owned());
                }
            },
            Some(_) => errors.add(ptr(&at, k), "tag values are at most 256 characters"),
            None => errors.add(ptr(&at, k), "tag values must be strings"),
        }
    }
    (errors.0.len() == before).then_some(out)
}

fn metadata(m: &Members<'_>, errors: &mut Errors) -> Option<ProductMetadata> {
    let description = m.req_text("description", 1, 4096, errors);
    let domain = m.req_string("domain", 1, 64, errors);
    let owner = m.email("dataProductOwner", m.req_string("dataProductOwner", 1, 254, errors), errors);
    let owner_name = m.req_string("dataProductOwnerDisplayName", 1, 256, errors);
    let maintainer = match m.opt_string("dataProductMaintainer", 1, 254, errors) {
        Some(Some(e)) => m.email("dataProductMaintainer", Some(e), errors).map(Some),
        other => other,
    };
    let maintainer_name = m.opt_string("dataProductMaintainerDisplayName", 1, 256, errors);
    let email = m.email("email", m.req_string("email", 1, 254, errors), errors);
    let status = match m.get("status") {
        None => Some(ProductStatus::Draft),
        Some(v) => {
            let parsed = v.as_str().and_then(ProductStatus::parse);
            if parsed.is_none() {
                errors.add(m.at("status"), "must be one of `draft`, `published`, `deprecated`, `retired`");
            }
            parsed
        }
    };
    let retention = m.req_int("retentionPeriod", 0, 36500, errors);
    let dpia_required = m.req_bool("dpiaRequired", errors);
    let dpia_location = m.opt_string("dpiaLocation", 1, 2048, errors);
    let tags = tags(m, errors);
    Some(ProductMetadata {
        description: description?,
        domain: domain?,
        data_product_owner: owner?,
        data_product_owner_display_name: owner_name?,
        data_product_maintainer: maintainer?,
        data_product_maintainer_display_name: maintainer_name?,
        email: email?,
        status: status?,
        retention_period: retention? as u32,
        dpia_required: dpia_required?,
        dpia_location: dpia_location?,
        tags: tags?,
    })
}

/// `POST /v1/data-products`.
pub struct CreateProduct {
    pub name: ProductName,
    pub metadata: ProductMetadata,
}

impl FromJsonBody for CreateProduct {
    type Doc = dto::DataProductCreate;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        let m = Members::of(value, "", errors)?;
        let mut allowed = METADATA_MEMBERS.to_vec();
        allowed.push("name");
        m.refuse_unknown(&allowed, errors);
        let name = m.required("name", errors).and_then(|v| match v.as_str() {
            None => {
                errors.add("/name", "must be a string");
                None
            }
            Some(s) => ProductName::parse(s).map_err(|e| errors.add("/name", e.to_string())).ok(),
        });
        let metadata = metadata(&m, errors);
        Some(CreateProduct { name: name?, metadata: metadata? })
    }
}

/// `PUT /v1/data-products/{name}`.
pub struct UpdateProduct {
    /// The `name` member, if sent; must equal the path's.
    pub name: Option<String>,
    pub metadata: ProductMetadata,
    pub expected: Option<ChangeClass>,
}

impl FromJsonBody for UpdateProduct {
    type Doc = dto::DataProductUpdate;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        let m = Members::of(value, "", errors)?;
        let mut allowed = METADATA_MEMBERS.to_vec();
        allowed.extend(["name", "expectedChange"]);
        m.refuse_unknown(&allowed, errors);
        let name = match m.get("name") {
            None => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => {
                errors.add("/name", "must be a string");
                None
            }
        };
        let expected = m.expected_change(errors);
        let metadata = metadata(&m, errors);
        Some(UpdateProduct { name: name?, metadata: metadata?, expected: expected? })
    }
}

/// `PUT /v1/data-products/{name}/schemas/{table}`: the table without its name (from the path).
pub struct PutTable {
    pub description: String,
    pub columns: Vec<Column>,
    pub expected: Option<ChangeClass>,
}

impl PutTable {
    pub fn into_table(self, name: TableName) -> Table {
        Table { name, description: self.description, columns: self.columns }
    }
}

/// The most columns one table may have.
pub const MAX_COLUMNS: usize = 1000;

fn column(value: &Value, at: &str, errors: &mut Errors) -> Option<Column> {
    let m = Members::of(value, at, errors)?;
    m.refuse_unknown(&["name", "type", "description", "nullable"], errors);
    let name = m.required("name", errors).and_then(|v| match v.as_str() {
        None => {
            errors.add(m.at("name"), "must be a string");
            None
        }
        Some(s) => ColumnName::parse(s).map_err(|e| errors.add(m.at("name"), e.to_string())).ok(),
    });
    let ty = m.required("type", errors).and_then(|v| match v.as_str() {
        None => {
            errors.add(m.at("type"), "must be a string");
            None
        }
        Some(s) => ColumnType::parse(s)
            .map_err(|e| {
                // A type too large to parse is not worth echoing back whole.
                let message =
                    if s.len() <= 200 { format!("invalid type `{s}`: {e}") } else { format!("invalid type: {e}") };
                errors.add(m.at("type"), message)
            })
            .ok(),
    });
    let description = m.req_text("description", 1, 1024, errors);
    let nullable = match m.get("nullable") {
        None => Some(true),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.add(m.at("nullable"), "must be a boolean");
            None
        }
    };
    Some(Column { name: name?, ty: ty?, description: description?, nullable: nullable? })
}

impl FromJsonBody for PutTable {
    type Doc = dto::TableSchemaPut;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        let m = Members::of(value, "", errors)?;
        m.refuse_unknown(&["tableDescription", "columns", "expectedChange"], errors);
        let description = m.req_text("tableDescription", 1, 4096, errors);
        let expected = m.expected_change(errors);
        let columns = m.required("columns", errors).and_then(|v| {
            let Some(list) = v.as_array() else {
                errors.add("/columns", "must be an array of columns");
                return None;
            };
            if list.is_empty() || list.len() > MAX_COLUMNS {
                errors.add("/columns", format!("a table has 1 to {MAX_COLUMNS} columns (got {})", list.len()));
                return None;
            }
            let before = errors.0.len();
            let mut seen = HashSet::new();
            let mut columns = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                let at = format!("/columns/{i}");
                if let Some(c) = column(v, &at, errors) {
                    if !seen.insert(c.name.as_str().to_owned()) {
                        errors.add(format!("{at}/name"), format!("duplicate column name `{}`", c.name));
                    }
                    columns.push(c);
                }
            }
            (errors.0.len() == before).then_some(columns)
        });
        Some(PutTable { description: description?, columns: columns?, expected: expected? })
    }
}

/// `POST /v1/webhooks`: the URL is checked for shape here and against DNS by the workflow.
pub struct CreateWebhook(pub crate::webhooks::NewSubscription);

/// A list member of strings, each checked by `check`; `None` (absent or null) is empty.
fn string_list(
    m: &Members<'_>,
    key: &str,
    check: impl Fn(&str) -> Result<(), String>,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    let Some(v) = m.get(key) else {
        return Some(Vec::new());
    };
    let at = m.at(key);
    let Some(list) = v.as_array() else {
        errors.add(at, "must be an array of strings");
        return None;
    };
    let before = errors.0.len();
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            None => errors.add(format!("{at}/{i}"), "must be a string"),
            Some(s) => match check(s) {
                Err(message) => errors.add(format!("{at}/{i}"), message),
                Ok(()) if out.iter().any(|o| o == s) => {
                    errors.add(format!("{at}/{i}"), format!("`{s}` is listed twice"))
                }
                Ok(()) => out.push(s.to_owned()),
            },
        }
    }
    if list.len() > 100 {
        errors.add(&at, format!("at most 100 entries are allowed (got {})", list.len()));
    }
    (errors.0.len() == before).then_some(out)
}

impl FromJsonBody for CreateWebhook {
    type Doc = dto::WebhookCreate;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        let m = Members::of(value, "", errors)?;
        m.refuse_unknown(&["url", "eventTypes", "dataProducts", "description"], errors);
        let url = m.required("url", errors).and_then(|v| match v.as_str() {
            None => {
                errors.add("/url", "must be a string");
                None
            }
            Some(s) => crate::webhooks::target::parse(s).map(|_| s.to_owned()).map_err(|e| errors.add("/url", e)).ok(),
        });
        let event_types = string_list(
            &m,
            "eventTypes",
            |s| {
                crate::events::EventType::parse(s).map(|_| ()).ok_or_else(|| {
                    let known: Vec<&str> = crate::events::EventType::ALL.iter().map(|t| t.as_str()).collect();
                    format!("unknown event type `{s}`; known: {}", known.join(", "))
                })
            },
            errors,
        );
        let data_products =
            string_list(&m, "dataProducts", |s| ProductName::parse(s).map(|_| ()).map_err(|e| e.to_string()), errors);
        let description = m.opt_text("description", 1, 1024, errors);
        Some(CreateWebhook(crate::webhooks::NewSubscription {
            url: url?,
            filter: crate::domain::webhook::Filter { event_types: event_types?, data_products: data_products? },
            description: description?,
        }))
    }
}
/// `POST /v1/data-products/{name}/schemas/{table}/uploads`.
pub struct CreateUpload(pub crate::uploads::NewUpload);

impl FromJsonBody for CreateUpload {
    type Doc = super::uploads::UploadCreate;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        use base64::Engine;
        let m = Members::of(value, "", errors)?;
        m.refuse_unknown(&["filename", "contentLength", "contentMd5", "contentType"], errors);
        let filename = m
            .required("filename", errors)
            .and_then(|v| m.checked_string("filename", v, 1, 1024, filename_problem, errors));
        let format = filename.as_deref().and_then(|f| {
            let format = crate::uploads::FileFormat::of_filename(f);
            if format.is_none() {
                errors.add("/filename", "must end in `.csv`, `.json`, `.jsonl` or `.parquet`");
            }
            format
        });
        let length = m.req_int("contentLength", 1, crate::uploads::MAX_FILE, errors);
        let md5 =
            m.req_string("contentMd5", 1, 64, errors).and_then(|s| {
                match base64::engine::general_purpose::STANDARD.decode(&s) {
                    Ok(bytes) if bytes.len() == 16 => Some(s),
                    _ => {
                        errors.add("/contentMd5", "must be the base64 of a 16-byte MD5 digest (24 characters)");
                        None
                    }
                }
            });
        let content_type = m.opt_string("contentType", 1, 255, errors).and_then(|ct| match ct {
            Some(ct) if !ct.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
                errors.add("/contentType", "must be printable ASCII (it is sent as a header)");
                None
            }
            other => Some(other),
        });
        Some(CreateUpload(crate::uploads::NewUpload {
            filename: filename?,
            format: format?,
            content_length: length?,
            content_md5: md5?,
            content_type: content_type?,
        }))
    }
}

/// `POST /v1/uploads/{id}/complete`: part numbers and ETags.
pub struct CompleteUpload {
    pub parts: Vec<(i32, String)>,
}

impl FromJsonBody for CompleteUpload {
    type Doc = super::uploads::UploadComplete;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        let m = Members::of(value, "", errors)?;
        m.refuse_unknown(&["parts"], errors);
        let list = m.required("parts", errors)?;
        let Some(list) = list.as_array() else {
            errors.add("/parts", "must be an array of parts");
            return None;
        };
        if list.is_empty() || list.len() as u64 > crate::uploads::MAX_PARTS {
            errors.add("/parts", format!("1 to {} parts (got {})", crate::uploads::MAX_PARTS, list.len()));
            return None;
        }
        let before = errors.0.len();
        let mut seen = HashSet::new();
        let mut parts = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let at = format!("/parts/{i}");
            let Some(p) = Members::of(v, &at, errors) else { continue };
            p.refuse_unknown(&["partNumber", "etag"], errors);
            let number = p.req_int("partNumber", 1, crate::uploads::MAX_PARTS, errors);
            let etag = p.req_string("etag", 1, 128, errors);
            if let (Some(n), Some(e)) = (number, etag) {
                if !seen.insert(n) {
                    errors.add(format!("{at}/partNumber"), format!("part {n} is listed twice"));
                }
                parts.push((n as i32, e.trim_matches('"').to_owned()));
            }
        }
        (errors.0.len() == before).then_some(CompleteUpload { parts })
    }
}

/// An S3 event notification, reduced to its object-created records (keys URL-decoded).
pub struct StorageEvents {
    /// Records in the notification.
    pub records: u32,
    pub created: Vec<CreatedObject>,
}

/// An `ObjectCreated:*` record.
pub struct CreatedObject {
    pub bucket: String,
    pub key: String,
}

impl FromJsonBody for StorageEvents {
    type Doc = super::uploads::StorageEventBatch;
    // Notifications carry members daap ignores; only the bucket and key it looks up are checked.
    const REFUSE_CONTROLS: bool = false;

    fn from_json(value: &Value, errors: &mut Errors) -> Option<Self> {
        // An SNS envelope carries the notification as a JSON string in `Message`.
        let unwrapped;
        let value = match value.get("Message").and_then(Value::as_str) {
            Some(inner) => match serde_json::from_str::<Value>(inner) {
                Ok(v) => {
                    unwrapped = v;
                    &unwrapped
                }
                Err(_) => {
                    errors.add("/Message", "must be a JSON document (an S3 event notification)");
                    return None;
                }
            },
            None => value,
        };
        let m = Members::of(value, "", errors)?;
        let Some(records) = m.get("Records") else {
            return Some(StorageEvents { records: 0, created: Vec::new() });
        };
        let Some(records) = records.as_array() else {
            errors.add("/Records", "must be an array of event records");
            return None;
        };
        let mut created = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let at = format!("/Records/{i}");
            if !record_shape_is_valid(record, &at, errors) {
                continue;
            }
            let name = record.get("eventName").and_then(Value::as_str).unwrap_or_default();
            if !name.contains("ObjectCreated:") {
                continue;
            }
            let bucket = record.pointer("/s3/bucket/name").and_then(Value::as_str);
            let key = record.pointer("/s3/object/key").and_then(Value::as_str);
            match (bucket, key) {
                (None, _) => {
                    errors.add(format!("{at}/s3/bucket/name"), "an ObjectCreated record needs the bucket name")
                }
                (_, None) => errors.add(format!("{at}/s3/object/key"), "an ObjectCreated record needs the object key"),
                (Some(bucket), Some(raw)) => {
                    if let Some(problem) = line_problem(bucket) {
                        errors.add(format!("{at}/s3/bucket/name"), problem);
                        continue;
                    }
                    match crate::uploads::decode_key(raw) {
                        // A key that decodes to control characters was never handed out.
                        Some(key) if line_problem(&key).is_some() => errors.add(
                            format!("{at}/s3/object/key"),
                            "must not decode to control characters (nor tabs or line breaks)",
                        ),
                        Some(key) => created.push(CreatedObject { bucket: bucket.to_owned(), key }),
                        None => errors.add(format!("{at}/s3/object/key"), "must be a URL-encoded key"),
                    }
                }
            }
        }
        Some(StorageEvents { records: records.len() as u32, created })
    }
}

/// Whether the members of an S3 event record that daap reads have the types S3 gives them
/// (each may be absent); a record of the wrong shape is refused, whatever its event type.
fn record_shape_is_valid(record: &Value, at: &str, errors: &mut Errors) -> bool {
    let before = errors.0.len();
    if !record.is_object() {
        errors.add(at, "must be an event record object");
        return false;
    }
    type Check = (&'static str, fn(&Value) -> bool, &'static str);
    let checks: [Check; 7] = [
        ("/eventName", Value::is_string, "must be a string"),
        ("/s3", Value::is_object, "must be an object"),
        ("/s3/bucket", Value::is_object, "must be an object"),
        ("/s3/bucket/name", Value::is_string, "must be a string"),
        ("/s3/object", Value::is_object, "must be an object"),
        ("/s3/object/key", Value::is_string, "must be a string"),
        ("/s3/object/size", Value::is_i64, "must be an integer"),
    ];
    for (pointer, ok, message) in checks {
        if record.pointer(pointer).is_some_and(|v| !ok(v)) {
            errors.add(format!("{at}{pointer}"), message);
        }
    }
    if record.pointer("/s3/object/eTag").is_some_and(|v| !v.is_string()) {
        errors.add(format!("{at}/s3/object/eTag"), "must be a string");
    }
    errors.0.len() == before
}
