//! The version store (SPEC 8.1): versions share the tables they did not change, a write
//! stores only what it changed, a product holds at most 1,000 tables, and replicas keep
//! moving selectors, the feed and idempotency exact between them.
use std::collections::BTreeSet;

use futures::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, col, expect, metadata_body, read, table_body};

async fn db(app: &TestApp) -> DatabaseConnection {
    Database::connect(app.database_url.as_str()).await.expect("a connection to the application's database")
}

async fn count(conn: &DatabaseConnection, table: &str) -> i64 {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}")))
        .await
        .expect("a count")
        .expect("a row");
    row.try_get("", "n").expect("a number")
}

/// Rows that stored blobs and table intervals: what a write has added to the store.
async fn stored(conn: &DatabaseConnection) -> (i64, i64) {
    (count(conn, "schema_blobs").await, count(conn, "version_tables").await)
}

fn table_n(i: usize) -> Value {
    table_body(&format!("Table {i}"), (0..5).map(|c| col(&format!("c{c}"), "int")).collect())
}

async fn a_write_stores_only_what_it_changed(app: TestApp) {
    app.create_product("shared").await;
    for i in 0..30 {
        app.put_table_ok("shared", &format!("t{i:02}"), &table_n(i)).await;
    }
    let conn = db(&app).await;
    let before = stored(&conn).await;
    assert_eq!(before, (30, 30), "one blob and one interval per table so far");
    let v31 = expect(app.get("/v1/data-products/shared/versions/v1.30/schemas").await, 200).await.body;

    // A metadata change stores no table at all.
    let mut meta = metadata_body();
    meta["description"] = json!("a new description");
    let changed = expect(app.put_json("/v1/data-products/shared", &meta).await, 200).await.body;
    assert_eq!(changed["dataProduct"]["version"], "v1.31");
    assert_eq!(stored(&conn).await, before, "a metadata change stored table rows");

    // A table change stores one blob and one interval, whatever the product's size (a
    // major change: columns removed, so v2.0).
    app.put_table_ok("shared", "t07", &table_body("Table 7, changed", vec![col("c0", "bigint")])).await;
    assert_eq!(stored(&conn).await, (31, 31));

    // Content another table already has is not stored again.
    app.put_table_ok("shared", "copy_of_t03", &table_n(3)).await;
    assert_eq!(stored(&conn).await, (31, 32), "equal content shares its blob");

    // Removing a table stores nothing new; putting it back as it was reuses its blob.
    expect(app.delete("/v1/data-products/shared/schemas/t05").await, 200).await;
    app.put_table_ok("shared", "t05", &table_n(5)).await;
    assert_eq!(stored(&conn).await, (31, 33));

    // Every version still reads exactly as it did.
    let again = expect(app.get("/v1/data-products/shared/versions/v1.30/schemas").await, 200).await.body;
    assert_eq!(again, v31);
    let v3 = expect(app.get("/v1/data-products/shared/versions/v3.0/schemas").await, 200).await.body;
    let names: Vec<&str> = v3["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"t05") && names.contains(&"copy_of_t03") && names.len() == 30, "{names:?}");
    let t07 = expect(app.get("/v1/data-products/shared/versions/v1.31/schemas/t07").await, 200).await.body;
    assert_eq!(t07["tableDescription"], "Table 7", "v1.31 still has the old t07");
    assert_eq!(t07["id"], "dp:shared:v1.31:t07");
    let t07 = expect(app.get("/v1/data-products/shared/versions/v2.0/schemas/t07").await, 200).await.body;
    assert_eq!(t07["tableDescription"], "Table 7, changed");
    let diff = expect(app.get("/v1/data-products/shared/compare?from=v1.30&to=v3.1").await, 200).await.body;
    let kinds: BTreeSet<&str> =
        diff["changes"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "metadata_changed",
            "table_added",
            "column_type_changed",
            "column_removed",
            "table_description_changed"
        ]),
        "{diff}"
    );
}

async fn a_product_holds_at_most_a_thousand_tables(app: TestApp) {
    app.create_product("huge").await;
    let body = table_body("T", vec![col("a", "int")]);
    let writes = (0..8).map(|w| {
        let app = app.clone();
        let body = body.clone();
        tokio::spawn(async move {
            for i in (w..1000).step_by(8) {
                let reply = read(app.put_table("huge", &format!("t{i:04}"), &body).await).await;
                assert_eq!(reply.status.as_u16(), 201, "t{i:04}: {}", reply.text);
            }
        })
    });
    for joined in join_all(writes).await {
        joined.expect("a writer finished");
    }
    let refused = read(app.put_table("huge", "one_too_many", &body).await).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    assert_eq!(refused.body["type"], "/problems/validation");
    assert!(refused.text.contains("1000"), "the limit is named: {}", refused.text);
    // Replacing a table that exists is still fine at the limit.
    app.put_table_ok("huge", "t0000", &table_body("T changed", vec![col("a", "int")])).await;
    let latest = expect(app.get("/v1/data-products/huge").await, 200).await.body;
    assert_eq!(latest["schemas"].as_array().unwrap().len(), 1000);
    assert_eq!(latest["version"], "v1.1001");
}

async fn another_replica_sees_a_change_when_its_notification_arrives(app: TestApp) {
    let other = app.replica().await;
    app.create_product("moving").await;
    // The other replica reads (and caches) the product at v1.0.
    let first = expect(other.app.get("/v1/data-products/moving").await, 200).await.body;
    assert_eq!(first["version"], "v1.0");
    expect(other.app.get("/v1/data-products/moving/versions/v1").await, 200).await;
    app.put_table_ok("moving", "t", &table_body("T", vec![col("a", "int")])).await;
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = expect(other.app.get("/v1/data-products/moving").await, 200).await.body;
        if seen["version"] == "v1.1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen["version"], "v1.1", "the other replica never saw the change");
    let by_major = expect(other.app.get("/v1/data-products/moving/versions/v1").await, 200).await.body;
    assert_eq!(by_major["version"], "v1.1");
    // A delete on one replica hides the product on the other as soon as it hears of it.
    expect(app.delete("/v1/data-products/moving").await, 204).await;
    let mut status = 200;
    for _ in 0..100 {
        status = other.app.get("/v1/data-products/moving/versions/v1.0").await.status().as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 404, "the deleted product was still served by the other replica");
}

async fn writers_on_two_replicas_keep_the_feed_and_versions_exact(app: TestApp) {
    let other = app.replica().await;
    for p in ["left", "right"] {
        app.create_product(p).await;
    }
    // A reader follows the feed on the second replica while 8 writers (4 on each replica)
    // add 10 tables each, all to two products.
    let reader = {
        let app = other.app.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Value> = Vec::new();
            let mut cursor = String::new();
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            while seen.len() < 82 && tokio::time::Instant::now() < deadline {
                let path = if cursor.is_empty() {
                    "/v1/events?limit=7&wait=2".to_owned()
                } else {
                    format!("/v1/events?limit=7&wait=2&after={cursor}")
                };
                let page = expect(app.get(&path).await, 200).await.body;
                seen.extend(page["items"].as_array().unwrap().iter().cloned());
                cursor = page["nextCursor"].as_str().unwrap().to_owned();
            }
            seen
        })
    };
    let writers = (0..8).map(|w| {
        let target = if w % 2 == 0 { app.clone() } else { other.app.clone() };
        tokio::spawn(async move {
            for i in 0..10 {
                let product = if i % 2 == 0 { "left" } else { "right" };
                target.put_table_ok(product, &format!("w{w}_{i}"), &table_body("T", vec![col("a", "int")])).await;
            }
        })
    });
    for joined in join_all(writers).await {
        joined.expect("a writer finished");
    }
    let followed = reader.await.expect("the reader finished");
    let all = expect(app.get("/v1/events?limit=1000").await, 200).await.body;
    let all = all["items"].as_array().unwrap().clone();
    assert_eq!(all.len(), 82, "2 creations and 80 table additions");
    let ids = |events: &[Value]| events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&followed), ids(&all), "the follower saw every event once, in the feed's order");
    for p in ["left", "right"] {
        let versions: BTreeSet<String> = all
            .iter()
            .filter(|e| e["dataProduct"] == p && e["type"] == "schema.created")
            .map(|e| e["version"].as_str().unwrap().to_owned())
            .collect();
        let want: BTreeSet<String> = (1..=40).map(|m| format!("v1.{m}")).collect();
        assert_eq!(versions, want, "{p}: one event per version, no gaps");
    }

    // One Idempotency-Key sent to both replicas at once applies once.
    let key = "two-replicas-one-key";
    let send = |target: TestApp| async move {
        read(
            target
                .send(
                    target
                        .request(reqwest::Method::PUT, "/v1/data-products/left/schemas/once")
                        .header("Idempotency-Key", key)
                        .json(&table_body("T", vec![col("a", "int")])),
                )
                .await,
        )
        .await
    };
    let (a, b) = tokio::join!(send(app.clone()), send(other.app.clone()));
    let statuses = BTreeSet::from([a.status.as_u16(), b.status.as_u16()]);
    assert!(statuses == BTreeSet::from([201]) || statuses == BTreeSet::from([201, 409]), "{statuses:?}");
    let latest = expect(app.get("/v1/data-products/left").await, 200).await.body;
    assert_eq!(latest["version"], "v1.41", "the table was added once");
}

async fn concurrent_changes_of_one_table_are_each_classed_against_the_version_before(app: TestApp) {
    let other = app.replica().await;
    app.create_product("flip").await;
    let narrow = table_body("T", vec![col("a", "int")]);
    let wide = table_body("T", vec![col("a", "int"), col("b", "int")]);
    app.put_table_ok("flip", "t", &narrow).await;
    // Eight writers on two replicas flip one table between two shapes. A change computed
    // from a read another writer has overtaken must not be recorded as made.
    let writers = (0..8).map(|w| {
        let target = if w % 2 == 0 { app.clone() } else { other.app.clone() };
        let (narrow, wide) = (narrow.clone(), wide.clone());
        tokio::spawn(async move {
            for i in 0..8 {
                let body = if (w + i) % 2 == 0 { &wide } else { &narrow };
                target.put_table_ok("flip", "t", body).await;
            }
        })
    });
    for joined in join_all(writers).await {
        joined.expect("a writer finished");
    }
    let list = expect(app.get("/v1/data-products/flip/versions?limit=200").await, 200).await.body;
    let mut versions = list["items"].as_array().expect("versions").clone();
    versions.reverse();
    assert!(versions.len() > 3, "the writers made versions: {versions:?}");
    let mut before = 0;
    for v in &versions[1..] {
        let name = v["version"].as_str().expect("version");
        let path = format!("/v1/data-products/flip/versions/{name}/schemas/t");
        let columns = expect(app.get(&path).await, 200).await.body["columns"].as_array().expect("columns").len();
        assert_ne!(columns, before, "{name} changed the table");
        let want = if columns > before { "minor" } else { "major" };
        assert_eq!(v["changeType"], want, "{name} went from {before} to {columns} columns");
        before = columns;
    }
}

both!(a_write_stores_only_what_it_changed, a_product_holds_at_most_a_thousand_tables);
postgres_only!(
    another_replica_sees_a_change_when_its_notification_arrives,
    writers_on_two_replicas_keep_the_feed_and_versions_exact,
    concurrent_changes_of_one_table_are_each_classed_against_the_version_before
);
