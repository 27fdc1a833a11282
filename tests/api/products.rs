//! `/v1/data-products`: register, list, read, replace metadata, delete, restore, purge.
use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, error_fields, expect, kinds, metadata_body, product_body, read, simple_table,
};

fn assert_rfc3339_utc(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("a timestamp string: {value}"));
    assert!(text.ends_with('Z'), "{text} is in UTC");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {page}"))
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// The names a filtered list returns (one page of up to 200).
async fn list_names(app: &TestApp, query: &str) -> Vec<String> {
    let page = expect(app.get(&format!("/v1/data-products?{query}")).await, 200).await.body;
    names(&page)
}

async fn creating_a_product_answers_201_with_location_etag_and_the_product(app: TestApp) {
    let reply = expect(app.post_json("/v1/data-products", &product_body("prisons")).await, 201).await;
    assert_eq!(reply.header("location"), "/v1/data-products/prisons");
    assert_eq!(reply.header("etag"), "\"v1.0\"");
    let p = &reply.body;
    assert_eq!(p["id"], "dp:prisons");
    assert_eq!(p["name"], "prisons");
    assert_eq!(p["version"], "v1.0");
    assert_eq!(p["versionId"], "dp:prisons:v1.0");
    assert_eq!(p["description"], "The prisons data product");
    assert_eq!(p["domain"], "HMPPS");
    assert_eq!(p["dataProductOwner"], "owner@example.com");
    assert_eq!(p["dataProductOwnerDisplayName"], "Olive Owner");
    assert_eq!(p["email"], "team@example.com");
    assert_eq!(p["status"], "draft", "status defaults to draft");
    assert_eq!(p["retentionPeriod"], 365);
    assert_eq!(p["dpiaRequired"], false);
    assert_eq!(p["schemas"], json!([]));
    for absent in ["dataProductMaintainer", "dataProductMaintainerDisplayName", "dpiaLocation", "deletedAt"] {
        assert!(p.get(absent).is_none(), "{absent} should be absent: {p}");
    }
    assert!(p["tags"].as_object().is_none_or(|t| t.is_empty()));
    assert_rfc3339_utc(&p["createdAt"]);
    assert_rfc3339_utc(&p["updatedAt"]);
    assert!(p["createdBy"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(p["updatedBy"], p["createdBy"]);

    let read_back = expect(app.get(reply.header("location")).await, 200).await;
    assert_eq!(read_back.body, reply.body);
    assert_eq!(read_back.header("etag"), "\"v1.0\"");
}

async fn creating_a_product_with_every_optional_field_returns_them(app: TestApp) {
    let mut body = product_body("courts");
    body["dataProductMaintainer"] = json!("Maint@Example.com");
    body["dataProductMaintainerDisplayName"] = json!("Max Maintainer");
    body["dpiaLocation"] = json!("https://dpia.example.com/courts");
    body["status"] = json!("published");
    body["tags"] = json!({ "team": "data", "source.system": "nomis" });
    let p = app.create_product_with(&body).await;
    assert_eq!(p["dataProductMaintainer"], "Maint@Example.com");
    assert_eq!(p["dataProductMaintainerDisplayName"], "Max Maintainer");
    assert_eq!(p["dpiaLocation"], "https://dpia.example.com/courts");
    assert_eq!(p["status"], "published");
    assert_eq!(p["tags"], json!({ "team": "data", "source.system": "nomis" }));
}

async fn creating_a_product_whose_name_is_taken_answers_409_already_exists(app: TestApp) {
    app.create_product("prisons").await;
    let mut again = product_body("prisons");
    again["description"] = json!("Someone else's product");
    assert_problem(app.post_json("/v1/data-products", &again).await, 409, "/problems/already-exists").await;
    let p = expect(app.get("/v1/data-products/prisons").await, 200).await.body;
    assert_eq!(p["description"], "The prisons data product");
}

async fn a_create_that_breaks_the_schema_lists_every_violation_as_json_pointers(app: TestApp) {
    let body = json!({
        "name": 5,
        "description": "",
        "dataProductOwner": "not-an-email",
        "dataProductOwnerDisplayName": 7,
        "email": "team@",
        "status": "live",
        "retentionPeriod": 36501,
        "dpiaRequired": "yes",
        "dpiaLocation": "",
        "tags": { "Bad Key": "v", "ok": 5 },
        "colour": "blue"
    });
    let problem = assert_problem(app.post_json("/v1/data-products", &body).await, 422, "/problems/validation").await;
    assert_eq!(
        error_fields(&problem),
        vec![
            "/colour",
            "/dataProductOwner",
            "/dataProductOwnerDisplayName",
            "/description",
            "/domain",
            "/dpiaLocation",
            "/dpiaRequired",
            "/email",
            "/name",
            "/retentionPeriod",
            "/status",
            "/tags/Bad Key",
            "/tags/ok",
        ]
    );
    assert!(names(&expect(app.get("/v1/data-products").await, 200).await.body).is_empty());
}

async fn unknown_fields_in_a_create_are_refused_not_dropped(app: TestApp) {
    let mut body = product_body("extras");
    body["owner"] = json!("someone");
    body["Description"] = json!("wrong case");
    let problem = assert_problem(app.post_json("/v1/data-products", &body).await, 422, "/problems/validation").await;
    assert_eq!(error_fields(&problem), vec!["/Description", "/owner"]);
    assert_problem(app.get("/v1/data-products/extras").await, 404, "/problems/not-found").await;
}

async fn a_body_that_is_json_but_not_an_object_is_422(app: TestApp) {
    for body in [json!([1, 2]), json!("prisons"), json!(null), json!(42)] {
        let problem =
            assert_problem(app.post_json("/v1/data-products", &body).await, 422, "/problems/validation").await;
        assert!(!error_fields(&problem).is_empty(), "{body}");
    }
}

async fn product_names_must_follow_the_naming_rule(app: TestApp) {
    let long_ok = format!("a{}", "b".repeat(62));
    let too_long = format!("a{}", "b".repeat(63));
    for (name, accepted) in [
        ("ab", true),
        ("a1_b2", true),
        (long_ok.as_str(), true),
        ("a", false),
        ("Ab", false),
        ("1ab", false),
        ("_ab", false),
        ("ab-c", false),
        ("ab c", false),
        ("abé", false),
        ("", false),
        (too_long.as_str(), false),
    ] {
        let resp = app.post_json("/v1/data-products", &product_body(name)).await;
        if accepted {
            let p = expect(resp, 201).await.body;
            assert_eq!(p["name"], name);
        } else {
            let problem = assert_problem(resp, 422, "/problems/validation").await;
            assert_eq!(error_fields(&problem), vec!["/name"], "name {name:?}");
        }
    }
}

async fn metadata_fields_are_checked_against_their_bounds(app: TestApp) {
    let tags =
        |n: usize| Value::Object((0..n).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>());
    let long_key = "k".repeat(65);
    let long_key_pointer = format!("/tags/{long_key}");
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("description", json!("d".repeat(4096)), None),
        ("description", json!("d".repeat(4097)), Some("/description")),
        ("domain", json!("D".repeat(64)), None),
        ("domain", json!("D".repeat(65)), Some("/domain")),
        ("domain", json!(""), Some("/domain")),
        ("dataProductOwnerDisplayName", json!("n".repeat(256)), None),
        ("dataProductOwnerDisplayName", json!("n".repeat(257)), Some("/dataProductOwnerDisplayName")),
        ("dataProductOwner", json!("first.last@example.co.uk"), None),
        ("dataProductOwner", json!("owner.example.com"), Some("/dataProductOwner")),
        ("dataProductMaintainer", json!("@example.com"), Some("/dataProductMaintainer")),
        ("dataProductMaintainerDisplayName", json!("m".repeat(256)), None),
        ("dataProductMaintainerDisplayName", json!(""), Some("/dataProductMaintainerDisplayName")),
        ("email", json!("a b@example.com"), Some("/email")),
        ("email", json!(42), Some("/email")),
        ("status", json!("deprecated"), None),
        ("status", json!("retired"), None),
        ("status", json!("Published"), Some("/status")),
        ("retentionPeriod", json!(0), None),
        ("retentionPeriod", json!(36500), None),
        ("retentionPeriod", json!(-1), Some("/retentionPeriod")),
        ("retentionPeriod", json!(36501), Some("/retentionPeriod")),
        ("retentionPeriod", json!(1.5), Some("/retentionPeriod")),
        ("retentionPeriod", json!("30"), Some("/retentionPeriod")),
        ("dpiaRequired", json!(true), None),
        ("dpiaRequired", json!(1), Some("/dpiaRequired")),
        ("dpiaLocation", json!("l".repeat(2048)), None),
        ("dpiaLocation", json!("l".repeat(2049)), Some("/dpiaLocation")),
        ("tags", tags(50), None),
        ("tags", tags(51), Some("/tags")),
        ("tags", json!({ "a.b-c_9": "x" }), None),
        ("tags", json!({ "k".repeat(64): "x" }), None),
        ("tags", json!({ long_key.clone(): "x" }), Some(long_key_pointer.as_str())),
        ("tags", json!({ "Team": "x" }), Some("/tags/Team")),
        ("tags", json!({ "": "x" }), Some("/tags/")),
        ("tags", json!({ "team": "v".repeat(256) }), None),
        ("tags", json!({ "team": "v".repeat(257) }), Some("/tags/team")),
        ("tags", json!({ "team": true }), Some("/tags/team")),
        ("tags", json!(["team"]), Some("/tags")),
    ];
    let mut failures = Vec::new();
    for (i, (field, value, error)) in cases.into_iter().enumerate() {
        let name = format!("bounds_{i}");
        let mut body = product_body(&name);
        body[field] = value;
        let reply = read(app.post_json("/v1/data-products", &body).await).await;
        match error {
            None if reply.status.as_u16() != 201 => {
                failures.push(format!("{field} case {i} should be accepted, got {}: {}", reply.status, reply.text))
            }
            Some(pointer) if reply.status.as_u16() != 422 => {
                failures.push(format!("{field} case {i} should be refused at {pointer}, got {}", reply.status))
            }
            Some(pointer) => {
                let fields = error_fields(&reply.body);
                if fields != vec![pointer.to_owned()] {
                    failures.push(format!("{field} case {i}: expected only {pointer}, got {fields:?}"));
                }
            }
            None => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

async fn listing_filters_by_domain_status_owner_and_tag(app: TestApp) {
    let make = |name: &str, domain: &str, status: &str, owner: &str, tags: Value| {
        let mut body = product_body(name);
        body["domain"] = json!(domain);
        body["status"] = json!(status);
        body["dataProductOwner"] = json!(owner);
        body["tags"] = tags;
        body
    };
    for body in [
        make("alpha", "HMPPS", "published", "Alice@Example.com", json!({ "team": "data", "source": "s3:bucket/a" })),
        make("bravo", "HMPPS", "draft", "bob@example.com", json!({ "team": "ops" })),
        make("charlie", "HMCTS", "published", "alice@example.com", json!({ "pii": "" })),
        make("delta", "hmpps", "retired", "dan@example.com", json!({})),
    ] {
        app.create_product_with(&body).await;
    }
    assert_eq!(list_names(&app, "").await, ["alpha", "bravo", "charlie", "delta"], "ordered by name");
    assert_eq!(list_names(&app, "domain=HMPPS").await, ["alpha", "bravo"]);
    assert_eq!(list_names(&app, "domain=hmpps").await, ["delta"], "exact");
    assert_eq!(list_names(&app, "status=published").await, ["alpha", "charlie"]);
    assert_eq!(list_names(&app, "status=deprecated").await, Vec::<String>::new());
    assert_eq!(list_names(&app, "owner=ALICE%40example.COM").await, ["alpha", "charlie"], "owner is case-insensitive");
    assert_eq!(list_names(&app, "tag=team").await, ["alpha", "bravo"]);
    assert_eq!(list_names(&app, "tag=team:data").await, ["alpha"]);
    assert_eq!(list_names(&app, "tag=team:Data").await, Vec::<String>::new());
    assert_eq!(list_names(&app, "tag=source:s3:bucket/a").await, ["alpha"], "split at the first colon");
    assert_eq!(list_names(&app, "tag=pii").await, ["charlie"]);
    assert_eq!(list_names(&app, "tag=pii:").await, ["charlie"]);
    assert_eq!(list_names(&app, "tag=nope").await, Vec::<String>::new());
    assert_eq!(list_names(&app, "domain=HMPPS&status=published&tag=team").await, ["alpha"], "filters combine");
}

async fn list_filters_follow_metadata_updates(app: TestApp) {
    let mut body = product_body("alpha");
    body["tags"] = json!({ "team": "data" });
    app.create_product_with(&body).await;
    let mut update = metadata_body();
    update["domain"] = json!("OPG");
    update["status"] = json!("published");
    update["dataProductOwner"] = json!("new@example.com");
    update["description"] = json!("Now about probation");
    update["tags"] = json!({ "team": "ops" });
    expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(list_names(&app, "domain=OPG").await, ["alpha"]);
    assert!(list_names(&app, "domain=HMPPS").await.is_empty());
    assert_eq!(list_names(&app, "status=published").await, ["alpha"]);
    assert_eq!(list_names(&app, "owner=NEW%40example.com").await, ["alpha"]);
    assert!(list_names(&app, "owner=owner%40example.com").await.is_empty());
    assert_eq!(list_names(&app, "tag=team:ops").await, ["alpha"]);
    assert!(list_names(&app, "tag=team:data").await.is_empty());
    assert_eq!(list_names(&app, "q=probation").await, ["alpha"]);
}

async fn the_q_filter_is_case_insensitive_and_takes_wildcards_literally(app: TestApp) {
    for (name, description) in [
        ("pctone", "Grows 100% a year"),
        ("pcttwo", "Grows 100 percent a year"),
        ("under_score", "Plain words"),
        ("nounder", "Plain words again"),
        ("slashes", "A back\\slash here"),
        ("accents", "Une ÉCOLE publique"),
    ] {
        let mut body = product_body(name);
        body["description"] = json!(description);
        app.create_product_with(&body).await;
    }
    let q = |text: &str| {
        let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect::<Vec<_>>().concat();
        format!("q={encoded}")
    };
    assert_eq!(list_names(&app, &q("grows")).await, ["pctone", "pcttwo"]);
    assert_eq!(list_names(&app, &q("GROWS 100")).await, ["pctone", "pcttwo"]);
    assert_eq!(list_names(&app, &q("100%")).await, ["pctone"]);
    assert_eq!(list_names(&app, &q("%")).await, ["pctone"]);
    assert_eq!(list_names(&app, &q("_")).await, ["under_score"]);
    assert_eq!(list_names(&app, &q("r_s")).await, ["under_score"]);
    assert_eq!(list_names(&app, &q("e_s")).await, Vec::<String>::new());
    assert_eq!(list_names(&app, &q("\\")).await, ["slashes"]);
    assert_eq!(list_names(&app, &q("PCTT")).await, ["pcttwo"], "names match too");
    assert_eq!(list_names(&app, &q("école")).await, ["accents"]);
    assert_eq!(list_names(&app, &q("nothing like it")).await, Vec::<String>::new());
}

async fn lists_page_by_name_with_a_default_limit_of_50(app: TestApp) {
    let all: Vec<String> = (0..53).map(|i| format!("p{i:03}")).collect();
    for chunk in all.chunks(8) {
        futures::future::join_all(chunk.iter().map(|n| app.create_product(n))).await;
    }
    let first = expect(app.get("/v1/data-products").await, 200).await.body;
    assert_eq!(names(&first), all[..50]);
    let cursor = first["nextCursor"].as_str().expect("a nextCursor").to_owned();
    let second = expect(app.get(&format!("/v1/data-products?cursor={cursor}")).await, 200).await.body;
    assert_eq!(names(&second), all[50..]);
    assert!(second.get("nextCursor").is_none(), "the last page has none");

    let mut seen = Vec::new();
    let mut path = "/v1/data-products?limit=7".to_owned();
    loop {
        let page = expect(app.get(&path).await, 200).await.body;
        let page_names = names(&page);
        assert!(page_names.len() <= 7);
        seen.extend(page_names);
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/data-products?limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(list_names(&app, "limit=1").await, ["p000"]);
    assert_eq!(list_names(&app, "limit=200").await, all);
}

async fn a_reader_paging_through_sees_each_product_once_while_others_insert(app: TestApp) {
    let existing: Vec<String> = (0..40).map(|i| format!("p{:03}", i * 5)).collect();
    for chunk in existing.chunks(8) {
        futures::future::join_all(chunk.iter().map(|n| app.create_product(n))).await;
    }
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            // Names that fall before, between and after the existing ones.
            for i in 0..60 {
                let name = format!("p{:03}", (i * 7 + 1) % 200 + if i % 5 == 0 { 0 } else { 1 });
                let resp = app.post_json("/v1/data-products", &product_body(&name)).await;
                let status = resp.status().as_u16();
                assert!(status == 201 || status == 409, "create {name}: {status}");
            }
        })
    };
    let mut seen = Vec::new();
    let mut path = "/v1/data-products?limit=3".to_owned();
    loop {
        let page = expect(app.get(&path).await, 200).await.body;
        seen.extend(names(&page));
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/data-products?limit=3&cursor={c}"),
            None => break,
        }
    }
    writer.await.expect("the writer finished");
    assert!(list_names(&app, "limit=200").await.len() > existing.len(), "the writer inserted");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an item was seen twice: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "pages are in name order: {seen:?}");
    for name in &existing {
        assert!(unique.contains(name), "{name} existed throughout but was skipped");
    }
}

async fn bad_list_parameters_are_400_malformed_request(app: TestApp) {
    app.create_product("alpha").await;
    for query in [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=ten",
        "limit=",
        "cursor=%%%",
        "cursor=not-a-cursor!",
        "cursor=djp2MS4w", // base64url of a version cursor, `v:v1.0`
        "status=live",
        "includeDeleted=maybe",
    ] {
        assert_problem(app.get(&format!("/v1/data-products?{query}")).await, 400, "/problems/malformed-request").await;
    }
}

async fn reading_a_product_gives_its_etag_and_if_none_match_answers_304(app: TestApp) {
    app.create_product("alpha").await;
    let get = |inm: &'static str| {
        let app = app.clone();
        async move { app.send(app.request(Method::GET, "/v1/data-products/alpha").header("If-None-Match", inm)).await }
    };
    for held in ["\"v1.0\"", "W/\"v1.0\"", "\"v0.9\", \"v1.0\"", "*"] {
        let reply = expect(get(held).await, 304).await;
        assert_eq!(reply.header("etag"), "\"v1.0\"", "If-None-Match {held}");
        assert!(reply.text.is_empty());
    }
    let reply = expect(get("\"v0.9\"").await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.0\"");
    assert_eq!(reply.body["version"], "v1.0");

    let mut update = metadata_body();
    update["status"] = json!("published");
    expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    let reply = expect(get("\"v1.0\"").await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    assert_eq!(reply.body["status"], "published");
    expect(get("\"v1.1\"").await, 304).await;
}

async fn reading_an_unknown_or_misnamed_product_is_404_or_400(app: TestApp) {
    let problem = assert_problem(app.get("/v1/data-products/nosuch").await, 404, "/problems/not-found").await;
    assert_eq!(crate::helpers::instance_path(&problem), "/v1/data-products/nosuch");
    for bad in ["Bad", "a", "x-y", "1abc"] {
        assert_problem(app.get(&format!("/v1/data-products/{bad}")).await, 400, "/problems/malformed-request").await;
    }
}

async fn changing_metadata_makes_a_minor_version(app: TestApp) {
    app.create_product("alpha").await;
    let mut update = metadata_body();
    update["description"] = json!("Alpha, revised");
    update["status"] = json!("published");
    let reply = expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    let body = &reply.body;
    assert_eq!(body["changeType"], "minor");
    assert_eq!(body["dataProduct"]["version"], "v1.1");
    assert_eq!(body["dataProduct"]["versionId"], "dp:alpha:v1.1");
    assert_eq!(body["dataProduct"]["status"], "published");
    assert_eq!(body["dataProduct"]["description"], "Alpha, revised");
    let changes = body["changes"].as_array().expect("changes");
    let by_field: Vec<&str> = changes
        .iter()
        .map(|c| {
            assert_eq!(c["kind"], "metadata_changed");
            assert_eq!(c["class"], "minor");
            assert!(c["message"].as_str().is_some_and(|m| !m.is_empty()));
            c["field"].as_str().expect("a field")
        })
        .collect();
    let fields: BTreeSet<&str> = by_field.into_iter().collect();
    assert_eq!(fields, BTreeSet::from(["description", "status"]));
    let status = changes.iter().find(|c| c["field"] == "status").expect("a status change");
    assert_eq!(status["before"], "draft");
    assert_eq!(status["after"], "published");
    let description = changes.iter().find(|c| c["field"] == "description").expect("a description change");
    assert_eq!(description["before"], "The alpha data product");
    assert_eq!(description["after"], "Alpha, revised");

    let latest = expect(app.get("/v1/data-products/alpha").await, 200).await;
    assert_eq!(latest.header("etag"), "\"v1.1\"");
    assert_eq!(latest.body["status"], "published");
    assert_eq!(latest.body["createdAt"], body["dataProduct"]["createdAt"]);
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
}

async fn putting_identical_metadata_makes_no_version(app: TestApp) {
    let created = app.create_product("alpha").await;
    let mut same = product_body("alpha");
    same.as_object_mut().expect("an object").remove("name");
    let reply = expect(app.put_json("/v1/data-products/alpha", &same).await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.0\"");
    assert_eq!(reply.body["changeType"], "none");
    assert_eq!(reply.body["changes"], json!([]));
    assert_eq!(reply.body["dataProduct"]["version"], "v1.0");
    assert_eq!(reply.body["dataProduct"]["updatedAt"], created["updatedAt"]);
    assert_eq!(app.version_list("alpha").await, ["v1.0"]);
}

async fn a_metadata_put_replaces_every_field_and_drops_left_out_optionals(app: TestApp) {
    let mut body = product_body("alpha");
    body["dataProductMaintainer"] = json!("max@example.com");
    body["dataProductMaintainerDisplayName"] = json!("Max");
    body["dpiaLocation"] = json!("https://dpia");
    body["status"] = json!("published");
    body["tags"] = json!({ "team": "data" });
    app.create_product_with(&body).await;

    let mut update = metadata_body();
    update["description"] = json!("The alpha data product");
    let reply = expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(reply.body["changeType"], "minor");
    let p = &reply.body["dataProduct"];
    for gone in ["dataProductMaintainer", "dataProductMaintainerDisplayName", "dpiaLocation"] {
        assert!(p.get(gone).is_none(), "{gone} should be gone: {p}");
    }
    assert!(p["tags"].as_object().is_none_or(|t| t.is_empty()));
    assert_eq!(p["status"], "draft", "a left-out status is the default");
    let changes = reply.body["changes"].as_array().expect("changes");
    let fields: BTreeSet<&str> = changes.iter().filter_map(|c| c["field"].as_str()).collect();
    assert_eq!(
        fields,
        BTreeSet::from(
            ["dataProductMaintainer", "dataProductMaintainerDisplayName", "dpiaLocation", "status", "tags",]
        )
    );
    let maintainer = changes.iter().find(|c| c["field"] == "dataProductMaintainer").expect("the maintainer change");
    assert_eq!(maintainer["before"], "max@example.com");
    assert!(maintainer.get("after").is_none(), "absent after is omitted");
    let latest = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(&latest, p);
}

async fn a_metadata_put_may_repeat_the_name_but_not_change_it(app: TestApp) {
    app.create_product("alpha").await;
    let mut update = product_body("alpha");
    update["status"] = json!("published");
    let reply = expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(reply.body["changeType"], "minor");
    update["name"] = json!("beta");
    update["status"] = json!("retired");
    let problem =
        assert_problem(app.put_json("/v1/data-products/alpha", &update).await, 422, "/problems/validation").await;
    assert_eq!(error_fields(&problem), vec!["/name"]);
    assert_eq!(app.latest_version("alpha").await, "v1.1");
    assert_problem(app.get("/v1/data-products/beta").await, 404, "/problems/not-found").await;
}

async fn a_metadata_put_is_validated_like_a_create(app: TestApp) {
    app.create_product("alpha").await;
    let body = json!({
        "description": "x",
        "domain": "HMPPS",
        "dataProductOwner": "nope",
        "email": "team@example.com",
        "retentionPeriod": 10,
        "dpiaRequired": false,
        "expectedChange": "huge",
        "unknown": 1
    });
    let problem =
        assert_problem(app.put_json("/v1/data-products/alpha", &body).await, 422, "/problems/validation").await;
    assert_eq!(
        error_fields(&problem),
        vec!["/dataProductOwner", "/dataProductOwnerDisplayName", "/expectedChange", "/unknown"]
    );
    assert_eq!(app.latest_version("alpha").await, "v1.0");
}

async fn a_metadata_put_to_an_unknown_product_is_404(app: TestApp) {
    assert_problem(app.put_json("/v1/data-products/nosuch", &metadata_body()).await, 404, "/problems/not-found").await;
    assert_problem(
        app.put_json("/v1/data-products/Bad-Name", &metadata_body()).await,
        400,
        "/problems/malformed-request",
    )
    .await;
}

async fn a_metadata_put_with_a_stale_if_match_is_412_and_writes_nothing(app: TestApp) {
    app.create_product("alpha").await;
    let put = |if_match: &'static str, status: &'static str| {
        let app = app.clone();
        async move {
            let mut update = metadata_body();
            update["status"] = json!(status);
            app.send(app.request(Method::PUT, "/v1/data-products/alpha").header("If-Match", if_match).json(&update))
                .await
        }
    };
    let reply = expect(put("\"v1.0\"", "published").await, 200).await;
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    assert_problem(put("\"v1.0\"", "retired").await, 412, "/problems/precondition-failed").await;
    assert_problem(put("\"v7.3\"", "retired").await, 412, "/problems/precondition-failed").await;
    let p = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(p["status"], "published");
    assert_eq!(p["version"], "v1.1");
    let reply = expect(put("\"v1.1\"", "retired").await, 200).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v1.2");
    let reply = expect(put("*", "deprecated").await, 200).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v1.3", "`*` matches any current version");
}

async fn a_metadata_put_whose_expected_change_differs_is_409_with_the_changes(app: TestApp) {
    app.create_product("alpha").await;
    let mut update = metadata_body();
    update["description"] = json!("The alpha data product");
    update["domain"] = json!("OPG");
    update["expectedChange"] = json!("none");
    let problem =
        assert_problem(app.put_json("/v1/data-products/alpha", &update).await, 409, "/problems/unexpected-change")
            .await;
    assert_eq!(kinds(&problem["changes"]), ["metadata_changed"]);
    assert_eq!(problem["changes"][0]["field"], "domain");
    assert_eq!(problem["changes"][0]["before"], "HMPPS");
    assert_eq!(problem["changes"][0]["after"], "OPG");
    update["expectedChange"] = json!("major");
    assert_problem(app.put_json("/v1/data-products/alpha", &update).await, 409, "/problems/unexpected-change").await;
    assert_eq!(app.version_list("alpha").await, ["v1.0"]);

    update["expectedChange"] = json!("minor");
    let reply = expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(reply.body["changeType"], "minor");
    assert_eq!(reply.body["dataProduct"]["domain"], "OPG");

    // The same body again changes nothing: only `none` passes.
    for expected in ["minor", "major"] {
        update["expectedChange"] = json!(expected);
        let problem =
            assert_problem(app.put_json("/v1/data-products/alpha", &update).await, 409, "/problems/unexpected-change")
                .await;
        assert_eq!(problem["changes"], json!([]));
    }
    update["expectedChange"] = json!("none");
    let reply = expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(reply.body["changeType"], "none");
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
}

async fn a_metadata_dry_run_classifies_and_writes_nothing(app: TestApp) {
    app.create_product("alpha").await;
    let mut update = product_body("alpha");
    update["status"] = json!("published");
    let reply = expect(app.put_json("/v1/data-products/alpha?dryRun=true", &update).await, 200).await;
    assert_eq!(reply.body["changeType"], "minor");
    assert_eq!(reply.body["dataProduct"]["version"], "v1.1");
    assert_eq!(reply.body["dataProduct"]["status"], "published");
    assert_eq!(kinds(&reply.body["changes"]), ["metadata_changed"]);
    let p = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(p["version"], "v1.0");
    assert_eq!(p["status"], "draft");
    assert_eq!(app.version_list("alpha").await, ["v1.0"]);
    assert!(list_names(&app, "status=published").await.is_empty(), "a dry run leaves the list index alone");

    update["expectedChange"] = json!("none");
    assert_problem(
        app.put_json("/v1/data-products/alpha?dryRun=true", &update).await,
        409,
        "/problems/unexpected-change",
    )
    .await;
    update["expectedChange"] = json!("minor");
    expect(app.put_json("/v1/data-products/alpha?dryRun=false", &update).await, 200).await;
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
    assert_problem(
        app.put_json("/v1/data-products/alpha?dryRun=maybe", &update).await,
        400,
        "/problems/malformed-request",
    )
    .await;
}

async fn a_soft_deleted_product_is_hidden_from_reads_and_lists(app: TestApp) {
    app.create_product("alpha").await;
    app.create_product("bravo").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    expect(app.delete("/v1/data-products/alpha").await, 204).await;

    for path in [
        "/v1/data-products/alpha",
        "/v1/data-products/alpha/versions",
        "/v1/data-products/alpha/versions/v1.0",
        "/v1/data-products/alpha/versions/latest/schemas",
        "/v1/data-products/alpha/versions/v1.1/schemas/t",
        "/v1/data-products/alpha/schemas",
        "/v1/data-products/alpha/schemas/t",
        "/v1/data-products/alpha/compare?from=v1.0&to=v1.1",
        "/v1/resolve/dp:alpha",
        "/v1/resolve/dp:alpha:v1.1:t",
    ] {
        assert_problem(app.get(path).await, 404, "/problems/not-found").await;
    }
    assert_eq!(list_names(&app, "").await, ["bravo"]);
    assert_eq!(list_names(&app, "includeDeleted=false").await, ["bravo"]);

    let with_deleted = expect(app.get("/v1/data-products?includeDeleted=true").await, 200).await.body;
    assert_eq!(names(&with_deleted), ["alpha", "bravo"]);
    assert_rfc3339_utc(&with_deleted["items"][0]["deletedAt"]);
    assert!(with_deleted["items"][1].get("deletedAt").is_none());

    let p = expect(app.get("/v1/data-products/alpha?includeDeleted=true").await, 200).await.body;
    assert_eq!(p["version"], "v1.1");
    assert_rfc3339_utc(&p["deletedAt"]);
    let live = expect(app.get("/v1/data-products/bravo?includeDeleted=true").await, 200).await.body;
    assert!(live.get("deletedAt").is_none(), "a live product has no deletedAt");
}

async fn every_read_of_a_deleted_product_works_with_include_deleted(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    expect(app.delete("/v1/data-products/alpha").await, 204).await;
    for path in [
        "/v1/data-products/alpha?includeDeleted=true",
        "/v1/data-products/alpha/versions?includeDeleted=true",
        "/v1/data-products/alpha/versions/v1.0?includeDeleted=true",
        "/v1/data-products/alpha/versions/v1.1/schemas?includeDeleted=true",
        "/v1/data-products/alpha/versions/v1.1/schemas/t?includeDeleted=true",
        "/v1/data-products/alpha/schemas?includeDeleted=true",
        "/v1/data-products/alpha/schemas/t?includeDeleted=true",
        "/v1/data-products/alpha/compare?from=v1.0&to=v1.1&includeDeleted=true",
        "/v1/resolve/dp:alpha:v1.1:t?includeDeleted=true",
    ] {
        expect(app.get(path).await, 200).await;
    }
}

async fn writes_to_a_soft_deleted_product_are_409_conflict(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    expect(app.delete("/v1/data-products/alpha").await, 204).await;
    let mut update = metadata_body();
    update["status"] = json!("published");
    assert_problem(app.put_json("/v1/data-products/alpha", &update).await, 409, "/problems/conflict").await;
    assert_problem(app.put_table("alpha", "u", &simple_table()).await, 409, "/problems/conflict").await;
    assert_problem(app.delete("/v1/data-products/alpha/schemas/t").await, 409, "/problems/conflict").await;
    assert_problem(app.post_json("/v1/data-products", &product_body("alpha")).await, 409, "/problems/already-exists")
        .await;
    assert_problem(app.delete("/v1/data-products/alpha").await, 404, "/problems/not-found").await;
    let p = expect(app.get("/v1/data-products/alpha?includeDeleted=true").await, 200).await.body;
    assert_eq!(p["version"], "v1.1");
    assert_eq!(p["status"], "draft");
}

async fn restoring_brings_a_product_back_without_a_new_version(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    let before = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_problem(app.post("/v1/data-products/alpha/restore").await, 409, "/problems/conflict").await;
    expect(app.delete("/v1/data-products/alpha").await, 204).await;
    let reply = expect(app.post("/v1/data-products/alpha/restore").await, 200).await;
    assert_eq!(reply.body, before);
    assert_eq!(reply.header("etag"), "\"v1.1\"");
    let after = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(after, before);
    assert_eq!(app.version_list("alpha").await, ["v1.1", "v1.0"]);
    assert_eq!(list_names(&app, "").await, ["alpha"]);
    assert_problem(app.post("/v1/data-products/alpha/restore").await, 409, "/problems/conflict").await;
    assert_problem(app.post("/v1/data-products/nosuch/restore").await, 404, "/problems/not-found").await;
    let mut update = metadata_body();
    update["status"] = json!("published");
    let reply = expect(app.put_json("/v1/data-products/alpha", &update).await, 200).await;
    assert_eq!(reply.body["dataProduct"]["version"], "v1.2");
}

async fn purging_removes_every_version_and_frees_the_name(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    expect(app.delete("/v1/data-products/alpha?purge=true").await, 204).await;
    for path in ["/v1/data-products/alpha?includeDeleted=true", "/v1/data-products/alpha/versions/v1.0"] {
        assert_problem(app.get(path).await, 404, "/problems/not-found").await;
    }
    assert!(list_names(&app, "includeDeleted=true").await.is_empty());

    let again = app.create_product("alpha").await;
    assert_eq!(again["version"], "v1.0");
    assert_eq!(again["schemas"], json!([]));
    assert_eq!(app.version_list("alpha").await, ["v1.0"]);
    assert_problem(app.get("/v1/data-products/alpha/versions/v1.1").await, 404, "/problems/not-found").await;

    // A soft-deleted product can be purged too.
    expect(app.delete("/v1/data-products/alpha").await, 204).await;
    expect(app.delete("/v1/data-products/alpha?purge=true").await, 204).await;
    app.create_product("alpha").await;
    assert_problem(app.delete("/v1/data-products/nosuch?purge=true").await, 404, "/problems/not-found").await;
    assert_problem(app.delete("/v1/data-products/alpha?purge=perhaps").await, 400, "/problems/malformed-request").await;
}

async fn deleting_an_unknown_product_is_404(app: TestApp) {
    assert_problem(app.delete("/v1/data-products/nosuch").await, 404, "/problems/not-found").await;
}

both!(
    creating_a_product_answers_201_with_location_etag_and_the_product,
    creating_a_product_with_every_optional_field_returns_them,
    creating_a_product_whose_name_is_taken_answers_409_already_exists,
    a_create_that_breaks_the_schema_lists_every_violation_as_json_pointers,
    unknown_fields_in_a_create_are_refused_not_dropped,
    a_body_that_is_json_but_not_an_object_is_422,
    product_names_must_follow_the_naming_rule,
    metadata_fields_are_checked_against_their_bounds,
    listing_filters_by_domain_status_owner_and_tag,
    list_filters_follow_metadata_updates,
    the_q_filter_is_case_insensitive_and_takes_wildcards_literally,
    lists_page_by_name_with_a_default_limit_of_50,
    a_reader_paging_through_sees_each_product_once_while_others_insert,
    bad_list_parameters_are_400_malformed_request,
    reading_a_product_gives_its_etag_and_if_none_match_answers_304,
    reading_an_unknown_or_misnamed_product_is_404_or_400,
    changing_metadata_makes_a_minor_version,
    putting_identical_metadata_makes_no_version,
    a_metadata_put_replaces_every_field_and_drops_left_out_optionals,
    a_metadata_put_may_repeat_the_name_but_not_change_it,
    a_metadata_put_is_validated_like_a_create,
    a_metadata_put_to_an_unknown_product_is_404,
    a_metadata_put_with_a_stale_if_match_is_412_and_writes_nothing,
    a_metadata_put_whose_expected_change_differs_is_409_with_the_changes,
    a_metadata_dry_run_classifies_and_writes_nothing,
    a_soft_deleted_product_is_hidden_from_reads_and_lists,
    every_read_of_a_deleted_product_works_with_include_deleted,
    writes_to_a_soft_deleted_product_are_409_conflict,
    restoring_brings_a_product_back_without_a_new_version,
    purging_removes_every_version_and_frees_the_name,
    deleting_an_unknown_product_is_404,
);

async fn control_characters_are_refused_at_the_edge_on_every_backend(app: TestApp) {
    // Free text keeps tabs and line breaks; nothing keeps NUL or other controls.
    let mut multiline = product_body("texts");
    multiline["description"] = json!("Line one\nline two\r\n\tindented");
    let created = expect(app.post_json("/v1/data-products", &multiline).await, 201).await.body;
    assert_eq!(created["description"], json!("Line one\nline two\r\n\tindented"));

    for (member, value) in [
        ("/description", "nul \u{0} inside"),
        ("/description", "bell \u{7}"),
        ("/description", "c1 \u{85} control"),
        ("/domain", "HMPPS\u{0}"),
        ("/domain", "HM\tPPS"),
        ("/dataProductOwnerDisplayName", "Olive\nOwner"),
        ("/dpiaLocation", "https://example.com/\u{0}"),
        ("/tags/team", "a\u{0}b"),
    ] {
        let mut body = product_body("nul_test");
        match member.strip_prefix("/tags/") {
            Some(key) => body["tags"] = json!({ key: value }),
            None => body[&member[1..]] = json!(value),
        }
        let problem =
            assert_problem(app.post_json("/v1/data-products", &body).await, 422, "/problems/validation").await;
        assert_eq!(error_fields(&problem), [member], "{value:?}");
        assert!(problem.to_string().contains("control characters"), "{problem}");
    }
    // Anywhere in the body, member names included.
    let mut body = product_body("nul_test");
    body["bad\u{0}name"] = json!(1);
    assert_problem(app.post_json("/v1/data-products", &body).await, 422, "/problems/validation").await;
    let table =
        json!({ "tableDescription": "T", "columns": [{ "name": "a", "type": "int", "description": "x\u{0}" }] });
    let problem = assert_problem(app.put_table("texts", "t", &table).await, 422, "/problems/validation").await;
    assert_eq!(error_fields(&problem), ["/columns/0/description"]);
    assert_problem(app.get("/v1/data-products/nul_test").await, 404, "/problems/not-found").await;

    for query in
        ["q=%00", "q=a%01b", "domain=HMPPS%00", "owner=owner%40example.com%00", "tag=team%00", "tag=team:a%0Ab"]
    {
        let problem =
            assert_problem(app.get(&format!("/v1/data-products?{query}")).await, 400, "/problems/malformed-request")
                .await;
        assert!(!problem.to_string().contains('\u{0}'), "{problem}");
    }
    // A cursor that decodes to a NUL is as bad as any other broken cursor.
    assert_problem(app.get("/v1/data-products?cursor=bjoA").await, 400, "/problems/malformed-request").await;
    assert_problem(app.get("/v1/events?dataProduct=texts%00").await, 400, "/problems/malformed-request").await;
    assert_problem(app.get("/v1/events?dataProduct=%00").await, 400, "/problems/malformed-request").await;
    // Unicode beyond controls is fine in a filter.
    assert_eq!(list_names(&app, "q=%C3%A9t%C3%A9").await, Vec::<String>::new());
    assert_eq!(list_names(&app, "q=line%20two").await, ["texts"]);
}

both!(control_characters_are_refused_at_the_edge_on_every_backend);
