//! Whole-product definitions (SPEC 8.2): a product read as one document and written from
//! one in ONE version, in JSON, YAML or as an ODCS contract, including contracts written by
//! other ODCS tools (tests/fixtures/odcs, made by its regen.sh).
use std::path::Path;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, assert_problem_reply, col, col_not_null, error_fields, expect, kinds, metadata_body,
    mint_token, read,
};

fn path(name: &str) -> String {
    format!("/v1/data-products/{name}/definition")
}

fn table(name: &str, description: &str, columns: Vec<Value>) -> Value {
    json!({ "name": name, "tableDescription": description, "columns": columns })
}

/// A definition of three tables.
fn definition() -> Value {
    let mut doc = metadata_body();
    doc["tables"] = json!([
        table("orders", "Orders placed", vec![col_not_null("id", "BIGINT"), col("total", "decimal(10, 2)")]),
        table("customers", "Who orders", vec![col_not_null("id", "bigint"), col("name", "varchar(200)")]),
        table("lines", "Order lines", vec![col("order_id", "bigint"), col("sku", "string")]),
    ]);
    doc
}

async fn put(app: &TestApp, name: &str, body: &Value) -> crate::helpers::Reply {
    read(app.put_json(&path(name), body).await).await
}

async fn put_as(app: &TestApp, name: &str, content_type: &str, body: String) -> crate::helpers::Reply {
    read(app.send(app.request(Method::PUT, &path(name)).header("Content-Type", content_type).body(body)).await).await
}

async fn get_yaml(app: &TestApp, url: &str) -> crate::helpers::Reply {
    expect(app.send(app.request(Method::GET, url).header("Accept", "application/yaml")).await, 200).await
}

async fn events(app: &TestApp, product: &str) -> Vec<Value> {
    let body = expect(app.get(&format!("/v1/events?dataProduct={product}&limit=1000")).await, 200).await.body;
    body["items"].as_array().expect("items").clone()
}

async fn stored_rows(app: &TestApp) -> (i64, i64) {
    let conn = Database::connect(app.database_url.as_str()).await.expect("a connection");
    let mut counts = [0i64; 2];
    for (i, table) in ["schema_blobs", "version_tables"].iter().enumerate() {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .expect("a count")
            .expect("a row");
        counts[i] = row.try_get("", "n").expect("a number");
    }
    (counts[0], counts[1])
}

async fn a_definition_creates_a_product_with_every_table_in_one_version(app: TestApp) {
    let created = put(&app, "shop", &definition()).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    assert_eq!(created.header("location"), "/v1/data-products/shop");
    assert_eq!(created.header("etag"), "\"v1.0\"");
    assert_eq!(created.body["changeType"], "major");
    assert_eq!(created.body["changes"], json!([]));
    let product = &created.body["dataProduct"];
    assert_eq!(product["version"], "v1.0");
    let tables: Vec<&str> =
        product["schemas"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(tables, ["customers", "lines", "orders"]);
    assert_eq!(app.version_list("shop").await, ["v1.0"], "one version holds every table");
    let orders = expect(app.get("/v1/data-products/shop/versions/v1.0/schemas/orders").await, 200).await.body;
    assert_eq!(orders["columns"][1]["type"], "decimal(10,2)");
    assert_eq!(orders["columns"][0]["nullable"], false);

    // The definition reads back as sent: name first, canonical types, tables by name.
    let read_back = expect(app.get(&path("shop")).await, 200).await;
    assert_eq!(read_back.header("etag"), "\"v1.0\"");
    let doc = &read_back.body;
    assert_eq!(doc["name"], "shop");
    assert_eq!(doc["status"], "draft");
    assert_eq!(doc["tables"][0]["name"], "customers");
    assert_eq!(
        doc["tables"][2]["columns"][0],
        json!({ "name": "id", "type": "bigint", "description": "The id column", "nullable": false })
    );
    assert!(doc.get("expectedChange").is_none() && doc.get("version").is_none(), "{doc}");
    assert!(read_back.text.starts_with("{\"name\":\"shop\""), "name comes first: {}", read_back.text);
    assert_eq!(read_back.header("cache-control"), "no-cache");
    let fresh = app.request(Method::GET, &path("shop")).header("If-None-Match", "\"v1.0\"");
    assert_eq!(app.send(fresh).await.status().as_u16(), 304);
    assert_problem(app.get(&path("nothing_here")).await, 404, "/problems/not-found").await;
    assert_problem(app.get("/v1/data-products/shop/versions/v7.0/definition").await, 404, "/problems/not-found").await;

    // One event for the version: a creation, carrying its class.
    let feed = events(&app, "shop").await;
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0]["type"], "data_product.created");
    assert_eq!(feed[0]["version"], "v1.0");
    assert_eq!(feed[0]["data"]["changeType"], "major");
}

async fn getting_and_putting_back_a_definition_changes_nothing(app: TestApp) {
    expect(app.put_json(&path("same"), &definition()).await, 201).await;
    let (before, events_before) = (stored_rows(&app).await, events(&app, "same").await.len());
    let doc = expect(app.get(&path("same")).await, 200).await.body;
    let again = put(&app, "same", &doc).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.text);
    assert_eq!(again.body["changeType"], "none");
    assert_eq!(again.body["changes"], json!([]));
    assert_eq!(again.header("etag"), "\"v1.0\"");

    // The YAML spelling, read and written back, is the same document.
    let yaml = get_yaml(&app, &path("same")).await;
    assert!(yaml.header("content-type").starts_with("application/yaml"));
    assert!(yaml.text.starts_with("name: same\n"), "{}", yaml.text);
    let parsed: Value = serde_yaml::from_str(&yaml.text).expect("YAML");
    assert_eq!(parsed, doc);
    let from_yaml = put_as(&app, "same", "application/yaml", yaml.text.clone()).await;
    assert_eq!(from_yaml.status.as_u16(), 200, "{}", from_yaml.text);
    assert_eq!(from_yaml.body["changeType"], "none");
    // Leaving `name` out, reordering tables and spelling types differently is no change either.
    let mut reordered = doc.clone();
    reordered.as_object_mut().unwrap().remove("name");
    reordered["tables"].as_array_mut().unwrap().reverse();
    reordered["tables"][0]["columns"][1]["type"] = json!("DECIMAL( 10 , 2 )");
    assert_eq!(put(&app, "same", &reordered).await.body["changeType"], "none");

    assert_eq!(app.version_list("same").await, ["v1.0"]);
    assert_eq!(stored_rows(&app).await, before, "a no-op stored rows");
    assert_eq!(events(&app, "same").await.len(), events_before, "a no-op emitted an event");
}

async fn a_replacement_makes_one_version_and_stores_only_the_tables_it_changed(app: TestApp) {
    expect(app.put_json(&path("evolve"), &definition()).await, 201).await;
    let v1 = expect(app.get("/v1/data-products/evolve/versions/v1.0/schemas").await, 200).await.body;
    let before = stored_rows(&app).await;
    assert_eq!(before, (3, 3));

    // A compatible replacement: a nullable column and a new table -> one minor version.
    let mut doc = definition();
    doc["tables"][1]["columns"].as_array_mut().unwrap().push(col("email", "string"));
    doc["tables"].as_array_mut().unwrap().push(table("returns", "Returned orders", vec![col("order_id", "bigint")]));
    let minor = put(&app, "evolve", &doc).await;
    assert_eq!(minor.status.as_u16(), 200, "{}", minor.text);
    assert_eq!(minor.body["changeType"], "minor");
    assert_eq!(minor.body["dataProduct"]["version"], "v1.1");
    assert_eq!(kinds(&minor.body["changes"]), ["column_added", "table_added"]);
    assert_eq!(stored_rows(&app).await, (5, 5), "only the changed and the new table were stored");

    // Metadata, a changed table and a removed table at once: the strongest class wins.
    doc["description"] = json!("A shop, described anew");
    doc["tables"].as_array_mut().unwrap().retain(|t| t["name"] != "lines");
    doc["tables"][0]["columns"][1]["type"] = json!("decimal(12,2)");
    let major = put(&app, "evolve", &doc).await;
    assert_eq!(major.status.as_u16(), 200, "{}", major.text);
    assert_eq!(major.body["changeType"], "major");
    assert_eq!(major.header("etag"), "\"v2.0\"");
    let mut got = kinds(&major.body["changes"]);
    got.sort();
    assert_eq!(got, ["column_type_changed", "metadata_changed", "table_removed"]);
    assert_eq!(stored_rows(&app).await, (6, 6), "one new blob and interval: the widened table");
    let tables: Vec<String> = major.body["dataProduct"]["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tables, ["customers", "orders", "returns"]);
    assert_eq!(app.version_list("evolve").await, ["v2.0", "v1.1", "v1.0"]);

    // Older versions read exactly as they were, and their definitions too.
    assert_eq!(expect(app.get("/v1/data-products/evolve/versions/v1.0/schemas").await, 200).await.body, v1);
    let old = expect(app.get("/v1/data-products/evolve/versions/v1.0/definition").await, 200).await;
    assert_eq!(old.header("cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(old.body["tables"].as_array().unwrap().len(), 3);
    assert_eq!(old.body["description"], "A data product");
    let latest = expect(app.get(&path("evolve")).await, 200).await.body;
    assert_eq!(latest["tables"][1]["columns"][1]["type"], "decimal(12,2)");

    // One `data_product.updated` per version, with its class and changes.
    let feed = events(&app, "evolve").await;
    let types: Vec<&str> = feed.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["data_product.created", "data_product.updated", "data_product.updated"]);
    assert_eq!(feed[2]["version"], "v2.0");
    assert_eq!(feed[2]["data"]["changeType"], "major");
    assert_eq!(feed[2]["data"]["changes"], major.body["changes"]);
}

async fn dry_runs_expected_changes_and_if_match_guard_a_definition(app: TestApp) {
    // A dry-run creation answers the would-be v1.0 and creates nothing.
    let dry = read(app.put_json(&format!("{}?dryRun=true", path("guarded")), &definition()).await).await;
    assert_eq!(dry.status.as_u16(), 200, "{}", dry.text);
    assert_eq!(dry.body["dataProduct"]["version"], "v1.0");
    assert_eq!(dry.body["changeType"], "major");
    assert_problem(app.get("/v1/data-products/guarded").await, 404, "/problems/not-found").await;
    // If-Match cannot match a product that does not exist.
    let blind = app.request(Method::PUT, &path("guarded")).header("If-Match", "\"v1.0\"").json(&definition());
    assert_problem(app.send(blind).await, 412, "/problems/precondition-failed").await;
    // A creation is major: expecting anything else is refused.
    let mut expecting = definition();
    expecting["expectedChange"] = json!("minor");
    let refused =
        assert_problem(app.put_json(&path("guarded"), &expecting).await, 409, "/problems/unexpected-change").await;
    assert_eq!(refused["changes"], json!([]));
    assert_problem(app.get("/v1/data-products/guarded").await, 404, "/problems/not-found").await;
    expecting["expectedChange"] = json!("major");
    expect(app.put_json(&path("guarded"), &expecting).await, 201).await;

    // A replacement removing a table is major.
    let mut doc = definition();
    doc["tables"].as_array_mut().unwrap().pop();
    doc["expectedChange"] = json!("minor");
    let refused = assert_problem(app.put_json(&path("guarded"), &doc).await, 409, "/problems/unexpected-change").await;
    assert_eq!(kinds(&refused["changes"]), ["table_removed"]);
    doc.as_object_mut().unwrap().remove("expectedChange");
    let query = read(app.put_json(&format!("{}?expectedChange=minor", path("guarded")), &doc).await).await;
    assert_problem_reply(&query, 409, "/problems/unexpected-change");
    let dry = read(app.put_json(&format!("{}?dryRun=true", path("guarded")), &doc).await).await;
    assert_eq!(dry.status.as_u16(), 200, "{}", dry.text);
    assert_eq!(dry.body["dataProduct"]["version"], "v2.0");
    assert_eq!(app.version_list("guarded").await, ["v1.0"], "nothing was written so far");

    // If-Match: a stale version is 412, the current one passes.
    let stale = app.request(Method::PUT, &path("guarded")).header("If-Match", "\"v0.9\"").json(&doc);
    assert_problem(app.send(stale).await, 412, "/problems/precondition-failed").await;
    let current = app.request(Method::PUT, &path("guarded")).header("If-Match", "\"v1.0\"").json(&doc);
    let applied = expect(app.send(current).await, 200).await;
    assert_eq!(applied.body["dataProduct"]["version"], "v2.0");

    // `expectedChange` on a write that changes nothing passes only if it is `none`.
    doc["expectedChange"] = json!("minor");
    assert_problem(app.put_json(&path("guarded"), &doc).await, 409, "/problems/unexpected-change").await;
    doc["expectedChange"] = json!("none");
    assert_eq!(expect(app.put_json(&path("guarded"), &doc).await, 200).await.body["changeType"], "none");
    // The body and the query must not disagree.
    let both = read(app.put_json(&format!("{}?expectedChange=major", path("guarded")), &doc).await).await;
    assert_problem_reply(&both, 422, "/problems/validation");
    assert_eq!(error_fields(&both.body), ["/expectedChange"]);
    assert_eq!(app.version_list("guarded").await, ["v2.0", "v1.0"]);
}

async fn a_retried_definition_with_an_idempotency_key_is_applied_once(app: TestApp) {
    let send = |body: &Value| app.request(Method::PUT, &path("retried")).header("Idempotency-Key", "def-1").json(body);
    let first = expect(app.send(send(&definition())).await, 201).await;
    let again = expect(app.send(send(&definition())).await, 201).await;
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), "/v1/data-products/retried");
    assert_eq!(app.version_list("retried").await, ["v1.0"]);
    let mut other = definition();
    other["description"] = json!("another body");
    assert_problem(app.send(send(&other)).await, 422, "/problems/idempotency-key-reused").await;
    // A YAML body is keyed by its bytes.
    let yaml = serde_yaml::to_string(&other).unwrap();
    let keyed = || {
        app.request(Method::PUT, &path("retried"))
            .header("Idempotency-Key", "def-2")
            .header("Content-Type", "application/yaml")
            .body(yaml.clone())
    };
    let applied = expect(app.send(keyed()).await, 200).await;
    assert_eq!(applied.body["changeType"], "minor");
    let replayed = expect(app.send(keyed()).await, 200).await;
    assert_eq!(replayed.header("idempotent-replayed"), "true");
    assert_eq!(app.version_list("retried").await, ["v1.1", "v1.0"]);
}

async fn errors_point_into_the_document_as_sent(app: TestApp) {
    let mut doc = definition();
    doc["name"] = json!("not_this_one");
    doc["email"] = json!("not an address");
    doc["tables"][0]["colour"] = json!("blue");
    doc["tables"][1].as_object_mut().unwrap().remove("tableDescription");
    doc["tables"][2]["columns"][0]["type"] = json!("decimal(50,2)");
    doc["tables"][2]["columns"][1]["nullable"] = json!("no");
    doc["tables"].as_array_mut().unwrap().push(table("orders", "Again", vec![col("a", "int")]));
    doc["tables"].as_array_mut().unwrap().push(table("v2", "Looks like a version", vec![col("a", "int")]));
    let reply = read(app.put_json(&path("pointed"), &doc).await).await;
    assert_problem_reply(&reply, 422, "/problems/validation");
    assert_eq!(
        error_fields(&reply.body),
        [
            "/email",
            "/name",
            "/tables/0/colour",
            "/tables/1/tableDescription",
            "/tables/2/columns/0/type",
            "/tables/2/columns/1/nullable",
            "/tables/3/name",
            "/tables/4/name",
        ]
    );
    let type_error = reply.body["errors"].as_array().unwrap().iter().find(|e| e["field"] == "/tables/2/columns/0/type");
    assert!(type_error.unwrap()["message"].as_str().unwrap().contains("decimal(50,2)"), "{}", reply.text);

    // The same pointers for YAML, which has no other way to say where.
    let yaml = put_as(&app, "pointed", "application/yaml", serde_yaml::to_string(&doc).unwrap()).await;
    assert_problem_reply(&yaml, 422, "/problems/validation");
    assert_eq!(error_fields(&yaml.body), error_fields(&reply.body));

    // `tables` is required; at most 1,000 of them.
    let mut no_tables = definition();
    no_tables.as_object_mut().unwrap().remove("tables");
    let missing = read(app.put_json(&path("pointed"), &no_tables).await).await;
    assert_eq!(error_fields(&missing.body), ["/tables"]);
    let mut huge = metadata_body();
    huge["tables"] = Value::Array((0..1001).map(|i| table(&format!("t{i}"), "T", vec![col("a", "int")])).collect());
    let too_many = read(app.put_json(&path("pointed"), &huge).await).await;
    assert_problem_reply(&too_many, 422, "/problems/validation");
    assert_eq!(error_fields(&too_many.body), ["/tables"]);
    assert!(too_many.text.contains("1000"), "{}", too_many.text);

    // Not YAML or JSON at all is a 400; another media type a 415; nothing was created.
    let broken = put_as(&app, "pointed", "application/yaml", "name: [unclosed".to_owned()).await;
    assert_problem_reply(&broken, 400, "/problems/malformed-request");
    let broken = put_as(&app, "pointed", "application/odcs+json", "{".to_owned()).await;
    assert_problem_reply(&broken, 400, "/problems/malformed-request");
    let text = put_as(&app, "pointed", "text/plain", "hello".to_owned()).await;
    assert_problem_reply(&text, 415, "/problems/unsupported-media-type");
    let control = put_as(&app, "pointed", "application/yaml", "description: \"a\\u0000b\"\n".to_owned()).await;
    assert_problem_reply(&control, 422, "/problems/validation");
    assert_eq!(error_fields(&control.body), ["/description"]);
    assert_problem(app.get("/v1/data-products/pointed").await, 404, "/problems/not-found").await;
}

async fn domains_limit_who_may_define_a_product(app: TestApp) {
    let opg = mint_token("opg-writer", "daap:read daap:write", Some(vec!["OPG".into()]));
    let as_opg = |body: &Value| app.request(Method::PUT, &path("elsewhere")).bearer_auth(&opg).json(body);
    assert_problem(app.send(as_opg(&definition())).await, 403, "/problems/forbidden").await;
    assert_problem(app.get("/v1/data-products/elsewhere").await, 404, "/problems/not-found").await;
    let mut mine = definition();
    mine["domain"] = json!("OPG");
    expect(app.send(as_opg(&mine)).await, 201).await;
    // Moving it out of its domain is refused, as for a metadata PUT.
    assert_problem(app.send(as_opg(&definition())).await, 403, "/problems/forbidden").await;
    assert_eq!(app.latest_version("elsewhere").await, "v1.0");
}

/// A product of every kind of column, exported as a contract.
async fn contract_of_a_rich_product(app: &TestApp, name: &str) -> (Value, String) {
    let mut doc = metadata_body();
    doc["status"] = json!("published");
    doc["dataProductMaintainer"] = json!("maintainer@example.com");
    doc["dataProductMaintainerDisplayName"] = json!("Mia Maintainer");
    doc["dpiaRequired"] = json!(true);
    doc["dpiaLocation"] = json!("https://dpia.example.com/1");
    doc["tags"] = json!({ "team": "data", "tier": "", "pii": "yes:really" });
    doc["tables"] = json!([
        table(
            "kinds",
            "Every type",
            vec![
                col_not_null("a", "tinyint"),
                col("b", "smallint"),
                col("c", "int"),
                col("d", "bigint"),
                col("e", "float"),
                col("f", "double"),
                col("g", "decimal(38,10)"),
                col("h", "boolean"),
                col("i", "string"),
                col("j", "char(3)"),
                col("k", "varchar(40)"),
                col("l", "date"),
                col("m", "timestamp"),
                col("n", "binary"),
                col("o", "array<struct<x:int,y:array<varchar(5)>>>"),
                col("p", "map<string,map<int,decimal(5,2)>>"),
                col("q", "struct<r:date,s:struct<t:boolean>>"),
            ]
        ),
        table("plain", "A plain table", vec![col_not_null("id", "bigint")]),
    ]);
    expect(app.put_json(&path(name), &doc).await, 201).await;
    let contract = expect(app.get(&format!("/v1/data-products/{name}/versions/latest/contract")).await, 200).await;
    let yaml = get_yaml(app, &format!("/v1/data-products/{name}/versions/latest/contract")).await;
    (contract.body, yaml.text)
}

async fn an_exported_contract_put_back_changes_nothing(app: TestApp) {
    let (contract, yaml) = contract_of_a_rich_product(&app, "rich").await;
    let json_back = put_as(&app, "rich", "application/odcs+json", contract.to_string()).await;
    assert_eq!(json_back.status.as_u16(), 200, "{}", json_back.text);
    assert_eq!(json_back.body["changeType"], "none", "{}", json_back.text);
    let yaml_back = put_as(&app, "rich", "application/odcs+yaml; charset=utf-8", yaml.clone()).await;
    assert_eq!(yaml_back.status.as_u16(), 200, "{}", yaml_back.text);
    assert_eq!(yaml_back.body["changeType"], "none");
    assert_eq!(app.version_list("rich").await, ["v1.0"]);

    // The same contract under another name makes that product, equal but for its name.
    let mut renamed = contract.clone();
    renamed["name"] = json!("twin");
    let created = put_as(&app, "twin", "application/odcs+json", renamed.to_string()).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let mut twin = expect(app.get(&path("twin")).await, 200).await.body;
    let rich = expect(app.get(&path("rich")).await, 200).await.body;
    twin["name"] = json!("rich");
    assert_eq!(twin, rich);

    // A changed contract is classified like any definition; `expectedChange` is a query parameter.
    let mut changed = contract.clone();
    changed["schema"][0]["properties"][2]["physicalType"] = json!("bigint");
    changed["schema"][0]["properties"][2].as_object_mut().unwrap().remove("logicalTypeOptions");
    let url = format!("{}?expectedChange=minor", path("rich"));
    let reply = read(
        app.send(
            app.request(Method::PUT, &url).header("Content-Type", "application/odcs+json").body(changed.to_string()),
        )
        .await,
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    assert_eq!(reply.body["changeType"], "minor");
    assert_eq!(kinds(&reply.body["changes"]), ["column_type_changed"]);
}

async fn contract_members_daap_cannot_hold_are_refused_by_pointer(app: TestApp) {
    let (contract, _) = contract_of_a_rich_product(&app, "strict").await;
    let mut c = contract.clone();
    c["servers"] = json!([{ "server": "prod", "type": "postgres" }]);
    c["name"] = json!("Strict contract");
    c["status"] = json!("proposed");
    c["description"]["usage"] = json!("Anything");
    c["team"]["members"].as_array_mut().unwrap().push(json!({ "username": "x@example.com", "role": "Data Scientist" }));
    c["support"].as_array_mut().unwrap().push(json!({ "channel": "#help", "tool": "slack" }));
    c["customProperties"].as_array_mut().unwrap().push(json!({ "property": "costCentre", "value": 42 }));
    c["schema"][0]["physicalName"] = json!("kinds_v2");
    c["schema"][0]["quality"] = json!([{ "metric": "rowCount" }]);
    c["schema"][0]["properties"][0]["primaryKey"] = json!(true);
    c["schema"][0]["properties"][0]["unique"] = json!(false); // holds nothing: fine
    c["schema"][0]["properties"][2]["logicalTypeOptions"] = json!({ "format": "i32", "minimum": 0 });
    c["schema"][0]["properties"][10]["logicalTypeOptions"]["maxLength"] = json!(41);
    c["schema"][0]["properties"][14]["items"]["properties"][0]["description"] = json!("x");
    c["schema"][0]["properties"][16]["properties"][0]["required"] = json!(true);
    c["schema"][1]["properties"][0]["physicalType"] = json!("NUMERIC(10,2)");
    c["schema"][1]["properties"][0].as_object_mut().unwrap().remove("description");
    let reply = put_as(&app, "strict", "application/odcs+json", c.to_string()).await;
    assert_problem_reply(&reply, 422, "/problems/validation");
    assert_eq!(
        error_fields(&reply.body),
        [
            "/customProperties/3",
            "/description/usage",
            "/name",
            "/schema/0/physicalName",
            "/schema/0/properties/0/primaryKey",
            "/schema/0/properties/10/logicalTypeOptions/maxLength",
            "/schema/0/properties/14/items/properties/0/description",
            "/schema/0/properties/16/properties/0/required",
            "/schema/0/properties/2/logicalTypeOptions/minimum",
            "/schema/0/quality",
            "/schema/1/properties/0/description",
            "/schema/1/properties/0/physicalType",
            "/servers",
            "/status",
            "/support/1",
            "/team/members/2",
        ],
        "{}",
        reply.text
    );
    assert_eq!(app.version_list("strict").await, ["v1.0"], "a refused contract changed the product");
}

fn fixture(name: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/odcs").join(name);
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run tests/fixtures/odcs/regen.sh)", file.display()))
}

/// Contracts written by other ODCS tools: each field daap cannot hold is named.
async fn contracts_from_other_tools_are_refused_field_by_field(app: TestApp) {
    let cases: [(&str, &[&str]); 5] = [
        (
            "package-full-example-v3.2.0.odcs.yaml",
            &[
                "/authoritativeDefinitions",
                "/customProperties",
                "/customProperties/0",
                "/customProperties/1",
                "/customProperties/2",
                "/dataProduct",
                "/description/authoritativeDefinitions",
                "/description/limitations",
                "/description/usage",
                "/price",
                "/roles",
                "/schema/0/authoritativeDefinitions",
                "/schema/0/businessName",
                "/schema/0/customProperties",
                "/schema/0/dataGranularityDescription",
                "/schema/0/id",
                "/schema/0/physicalName",
                "/schema/0/properties/0/businessName",
                "/schema/0/properties/0/classification",
                "/schema/0/properties/0/customProperties/0",
                "/schema/0/properties/0/examples",
                "/schema/0/properties/0/id",
                "/schema/0/properties/0/partitionKeyPosition",
                "/schema/0/properties/0/partitioned",
                "/schema/0/properties/0/physicalName",
                "/schema/0/properties/0/transformDescription",
                "/schema/0/properties/0/transformLogic",
                "/schema/0/properties/0/transformSourceObjects",
                "/schema/0/properties/1/businessName",
                "/schema/0/properties/1/classification",
                "/schema/0/properties/1/id",
                "/schema/0/properties/1/primaryKey",
                "/schema/0/properties/1/primaryKeyPosition",
                "/schema/0/properties/1/relationships",
                "/schema/0/properties/1/tags",
                "/schema/0/properties/2/authoritativeDefinitions",
                "/schema/0/properties/2/businessName",
                "/schema/0/properties/2/classification",
                "/schema/0/properties/2/encryptedName",
                "/schema/0/properties/2/enum",
                "/schema/0/properties/2/id",
                "/schema/0/properties/2/quality",
                "/schema/0/quality",
                "/schema/0/relationships",
                "/schema/0/tags",
                "/schema/1/businessName",
                "/schema/1/id",
                "/schema/1/physicalName",
                "/schema/1/properties/0/businessName",
                "/schema/1/properties/0/classification",
                "/schema/1/properties/0/id",
                "/schema/1/properties/0/primaryKey",
                "/schema/1/properties/0/primaryKeyPosition",
                "/schema/1/properties/0/unique",
                "/schema/1/properties/1/businessName",
                "/schema/1/properties/1/classification",
                "/schema/1/properties/1/id",
                "/schema/1/properties/1/primaryKey",
                "/schema/1/properties/1/primaryKeyPosition",
                "/schema/1/properties/2/businessName",
                "/schema/1/properties/2/classification",
                "/schema/1/properties/2/id",
                "/schema/1/properties/3/businessName",
                "/schema/1/properties/3/classification",
                "/schema/1/properties/3/id",
                "/schema/1/properties/3/relationships",
                "/schema/1/properties/4/businessName",
                "/schema/1/properties/4/classification",
                "/schema/1/properties/4/id",
                "/schema/1/properties/4/map/key/description",
                "/schema/1/properties/4/map/value/description",
                "/schema/1/tags",
                "/servers",
                "/slaProperties",
                "/support/0",
                "/support/2",
                "/support/3",
                "/team/description",
                "/team/members/0",
                "/team/members/1",
                "/team/members/2/dateIn",
                "/team/members/2/description",
                "/team/members/2/name",
                "/team/members/2/username",
                "/team/name",
                "/tenant",
            ],
        ),
        (
            "package-all-new-fields-v3.2.0.odcs.yaml",
            &[
                "/context",
                "/customProperties",
                "/customProperties/0",
                "/description",
                "/domain",
                "/name",
                "/schema/0/context",
                "/schema/0/description",
                "/schema/0/physicalName",
                "/schema/0/properties/0/description",
                "/schema/0/properties/0/semanticType",
                "/schema/0/properties/0/synonyms",
                "/schema/0/properties/0/transformLogic",
                "/schema/0/properties/1/description",
                "/schema/0/properties/1/enum",
                "/schema/0/properties/1/semanticType",
                "/schema/0/properties/2/description",
                "/schema/0/properties/2/map/value/properties/0/enum",
                "/schema/0/properties/3/description",
                "/schema/0/properties/3/physicalType",
                "/schema/0/properties/4/deprecated",
                "/schema/0/relationships",
                "/schema/0/synonyms",
                "/schema/1/context",
                "/schema/1/description",
                "/schema/1/properties",
                "/servers",
                "/slaProperties",
                "/support",
                "/team",
            ],
        ),
        (
            "datacontract-sql-postgres.odcs.yaml",
            &[
                "/customProperties",
                "/description",
                "/domain",
                "/name",
                "/schema/0/description",
                "/schema/0/properties/0/description",
                "/schema/0/properties/0/primaryKey",
                "/schema/0/properties/0/primaryKeyPosition",
                "/schema/0/properties/0/unique",
                "/schema/0/properties/1/description",
                "/schema/0/properties/2/description",
                "/schema/0/properties/3/description",
                "/schema/0/properties/4/description",
                "/schema/0/properties/4/physicalType",
                "/schema/0/properties/5/description",
                "/schema/1/description",
                "/schema/1/properties/0/description",
                "/schema/1/properties/1/description",
                "/schema/1/properties/2/description",
                "/schema/1/properties/3/description",
                "/schema/1/properties/4/description",
                "/servers",
                "/support",
                "/team",
            ],
        ),
        (
            "datacontract-sql-hive.odcs.yaml",
            &[
                "/customProperties",
                "/description",
                "/domain",
                "/name",
                "/schema/0/description",
                "/schema/0/properties/0/description",
                "/schema/0/properties/1/description",
                "/schema/0/properties/2/description",
                "/schema/0/properties/3/description",
                "/schema/0/properties/4/description",
                "/schema/0/properties/5/description",
                "/schema/0/properties/6/description",
                "/servers",
                "/support",
                "/team",
                "/team/name",
            ],
        ),
        (
            "datacontract-init.odcs.yaml",
            &["/customProperties", "/description", "/domain", "/name", "/support", "/team"],
        ),
    ];
    let mut wrong = Vec::new();
    for (file, expected) in cases {
        let reply = put_as(&app, "imported", "application/odcs+yaml", fixture(file)).await;
        assert_problem_reply(&reply, 422, "/problems/validation");
        let mut fields = error_fields(&reply.body);
        fields.dedup();
        if fields != expected {
            wrong.push(format!("{file}: {}", serde_json::to_string_pretty(&reply.body["errors"]).unwrap()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_problem(app.get("/v1/data-products/imported").await, 404, "/problems/not-found").await;
}

/// A contract datacontract-cli made from Hive DDL, given what daap needs (and without what
/// it cannot hold), becomes a product with the DDL's types.
async fn a_tool_made_contract_completed_with_what_daap_needs_is_accepted(app: TestApp) {
    let mut c: Value = serde_yaml::from_str(&fixture("datacontract-sql-hive.odcs.yaml")).expect("YAML");
    c.as_object_mut().unwrap().remove("servers");
    c["name"] = json!("orders");
    c["domain"] = json!("HMPPS");
    c["description"] = json!({ "purpose": "Orders of an online shop" });
    c["team"]["members"] = json!([{ "username": "owner@example.com", "name": "Olive Owner", "role": "owner" }]);
    c["support"] = json!([{ "channel": "team", "url": "mailto:team@example.com" }]);
    c["customProperties"] = json!([
        { "property": "retentionPeriod", "value": 365 },
        { "property": "dpiaRequired", "value": false },
    ]);
    c["schema"][0]["description"] = json!("Orders");
    for property in c["schema"][0]["properties"].as_array_mut().unwrap() {
        property["description"] = json!(format!("The {} column", property["name"].as_str().unwrap()));
    }
    let created = put_as(&app, "orders", "application/odcs+yaml", serde_yaml::to_string(&c).unwrap()).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let doc = expect(app.get(&path("orders")).await, 200).await.body;
    let types: Vec<&str> =
        doc["tables"][0]["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "bigint",
            "int",
            "decimal(10,2)",
            "char(3)",
            "array<string>",
            "struct<city:string,postcode:varchar(10)>",
            "timestamp"
        ]
    );
    assert_eq!(doc["dataProductOwner"], "owner@example.com");
    assert_eq!(doc["status"], "draft");
    // What daap exports of it goes back unchanged.
    let contract = expect(app.get("/v1/data-products/orders/versions/v1.0/contract").await, 200).await.body;
    let back = put_as(&app, "orders", "application/odcs+json", contract.to_string()).await;
    assert_eq!(back.body["changeType"], "none", "{}", back.text);
}

async fn concurrent_creations_of_one_name_make_one_product(app: TestApp) {
    let sends = (0..8).map(|_| {
        let app = app.clone();
        async move { put(&app, "raced", &definition()).await }
    });
    let replies = futures::future::join_all(sends).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 201], "{replies:?}");
    for reply in replies.iter().filter(|r| r.status.as_u16() == 200) {
        assert_eq!(reply.body["changeType"], "none", "the later ones found it as they would make it");
    }
    assert_eq!(app.version_list("raced").await, ["v1.0"]);
    assert_eq!(events(&app, "raced").await.len(), 1);
}

both!(
    a_definition_creates_a_product_with_every_table_in_one_version,
    getting_and_putting_back_a_definition_changes_nothing,
    a_replacement_makes_one_version_and_stores_only_the_tables_it_changed,
    dry_runs_expected_changes_and_if_match_guard_a_definition,
    a_retried_definition_with_an_idempotency_key_is_applied_once,
    errors_point_into_the_document_as_sent,
    domains_limit_who_may_define_a_product,
    an_exported_contract_put_back_changes_nothing,
    contract_members_daap_cannot_hold_are_refused_by_pointer,
    contracts_from_other_tools_are_refused_field_by_field,
    a_tool_made_contract_completed_with_what_daap_needs_is_accepted,
    concurrent_creations_of_one_name_make_one_product,
);
