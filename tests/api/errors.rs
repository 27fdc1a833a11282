//! Errors everywhere are RFC 9457 problems: unknown routes, wrong methods, bodies that
//! are not JSON or not `application/json`, bodies over the limit.
use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, expect, instance_path, metadata_body, product_body, read, simple_table};

async fn unknown_routes_are_404_problems(app: TestApp) {
    app.create_product("alpha").await;
    for path in [
        "/",
        "/nope",
        "/v1",
        "/v1/",
        "/v1/nope",
        "/v2/data-products",
        "/v1/data-products/alpha/bogus",
        "/v1/data-products/alpha/versions/v1.0/schemas/t/extra",
        "/v1/data-products/alpha/schemas/t/extra/more",
    ] {
        let problem = assert_problem(app.get(path).await, 404, "/problems/not-found").await;
        assert_eq!(instance_path(&problem), path, "instance names the request path");
    }
    assert_problem(app.post_json("/v1/nope", &json!({})).await, 404, "/problems/not-found").await;
}

async fn wrong_methods_are_405_problems_with_allow(app: TestApp) {
    app.create_product("alpha").await;
    let cases: [(Method, &str, &[&str]); 9] = [
        (Method::DELETE, "/v1/data-products", &["GET", "POST"]),
        (Method::PUT, "/v1/data-products", &["GET", "POST"]),
        (Method::PATCH, "/v1/data-products/alpha", &["DELETE", "GET", "PUT"]),
        (Method::POST, "/v1/data-products/alpha", &["DELETE", "GET", "PUT"]),
        (Method::POST, "/v1/data-products/alpha/versions", &["GET"]),
        (Method::GET, "/v1/data-products/alpha/restore", &["POST"]),
        (Method::POST, "/v1/data-products/alpha/schemas/t", &["DELETE", "GET", "PUT"]),
        (Method::DELETE, "/v1/resolve/dp:alpha", &["GET"]),
        (Method::POST, "/health/live", &["GET"]),
    ];
    for (method, path, allowed) in cases {
        let reply = read(app.send(app.request(method.clone(), path)).await).await;
        crate::helpers::assert_problem_reply(&reply, 405, "/problems/method-not-allowed");
        let allow: BTreeSet<String> =
            reply.header("allow").split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect();
        let want: BTreeSet<String> = allowed.iter().map(|m| m.to_string()).collect();
        assert_eq!(allow, want, "{method} {path}");
    }
    // A wrong method writes nothing.
    assert_eq!(app.latest_version("alpha").await, "v1.0");
}

async fn malformed_json_is_400_malformed_request(app: TestApp) {
    app.create_product("alpha").await;
    for (method, path) in [
        (Method::POST, "/v1/data-products"),
        (Method::PUT, "/v1/data-products/alpha"),
        (Method::PUT, "/v1/data-products/alpha/schemas/t"),
    ] {
        for raw in ["{\"name\": ", "not json", "{'a': 1}", "", "{\"a\":1}}"] {
            let resp =
                app.send(app.request(method.clone(), path).header("Content-Type", "application/json").body(raw)).await;
            assert_problem(resp, 400, "/problems/malformed-request").await;
        }
    }
    assert_eq!(app.latest_version("alpha").await, "v1.0");
}

async fn bodies_that_are_not_application_json_are_415(app: TestApp) {
    app.create_product("alpha").await;
    let bodies = [
        (Method::POST, "/v1/data-products", product_body("bravo")),
        (Method::PUT, "/v1/data-products/alpha", metadata_body()),
        (Method::PUT, "/v1/data-products/alpha/schemas/t", simple_table()),
    ];
    for (method, path, body) in &bodies {
        let text = body.to_string();
        for content_type in
            [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/xml"), None]
        {
            let mut request = app.request(method.clone(), path).body(text.clone());
            if let Some(ct) = content_type {
                request = request.header("Content-Type", ct);
            }
            let reply = read(app.send(request).await).await;
            crate::helpers::assert_problem_reply(&reply, 415, "/problems/unsupported-media-type");
        }
    }
    assert_problem(app.get("/v1/data-products/bravo").await, 404, "/problems/not-found").await;
    assert_eq!(app.latest_version("alpha").await, "v1.0");
    // Parameters and casing of the media type do not matter.
    for (i, (method, path, body)) in bodies.into_iter().enumerate() {
        let content_type = if i % 2 == 0 { "application/json; charset=utf-8" } else { "Application/JSON" };
        let resp =
            app.send(app.request(method, path).header("Content-Type", content_type).body(body.to_string())).await;
        let status = resp.status().as_u16();
        assert!(status == 200 || status == 201, "{path}: {status}");
    }
}

async fn a_body_over_the_size_limit_is_413(app: TestApp) {
    app.create_product("alpha").await;
    // The server may close the connection without reading the rest of the body, so the
    // client must not reuse it.
    let oversized = |method: Method, path: &str, body: &serde_json::Value| {
        app.request(method, path).header("Connection", "close").json(body)
    };
    let mut body = product_body("bravo");
    body["description"] = json!("d".repeat(2 * 1024 * 1024));
    let resp = app.send(oversized(Method::POST, "/v1/data-products", &body)).await;
    assert_problem(resp, 413, "/problems/payload-too-large").await;
    let mut table = simple_table();
    table["tableDescription"] = json!("d".repeat(2 * 1024 * 1024));
    let resp = app.send(oversized(Method::PUT, "/v1/data-products/alpha/schemas/t", &table)).await;
    assert_problem(resp, 413, "/problems/payload-too-large").await;
    assert_problem(app.get("/v1/data-products/bravo").await, 404, "/problems/not-found").await;
    // Just under the limit is not refused for its size.
    let mut near = product_body("charlie");
    near["description"] = json!("d".repeat(1024 * 1024 - 1024));
    let problem = assert_problem(app.post_json("/v1/data-products", &near).await, 422, "/problems/validation").await;
    assert_eq!(problem["errors"][0]["field"], "/description");
}

async fn problems_carry_title_status_detail_and_instance(app: TestApp) {
    let reply = expect(app.get("/v1/data-products/nosuch").await, 404).await;
    let body = &reply.body;
    assert_eq!(reply.header("content-type"), "application/problem+json", "exactly the problem media type");
    assert_eq!(body["type"], "/problems/not-found");
    assert_eq!(body["status"], 404);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("nosuch")));
    assert_eq!(instance_path(body), "/v1/data-products/nosuch");
    let validation = expect(app.post_json("/v1/data-products", &json!({ "name": "x" })).await, 422).await;
    assert_eq!(instance_path(&validation.body), "/v1/data-products");
    assert!(validation.body["errors"].is_array());
}

both!(
    unknown_routes_are_404_problems,
    wrong_methods_are_405_problems_with_allow,
    malformed_json_is_400_malformed_request,
    bodies_that_are_not_application_json_are_415,
    a_body_over_the_size_limit_is_413,
    problems_carry_title_status_detail_and_instance,
);
