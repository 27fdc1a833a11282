//! SPEC section 4.5: a version exports as an ODCS data contract that passes the published
//! ODCS JSON Schema (fixture), and a table as a JSON Schema that real rows pass and broken
//! rows fail, checked with a JSON Schema validator.
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, col, col_not_null, expect, metadata_body, mint_token, product_body, table_body,
};

const ODCS_SCHEMA: &str = include_str!("../fixtures/odcs-v3.2.0.schema.json");

/// Every kind of column type, nullable and not.
fn rich_table() -> Value {
    table_body(
        "Every type",
        vec![
            col_not_null("id", "bigint"),
            col("tiny", "tinyint"),
            col("small", "smallint"),
            col_not_null("count", "int"),
            col("ratio", "float"),
            col("score", "double"),
            col_not_null("amount", "decimal(10,2)"),
            col("flag", "boolean"),
            col("label", "string"),
            col("code", "char(3)"),
            col("title", "varchar(8)"),
            col("born", "date"),
            col_not_null("seen_at", "timestamp"),
            col("blob", "binary"),
            col("nums", "array<int>"),
            col("attrs", "map<string,decimal(5,2)>"),
            col("by_id", "map<int,string>"),
            col("address", "struct<street:string,zip:varchar(10),geo:struct<lat:double,lon:double>>"),
            col("events", "array<struct<at:timestamp,kind:string>>"),
        ],
    )
}

async fn setup(app: &TestApp) {
    let mut body = product_body("contracted");
    body["tags"] = json!({ "team": "data", "pii": "yes" });
    body["dataProductMaintainer"] = json!("maintainer@example.com");
    body["dataProductMaintainerDisplayName"] = json!("Max Maintainer");
    body["dpiaLocation"] = json!("https://dpia.example.com/1");
    app.create_product_with(&body).await;
    app.put_table_ok("contracted", "everything", &rich_table()).await;
    app.put_table_ok("contracted", "small", &table_body("Small", vec![col_not_null("k", "int")])).await;
}

fn odcs_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(ODCS_SCHEMA).expect("the ODCS schema fixture is JSON");
    jsonschema::validator_for(&schema).expect("the ODCS schema compiles")
}

fn assert_valid_contract(contract: &Value) {
    let validator = odcs_validator();
    let errors: Vec<String> =
        validator.iter_errors(contract).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "the contract breaks the ODCS schema: {errors:#?}\n{contract:#}");
}

async fn contracts_pass_the_odcs_schema_and_describe_the_version(app: TestApp) {
    setup(&app).await;
    let reply = expect(app.get("/v1/data-products/contracted/versions/v1.2/contract").await, 200).await;
    assert!(reply.header("content-type").starts_with("application/json"));
    assert_eq!(reply.header("cache-control"), "public, max-age=31536000, immutable");
    let c = &reply.body;
    assert_valid_contract(c);
    assert_eq!(c["kind"], "DataContract");
    assert!(c["apiVersion"].as_str().unwrap() >= "v3.1.0", "{}", c["apiVersion"]);
    assert_eq!(c["id"], "dp:contracted:v1.2");
    assert_eq!(c["name"], "contracted");
    assert_eq!(c["version"], "1.2.0");
    assert_eq!(c["status"], "draft");
    assert_eq!(c["domain"], "HMPPS");
    assert_eq!(c["description"]["purpose"], "The contracted data product");
    assert_eq!(c["tags"], json!(["pii:yes", "team:data"]));
    let members = c["team"]["members"].as_array().unwrap();
    assert_eq!(members[0]["username"], "owner@example.com");
    assert_eq!(members[0]["role"], "owner");
    assert_eq!(members[1]["username"], "maintainer@example.com");
    let schema = c["schema"].as_array().unwrap();
    assert_eq!(schema.len(), 2);
    let table = schema.iter().find(|s| s["name"] == "everything").expect("the table");
    assert_eq!(table["logicalType"], "object");
    assert_eq!(table["description"], "Every type");
    let props = table["properties"].as_array().unwrap();
    assert_eq!(props.len(), 19);
    let prop = |name: &str| props.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(prop("id")["physicalType"], "bigint");
    assert_eq!(prop("id")["logicalType"], "integer");
    assert_eq!(prop("id")["required"], true);
    assert_eq!(prop("tiny")["required"], false);
    assert_eq!(prop("amount")["logicalType"], "number");
    assert_eq!(prop("amount")["physicalType"], "decimal(10,2)");
    assert_eq!(prop("title")["logicalTypeOptions"]["maxLength"], 8);
    assert_eq!(prop("born")["logicalType"], "date");
    assert_eq!(prop("seen_at")["logicalType"], "timestamp");
    assert_eq!(prop("nums")["logicalType"], "array");
    assert_eq!(prop("nums")["items"]["logicalType"], "integer");
    assert_eq!(prop("attrs")["logicalType"], "map");
    assert_eq!(prop("attrs")["map"]["value"]["physicalType"], "decimal(5,2)");
    assert_eq!(prop("address")["logicalType"], "object");
    assert_eq!(prop("address")["properties"][2]["properties"][0]["name"], "lat");
    assert_eq!(prop("label")["description"], "The label column");
    // The validator does hold contracts to the schema.
    let mut broken = c.clone();
    broken["kind"] = json!("Contract");
    assert!(!odcs_validator().is_valid(&broken));
    let mut broken = c.clone();
    broken["schema"][0]["properties"][0]["nullable"] = json!(true);
    assert!(!odcs_validator().is_valid(&broken), "unknown property members are refused");
    // The earlier version has only what it had then.
    let v1 = expect(app.get("/v1/data-products/contracted/versions/v1.0/contract").await, 200).await.body;
    assert_valid_contract(&v1);
    assert_eq!(v1["schema"], json!([]));
    assert_eq!(v1["version"], "1.0.0");
}

async fn contract_status_follows_the_product_status(app: TestApp) {
    setup(&app).await;
    for (status, odcs) in [("published", "active"), ("deprecated", "deprecated"), ("retired", "retired")] {
        let mut meta = metadata_body();
        meta["description"] = json!("The contracted data product");
        meta["tags"] = json!({ "team": "data", "pii": "yes" });
        meta["dataProductMaintainer"] = json!("maintainer@example.com");
        meta["dataProductMaintainerDisplayName"] = json!("Max Maintainer");
        meta["dpiaLocation"] = json!("https://dpia.example.com/1");
        meta["status"] = json!(status);
        expect(app.put_json("/v1/data-products/contracted", &meta).await, 200).await;
        let c = expect(app.get("/v1/data-products/contracted/versions/latest/contract").await, 200).await;
        assert_eq!(c.header("cache-control"), "no-cache");
        assert_eq!(c.body["status"], odcs, "{status}");
        assert_valid_contract(&c.body);
    }
}

async fn contracts_come_as_yaml_on_request(app: TestApp) {
    setup(&app).await;
    let json_reply = expect(app.get("/v1/data-products/contracted/versions/v1/contract").await, 200).await;
    let req = app
        .request(Method::GET, "/v1/data-products/contracted/versions/v1/contract")
        .header("accept", "application/yaml");
    let yaml = expect(app.send(req).await, 200).await;
    assert!(yaml.header("content-type").starts_with("application/yaml"), "{:?}", yaml.headers);
    assert!(yaml.text.starts_with("apiVersion:") || yaml.text.contains("\nkind: DataContract"), "{}", yaml.text);
    let parsed: Value = serde_yaml::from_str(&yaml.text).expect("YAML");
    assert_eq!(parsed, json_reply.body, "YAML and JSON say the same");
    assert_ne!(yaml.header("etag"), json_reply.header("etag"), "two representations, two ETags");
    // The client's copy is current: 304.
    let etag = json_reply.header("etag").to_owned();
    let again =
        app.request(Method::GET, "/v1/data-products/contracted/versions/v1.2/contract").header("if-none-match", &etag);
    let again = app.send(again).await;
    assert_eq!(again.status(), 304);
}

async fn exports_need_read_scope_and_answer_problems(app: TestApp) {
    setup(&app).await;
    let reader = mint_token("reader", "daap:read", None);
    for path in [
        "/v1/data-products/contracted/versions/1.2/contract",
        "/v1/data-products/contracted/versions/v1.2/schemas/small/json-schema",
    ] {
        let req = app.request(Method::GET, path).bearer_auth(&reader);
        expect(app.send(req).await, 200).await;
        let anonymous = reqwest::Client::builder().no_proxy().build().unwrap().get(app.url(path)).send().await.unwrap();
        assert_problem(anonymous, 401, "/problems/unauthorized").await;
    }
    for (path, status, kind) in [
        ("/v1/data-products/contracted/versions/v9.0/contract", 404, "/problems/not-found"),
        ("/v1/data-products/nobody/versions/v1.0/contract", 404, "/problems/not-found"),
        ("/v1/data-products/contracted/versions/nope/contract", 400, "/problems/malformed-request"),
        ("/v1/data-products/contracted/versions/v1.0/schemas/small/json-schema", 404, "/problems/not-found"),
        ("/v1/data-products/contracted/versions/v1.2/schemas/nothing/json-schema", 404, "/problems/not-found"),
        ("/v1/data-products/contracted/versions/v1.2/schemas/Bad-Name/json-schema", 400, "/problems/malformed-request"),
    ] {
        assert_problem(app.get(path).await, status, kind).await;
    }
    // A soft-deleted product exports only with includeDeleted.
    expect(app.delete("/v1/data-products/contracted").await, 204).await;
    assert_problem(app.get("/v1/data-products/contracted/versions/v1.2/contract").await, 404, "/problems/not-found")
        .await;
    expect(app.get("/v1/data-products/contracted/versions/v1.2/contract?includeDeleted=true").await, 200).await;
}

fn row_validator(schema: &Value) -> jsonschema::Validator {
    assert!(jsonschema::meta::is_valid(schema), "not a valid JSON Schema: {schema:#}");
    jsonschema::draft202012::options().should_validate_formats(true).build(schema).expect("the schema compiles")
}

fn good_row() -> Value {
    json!({
        "id": 9_007_199_254_740_993_i64,
        "tiny": -128,
        "small": 32767,
        "count": -2_147_483_648_i64,
        "ratio": 0.5,
        "score": 1e300,
        "amount": "-12345678.90",
        "flag": true,
        "label": "anything",
        "code": "abc",
        "title": "12345678",
        "born": "2001-02-03",
        "seen_at": "2026-11-23T17:00:00Z",
        "blob": "aGVsbG8=",
        "nums": [1, null, 3],
        "attrs": { "a": "1.50", "b": null },
        "by_id": { "12": "x", "-3": "y" },
        "address": { "street": "High St", "zip": null, "geo": { "lat": 51.5, "lon": -0.1 } },
        "events": [{ "at": "2026-01-01T00:00:00+01:00", "kind": "in" }, null],
    })
}

async fn json_schemas_accept_real_rows_and_refuse_broken_ones(app: TestApp) {
    setup(&app).await;
    let reply =
        expect(app.get("/v1/data-products/contracted/versions/v1.2/schemas/everything/json-schema").await, 200).await;
    assert!(reply.header("content-type").starts_with("application/schema+json"), "{:?}", reply.headers);
    assert_eq!(reply.header("cache-control"), "public, max-age=31536000, immutable");
    let schema = &reply.body;
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["title"], "dp:contracted:v1.2:everything");
    assert_eq!(schema["required"], json!(["id", "count", "amount", "seen_at"]));
    assert_eq!(schema["properties"]["tiny"]["type"], json!(["integer", "null"]));
    assert_eq!(schema["properties"]["id"]["type"], "integer");
    assert_eq!(schema["properties"]["tiny"]["maximum"], 127);
    assert_eq!(schema["properties"]["title"]["maxLength"], 8);
    assert_eq!(schema["properties"]["born"]["format"], "date");
    assert_eq!(schema["properties"]["seen_at"]["format"], "date-time");
    let validator = row_validator(schema);

    let good = good_row();
    let errors: Vec<String> = validator.iter_errors(&good).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "a good row is refused: {errors:#?}");
    // Only the required columns; every nullable one null.
    let minimal = json!({ "id": 1, "count": 0, "amount": "0", "seen_at": "2026-11-23T17:00:00.123Z", "tiny": null, "address": null });
    assert!(
        validator.is_valid(&minimal),
        "{:?}",
        validator.iter_errors(&minimal).map(|e| e.to_string()).collect::<Vec<_>>()
    );

    let broken: [(&str, Value); 17] = [
        ("tiny", json!(128)),
        ("small", json!(-32769)),
        ("count", json!(2_147_483_648_i64)),
        ("count", json!(1.5)),
        ("count", Value::Null),
        ("amount", json!("123456789.00")),
        ("amount", json!("1.234")),
        ("amount", json!(12.5)),
        ("flag", json!("true")),
        ("code", json!("abcd")),
        ("title", json!("123456789")),
        ("born", json!("03/02/2001")),
        ("seen_at", json!("yesterday")),
        ("nums", json!(["1"])),
        ("by_id", json!({ "twelve": "x" })),
        ("address", json!({ "street": "High St", "floor": 3 })),
        ("events", json!([{ "at": 5 }])),
    ];
    for (column, value) in broken {
        let mut row = good_row();
        row[column] = value.clone();
        assert!(!validator.is_valid(&row), "{column} = {value} was accepted");
    }
    let mut missing = good_row();
    missing.as_object_mut().unwrap().remove("seen_at");
    assert!(!validator.is_valid(&missing), "a missing required column was accepted");
    let mut extra = good_row();
    extra["unknown"] = json!(1);
    assert!(!validator.is_valid(&extra), "an unknown column was accepted");

    // Selectors: `latest` and `v1` are not cached; an old version has the old table.
    let latest =
        expect(app.get("/v1/data-products/contracted/versions/latest/schemas/small/json-schema").await, 200).await;
    assert_eq!(latest.header("cache-control"), "no-cache");
    assert_eq!(latest.body["title"], "dp:contracted:v1.2:small");
    let etag = reply.header("etag").to_owned();
    let again = app
        .request(Method::GET, "/v1/data-products/contracted/versions/v1.2/schemas/everything/json-schema")
        .header("if-none-match", &etag);
    assert_eq!(app.send(again).await.status(), 304);
}

both!(
    contracts_pass_the_odcs_schema_and_describe_the_version,
    contract_status_follows_the_product_status,
    contracts_come_as_yaml_on_request,
    exports_need_read_scope_and_answer_problems,
    json_schemas_accept_real_rows_and_refuse_broken_ones,
);
