//! SPEC sections 4.9 and 6: request ids, metrics by route template, rate limits, SIGTERM.
use std::time::Duration;

use crate::helpers::{Backend, TestApp, assert_problem, expect, read};

async fn every_response_carries_a_request_id(app: TestApp) {
    let given = app.send(app.request(reqwest::Method::GET, "/health/live").header("X-Request-Id", "trace-42")).await;
    assert_eq!(given.headers()["x-request-id"], "trace-42", "a given id is echoed");
    let generated = app.get("/v1/data-products/nosuch").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a generated id is a UUID: {id}");
    let problem = assert_problem(generated, 404, "/problems/not-found").await;
    assert_eq!(problem["instance"], format!("/v1/data-products/nosuch#{id}"), "the problem instance names the request");
}

async fn metrics_count_requests_by_route_template(app: TestApp) {
    app.create_product("metered").await;
    expect(app.get("/v1/data-products/metered").await, 200).await;
    expect(app.get("/v1/data-products/metered/versions/v1.0").await, 200).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let text = client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"daap_http_requests_total{method="GET",route="/v1/data-products/{name}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/v1/data-products/{name}/versions/{version}",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"daap_http_requests_total{method="POST",route="/v1/data-products",status="201"} 1"#));
    assert!(!text.contains("metered"), "a raw path leaked into a label");
    assert!(text.contains("daap_http_request_duration_seconds_bucket{"), "{text}");
    assert!(text.contains("daap_db_pool_connections{state=\"idle\"}"));
    assert!(text.contains("daap_idempotency_replays_total 0"));
}

async fn a_principal_over_its_rate_limit_gets_429(app: TestApp) {
    for _ in 0..3 {
        let ok = read(app.get("/v1/data-products").await).await;
        assert_eq!(ok.status, 200);
        assert!(ok.opt_header("ratelimit-remaining").is_some(), "RateLimit-* headers on success");
    }
    let limited = app.get("/v1/data-products").await;
    let retry = limited.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    assert_problem(limited, 429, "/problems/rate-limited").await;
    assert_eq!(retry.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect(app.get("/v1/data-products").await, 200).await;
    // Open routes are not limited.
    for _ in 0..5 {
        expect(app.get("/health/live").await, 200).await;
    }
}

both!(every_response_carries_a_request_id, metrics_count_requests_by_route_template);

mod a_principal_over_its_rate_limit_gets_429 {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(
            super::Backend::Sqlite,
            |s| {
                s.rate_limit_per_second = 1;
                s.rate_limit_burst = 3;
            },
            super::a_principal_over_its_rate_limit_gets_429,
        )
        .await
    }
}

/// SIGTERM: in-flight requests finish, then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_daap"))
        .arg("serve")
        .env("DAAP_LISTEN", format!("127.0.0.1:{port}"))
        .env("DAAP_DATA_DIR", dir.path())
        .env("DAAP_JWT_SECRET", crate::helpers::TEST_SECRET)
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server did not come up");
    let token = crate::helpers::mint_token("waiter", "daap:read", None);
    // A long-poll that is still waiting when SIGTERM arrives.
    let waiting = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/v1/events?wait=3");
        async move { client.get(url).bearer_auth(token).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(killed.success());
    let answered = waiting.await.unwrap();
    assert_eq!(answered.ok(), Some(200), "the in-flight request was answered");
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0), "daap exits 0 after SIGTERM");
    assert!(client.get(format!("{base}/health/live")).send().await.is_err(), "it no longer accepts connections");
}

async fn browsers_from_allowed_origins_may_call_the_api(app: TestApp) {
    let preflight = |origin: &str| {
        app.request(reqwest::Method::OPTIONS, "/v1/data-products")
            .header("Origin", origin.to_owned())
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
    };
    let allowed = app.send(preflight("https://catalogue.example")).await;
    assert!(allowed.status().is_success(), "preflight answered {}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://catalogue.example");
    let refused = app.send(preflight("https://evil.example")).await;
    assert!(refused.headers().get("access-control-allow-origin").is_none(), "an unlisted origin is allowed");
    let get = app
        .send(app.request(reqwest::Method::GET, "/v1/data-products").header("Origin", "https://catalogue.example"))
        .await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["access-control-allow-origin"], "https://catalogue.example");
}

async fn a_request_over_the_timeout_is_503(app: TestApp) {
    let started = std::time::Instant::now();
    assert_problem(app.get("/v1/events?wait=10").await, 503, "/problems/unavailable").await;
    assert!(started.elapsed() < Duration::from_secs(8), "the timeout did not cut the request short");
}

mod browsers_from_allowed_origins_may_call_the_api {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(
            super::Backend::Sqlite,
            |s| s.cors_origins = vec!["https://catalogue.example".into()],
            super::browsers_from_allowed_origins_may_call_the_api,
        )
        .await
    }
}

mod a_request_over_the_timeout_is_503 {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(
            super::Backend::Sqlite,
            |s| s.request_timeout = std::time::Duration::from_secs(1),
            super::a_request_over_the_timeout_is_503,
        )
        .await
    }
}

async fn readiness_waits_for_migrations_and_recovers_by_itself(app: TestApp) {
    let reply = read(app.get("/health/ready").await).await;
    crate::helpers::assert_problem_reply(&reply, 503, "/problems/unavailable");
    assert!(reply.body["detail"].as_str().unwrap().contains("migrate"), "{}", reply.text);
    expect(app.get("/health/live").await, 200).await;
    let db = daap::store::Db::connect(&app.database_url, 1, 1 << 20).await.unwrap();
    db.migrate_up().await.unwrap();
    expect(app.get("/health/ready").await, 200).await;
}

mod readiness_waits_for_migrations_and_recovers_by_itself {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(
            super::Backend::Sqlite,
            |s| s.migrate_on_start = false,
            super::readiness_waits_for_migrations_and_recovers_by_itself,
        )
        .await
    }
}
