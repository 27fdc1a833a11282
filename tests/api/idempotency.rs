//! SPEC section 5: a retried write is never applied twice.
use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_problem, assert_problem_reply, col, expect, metadata_body, read, table_body,
};

const REPLAYED: &str = "idempotent-replayed";

fn keyed(app: &TestApp, method: Method, path: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.request(method, path).header("Idempotency-Key", key).json(body)
}

async fn one_key_used_by_100_concurrent_requests_makes_one_version(app: TestApp) {
    app.create_product("keyed").await;
    let body = table_body("Incidents", vec![col("id", "bigint")]);
    let sends = (0..100).map(|_| {
        let app = app.clone();
        let body = body.clone();
        async move {
            read(app.send(keyed(&app, Method::PUT, "/v1/data-products/keyed/schemas/t1", "k-100", &body)).await).await
        }
    });
    let replies = join_all(sends).await;
    let mut created = Vec::new();
    for reply in &replies {
        match reply.status.as_u16() {
            201 => created.push(reply),
            409 => {
                assert_problem_reply(reply, 409, "/problems/idempotency-request-in-progress");
                assert!(reply.opt_header("retry-after").is_some(), "409 in progress without Retry-After");
            }
            other => panic!("a concurrent keyed request answered {other}: {}", reply.text),
        }
    }
    assert!(!created.is_empty(), "no request succeeded");
    let first = &created[0].body;
    for reply in &created {
        assert_eq!(&reply.body, first, "every 2xx answer is the same answer");
        assert_eq!(reply.header("etag"), "\"v1.1\"");
    }
    let fresh = created.iter().filter(|r| r.opt_header(REPLAYED).is_none()).count();
    assert_eq!(fresh, 1, "exactly one answer is the original, the others are replays");
    assert_eq!(app.version_list("keyed").await, ["v1.1", "v1.0"], "the change was applied once");
    let again =
        expect(app.send(keyed(&app, Method::PUT, "/v1/data-products/keyed/schemas/t1", "k-100", &body)).await, 201)
            .await;
    assert_eq!(again.header(REPLAYED), "true");
    assert_eq!(&again.body, first);
}

async fn a_key_reused_with_another_body_is_422_and_writes_nothing(app: TestApp) {
    app.create_product("reuse").await;
    let path = "/v1/data-products/reuse/schemas/t1";
    let first = table_body("First", vec![col("a", "int")]);
    expect(app.send(keyed(&app, Method::PUT, path, "k1", &first)).await, 201).await;
    let other = table_body("Second", vec![col("a", "int"), col("b", "int")]);
    assert_problem(
        app.send(keyed(&app, Method::PUT, path, "k1", &other)).await,
        422,
        "/problems/idempotency-key-reused",
    )
    .await;
    // Key order and whitespace are not part of the fingerprint.
    let reordered = app
        .request(Method::PUT, path)
        .header("Idempotency-Key", "\"k1\"")
        .header("Content-Type", "application/json")
        .body(r#"{ "columns": [{"description": "The a column", "type": "int", "name": "a"}], "tableDescription": "First" }"#);
    let replay = expect(app.send(reordered).await, 201).await;
    assert_eq!(replay.header(REPLAYED), "true", "a quoted key with an equivalent body is the same request");
    assert_eq!(app.version_list("reuse").await, ["v1.1", "v1.0"]);
}

async fn malformed_keys_are_400(app: TestApp) {
    let long = "k".repeat(256);
    for bad in [&b""[..], b"\"\"", long.as_bytes(), b"caf\xc3\xa9", b"\"open"] {
        let request = app
            .request(Method::POST, "/v1/data-products")
            .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(bad).expect("a header value"))
            .json(&crate::helpers::product_body("never"));
        assert_problem(app.send(request).await, 400, "/problems/invalid-idempotency-key").await;
    }
    assert_problem(app.get("/v1/data-products/never").await, 404, "/problems/not-found").await;
}

async fn refusals_are_replayed_but_other_client_errors_run_again(app: TestApp) {
    app.create_product("refusals").await;
    let path = "/v1/data-products/refusals/schemas/t1";
    let body = table_body("T", vec![col("a", "int")]);
    // 412 is a deterministic refusal: stored and replayed (headers are not in the fingerprint).
    let stale =
        app.request(Method::PUT, path).header("Idempotency-Key", "k412").header("If-Match", "\"v9.9\"").json(&body);
    assert_problem(app.send(stale).await, 412, "/problems/precondition-failed").await;
    let retry = read(app.send(keyed(&app, Method::PUT, path, "k412", &body)).await).await;
    assert_problem_reply(&retry, 412, "/problems/precondition-failed");
    assert_eq!(retry.header(REPLAYED), "true");
    // 404 is not stored: once the product exists, the same key runs for real.
    let missing = "/v1/data-products/later/schemas/t1";
    assert_problem(app.send(keyed(&app, Method::PUT, missing, "k404", &body)).await, 404, "/problems/not-found").await;
    app.create_product("later").await;
    let ran = expect(app.send(keyed(&app, Method::PUT, missing, "k404", &body)).await, 201).await;
    assert!(ran.opt_header(REPLAYED).is_none(), "a 404 answer was stored");
    // 422 is not stored either.
    let invalid = json!({"tableDescription": "T", "columns": []});
    assert_problem(app.send(keyed(&app, Method::PUT, path, "k422", &invalid)).await, 422, "/problems/validation").await;
    let again = read(app.send(keyed(&app, Method::PUT, path, "k422", &invalid)).await).await;
    assert_problem_reply(&again, 422, "/problems/validation");
    assert!(again.opt_header(REPLAYED).is_none());
}

async fn a_request_that_failed_with_a_5xx_runs_again_on_retry(app: TestApp) {
    app.create_product("faulty").await;
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("a connection");
    let postgres = app.database_url.starts_with("postgres");
    let inject = if postgres {
        vec![
            "CREATE FUNCTION injected_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER injected_fault BEFORE INSERT ON data_product_versions FOR EACH ROW EXECUTE FUNCTION injected_fault()",
        ]
    } else {
        vec![
            "CREATE TRIGGER injected_fault BEFORE INSERT ON data_product_versions BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        ]
    };
    for sql in inject {
        db.execute_unprepared(sql).await.expect("the fault is injected");
    }
    let path = "/v1/data-products/faulty/schemas/t1";
    let body = table_body("T", vec![col("a", "int")]);
    let failed = read(app.send(keyed(&app, Method::PUT, path, "k500", &body)).await).await;
    assert_problem_reply(&failed, 500, "/problems/internal");
    assert!(!failed.text.contains("injected"), "a 500 shows internals: {}", failed.text);
    let remove =
        if postgres { "DROP TRIGGER injected_fault ON data_product_versions" } else { "DROP TRIGGER injected_fault" };
    db.execute_unprepared(remove).await.expect("the fault is removed");
    let retried = expect(app.send(keyed(&app, Method::PUT, path, "k500", &body)).await, 201).await;
    assert!(retried.opt_header(REPLAYED).is_none(), "the failed answer was replayed");
    assert_eq!(app.version_list("faulty").await, ["v1.1", "v1.0"]);
    db.close().await.ok();
}

async fn an_expired_key_counts_as_unused(app: TestApp) {
    app.create_product("expiry").await;
    let path = "/v1/data-products/expiry/schemas/t1";
    expect(app.send(keyed(&app, Method::PUT, path, "short", &table_body("T", vec![col("a", "int")]))).await, 201).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let other = table_body("T", vec![col("a", "int"), col("b", "int")]);
    let reply = expect(app.send(keyed(&app, Method::PUT, path, "short", &other)).await, 200).await;
    assert!(reply.opt_header(REPLAYED).is_none());
    assert_eq!(reply.body["dataProduct"]["version"], "v1.2");
}

async fn the_same_key_from_two_principals_is_two_keys(app: TestApp) {
    use daap::idempotency::{Claim, claim};
    let db = daap::store::Db::connect(&app.database_url, 2, 1 << 20).await.expect("a connection");
    let ttl = Duration::from_secs(60);
    assert!(matches!(claim(&db, "alice", "k", "fp", ttl).await.unwrap(), Claim::Claimed(_)));
    assert!(matches!(claim(&db, "bob", "k", "fp", ttl).await.unwrap(), Claim::Claimed(_)), "bob's key is not alice's");
    assert!(matches!(claim(&db, "alice", "k", "fp", ttl).await.unwrap(), Claim::InProgress));
    assert!(matches!(claim(&db, "alice", "k", "other", ttl).await.unwrap(), Claim::Mismatch));
}

both!(
    one_key_used_by_100_concurrent_requests_makes_one_version,
    a_key_reused_with_another_body_is_422_and_writes_nothing,
    malformed_keys_are_400,
    refusals_are_replayed_but_other_client_errors_run_again,
    a_request_that_failed_with_a_5xx_runs_again_on_retry,
    the_same_key_from_two_principals_is_two_keys,
);

mod an_expired_key_counts_as_unused {
    use super::*;

    fn short_ttl(s: &mut daap::config::Settings) {
        s.idempotency_ttl = Duration::from_secs(1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(Backend::Sqlite, short_ttl, super::an_expired_key_counts_as_unused).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        crate::helpers::run_configured(Backend::Postgres, short_ttl, super::an_expired_key_counts_as_unused).await
    }
}

async fn two_principals_sending_one_key_get_their_own_answers(app: TestApp) {
    let alice = crate::helpers::mint_token("alice", "daap:read daap:write", None);
    let bob = crate::helpers::mint_token("bob", "daap:read daap:write", None);
    let send = |token: &str| {
        app.request(Method::POST, "/v1/data-products")
            .header("Authorization", format!("Bearer {token}"))
            .header("Idempotency-Key", "shared-key")
            .json(&crate::helpers::product_body("scoped_key"))
    };
    let first = expect(app.send(send(&alice)).await, 201).await;
    assert_eq!(first.body["createdBy"], "alice");
    // Bob's identical request is not a replay of Alice's answer: it runs, and the name is taken.
    let second = read(app.send(send(&bob)).await).await;
    assert_problem_reply(&second, 409, "/problems/already-exists");
    assert!(second.opt_header(REPLAYED).is_none(), "bob got alice's stored answer");
    let again = expect(app.send(send(&alice)).await, 201).await;
    assert_eq!(again.header(REPLAYED), "true");
}

both!(two_principals_sending_one_key_get_their_own_answers);

/// A keyed write abandoned by `DAAP_REQUEST_TIMEOUT` (503) leaves no claim behind: its retry
/// runs as soon as what held it up is gone, instead of 409 for the claim's 60-second lease.
async fn a_keyed_write_abandoned_by_the_request_timeout_can_be_retried_at_once(app: TestApp) {
    use sea_orm::{ConnectOptions, Database};
    app.create_product("held").await;
    let mut options = ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let other = Database::connect(options).await.unwrap();
    // Another session holds the product's row: the write waits for it past the timeout.
    other.execute_unprepared("BEGIN").await.unwrap();
    other.execute_unprepared("SELECT 1 FROM data_products WHERE name = 'held' FOR UPDATE").await.unwrap();
    let mut meta = metadata_body();
    meta["description"] = serde_json::json!("changed after a timeout");
    let put = || app.request(Method::PUT, "/v1/data-products/held").header("Idempotency-Key", "slow-1").json(&meta);
    assert_problem(app.send(put()).await, 503, "/problems/unavailable").await;
    other.execute_unprepared("ROLLBACK").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let retried = expect(app.send(put()).await, 200).await;
    assert!(retried.opt_header("idempotent-replayed").is_none(), "the write ran");
    let now = expect(app.get("/v1/data-products/held").await, 200).await.body;
    assert_eq!(now["description"], "changed after a timeout");
}

mod a_keyed_write_abandoned_by_the_request_timeout_can_be_retried_at_once {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        crate::helpers::run_configured(
            crate::helpers::Backend::Postgres,
            |s| s.request_timeout = std::time::Duration::from_secs(1),
            super::a_keyed_write_abandoned_by_the_request_timeout_can_be_retried_at_once,
        )
        .await
    }
}
