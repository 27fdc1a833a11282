//! `/v1/data-products/{name}/schemas`: the tables of the latest version and the writes
//! that make new versions.
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, col, col_not_null, error_fields, expect, kinds, read, simple_table, table_body,
};

async fn putting_a_new_table_answers_201_with_location_and_a_minor_version(app: TestApp) {
    app.create_product("alpha").await;
    let reply = expect(app.put_table("alpha", "people", &simple_table()).await, 201).await;
    assert_eq!(reply.header("location"), "/v1/data-products/alpha/schemas/people");
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    let body = &reply.body;
    assert_eq!(body["changeType"], "minor");
    assert_eq!(kinds(&body["changes"]), ["table_added"]);
    assert_eq!(body["changes"][0]["table"], "people");
    assert_eq!(body["changes"][0]["class"], "minor");
    assert_eq!(body["dataProduct"]["version"], "v1.1");
    assert_eq!(body["dataProduct"]["schemas"], json!([{ "name": "people", "id": "dp:alpha:v1.1:people" }]));
    let expected_schema = json!({
        "id": "dp:alpha:v1.1:people",
        "name": "people",
        "version": "v1.1",
        "tableDescription": "A simple table",
        "columns": [
            { "name": "id", "type": "int", "description": "The id column", "nullable": false },
            { "name": "label", "type": "string", "description": "The label column", "nullable": true }
        ]
    });
    assert_eq!(body["schema"], expected_schema, "nullable defaults to true");

    let read_back = expect(app.get(reply.header("location")).await, 200).await;
    assert_eq!(read_back.body, expected_schema);
    assert_eq!(read_back.header("etag"), "\"v1.1\"");
    let list = expect(app.get("/v1/data-products/alpha/schemas").await, 200).await.body;
    assert_eq!(list, json!({ "items": [expected_schema] }));
    let product = expect(app.get("/v1/data-products/alpha").await, 200).await;
    assert_eq!(product.header("etag"), "\"v1.1\"");
    assert_eq!(product.body["schemas"], body["dataProduct"]["schemas"]);
}

async fn replacing_a_table_answers_200_with_the_new_version(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "people", &simple_table()).await;
    let mut changed = simple_table();
    changed["columns"].as_array_mut().unwrap().push(col("born", "date"));
    let reply = expect(app.put_table("alpha", "people", &changed).await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.2\"");
    assert_eq!(reply.body["changeType"], "minor");
    assert_eq!(kinds(&reply.body["changes"]), ["column_added"]);
    assert_eq!(reply.body["changes"][0]["column"], "born");
    assert_eq!(reply.body["schema"]["id"], "dp:alpha:v1.2:people");
    assert_eq!(reply.body["schema"]["columns"].as_array().unwrap().len(), 3);
    let latest = expect(app.get("/v1/data-products/alpha/schemas/people").await, 200).await.body;
    assert_eq!(latest, reply.body["schema"]);
}

async fn a_table_put_is_a_full_replacement(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &table_body("Old", vec![col("a", "int"), col("b", "int"), col("c", "int")])).await;
    let result = app.put_table_ok("alpha", "t", &table_body("New", vec![col("c", "int")])).await;
    assert_eq!(result["changeType"], "major");
    let columns: Vec<&str> =
        result["schema"]["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["c"]);
    assert_eq!(result["schema"]["tableDescription"], "New");
}

async fn putting_an_identical_table_makes_no_version(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "people", &simple_table()).await;
    let reply = expect(app.put_table("alpha", "people", &simple_table()).await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    assert_eq!(reply.body["changeType"], "none");
    assert_eq!(reply.body["changes"], json!([]));
    assert_eq!(reply.body["dataProduct"]["version"], "v1.1");
    assert_eq!(reply.body["schema"]["id"], "dp:alpha:v1.1:people");
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
    let with_expected = json!({
        "tableDescription": "A simple table",
        "columns": simple_table()["columns"],
        "expectedChange": "none"
    });
    let reply = expect(app.put_table("alpha", "people", &with_expected).await, 200).await;
    assert_eq!(reply.body["changeType"], "none");
}

async fn column_types_are_stored_in_canonical_form(app: TestApp) {
    app.create_product("alpha").await;
    let spelled = [
        ("a", "Integer", "int"),
        ("b", "  BIGINT ", "bigint"),
        ("c", "DECIMAL(10, 2)", "decimal(10,2)"),
        ("d", "decimal", "decimal(10,0)"),
        ("e", "VarChar(20)", "varchar(20)"),
        ("f", "Array< String >", "array<string>"),
        ("g", "MAP<STRING, INT>", "map<string,int>"),
        ("h", "STRUCT<A: INT, b: ARRAY<STRING>>", "struct<a:int,b:array<string>>"),
        ("i", "char(1)", "char(1)"),
        ("j", "Timestamp", "timestamp"),
        ("k", "BOOLEAN", "boolean"),
        ("l", "binary", "binary"),
        (
            "m",
            "map<int,struct<x:decimal(38,38),y:array<map<string,date>>>>",
            "map<int,struct<x:decimal(38,38),y:array<map<string,date>>>>",
        ),
        ("w", "MAP<DECIMAL(5, 2), STRING>", "map<decimal(5,2),string>"),
        ("x", "map<varchar(3),char(2)>", "map<varchar(3),char(2)>"),
        ("n", "tinyint", "tinyint"),
        ("o", "smallint", "smallint"),
        ("p", "float", "float"),
        ("q", "double", "double"),
        ("r", "string", "string"),
        ("s", "date", "date"),
        ("t", "varchar(65535)", "varchar(65535)"),
        ("u", "char(255)", "char(255)"),
        ("v", "decimal(1,0)", "decimal(1,0)"),
    ];
    let body = table_body("Types", spelled.iter().map(|(n, ty, _)| col(n, ty)).collect());
    let result = app.put_table_ok("alpha", "types", &body).await;
    let stored: Vec<(&str, &str)> = result["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    let want: Vec<(&str, &str)> = spelled.iter().map(|(n, _, c)| (*n, *c)).collect();
    assert_eq!(stored, want);

    let canonical = table_body("Types", spelled.iter().map(|(n, _, ty)| col(n, ty)).collect());
    let again = app.put_table_ok("alpha", "types", &canonical).await;
    assert_eq!(again["changeType"], "none", "the canonical spelling is the same table");
}

async fn nesting_is_limited_to_ten_levels(app: TestApp) {
    app.create_product("alpha").await;
    let nested = |levels: usize| format!("{}int{}", "array<".repeat(levels), ">".repeat(levels));
    let ok = table_body("Deep", vec![col("deep", &nested(10))]);
    let result = app.put_table_ok("alpha", "deep", &ok).await;
    assert_eq!(result["schema"]["columns"][0]["type"], nested(10));
    let too_deep = table_body("Deep", vec![col("deep", &nested(11))]);
    let problem = assert_problem(app.put_table("alpha", "deeper", &too_deep).await, 422, "/problems/validation").await;
    assert_eq!(error_fields(&problem), vec!["/columns/0/type"]);
    // struct, map, array, struct and seven arrays: eleven levels.
    let mixed = format!("struct<a:map<string,array<struct<b:{}>>>>", nested(7));
    let problem = assert_problem(
        app.put_table("alpha", "mixed", &table_body("Deep", vec![col("m", &mixed)])).await,
        422,
        "/problems/validation",
    )
    .await;
    assert_eq!(error_fields(&problem), vec!["/columns/0/type"]);
}

async fn bad_column_types_are_422_at_the_column_type(app: TestApp) {
    app.create_product("alpha").await;
    let mut failures = Vec::new();
    for bad in [
        "text",
        "varchar",
        "char",
        "int(10)",
        "decimal(0,0)",
        "decimal(39,0)",
        "decimal(5,6)",
        "decimal(10,)",
        "decimal(a,b)",
        "char(0)",
        "char(256)",
        "varchar(0)",
        "varchar(65536)",
        "array<int",
        "array<>",
        "array<int,int>",
        "map<int>",
        "map<array<int>,int>",
        "map<struct<a:int>,int>",
        "struct<>",
        "struct<a:int,a:string>",
        "struct<a:int,A:string>",
        "struct<1a:int>",
        "struct<a int>",
        "struct<a:int,>",
        "int>",
        "",
        "   ",
        "array<int>>",
    ] {
        let body = table_body("Bad", vec![col("ok", "int"), col("x", bad)]);
        let reply = read(app.put_table("alpha", "t", &body).await).await;
        if reply.status.as_u16() != 422 || reply.body["type"] != "/problems/validation" {
            failures.push(format!("`{bad}` answered {}: {}", reply.status, reply.text));
            continue;
        }
        let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
        let fine = errors.len() == 1
            && errors[0]["field"] == "/columns/1/type"
            && errors[0]["message"].as_str().is_some_and(|m| m.contains("position"));
        if !fine {
            failures.push(format!("`{bad}`: {errors:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_problem(app.get("/v1/data-products/alpha/schemas/t").await, 404, "/problems/not-found").await;
}

async fn a_table_body_that_breaks_the_schema_lists_every_violation(app: TestApp) {
    app.create_product("alpha").await;
    let body = json!({
        "tableDescription": "",
        "columns": [
            { "name": "Bad", "type": "int", "description": "x", "extra": 1 },
            { "name": "ok", "type": 5, "nullable": "yes" },
            { "name": "fine", "type": "int", "description": "d".repeat(1025) },
            "not a column"
        ],
        "expectedChange": "huge",
        "owner": "me",
        "name": "t"
    });
    let problem = assert_problem(app.put_table("alpha", "t", &body).await, 422, "/problems/validation").await;
    assert_eq!(
        error_fields(&problem),
        vec![
            "/columns/0/extra",
            "/columns/0/name",
            "/columns/1/description",
            "/columns/1/nullable",
            "/columns/1/type",
            "/columns/2/description",
            "/columns/3",
            "/expectedChange",
            "/name",
            "/owner",
            "/tableDescription",
        ]
    );
    assert_eq!(app.latest_version("alpha").await, "v1.0");
}

async fn table_bodies_need_a_description_and_one_to_a_thousand_unique_columns(app: TestApp) {
    app.create_product("alpha").await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["/columns", "/tableDescription"]),
        (json!({ "tableDescription": "T", "columns": [] }), vec!["/columns"]),
        (json!({ "tableDescription": "T", "columns": {} }), vec!["/columns"]),
        (json!({ "tableDescription": "d".repeat(4097), "columns": [col("a", "int")] }), vec!["/tableDescription"]),
        (json!({ "tableDescription": "T", "columns": [col("a", "int"), col("a", "string")] }), vec!["/columns/1/name"]),
        (
            json!({ "tableDescription": "T", "columns": [{ "type": "int", "description": "x" }] }),
            vec!["/columns/0/name"],
        ),
        (json!({ "tableDescription": "T", "columns": [{ "name": "a", "description": "x" }] }), vec!["/columns/0/type"]),
        (
            json!({ "tableDescription": "T", "columns": [{ "name": "a", "type": "int", "description": "" }] }),
            vec!["/columns/0/description"],
        ),
        (
            json!({ "tableDescription": "T", "columns": [col(&format!("a{}", "b".repeat(128)), "int")] }),
            vec!["/columns/0/name"],
        ),
        (json!({ "tableDescription": "T", "columns": [col("9a", "int")] }), vec!["/columns/0/name"]),
        (table_body("T", (0..1001).map(|i| col(&format!("c{i}"), "int")).collect()), vec!["/columns"]),
    ];
    for (body, fields) in cases {
        let problem = assert_problem(app.put_table("alpha", "t", &body).await, 422, "/problems/validation").await;
        assert_eq!(error_fields(&problem), fields, "{}", body.to_string().chars().take(200).collect::<String>());
    }
    // The edges that are allowed.
    let max = format!("a{}", "b".repeat(127));
    let result = app
        .put_table_ok(
            "alpha",
            "edges",
            &table_body(
                &"d".repeat(4096),
                vec![
                    col(&max, "int"),
                    col("_leading", "int"),
                    json!({ "name": "x", "type": "int", "description": "d".repeat(1024) }),
                ],
            ),
        )
        .await;
    assert_eq!(result["changeType"], "minor");
    assert_eq!(app.latest_version("alpha").await, "v1.1");
}

async fn a_table_may_have_a_thousand_columns(app: TestApp) {
    app.create_product("alpha").await;
    let body = table_body("Wide", (0..1000).map(|i| col(&format!("c{i:04}"), "bigint")).collect());
    let reply = expect(app.put_table("alpha", "wide", &body).await, 201).await;
    assert_eq!(reply.body["schema"]["columns"].as_array().unwrap().len(), 1000);
    let read_back = expect(app.get("/v1/data-products/alpha/schemas/wide").await, 200).await.body;
    assert_eq!(read_back["columns"][999]["name"], "c0999");
}

async fn table_names_that_break_the_rule_or_look_like_versions_are_400(app: TestApp) {
    app.create_product("alpha").await;
    let too_long = format!("t{}", "a".repeat(128));
    for bad in ["v1", "v12", "v1.2", "v10.20", "Bad", "1abc", "_t", "a-b", too_long.as_str()] {
        assert_problem(app.put_table("alpha", bad, &simple_table()).await, 400, "/problems/malformed-request").await;
        assert_problem(
            app.get(&format!("/v1/data-products/alpha/schemas/{bad}")).await,
            400,
            "/problems/malformed-request",
        )
        .await;
    }
    let longest = format!("t{}", "a".repeat(127));
    for good in ["v", "v1x", "version", "v1_2", "t", longest.as_str()] {
        let reply = expect(app.put_table("alpha", good, &simple_table()).await, 201).await;
        assert_eq!(reply.body["schema"]["name"], good);
    }
    assert_eq!(app.latest_version("alpha").await, "v1.6");
}

async fn deleting_a_table_makes_a_major_version_and_keeps_older_versions(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await; // v1.1
    app.put_table_ok("alpha", "u", &simple_table()).await; // v1.2
    let reply = expect(app.delete("/v1/data-products/alpha/schemas/t").await, 200).await;
    assert_eq!(reply.header("etag"), "\"v2.0\"");
    assert_eq!(reply.body["changeType"], "major");
    assert_eq!(kinds(&reply.body["changes"]), ["table_removed"]);
    assert_eq!(reply.body["changes"][0]["table"], "t");
    assert_eq!(reply.body["changes"][0]["class"], "major");
    assert_eq!(reply.body["dataProduct"]["version"], "v2.0");
    assert_eq!(reply.body["dataProduct"]["schemas"], json!([{ "name": "u", "id": "dp:alpha:v2.0:u" }]));
    assert_problem(app.get("/v1/data-products/alpha/schemas/t").await, 404, "/problems/not-found").await;
    let old = expect(app.get("/v1/data-products/alpha/versions/v1.2/schemas/t").await, 200).await.body;
    assert_eq!(old["id"], "dp:alpha:v1.2:t");
    let latest = expect(app.get("/v1/data-products/alpha/schemas").await, 200).await.body;
    assert_eq!(latest["items"].as_array().unwrap().len(), 1);
    assert_eq!(latest["items"][0]["id"], "dp:alpha:v2.0:u");
    assert_problem(app.delete("/v1/data-products/alpha/schemas/t").await, 404, "/problems/not-found").await;
    // The last table can go too.
    let reply = expect(app.delete("/v1/data-products/alpha/schemas/u").await, 200).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v3.0");
    assert_eq!(reply.body["dataProduct"]["schemas"], json!([]));
    // Putting a removed table back is a new table.
    let reply = expect(app.put_table("alpha", "t", &simple_table()).await, 201).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v3.1");
}

async fn a_table_delete_honours_if_match_and_dry_run(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await; // v1.1
    let dry = expect(app.delete("/v1/data-products/alpha/schemas/t?dryRun=true").await, 200).await;
    assert_eq!(dry.body["changeType"], "major");
    assert_eq!(dry.body["dataProduct"]["version"], "v2.0");
    assert_eq!(kinds(&dry.body["changes"]), ["table_removed"]);
    expect(app.get("/v1/data-products/alpha/schemas/t").await, 200).await;
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);

    let delete_with = |if_match: &'static str| {
        let app = app.clone();
        async move {
            app.send(app.request(Method::DELETE, "/v1/data-products/alpha/schemas/t").header("If-Match", if_match))
                .await
        }
    };
    assert_problem(delete_with("\"v1.0\"").await, 412, "/problems/precondition-failed").await;
    expect(app.get("/v1/data-products/alpha/schemas/t").await, 200).await;
    let reply = expect(delete_with("\"v1.1\"").await, 200).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v2.0");
}

async fn a_table_put_honours_if_match(app: TestApp) {
    app.create_product("alpha").await;
    let put_with = |if_match: &'static str, table: &'static str| {
        let app = app.clone();
        async move {
            app.send(
                app.request(Method::PUT, &format!("/v1/data-products/alpha/schemas/{table}"))
                    .header("If-Match", if_match)
                    .json(&simple_table()),
            )
            .await
        }
    };
    let reply = expect(put_with("\"v1.0\"", "t").await, 201).await;
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    assert_problem(put_with("\"v1.0\"", "u").await, 412, "/problems/precondition-failed").await;
    assert_problem(app.get("/v1/data-products/alpha/schemas/u").await, 404, "/problems/not-found").await;
    expect(put_with("\"v1.1\"", "u").await, 201).await;
    expect(put_with("\"v1.1\", \"v1.2\"", "w").await, 201).await;
    assert_eq!(app.version_list("alpha").await, ["v1.3", "v1.2", "v1.1", "v1.0"]);
}

async fn a_table_put_whose_expected_change_differs_is_409_with_the_changes(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &table_body("T", vec![col("a", "int"), col("b", "int")])).await; // v1.1
    let mut body = table_body("T", vec![col("a", "int")]);
    body["expectedChange"] = json!("minor");
    let problem = assert_problem(app.put_table("alpha", "t", &body).await, 409, "/problems/unexpected-change").await;
    assert_eq!(kinds(&problem["changes"]), ["column_removed"]);
    assert_eq!(problem["changes"][0]["column"], "b");
    assert_eq!(problem["changes"][0]["class"], "major");
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
    body["expectedChange"] = json!("none");
    assert_problem(app.put_table("alpha", "t", &body).await, 409, "/problems/unexpected-change").await;
    body["expectedChange"] = json!("major");
    let reply = expect(app.put_table("alpha", "t", &body).await, 200).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v2.0");

    let mut new_table = simple_table();
    new_table["expectedChange"] = json!("major");
    assert_problem(app.put_table("alpha", "u", &new_table).await, 409, "/problems/unexpected-change").await;
    new_table["expectedChange"] = json!("minor");
    expect(app.put_table("alpha", "u", &new_table).await, 201).await;
}

async fn a_table_dry_run_answers_200_and_writes_nothing(app: TestApp) {
    app.create_product("alpha").await;
    let reply = expect(app.put_json("/v1/data-products/alpha/schemas/t?dryRun=true", &simple_table()).await, 200).await;
    assert_eq!(reply.body["changeType"], "minor");
    assert_eq!(reply.body["dataProduct"]["version"], "v1.1");
    assert_eq!(reply.body["schema"]["id"], "dp:alpha:v1.1:t");
    assert_eq!(kinds(&reply.body["changes"]), ["table_added"]);
    assert_problem(app.get("/v1/data-products/alpha/schemas/t").await, 404, "/problems/not-found").await;
    assert_eq!(app.version_list("alpha").await, ["v1.0"]);
    let product = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(product["schemas"], json!([]));

    app.put_table_ok("alpha", "t", &simple_table()).await; // v1.1
    let breaking = table_body("A simple table", vec![col_not_null("id", "int")]);
    let reply = expect(app.put_json("/v1/data-products/alpha/schemas/t?dryRun=true", &breaking).await, 200).await;
    assert_eq!(reply.body["changeType"], "major");
    assert_eq!(reply.body["dataProduct"]["version"], "v2.0");
    let latest = expect(app.get("/v1/data-products/alpha/schemas/t").await, 200).await.body;
    assert_eq!(latest["columns"].as_array().unwrap().len(), 2);
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
}

async fn schema_reads_and_writes_of_unknown_products_or_tables_are_404(app: TestApp) {
    app.create_product("alpha").await;
    for path in [
        "/v1/data-products/alpha/schemas/nosuch",
        "/v1/data-products/nosuch/schemas",
        "/v1/data-products/nosuch/schemas/t",
    ] {
        assert_problem(app.get(path).await, 404, "/problems/not-found").await;
    }
    assert_problem(app.put_table("nosuch", "t", &simple_table()).await, 404, "/problems/not-found").await;
    assert_problem(app.delete("/v1/data-products/nosuch/schemas/t").await, 404, "/problems/not-found").await;
    assert_problem(app.delete("/v1/data-products/alpha/schemas/nosuch").await, 404, "/problems/not-found").await;
    assert_eq!(expect(app.get("/v1/data-products/alpha/schemas").await, 200).await.body, json!({ "items": [] }));
}

async fn tables_are_listed_by_name(app: TestApp) {
    app.create_product("alpha").await;
    for table in ["zeta", "alpha", "mid"] {
        app.put_table_ok("alpha", table, &simple_table()).await;
    }
    let list = expect(app.get("/v1/data-products/alpha/schemas").await, 200).await.body;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["version"], "v1.3");
        assert_eq!(item["id"], format!("dp:alpha:v1.3:{}", item["name"].as_str().unwrap()));
    }
}

both!(
    putting_a_new_table_answers_201_with_location_and_a_minor_version,
    replacing_a_table_answers_200_with_the_new_version,
    a_table_put_is_a_full_replacement,
    putting_an_identical_table_makes_no_version,
    column_types_are_stored_in_canonical_form,
    nesting_is_limited_to_ten_levels,
    bad_column_types_are_422_at_the_column_type,
    a_table_body_that_breaks_the_schema_lists_every_violation,
    table_bodies_need_a_description_and_one_to_a_thousand_unique_columns,
    a_table_may_have_a_thousand_columns,
    table_names_that_break_the_rule_or_look_like_versions_are_400,
    deleting_a_table_makes_a_major_version_and_keeps_older_versions,
    a_table_delete_honours_if_match_and_dry_run,
    a_table_put_honours_if_match,
    a_table_put_whose_expected_change_differs_is_409_with_the_changes,
    a_table_dry_run_answers_200_and_writes_nothing,
    schema_reads_and_writes_of_unknown_products_or_tables_are_404,
    tables_are_listed_by_name,
);

/// `struct<f0:ty,f1:ty,...>` with `fields` fields.
fn wide_struct(fields: usize, ty: &str) -> String {
    let list: Vec<String> = (0..fields).map(|i| format!("f{i}:{ty}")).collect();
    format!("struct<{}>", list.join(","))
}

async fn structs_over_spec_limits_are_a_quick_422_naming_the_limit(app: TestApp) {
    app.create_product("wide").await;
    let huge = table_body("Wide", vec![col("s", &wide_struct(85_000, "int"))]);
    let reply = read(app.put_table("wide", "t", &huge).await).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(error_fields(&reply.body), ["/columns/0/type"]);
    assert!(reply.text.contains("at most 1000 fields"), "{}", reply.text);
    assert!(reply.text.len() < 2000, "the 85,000-field type is echoed back: {} bytes", reply.text.len());

    // 20 structs of 499 fields inside one: 10,001 type nodes.
    let nodes = wide_struct(20, &wide_struct(499, "int"));
    let problem = assert_problem(
        app.put_table("wide", "t", &table_body("Wide", vec![col("s", &nodes)])).await,
        422,
        "/problems/validation",
    )
    .await;
    assert!(problem.to_string().contains("at most 10000 type nodes"), "{problem}");
    assert_eq!(app.version_list("wide").await, ["v1.0"], "a refused table made a version");
}

async fn a_thousand_field_struct_is_stored_widened_compared_and_exported(app: TestApp) {
    app.create_product("wide").await;
    let narrow = table_body("Wide", vec![col("s", &wide_struct(1000, "int"))]);
    assert_eq!(app.put_table_ok("wide", "t", &narrow).await["dataProduct"]["version"], "v1.1");
    // Every field widened, the last one moved to the front.
    let mut fields: Vec<String> = (0..999).map(|i| format!("f{i}:bigint")).collect();
    fields.insert(0, "f999:int".to_owned());
    let wider = table_body("Wide", vec![col("s", &format!("struct<{}>", fields.join(",")))]);
    let put = app.put_table_ok("wide", "t", &wider).await;
    assert_eq!(put["changeType"], "minor", "{}", put["changes"]);
    assert_eq!(kinds(&put["changes"]), ["column_type_changed"]);

    let compared = expect(app.get("/v1/data-products/wide/compare?from=v1.1&to=v1.2").await, 200).await.body;
    assert_eq!(compared["changeType"], "minor");
    let back = expect(app.get("/v1/data-products/wide/compare?from=v1.2&to=v1.1").await, 200).await.body;
    assert_eq!(back["changeType"], "major", "narrowing back is not a widening");

    let schema = expect(app.get("/v1/data-products/wide/versions/v1.2/schemas/t/json-schema").await, 200).await.body;
    let props = schema["properties"]["s"]["properties"].as_object().expect("struct properties");
    assert_eq!(props.len(), 1000);
    assert_eq!(props["f0"]["maximum"], i64::MAX);
    let contract = expect(app.get("/v1/data-products/wide/versions/v1.2/contract").await, 200).await.body;
    let fields = contract["schema"][0]["properties"][0]["properties"].as_array().expect("ODCS properties");
    assert_eq!(fields.len(), 1000);
}

both!(
    structs_over_spec_limits_are_a_quick_422_naming_the_limit,
    a_thousand_field_struct_is_stored_widened_compared_and_exported,
);
