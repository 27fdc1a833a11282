//! Concurrent writers never share a version number and never lose a change; `If-Match`
//! lets exactly one of several racing writers win.
use std::collections::BTreeSet;

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, col, expect, product_body, read, simple_table, table_body};

fn version_parts(v: &str) -> (u32, u32) {
    let (major, minor) =
        v.strip_prefix('v').and_then(|v| v.split_once('.')).unwrap_or_else(|| panic!("not a version: {v}"));
    (major.parse().unwrap(), minor.parse().unwrap())
}

async fn concurrent_table_additions_each_get_their_own_consecutive_version(app: TestApp) {
    app.create_product("alpha").await;
    let writes = (0..32).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let table = format!("t{i:02}");
            let reply = read(app.put_table("alpha", &table, &simple_table()).await).await;
            (table, reply)
        })
    });
    let mut versions = Vec::new();
    for joined in join_all(writes).await {
        let (table, reply) = joined.expect("the writer finished");
        assert_eq!(reply.status.as_u16(), 201, "{table}: {}", reply.text);
        let body = &reply.body;
        assert_eq!(body["changeType"], "minor");
        // Each answer's changes are relative to the version it replaced: only its own table.
        assert_eq!(
            body["changes"],
            json!([{
                "kind": "table_added",
                "table": table,
                "class": "minor",
                "message": body["changes"][0]["message"]
            }]),
            "{table}"
        );
        let version = body["dataProduct"]["version"].as_str().unwrap().to_owned();
        assert_eq!(reply.header("etag"), format!("\"{version}\""));
        let tables = body["dataProduct"]["schemas"].as_array().unwrap().len();
        assert_eq!(tables as u32, version_parts(&version).1, "{version} holds one table per version so far");
        versions.push(version);
    }
    let distinct: BTreeSet<(u32, u32)> = versions.iter().map(|v| version_parts(v)).collect();
    let expected: BTreeSet<(u32, u32)> = (1..=32).map(|m| (1, m)).collect();
    assert_eq!(distinct, expected, "32 distinct consecutive versions: {versions:?}");

    let latest = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(latest["version"], "v1.32");
    let names: BTreeSet<String> =
        latest["schemas"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    let want: BTreeSet<String> = (0..32).map(|i| format!("t{i:02}")).collect();
    assert_eq!(names, want, "no table was lost");
    let tables = expect(app.get("/v1/data-products/alpha/schemas").await, 200).await.body;
    assert_eq!(tables["items"].as_array().unwrap().len(), 32);

    let list = app.version_list("alpha").await;
    let want: Vec<String> = (0..=32).rev().map(|m| format!("v1.{m}")).collect();
    assert_eq!(list, want);
}

async fn concurrent_blind_puts_of_one_table_all_apply_and_the_last_wins(app: TestApp) {
    app.create_product("alpha").await;
    app.put_table_ok("alpha", "t", &table_body("Base", vec![col("a", "int")])).await; // v1.1
    let writes = (0..16).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let body = table_body(&format!("Description {i}"), vec![col("a", "int")]);
            let reply = read(app.put_table("alpha", "t", &body).await).await;
            (i, reply)
        })
    });
    let mut by_version = Vec::new();
    for joined in join_all(writes).await {
        let (i, reply) = joined.expect("the writer finished");
        assert_eq!(reply.status.as_u16(), 200, "writer {i}: {}", reply.text);
        let version = reply.body["dataProduct"]["version"].as_str().unwrap().to_owned();
        assert_eq!(reply.body["schema"]["tableDescription"], format!("Description {i}"));
        by_version.push((version_parts(&version), i, reply.body["changeType"].clone()));
    }
    by_version.sort_by_key(|(v, _, _)| *v);
    let numbers: Vec<(u32, u32)> = by_version.iter().map(|(v, _, _)| *v).collect();
    let want: Vec<(u32, u32)> = (2..=17).map(|m| (1, m)).collect();
    assert_eq!(numbers, want, "16 distinct consecutive versions");
    for (_, i, change_type) in &by_version {
        assert_eq!(change_type, "minor", "writer {i} changed only the description");
    }
    let winner = by_version.last().unwrap().1;
    let latest = expect(app.get("/v1/data-products/alpha/schemas/t").await, 200).await.body;
    assert_eq!(latest["tableDescription"], format!("Description {winner}"), "the write with the highest version wins");
    assert_eq!(latest["version"], "v1.17");
    assert_eq!(app.version_list("alpha").await.len(), 2 + 16);
}

async fn of_racing_writers_with_the_same_if_match_exactly_one_wins(app: TestApp) {
    app.create_product("alpha").await;
    let writes = (0..12).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let reply = read(
                app.send(
                    app.request(Method::PUT, &format!("/v1/data-products/alpha/schemas/t{i}"))
                        .header("If-Match", "\"v1.0\"")
                        .json(&simple_table()),
                )
                .await,
            )
            .await;
            (i, reply)
        })
    });
    let mut won = Vec::new();
    for joined in join_all(writes).await {
        let (i, reply) = joined.expect("the writer finished");
        match reply.status.as_u16() {
            201 => won.push(i),
            412 => assert_eq!(reply.body["type"], "/problems/precondition-failed"),
            other => panic!("writer {i}: {other} {}", reply.text),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer wins: {won:?}");
    let latest = expect(app.get("/v1/data-products/alpha").await, 200).await.body;
    assert_eq!(latest["version"], "v1.1");
    assert_eq!(
        latest["schemas"],
        json!([{ "name": format!("t{}", won[0]), "id": format!("dp:alpha:v1.1:t{}", won[0]) }])
    );

    // The same holds for metadata writes.
    let writes = (0..8).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut body = product_body("alpha");
            body["retentionPeriod"] = json!(i + 1);
            app.send(app.request(Method::PUT, "/v1/data-products/alpha").header("If-Match", "\"v1.1\"").json(&body))
                .await
                .status()
                .as_u16()
        })
    });
    let statuses: Vec<u16> = join_all(writes).await.into_iter().map(|s| s.expect("the writer finished")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), 7, "{statuses:?}");
    assert_eq!(app.latest_version("alpha").await, "v1.2");
}

async fn racing_creates_of_one_name_make_exactly_one_product(app: TestApp) {
    let creates = (0..10).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut body = product_body("alpha");
            body["description"] = json!(format!("Creator {i}"));
            read(app.post_json("/v1/data-products", &body).await).await
        })
    });
    let replies: Vec<_> = join_all(creates).await.into_iter().map(|r| r.expect("the creator finished")).collect();
    let created = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status.as_u16() != 201) {
        assert_eq!(reply.status.as_u16(), 409, "{}", reply.text);
        assert_eq!(reply.body["type"], "/problems/already-exists");
    }
    assert_eq!(app.version_list("alpha").await, ["v1.0"]);
}

async fn concurrent_writes_to_different_products_do_not_interfere(app: TestApp) {
    let names: Vec<String> = (0..6).map(|i| format!("prod{i}")).collect();
    join_all(names.iter().map(|n| app.create_product(n))).await;
    let writes = names.iter().flat_map(|name| (0..5).map(move |i| (name.clone(), format!("t{i}"))));
    let tasks = writes.map(|(name, table)| {
        let app = app.clone();
        tokio::spawn(async move {
            let reply = read(app.put_table(&name, &table, &simple_table()).await).await;
            assert_eq!(reply.status.as_u16(), 201, "{name}/{table}: {}", reply.text);
        })
    });
    for joined in join_all(tasks).await {
        joined.expect("the writer finished");
    }
    for name in &names {
        assert_eq!(app.latest_version(name).await, "v1.5", "{name}");
        assert_eq!(app.version_list(name).await.len(), 6);
    }
}

async fn an_unquoted_if_match_is_refused_with_how_to_send_it(app: TestApp) {
    app.create_product("alpha").await;
    let put = |tag: &'static str| {
        app.request(Method::PUT, "/v1/data-products/alpha/schemas/t").header("If-Match", tag).json(&simple_table())
    };
    let unquoted = expect(app.send(put("v1.0")).await, 412).await.body;
    let detail = unquoted["detail"].as_str().expect("detail");
    assert!(detail.contains("not a quoted entity tag") && detail.contains("\"v1.0\""), "{detail}");
    let stale = expect(app.send(put("\"v0.9\"")).await, 412).await.body;
    assert!(stale["detail"].as_str().expect("detail").contains("does not match the current version"), "{stale}");
    expect(app.send(put("\"v1.0\"")).await, 201).await;
}

both!(
    an_unquoted_if_match_is_refused_with_how_to_send_it,
    concurrent_table_additions_each_get_their_own_consecutive_version,
    concurrent_blind_puts_of_one_table_all_apply_and_the_last_wins,
    of_racing_writers_with_the_same_if_match_exactly_one_wins,
    racing_creates_of_one_name_make_exactly_one_product,
    concurrent_writes_to_different_products_do_not_interfere,
);
