//! Validation of every row of an upload (SPEC 8.4): files PUT through real presigned URLs
//! to the embedded store, checked by the validation workers, judged `validated` or
//! `rejected` with samples that name row, column and rule and never a value of the file
//! (not in the Upload, its events or webhook deliveries); and the preview of the first rows.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
    builder::{Int32Builder, ListBuilder},
};
use base64::Engine;
use md5::{Digest, Md5};
use poem::{
    Request, Server,
    listener::{Acceptor, Listener, TcpListener},
};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_problem, col, col_not_null, expect, mint_token, run_configured, table_body,
};

fn bare() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("a client")
}

fn md5_b64(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// The table every scenario uploads to: one column of each kind of type.
fn wide_table() -> Value {
    table_body(
        "Rows of every type",
        vec![
            col_not_null("id", "bigint"),
            col("label", "varchar(20)"),
            col("day", "date"),
            col("at", "timestamp"),
            col("amount", "decimal(10,2)"),
            col("ok", "boolean"),
            col("score", "double"),
            col("small", "tinyint"),
            col("code", "char(3)"),
            col("blob", "binary"),
            col("tags", "array<int>"),
            col("info", "struct<a:int,b:string>"),
        ],
    )
}

const HEADER: &str = "id,label,day,at,amount,ok,score,small,code,blob,tags,info";
const GOOD_ROW: &str = "1,first,2026-01-31,2026-01-31T10:00:00Z,12.50,true,0.5,-128,abc,aGk=,\"[1,2]\",\"{\"\"a\"\":1,\"\"b\"\":\"\"x\"\"}\"";

/// A product `name` (domain HMPPS) with the wide table `rows` and a small table `facts`.
async fn product(app: &TestApp, name: &str) {
    app.create_product(name).await;
    app.put_table_ok(name, "rows", &wide_table()).await;
    let facts = table_body(
        "Facts",
        vec![
            col_not_null("id", "bigint"),
            col("label", "varchar(5)"),
            col("amount", "decimal(10,2)"),
            col("day", "date"),
            col("ok", "boolean"),
            col("tags", "array<int>"),
        ],
    );
    app.put_table_ok(name, "facts", &facts).await;
}

/// Asks for an upload of `body` to `table` and PUTs it to the presigned URL; the upload id.
async fn upload(app: &TestApp, product: &str, table: &str, filename: &str, body: &[u8]) -> String {
    let req = json!({ "filename": filename, "contentLength": body.len(), "contentMd5": md5_b64(body) });
    let created =
        expect(app.post_json(&format!("/v1/data-products/{product}/schemas/{table}/uploads"), &req).await, 201)
            .await
            .body;
    let mut put = bare().put(created["url"].as_str().expect("a url")).body(body.to_vec());
    for (k, v) in created["headers"].as_object().expect("headers") {
        if k != "content-length" {
            put = put.header(k, v.as_str().expect("a header value"));
        }
    }
    let answer = put.send().await.expect("the store answered");
    assert!(answer.status().is_success(), "the store refused the PUT: {}", answer.status());
    created["id"].as_str().expect("an id").to_owned()
}

/// Polls until the upload is validated or rejected.
async fn verdict(app: &TestApp, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let body = expect(app.get(&format!("/v1/uploads/{id}")).await, 200).await.body;
        if body["status"] == json!("validated") || body["status"] == json!("rejected") {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "upload {id} is still {}: {body}", body["status"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The events of upload `id`, as JSON text.
async fn events_of(app: &TestApp, id: &str) -> Vec<Value> {
    let body = expect(app.get("/v1/events?limit=1000").await, 200).await.body;
    body["items"].as_array().expect("items").iter().filter(|e| e["data"]["uploadId"] == json!(id)).cloned().collect()
}

/// A Parquet file of the given columns, written by the `parquet` crate.
pub fn parquet_bytes(columns: Vec<(&str, ArrayRef)>) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(columns).expect("a record batch");
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).expect("a writer");
    writer.write(&batch).expect("written");
    writer.close().expect("closed");
    out
}

fn tags(rows: &[Option<Vec<Option<i32>>>]) -> ArrayRef {
    let mut builder = ListBuilder::new(Int32Builder::new());
    for row in rows {
        match row {
            Some(items) => {
                for item in items {
                    builder.values().append_option(*item);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

fn facts_parquet(ids: Vec<Option<i64>>, labels: Vec<Option<&str>>) -> Vec<u8> {
    let n = ids.len();
    parquet_bytes(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("label", Arc::new(StringArray::from(labels)) as ArrayRef),
        (
            "amount",
            Arc::new(Decimal128Array::from(vec![Some(1250); n]).with_precision_and_scale(10, 2).expect("decimal"))
                as ArrayRef,
        ),
        ("day", Arc::new(Date32Array::from(vec![Some(20_000); n])) as ArrayRef),
        ("ok", Arc::new(BooleanArray::from(vec![Some(true); n])) as ArrayRef),
        ("tags", tags(&vec![Some(vec![Some(1), None]); n])),
    ])
}

/// A webhook receiver on 127.0.0.1 that keeps every body.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Hook {
    async fn start(app: &TestApp) -> Hook {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("a port");
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("an address");
        let kept = bodies.clone();
        let endpoint = poem::endpoint::make(move |mut req: Request| {
            let kept = kept.clone();
            async move {
                let body = req.take_body().into_string().await.unwrap_or_default();
                kept.lock().unwrap().push(body);
                poem::http::StatusCode::OK
            }
        });
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(endpoint).await;
        });
        let url = format!("http://{addr}/hook");
        let created = app
            .post_json("/v1/webhooks", &json!({ "url": url, "eventTypes": ["upload.validated", "upload.rejected"] }))
            .await;
        expect(created, 201).await;
        Hook { url, bodies, server }
    }

    /// Waits until a delivery mentions `id`; every delivery so far.
    async fn bodies_mentioning(&self, id: &str) -> Vec<String> {
        let started = Instant::now();
        loop {
            let bodies = self.bodies.lock().unwrap().clone();
            if bodies.iter().any(|b| b.contains(id)) {
                return bodies;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no delivery for {id} at {}", self.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn quick(s: &mut daap::config::Settings) {
    s.upload_poll_interval = Duration::from_millis(300);
    s.webhook_allow_private = true;
    s.webhook_poll_interval = Duration::from_millis(200);
    s.validation_workers = 2;
}

fn header_only(s: &mut daap::config::Settings) {
    quick(s);
    s.validate_max_bytes = 64;
}

async fn clean_files_of_each_format_are_validated_with_their_counts(app: TestApp) {
    product(&app, "clean_files").await;
    let csv = format!(
        "{HEADER}\n{GOOD_ROW}\n2,,,,,,,,,,,\r\n3,\"quoted, \"\"comma\"\"\",2024-02-29,2026-01-31 10:00:00.5,-0.01,FALSE,1e10,127,é,,[],{{}}\n"
    );
    let jsonl = concat!(
        "{\"id\":1,\"label\":\"first\",\"day\":\"2026-01-31\",\"at\":\"2026-01-31T10:00:00+01:00\",\"amount\":\"12.50\",",
        "\"ok\":true,\"score\":0.5,\"small\":-128,\"code\":\"abc\",\"blob\":\"aGk=\",\"tags\":[1,null],\"info\":{\"a\":1,\"b\":\"x\"}}\n",
        "\n",
        "{\"id\":2,\"amount\":12.5,\"label\":null}\n",
        "{\"id\":9223372036854775807,\"info\":{\"a\":null}}\n",
    );
    let parquet = facts_parquet(vec![Some(1), Some(2), Some(3)], vec![Some("a"), None, Some("éééée")]);
    for (table, name, body) in [
        ("rows", "clean.csv", csv.as_bytes()),
        ("rows", "clean.jsonl", jsonl.as_bytes()),
        ("facts", "clean.parquet", &parquet[..]),
    ] {
        let id = upload(&app, "clean_files", table, name, body).await;
        let done = verdict(&app, &id).await;
        assert_eq!(done["status"], json!("validated"), "{name}: {done}");
        assert_eq!(
            done["validation"],
            json!({ "rowsChecked": 3, "bytesChecked": body.len(), "violations": 0, "samples": [], "complete": true }),
            "{name}"
        );
        assert!(done.get("rejection").is_none(), "{done}");
        let events = events_of(&app, &id).await;
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, vec!["upload.received", "upload.validated"]);
        assert_eq!(events[1]["data"]["validation"]["rowsChecked"], json!(3));
    }
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("daap_validation_rows_total 9"), "{metrics}");
    assert!(metrics.contains("daap_validation_duration_seconds_count 3"), "{metrics}");
    assert!(metrics.contains("daap_validation_violations_total{rule=\"null\"} 0"), "{metrics}");
}

/// One CSV cell per rule: (column, bad cell as written in the CSV, the rule, a marker of the
/// value that cannot appear by chance in ids, times or ETags; empty when there is none).
const BROKEN_CELLS: &[(&str, &str, &str, &str)] = &[
    ("id", "abcMARKER1", "not a bigint", "MARKER1"),
    ("id", "", "null in a not-nullable column", ""),
    ("label", "MARKER2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "longer than varchar(20)", "MARKER2"),
    ("day", "2026-13-45", "not a date", "2026-13-45"),
    ("at", "MARKER3 10:00", "not a timestamp", "MARKER3"),
    ("amount", "12.345", "more fraction digits than decimal(10,2) holds", ""),
    ("amount", "123456789.5", "more integer digits than decimal(10,2) holds", ""),
    ("ok", "MARKER4", "not a boolean", "MARKER4"),
    ("score", "MARKER5", "not a double", "MARKER5"),
    ("small", "1289", "out of range for tinyint", ""),
    ("code", "MARKER6", "longer than char(3)", "MARKER6"),
    ("blob", "MARKER7!", "not a binary", "MARKER7"),
    ("tags", "\"[1,\"\"MARKER8\"\"]\"", "not an int", "MARKER8"),
    ("info", "\"{\"\"MARKER9\"\":1}\"", "a struct field the type does not have", "MARKER9"),
];

/// `GOOD_ROW` with `column`'s cell replaced by `cell`.
fn row_with(column: &str, cell: &str) -> String {
    let names: Vec<&str> = HEADER.split(',').collect();
    let at = names.iter().position(|n| *n == column).expect("a column");
    let good = [
        "1",
        "first",
        "2026-01-31",
        "2026-01-31T10:00:00Z",
        "12.50",
        "true",
        "0.5",
        "-128",
        "abc",
        "aGk=",
        "\"[1,2]\"",
        "\"{}\"",
    ];
    let cells: Vec<&str> = good.iter().enumerate().map(|(i, c)| if i == at { cell } else { c }).collect();
    cells.join(",")
}

async fn each_broken_rule_rejects_the_file_with_a_sample_and_echoes_no_value(app: TestApp) {
    product(&app, "broken_rules").await;
    let hook = Hook::start(&app).await;
    for (column, cell, rule, marker) in BROKEN_CELLS {
        let csv = format!("{HEADER}\n{GOOD_ROW}\n{}\n", row_with(column, cell));
        let id = upload(&app, "broken_rules", "rows", &format!("{column}.csv"), csv.as_bytes()).await;
        let done = verdict(&app, &id).await;
        assert_eq!(done["status"], json!("rejected"), "{column} {cell}: {done}");
        assert_eq!(done["validation"]["violations"], json!(1), "{column} {cell}: {done}");
        assert_eq!(done["validation"]["rowsChecked"], json!(2), "{done}");
        assert_eq!(done["validation"]["samples"], json!([{ "row": 2, "column": column, "rule": rule }]), "{cell}");
        let rejection = done["rejection"].as_str().expect("a rejection");
        assert!(rejection.contains(rule) && rejection.contains(&format!("`{column}`")), "{rejection}");
        if !marker.is_empty() {
            let events = serde_json::to_string(&events_of(&app, &id).await).unwrap();
            let deliveries = hook.bodies_mentioning(&id).await.join("\n");
            for (what, text) in [("the upload", done.to_string()), ("its events", events), ("webhooks", deliveries)] {
                assert!(!text.contains(marker), "{what} echo the value `{marker}` of the file: {text}");
            }
        }
    }
    let wrong_width = format!("{HEADER}\n{GOOD_ROW}\n1,2\n");
    let id = upload(&app, "broken_rules", "rows", "width.csv", wrong_width.as_bytes()).await;
    let done = verdict(&app, &id).await;
    assert_eq!(
        done["validation"]["samples"],
        json!([{ "row": 2, "column": "*", "rule": "another number of fields than the header row" }])
    );
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("daap_validation_violations_total{rule=\"null\"} 1"), "{metrics}");
    assert!(metrics.contains("daap_validation_violations_total{rule=\"not_a_type\"} 7"), "{metrics}");
}

async fn json_lines_values_are_checked_natively(app: TestApp) {
    product(&app, "json_rules").await;
    // The first record names every column (SPEC 4.6); later ones may leave nullable ones out.
    let first = "{\"id\":1,\"label\":null,\"day\":null,\"at\":null,\"amount\":null,\"ok\":null,\"score\":null,\
                 \"small\":null,\"code\":null,\"blob\":null,\"tags\":null,\"info\":null}";
    let cases: &[(&str, &str, &str)] = &[
        ("{\"id\":null}", "id", "null in a not-nullable column"),
        ("{\"label\":\"x\"}", "id", "null in a not-nullable column"),
        ("{\"id\":2,\"tags\":[1,\"MARKERJ1\"]}", "tags", "not an int"),
        ("{\"id\":\"MARKERJ2\"}", "id", "not a bigint"),
        ("{\"id\":2,\"label\":\"MARKERJ3-and-more-than-twenty\"}", "label", "longer than varchar(20)"),
        ("{\"id\":2,\"small\":300}", "small", "out of range for tinyint"),
        ("{\"id\":2,\"amount\":\"1.239\"}", "amount", "more fraction digits than decimal(10,2) holds"),
        ("[\"MARKERJ4\"]", "*", "not a JSON object"),
        ("{\"id\":2,\"ok\":\"true\"}", "ok", "not a boolean"),
        ("{\"id\":2,\"day\":\"2026-02-30\"}", "day", "not a date"),
    ];
    for (second, column, rule) in cases {
        let body = format!("{first}\n{second}\n");
        let id = upload(&app, "json_rules", "rows", "bad.jsonl", body.as_bytes()).await;
        let done = verdict(&app, &id).await;
        assert_eq!(done["status"], json!("rejected"), "{body}: {done}");
        assert_eq!(done["validation"]["samples"], json!([{ "row": 2, "column": column, "rule": rule }]), "{body}");
        let everything = format!("{done}{}", serde_json::to_string(&events_of(&app, &id).await).unwrap());
        assert!(!everything.contains("MARKERJ"), "a value is echoed: {everything}");
    }
}

async fn a_csv_without_a_header_row_is_rejected_without_echoing_its_first_row(app: TestApp) {
    product(&app, "no_header").await;
    let hook = Hook::start(&app).await;
    let body = format!("{}\n{}\n", GOOD_ROW.replace("first", "SECRETNAME"), GOOD_ROW);
    let id = upload(&app, "no_header", "rows", "noheader.csv", body.as_bytes()).await;
    let done = verdict(&app, &id).await;
    assert_eq!(done["status"], json!("rejected"));
    let rejection = done["rejection"].as_str().unwrap();
    assert!(rejection.contains("names none of the table's columns"), "{rejection}");
    let events = serde_json::to_string(&events_of(&app, &id).await).unwrap();
    let deliveries = hook.bodies_mentioning(&id).await.join("\n");
    for text in [done.to_string(), events, deliveries] {
        for value in ["SECRETNAME", "2026-01-31", "aGk="] {
            assert!(!text.contains(value), "`{value}` of the file is echoed: {text}");
        }
    }
}

async fn parquet_files_are_checked_for_their_schema_and_values(app: TestApp) {
    product(&app, "parquet_rules").await;
    // `id` written as text: the schema does not fit the table.
    let wrong_type = parquet_bytes(vec![
        ("id", Arc::new(StringArray::from(vec!["1"])) as ArrayRef),
        ("label", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        ("amount", Arc::new(Decimal128Array::from(vec![1]).with_precision_and_scale(10, 2).unwrap()) as ArrayRef),
        ("day", Arc::new(Date32Array::from(vec![1])) as ArrayRef),
        ("ok", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
        ("tags", tags(&[None])),
    ]);
    let id = upload(&app, "parquet_rules", "facts", "wrong.parquet", &wrong_type).await;
    let done = verdict(&app, &id).await;
    assert_eq!(done["status"], json!("rejected"));
    let rejection = done["rejection"].as_str().unwrap();
    assert!(rejection.starts_with("column `id` is Utf8 in the file, which does not fit bigint"), "{rejection}");

    let missing = parquet_bytes(vec![("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
    let id = upload(&app, "parquet_rules", "facts", "missing.parquet", &missing).await;
    let done = verdict(&app, &id).await;
    assert_eq!(done["rejection"], json!("missing columns: `label`, `amount`, `day`, `ok`, `tags`"));

    let bad_values = facts_parquet(vec![Some(1), None, Some(3)], vec![Some("ok"), Some("MARKERP-too-long"), None]);
    let id = upload(&app, "parquet_rules", "facts", "values.parquet", &bad_values).await;
    let done = verdict(&app, &id).await;
    assert_eq!(done["status"], json!("rejected"), "{done}");
    assert_eq!(
        done["validation"]["samples"],
        json!([
            { "row": 2, "column": "id", "rule": "null in a not-nullable column" },
            { "row": 2, "column": "label", "rule": "longer than varchar(5)" },
        ]),
        "{done}"
    );
    assert_eq!(done["validation"]["rowsChecked"], json!(3));
    assert!(!done.to_string().contains("MARKERP"));

    let garbage = b"PAR1 this is not really a parquet file at all PAR1".to_vec();
    let id = upload(&app, "parquet_rules", "facts", "garbage.parquet", &garbage).await;
    assert_eq!(verdict(&app, &id).await["rejection"], json!("the file is not a readable Parquet file"));
}

async fn objects_over_the_limit_are_checked_on_their_header_only_and_say_so(app: TestApp) {
    product(&app, "big_files").await;
    let body = format!("{HEADER}\n{}\n{}\n", GOOD_ROW, row_with("id", "not-a-number"));
    let id = upload(&app, "big_files", "rows", "big.csv", body.as_bytes()).await;
    let done = verdict(&app, &id).await;
    assert_eq!(done["status"], json!("validated"), "{done}");
    assert_eq!(done["validation"]["complete"], json!(false));
    assert_eq!(done["validation"]["rowsChecked"], json!(0));
    let bad_header = "id,label\n1,a\n".repeat(10);
    let id = upload(&app, "big_files", "rows", "bad.csv", bad_header.as_bytes()).await;
    let done = verdict(&app, &id).await;
    assert_eq!(done["status"], json!("rejected"), "{done}");
    assert!(done["rejection"].as_str().unwrap().starts_with("missing columns: `day`"), "{done}");
}

async fn preview_shows_typed_rows_to_the_domains_writers_only(app: TestApp) {
    product(&app, "previewed").await;
    let csv = format!("{HEADER}\n{GOOD_ROW}\n2,,,,,,,,,,,\n");
    let id = upload(&app, "previewed", "rows", "p.csv", csv.as_bytes()).await;
    verdict(&app, &id).await;
    let preview = expect(app.get(&format!("/v1/uploads/{id}/preview")).await, 200).await.body;
    assert_eq!(preview["columns"][0], json!({ "name": "id", "type": "bigint", "nullable": false }));
    assert_eq!(preview["columns"].as_array().map(Vec::len), Some(12));
    assert_eq!(
        preview["rows"][0],
        json!({
            "id": 1, "label": "first", "day": "2026-01-31", "at": "2026-01-31T10:00:00Z", "amount": "12.50",
            "ok": true, "score": 0.5, "small": -128, "code": "abc", "blob": "aGk=", "tags": [1, 2],
            "info": { "a": 1, "b": "x" }
        })
    );
    assert_eq!(preview["rows"][1]["id"], json!(2));
    assert_eq!(preview["rows"][1]["label"], Value::Null);
    let one = expect(app.get(&format!("/v1/uploads/{id}/preview?limit=1")).await, 200).await.body;
    assert_eq!(one["rows"].as_array().map(Vec::len), Some(1));

    let parquet = facts_parquet(vec![Some(7)], vec![Some("héllo")]);
    let pid = upload(&app, "previewed", "facts", "p.parquet", &parquet).await;
    verdict(&app, &pid).await;
    let preview = expect(app.get(&format!("/v1/uploads/{pid}/preview")).await, 200).await.body;
    assert_eq!(
        preview["rows"],
        json!([{ "id": 7, "label": "héllo", "amount": "12.50", "day": "2024-10-04", "ok": true, "tags": [1, null] }])
    );

    let get_with = |token: String| {
        let url = app.url(&format!("/v1/uploads/{id}/preview"));
        async move { bare().get(url).bearer_auth(token).send().await.expect("an answer") }
    };
    let writer = mint_token("writer", "daap:write", Some(vec!["HMPPS".to_owned()]));
    expect(get_with(writer).await, 200).await;
    let other_domain = mint_token("other", "daap:write", Some(vec!["OTHER".to_owned()]));
    assert_problem(get_with(other_domain).await, 403, "/problems/forbidden").await;
    let reader = mint_token("reader", "daap:read", None);
    assert_problem(get_with(reader).await, 403, "/problems/forbidden").await;

    for bad in ["limit=0", "limit=101", "limit=x"] {
        assert_problem(app.get(&format!("/v1/uploads/{id}/preview?{bad}")).await, 400, "/problems/malformed-request")
            .await;
    }
    let pending = json!({ "filename": "later.csv", "contentLength": 10, "contentMd5": md5_b64(b"0123456789") });
    let later =
        expect(app.post_json("/v1/data-products/previewed/schemas/rows/uploads", &pending).await, 201).await.body;
    let later_id = later["id"].as_str().unwrap();
    assert_problem(app.get(&format!("/v1/uploads/{later_id}/preview")).await, 409, "/problems/conflict").await;
}

/// Puts a validated upload back as a replica that died mid-object leaves it: `received`,
/// held by a worker that is gone, its lease run out, taken `attempts` times.
async fn as_if_its_worker_died(app: &TestApp, id: &str, attempts: i32) {
    use sea_orm::{
        ConnectionTrait,
        sea_query::{Alias, Expr, ExprTrait, Query},
    };
    let db = sea_orm::Database::connect(&app.database_url).await.expect("the test database");
    let reset = Query::update()
        .table(Alias::new("uploads"))
        .value(Alias::new("status"), "received")
        .value(Alias::new("validation"), Option::<serde_json::Value>::None)
        .value(Alias::new("validation_lease"), "a-worker-that-died")
        .value(Alias::new("validation_attempts"), attempts)
        .value(Alias::new("lease_until"), chrono::Utc::now() - chrono::Duration::seconds(1))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let done = db.execute(&reset).await.expect("the upload is reset");
    assert_eq!(done.rows_affected(), 1);
    db.close().await.expect("closed");
}

async fn an_object_whose_worker_died_is_validated_again_and_never_left_received(app: TestApp) {
    product(&app, "restarted").await;
    let csv = format!("{HEADER}\n{GOOD_ROW}\n");
    let id = upload(&app, "restarted", "rows", "again.csv", csv.as_bytes()).await;
    let first = verdict(&app, &id).await;
    assert_eq!(first["status"], json!("validated"));

    as_if_its_worker_died(&app, &id, 1).await;
    let again = verdict(&app, &id).await;
    assert_eq!(again["status"], json!("validated"), "{again}");
    assert_eq!(again["validation"], first["validation"], "validated again from the start");

    // A file that took its worker down every time is rejected rather than retried for ever.
    as_if_its_worker_died(&app, &id, daap::uploads::validator::MAX_ATTEMPTS).await;
    let given_up = verdict(&app, &id).await;
    assert_eq!(given_up["status"], json!("rejected"), "{given_up}");
    assert_eq!(given_up["rejection"], json!("the file could not be checked in 5 attempts"));
}

macro_rules! configured {
    ($($scenario:ident with $configure:path),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::run_configured(super::Backend::Sqlite, $configure, super::$scenario).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::run_configured(super::Backend::Postgres, $configure, super::$scenario).await
            }
        }
    )+};
}

configured! {
    clean_files_of_each_format_are_validated_with_their_counts with super::quick,
    each_broken_rule_rejects_the_file_with_a_sample_and_echoes_no_value with super::quick,
    json_lines_values_are_checked_natively with super::quick,
    a_csv_without_a_header_row_is_rejected_without_echoing_its_first_row with super::quick,
    parquet_files_are_checked_for_their_schema_and_values with super::quick,
    objects_over_the_limit_are_checked_on_their_header_only_and_say_so with super::header_only,
    preview_shows_typed_rows_to_the_domains_writers_only with super::quick,
    an_object_whose_worker_died_is_validated_again_and_never_left_received with super::quick,
}
