//! Operations: health probes, the OpenAPI document and the interactive docs.
use serde_json::{Value, json};

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};

use crate::helpers::{TestApp, assert_problem, expect, read};

async fn liveness_and_readiness_answer_ok(app: TestApp) {
    for path in ["/health/live", "/health/ready"] {
        let reply = expect(app.get(path).await, 200).await;
        assert_eq!(reply.body, json!({ "status": "ok" }), "{path}");
        assert!(reply.header("content-type").starts_with("application/json"));
    }
}

async fn the_openapi_document_describes_every_operation(app: TestApp) {
    let reply = expect(app.get("/openapi.json").await, 200).await;
    assert!(reply.header("content-type").starts_with("application/json"));
    let doc = &reply.body;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')), "an OpenAPI 3 document");
    let expected: [(&str, &[&str]); 12] = [
        ("/v1/data-products", &["get", "post"]),
        ("/v1/data-products/{name}", &["get", "put", "delete"]),
        ("/v1/data-products/{name}/restore", &["post"]),
        ("/v1/data-products/{name}/versions", &["get"]),
        ("/v1/data-products/{name}/versions/{version}", &["get"]),
        ("/v1/data-products/{name}/versions/{version}/schemas", &["get"]),
        ("/v1/data-products/{name}/versions/{version}/schemas/{table}", &["get"]),
        ("/v1/data-products/{name}/compare", &["get"]),
        ("/v1/data-products/{name}/schemas", &["get"]),
        ("/v1/data-products/{name}/schemas/{table}", &["get", "put", "delete"]),
        ("/v1/resolve/{id}", &["get"]),
        ("/health/live", &["get"]),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in expected {
        let ops = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
        for method in methods {
            let op = &ops[*method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(op["operationId"].as_str().is_some_and(|id| !id.is_empty()), "{method} {path} has an operationId");
        }
    }
    assert!(paths.contains_key("/health/ready"));
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "operation ids are unique");
}

async fn the_openapi_yaml_matches_the_json_and_the_checked_in_copy(app: TestApp) {
    let yaml = expect(app.get("/openapi.yaml").await, 200).await;
    assert!(yaml.header("content-type").starts_with("application/yaml"), "{}", yaml.header("content-type"));
    assert!(yaml.text.starts_with("openapi:"), "{}", &yaml.text[..80.min(yaml.text.len())]);
    let json_doc = expect(app.get("/openapi.json").await, 200).await.body;
    let json_paths: Vec<&String> = json_doc["paths"].as_object().unwrap().keys().collect();
    for path in json_paths {
        assert!(
            yaml.text.contains(&format!("{path}:")) || yaml.text.contains(&format!("'{path}':")),
            "{path} is in the YAML too"
        );
    }
    let checked_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.yaml");
    let on_disk = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        on_disk == yaml.text,
        "{} is missing or stale; regenerate it with `cargo run -- openapi > openapi/openapi.yaml`",
        checked_in.display()
    );
}

async fn the_interactive_docs_are_served(app: TestApp) {
    let reply = expect(app.get("/docs").await, 200).await;
    assert!(reply.header("content-type").starts_with("text/html"));
    assert!(reply.text.to_lowercase().contains("swagger") || reply.text.contains("openapi"), "an API docs page");
    let doc: Value = expect(app.get("/openapi.json").await, 200).await.body;
    assert_eq!(doc["info"]["title"], "daap");
}

/// Refuses new connections to the app's database and ends its open ones; the guard lets
/// them back in.
async fn take_database_down(database_url: &str, down: bool) {
    let without_query = database_url.split('?').next().unwrap_or(database_url);
    let (server, db) = without_query.rsplit_once('/').expect("a database URL");
    let admin = Database::connect(format!("{server}/postgres")).await.expect("the admin database");
    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS {}", !down))
        .await
        .expect("ALTER DATABASE");
    if down {
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
            ))
            .await
            .expect("the app's connections end");
    }
    let _ = admin.close().await;
}

async fn a_database_that_goes_away_makes_reads_and_readiness_503(app: TestApp) {
    app.create_product("alpha").await;
    let url = app.database_url.clone();
    assert!(url.starts_with("postgres"), "{url}");
    take_database_down(&url, true).await;

    expect(app.get("/health/live").await, 200).await;
    for path in ["/health/ready", "/v1/data-products/alpha", "/v1/data-products"] {
        let reply = read(app.get(path).await).await;
        crate::helpers::assert_problem_reply(&reply, 503, "/problems/unavailable");
        let db = url.rsplit('/').next().unwrap();
        for secret in [db, "postgres://", "sqlx", "pg_", "terminat"] {
            assert!(!reply.text.contains(secret), "a 5xx shows no internals ({secret}): {}", reply.text);
        }
    }

    take_database_down(&url, false).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.get("/health/ready").await.status().as_u16();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(p["version"], "v1.0");
    assert_problem(app.get("/v1/data-products/nosuch").await, 404, "/problems/not-found").await;
}

postgres_only!(a_database_that_goes_away_makes_reads_and_readiness_503);

both!(
    liveness_and_readiness_answer_ok,
    the_openapi_document_describes_every_operation,
    the_openapi_yaml_matches_the_json_and_the_checked_in_copy,
    the_interactive_docs_are_served,
);

/// Readiness follows the database: 503 while PostgreSQL is stopped, 200 again once it is
/// back, with no restart of daap.
async fn readiness_follows_postgres_stopping_and_starting(app: TestApp, cluster: &crate::helpers::OwnCluster) {
    app.create_product("alpha").await;
    expect(app.get("/health/ready").await, 200).await;

    cluster.down().expect("PostgreSQL stops");
    let reply = read(app.get("/health/ready").await).await;
    crate::helpers::assert_problem_reply(&reply, 503, "/problems/unavailable");
    let reply = read(app.get("/v1/data-products/alpha").await).await;
    crate::helpers::assert_problem_reply(&reply, 503, "/problems/unavailable");
    expect(app.get("/health/live").await, 200).await;

    cluster.up().expect("PostgreSQL starts again");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.get("/health/ready").await.status().as_u16();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after PostgreSQL came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(p["version"], "v1.0", "the data survived the restart");
    app.create_product("beta").await;
}

mod readiness_follows_postgres_stopping_and_starting {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        let Some(cluster) = crate::helpers::OwnCluster::start() else { return };
        let url = cluster.url();
        crate::helpers::run_configured(
            crate::helpers::Backend::Sqlite,
            |s| s.database_url = Some(url),
            |app| super::readiness_follows_postgres_stopping_and_starting(app, &cluster),
        )
        .await;
    }
}
