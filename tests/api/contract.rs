//! The contract as clients and people meet it (issue 12): parameter errors that name the
//! parameter and what it allows, the docs pages compressed and cacheable, the examples of
//! `/docs` that work on a fresh server, and ODCS YAML that YAML 1.1 readers load as strings.
use std::io::Read;

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, expect, read, simple_table};

async fn detail_of(app: &TestApp, path: &str) -> String {
    let problem = assert_problem(app.get(path).await, 400, "/problems/malformed-request").await;
    problem["detail"].as_str().unwrap_or_default().to_owned()
}

async fn query_and_path_errors_name_the_parameter_and_what_it_allows(app: TestApp) {
    app.create_product("orders").await;
    let cases = [
        ("/v1/data-products?limit=500", "`limit` must be an integer in 1..=200"),
        ("/v1/data-products?limit=abc", "`limit` must be an integer in 1..=200"),
        ("/v1/data-products?status=bogus", "`status` must be one of draft, published, deprecated, retired"),
        ("/v1/data-products?includeDeleted=maybe", "`includeDeleted` must be `true` or `false`"),
        ("/v1/data-products/orders/versions?limit=0", "`limit` must be an integer in 1..=200"),
        ("/v1/events?wait=31", "`wait` must be an integer in 0..=30"),
    ];
    for (path, expected) in cases {
        assert_eq!(detail_of(&app, path).await, expected, "{path}");
    }
    let feed = detail_of(&app, "/v1/events?type=schema.renamed").await;
    assert!(feed.starts_with("`type` must be one of data_product.created, "), "{feed}");
    assert!(feed.contains("upload.expired"), "{feed}");
    let name = detail_of(&app, "/v1/data-products/Orders").await;
    assert!(name.starts_with("`name` must be a product name"), "{name}");
    for path in ["/v1/data-products?limit=500", "/v1/data-products?status=bogus", "/v1/data-products/Orders"] {
        let detail = detail_of(&app, path).await;
        for internal in ["verification failed", "optional_", "failed to parse", "maximum("] {
            assert!(!detail.contains(internal), "{path}: framework wording in {detail:?}");
        }
    }
}

async fn the_docs_pages_are_compressed_cacheable_and_link_to_the_document(app: TestApp) {
    for path in ["/docs", "/redoc", "/openapi.json"] {
        let plain = expect(app.get(path).await, 200).await;
        let etag = plain.header("etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{path}: a strong ETag, got {etag:?}");
        let gzip = app.send(app.request(Method::GET, path).header(header::ACCEPT_ENCODING, "gzip, br")).await;
        assert_eq!(gzip.status(), 200, "{path}");
        assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip", "{path}");
        let bytes = gzip.bytes().await.expect("a body");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).expect("gzip");
        assert_eq!(text, plain.text, "{path}: the gzip body is the page");
        assert!(bytes.len() * 3 < plain.text.len(), "{path}: {} bytes compressed to {}", plain.text.len(), bytes.len());
        let again = read(app.send(app.request(Method::GET, path).header(header::IF_NONE_MATCH, &etag)).await).await;
        assert_eq!(again.status, 304, "{path}: a revalidation");
        assert!(again.text.is_empty(), "{path}");
    }
    let docs = expect(app.get("/docs").await, 200).await;
    assert!(docs.text.contains("href=\"/openapi.json\""), "/docs links to the document");
    assert!(docs.text.contains("where a token comes from") || docs.text.contains("daap token"), "Authorize text");
    // The page renders the served document, not poem-openapi's unamended one.
    assert!(docs.text.contains("x-required-scopes"), "/docs embeds the final document");
}

/// The examples `/docs` prefills, sent in workflow order to a fresh server, all succeed.
async fn the_documented_examples_work_on_a_fresh_server_in_workflow_order(app: TestApp) {
    let doc = expect(app.get("/openapi.json").await, 200).await.body;
    let schemas = &doc["components"]["schemas"];
    let example = |name: &str| -> Value { schemas[name]["example"].clone() };
    let param = |path: &str, method: &str, name: &str| -> String {
        let params = doc["paths"][path][method]["parameters"].as_array().cloned().unwrap_or_default();
        let p = params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{method} {path} has {name}"));
        p["schema"]["example"].as_str().unwrap_or_else(|| panic!("{method} {path} {name} has an example")).to_owned()
    };
    let created = app.post_json("/v1/data-products", &example("DataProductCreate")).await;
    let product = expect(created, 201).await.body;
    let name = param("/v1/data-products/{name}/schemas/{table}", "put", "name");
    let table = param("/v1/data-products/{name}/schemas/{table}", "put", "table");
    assert_eq!(product["name"], name.as_str(), "the path example names the product the body example creates");
    let put = app.put_json(&format!("/v1/data-products/{name}/schemas/{table}"), &example("TableSchemaPut")).await;
    let put = expect(put, 201).await.body;
    assert_eq!(put["changeType"], "minor");
    let upload =
        app.post_json(&format!("/v1/data-products/{name}/schemas/{table}/uploads"), &example("UploadCreate")).await;
    assert_eq!(expect(upload, 201).await.body["status"], "pending");
    let update = app.put_json(&format!("/v1/data-products/{name}"), &example("DataProductUpdate")).await;
    assert_eq!(expect(update, 200).await.body["changeType"], "minor");
}

async fn the_yaml_contract_quotes_times_and_look_alike_strings(app: TestApp) {
    let mut body = crate::helpers::product_body("quoted");
    body["tags"] = json!({ "since": "2026-01-02", "enabled": "yes", "ratio": "1.10" });
    app.create_product_with(&body).await;
    app.put_table_ok("quoted", "t", &simple_table()).await;
    let yaml = app
        .send(
            app.request(Method::GET, "/v1/data-products/quoted/versions/latest/contract")
                .header(header::ACCEPT, "application/yaml"),
        )
        .await;
    let yaml = expect(yaml, 200).await.text;
    let created = yaml.lines().find(|l| l.starts_with("contractCreatedTs:")).expect("contractCreatedTs");
    assert!(created.starts_with("contractCreatedTs: \"20"), "a quoted time: {created}");
    for word in ["\"since:2026-01-02\"", "\"enabled:yes\"", "\"ratio:1.10\"", "version: \"1.1.0\""] {
        assert!(yaml.contains(word), "{word} is quoted in\n{yaml}");
    }
    let json_form = expect(app.get("/v1/data-products/quoted/versions/latest/contract").await, 200).await.body;
    let from_yaml: Value = serde_yaml::from_str(&yaml).expect("valid YAML");
    assert_eq!(from_yaml, json_form, "the YAML and JSON forms hold the same document");
}

both!(
    query_and_path_errors_name_the_parameter_and_what_it_allows,
    the_docs_pages_are_compressed_cacheable_and_link_to_the_document,
    the_documented_examples_work_on_a_fresh_server_in_workflow_order,
    the_yaml_contract_quotes_times_and_look_alike_strings,
);
