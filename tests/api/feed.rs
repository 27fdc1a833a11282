//! SPEC section 4.7: the change feed is one total order that a reader passing back
//! `nextCursor` follows without gaps or duplicates, even under concurrent writers.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, col, expect, metadata_body, table_body};

async fn page(app: &TestApp, query: &str) -> Value {
    expect(app.get(&format!("/v1/events?{query}")).await, 200).await.body
}

fn types(items: &Value) -> Vec<String> {
    items.as_array().expect("items").iter().map(|e| e["type"].as_str().expect("type").to_owned()).collect()
}

async fn every_change_emits_its_event_in_order(app: TestApp) {
    app.create_product("fed").await;
    app.put_table_ok("fed", "t1", &table_body("T", vec![col("a", "int")])).await;
    let mut meta = metadata_body();
    meta["description"] = json!("Changed");
    expect(app.put_json("/v1/data-products/fed", &meta).await, 200).await;
    expect(app.put_json("/v1/data-products/fed", &meta).await, 200).await; // no change: no event
    expect(app.put_json("/v1/data-products/fed?dryRun=true", &metadata_body()).await, 200).await; // dry run: none
    app.put_table_ok("fed", "t1", &table_body("T", vec![col("a", "bigint")])).await;
    expect(app.delete("/v1/data-products/fed/schemas/t1").await, 200).await;
    expect(app.delete("/v1/data-products/fed").await, 204).await;
    expect(app.post("/v1/data-products/fed/restore").await, 200).await;
    expect(app.delete("/v1/data-products/fed?purge=true").await, 204).await;
    let body = page(&app, "dataProduct=fed").await;
    assert_eq!(
        types(&body["items"]),
        [
            "data_product.created",
            "schema.created",
            "data_product.updated",
            "schema.updated",
            "schema.deleted",
            "data_product.deleted",
            "data_product.restored",
            "data_product.purged"
        ]
    );
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["version"], "v1.0");
    assert_eq!(items[1]["table"], "t1");
    assert_eq!(items[1]["version"], "v1.1");
    assert_eq!(items[2]["data"]["changeType"], "minor");
    assert_eq!(items[4]["data"]["changeType"], "major");
    for e in items {
        assert_eq!(e["dataProduct"], "fed");
        assert_eq!(e["actor"], crate::helpers::ADMIN_SUB);
        assert!(e["id"].as_str().is_some_and(|id| id.len() == 36), "{e}");
        assert!(e["occurredAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    assert_eq!(body["nextCursor"], items.last().unwrap()["cursor"]);
    // Each event's cursor resumes right after it; an exhausted cursor stays put.
    let after_third = page(&app, &format!("dataProduct=fed&after={}", items[2]["cursor"].as_str().unwrap())).await;
    assert_eq!(types(&after_third["items"])[0], "schema.updated");
    let end = body["nextCursor"].as_str().unwrap();
    let nothing = page(&app, &format!("after={end}")).await;
    assert_eq!(nothing["items"], json!([]));
    assert_eq!(nothing["nextCursor"], end);
    // Type filter.
    let schema_events = page(&app, "type=schema.updated").await;
    assert_eq!(types(&schema_events["items"]), ["schema.updated"]);
}

async fn bad_feed_queries_are_400(app: TestApp) {
    for q in ["after=not-a-cursor!!", "limit=0", "limit=1001", "wait=31", "type=nope.nothing", "wait=-1"] {
        assert_problem(app.get(&format!("/v1/events?{q}")).await, 400, "/problems/malformed-request").await;
    }
    let empty = page(&app, "").await;
    assert_eq!(empty["items"], json!([]));
    assert!(empty["nextCursor"].is_string(), "nextCursor is always present: {empty}");
}

async fn a_reader_following_the_feed_sees_every_commit_once_and_in_order(app: TestApp) {
    const WRITERS: usize = 8;
    const CHANGES: usize = 200;
    let writers = (0..WRITERS).map(|w| {
        let app = app.clone();
        tokio::spawn(async move {
            let name = format!("writer_{w}");
            app.create_product(&name).await;
            for i in 0..CHANGES {
                let mut meta = metadata_body();
                meta["description"] = json!(format!("change {i}"));
                expect(app.put_json(&format!("/v1/data-products/{name}"), &meta).await, 200).await;
            }
        })
    });
    let reader = {
        let app = app.clone();
        tokio::spawn(async move {
            let expected = WRITERS * (CHANGES + 1);
            let mut seen: Vec<Value> = Vec::new();
            let mut cursor: Option<String> = None;
            let started = Instant::now();
            while seen.len() < expected {
                assert!(started.elapsed() < Duration::from_secs(300), "the reader saw {} of {expected}", seen.len());
                let query = match &cursor {
                    Some(c) => format!("limit=37&wait=1&after={c}"),
                    None => "limit=37&wait=1".to_owned(),
                };
                let body = page(&app, &query).await;
                seen.extend(body["items"].as_array().unwrap().iter().cloned());
                cursor = Some(body["nextCursor"].as_str().unwrap().to_owned());
            }
            seen
        })
    };
    for w in join_all(writers).await {
        w.expect("a writer finished");
    }
    let seen = reader.await.expect("the reader finished");
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "the reader saw an event twice");
    // What was committed is exactly what the reader saw, in the same order.
    let all = page(&app, "limit=1000").await["items"].as_array().unwrap().clone();
    let rest = page(&app, &format!("limit=1000&after={}", all.last().unwrap()["cursor"].as_str().unwrap())).await;
    let committed: Vec<&str> =
        all.iter().chain(rest["items"].as_array().unwrap()).map(|e| e["id"].as_str().unwrap()).collect();
    let read: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(read, committed, "the reader's sequence differs from the committed feed");
    // Per product, versions arrive in order with no gap.
    let mut last: HashMap<&str, (u32, u32)> = HashMap::new();
    for e in &seen {
        let product = e["dataProduct"].as_str().unwrap();
        let v = e["version"].as_str().unwrap().trim_start_matches('v');
        let (major, minor) = v.split_once('.').unwrap();
        let now = (major.parse().unwrap(), minor.parse().unwrap());
        if let Some(prev) = last.insert(product, now) {
            assert_eq!(now, (prev.0, prev.1 + 1), "{product}: {prev:?} then {now:?}");
        } else {
            assert_eq!(now, (1, 0), "{product} starts at v1.0");
        }
    }
    assert_eq!(last.len(), WRITERS);
}

async fn a_waiting_reader_wakes_when_an_event_commits(app: TestApp) {
    let cursor = page(&app, "").await["nextCursor"].as_str().unwrap().to_owned();
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.create_product("woken").await;
        })
    };
    let started = Instant::now();
    let body = page(&app, &format!("after={cursor}&wait=20")).await;
    let waited = started.elapsed();
    writer.await.unwrap();
    assert_eq!(types(&body["items"]), ["data_product.created"]);
    assert!(waited < Duration::from_secs(10), "the reader slept {waited:?} of its 20 s after the event committed");
    // With nothing to come, the wait runs out and the cursor stays.
    let end = body["nextCursor"].as_str().unwrap();
    let idle = page(&app, &format!("after={end}&wait=1")).await;
    assert_eq!(idle["items"], json!([]));
    assert_eq!(idle["nextCursor"], end);
}

both!(
    every_change_emits_its_event_in_order,
    bad_feed_queries_are_400,
    a_reader_following_the_feed_sees_every_commit_once_and_in_order,
    a_waiting_reader_wakes_when_an_event_commits,
);
