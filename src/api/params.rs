//! Path and query values parsed into domain types; anything malformed is a 400. No value
//! that reaches a query holds a control character (PostgreSQL refuses U+0000 in text, and
//! both backends must answer alike).
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{
    domain::{
        names::{ProductName, TableName},
        version::{Version, VersionSelector},
    },
    error::ApiError,
};

pub fn product_name(raw: &str) -> Result<ProductName, ApiError> {
    ProductName::parse(raw).map_err(|e| ApiError::MalformedRequest(format!("bad data product name `{raw}`: {e}")))
}

pub fn table_name(raw: &str) -> Result<TableName, ApiError> {
    TableName::parse(raw).map_err(|e| ApiError::MalformedRequest(format!("bad table name `{raw}`: {e}")))
}

pub fn selector(raw: &str) -> Result<VersionSelector, ApiError> {
    VersionSelector::parse(raw).map_err(|e| {
        ApiError::MalformedRequest(format!("bad version selector `{raw}`: {e} (use `v1.2`, `1.2`, `v1` or `latest`)"))
    })
}

/// A free-text filter (`q`, `domain`, `owner`, `tag`, `dataProduct`): any string without
/// control characters; one with them is a 400 naming the parameter (not echoing the value).
pub fn filter_text(param: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().any(char::is_control) => {
            Err(ApiError::MalformedRequest(format!("bad `{param}`: a filter must not contain control characters")))
        }
        other => Ok(other),
    }
}

/// Cursors are opaque to clients: a tag and a position, base64url-encoded.
pub fn encode_cursor(tag: char, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}:{position}"))
}

pub fn decode_cursor(tag: char, raw: &str) -> Result<String, ApiError> {
    let bad = || ApiError::MalformedRequest(format!("bad cursor `{raw}`: pass back a `nextCursor` unchanged"));
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if text.chars().any(char::is_control) {
        return Err(bad());
    }
    let (t, position) = text.split_once(':').ok_or_else(bad)?;
    if t.len() != 1 || !t.starts_with(tag) {
        return Err(bad());
    }
    Ok(position.to_owned())
}

pub fn product_cursor(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    raw.map(|c| decode_cursor('n', c)).transpose()
}

pub fn version_cursor(raw: Option<&str>) -> Result<Option<Version>, ApiError> {
    raw.map(|c| {
        let position = decode_cursor('v', c)?;
        Version::parse(&position)
            .map_err(|_| ApiError::MalformedRequest(format!("bad cursor `{c}`: pass back a `nextCursor` unchanged")))
    })
    .transpose()
}
