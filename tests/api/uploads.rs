//! Uploads: presigned URLs to the embedded S3-compatible store (or moto), PUT with a real
//! client, tracked by the reconciler or storage events to `validated`, `rejected` or `expired`.
use std::time::{Duration, Instant};

use base64::Engine;
use md5::{Digest, Md5};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_problem, col, col_not_null, error_fields, expect, mint_token, read, run_configured,
    table_body,
};

/// A client that sends no bearer token: object stores get only the presigned request.
fn bare() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("a client")
}

fn md5_b64(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// A product `name` with a table `rows` (`id int not null`, `label string`).
async fn product_with_table(app: &TestApp, name: &str) {
    app.create_product(name).await;
    let table = table_body("Rows", vec![col_not_null("id", "int"), col("label", "string")]);
    app.put_table_ok(name, "rows", &table).await;
}

/// Asks for an upload of `body` as `filename`; returns the 201 body.
async fn create_upload(app: &TestApp, product: &str, filename: &str, body: &[u8]) -> Value {
    let req = json!({ "filename": filename, "contentLength": body.len(), "contentMd5": md5_b64(body) });
    let resp = app.post_json(&format!("/v1/data-products/{product}/schemas/rows/uploads"), &req).await;
    expect(resp, 201).await.body
}

/// PUTs `body` to the upload's URL with the headers it lists.
async fn put_file(upload: &Value, body: &[u8]) -> reqwest::Response {
    put_to(upload["url"].as_str().expect("a url"), &upload["headers"], body).await
}

async fn put_to(url: &str, headers: &Value, body: &[u8]) -> reqwest::Response {
    let mut req = bare().put(url).body(body.to_vec());
    for (k, v) in headers.as_object().expect("headers") {
        if k != "content-length" {
            req = req.header(k, v.as_str().expect("a header value"));
        }
    }
    req.send().await.expect("the store answered")
}

/// Polls the upload until it reaches `status` (or fails after `within`).
async fn wait_for(app: &TestApp, id: &str, status: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let body = expect(app.get(&format!("/v1/uploads/{id}")).await, 200).await.body;
        if body["status"] == json!(status) {
            return body;
        }
        assert!(started.elapsed() < within, "upload {id} is still {} after {within:?}: {body}", body["status"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The upload events of the feed for `id`, in order.
async fn upload_events(app: &TestApp, id: &str) -> Vec<String> {
    let body = expect(app.get("/v1/events?limit=1000").await, 200).await.body;
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["data"]["uploadId"] == json!(id))
        .map(|e| e["type"].as_str().expect("a type").to_owned())
        .collect()
}

fn fast_polling(s: &mut daap::config::Settings) {
    s.upload_poll_interval = Duration::from_millis(300);
}

const CSV: &[u8] = b"id,label\n1,first\n2,second\n";

async fn put_file_validated_by_reconciler(app: TestApp) {
    product_with_table(&app, "landing_one").await;
    let reply = read(
        app.post_json(
            "/v1/data-products/landing_one/schemas/rows/uploads",
            &json!({ "filename": "rows.csv", "contentLength": CSV.len(), "contentMd5": md5_b64(CSV), "contentType": "text/csv" }),
        )
        .await,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let upload = reply.body.clone();
    let id = upload["id"].as_str().expect("an id").to_owned();
    assert_eq!(reply.header("location"), format!("/v1/uploads/{id}"));
    assert_eq!(upload["status"], json!("pending"));
    assert_eq!(upload["dataProduct"], json!("landing_one"));
    assert_eq!(upload["table"], json!("rows"));
    assert_eq!(upload["version"], json!("v1.1"));
    assert_eq!(upload["method"], json!("PUT"));
    assert_eq!(upload["bucket"], json!("daap-landing"));
    let key = upload["key"].as_str().expect("a key");
    let prefix = "landing/landing_one/v1/rows/load_timestamp=";
    assert!(key.starts_with(prefix) && key.ends_with(&format!("/{id}.csv")), "{key}");
    let stamp = &key[prefix.len()..key.len() - id.len() - 5];
    assert_eq!(stamp.len(), 16, "{stamp}");
    assert!(stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T', "{stamp}");
    assert_eq!(upload["headers"]["content-md5"], json!(md5_b64(CSV)));
    assert_eq!(upload["headers"]["content-type"], json!("text/csv"));
    assert_eq!(upload["headers"]["content-length"], json!(CSV.len().to_string()));
    let url = upload["url"].as_str().expect("a url");
    assert!(url.contains("X-Amz-Signature=") && url.contains(&key.replace('=', "%3D")), "{url}");
    assert!(url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-md5"), "length and MD5 are signed: {url}");

    let put = put_file(&upload, CSV).await;
    assert!(put.status().is_success(), "the store refused: {}", put.text().await.unwrap_or_default());

    let done = wait_for(&app, &id, "validated", Duration::from_secs(20)).await;
    assert_eq!(done["size"], json!(CSV.len()));
    assert!(done["etag"].as_str().is_some_and(|e| !e.is_empty()), "{done}");
    assert!(done["receivedAt"].is_string(), "{done}");
    assert!(done.get("url").is_none(), "the URL is only in the create answer: {done}");
    assert_eq!(upload_events(&app, &id).await, vec!["upload.received", "upload.validated"]);

    let page = expect(app.get("/v1/data-products/landing_one/uploads?status=validated").await, 200).await.body;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    let none = expect(app.get("/v1/data-products/landing_one/uploads?status=pending").await, 200).await.body;
    assert_eq!(none["items"], json!([]));

    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("daap_uploads_total{status=\"validated\"} 1"), "{metrics}");
    assert!(metrics.contains("daap_uploads_total{status=\"pending\"} 1"), "{metrics}");
}

const EVENTS_TOKEN: &str = "storage-events-static-token-123";

async fn storage_event_marks_upload_received_then_validated(app: TestApp) {
    product_with_table(&app, "landing_two").await;
    let upload = create_upload(&app, "landing_two", "rows.csv", CSV).await;
    let id = upload["id"].as_str().expect("an id").to_owned();
    assert!(put_file(&upload, CSV).await.status().is_success());
    // The reconciler is asleep for an hour: only the event can move it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = expect(app.get(&format!("/v1/uploads/{id}")).await, 200).await.body;
    assert_eq!(still["status"], json!("pending"));

    let key = upload["key"].as_str().expect("a key");
    let encoded = key.replace('=', "%3D");
    let event = json!({ "Records": [
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "daap-landing" }, "object": { "key": encoded, "size": CSV.len(), "eTag": "x" } } },
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "daap-landing" }, "object": { "key": "landing/unknown.csv" } } },
        { "eventName": "ObjectRemoved:Delete", "s3": { "bucket": { "name": "daap-landing" }, "object": { "key": encoded } } }
    ]});
    // A writer's token is not enough; the static token is.
    let writer = mint_token("writer", "daap:read daap:write", None);
    let refused =
        bare().post(app.url("/v1/storage-events")).bearer_auth(&writer).json(&event).send().await.expect("an answer");
    assert_problem(refused, 403, "/problems/forbidden").await;
    let wrong = bare().post(app.url("/v1/storage-events")).bearer_auth("not-the-token").json(&event).send().await;
    assert_problem(wrong.expect("an answer"), 401, "/problems/unauthorized").await;
    let accepted = bare()
        .post(app.url("/v1/storage-events"))
        .bearer_auth(EVENTS_TOKEN)
        .json(&event)
        .send()
        .await
        .expect("an answer");
    let result = expect(accepted, 200).await.body;
    assert_eq!(result, json!({ "records": 3, "matched": 1 }));
    // The static token opens no other route.
    let other = bare().get(app.url("/v1/data-products")).bearer_auth(EVENTS_TOKEN).send().await;
    assert_problem(other.expect("an answer"), 401, "/problems/unauthorized").await;

    let done = wait_for(&app, &id, "validated", Duration::from_secs(10)).await;
    assert_eq!(done["size"], json!(CSV.len()));
    assert_eq!(upload_events(&app, &id).await, vec!["upload.received", "upload.validated"]);

    // The same event again changes nothing; an SNS envelope is unwrapped.
    let sns = json!({ "Type": "Notification", "Message": event.to_string() });
    let again = expect(app.post_json("/v1/storage-events", &sns).await, 200).await.body;
    assert_eq!(again, json!({ "records": 3, "matched": 0 }));
    assert_eq!(upload_events(&app, &id).await, vec!["upload.received", "upload.validated"]);

    // A record of the wrong shape is refused with the member named, whatever its type.
    let malformed = json!({ "Records": [
        { "eventName": "ObjectRemoved:Delete", "s3": { "bucket": { "name": "daap-landing" }, "object": [] } },
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "daap-landing" } } },
        "not a record"
    ]});
    let problem = crate::helpers::assert_problem(
        app.post_json("/v1/storage-events", &malformed).await,
        422,
        "/problems/validation",
    )
    .await;
    assert_eq!(
        crate::helpers::error_fields(&problem),
        vec!["/Records/0/s3/object", "/Records/1/s3/object/key", "/Records/2"],
        "{problem}"
    );
}

async fn store_refuses_other_bodies_and_urls_and_the_upload_expires(app: TestApp) {
    product_with_table(&app, "landing_three").await;
    let upload = create_upload(&app, "landing_three", "rows.csv", CSV).await;
    let id = upload["id"].as_str().expect("an id").to_owned();
    let url = upload["url"].as_str().expect("a url").to_owned();
    let headers = &upload["headers"];

    // Same length, other bytes: the signed MD5 does not match.
    let mut other = CSV.to_vec();
    other[0] = b'X';
    let resp = put_to(&url, headers, &other).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "another body was accepted");
    // Another length.
    let longer = [CSV, b"3,third\n"].concat();
    let mut h = headers.clone();
    h["content-md5"] = json!(md5_b64(&longer));
    let resp = put_to(&url, &h, &longer).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "a longer body was accepted");
    // A tampered signature.
    let sig_at = url.find("X-Amz-Signature=").expect("a signature") + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let flipped = if &url[sig_at..sig_at + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(sig_at..sig_at + 1, flipped);
    assert_eq!(put_to(&tampered, headers, CSV).await.status(), StatusCode::FORBIDDEN);
    // Another key.
    let other_key = url.replacen(".csv?", "-other.csv?", 1);
    assert_ne!(other_key, url);
    assert_eq!(put_to(&other_key, headers, CSV).await.status(), StatusCode::FORBIDDEN);
    // Wait for the URL to expire, then the right body is refused too.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(put_to(&url, headers, CSV).await.status(), StatusCode::FORBIDDEN);

    let expired = wait_for(&app, &id, "expired", Duration::from_secs(10)).await;
    assert!(expired.get("size").is_none(), "{expired}");
    assert_eq!(upload_events(&app, &id).await, vec!["upload.expired"]);
}

async fn csv_with_missing_or_unknown_columns_is_rejected(app: TestApp) {
    product_with_table(&app, "landing_four").await;
    let missing = b"id\n1\n".as_slice();
    let unknown = b"\"id\",label,extra\r\n1,a,b\r\n".as_slice();
    let a = create_upload(&app, "landing_four", "a.csv", missing).await;
    let b = create_upload(&app, "landing_four", "b.csv", unknown).await;
    assert!(put_file(&a, missing).await.status().is_success());
    assert!(put_file(&b, unknown).await.status().is_success());
    let a = wait_for(&app, a["id"].as_str().unwrap(), "rejected", Duration::from_secs(20)).await;
    let b = wait_for(&app, b["id"].as_str().unwrap(), "rejected", Duration::from_secs(20)).await;
    assert_eq!(a["rejection"], json!("missing columns: `label`"), "{a}");
    assert_eq!(b["rejection"], json!("unknown columns: `extra`"), "{b}");
    assert_eq!(upload_events(&app, a["id"].as_str().unwrap()).await, vec!["upload.received", "upload.rejected"]);
    let rejected = expect(app.get("/v1/data-products/landing_four/uploads?status=rejected&limit=1").await, 200).await;
    assert_eq!(rejected.body["items"].as_array().map(Vec::len), Some(1));
    let cursor = rejected.body["nextCursor"].as_str().expect("a second page").to_owned();
    let second = expect(
        app.get(&format!("/v1/data-products/landing_four/uploads?status=rejected&limit=1&cursor={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(second.body["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(second.body["items"][0]["id"], rejected.body["items"][0]["id"]);
    assert!(second.body.get("nextCursor").is_none());
}

/// A Parquet file of two rows with the given columns (`id` an int, the others strings).
fn parquet_file(columns: &[&str]) -> Vec<u8> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, StringArray};
    crate::validation::parquet_bytes(
        columns
            .iter()
            .map(|c| {
                let array: ArrayRef = if *c == "id" {
                    Arc::new(Int32Array::from(vec![1, 2]))
                } else {
                    Arc::new(StringArray::from(vec!["a", "b"]))
                };
                (*c, array)
            })
            .collect(),
    )
}

async fn json_lines_and_parquet_files_are_checked(app: TestApp) {
    let app = &app;
    product_with_table(app, "landing_five").await;
    let jsonl = b"{\"id\": 1, \"label\": \"a\"}\n{\"id\": 2}\n".as_slice();
    let good_parquet = parquet_file(&["id", "label"]);
    let bad_parquet = parquet_file(&["id", "other"]);
    let mut ids = Vec::new();
    for (name, body) in [("a.jsonl", jsonl), ("b.parquet", &good_parquet[..]), ("c.parquet", &bad_parquet[..])] {
        let upload = create_upload(app, "landing_five", name, body).await;
        assert!(put_file(&upload, body).await.status().is_success());
        ids.push(upload["id"].as_str().unwrap().to_owned());
    }
    wait_for(app, &ids[0], "validated", Duration::from_secs(20)).await;
    wait_for(app, &ids[1], "validated", Duration::from_secs(20)).await;
    let bad = wait_for(app, &ids[2], "rejected", Duration::from_secs(20)).await;
    assert_eq!(bad["rejection"], json!("missing columns: `label`; unknown columns: `other`"));
}

const MIB: u64 = 1024 * 1024;

fn small_parts(s: &mut daap::config::Settings) {
    fast_polling(s);
    // S3 (and the embedded store) refuse parts under 5 MiB but the last.
    s.multipart_threshold = 6 * MIB;
    s.multipart_part_size = 5 * MIB;
}

async fn multipart_uploads_complete_validate_and_abort(app: TestApp) {
    product_with_table(&app, "landing_six").await;
    // Parts of 5 MiB, 5 MiB and the rest.
    let mut big = b"id,label\n".to_vec();
    while (big.len() as u64) < 10 * MIB + 100 {
        big.extend_from_slice(b"12345,some label text\n");
    }
    let body = big.as_slice();
    let part = 5 * MIB as usize;
    let upload = create_upload(&app, "landing_six", "big.csv", body).await;
    let id = upload["id"].as_str().unwrap().to_owned();
    assert_eq!(upload["partSize"], json!(part));
    assert!(upload.get("url").is_none(), "{upload}");
    let parts = upload["parts"].as_array().expect("parts");
    let sizes: Vec<usize> = parts.iter().map(|p| p["size"].as_u64().unwrap() as usize).collect();
    assert_eq!(sizes, vec![part, part, body.len() - 2 * part]);
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let chunk = &body[i * part..(i * part + part).min(body.len())];
        let resp = put_to(p["url"].as_str().unwrap(), &p["headers"], chunk).await;
        assert!(resp.status().is_success(), "part {i}: {}", resp.status());
        let etag = resp.headers().get("etag").expect("an ETag").to_str().unwrap().to_owned();
        done.push(json!({ "partNumber": p["partNumber"], "etag": etag }));
    }
    // Still pending until completed, whatever the reconciler sees.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(expect(app.get(&format!("/v1/uploads/{id}")).await, 200).await.body["status"], json!("pending"));
    let bad = app.post_json(&format!("/v1/uploads/{id}/complete"), &json!({ "parts": [] })).await;
    assert_eq!(error_fields(&assert_problem(bad, 422, "/problems/validation").await), vec!["/parts"]);
    let completed = app.post_json(&format!("/v1/uploads/{id}/complete"), &json!({ "parts": done })).await;
    let completed = expect(completed, 200).await.body;
    assert!(completed["status"] == json!("received") || completed["status"] == json!("validated"), "{completed}");
    let validated = wait_for(&app, &id, "validated", Duration::from_secs(20)).await;
    assert_eq!(validated["size"], json!(body.len()));
    // Completing twice is a conflict.
    let twice = app.post_json(&format!("/v1/uploads/{id}/complete"), &json!({ "parts": done })).await;
    assert_problem(twice, 409, "/problems/conflict").await;

    let other = create_upload(&app, "landing_six", "other.csv", body).await;
    let other_id = other["id"].as_str().unwrap();
    expect(app.delete(&format!("/v1/uploads/{other_id}")).await, 204).await;
    let aborted = expect(app.get(&format!("/v1/uploads/{other_id}")).await, 200).await.body;
    assert_eq!(aborted["status"], json!("expired"));
    assert_eq!(upload_events(&app, other_id).await, vec!["upload.expired"]);
    assert_problem(app.delete(&format!("/v1/uploads/{other_id}")).await, 409, "/problems/conflict").await;

    // A single-PUT upload has nothing to complete or abort.
    let small = create_upload(&app, "landing_six", "small.csv", b"id\n").await;
    let small_id = small["id"].as_str().unwrap();
    assert_problem(app.delete(&format!("/v1/uploads/{small_id}")).await, 409, "/problems/conflict").await;
    let resp = app.post_json(&format!("/v1/uploads/{small_id}/complete"), &json!({ "parts": done })).await;
    assert_problem(resp, 409, "/problems/conflict").await;
}

async fn bad_upload_requests_are_refused_and_write_nothing(app: TestApp) {
    product_with_table(&app, "landing_seven").await;
    let good = json!({ "filename": "a.csv", "contentLength": 10, "contentMd5": md5_b64(b"0123456789") });
    let path = "/v1/data-products/landing_seven/schemas/rows/uploads";
    assert_problem(
        app.post_json("/v1/data-products/nope_nope/schemas/rows/uploads", &good).await,
        404,
        "/problems/not-found",
    )
    .await;
    assert_problem(
        app.post_json("/v1/data-products/landing_seven/schemas/other/uploads", &good).await,
        404,
        "/problems/not-found",
    )
    .await;
    for (body, field) in [
        (json!({ "filename": "a.txt", "contentLength": 10, "contentMd5": md5_b64(b"x") }), "/filename"),
        (json!({ "filename": "a.csv", "contentLength": 0, "contentMd5": md5_b64(b"x") }), "/contentLength"),
        (
            json!({ "filename": "a.csv", "contentLength": 5_497_558_138_881u64, "contentMd5": md5_b64(b"x") }),
            "/contentLength",
        ),
        (json!({ "filename": "a.csv", "contentLength": 10, "contentMd5": "not-base64!" }), "/contentMd5"),
        (json!({ "filename": "a.csv", "contentLength": 10, "contentMd5": "AAAA" }), "/contentMd5"),
        (json!({ "filename": "a.csv", "contentLength": 10, "contentMd5": md5_b64(b"x"), "extra": 1 }), "/extra"),
        (json!({ "contentLength": 10, "contentMd5": md5_b64(b"x") }), "/filename"),
    ] {
        let problem = assert_problem(app.post_json(path, &body).await, 422, "/problems/validation").await;
        assert_eq!(error_fields(&problem), vec![field.to_owned()], "{body}");
    }
    let missing = app.send(app.request(Method::POST, path).header("content-type", "text/plain").body("x")).await;
    assert_problem(missing, 415, "/problems/unsupported-media-type").await;
    let page = expect(app.get("/v1/data-products/landing_seven/uploads").await, 200).await.body;
    assert_eq!(page["items"], json!([]), "a refused request wrote an upload");

    // With an Idempotency-Key the answer (URL included) is stored with the upload and replayed.
    let keyed = || app.request(Method::POST, path).header("Idempotency-Key", "upload-1").json(&good);
    let first = expect(app.send(keyed()).await, 201).await;
    let again = expect(app.send(keyed()).await, 201).await;
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(first.body, again.body);
    assert_eq!(again.header("location"), format!("/v1/uploads/{}", first.body["id"].as_str().unwrap()));
    let page = expect(app.get("/v1/data-products/landing_seven/uploads").await, 200).await.body;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "one upload for one key: {page}");

    expect(app.delete("/v1/data-products/landing_seven").await, 204).await;
    assert_problem(app.post_json(path, &good).await, 409, "/problems/conflict").await;

    assert_problem(app.get("/v1/uploads/not-an-id").await, 400, "/problems/malformed-request").await;
    assert_problem(app.get("/v1/uploads/00000000-0000-4000-8000-000000000000").await, 404, "/problems/not-found").await;
    let reader = mint_token("reader", "daap:read", None);
    let forbidden = bare().post(app.url(path)).bearer_auth(reader).json(&good).send().await.expect("an answer");
    assert_problem(forbidden, 403, "/problems/forbidden").await;
}

fn events_token(s: &mut daap::config::Settings) {
    s.upload_poll_interval = Duration::from_secs(3600);
    s.storage_events_token = Some(EVENTS_TOKEN.to_owned());
}

fn short_urls(s: &mut daap::config::Settings) {
    fast_polling(s);
    s.upload_url_ttl = Duration::from_secs(2);
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
    put_file_validated_by_reconciler with super::fast_polling,
    storage_event_marks_upload_received_then_validated with super::events_token,
    store_refuses_other_bodies_and_urls_and_the_upload_expires with super::short_urls,
    csv_with_missing_or_unknown_columns_is_rejected with super::fast_polling,
    json_lines_and_parquet_files_are_checked with super::fast_polling,
    multipart_uploads_complete_validate_and_abort with super::small_parts,
    bad_upload_requests_are_refused_and_write_nothing with super::fast_polling,
}

async fn a_presigned_put_cannot_copy_another_object_into_its_key(app: TestApp) {
    // The victim's validated file, in another product.
    product_with_table(&app, "victim_data").await;
    let victim = create_upload(&app, "victim_data", "rows.csv", CSV).await;
    assert!(put_file(&victim, CSV).await.status().is_success());
    wait_for(&app, victim["id"].as_str().unwrap(), "validated", Duration::from_secs(20)).await;

    // The attacker's own URL, for a body of the victim's length that would be rejected.
    product_with_table(&app, "attacker_data").await;
    let junk = vec![b'#'; CSV.len()];
    let own = create_upload(&app, "attacker_data", "rows.csv", &junk).await;
    let own_id = own["id"].as_str().unwrap().to_owned();
    let url = own["url"].as_str().unwrap();
    let source = format!("/daap-landing/{}", victim["key"].as_str().unwrap());
    for (header, value) in [("x-amz-copy-source", source.as_str()), ("x-amz-meta-note", "unsigned")] {
        let mut req = bare().put(url).body(junk.clone()).header(header, value);
        for (k, v) in own["headers"].as_object().unwrap() {
            if k != "content-length" {
                req = req.header(k, v.as_str().unwrap());
            }
        }
        let resp = req.send().await.expect("the store answered");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::FORBIDDEN, "{header} was honoured: {text}");
        assert!(text.contains("AccessDenied"), "{text}");
    }
    // Nothing arrived at the attacker's key: the reconciler (every 300 ms) sees no object.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = expect(app.get(&format!("/v1/uploads/{own_id}")).await, 200).await.body;
    assert_eq!(still["status"], json!("pending"), "{still}");
    assert!(upload_events(&app, &own_id).await.is_empty());
    // The same URL still takes its own body.
    assert!(put_file(&own, &junk).await.status().is_success());
    wait_for(&app, &own_id, "rejected", Duration::from_secs(20)).await;
}

async fn a_purge_forgets_the_products_uploads_for_good(app: TestApp) {
    product_with_table(&app, "purged_data").await;
    let single = create_upload(&app, "purged_data", "rows.csv", CSV).await;
    let single_id = single["id"].as_str().unwrap().to_owned();
    let big = json!({ "filename": "big.csv", "contentLength": 11 * MIB, "contentMd5": md5_b64(b"x") });
    let multi = expect(app.post_json("/v1/data-products/purged_data/schemas/rows/uploads", &big).await, 201).await.body;
    let multi_id = multi["id"].as_str().unwrap().to_owned();
    expect(app.delete("/v1/data-products/purged_data?purge=true").await, 204).await;

    // Another domain takes the name, with the same table.
    let mut body = crate::helpers::product_body("purged_data");
    body["domain"] = json!("OTHER");
    expect(app.post_json("/v1/data-products", &body).await, 201).await;
    app.put_table_ok(
        "purged_data",
        "rows",
        &table_body("Rows", vec![col_not_null("id", "int"), col("label", "string")]),
    )
    .await;
    let owner = mint_token("other-writer", "daap:read daap:write", Some(vec!["OTHER".to_owned()]));
    let as_owner = |method: Method, path: &str| bare().request(method, app.url(path)).bearer_auth(&owner);
    let listed = as_owner(Method::GET, "/v1/data-products/purged_data/uploads").send().await.unwrap();
    assert_eq!(expect(listed, 200).await.body["items"], json!([]));
    for id in [&single_id, &multi_id] {
        let got = as_owner(Method::GET, &format!("/v1/uploads/{id}")).send().await.unwrap();
        assert_problem(got, 404, "/problems/not-found").await;
    }
    let abort = as_owner(Method::DELETE, &format!("/v1/uploads/{multi_id}")).send().await.unwrap();
    assert_problem(abort, 404, "/problems/not-found").await;
    let parts = as_owner(Method::GET, &format!("/v1/uploads/{multi_id}/parts")).send().await.unwrap();
    assert_problem(parts, 404, "/problems/not-found").await;
    let done = json!({ "parts": [{ "partNumber": 1, "etag": "x" }] });
    let complete = as_owner(Method::POST, &format!("/v1/uploads/{multi_id}/complete")).json(&done).send().await;
    assert_problem(complete.unwrap(), 404, "/problems/not-found").await;

    // The old URL still reaches the store, but the object belongs to nothing.
    assert!(put_file(&single, CSV).await.status().is_success());
    let key = single["key"].as_str().unwrap().replace('=', "%3D");
    let event = json!({ "Records": [
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "daap-landing" }, "object": { "key": key } } }
    ]});
    assert_eq!(expect(app.post_json("/v1/storage-events", &event).await, 200).await.body["matched"], json!(0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let feed = expect(app.get("/v1/events?limit=1000&dataProduct=purged_data").await, 200).await.body;
    let types: Vec<&str> = feed["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.iter().all(|t| !t.starts_with("upload.")), "an old upload made events: {types:?}");
    assert!(upload_events(&app, &single_id).await.is_empty());
}

async fn control_characters_in_filenames_and_event_keys_are_refused(app: TestApp) {
    product_with_table(&app, "landing_names").await;
    let path = "/v1/data-products/landing_names/schemas/rows/uploads";
    for filename in [
        "rows\u{0}.csv",
        "rows\r\n.csv",
        "rows\n.csv",
        "rows\t.csv",
        "\u{202E}vsc.exe.csv",
        "rows\u{2066}.csv",
        "rows\u{85}.csv",
        "rows\u{7f}.csv",
    ] {
        let body = json!({ "filename": filename, "contentLength": 10, "contentMd5": md5_b64(b"0123456789") });
        let problem = assert_problem(app.post_json(path, &body).await, 422, "/problems/validation").await;
        assert_eq!(error_fields(&problem), ["/filename"], "{filename:?}");
    }
    // Ordinary Unicode names are fine and come back as given.
    let body = json!({ "filename": "données été.csv", "contentLength": 10, "contentMd5": md5_b64(b"0123456789") });
    let created = expect(app.post_json(path, &body).await, 201).await.body;
    assert_eq!(created["filename"], json!("données été.csv"));
    let page = expect(app.get("/v1/data-products/landing_names/uploads").await, 200).await.body;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "a refused request wrote an upload: {page}");

    for (key, bucket) in
        [("landing/a%00b.csv", "daap-landing"), ("landing/a%0Ab.csv", "daap-landing"), ("landing/x.csv", "daap\u{0}")]
    {
        let event = json!({ "Records": [
            { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": bucket }, "object": { "key": key } } }
        ]});
        let problem =
            assert_problem(app.post_json("/v1/storage-events", &event).await, 422, "/problems/validation").await;
        let fields = error_fields(&problem);
        assert!(fields == ["/Records/0/s3/object/key"] || fields == ["/Records/0/s3/bucket/name"], "{fields:?}");
    }
    let sns = json!({ "Type": "Notification", "Message": json!({ "Records": [
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "daap-landing" }, "object": { "key": "a%00" } } }
    ]}).to_string() });
    assert_problem(app.post_json("/v1/storage-events", &sns).await, 422, "/problems/validation").await;
}

async fn multipart_part_urls_come_in_pages(app: TestApp) {
    product_with_table(&app, "landing_parts").await;
    let path = "/v1/data-products/landing_parts/schemas/rows/uploads";
    // 250 parts of 5 MiB and a last one of 7 bytes.
    let length = 250 * 5 * MIB + 7;
    let body = json!({ "filename": "big.csv", "contentLength": length, "contentMd5": md5_b64(b"x") });
    let keyed = || app.request(Method::POST, path).header("Idempotency-Key", "parts-1").json(&body);
    let first = expect(app.send(keyed()).await, 201).await;
    let upload = &first.body;
    let id = upload["id"].as_str().unwrap().to_owned();
    assert_eq!(upload["partSize"], json!(5 * MIB));
    assert_eq!(upload["partCount"], json!(251));
    let parts = upload["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 100);
    assert_eq!(parts[99]["partNumber"], json!(100));
    // The replay is the same small answer.
    let again = expect(app.send(keyed()).await, 201).await;
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.body, first.body);

    let read_back = expect(app.get(&format!("/v1/uploads/{id}")).await, 200).await.body;
    assert_eq!(read_back["partCount"], json!(251));
    assert!(read_back.get("parts").is_none(), "{read_back}");

    let page = expect(app.get(&format!("/v1/uploads/{id}/parts?limit=2")).await, 200).await.body;
    let numbers: Vec<u64> =
        page["items"].as_array().unwrap().iter().map(|p| p["partNumber"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(page["nextFrom"], json!(3));
    assert_eq!(page["partCount"], json!(251));
    let default = expect(app.get(&format!("/v1/uploads/{id}/parts?from=101")).await, 200).await.body;
    assert_eq!(default["items"].as_array().map(Vec::len), Some(100));
    assert_eq!(default["nextFrom"], json!(201));
    let rest = expect(app.get(&format!("/v1/uploads/{id}/parts?from=101&limit=1000")).await, 200).await.body;
    let items = rest["items"].as_array().unwrap();
    assert_eq!(items.len(), 151);
    assert_eq!(items[0]["partNumber"], json!(101));
    let last = &items[150];
    assert_eq!((last["partNumber"].as_u64(), last["size"].as_u64()), (Some(251), Some(7)));
    assert!(rest.get("nextFrom").is_none(), "{}", rest["nextFrom"]);
    // A URL from a page works like one from the create answer.
    let resp = put_to(last["url"].as_str().unwrap(), &last["headers"], b"1234567").await;
    assert!(resp.status().is_success(), "the store refused part 251: {}", resp.status());

    for bad in ["from=252", "from=0", "limit=0", "limit=1001", "from=x"] {
        let resp = app.get(&format!("/v1/uploads/{id}/parts?{bad}")).await;
        assert_problem(resp, 400, "/problems/malformed-request").await;
    }
    // Part URLs let their holder write: readers and other domains get none.
    let reader = mint_token("reader", "daap:read", None);
    let resp = bare().get(app.url(&format!("/v1/uploads/{id}/parts"))).bearer_auth(reader).send().await.unwrap();
    assert_problem(resp, 403, "/problems/forbidden").await;
    let stranger = mint_token("stranger", "daap:read daap:write", Some(vec!["OTHER".to_owned()]));
    let resp = bare().get(app.url(&format!("/v1/uploads/{id}/parts"))).bearer_auth(stranger).send().await.unwrap();
    assert_problem(resp, 403, "/problems/forbidden").await;

    // A single PUT has no parts; an aborted upload hands out no more.
    let small = create_upload(&app, "landing_parts", "small.csv", CSV).await;
    let resp = app.get(&format!("/v1/uploads/{}/parts", small["id"].as_str().unwrap())).await;
    assert_problem(resp, 409, "/problems/conflict").await;
    expect(app.delete(&format!("/v1/uploads/{id}")).await, 204).await;
    assert_problem(app.get(&format!("/v1/uploads/{id}/parts")).await, 409, "/problems/conflict").await;

    // The largest file: 9,987 parts, and still a small answer.
    let body = json!({ "filename": "huge.csv", "contentLength": 5u64 << 40, "contentMd5": md5_b64(b"x") });
    let huge = expect(app.post_json(path, &body).await, 201).await;
    assert_eq!(huge.body["partCount"], json!(9987));
    assert_eq!(huge.body["parts"].as_array().map(Vec::len), Some(100));
    assert!(huge.text.len() < 200_000, "the create answer is {} bytes", huge.text.len());
}

configured! {
    a_presigned_put_cannot_copy_another_object_into_its_key with super::fast_polling,
    a_purge_forgets_the_products_uploads_for_good with super::small_parts,
    control_characters_in_filenames_and_event_keys_are_refused with super::fast_polling,
    multipart_part_urls_come_in_pages with super::small_parts,
}

// ---------------------------------------------------------------------------
// A second S3 implementation: moto (PyPI `moto[server]`), which nobody here wrote. It does
// not check signatures, so only the flow runs there. One server per test process, stopped
// by PID when the process ends. Without moto the tests pass with a note, unless `CI=true`.

const MOTO_BUCKET: &str = "daap-moto";

static MOTO: tokio::sync::OnceCell<Result<String, String>> = tokio::sync::OnceCell::const_new();

fn moto_binary() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from)?;
    let venv = home.join(".cache/daap-moto-venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join("moto_server"))
        .find(|p| p.is_file())
}

/// The endpoint of the process's moto server, with the bucket created.
async fn moto() -> Option<String> {
    let outcome = MOTO
        .get_or_init(|| async {
            let bin = moto_binary().ok_or("moto_server is not installed (pip install 'moto[server]')")?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| format!("no free port: {e}"))?;
            let child = std::process::Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            // Stops moto (by its PID) once this test process has ended.
            let watchdog = format!(
                "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill {moto}",
                me = std::process::id(),
                moto = child.id()
            );
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(watchdog)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            let endpoint = format!("http://127.0.0.1:{port}");
            let started = Instant::now();
            loop {
                if let Ok(resp) = bare().put(format!("{endpoint}/{MOTO_BUCKET}")).send().await
                    && resp.status().is_success()
                {
                    return Ok(endpoint);
                }
                if started.elapsed() > Duration::from_secs(30) {
                    return Err("moto_server did not answer within 30 s".to_owned());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
    let in_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    match outcome {
        Ok(endpoint) => Some(endpoint.clone()),
        Err(reason) if in_ci => panic!("moto is required under CI: {reason}"),
        Err(reason) => {
            use std::io::Write;
            let _ =
                writeln!(std::io::stderr(), "note: the moto tests are skipped (they pass without running): {reason}");
            None
        }
    }
}

async fn moto_flow(app: TestApp) {
    product_with_table(&app, "landing_moto").await;
    let upload = create_upload(&app, "landing_moto", "rows.csv", CSV).await;
    let id = upload["id"].as_str().unwrap().to_owned();
    assert_eq!(upload["bucket"], json!(MOTO_BUCKET));
    let endpoint = moto().await.expect("moto runs");
    assert!(upload["url"].as_str().unwrap().starts_with(&format!("{endpoint}/{MOTO_BUCKET}/landing/")), "{upload}");
    let put = put_file(&upload, CSV).await;
    assert!(put.status().is_success(), "moto refused the PUT: {}", put.status());
    let done = wait_for(&app, &id, "validated", Duration::from_secs(20)).await;
    assert_eq!(done["size"], json!(CSV.len()));
    assert_eq!(upload_events(&app, &id).await, vec!["upload.received", "upload.validated"]);

    // A file with an unknown column is rejected there too, via a storage event this time.
    let bad = b"id,label,extra\n1,a,b\n".as_slice();
    let second = create_upload(&app, "landing_moto", "bad.csv", bad).await;
    assert!(put_file(&second, bad).await.status().is_success());
    let key = second["key"].as_str().unwrap().replace('=', "%3D");
    let event = json!({ "Records": [{ "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": MOTO_BUCKET }, "object": { "key": key } } }] });
    let matched = expect(app.post_json("/v1/storage-events", &event).await, 200).await.body;
    assert_eq!(matched["matched"], json!(1));
    let rejected = wait_for(&app, second["id"].as_str().unwrap(), "rejected", Duration::from_secs(20)).await;
    assert_eq!(rejected["rejection"], json!("unknown columns: `extra`"));
}

async fn with_moto(backend: Backend) {
    let Some(endpoint) = moto().await else {
        return;
    };
    run_configured(
        backend,
        move |s: &mut daap::config::Settings| {
            fast_polling(s);
            s.s3_endpoint = Some(endpoint);
            s.s3_bucket = Some(MOTO_BUCKET.to_owned());
            s.s3_force_path_style = true;
            s.s3_access_key_id = Some("moto-access-key".to_owned());
            s.s3_secret_access_key = Some("moto-secret-key".to_owned());
        },
        moto_flow,
    )
    .await
}

mod the_flow_works_against_moto {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::with_moto(super::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::with_moto(super::Backend::Postgres).await
    }
}
