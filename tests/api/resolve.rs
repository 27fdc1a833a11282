//! `/v1/resolve/{id}`: public IDs to what they name, with the canonical immutable URL.
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, col, col_not_null, expect, metadata_body, simple_table, table_body};

/// v1.0 -> `t` (v1.1) -> `u` (v1.2) -> metadata (v1.3) -> `t` loses a column (v2.0).
async fn history(app: &TestApp) {
    app.create_product("prisons").await;
    app.put_table_ok("prisons", "t", &simple_table()).await;
    app.put_table_ok("prisons", "u", &table_body("U", vec![col("x", "date")])).await;
    let mut update = metadata_body();
    update["status"] = json!("published");
    expect(app.put_json("/v1/data-products/prisons", &update).await, 200).await;
    app.put_table_ok("prisons", "t", &table_body("A simple table", vec![col_not_null("id", "int")])).await;
}

async fn every_public_id_form_resolves_with_a_content_location_that_reads_back(app: TestApp) {
    history(&app).await;
    let cases = [
        // (id, kind, version, content location)
        ("dp:prisons", "product", "v2.0", "/v1/data-products/prisons/versions/v2.0"),
        ("dp:prisons:v1.1", "product", "v1.1", "/v1/data-products/prisons/versions/v1.1"),
        ("dp:prisons:v1", "product", "v1.3", "/v1/data-products/prisons/versions/v1.3"),
        ("dp:prisons:t", "table", "v2.0", "/v1/data-products/prisons/versions/v2.0/schemas/t"),
        ("dp:prisons:v1.1:t", "table", "v1.1", "/v1/data-products/prisons/versions/v1.1/schemas/t"),
        ("dp:prisons:v1:t", "table", "v1.3", "/v1/data-products/prisons/versions/v1.3/schemas/t"),
        ("dp:prisons:v1.2:u", "table", "v1.2", "/v1/data-products/prisons/versions/v1.2/schemas/u"),
        ("dp:prisons:v2:u", "table", "v2.0", "/v1/data-products/prisons/versions/v2.0/schemas/u"),
    ];
    for (id, kind, version, location) in cases {
        let reply = expect(app.get(&format!("/v1/resolve/{id}")).await, 200).await;
        assert_eq!(reply.header("content-location"), location, "{id}");
        let body = &reply.body;
        assert_eq!(body["version"], version, "{id}");
        match kind {
            "product" => {
                assert_eq!(body["id"], "dp:prisons", "{id}");
                assert_eq!(body["name"], "prisons");
                assert_eq!(body["versionId"], format!("dp:prisons:{version}"));
                assert!(body["schemas"].is_array(), "{id}: {body}");
            }
            _ => {
                let table = id.rsplit(':').next().unwrap();
                assert_eq!(body["name"], table, "{id}");
                assert_eq!(body["id"], format!("dp:prisons:{version}:{table}"));
                assert!(body["columns"].is_array(), "{id}: {body}");
                assert!(body["tableDescription"].is_string(), "{id}: {body}");
            }
        }
        let canonical = expect(app.get(location).await, 200).await;
        assert_eq!(canonical.body, reply.body, "{id} reads back at {location}");
        assert_eq!(canonical.header("cache-control"), "public, max-age=31536000, immutable", "{location} is immutable");
    }
    let old_t = expect(app.get("/v1/resolve/dp:prisons:v1.1:t").await, 200).await.body;
    assert_eq!(old_t["columns"].as_array().unwrap().len(), 2);
    let new_t = expect(app.get("/v1/resolve/dp:prisons:t").await, 200).await.body;
    assert_eq!(new_t["columns"].as_array().unwrap().len(), 1);
    let v1_1 = expect(app.get("/v1/resolve/dp:prisons:v1.1").await, 200).await.body;
    assert_eq!(v1_1["status"], "draft");
    assert_eq!(v1_1["schemas"], json!([{ "name": "t", "id": "dp:prisons:v1.1:t" }]));
}

async fn percent_encoded_ids_resolve(app: TestApp) {
    history(&app).await;
    for (encoded, version) in [
        ("dp%3Aprisons%3Av1.1%3At", "v1.1"),
        ("dp%3aprisons%3av1%3at", "v1.3"),
        ("dp%3Aprisons", "v2.0"),
        ("dp:prisons%3Av1.2", "v1.2"),
    ] {
        let reply = expect(app.get(&format!("/v1/resolve/{encoded}")).await, 200).await;
        assert_eq!(reply.body["version"], version, "{encoded}");
    }
}

async fn malformed_ids_are_400_invalid_id(app: TestApp) {
    history(&app).await;
    let too_long_table = format!("dp:prisons:t{}", "a".repeat(128));
    for id in [
        "prisons",
        "dp",
        "dp:",
        "DP:prisons",
        "xx:prisons",
        "dp:P",
        "dp:p",
        "dp:prisons:",
        "dp:prisons::t",
        "dp:prisons:v1.1:t:extra",
        "dp:prisons:v1.x",
        "dp:prisons:v1.1:Bad",
        "dp:prisons:v1:v2",
        "dp:prisons:1.1:t",
        "dp:prisons:latest:t",
        "dp:prisons:T",
        "dp:pri sons",
        too_long_table.as_str(),
    ] {
        let problem = assert_problem(app.get(&format!("/v1/resolve/{id}")).await, 400, "/problems/invalid-id").await;
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{id}");
    }
}

async fn ids_that_name_nothing_are_404(app: TestApp) {
    history(&app).await;
    for id in [
        "dp:nosuch",
        "dp:nosuch:v1.0",
        "dp:nosuch:t",
        "dp:prisons:v9.9",
        "dp:prisons:v1.4",
        "dp:prisons:v9",
        "dp:prisons:nosuch",
        "dp:prisons:v1.0:t",
        "dp:prisons:v1:nosuch",
        "dp:prisons:v1.1:u",
    ] {
        assert_problem(app.get(&format!("/v1/resolve/{id}")).await, 404, "/problems/not-found").await;
    }
}

async fn a_table_named_like_a_word_that_starts_with_v_resolves_as_a_table(app: TestApp) {
    app.create_product("prisons").await;
    app.put_table_ok("prisons", "visits", &simple_table()).await;
    app.put_table_ok("prisons", "v1x", &simple_table()).await;
    let visits = expect(app.get("/v1/resolve/dp:prisons:visits").await, 200).await;
    assert_eq!(visits.body["id"], "dp:prisons:v1.2:visits");
    let v1x = expect(app.get("/v1/resolve/dp:prisons:v1x").await, 200).await;
    assert_eq!(v1x.body["name"], "v1x");
    let v1 = expect(app.get("/v1/resolve/dp:prisons:v1").await, 200).await;
    assert_eq!(v1.body["name"], "prisons", "v1 is a version, not a table");
    assert_eq!(v1.body["version"], "v1.2");
}

both!(
    every_public_id_form_resolves_with_a_content_location_that_reads_back,
    percent_encoded_ids_resolve,
    malformed_ids_are_400_invalid_id,
    ids_that_name_nothing_are_404,
    a_table_named_like_a_word_that_starts_with_v_resolves_as_a_table,
);
