//! `/v1/data-products/{name}/versions` and `/compare`, and the versioning rules of
//! SPEC section 3 end to end.
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, col, col_not_null, expect, kinds, metadata_body, read, simple_table, table_body,
};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// v1.0 -> table `t` (v1.1) -> status (v1.2) -> column removed (v2.0) -> table `u` (v2.1).
async fn history(app: &TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    let mut update = metadata_body();
    update["description"] = json!("The alpha data product");
    update["status"] = json!("published");
    expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    app.put_table_ok("alpha", "t", &table_body("A simple table", vec![col_not_null("id", "int")])).await;
    app.put_table_ok("alpha", "u", &simple_table()).await;
}

async fn versions_are_listed_newest_first_with_their_changes(app: TestApp) {
    history(&app).await;
    let page = expect(app.get("/v1/data-products/alpha/versions").await, 200).await.body;
    assert!(page.get("nextCursor").is_none());
    let items = page["items"].as_array().expect("items");
    let summary: Vec<(&str, &str, &str, Vec<String>)> = items
        .iter()
        .map(|v| {
            assert!(v["createdBy"].as_str().is_some_and(|s| !s.is_empty()));
            let at = v["createdAt"].as_str().expect("createdAt");
            assert!(at.ends_with('Z'));
            chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
            (
                v["version"].as_str().expect("version"),
                v["id"].as_str().expect("id"),
                v["changeType"].as_str().expect("changeType"),
                kinds(&v["changes"]),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("v2.1", "dp:alpha:v2.1", "minor", vec!["table_added".to_owned()]),
            ("v2.0", "dp:alpha:v2.0", "major", vec!["column_removed".to_owned()]),
            ("v1.2", "dp:alpha:v1.2", "minor", vec!["metadata_changed".to_owned()]),
            ("v1.1", "dp:alpha:v1.1", "minor", vec!["table_added".to_owned()]),
            ("v1.0", "dp:alpha:v1.0", "major", vec![]),
        ]
    );
    let created_at: Vec<&str> = items.iter().map(|v| v["createdAt"].as_str().expect("createdAt")).collect();
    assert!(created_at.windows(2).all(|w| w[0] >= w[1]), "newest first: {created_at:?}");
    assert_eq!(items[2]["changes"][0]["field"], "status");
    assert_eq!(items[1]["changes"][0]["column"], "label");
    assert_eq!(items[1]["changes"][0]["table"], "t");
}

async fn the_version_list_pages_with_limit_and_cursor(app: TestApp) {
    history(&app).await;
    let mut seen = Vec::new();
    let mut path = "/v1/data-products/alpha/versions?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = expect(app.get(&path).await, 200).await.body;
        pages += 1;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|v| v["version"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/data-products/alpha/versions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["v2.1", "v2.0", "v1.2", "v1.1", "v1.0"]);
    assert_eq!(pages, 3);
    app.create_product("bravo").await;
    let products = expect(app.get("/v1/data-products?limit=1").await, 200).await;
    let product_cursor =
        products.body["nextCursor"].as_str().unwrap_or_else(|| panic!("a nextCursor: {}", products.text)).to_owned();
    for query in [
        "limit=0".to_owned(),
        "limit=201".to_owned(),
        "limit=x".to_owned(),
        "cursor=garbage!".to_owned(),
        format!("cursor={product_cursor}"),
    ] {
        assert_problem(
            app.get(&format!("/v1/data-products/alpha/versions?{query}")).await,
            400,
            "/problems/malformed-request",
        )
        .await;
    }
    assert_problem(app.get("/v1/data-products/nosuch/versions").await, 404, "/problems/not-found").await;
}

async fn the_version_list_defaults_to_50_per_page(app: TestApp) {
    app.create_product("alpha").await;
    for i in 1..=51 {
        let mut update = metadata_body();
        update["retentionPeriod"] = json!(i);
        expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    }
    let page = expect(app.get("/v1/data-products/alpha/versions").await, 200).await.body;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 50);
    assert_eq!(items[0]["version"], "v1.51");
    assert_eq!(items[49]["version"], "v1.2");
    let cursor = page["nextCursor"].as_str().expect("a nextCursor");
    let rest = expect(app.get(&format!("/v1/data-products/alpha/versions?cursor={cursor}")).await, 200).await.body;
    let versions: Vec<&str> =
        rest["items"].as_array().expect("items").iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["v1.1", "v1.0"]);
    assert!(rest.get("nextCursor").is_none());
}

async fn an_exact_version_is_immutable_and_cached_for_a_year(app: TestApp) {
    history(&app).await;
    for selector in ["v1.1", "1.1"] {
        let reply = expect(app.get(&format!("/v1/data-products/alpha/versions/{selector}")).await, 200).await;
        assert_eq!(reply.header("etag"), "\"v1.1\"", "a strong ETag");
        assert_eq!(reply.header("cache-control"), IMMUTABLE);
        let p = &reply.body;
        assert_eq!(p["version"], "v1.1");
        assert_eq!(p["versionId"], "dp:alpha:v1.1");
        assert_eq!(p["id"], "dp:alpha");
        assert_eq!(p["status"], "draft", "as of v1.1");
        assert_eq!(p["schemas"], json!([{ "name": "t", "id": "dp:alpha:v1.1:t" }]));
    }
    let v1_0 = expect(app.get("/v1/data-products/alpha/versions/v1.0").await, 200).await.body;
    assert_eq!(v1_0["schemas"], json!([]));
    assert_eq!(v1_0["updatedAt"], v1_0["createdAt"]);
    let v1_2 = expect(app.get("/v1/data-products/alpha/versions/v1.2").await, 200).await.body;
    assert_eq!(v1_2["status"], "published");
    assert_eq!(v1_2["createdAt"], v1_0["createdAt"]);
    assert_ne!(v1_2["updatedAt"], Value::Null);

    let reply = expect(
        app.send(app.request(Method::GET, "/v1/data-products/alpha/versions/v1.1").header("If-None-Match", "\"v1.1\""))
            .await,
        304,
    )
    .await;
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    assert_eq!(reply.header("cache-control"), IMMUTABLE, "a 304 keeps the caching rule");
    assert!(reply.text.is_empty());
    expect(
        app.send(app.request(Method::GET, "/v1/data-products/alpha/versions/v1.1").header("If-None-Match", "\"v1.0\""))
            .await,
        200,
    )
    .await;
}

async fn moving_selectors_name_the_latest_and_are_not_cached_for_long(app: TestApp) {
    history(&app).await;
    for (selector, version) in [("latest", "v2.1"), ("v1", "v1.2"), ("v2", "v2.1"), ("2", "v2.1")] {
        let reply = expect(app.get(&format!("/v1/data-products/alpha/versions/{selector}")).await, 200).await;
        assert_eq!(reply.body["version"], version, "{selector}");
        assert_eq!(reply.header("etag"), format!("\"{version}\""));
        let cache = reply.opt_header("cache-control").unwrap_or_default();
        assert!(
            !cache.contains("immutable") && !cache.contains("max-age=31536000"),
            "{selector} must not be cached as immutable: {cache}"
        );
    }
    let latest = expect(app.get("/v1/data-products/alpha").await, 200).await;
    assert!(!latest.opt_header("cache-control").unwrap_or_default().contains("immutable"));
}

async fn unknown_versions_are_404(app: TestApp) {
    history(&app).await;
    for path in [
        "/v1/data-products/alpha/versions/v9.9",
        "/v1/data-products/alpha/versions/v1.3",
        "/v1/data-products/alpha/versions/v0.1",
        "/v1/data-products/alpha/versions/v3",
        "/v1/data-products/alpha/versions/v0",
        "/v1/data-products/alpha/versions/v9.9/schemas",
        "/v1/data-products/alpha/versions/v9.9/schemas/t",
        "/v1/data-products/alpha/versions/v1.0/schemas/t",
        "/v1/data-products/alpha/versions/latest/schemas/nosuch",
        "/v1/data-products/nosuch/versions/v1.0",
        "/v1/data-products/nosuch/versions/latest/schemas",
    ] {
        assert_problem(app.get(path).await, 404, "/problems/not-found").await;
    }
}

async fn malformed_version_selectors_are_400(app: TestApp) {
    history(&app).await;
    for selector in ["v1.x", "1.2.3", "banana", "v", "latest1", "v-1", "vv1", "1.", ".1", "LATEST", "v1.2a"] {
        for path in [
            format!("/v1/data-products/alpha/versions/{selector}"),
            format!("/v1/data-products/alpha/versions/{selector}/schemas"),
            format!("/v1/data-products/alpha/versions/{selector}/schemas/t"),
        ] {
            assert_problem(app.get(&path).await, 400, "/problems/malformed-request").await;
        }
    }
    assert_problem(
        app.get("/v1/data-products/alpha/versions/v1.1/schemas/Bad").await,
        400,
        "/problems/malformed-request",
    )
    .await;
}

async fn tables_can_be_read_as_of_any_version(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t1", &table_body("First", vec![col("a", "int")])).await; // v1.1
    app.put_table_ok("alpha", "t2", &table_body("Second", vec![col("b", "string")])).await; // v1.2
    app.put_table_ok("alpha", "t1", &table_body("First", vec![col("a", "int"), col("c", "date")])).await; // v1.3

    let empty = expect(app.get("/v1/data-products/alpha/versions/v1.0/schemas").await, 200).await;
    assert_eq!(empty.body, json!({ "items": [] }));
    assert_eq!(empty.header("cache-control"), IMMUTABLE);

    let v1_1 = expect(app.get("/v1/data-products/alpha/versions/v1.1/schemas").await, 200).await.body;
    assert_eq!(
        v1_1,
        json!({ "items": [{
            "id": "dp:alpha:v1.1:t1",
            "name": "t1",
            "version": "v1.1",
            "tableDescription": "First",
            "columns": [{ "name": "a", "type": "int", "description": "The a column", "nullable": true }]
        }]})
    );

    // Unchanged in v1.2, but read in v1.2 it carries v1.2's id.
    let t1_in_v1_2 = expect(app.get("/v1/data-products/alpha/versions/v1.2/schemas/t1").await, 200).await;
    assert_eq!(t1_in_v1_2.body["id"], "dp:alpha:v1.2:t1");
    assert_eq!(t1_in_v1_2.body["version"], "v1.2");
    assert_eq!(t1_in_v1_2.body["columns"].as_array().unwrap().len(), 1);
    assert_eq!(t1_in_v1_2.header("etag"), "\"v1.2\"");
    assert_eq!(t1_in_v1_2.header("cache-control"), IMMUTABLE);

    let v1_2 = expect(app.get("/v1/data-products/alpha/versions/1.2").await, 200).await.body;
    assert_eq!(
        v1_2["schemas"],
        json!([
            { "name": "t1", "id": "dp:alpha:v1.2:t1" },
            { "name": "t2", "id": "dp:alpha:v1.2:t2" }
        ])
    );
    let latest_t1 = expect(app.get("/v1/data-products/alpha/versions/latest/schemas/t1").await, 200).await;
    assert_eq!(latest_t1.body["id"], "dp:alpha:v1.3:t1");
    assert_eq!(latest_t1.body["columns"].as_array().unwrap().len(), 2);
    assert!(!latest_t1.opt_header("cache-control").unwrap_or_default().contains("immutable"));
    let v1_tables = expect(app.get("/v1/data-products/alpha/versions/v1/schemas").await, 200).await.body;
    let ids: Vec<&str> = v1_tables["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["dp:alpha:v1.3:t1", "dp:alpha:v1.3:t2"]);
}

async fn compare_gives_the_direct_diff_in_the_order_asked(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &table_body("T", vec![col("a", "int"), col("b", "string")])).await; // v1.1
    app.put_table_ok("alpha", "t", &table_body("T", vec![col("a", "int"), col("b", "string"), col("c", "int")])).await; // v1.2
    app.put_table_ok("alpha", "t", &table_body("T", vec![col("a", "int"), col("c", "int")])).await; // v2.0

    let compare = |query: &'static str| {
        let app = app.clone();
        async move { expect(app.get(&format!("/v1/data-products/alpha/compare?{query}")).await, 200).await.body }
    };
    let forward = compare("from=v1.1&to=v2.0").await;
    assert_eq!(forward["from"], "v1.1");
    assert_eq!(forward["to"], "v2.0");
    assert_eq!(forward["changeType"], "major");
    let mut changes: Vec<(String, String, String)> = forward["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["column"].as_str().unwrap().to_owned(),
                c["class"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [("column_added".into(), "c".into(), "minor".into()), ("column_removed".into(), "b".into(), "major".into())]
    );

    let reverse = compare("from=v2.0&to=v1.1").await;
    assert_eq!(reverse["from"], "v2.0");
    assert_eq!(reverse["to"], "v1.1");
    assert_eq!(reverse["changeType"], "major");
    let mut changes: Vec<(String, String)> = reverse["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap().to_owned(), c["column"].as_str().unwrap().to_owned()))
        .collect();
    changes.sort();
    assert_eq!(changes, [("column_added".into(), "b".into()), ("column_removed".into(), "c".into())]);

    let minor = compare("from=v1.1&to=v1.2").await;
    assert_eq!(minor["changeType"], "minor");
    assert_eq!(kinds(&minor["changes"]), ["column_added"]);

    let same = compare("from=v1.2&to=1.2").await;
    assert_eq!(same, json!({ "from": "v1.2", "to": "v1.2", "changeType": "none", "changes": [] }));

    let moving = compare("from=1.0&to=latest").await;
    assert_eq!(moving["from"], "v1.0");
    assert_eq!(moving["to"], "v2.0", "selectors echo the exact version");
    assert_eq!(kinds(&moving["changes"]), ["table_added"]);
    let by_major = compare("from=v1&to=v2").await;
    assert_eq!(by_major["from"], "v1.2");
    assert_eq!(by_major["to"], "v2.0");
}

async fn compare_refuses_missing_or_bad_selectors_and_unknown_versions(app: TestApp) {
    app.create_product("alpha").await;
    for query in ["", "from=v1.0", "to=v1.0", "from=v1.x&to=v1.0", "from=v1.0&to=nope"] {
        assert_problem(
            app.get(&format!("/v1/data-products/alpha/compare?{query}")).await,
            400,
            "/problems/malformed-request",
        )
        .await;
    }
    for query in ["from=v1.0&to=v9.9", "from=v2&to=v1.0"] {
        assert_problem(app.get(&format!("/v1/data-products/alpha/compare?{query}")).await, 404, "/problems/not-found")
            .await;
    }
    assert_problem(app.get("/v1/data-products/nosuch/compare?from=v1.0&to=v1.0").await, 404, "/problems/not-found")
        .await;
}

async fn versions_number_major_and_minor_changes_from_the_latest(app: TestApp) {
    app.create_product("alpha").await;
    let mut steps = Vec::new();
    let t = |cols: Vec<Value>| table_body("T", cols);
    for body in [
        t(vec![col("a", "int")]),                  // v1.1 table added
        t(vec![col("a", "int"), col("b", "int")]), // v1.2 nullable column
        t(vec![col("b", "int")]),                  // v2.0 column removed
        t(vec![col("b", "bigint")]),               // v2.1 widened
        t(vec![col("b", "bigint")]),               // v2.1 nothing
        t(vec![col("b", "int")]),                  // v3.0 narrowed
        t(vec![col_not_null("b", "int")]),         // v4.0 not nullable
        t(vec![col("b", "int")]),                  // v4.1 nullable again
    ] {
        let result = app.put_table_ok("alpha", "t", &body).await;
        steps.push(format!(
            "{}:{}",
            result["changeType"].as_str().unwrap(),
            result["dataProduct"]["version"].as_str().unwrap()
        ));
    }
    assert_eq!(
        steps,
        ["minor:v1.1", "minor:v1.2", "major:v2.0", "minor:v2.1", "none:v2.1", "major:v3.0", "major:v4.0", "minor:v4.1"]
    );
    assert_eq!(app.version_list("alpha").await, ["v4.1", "v4.0", "v3.0", "v2.1", "v2.0", "v1.2", "v1.1", "v1.0"]);
}

/// The columns every rule case starts from.
fn base_columns() -> Vec<Value> {
    vec![
        col_not_null("id", "int"),
        col("tiny", "tinyint"),
        col("small", "smallint"),
        col("big", "bigint"),
        col("ratio", "float"),
        col("score", "double"),
        col("amount", "decimal(10,2)"),
        col("code", "char(3)"),
        col("label", "varchar(10)"),
        col("note", "string"),
        col("day", "date"),
        col("items", "array<int>"),
        col("attrs", "map<string,int>"),
        col("info", "struct<a:int,b:string>"),
        col("events", "array<struct<kind:string>>"),
    ]
}

fn base_table() -> Value {
    table_body("The rules table", base_columns())
}

type Edit = Box<dyn Fn(&mut Value)>;

fn retype(column: &'static str, ty: &'static str) -> Edit {
    Box::new(move |t| column_mut(t, column)["type"] = json!(ty))
}

fn column_mut<'a>(table: &'a mut Value, name: &str) -> &'a mut Value {
    table["columns"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn columns_mut(table: &mut Value) -> &mut Vec<Value> {
    table["columns"].as_array_mut().unwrap()
}

/// One rule of SPEC section 3: an edit of the base table, and what it must make.
struct Rule {
    name: &'static str,
    edit: Edit,
    change_type: &'static str,
    /// `(kind, class)` of every change, in any order.
    changes: Vec<(&'static str, &'static str)>,
    version: &'static str,
}

fn rule(name: &'static str, edit: Edit, changes: Vec<(&'static str, &'static str)>) -> Rule {
    let change_type = if changes.iter().any(|(_, c)| *c == "major") {
        "major"
    } else if changes.is_empty() {
        "none"
    } else {
        "minor"
    };
    let version = match change_type {
        "major" => "v2.0",
        "minor" => "v1.2",
        _ => "v1.1",
    };
    Rule { name, edit, change_type, changes, version }
}

fn rules() -> Vec<Rule> {
    let widen = |name, column, ty| rule(name, retype(column, ty), vec![("column_type_changed", "minor")]);
    let narrow = |name, column, ty| rule(name, retype(column, ty), vec![("column_type_changed", "major")]);
    vec![
        rule(
            "tableDescription changed",
            Box::new(|t| t["tableDescription"] = json!("A new description")),
            vec![("table_description_changed", "minor")],
        ),
        rule(
            "column added, nullable",
            Box::new(|t| columns_mut(t).push(col("extra", "int"))),
            vec![("column_added", "minor")],
        ),
        rule(
            "column added in the middle, nullable",
            Box::new(|t| columns_mut(t).insert(1, col("extra", "string"))),
            vec![("column_added", "minor")],
        ),
        rule(
            "column added, not nullable",
            Box::new(|t| columns_mut(t).push(col_not_null("extra", "int"))),
            vec![("column_added", "major")],
        ),
        rule(
            "column removed",
            Box::new(|t| columns_mut(t).retain(|c| c["name"] != "note")),
            vec![("column_removed", "major")],
        ),
        rule(
            "column renamed",
            Box::new(|t| column_mut(t, "note")["name"] = json!("remark")),
            vec![("column_removed", "major"), ("column_added", "minor")],
        ),
        widen("tinyint -> smallint", "tiny", "smallint"),
        widen("smallint -> int", "small", "int"),
        widen("int -> bigint", "id", "bigint"),
        widen("tinyint -> bigint (transitive)", "tiny", "bigint"),
        widen("tinyint -> int (transitive)", "tiny", "int"),
        widen("float -> double", "ratio", "double"),
        widen("decimal(10,2) -> decimal(12,2)", "amount", "decimal(12,2)"),
        widen("char(3) -> varchar(3)", "code", "varchar(3)"),
        widen("char(3) -> varchar(50)", "code", "varchar(50)"),
        widen("varchar(10) -> varchar(11)", "label", "varchar(11)"),
        widen("varchar(10) -> string", "label", "string"),
        widen("char(3) -> string", "code", "string"),
        widen("struct field added", "info", "struct<a:int,b:string,c:date>"),
        widen("struct fields reordered", "info", "struct<b:string,a:int>"),
        widen("struct field widened", "info", "struct<a:bigint,b:string>"),
        widen("array element widened", "items", "array<bigint>"),
        widen("map value widened", "attrs", "map<string,bigint>"),
        widen("field added to a struct inside an array", "events", "array<struct<kind:string,at:timestamp>>"),
        narrow("bigint -> int", "big", "int"),
        narrow("int -> smallint", "id", "smallint"),
        narrow("double -> float", "score", "float"),
        narrow("float -> int", "ratio", "int"),
        narrow("int -> string", "id", "string"),
        narrow("decimal scale changed", "amount", "decimal(12,3)"),
        narrow("decimal precision lowered", "amount", "decimal(8,2)"),
        narrow("date -> timestamp", "day", "timestamp"),
        narrow("varchar(10) -> varchar(9)", "label", "varchar(9)"),
        narrow("varchar(10) -> char(10)", "label", "char(10)"),
        narrow("char(3) -> char(4)", "code", "char(4)"),
        narrow("string -> varchar(100)", "note", "varchar(100)"),
        narrow("struct field removed", "info", "struct<a:int>"),
        narrow("struct field renamed", "info", "struct<a:int,c:string>"),
        narrow("array element narrowed", "items", "array<smallint>"),
        narrow("map key changed", "attrs", "map<varchar(5),int>"),
        narrow("map key changed to another type", "attrs", "map<int,int>"),
        narrow("field removed from a struct inside an array", "events", "array<struct<other:string>>"),
        narrow("array -> scalar", "items", "int"),
        rule(
            "nullable -> not nullable",
            Box::new(|t| column_mut(t, "note")["nullable"] = json!(false)),
            vec![("column_nullability_changed", "major")],
        ),
        rule(
            "not nullable -> nullable",
            Box::new(|t| column_mut(t, "id")["nullable"] = json!(true)),
            vec![("column_nullability_changed", "minor")],
        ),
        rule(
            "column description changed",
            Box::new(|t| column_mut(t, "note")["description"] = json!("Free text")),
            vec![("column_description_changed", "minor")],
        ),
        rule("columns reordered", Box::new(|t| columns_mut(t).swap(0, 1)), vec![("columns_reordered", "minor")]),
        rule("nothing changed", Box::new(|_| {}), vec![]),
        rule(
            "type spelled differently but the same",
            Box::new(|t| {
                column_mut(t, "amount")["type"] = json!("DECIMAL(10, 2)");
                column_mut(t, "id")["type"] = json!("Integer");
            }),
            vec![],
        ),
        rule(
            "nullable spelled out as the default",
            Box::new(|t| column_mut(t, "note")["nullable"] = json!(true)),
            vec![],
        ),
        rule(
            "minor and major parts make a major change",
            Box::new(|t| {
                columns_mut(t).push(col("extra", "int"));
                column_mut(t, "big")["type"] = json!("int");
                t["tableDescription"] = json!("Changed too");
            }),
            vec![("column_added", "minor"), ("column_type_changed", "major"), ("table_description_changed", "minor")],
        ),
        rule(
            "several minor parts make a minor change",
            Box::new(|t| {
                column_mut(t, "tiny")["type"] = json!("int");
                column_mut(t, "id")["nullable"] = json!(true);
                column_mut(t, "note")["description"] = json!("Free text");
            }),
            vec![
                ("column_type_changed", "minor"),
                ("column_nullability_changed", "minor"),
                ("column_description_changed", "minor"),
            ],
        ),
    ]
}

async fn every_versioning_rule_classifies_and_numbers_the_change(app: TestApp) {
    let mut failures = Vec::new();
    for (i, rule) in rules().into_iter().enumerate() {
        let product = format!("rule_{i}");
        app.create_product(&product).await;
        let base = app.put_table_ok(&product, "t", &base_table()).await;
        assert_eq!(base["dataProduct"]["version"], "v1.1");
        let mut changed = base_table();
        (rule.edit)(&mut changed);
        let reply = read(app.put_table(&product, "t", &changed).await).await;
        if reply.status.as_u16() != 200 {
            failures.push(format!("{}: status {} {}", rule.name, reply.status, reply.text));
            continue;
        }
        let body = &reply.body;
        let mut got: Vec<(String, String)> = body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["kind"].as_str().unwrap_or("?").to_owned(), c["class"].as_str().unwrap_or("?").to_owned()))
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> =
            rule.changes.iter().map(|(k, c)| (k.to_string(), c.to_string())).collect();
        want.sort();
        let version = body["dataProduct"]["version"].as_str().unwrap_or("?");
        let etag = reply.opt_header("etag").unwrap_or("?");
        if body["changeType"] != rule.change_type
            || got != want
            || version != rule.version
            || etag != format!("\"{}\"", rule.version)
        {
            failures.push(format!(
                "{}: expected {} {:?} at {}, got {} {:?} at {} (ETag {})",
                rule.name, rule.change_type, want, rule.version, body["changeType"], got, version, etag
            ));
        }
        for change in body["changes"].as_array().unwrap() {
            if change["table"] != "t"
                || change["message"].as_str().is_none_or(|m| m.is_empty())
                || (change["kind"].as_str().is_some_and(|k| k.starts_with("column_")) && !change["column"].is_string())
            {
                failures.push(format!("{}: incomplete change {change}", rule.name));
            }
        }
        let latest = app.latest_version(&product).await;
        if latest != rule.version {
            failures.push(format!("{}: latest is {latest}, not {}", rule.name, rule.version));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

async fn a_nested_type_change_is_reported_on_the_top_level_column(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &base_table()).await;
    let mut changed = base_table();
    column_mut(&mut changed, "info")["type"] = json!("STRUCT<a: INT, b: STRING, c: ARRAY<INT>>");
    column_mut(&mut changed, "attrs")["type"] = json!("map<string,tinyint>");
    let reply = expect(app.put_table("alpha", "t", &changed).await, 200).await;
    let changes = reply.body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let info = changes.iter().find(|c| c["column"] == "info").expect("info");
    assert_eq!(info["kind"], "column_type_changed");
    assert_eq!(info["table"], "t");
    assert_eq!(info["class"], "minor");
    assert_eq!(info["before"], "struct<a:int,b:string>");
    assert_eq!(info["after"], "struct<a:int,b:string,c:array<int>>");
    let attrs = changes.iter().find(|c| c["column"] == "attrs").expect("attrs");
    assert_eq!(attrs["kind"], "column_type_changed");
    assert_eq!(attrs["class"], "major");
    assert_eq!(attrs["before"], "map<string,int>");
    assert_eq!(attrs["after"], "map<string,tinyint>");
    assert_eq!(reply.body["changeType"], "major");
}

async fn each_change_is_reported_with_its_before_and_after(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &base_table()).await;
    let mut changed = base_table();
    changed["tableDescription"] = json!("Renamed");
    column_mut(&mut changed, "id")["nullable"] = json!(true);
    column_mut(&mut changed, "note")["description"] = json!("Free text");
    let reply = expect(app.put_table("alpha", "t", &changed).await, 200).await;
    let changes = reply.body["changes"].as_array().unwrap();
    let find =
        |kind: &str| changes.iter().find(|c| c["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {changes:?}"));
    let description = find("table_description_changed");
    assert_eq!(description["before"], "The rules table");
    assert_eq!(description["after"], "Renamed");
    assert!(description.get("column").is_none(), "absent fields are omitted");
    assert!(description.get("field").is_none(), "absent fields are omitted");
    let nullability = find("column_nullability_changed");
    assert_eq!(nullability["column"], "id");
    assert_eq!(nullability["before"], false);
    assert_eq!(nullability["after"], true);
    let column_description = find("column_description_changed");
    assert_eq!(column_description["before"], "The note column");
    assert_eq!(column_description["after"], "Free text");

    let added = app.put_table_ok("alpha", "u", &simple_table()).await;
    assert_eq!(
        added["changes"],
        json!([{ "kind": "table_added", "table": "u", "class": "minor", "message": added["changes"][0]["message"] }])
    );
}

async fn every_metadata_field_change_makes_a_minor_version(app: TestApp) {
    app.create_product("alpha").await;
    let mut current = metadata_body();
    current["description"] = json!("The alpha data product");
    let edits: Vec<(&str, Value)> = vec![
        ("description", json!("Changed")),
        ("domain", json!("OPG")),
        ("dataProductOwner", json!("other@example.com")),
        ("dataProductOwnerDisplayName", json!("Otto")),
        ("dataProductMaintainer", json!("max@example.com")),
        ("dataProductMaintainerDisplayName", json!("Max")),
        ("email", json!("team2@example.com")),
        ("status", json!("published")),
        ("status", json!("deprecated")),
        ("retentionPeriod", json!(30)),
        ("dpiaRequired", json!(true)),
        ("dpiaLocation", json!("https://dpia")),
        ("tags", json!({ "team": "data" })),
        ("tags", json!({ "team": "ops" })),
    ];
    for (i, (field, value)) in edits.into_iter().enumerate() {
        let before = current.get(field).cloned();
        current[field] = value.clone();
        let reply = expect(app.put_json("/v1/data-products/alpha", &current).await, 200).await;
        let body = &reply.body;
        let version = format!("v1.{}", i + 1);
        assert_eq!(body["changeType"], "minor", "{field}");
        assert_eq!(body["dataProduct"]["version"], version.as_str(), "{field}");
        assert_eq!(reply.header("etag"), format!("\"{version}\""));
        let changes = body["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{field}: {changes:?}");
        assert_eq!(changes[0]["kind"], "metadata_changed");
        assert_eq!(changes[0]["field"], field);
        assert_eq!(changes[0]["class"], "minor");
        assert_eq!(changes[0]["after"], value, "{field}");
        match before {
            Some(b) if field != "tags" => assert_eq!(changes[0]["before"], b, "{field}"),
            _ => {}
        }
        assert_eq!(body["dataProduct"][field], value, "{field}");
    }
    assert_eq!(app.version_list("alpha").await.len(), 15);
}

both!(
    versions_are_listed_newest_first_with_their_changes,
    the_version_list_pages_with_limit_and_cursor,
    the_version_list_defaults_to_50_per_page,
    an_exact_version_is_immutable_and_cached_for_a_year,
    moving_selectors_name_the_latest_and_are_not_cached_for_long,
    unknown_versions_are_404,
    malformed_version_selectors_are_400,
    tables_can_be_read_as_of_any_version,
    compare_gives_the_direct_diff_in_the_order_asked,
    compare_refuses_missing_or_bad_selectors_and_unknown_versions,
    versions_number_major_and_minor_changes_from_the_latest,
    every_versioning_rule_classifies_and_numbers_the_change,
    a_nested_type_change_is_reported_on_the_top_level_column,
    each_change_is_reported_with_its_before_and_after,
    every_metadata_field_change_makes_a_minor_version,
);
