//! SPEC section 4.9: `GET /v1/stats`.
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect, mint_token, product_body, simple_table};

async fn stats(app: &TestApp) -> Value {
    expect(app.get("/v1/stats").await, 200).await.body
}

async fn stats_count_what_is_live(app: TestApp) {
    let empty = stats(&app).await;
    assert_eq!(empty["dataProducts"]["total"], 0);
    assert_eq!(empty["dataProducts"]["byDomain"], json!({}));
    assert_eq!(
        empty["dataProducts"]["byStatus"],
        json!({"draft": 0, "published": 0, "deprecated": 0, "retired": 0}),
        "every status is listed"
    );
    assert_eq!(empty["versions"], 0);
    assert_eq!(empty["tables"], 0);
    assert_eq!(empty["events"], 0);
    assert_eq!(
        empty["uploads"]["byStatus"],
        json!({"pending": 0, "received": 0, "validated": 0, "rejected": 0, "expired": 0})
    );

    // prisons (HMPPS, published): v1.0, v1.1 (+ table a), v1.2 (+ table b) -> 3 versions, 2 tables.
    let mut prisons = product_body("prisons");
    prisons["status"] = json!("published");
    app.create_product_with(&prisons).await;
    app.put_table_ok("prisons", "a", &simple_table()).await;
    app.put_table_ok("prisons", "b", &simple_table()).await;
    // courts (OPG, draft): v1.0, v1.1 (+ table c), v2.0 (- table c) -> 3 versions, 0 tables.
    let mut courts = product_body("courts");
    courts["domain"] = json!("OPG");
    app.create_product_with(&courts).await;
    app.put_table_ok("courts", "c", &simple_table()).await;
    expect(app.delete("/v1/data-products/courts/schemas/c").await, 200).await;
    // gone (HMPPS): deleted, so not counted anywhere but in the feed.
    app.create_product("gone").await;
    app.put_table_ok("gone", "t", &simple_table()).await;
    expect(app.delete("/v1/data-products/gone").await, 204).await;

    let s = stats(&app).await;
    assert_eq!(s["dataProducts"]["total"], 2, "{s}");
    assert_eq!(s["dataProducts"]["byDomain"], json!({"HMPPS": 1, "OPG": 1}));
    assert_eq!(s["dataProducts"]["byStatus"], json!({"draft": 1, "published": 1, "deprecated": 0, "retired": 0}));
    assert_eq!(s["versions"], 6);
    assert_eq!(s["tables"], 2);
    // Every committed event is counted, the deleted product's too.
    let feed = expect(app.get("/v1/events?limit=1000").await, 200).await.body;
    let events = feed["items"].as_array().unwrap().len();
    assert_eq!(events, 9, "{feed}");
    assert_eq!(s["events"], json!(events));

    // An upload waiting for its file is pending.
    let upload = json!({"filename": "a.csv", "contentLength": 10, "contentMd5": "1B2M2Y8AsgTpgAmY7PhCfg=="});
    expect(app.post_json("/v1/data-products/prisons/schemas/a/uploads", &upload).await, 201).await;
    let s = stats(&app).await;
    assert_eq!(
        s["uploads"]["byStatus"],
        json!({"pending": 1, "received": 0, "validated": 0, "rejected": 0, "expired": 0})
    );

    // Restoring brings it back into every count.
    expect(app.post("/v1/data-products/gone/restore").await, 200).await;
    let s = stats(&app).await;
    assert_eq!(s["dataProducts"]["byDomain"], json!({"HMPPS": 2, "OPG": 1}));
    assert_eq!((s["versions"].as_i64(), s["tables"].as_i64()), (Some(8), Some(3)));
}

async fn stats_need_a_token_with_read_scope(app: TestApp) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.get(app.url("/v1/stats")).send().await.unwrap().status(), 401);
    let nobody = mint_token("nobody", "openid", None);
    let resp = client.get(app.url("/v1/stats")).bearer_auth(nobody).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let reader = mint_token("reader", "daap:read", None);
    let resp = client.get(app.url("/v1/stats")).bearer_auth(reader).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

both!(stats_count_what_is_live, stats_need_a_token_with_read_scope);
