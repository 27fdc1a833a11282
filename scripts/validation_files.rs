//! Writes a benchmark file for upload validation: rows of the 20 mixed columns of
//! `scripts/bench`'s validation table, as CSV (with a header row) or Parquet (Snappy),
//! until the file reaches a size. Values are pseudo-random but fixed, and all valid.
//!
//!     cargo run --release --example validation_files -- csv OUT BYTES
//!     cargo run --release --example validation_files -- parquet OUT BYTES
//!     cargo run --release --example validation_files -- check-csv FILE   # validation alone, from a local file
use std::{
    fs::File,
    io::{BufWriter, Write},
    sync::Arc,
};

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    builder::{Int32Builder, ListBuilder},
};
use parquet::{arrow::ArrowWriter, basic::Compression, file::properties::WriterProperties};

/// A small, fixed pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CITIES: [&str; 8] = ["Leeds", "York", "Hull", "Bath", "Ely", "Derby", "Wells", "Truro"];
const NAMES: [&str; 6] =
    ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Ken Thompson"];

/// One row's values.
struct Row {
    id: i64,
    small: i8,
    medium: i16,
    count: i32,
    cents: i64,
    price: f64,
    ratio: f32,
    ok: bool,
    day: i32,
    at: i64,
    name: &'static str,
    code: [u8; 3],
    note: String,
    city: &'static str,
    email: String,
    score: i32,
    big: i64,
    flag: bool,
    seen: i64,
    tags: Vec<i32>,
}

fn row(rng: &mut Rng, id: i64) -> Row {
    let code = [b'A' + rng.below(26) as u8, b'A' + rng.below(26) as u8, b'A' + rng.below(26) as u8];
    Row {
        id,
        small: (rng.below(256) as i64 - 128) as i8,
        medium: (rng.below(65_536) as i64 - 32_768) as i16,
        count: rng.below(1_000_000) as i32,
        cents: rng.below(10_000_000_000) as i64 - 5_000_000_000,
        price: rng.below(1_000_000) as f64 / 100.0,
        ratio: rng.below(1000) as f32 / 1000.0,
        ok: rng.below(2) == 0,
        day: 18_000 + rng.below(3000) as i32,
        at: 1_600_000_000_000_000 + rng.below(100_000_000_000_000) as i64,
        name: NAMES[rng.below(NAMES.len() as u64) as usize],
        code,
        note: format!("note {} about item {}", rng.below(1000), id),
        city: CITIES[rng.below(CITIES.len() as u64) as usize],
        email: format!("user{}@example.org", rng.below(100_000)),
        score: rng.below(100) as i32,
        big: rng.next() as i64 >> 1,
        flag: rng.below(3) == 0,
        seen: 1_700_000_000_000_000 + rng.below(10_000_000_000_000) as i64,
        tags: (0..rng.below(4)).map(|_| rng.below(100) as i32).collect(),
    }
}

fn date(days: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0).expect("a date").format("%Y-%m-%d").to_string()
}

fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).expect("a time").format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

const HEADER: &str =
    "id,small,medium,count,amount,price,ratio,ok,day,at,name,code,note,city,email,score,big,flag,seen,tags";

fn write_csv(out: &str, bytes: u64) -> std::io::Result<()> {
    let mut file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    writeln!(file, "{HEADER}")?;
    let mut written = HEADER.len() as u64 + 1;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut line = String::new();
    let mut id = 0;
    while written < bytes {
        id += 1;
        let r = row(&mut rng, id);
        line.clear();
        use std::fmt::Write as _;
        let tags: Vec<String> = r.tags.iter().map(i32::to_string).collect();
        let _ = writeln!(
            line,
            "{},{},{},{},{}.{:02},{},{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},\"[{}]\"",
            r.id,
            r.small,
            r.medium,
            r.count,
            r.cents / 100,
            (r.cents % 100).abs(),
            r.price,
            r.ratio,
            r.ok,
            date(r.day),
            timestamp(r.at),
            r.name,
            std::str::from_utf8(&r.code).expect("ascii"),
            r.note,
            r.city,
            r.email,
            r.score,
            r.big,
            r.flag,
            timestamp(r.seen).replace('T', " ").trim_end_matches('Z'),
            tags.join(",")
        );
        file.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    file.flush()
}

fn batch(rng: &mut Rng, first_id: i64, n: usize) -> RecordBatch {
    let rows: Vec<Row> = (0..n as i64).map(|i| row(rng, first_id + i)).collect();
    let mut tags = ListBuilder::new(Int32Builder::new());
    for r in &rows {
        tags.values().append_slice(&r.tags);
        tags.append(true);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id)))),
        ("small", Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.small)))),
        ("medium", Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.medium)))),
        ("count", Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.count)))),
        (
            "amount",
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| i128::from(r.cents)))
                    .with_precision_and_scale(12, 2)
                    .expect("decimal"),
            ),
        ),
        ("price", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.price)))),
        ("ratio", Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.ratio)))),
        ("ok", Arc::new(BooleanArray::from(rows.iter().map(|r| r.ok).collect::<Vec<_>>()))),
        ("day", Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.day)))),
        ("at", Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.at)).with_timezone("UTC"))),
        ("name", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.name)))),
        (
            "code",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| std::str::from_utf8(&r.code).expect("ascii")))),
        ),
        ("note", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.note.as_str())))),
        ("city", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.city)))),
        ("email", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.email.as_str())))),
        ("score", Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.score)))),
        ("big", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.big)))),
        ("flag", Arc::new(BooleanArray::from(rows.iter().map(|r| r.flag).collect::<Vec<_>>()))),
        ("seen", Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.seen)))),
        ("tags", Arc::new(tags.finish())),
    ];
    RecordBatch::try_from_iter(columns).expect("a batch")
}

fn write_parquet(out: &str, bytes: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let first = batch(&mut rng, 1, 65_536);
    let mut writer = ArrowWriter::try_new(File::create(out)?, first.schema(), Some(props))?;
    writer.write(&first)?;
    let mut next = 65_537;
    while (writer.bytes_written() + writer.in_progress_size()) as u64 * 100 / 95 < bytes {
        writer.write(&batch(&mut rng, next, 65_536))?;
        next += 65_536;
    }
    writer.close()?;
    Ok(())
}

/// The bench table's columns.
fn table() -> Vec<daap::uploads::validate::ColumnSpec> {
    let types = [
        "bigint",
        "tinyint",
        "smallint",
        "int",
        "decimal(12,2)",
        "double",
        "float",
        "boolean",
        "date",
        "timestamp",
        "varchar(40)",
        "char(3)",
        "string",
        "string",
        "varchar(100)",
        "int",
        "bigint",
        "boolean",
        "timestamp",
        "array<int>",
    ];
    HEADER
        .split(',')
        .zip(types)
        .enumerate()
        .map(|(i, (name, ty))| daap::uploads::validate::ColumnSpec {
            name: name.to_owned(),
            ty: daap::domain::column_type::ColumnType::parse(ty).expect("a type"),
            nullable: i != 0,
        })
        .collect()
}

/// Validates a local CSV file as the server would (no store in the way) and prints the rate.
fn check_csv(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let size = std::fs::metadata(path)?.len();
    let mut file = std::io::BufReader::with_capacity(4 << 20, File::open(path)?);
    let started = std::time::Instant::now();
    let outcome = daap::uploads::validate::check_csv(&mut file, &table(), true);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} rows, {} violations, {:.0} MB/s ({:?})",
        outcome.report.rows_checked,
        outcome.report.violations,
        size as f64 / secs / 1e6,
        outcome.rejection
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let (Some("check-csv"), Some(path)) = (args.get(1).map(String::as_str), args.get(2)) {
        return check_csv(path);
    }
    let (Some(format), Some(out), Some(bytes)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: validation_files csv|parquet OUT BYTES");
        std::process::exit(3);
    };
    let bytes: u64 = bytes.parse()?;
    match format.as_str() {
        "csv" => write_csv(out, bytes)?,
        "parquet" => write_parquet(out, bytes)?,
        "check-csv" => check_csv(out)?,
        other => {
            eprintln!("unknown format `{other}`: csv or parquet");
            std::process::exit(3);
        }
    }
    Ok(())
}
