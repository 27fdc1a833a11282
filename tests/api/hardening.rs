//! What a hostile or careless client can do (issue 10): every limit that protects the
//! process, and every authorisation decision that must hold for replays and for the token
//! forms identity providers issue.
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    ADMIN_SUB, Backend, TEST_SECRET, TestApp, assert_problem, assert_problem_reply, expect, mint_token, product_body,
    read,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hs256(claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(TEST_SECRET.as_bytes())).unwrap()
}

/// A client that sends no token of its own.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

/// Sends raw bytes on a new connection and reads until the server closes it (or `wait` ends).
async fn raw_exchange(app: &TestApp, head: &str, body_part: &[u8], wait: Duration) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("a connection");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body_part).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

// ---- 1. metric labels -------------------------------------------------------------------

async fn unknown_methods_are_counted_under_one_metric_label(app: TestApp) {
    let client = bare_client();
    for i in 0..20 {
        let method = Method::from_bytes(format!("M{}{i}", "X".repeat(2000)).as_bytes()).unwrap();
        let resp = client.request(method, app.url("/v1/data-products")).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{}", resp.status());
        let method = Method::from_bytes(format!("PROPFIND{i}").as_bytes()).unwrap();
        client.request(method, app.url("/health/live")).send().await.unwrap();
    }
    let metrics = expect(app.get("/metrics").await, 200).await.text;
    assert!(!metrics.contains("XXXXXXXX") && !metrics.contains("PROPFIND"), "a client-chosen method is a label");
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
    assert!(metrics.len() < 64 * 1024, "the metrics grew to {} bytes", metrics.len());
    // Every route label is a template of the spec or `unmatched`.
    for line in metrics.lines().filter(|l| l.starts_with("daap_http_requests_total{")) {
        let route = line.split("route=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
        assert!(route == "unmatched" || route.starts_with('/'), "{line}");
    }
}

// ---- 3. bodies, authentication first --------------------------------------------------

async fn a_client_without_a_valid_token_is_refused_before_its_body_is_read(app: TestApp) {
    for auth in ["", "Authorization: Bearer not.a.token\r\n"] {
        let head = format!(
            "POST /v1/data-products HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 900000\r\n\r\n"
        );
        // The body never comes: the answer must not wait for it.
        let (answer, took) = raw_exchange(&app, &head, b"{\"name\":", Duration::from_secs(20)).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("application/problem+json"), "{answer}");
        assert!(took < Duration::from_secs(3), "the 401 waited {took:?} for a body");
    }
}

async fn a_stalled_body_gets_408_within_the_body_timeout(app: TestApp) {
    let token = mint_token(ADMIN_SUB, "daap:read daap:write daap:admin", None);
    let head = format!(
        "PUT /v1/data-products/stalled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    );
    let (answer, took) = raw_exchange(&app, &head, b"{\"description\":", Duration::from_secs(30)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("/problems/request-timeout"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-request-id"), "{answer}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "408 after {took:?}");
}

async fn bodies_over_the_in_flight_cap_get_503_with_retry_after(app: TestApp) {
    let token = mint_token(ADMIN_SUB, "daap:read daap:write daap:admin", None);
    let head = format!(
        "PUT /v1/data-products/stalled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    );
    // Two stalled bodies take both permits.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let addr = app.base.trim_start_matches("http://").to_owned();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(b"{").await.unwrap();
        stalled.push(s);
    }
    // Once the server has taken both (it reads them concurrently), a third body is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = read(app.put_json("/v1/data-products/third", &product_body("third")).await).await;
        if reply.status == 503 || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_problem_reply(&reply, 503, "/problems/unavailable");
    assert_eq!(reply.opt_header("retry-after"), Some("1"));
    // Requests without a body need no permit.
    expect(app.get("/v1/data-products").await, 200).await;
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect(app.post_json("/v1/data-products", &product_body("fourth")).await, 201).await;
}

fn short_body_timeout(s: &mut daap::config::Settings) {
    s.body_timeout = Duration::from_secs(1);
}

fn two_bodies_at_once(s: &mut daap::config::Settings) {
    s.max_inflight_bodies = 2;
}

// ---- 4. replays and authorisation --------------------------------------------------------

async fn a_replay_needs_the_authority_of_the_original_request(app: TestApp) {
    // A write token with the admin's `sub` must not get the admin's webhook (and its secret).
    let hook = json!({ "url": "http://127.0.0.1:9/hook" });
    let created = app.send(app.request(Method::POST, "/v1/webhooks").header("Idempotency-Key", "hook-1").json(&hook));
    let created = expect(created.await, 201).await;
    assert!(created.body["secret"].is_string());
    let writer = mint_token(ADMIN_SUB, "daap:read daap:write", None);
    let replay = app.request(Method::POST, "/v1/webhooks").bearer_auth(&writer).header("Idempotency-Key", "hook-1");
    let reply = read(app.send(replay.json(&hook)).await).await;
    assert_problem_reply(&reply, 403, "/problems/forbidden");
    assert!(!reply.text.contains("whsec_"), "the secret leaked: {}", reply.text);
    assert!(reply.opt_header("idempotent-replayed").is_none());

    // A token limited to HMPPS must not get an OPG create replayed.
    let mut opg = product_body("opg_thing");
    opg["domain"] = json!("OPG");
    let everywhere = mint_token("carol", "daap:read daap:write", None);
    let create = |token: &str| {
        app.request(Method::POST, "/v1/data-products")
            .bearer_auth(token)
            .header("Idempotency-Key", "create-1")
            .json(&opg)
    };
    expect(app.send(create(&everywhere)).await, 201).await;
    let hmpps_only = mint_token("carol", "daap:read daap:write", Some(vec!["HMPPS".into()]));
    let reply = read(app.send(create(&hmpps_only)).await).await;
    assert_problem_reply(&reply, 403, "/problems/forbidden");
    assert!(reply.opt_header("idempotent-replayed").is_none());

    // The same authority, in a token minted again, still gets its replay.
    let again = mint_token("carol", "daap:write daap:read", None);
    let replayed = expect(app.send(create(&again)).await, 201).await;
    assert_eq!(replayed.opt_header("idempotent-replayed"), Some("true"));
}

fn private_webhooks(s: &mut daap::config::Settings) {
    s.webhook_allow_private = true;
}

// ---- 9. token forms of identity providers ------------------------------------------------

async fn audience_arrays_scope_arrays_and_a_single_domain_string_are_accepted(app: TestApp) {
    let base = |extra: Value| {
        let mut c = json!({ "sub": "idp-user", "exp": now() + 600, "aud": ["account", "daap"],
                            "scope": "daap:read daap:write" });
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        hs256(&c)
    };
    let get = |token: String| app.send(app.request(Method::GET, "/v1/data-products").bearer_auth(token));
    expect(get(base(json!({}))).await, 200).await;
    expect(get(base(json!({ "aud": "daap" }))).await, 200).await;
    assert_problem(get(base(json!({ "aud": ["account", "other"] }))).await, 401, "/problems/unauthorized").await;
    assert_problem(get(base(json!({ "aud": [] }))).await, 401, "/problems/unauthorized").await;

    let array_scope = base(json!({ "scope": ["daap:read", "daap:write"], "domains": "HMPPS" }));
    let post = |token: &str, body: &Value| app.request(Method::POST, "/v1/data-products").bearer_auth(token).json(body);
    expect(app.send(post(&array_scope, &product_body("mine"))).await, 201).await;
    let mut opg = product_body("theirs");
    opg["domain"] = json!("OPG");
    assert_problem(app.send(post(&array_scope, &opg)).await, 403, "/problems/forbidden").await;
}

fn audience_daap(s: &mut daap::config::Settings) {
    s.jwt_audience = Some("daap".into());
}

// ---- 16. absurd claims -------------------------------------------------------------------

async fn tokens_with_an_absurd_expiry_or_an_empty_subject_are_401(app: TestApp) {
    let client = bare_client();
    let tokens = [
        hs256(&json!({ "sub": "x", "scope": "daap:read", "exp": u64::MAX })),
        hs256(&json!({ "sub": "x", "scope": "daap:read", "exp": u64::MAX - 30 })),
        hs256(&json!({ "sub": "", "scope": "daap:read", "exp": now() + 600 })),
        hs256(&json!({ "sub": "  ", "scope": "daap:read", "exp": now() + 600 })),
        hs256(&json!({ "sub": "a\u{0}b", "scope": "daap:read", "exp": now() + 600 })),
    ];
    for token in tokens {
        for _ in 0..2 {
            // Twice: the second time would come from the verified-token cache.
            let resp = client.get(app.url("/v1/data-products")).bearer_auth(&token).send().await.unwrap();
            assert_problem(resp, 401, "/problems/unauthorized").await;
        }
    }
}

// ---- 17. many errors ---------------------------------------------------------------------

async fn a_body_with_60000_unknown_members_lists_100_errors_and_counts_them_all(app: TestApp) {
    let mut body = product_body("wide");
    let members = body.as_object_mut().unwrap();
    for i in 0..60_000 {
        members.insert(format!("u{i}"), json!(1));
    }
    let reply = read(app.post_json("/v1/data-products", &body).await).await;
    assert_problem_reply(&reply, 422, "/problems/validation");
    assert_eq!(reply.body["errors"].as_array().unwrap().len(), 100);
    assert_eq!(reply.body["errorCount"], json!(60_000), "{}", &reply.text[..300]);
    assert!(reply.text.len() < 20_000, "the problem is {} bytes", reply.text.len());
    // A few errors are all listed, with their count.
    let mut few = product_body("narrow");
    few["extra"] = json!(true);
    let problem = assert_problem(app.post_json("/v1/data-products", &few).await, 422, "/problems/validation").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 1);
    assert_eq!(problem["errorCount"], json!(1));
}

// ---- 19. failed authentications per address -----------------------------------------------

async fn failed_authentications_from_one_address_are_limited_before_verification(app: TestApp) {
    // The default client's token, verified once, keeps working whatever happens.
    expect(app.get("/v1/data-products").await, 200).await;
    let client = bare_client();
    let forged = hs256(&json!({ "sub": "x", "exp": now() + 600 })).replace('.', ".x");
    for _ in 0..5 {
        let resp = client.get(app.url("/v1/data-products")).bearer_auth(&forged).send().await.unwrap();
        assert_problem(resp, 401, "/problems/unauthorized").await;
    }
    let limited = read(client.get(app.url("/v1/data-products")).bearer_auth(&forged).send().await.unwrap()).await;
    assert_problem_reply(&limited, 429, "/problems/rate-limited");
    assert!(limited.opt_header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
    let no_token = read(client.get(app.url("/v1/data-products")).send().await.unwrap()).await;
    assert_problem_reply(&no_token, 429, "/problems/rate-limited");
    expect(app.get("/v1/data-products").await, 200).await;
    // Open routes are not limited.
    expect(client.get(app.url("/health/live")).send().await.unwrap(), 200).await;
    // The budget refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = client.get(app.url("/v1/data-products")).bearer_auth(&forged).send().await.unwrap();
    assert_problem(resp, 401, "/problems/unauthorized").await;
}

fn five_failures(s: &mut daap::config::Settings) {
    s.unauth_rate_limit_per_second = 1;
    s.unauth_rate_limit_burst = 5;
}

both!(
    unknown_methods_are_counted_under_one_metric_label,
    a_client_without_a_valid_token_is_refused_before_its_body_is_read,
    tokens_with_an_absurd_expiry_or_an_empty_subject_are_401,
    a_body_with_60000_unknown_members_lists_100_errors_and_counts_them_all,
);

/// `both!` for scenarios that need settings of their own.
macro_rules! both_configured {
    ($($scenario:ident with $configure:path),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                $crate::helpers::run_configured($crate::helpers::Backend::Sqlite, $configure, super::$scenario).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                $crate::helpers::run_configured($crate::helpers::Backend::Postgres, $configure, super::$scenario).await
            }
        }
    )+};
}

both_configured!(
    a_stalled_body_gets_408_within_the_body_timeout with super::short_body_timeout,
    bodies_over_the_in_flight_cap_get_503_with_retry_after with super::two_bodies_at_once,
    audience_arrays_scope_arrays_and_a_single_domain_string_are_accepted with super::audience_daap,
    a_replay_needs_the_authority_of_the_original_request with super::private_webhooks,
    failed_authentications_from_one_address_are_limited_before_verification with super::five_failures,
);

// ---- 10. zero-setup authentication where it does not belong ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_setup_auth_is_refused_in_kubernetes_and_production_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let local = || daap::config::Settings::local(None, dir.path().join("data"));
    let mut in_pod = local();
    in_pod.kubernetes_service_host = Some("10.96.0.1".into());
    let mut production = local();
    production.env = Some("production".into());
    for settings in [in_pod.clone(), production] {
        let err = daap::startup::Application::build(settings).await.err().expect("refused to start");
        let message = format!("{err:#}");
        assert!(message.contains("DAAP_ALLOW_ZERO_SETUP_AUTH") && message.contains("DAAP_JWKS_URL"), "{message}");
        assert!(!dir.path().join("data/jwt-secret").exists(), "a secret was made anyway");
    }
    let mut allowed = in_pod.clone();
    allowed.allow_zero_setup_auth = true;
    assert!(daap::startup::Application::build(allowed).await.is_ok());
    let mut keyed = in_pod;
    keyed.jwt_secret = Some(TEST_SECRET.into());
    assert!(daap::startup::Application::build(keyed).await.is_ok());
    assert!(daap::startup::Application::build(local()).await.is_ok(), "a laptop needs no key");
}

// ---- 13. file modes ----------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_database_and_secret_are_private_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    crate::helpers::run(Backend::Sqlite, |app: TestApp| async move {
        app.create_product("alpha").await;
        let db = app.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
        let db = std::path::Path::new(&db);
        assert_eq!(mode(db.parent().unwrap()), 0o700, "data directory");
        assert_eq!(mode(db), 0o600, "daap.db");
        let wal = db.with_extension("db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "daap.db-wal");
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let secret = daap::auth::local_secret(&data).unwrap();
    assert!(secret.len() >= 32);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("jwt-secret")), 0o600);
    assert_eq!(daap::auth::local_secret(&data).unwrap(), secret, "kept across starts");
}

// ---- 11. SQLite busy ---------------------------------------------------------------------------

async fn a_write_blocked_by_a_locked_sqlite_database_is_503(app: TestApp) {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};
    app.create_product("alpha").await;
    let mut options = ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let other = Database::connect(options).await.unwrap();
    // Another process holds the write lock for longer than the busy timeout (10 s).
    other.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
    let started = Instant::now();
    let mut meta = crate::helpers::metadata_body();
    meta["description"] = json!("changed while locked");
    let reply = read(app.put_json("/v1/data-products/alpha", &meta).await).await;
    other.execute_unprepared("ROLLBACK").await.unwrap();
    assert_problem_reply(&reply, 503, "/problems/unavailable");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Reads went on meanwhile, and the write works once the lock is gone.
    expect(app.put_json("/v1/data-products/alpha", &meta).await, 200).await;
}

mod a_write_blocked_by_a_locked_sqlite_database_is_503 {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run(crate::helpers::Backend::Sqlite, super::a_write_blocked_by_a_locked_sqlite_database_is_503)
            .await
    }
}

// ---- 15. answers the HTTP library gives itself -------------------------------------------------

/// hyper answers requests it cannot parse before poem (and so daap) sees them, with an
/// empty body and no `X-Request-Id`; README's "Threat model" says so. This pins that
/// behaviour, so that the README is corrected the day it changes.
async fn requests_hyper_cannot_parse_are_refused_by_hyper_as_the_readme_says(app: TestApp) {
    let huge_header = format!("GET /v1/data-products HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(500_000));
    let many_headers = format!(
        "GET /v1/data-products HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..150).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
    );
    let long_uri = format!("GET /v1/data-products?q={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let bad_byte = "GET /v1/data-products HTTP/1.1\r\nHost: x\r\nX-Bad: a\u{1}b\r\n\r\n".to_owned();
    for (what, request, status) in [
        ("a header section over hyper's buffer", huge_header, "431"),
        ("over 100 header fields", many_headers, "431"),
        ("a URI over 65,534 bytes", long_uri, "414"),
        ("a control byte in a header value", bad_byte, "400"),
    ] {
        let (answer, took) = raw_exchange(&app, &request, b"", Duration::from_secs(10)).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {answer}");
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
        let lower = answer.to_ascii_lowercase();
        assert!(!lower.contains("x-request-id") && lower.contains("content-length: 0"), "{what}: {answer}");
    }
    // Everything hyper lets through is daap's to answer: a problem with a request id.
    let (answer, _) = raw_exchange(
        &app,
        "GET /v1/data-products HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401") && answer.to_ascii_lowercase().contains("x-request-id"), "{answer}");
}

mod requests_hyper_cannot_parse_are_refused_by_hyper_as_the_readme_says {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run(
            crate::helpers::Backend::Sqlite,
            super::requests_hyper_cannot_parse_are_refused_by_hyper_as_the_readme_says,
        )
        .await
    }
}

// ---- 11 and 20. PostgreSQL ending a connection mid-query -----------------------------------------

async fn a_query_whose_connection_the_server_ends_is_503(app: TestApp) {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};
    app.create_product("held").await;
    let mut options = ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let other = Database::connect(options).await.unwrap();
    other.execute_unprepared("BEGIN").await.unwrap();
    other.execute_unprepared("SELECT 1 FROM data_products WHERE name = 'held' FOR UPDATE").await.unwrap();
    let mut meta = crate::helpers::metadata_body();
    meta["description"] = json!("written after an administrator ended a connection");
    let waiting = {
        let (app, meta) = (app.clone(), meta.clone());
        tokio::spawn(async move { read(app.put_json("/v1/data-products/held", &meta).await).await })
    };
    // The write waits on the row lock; the server then ends its connection (SQLSTATE 57P01).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ended = other
            .query_one_raw(Statement::from_string(
                other.get_database_backend(),
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        if ended > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the write never waited on the lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = waiting.await.unwrap();
    assert_problem_reply(&reply, 503, "/problems/unavailable");
    assert!(!reply.text.contains("57P01") && !reply.text.contains("terminat"), "{}", reply.text);
    other.execute_unprepared("ROLLBACK").await.unwrap();
    expect(app.put_json("/v1/data-products/held", &meta).await, 200).await;
}

mod a_query_whose_connection_the_server_ends_is_503 {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        crate::helpers::run(crate::helpers::Backend::Postgres, super::a_query_whose_connection_the_server_ends_is_503)
            .await
    }
}
