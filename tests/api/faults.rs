//! PostgreSQL crashing under load (issue 10, items 20 and 21): a request whose connection
//! dies mid-query is a 503 `/problems/unavailable`, never a 500, and its retry with the same
//! `Idempotency-Key` runs again as soon as the database is back, instead of being refused as
//! "in progress" until the claim's lease ends.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{OwnCluster, TestApp, expect, product_body, read};

/// One write the load made: its key, its body and the status it got.
struct Attempt {
    key: String,
    body: Value,
    status: u16,
    text: String,
}

async fn a_postgres_crash_under_load_is_503_and_retries_run_again(app: TestApp, cluster: &OwnCluster) {
    app.create_product("warm").await;
    let stop = Arc::new(AtomicBool::new(false));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let reads: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let mut tasks = Vec::new();
    for writer in 0..6 {
        let (app, stop, attempts) = (app.clone(), stop.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("w{writer}_{i}");
                let body = product_body(&name);
                let key = format!("key-{name}");
                let request =
                    app.request(Method::POST, "/v1/data-products").header("Idempotency-Key", &key).json(&body);
                let reply = read(app.send(request).await).await;
                attempts.lock().unwrap().push(Attempt { key, body, status: reply.status.as_u16(), text: reply.text });
                i += 1;
            }
        }));
    }
    for _ in 0..2 {
        let (app, stop, reads) = (app.clone(), stop.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let reply = read(app.get("/v1/events?limit=100").await).await;
                reads.lock().unwrap().push((reply.status.as_u16(), reply.text));
                let reply = read(app.get("/v1/data-products?limit=20").await).await;
                reads.lock().unwrap().push((reply.status.as_u16(), reply.text));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.crash().expect("PostgreSQL crashes");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.up().expect("PostgreSQL recovers");
    let back = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a load task");
    }

    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let reads = std::mem::take(&mut *reads.lock().unwrap());
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| !(200..300).contains(&a.status)).collect();
    for a in &failed {
        assert_eq!(a.status, 503, "a write during the crash: {}", a.text);
        assert!(a.text.contains("/problems/unavailable"), "{}", a.text);
    }
    for (status, text) in &reads {
        assert!(*status == 200 || *status == 503, "a read during the crash answered {status}: {text}");
    }
    assert!(!failed.is_empty(), "the crash failed no write: {} writes", attempts.len());

    // Every failed write runs again (or replays) once the database is back: the claim of a
    // request that failed does not outlive the failure by a lease.
    for a in &failed {
        let deadline = back + Duration::from_secs(20);
        loop {
            let request =
                app.request(Method::POST, "/v1/data-products").header("Idempotency-Key", &a.key).json(&a.body);
            let reply = read(app.send(request).await).await;
            if reply.status == 201 {
                break;
            }
            assert!(
                reply.status == 503 || reply.status == 409,
                "a retry of {} answered {}: {}",
                a.key,
                reply.status,
                reply.text
            );
            assert!(Instant::now() < deadline, "a retry of {} is still refused: {}", a.key, reply.text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Nothing was lost: every write, first try or retried, left its product.
    for a in &attempts {
        let name = a.body["name"].as_str().unwrap();
        expect(app.get(&format!("/v1/data-products/{name}")).await, 200).await;
    }
}

mod a_postgres_crash_under_load_is_503_and_retries_run_again {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn on_postgres() {
        let Some(cluster) = crate::helpers::OwnCluster::start() else { return };
        let url = cluster.url();
        crate::helpers::run_configured(
            crate::helpers::Backend::Sqlite,
            |s| s.database_url = Some(url),
            |app| super::a_postgres_crash_under_load_is_503_and_retries_run_again(app, &cluster),
        )
        .await;
    }
}
