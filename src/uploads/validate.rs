//! Checks every row of a received file against its table, streaming: the object is read in
//! ranged GETs of `CHUNK` bytes (`IN_FLIGHT` at once), so memory does not grow with its size
//! (at most `IN_FLIGHT + PREFETCH + 1` chunks are held). CSV goes through the `csv` crate
//! (RFC 4180, a header row), JSON Lines through `serde_json` (members kept as raw text, so
//! decimals keep every digit), Parquet through the Apache Arrow `parquet` crate one column
//! chunk at a time. Each value is judged by `domain::value`. Rejections and samples name rows, columns and rules, never a value.
use std::{
    collections::{BTreeSet, HashMap},
    io::{BufRead, Read},
    ops::Range,
    sync::{Arc, Mutex},
};

use arrow_array::{Array, ArrayRef, RecordBatch, cast::AsArray, types};
use arrow_schema::{DataType, Field};
use bytes::Bytes;
use futures::{FutureExt, StreamExt, future::BoxFuture};
use parquet::{
    arrow::{
        ProjectionMask,
        arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions},
        async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder},
    },
    errors::ParquetError,
    file::metadata::{ParquetMetaData, ParquetMetaDataReader},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use tokio::sync::mpsc;

use super::FileFormat;
use crate::{
    domain::{
        column_type::ColumnType,
        names::ColumnName,
        value::{self, Rule},
    },
    storage::{Storage, StorageError},
};

/// Bytes per ranged GET.
pub const CHUNK: u64 = 4 * 1024 * 1024;
/// Ranged GETs in flight at once.
const IN_FLIGHT: usize = 4;
/// Chunks fetched and waiting for the checks.
const PREFETCH: usize = 1;
/// The longest JSON Lines line read; a longer one is a violation.
pub const MAX_LINE: usize = 16 * 1024 * 1024;
/// Samples kept in a report.
pub const MAX_SAMPLES: usize = 100;
/// Rows per Parquet batch.
const BATCH_ROWS: usize = 8192;

/// One column of the table a file is checked against.
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
}

/// One broken rule: where (row from 1, column) and what, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub row: u64,
    pub column: String,
    pub rule: String,
}

/// What validation read and found; stored with the upload as `validation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub rows_checked: u64,
    pub bytes_checked: u64,
    pub violations: u64,
    pub samples: Vec<Sample>,
    /// True when every row was read; false for a header/schema-only check.
    pub complete: bool,
    /// Violations per rule, in the order of `Rule::LABELS` (for metrics; not stored).
    #[serde(skip)]
    pub by_rule: [u64; Rule::LABELS.len()],
}

impl Report {
    fn violation(&mut self, row: u64, column: &str, rule: Rule) {
        self.violations += 1;
        self.by_rule[rule.index()] += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(Sample { row, column: column.to_owned(), rule: rule.to_string() });
        }
    }

    /// `n` violations of `rule` in `column`, the first at `row`.
    fn violations_from(&mut self, n: u64, row: u64, column: &str, rule: Rule) {
        if n == 0 {
            return;
        }
        self.violation(row, column, rule);
        self.violations += n - 1;
        self.by_rule[rule.index()] += n - 1;
    }
}

/// The verdict on a file: the report, and why it is rejected (`None`: validated).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: Report,
    pub rejection: Option<String>,
}

impl Outcome {
    fn rejected(report: Report, why: impl Into<String>) -> Outcome {
        Outcome { report, rejection: Some(why.into()) }
    }

    fn judged(report: Report) -> Outcome {
        let rejection = report.samples.first().map(|first| {
            format!(
                "{} value{} break{} the table's rules; the first: row {}, column `{}`: {}",
                report.violations,
                if report.violations == 1 { "" } else { "s" },
                if report.violations == 1 { "s" } else { "" },
                first.row,
                first.column,
                first.rule
            )
        });
        Outcome { report, rejection }
    }
}

/// Where a file is and how much of it to read.
#[derive(Clone)]
pub struct Object {
    pub storage: Arc<Storage>,
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// Checks the file: every row when `full`, else its header row / first record / schema only.
/// `Err` when the store failed (try again later).
pub async fn check(
    object: &Object,
    format: FileFormat,
    table: &[ColumnSpec],
    full: bool,
) -> Result<Outcome, StorageError> {
    if object.size == 0 {
        return Ok(Outcome::rejected(Report::default(), "the file is empty"));
    }
    match format {
        FileFormat::Csv | FileFormat::Json | FileFormat::Jsonl => {
            let table = table.to_vec();
            let csv = format == FileFormat::Csv;
            with_reader(
                object,
                move |reader| if csv { check_csv(reader, &table, full) } else { check_jsonl(reader, &table, full) },
            )
            .await
        }
        FileFormat::Parquet => check_parquet(object, table, full).await,
    }
}

/// Runs `work` on a blocking thread over a reader of the object's bytes, fetched ahead in
/// ranged GETs; `Err` when a GET failed.
async fn with_reader<T: Send + 'static>(
    object: &Object,
    work: impl FnOnce(&mut ChunkReader) -> T + Send + 'static,
) -> Result<T, StorageError> {
    let (tx, rx) = mpsc::channel(PREFETCH);
    let fetch = object.clone();
    let producer = tokio::spawn(async move {
        let ranges = (0..fetch.size.div_ceil(CHUNK)).map(|i| (i * CHUNK, CHUNK.min(fetch.size - i * CHUNK)));
        // A few GETs in flight: one stream from a store is often slower than the checks.
        let mut chunks = futures::stream::iter(ranges)
            .map(|(at, len)| {
                let fetch = fetch.clone();
                async move { fetch.storage.read_range(&fetch.bucket, &fetch.key, at, len).await }
            })
            .buffered(IN_FLIGHT);
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(bytes) if bytes.is_empty() => break,
                Ok(bytes) => {
                    if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                        break;
                    }
                }
                Err(err) => {
                    let _ = tx.send(Err(err)).await;
                    break;
                }
            }
        }
    });
    let joined = tokio::task::spawn_blocking(move || {
        let mut reader = ChunkReader { rx, current: Bytes::new(), failed: None };
        let out = work(&mut reader);
        (out, reader.failed.take())
    })
    .await;
    producer.abort();
    match joined {
        Ok((_, Some(err))) => Err(err),
        Ok((out, None)) => Ok(out),
        Err(join) => Err(StorageError::Unavailable(format!("the validation task failed: {join}"))),
    }
}

/// A blocking `Read` over chunks a fetching task sends.
pub struct ChunkReader {
    rx: mpsc::Receiver<Result<Bytes, StorageError>>,
    current: Bytes,
    failed: Option<StorageError>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(err)) => {
                    self.failed = Some(err);
                    return Err(std::io::Error::other("the object store failed"));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// How each field of the file maps to the table: `Ok(positions)` or the rejection.
fn match_names(table: &[ColumnSpec], found: &[String]) -> Result<Vec<Option<usize>>, String> {
    compare(table, found)?;
    Ok(found.iter().map(|f| table.iter().position(|c| c.name.eq_ignore_ascii_case(f.trim()))).collect())
}

/// Every table column present, nothing else, no duplicates (names compared case-insensitively).
/// Unknown names are quoted only when they look like column names and the row names at least
/// one column of the table; otherwise the row is likely data (a CSV without a header row),
/// whose values must not be echoed, so fields are named by position.
pub fn compare(table: &[ColumnSpec], found: &[String]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let mut duplicates = BTreeSet::new();
    for name in found {
        let name = name.trim().to_lowercase();
        if !seen.insert(name.clone()) && table.iter().any(|c| c.name.eq_ignore_ascii_case(&name)) {
            duplicates.insert(name);
        }
    }
    let known = |name: &str| table.iter().any(|c| c.name.eq_ignore_ascii_case(name.trim()));
    let missing: Vec<&str> =
        table.iter().filter(|c| !seen.contains(&c.name.to_lowercase())).map(|c| c.name.as_str()).collect();
    let header_like = found.iter().any(|f| known(f));
    let mut unknown_names = BTreeSet::new();
    let mut unknown_positions = Vec::new();
    for (i, name) in found.iter().enumerate() {
        if known(name) {
            continue;
        }
        let name = name.trim();
        if header_like && ColumnName::parse(&name.to_lowercase()).is_ok() {
            unknown_names.insert(name);
        } else {
            unknown_positions.push(i + 1);
        }
    }
    let mut reasons = Vec::new();
    if !header_like && !found.is_empty() {
        reasons.push("the header row names none of the table's columns (is it missing?)".to_owned());
    }
    if !missing.is_empty() {
        reasons.push(format!("missing columns: {}", quoted(missing)));
    }
    if !unknown_names.is_empty() {
        reasons.push(format!("unknown columns: {}", quoted(unknown_names)));
    }
    if header_like && !unknown_positions.is_empty() {
        let positions: Vec<String> = unknown_positions.iter().map(usize::to_string).collect();
        reasons.push(format!("unknown columns that are not column names at positions {}", positions.join(", ")));
    }
    if !duplicates.is_empty() {
        reasons.push(format!("duplicate columns: {}", quoted(duplicates.iter().map(String::as_str))));
    }
    if reasons.is_empty() { Ok(()) } else { Err(reasons.join("; ")) }
}

fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The name to show for a member or field of the file: itself when it is a column name,
/// else a placeholder (it may be data).
fn shown(name: &str) -> &str {
    if ColumnName::parse(name).is_ok() { name } else { "*" }
}

/// CSV: the header row, then every row (or none when not `full`).
pub fn check_csv(reader: &mut dyn Read, table: &[ColumnSpec], full: bool) -> Outcome {
    let mut report = Report { complete: full, ..Report::default() };
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut record = csv::ByteRecord::new();
    match csv.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Outcome::rejected(report, "the file has no header row"),
        Err(_) => return Outcome::rejected(report, "the CSV header row cannot be read"),
    }
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let field = if i == 0 { field.strip_prefix(b"\xef\xbb\xbf").unwrap_or(field) } else { field };
        match std::str::from_utf8(field) {
            Ok(name) => names.push(name.trim().to_owned()),
            Err(_) => return Outcome::rejected(report, "the CSV header row is not UTF-8"),
        }
    }
    let positions = match match_names(table, &names) {
        Ok(p) => p,
        Err(why) => return Outcome::rejected(report, why),
    };
    report.bytes_checked = csv.position().byte();
    if !full {
        return Outcome::judged(report);
    }
    let width = names.len();
    let mut row = 0u64;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // Only I/O fails a flexible byte reader: the store (reported by the caller).
            Err(_) => return Outcome::rejected(report, "the file could not be read to its end"),
        }
        row += 1;
        if record.len() != width {
            report.violation(row, "*", Rule::FieldCount);
            continue;
        }
        for (field, at) in record.iter().zip(&positions) {
            let Some(column) = at.map(|i| &table[i]) else { continue };
            if field.is_empty() {
                if !column.nullable {
                    report.violation(row, &column.name, Rule::Null);
                }
                continue;
            }
            let checked = match std::str::from_utf8(field) {
                Ok(text) => value::check_text(&column.ty, text),
                Err(_) => Err(Rule::NotUtf8),
            };
            if let Err(rule) = checked {
                report.violation(row, &column.name, rule);
            }
        }
    }
    report.rows_checked = row;
    report.bytes_checked = csv.position().byte();
    Outcome::judged(report)
}

/// Reads one line (without its end) into `line`; `Ok(None)` at the end, `Ok(Some(false))`
/// when the line was longer than `MAX_LINE` (the rest is skipped).
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, consumed: &mut u64) -> std::io::Result<Option<bool>> {
    line.clear();
    let n = reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(None);
    }
    *consumed += n as u64;
    let mut whole = true;
    if line.last() != Some(&b'\n') && line.len() > MAX_LINE {
        whole = false;
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = reader.by_ref().take(1 << 20).read_until(b'\n', &mut rest)?;
            *consumed += m as u64;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(whole))
}

/// JSON Lines: the first record's members against the table, then every record.
pub fn check_jsonl(reader: &mut dyn Read, table: &[ColumnSpec], full: bool) -> Outcome {
    let mut report = Report { complete: full, ..Report::default() };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::new();
    let mut consumed = 0u64;
    let mut row = 0u64;
    let mut first = true;
    loop {
        let whole = match read_line(&mut reader, &mut line, &mut consumed) {
            Ok(Some(whole)) => whole,
            Ok(None) => break,
            Err(_) => return Outcome::rejected(report, "the file could not be read to its end"),
        };
        let text = if first { line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line) } else { &line[..] };
        if whole && text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        row += 1;
        if !whole {
            if first {
                return Outcome::rejected(report, format!("the first record is longer than {MAX_LINE} bytes"));
            }
            report.violation(row, "*", Rule::LineTooLong);
            continue;
        }
        let record: HashMap<String, &RawValue> = match serde_json::from_slice(text) {
            Ok(record) => record,
            Err(_) => {
                let rule = match serde_json::from_slice::<serde::de::IgnoredAny>(text) {
                    Ok(_) => Rule::NotAnObject,
                    Err(_) => Rule::NotJson,
                };
                if first {
                    return Outcome::rejected(report, format!("the first record is {rule}"));
                }
                report.violation(row, "*", rule);
                continue;
            }
        };
        if first {
            first = false;
            let names: Vec<String> = record.keys().cloned().collect();
            if let Err(why) = compare(table, &names) {
                return Outcome::rejected(report, why);
            }
            if !full {
                report.bytes_checked = consumed;
                return Outcome::judged(report);
            }
        }
        let mut matched = 0;
        for column in table {
            let raw = record
                .get(column.name.as_str())
                .or_else(|| record.iter().find(|(k, _)| k.eq_ignore_ascii_case(&column.name)).map(|(_, v)| v));
            let present = match raw {
                None => false,
                Some(raw) => {
                    matched += 1;
                    match value::check_raw_json(&column.ty, raw.get()) {
                        Ok(present) => present,
                        Err(rule) => {
                            report.violation(row, &column.name, rule);
                            continue;
                        }
                    }
                }
            };
            if !present && !column.nullable {
                report.violation(row, &column.name, Rule::Null);
            }
        }
        if matched < record.len() {
            for name in record.keys().filter(|k| !table.iter().any(|c| c.name.eq_ignore_ascii_case(k))) {
                report.violation(row, shown(name), Rule::UnknownColumn);
            }
        }
    }
    if first {
        return Outcome::rejected(report, "the file has no records");
    }
    report.rows_checked = row;
    report.bytes_checked = consumed;
    Outcome::judged(report)
}

// ---------------------------------------------------------------------------------------
// Parquet

/// Ranged reads of the object for the `parquet` crate; remembers a failure of the store, so
/// it is not mistaken for a broken file.
#[derive(Clone)]
struct ObjectReader {
    object: Object,
    failed: Arc<Mutex<Option<String>>>,
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let this = self.clone();
        async move {
            let o = &this.object;
            let len = range.end.saturating_sub(range.start);
            match o.storage.read_range(&o.bucket, &o.key, range.start, len).await {
                Ok(bytes) => Ok(Bytes::from(bytes)),
                Err(err) => {
                    let why = err.to_string();
                    if let Ok(mut failed) = this.failed.lock() {
                        *failed = Some(why.clone());
                    }
                    Err(ParquetError::External(Box::new(err)))
                }
            }
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.object.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl ObjectReader {
    fn store_failure(&self) -> Option<StorageError> {
        self.failed.lock().ok().and_then(|f| f.clone()).map(StorageError::Unavailable)
    }
}

/// The reason a Parquet file cannot be read, without the crate's message (it may quote bytes).
const UNREADABLE: &str = "the file is not a readable Parquet file";

/// The Parquet metadata of the object, or why it cannot be read.
async fn parquet_metadata(reader: &mut ObjectReader) -> Result<Result<ArrowReaderMetadata, String>, StorageError> {
    match ArrowReaderMetadata::load_async(reader, ArrowReaderOptions::new()).await {
        Ok(meta) => Ok(Ok(meta)),
        Err(_) => match reader.store_failure() {
            Some(err) => Err(err),
            None => Ok(Err(UNREADABLE.to_owned())),
        },
    }
}

/// Parquet: the file schema against the table (names and compatible types), then each
/// column's values, one column chunk at a time (memory: one column chunk).
async fn check_parquet(object: &Object, table: &[ColumnSpec], full: bool) -> Result<Outcome, StorageError> {
    let mut report = Report { complete: full, ..Report::default() };
    if object.size < 12 {
        return Ok(Outcome::rejected(report, "the file is too short to be Parquet"));
    }
    let mut reader = ObjectReader { object: object.clone(), failed: Arc::default() };
    let meta = match parquet_metadata(&mut reader).await? {
        Ok(meta) => meta,
        Err(why) => return Ok(Outcome::rejected(report, why)),
    };
    let schema = meta.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let positions = match match_names(table, &names) {
        Ok(p) => p,
        Err(why) => return Ok(Outcome::rejected(report, why)),
    };
    let mut mismatches = Vec::new();
    for (field, at) in schema.fields().iter().zip(&positions) {
        let Some(column) = at.map(|i| &table[i]) else { continue };
        if !fits(field.data_type(), &column.ty) {
            mismatches.push(format!(
                "column `{}` is {} in the file, which does not fit {}",
                column.name,
                arrow_type_name(field.data_type()),
                column.ty
            ));
        }
    }
    if !mismatches.is_empty() {
        return Ok(Outcome::rejected(report, mismatches.join("; ")));
    }
    let file = meta.metadata().clone();
    if !full {
        report.bytes_checked = object.size.min(u64::from(u32::MAX));
        return Ok(Outcome::judged(report));
    }
    // Decoding is CPU work: keep it off the async workers.
    let object_reader = reader.clone();
    let table = table.to_vec();
    let handle = tokio::runtime::Handle::current();
    let checked = tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let mut report = report;
            let mut first_row = 1u64;
            for group in 0..file.num_row_groups() {
                let group_rows = file.row_group(group).num_rows().max(0) as u64;
                for (index, at) in positions.iter().enumerate() {
                    let Some(column) = at.map(|i| &table[i]) else { continue };
                    if proven(&meta, group, index, column) {
                        continue;
                    }
                    let mask = ProjectionMask::roots(meta.parquet_schema(), [index]);
                    let stream =
                        ParquetRecordBatchStreamBuilder::new_with_metadata(object_reader.clone(), meta.clone())
                            .with_row_groups(vec![group])
                            .with_projection(mask)
                            .with_batch_size(BATCH_ROWS)
                            .build();
                    let mut stream = match stream {
                        Ok(s) => s,
                        Err(_) => return Ok(Err(UNREADABLE.to_owned())),
                    };
                    let mut row = first_row;
                    while let Some(batch) = stream.next().await {
                        let batch: RecordBatch = match batch {
                            Ok(b) => b,
                            Err(_) => return Ok(Err(UNREADABLE.to_owned())),
                        };
                        check_arrow(&mut report, row, column, batch.column(0));
                        row += batch.num_rows() as u64;
                    }
                }
                first_row += group_rows;
            }
            report.rows_checked = first_row - 1;
            Ok::<_, StorageError>(Ok(report))
        })
    })
    .await
    .map_err(|e| StorageError::Unavailable(format!("the validation task failed: {e}")))?;
    match checked {
        Ok(Ok(mut report)) => {
            report.bytes_checked = object.size;
            Ok(Outcome::judged(report))
        }
        Ok(Err(why)) => match reader.store_failure() {
            Some(err) => Err(err),
            None => Ok(Outcome::rejected(Report::default(), why)),
        },
        Err(err) => Err(err),
    }
}

/// True when the file's schema and statistics already prove every value of `column` in
/// row group `group` valid, so its pages need not be decoded: its type fits (checked before),
/// no value can be too long or too wide, and it is nullable or its one leaf counts no nulls.
fn proven(meta: &ArrowReaderMetadata, group: usize, index: usize, column: &ColumnSpec) -> bool {
    let field = &meta.schema().fields()[index];
    let value_checks = match (&column.ty, field.data_type()) {
        (ColumnType::Char(_) | ColumnType::Varchar(_), _) => true,
        (
            ColumnType::Decimal { precision, .. },
            DataType::Decimal32(p, _) | DataType::Decimal64(p, _) | DataType::Decimal128(p, _),
        ) => p > precision,
        (ColumnType::Decimal { .. }, DataType::Decimal256(..)) => true,
        _ => false,
    };
    if value_checks {
        return false;
    }
    if column.nullable {
        return true;
    }
    let schema = meta.parquet_schema();
    let leaves: Vec<usize> =
        (0..schema.num_columns()).filter(|leaf| schema.get_column_root_idx(*leaf) == index).collect();
    match leaves.as_slice() {
        [leaf] if !field.data_type().is_nested() => {
            meta.metadata().row_group(group).column(*leaf).statistics().and_then(|stats| stats.null_count_opt())
                == Some(0)
        }
        _ => false,
    }
}

/// A short name of an Arrow type (from the file's schema; never a value).
fn arrow_type_name(ty: &DataType) -> String {
    match ty {
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) | DataType::FixedSizeList(..) => {
            "a list".to_owned()
        }
        DataType::Struct(_) => "a struct".to_owned(),
        DataType::Map(..) => "a map".to_owned(),
        other => {
            let mut s = format!("{other:?}");
            s.truncate(64);
            s
        }
    }
}

/// Whether a file column of Arrow type `file` can hold the table's `ty` (values that may
/// not fit, such as a wider decimal or longer strings, are checked row by row).
pub fn fits(file: &DataType, ty: &ColumnType) -> bool {
    use ColumnType as T;
    use DataType as D;
    match (ty, file) {
        (T::TinyInt, D::Int8) => true,
        (T::SmallInt, D::Int8 | D::Int16 | D::UInt8) => true,
        (T::Int, D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16) => true,
        (T::BigInt, D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32) => true,
        (T::Float, D::Float16 | D::Float32) => true,
        (T::Double, D::Float16 | D::Float32 | D::Float64) => true,
        (T::Boolean, D::Boolean) => true,
        (T::String | T::Char(_) | T::Varchar(_), D::Utf8 | D::LargeUtf8 | D::Utf8View) => true,
        (T::Binary, D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)) => true,
        (T::Date, D::Date32 | D::Date64) => true,
        (T::Timestamp, D::Timestamp(..)) => true,
        (
            T::Decimal { scale, .. },
            D::Decimal32(_, s) | D::Decimal64(_, s) | D::Decimal128(_, s) | D::Decimal256(_, s),
        ) => i16::from(*s) == i16::from(*scale),
        (T::Array(element), D::List(f) | D::LargeList(f) | D::ListView(f) | D::FixedSizeList(f, _)) => {
            fits(f.data_type(), element)
        }
        (T::Map(key, value), D::Map(entries, _)) => match entries.data_type() {
            D::Struct(kv) if kv.len() == 2 => fits(kv[0].data_type(), key) && fits(kv[1].data_type(), value),
            _ => false,
        },
        (T::Struct(fields), D::Struct(file_fields)) => file_fields.iter().all(|ff: &Arc<Field>| {
            fields.iter().any(|f| f.name.eq_ignore_ascii_case(ff.name()) && fits(ff.data_type(), &f.ty))
        }),
        _ => false,
    }
}

/// Checks one batch of one column (rows from `first_row`): nulls against `nullable`,
/// string lengths against char/varchar, decimals against the precision.
fn check_arrow(report: &mut Report, first_row: u64, column: &ColumnSpec, array: &ArrayRef) {
    let nulls = array.null_count();
    if nulls > 0 && !column.nullable {
        let first = (0..array.len()).find(|i| array.is_null(*i)).unwrap_or(0);
        report.violations_from(nulls as u64, first_row + first as u64, &column.name, Rule::Null);
    }
    let kind = value::Kind::of(&column.ty);
    let limit = match column.ty {
        ColumnType::Char(n) => Some(usize::from(n)),
        ColumnType::Varchar(n) => Some(n as usize),
        _ => None,
    };
    let mut flag = |i: usize, rule: Rule| report.violation(first_row + i as u64, &column.name, rule);
    if let Some(limit) = limit {
        let too_long = |s: &str| s.len() > limit && s.chars().count() > limit;
        match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().iter().enumerate().for_each(|(i, s)| {
                if s.is_some_and(too_long) {
                    flag(i, value::Rule::TooLong(kind));
                }
            }),
            DataType::LargeUtf8 => array.as_string::<i64>().iter().enumerate().for_each(|(i, s)| {
                if s.is_some_and(too_long) {
                    flag(i, value::Rule::TooLong(kind));
                }
            }),
            DataType::Utf8View => array.as_string_view().iter().enumerate().for_each(|(i, s)| {
                if s.is_some_and(too_long) {
                    flag(i, value::Rule::TooLong(kind));
                }
            }),
            _ => {}
        }
    }
    if let ColumnType::Decimal { precision, scale } = column.ty {
        let wider = match array.data_type() {
            DataType::Decimal32(p, _) | DataType::Decimal64(p, _) | DataType::Decimal128(p, _) => *p > precision,
            DataType::Decimal256(..) => true,
            _ => false,
        };
        if wider {
            let bound = 10i128.checked_pow(u32::from(precision)).unwrap_or(i128::MAX);
            let rule = Rule::TooManyIntegerDigits(value::Kind::Decimal(precision, scale));
            let mut check = |i: usize, v: i128| {
                if v >= bound || v <= -bound {
                    flag(i, rule);
                }
            };
            match array.data_type() {
                DataType::Decimal32(..) => {
                    array.as_primitive::<types::Decimal32Type>().iter().enumerate().for_each(|(i, v)| {
                        if let Some(v) = v {
                            check(i, i128::from(v))
                        }
                    })
                }
                DataType::Decimal64(..) => {
                    array.as_primitive::<types::Decimal64Type>().iter().enumerate().for_each(|(i, v)| {
                        if let Some(v) = v {
                            check(i, i128::from(v))
                        }
                    })
                }
                DataType::Decimal128(..) => {
                    array.as_primitive::<types::Decimal128Type>().iter().enumerate().for_each(|(i, v)| {
                        if let Some(v) = v {
                            check(i, v)
                        }
                    })
                }
                DataType::Decimal256(..) => {
                    array.as_primitive::<types::Decimal256Type>().iter().enumerate().for_each(|(i, v)| {
                        if let Some(v) = v {
                            check(i, v.to_i128().unwrap_or(i128::MAX))
                        }
                    })
                }
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Preview

/// The first `limit` rows of the file as JSON objects of the table's columns (in table
/// order), values as JSON values of their column types; `Ok(Err(why))` when the file
/// cannot be read that way.
pub async fn preview(
    object: &Object,
    format: FileFormat,
    table: &[ColumnSpec],
    limit: usize,
) -> Result<Result<Vec<serde_json::Map<String, Value>>, String>, StorageError> {
    if object.size == 0 {
        return Ok(Ok(Vec::new()));
    }
    match format {
        FileFormat::Csv | FileFormat::Json | FileFormat::Jsonl => {
            let table = table.to_vec();
            let csv = format == FileFormat::Csv;
            with_reader(object, move |reader| {
                if csv { preview_csv(reader, &table, limit) } else { preview_jsonl(reader, &table, limit) }
            })
            .await
        }
        FileFormat::Parquet => preview_parquet(object, table, limit).await,
    }
}

fn preview_csv(
    reader: &mut dyn Read,
    table: &[ColumnSpec],
    limit: usize,
) -> Result<Vec<serde_json::Map<String, Value>>, String> {
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut record = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut record).map_err(|_| "the CSV header row cannot be read".to_owned())? {
        return Ok(Vec::new());
    }
    let names: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let f = if i == 0 { f.strip_prefix(b"\xef\xbb\xbf").unwrap_or(f) } else { f };
            String::from_utf8_lossy(f).trim().to_owned()
        })
        .collect();
    let positions = match_names(table, &names)?;
    let mut rows = Vec::new();
    while rows.len() < limit && csv.read_byte_record(&mut record).map_err(|_| "the file cannot be read".to_owned())? {
        let mut row: serde_json::Map<String, Value> = table.iter().map(|c| (c.name.clone(), Value::Null)).collect();
        for (field, at) in record.iter().zip(&positions) {
            let Some(column) = at.map(|i| &table[i]) else { continue };
            if !field.is_empty() {
                let text = String::from_utf8_lossy(field);
                row.insert(column.name.clone(), value::text_to_json(&column.ty, &text));
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn preview_jsonl(
    reader: &mut dyn Read,
    table: &[ColumnSpec],
    limit: usize,
) -> Result<Vec<serde_json::Map<String, Value>>, String> {
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::new();
    let mut consumed = 0;
    let mut rows = Vec::new();
    while rows.len() < limit {
        match read_line(&mut reader, &mut line, &mut consumed) {
            Ok(Some(true)) => {}
            Ok(Some(false)) => return Err(format!("a record is longer than {MAX_LINE} bytes")),
            Ok(None) => break,
            Err(_) => return Err("the file cannot be read".to_owned()),
        }
        let text = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: serde_json::Map<String, Value> =
            serde_json::from_slice(text).map_err(|_| format!("record {} is not a JSON object", rows.len() + 1))?;
        let row = table
            .iter()
            .map(|c| {
                let v = record.iter().find(|(k, _)| k.eq_ignore_ascii_case(&c.name)).map(|(_, v)| v.clone());
                (c.name.clone(), v.unwrap_or(Value::Null))
            })
            .collect();
        rows.push(row);
    }
    Ok(rows)
}

async fn preview_parquet(
    object: &Object,
    table: &[ColumnSpec],
    limit: usize,
) -> Result<Result<Vec<serde_json::Map<String, Value>>, String>, StorageError> {
    let mut reader = ObjectReader { object: object.clone(), failed: Arc::default() };
    let meta = match parquet_metadata(&mut reader).await? {
        Ok(meta) => meta,
        Err(why) => return Ok(Err(why)),
    };
    let names: Vec<String> = meta.schema().fields().iter().map(|f| f.name().clone()).collect();
    let positions = match match_names(table, &names) {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    let mut stream = match ParquetRecordBatchStreamBuilder::new_with_metadata(reader.clone(), meta)
        .with_limit(limit)
        .with_batch_size(limit.max(1))
        .build()
    {
        Ok(s) => s,
        Err(_) => return Ok(Err(UNREADABLE.to_owned())),
    };
    let mut rows = Vec::new();
    while rows.len() < limit {
        let batch = match stream.next().await {
            None => break,
            Some(Ok(b)) => b,
            Some(Err(_)) => {
                return match reader.store_failure() {
                    Some(err) => Err(err),
                    None => Ok(Err(UNREADABLE.to_owned())),
                };
            }
        };
        for i in 0..batch.num_rows().min(limit - rows.len()) {
            let mut row: serde_json::Map<String, Value> = table.iter().map(|c| (c.name.clone(), Value::Null)).collect();
            for (index, at) in positions.iter().enumerate() {
                let Some(column) = at.map(|c| &table[c]) else { continue };
                row.insert(column.name.clone(), arrow_json(batch.column(index).as_ref(), i));
            }
            rows.push(row);
        }
    }
    Ok(Ok(rows))
}

/// Value `i` of an Arrow array as JSON: numbers, booleans, strings; decimals, dates and
/// timestamps as text; binaries as base64; lists, maps and structs as arrays and objects.
fn arrow_json(array: &dyn Array, i: usize) -> Value {
    use base64::Engine;
    if array.is_null(i) {
        return Value::Null;
    }
    macro_rules! num {
        ($t:ty) => {
            Value::from(array.as_primitive::<$t>().value(i))
        };
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => num!(types::Int8Type),
        DataType::Int16 => num!(types::Int16Type),
        DataType::Int32 => num!(types::Int32Type),
        DataType::Int64 => num!(types::Int64Type),
        DataType::UInt8 => num!(types::UInt8Type),
        DataType::UInt16 => num!(types::UInt16Type),
        DataType::UInt32 => num!(types::UInt32Type),
        DataType::UInt64 => num!(types::UInt64Type),
        DataType::Float32 => num!(types::Float32Type),
        DataType::Float64 => num!(types::Float64Type),
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(i)),
        DataType::Utf8View => Value::from(array.as_string_view().value(i)),
        DataType::Binary => {
            Value::from(base64::engine::general_purpose::STANDARD.encode(array.as_binary::<i32>().value(i)))
        }
        DataType::LargeBinary => {
            Value::from(base64::engine::general_purpose::STANDARD.encode(array.as_binary::<i64>().value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            Value::from(base64::engine::general_purpose::STANDARD.encode(array.as_fixed_size_binary().value(i)))
        }
        DataType::Date32 => {
            let days = array.as_primitive::<types::Date32Type>().value(i);
            chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .map(|d| Value::from(d.format("%Y-%m-%d").to_string()))
                .unwrap_or(Value::Null)
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<types::Date64Type>().value(i);
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|d| Value::from(d.format("%Y-%m-%d").to_string()))
                .unwrap_or(Value::Null)
        }
        DataType::Timestamp(unit, _) => {
            use arrow_schema::TimeUnit;
            let nanos = match unit {
                TimeUnit::Second => {
                    array.as_primitive::<types::TimestampSecondType>().value(i).checked_mul(1_000_000_000)
                }
                TimeUnit::Millisecond => {
                    array.as_primitive::<types::TimestampMillisecondType>().value(i).checked_mul(1_000_000)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<types::TimestampMicrosecondType>().value(i).checked_mul(1_000)
                }
                TimeUnit::Nanosecond => Some(array.as_primitive::<types::TimestampNanosecondType>().value(i)),
            };
            nanos
                .map(chrono::DateTime::from_timestamp_nanos)
                .map(|d| Value::from(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
                .unwrap_or(Value::Null)
        }
        DataType::Decimal32(_, s) => {
            Value::from(decimal_text(i128::from(array.as_primitive::<types::Decimal32Type>().value(i)), *s))
        }
        DataType::Decimal64(_, s) => {
            Value::from(decimal_text(i128::from(array.as_primitive::<types::Decimal64Type>().value(i)), *s))
        }
        DataType::Decimal128(_, s) => {
            Value::from(decimal_text(array.as_primitive::<types::Decimal128Type>().value(i), *s))
        }
        DataType::Decimal256(_, s) => Value::from(decimal_text(
            array.as_primitive::<types::Decimal256Type>().value(i).to_i128().unwrap_or(i128::MAX),
            *s,
        )),
        DataType::List(_) => list_json(array.as_list::<i32>().value(i).as_ref()),
        DataType::LargeList(_) => list_json(array.as_list::<i64>().value(i).as_ref()),
        DataType::FixedSizeList(..) => list_json(array.as_fixed_size_list().value(i).as_ref()),
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Value::Object(
                fields
                    .iter()
                    .enumerate()
                    .map(|(f, field)| (field.name().clone(), arrow_json(s.column(f).as_ref(), i)))
                    .collect(),
            )
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(i);
            let (keys, values) = (entries.column(0), entries.column(1));
            Value::Object(
                (0..entries.len())
                    .map(|e| {
                        let key = match arrow_json(keys.as_ref(), e) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, arrow_json(values.as_ref(), e))
                    })
                    .collect(),
            )
        }
        _ => Value::Null,
    }
}

fn list_json(values: &dyn Array) -> Value {
    Value::Array((0..values.len()).map(|e| arrow_json(values, e)).collect())
}

/// An unscaled decimal as text with `scale` fraction digits.
fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        return unscaled.to_string();
    }
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{}{whole}.{fraction}", if unscaled < 0 { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, ty: &str, nullable: bool) -> ColumnSpec {
        ColumnSpec { name: name.to_owned(), ty: ColumnType::parse(ty).expect("a type"), nullable }
    }

    fn table() -> Vec<ColumnSpec> {
        vec![spec("id", "bigint", false), spec("label", "varchar(5)", true), spec("day", "date", true)]
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_csv_row_is_checked_and_samples_name_row_column_and_rule() {
        let file = b"\xef\xbb\xbfid,\"label\",day\r\n1,ok,2026-01-01\n,\"toolong\",2026-13-45\n3,\"a,b\",\nx,y\n";
        let out = check_csv(&mut &file[..], &table(), true);
        assert_eq!(out.report.rows_checked, 4);
        assert_eq!(out.report.bytes_checked, file.len() as u64);
        let samples: Vec<(u64, &str, &str)> =
            out.report.samples.iter().map(|s| (s.row, s.column.as_str(), s.rule.as_str())).collect();
        assert_eq!(
            samples,
            vec![
                (2, "id", "null in a not-nullable column"),
                (2, "label", "longer than varchar(5)"),
                (2, "day", "not a date"),
                (4, "*", "another number of fields than the header row"),
            ]
        );
        let why = out.rejection.expect("rejected");
        assert!(why.starts_with("4 values break the table's rules; the first: row 2, column `id`"), "{why}");
        assert!(!why.contains("toolong") && !why.contains("2026-13-45"));
    }

    #[test]
    fn a_csv_without_a_header_row_is_rejected_without_echoing_the_data() {
        let out = check_csv(&mut &b"17,secret_name,2026-01-01\n"[..], &table(), true);
        let why = out.rejection.expect("rejected");
        assert!(!why.contains("secret") && !why.contains("17") && !why.contains("2026"), "{why}");
        assert!(why.contains("names none of the table's columns"), "{why}");
    }

    #[test]
    fn comparison_names_missing_unknown_and_duplicate_columns() {
        let t = vec![spec("id", "int", true), spec("label", "string", true)];
        assert_eq!(compare(&t, &names(&["Label", "id"])), Ok(()));
        let why = compare(&t, &names(&["id", "extra", "id", "x y"])).unwrap_err();
        assert_eq!(
            why,
            "missing columns: `label`; unknown columns: `extra`; unknown columns that are not column names at \
             positions 4; duplicate columns: `id`"
        );
    }

    #[test]
    fn json_lines_members_are_checked_natively() {
        let t = vec![
            spec("id", "int", false),
            spec("tags", "array<varchar(2)>", true),
            spec("amount", "decimal(4,2)", true),
        ];
        let file = b"{\"id\":1,\"tags\":[\"ab\",null],\"amount\":\"12.50\"}\n\n{\"id\":null,\"amount\":12.555}\n[1]\n{\"id\":2,\"tags\":[\"abc\"],\"other\":1}\n";
        let out = check_jsonl(&mut &file[..], &t, true);
        assert_eq!(out.report.rows_checked, 4);
        let samples: Vec<(u64, &str, &str)> =
            out.report.samples.iter().map(|s| (s.row, s.column.as_str(), s.rule.as_str())).collect();
        assert_eq!(
            samples,
            vec![
                (2, "id", "null in a not-nullable column"),
                (2, "amount", "more fraction digits than decimal(4,2) holds"),
                (3, "*", "not a JSON object"),
                (4, "tags", "longer than varchar(2)"),
                (4, "other", "a member that is not a column of the table"),
            ]
        );
    }

    #[test]
    fn a_header_only_check_reads_no_rows() {
        let out = check_csv(&mut &b"id,label,day\nnot a number,,\n"[..], &table(), false);
        assert_eq!(out.rejection, None);
        assert!(!out.report.complete);
        assert_eq!(out.report.rows_checked, 0);
    }

    #[test]
    fn decimals_render_with_their_scale() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(42, 0), "42");
    }
}
