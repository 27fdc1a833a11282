//! Checks a received file's columns against its table without reading the whole file:
//! the CSV header row and the first JSON Lines record come from a ranged GET of the
//! file's start, Parquet column names from the footer at its end (the last 8 bytes give
//! the footer's length; the footer is a Thrift compact-protocol `FileMetaData`, of which
//! only the schema's top-level names are read).
use std::collections::BTreeSet;

use super::FileFormat;
use crate::storage::{Storage, StorageError};

/// The most bytes read to find a CSV header row or the first JSON record.
pub const HEAD_BYTES: u64 = 1024 * 1024;
/// The largest Parquet footer read.
pub const MAX_FOOTER: u64 = 16 * 1024 * 1024;

/// `Ok(Ok(()))` valid, `Ok(Err(reason))` rejected, `Err` the store failed (try again later).
pub async fn check(
    storage: &Storage,
    bucket: &str,
    key: &str,
    format: FileFormat,
    size: u64,
    expected: &[String],
) -> Result<Result<(), String>, StorageError> {
    if size == 0 {
        return Ok(Err("the file is empty".to_owned()));
    }
    let found = match format {
        FileFormat::Csv => {
            let head = storage.read_range(bucket, key, 0, size.min(HEAD_BYTES)).await?;
            csv_header(&head, size > HEAD_BYTES)
        }
        FileFormat::Json | FileFormat::Jsonl => {
            let head = storage.read_range(bucket, key, 0, size.min(HEAD_BYTES)).await?;
            first_record_keys(&head, size > HEAD_BYTES)
        }
        FileFormat::Parquet => parquet_names(storage, bucket, key, size).await?,
    };
    Ok(found.and_then(|names| compare(expected, &names)))
}

async fn parquet_names(
    storage: &Storage,
    bucket: &str,
    key: &str,
    size: u64,
) -> Result<Result<Vec<String>, String>, StorageError> {
    if size < 12 {
        return Ok(Err("the file is too short to be Parquet".to_owned()));
    }
    let tail = storage.read_range(bucket, key, size - 8, 8).await?;
    let len = match footer_length(&tail) {
        Err(why) => return Ok(Err(why)),
        Ok(len) => len,
    };
    if len + 12 > size {
        return Ok(Err(format!("the Parquet footer length ({len} bytes) is larger than the file")));
    }
    if len > MAX_FOOTER {
        return Ok(Err(format!("the Parquet footer is {len} bytes; at most {MAX_FOOTER} are read")));
    }
    let footer = storage.read_range(bucket, key, size - 8 - len, len).await?;
    Ok(parquet_columns(&footer))
}

/// Every expected column present, nothing else, no duplicates (names compared case-insensitively).
pub fn compare(expected: &[String], found: &[String]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let mut duplicates = BTreeSet::new();
    for name in found {
        let name = name.trim().to_lowercase();
        if !seen.insert(name.clone()) {
            duplicates.insert(name);
        }
    }
    let expected_set: BTreeSet<String> = expected.iter().map(|c| c.to_lowercase()).collect();
    let missing: Vec<&str> =
        expected.iter().filter(|c| !seen.contains(&c.to_lowercase())).map(String::as_str).collect();
    let unknown: Vec<&str> = found
        .iter()
        .map(|c| c.trim())
        .filter(|c| !expected_set.contains(&c.to_lowercase()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut reasons = Vec::new();
    if !missing.is_empty() {
        reasons.push(format!("missing columns: {}", quoted(&missing)));
    }
    if !unknown.is_empty() {
        reasons.push(format!("unknown columns: {}", quoted(&unknown)));
    }
    if !duplicates.is_empty() {
        let d: Vec<&str> = duplicates.iter().map(String::as_str).collect();
        reasons.push(format!("duplicate columns: {}", quoted(&d)));
    }
    if reasons.is_empty() { Ok(()) } else { Err(reasons.join("; ")) }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The first line of `head` (without a BOM or `\r`), if it ends within it or the file does.
fn first_line(head: &[u8], truncated: bool, what: &str) -> Result<String, String> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let line = match head.iter().position(|b| *b == b'\n') {
        Some(end) => &head[..end],
        None if truncated => return Err(format!("the {what} does not end within the first {HEAD_BYTES} bytes")),
        None => head,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec()).map_err(|_| format!("the {what} is not UTF-8"))
}

/// The names of a CSV header row (comma-separated, RFC 4180 quoting).
pub fn csv_header(head: &[u8], truncated: bool) -> Result<Vec<String>, String> {
    let line = first_line(head, truncated, "CSV header row")?;
    if line.trim().is_empty() {
        return Err("the CSV header row is empty".to_owned());
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("the CSV header row has an unterminated quote".to_owned());
    }
    fields.push(field);
    Ok(fields.into_iter().map(|f| f.trim().to_owned()).collect())
}

/// The member names of the first JSON Lines record.
pub fn first_record_keys(head: &[u8], truncated: bool) -> Result<Vec<String>, String> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    // Skip blank lines before the first record.
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let line = first_line(&head[start..], truncated, "first JSON record")?;
    let value: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("the first record is not valid JSON: {e}"))?;
    match value {
        serde_json::Value::Object(map) => Ok(map.keys().cloned().collect()),
        _ => Err("the first record is not a JSON object".to_owned()),
    }
}

/// The footer length from a Parquet file's last 8 bytes.
pub fn footer_length(tail: &[u8]) -> Result<u64, String> {
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err("not a Parquet file: it does not end with `PAR1`".to_owned());
    }
    Ok(u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]])))
}

/// The top-level column names of a Parquet `FileMetaData` (Thrift compact protocol).
pub fn parquet_columns(footer: &[u8]) -> Result<Vec<String>, String> {
    let bad = |e: &str| format!("the Parquet footer cannot be read: {e}");
    let mut r = Compact { buf: footer, pos: 0 };
    let mut last = 0i16;
    loop {
        let (id, ty) = r.field_header(&mut last).map_err(|e| bad(&e))?;
        match (id, ty) {
            (_, STOP) => return Err(bad("it has no schema")),
            (2, LIST) => {
                let (n, elem) = r.list_header().map_err(|e| bad(&e))?;
                if elem != STRUCT {
                    return Err(bad("the schema is not a list of elements"));
                }
                let mut elements = Vec::with_capacity(n.min(100_000));
                for _ in 0..n {
                    elements.push(r.schema_element().map_err(|e| bad(&e))?);
                }
                return top_level(&elements).map_err(|e| bad(&e));
            }
            (_, ty) => r.skip(ty, 0).map_err(|e| bad(&e))?,
        }
    }
}

/// (name, num_children) of each schema element, depth first; the first is the root.
fn top_level(elements: &[(String, i32)]) -> Result<Vec<String>, String> {
    let Some((_, root_children)) = elements.first() else {
        return Err("the schema is empty".to_owned());
    };
    let mut names = Vec::new();
    let mut at = 1usize;
    for _ in 0..(*root_children).max(0) {
        let (name, _) = elements.get(at).ok_or("the schema ends early")?;
        names.push(name.clone());
        // Skip this column's subtree (nested groups).
        let mut pending = 1i64;
        while pending > 0 {
            let (_, children) = elements.get(at).ok_or("the schema ends early")?;
            pending += i64::from((*children).max(0)) - 1;
            at += 1;
        }
    }
    Ok(names)
}

const STOP: u8 = 0;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

/// A reader of the Thrift compact protocol, enough to walk any struct and skip what it does not need.
struct Compact<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("it ends early")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut out = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("a varint is too long".to_owned())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or("it ends early")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn field_header(&mut self, last: &mut i16) -> Result<(i16, u8), String> {
        let b = self.byte()?;
        let ty = b & 0x0f;
        if ty == STOP {
            return Ok((0, STOP));
        }
        let delta = (b >> 4) as i16;
        let id = if delta == 0 { self.zigzag()? as i16 } else { last.wrapping_add(delta) };
        *last = id;
        Ok((id, ty))
    }

    fn list_header(&mut self) -> Result<(usize, u8), String> {
        let b = self.byte()?;
        let short = (b >> 4) as usize;
        let n = if short == 15 { self.varint()? as usize } else { short };
        if n > self.buf.len() {
            return Err("a list is longer than the footer".to_owned());
        }
        Ok((n, b & 0x0f))
    }

    fn skip(&mut self, ty: u8, depth: u32) -> Result<(), String> {
        if depth > 64 {
            return Err("it nests too deeply".to_owned());
        }
        match ty {
            1 | 2 => Ok(()),
            3 => self.byte().map(drop),
            4..=6 => self.varint().map(drop),
            7 => self.take(8).map(drop),
            8 => {
                let n = self.varint()? as usize;
                self.take(n).map(drop)
            }
            LIST | SET => {
                let (n, elem) = self.list_header()?;
                for _ in 0..n {
                    // Booleans in a list take one byte each.
                    if matches!(elem, 1 | 2) { self.byte().map(drop)? } else { self.skip(elem, depth + 1)? }
                }
                Ok(())
            }
            MAP => {
                let n = self.varint()? as usize;
                if n == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                for _ in 0..n {
                    self.skip(kinds >> 4, depth + 1)?;
                    self.skip(kinds & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last = 0i16;
                loop {
                    let (_, ty) = self.field_header(&mut last)?;
                    if ty == STOP {
                        return Ok(());
                    }
                    self.skip(ty, depth + 1)?;
                }
            }
            other => Err(format!("unknown Thrift type {other}")),
        }
    }

    /// `SchemaElement`: field 4 is `name`, field 5 `num_children`.
    fn schema_element(&mut self) -> Result<(String, i32), String> {
        let mut last = 0i16;
        let (mut name, mut children) = (None, 0i32);
        loop {
            let (id, ty) = self.field_header(&mut last)?;
            match (id, ty) {
                (_, STOP) => break,
                (4, 8) => {
                    let n = self.varint()? as usize;
                    name = Some(String::from_utf8_lossy(self.take(n)?).into_owned());
                }
                (5, 5) => children = self.zigzag()? as i32,
                (_, ty) => self.skip(ty, 1)?,
            }
        }
        Ok((name.ok_or("a schema element has no name")?, children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_csv_header_with_quotes_and_crlf_is_split_into_names() {
        let names = csv_header(b"\xef\xbb\xbfid,\"la,bel\", \"x\"\"y\"\r\n1,2,3\n", false).unwrap();
        assert_eq!(names, cols(&["id", "la,bel", "x\"y"]));
        assert!(csv_header(b"id,label", true).is_err());
        assert_eq!(csv_header(b"id,label", false).unwrap(), cols(&["id", "label"]));
    }

    #[test]
    fn comparison_names_missing_unknown_and_duplicate_columns() {
        assert_eq!(compare(&cols(&["id", "label"]), &cols(&["Label", "id"])), Ok(()));
        let why = compare(&cols(&["id", "label"]), &cols(&["id", "extra", "id"])).unwrap_err();
        assert_eq!(why, "missing columns: `label`; unknown columns: `extra`; duplicate columns: `id`");
    }

    #[test]
    fn the_first_json_record_gives_the_names() {
        assert_eq!(first_record_keys(b"\n{\"id\":1,\"label\":\"a\"}\n{}", false).unwrap(), cols(&["id", "label"]));
        assert!(first_record_keys(b"[1,2]\n", false).is_err());
    }

    /// A hand-encoded footer: version 1, schema [root(2 children), id, nested(1 child), leaf].
    fn footer() -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        let mut f = vec![0x15, 0x02]; // field 1 (i32) version = 1
        f.push(0x19); // field 2 (list)
        f.push(0x4c); // 4 elements of struct
        let element = |f: &mut Vec<u8>, name: &str, children: Option<u8>| {
            f.push(0x15); // field 1 type (i32)
            f.push(0x02);
            f.push(0x38); // field 4 (delta 3) binary name
            string(f, name);
            if let Some(c) = children {
                f.push(0x15); // field 5 (delta 1) i32
                f.push(c * 2);
            }
            f.push(0x00);
        };
        element(&mut f, "schema", Some(2));
        element(&mut f, "id", None);
        element(&mut f, "nested", Some(1));
        element(&mut f, "leaf", None);
        f.push(0x16); // field 3 (i64) num_rows = 0
        f.push(0x00);
        f.push(0x00);
        f
    }

    #[test]
    fn parquet_footers_give_top_level_names_only() {
        assert_eq!(parquet_columns(&footer()).unwrap(), cols(&["id", "nested"]));
        assert!(parquet_columns(&footer()[..6]).is_err());
        let mut tail = (footer().len() as u32).to_le_bytes().to_vec();
        tail.extend_from_slice(b"PAR1");
        assert_eq!(footer_length(&tail).unwrap(), footer().len() as u64);
        assert!(footer_length(b"12345678").is_err());
    }
}
