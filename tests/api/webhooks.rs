//! SPEC section 4.8: webhook subscriptions push feed events to a receiver this test runs
//! on 127.0.0.1, signed per Standard Webhooks, once each and in feed order, through a
//! receiver outage, and never after the subscription is deleted.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use daap::config::Settings;
use futures::future::join_all;
use hmac::{Hmac, Mac};
use poem::{
    EndpointExt, Request, Server,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{
    TestApp, assert_problem, col, error_fields, expect, metadata_body, mint_token, simple_table, table_body,
};

/// Like `both!`, with the settings every webhook scenario needs (a receiver on loopback,
/// quick retries) adjusted by `$configure`.
macro_rules! both_configured {
    ($configure:ident => $($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                $crate::helpers::run_configured($crate::helpers::Backend::Sqlite, super::$configure, super::$scenario)
                    .await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                $crate::helpers::run_configured($crate::helpers::Backend::Postgres, super::$configure, super::$scenario)
                    .await
            }
        }
    )+};
}

/// `both_configured!` for scenarios only PostgreSQL can stage (several replicas on one database).
macro_rules! postgres_configured {
    ($configure:ident => $($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                $crate::helpers::run_configured($crate::helpers::Backend::Postgres, super::$configure, super::$scenario)
                    .await
            }
        }
    )+};
}

/// Private targets allowed (the receiver is on 127.0.0.1), retries in fractions of a second.
fn quick(s: &mut Settings) {
    s.webhook_allow_private = true;
    s.webhook_retry_base = Duration::from_millis(200);
    s.webhook_retry_max_interval = Duration::from_millis(800);
    s.webhook_timeout = Duration::from_secs(3);
    s.webhook_poll_interval = Duration::from_secs(1);
}

/// `quick`, and an event is given up on after one second of failures.
fn quick_to_pause(s: &mut Settings) {
    quick(s);
    s.webhook_retry_for = Duration::from_secs(1);
}

/// `quick`, but private targets refused (the default).
fn quick_but_guarded(s: &mut Settings) {
    quick(s);
    s.webhook_allow_private = false;
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: String,
    answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Answer 500 to this many more requests.
    fail_next: AtomicUsize,
    /// Hold each answer this many milliseconds (after recording the request).
    delay_ms: AtomicUsize,
}

/// An HTTP receiver on 127.0.0.1 that records every request.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("a receiver port");
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("a socket address");
        let shared = state.clone();
        let app = poem::endpoint::make(move |mut req: Request| {
            let state = shared.clone();
            async move {
                let header =
                    |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let (id, timestamp, signature, content_type) = (
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    header("content-type"),
                );
                let body = req.take_body().into_string().await.unwrap_or_default();
                let fail =
                    state.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                let answered = if fail { 500 } else { 200 };
                state.received.lock().unwrap().push(Received {
                    id,
                    timestamp,
                    signature,
                    content_type,
                    body,
                    answered,
                });
                let delay = state.delay_ms.load(Ordering::SeqCst) as u64;
                tokio::time::sleep(Duration::from_millis(delay)).await;
                StatusCode::from_u16(answered).unwrap()
            }
        })
        .map_to_response();
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Receiver { url: format!("http://{addr}/hook"), state, server }
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.answered == 200).collect()
    }

    /// Waits until `n` requests were accepted (or fails after `timeout`).
    async fn wait_accepted(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver accepted {} of {n} deliveries in {timeout:?}: {:#?}",
                accepted.len(),
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Checks a delivery's signature the way a receiver would, with the secret.
fn verify(secret: &str, r: &Received) {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("a whsec_ secret")).expect("base64 key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(
        r.signature.split(' ').any(|s| s == expected),
        "signature `{}` does not verify (expected `{expected}`) for {r:?}",
        r.signature
    );
    let sent: i64 = r.timestamp.parse().expect("a Unix timestamp");
    let now = chrono::Utc::now().timestamp();
    assert!((now - sent).abs() < 60, "webhook-timestamp {sent} is not now ({now})");
}

async fn subscribe(app: &TestApp, body: &Value) -> Value {
    expect(app.post_json("/v1/webhooks", body).await, 201).await.body
}

/// Every event of the feed after `after` (a cursor, or the start).
async fn feed_after(app: &TestApp, after: Option<&str>) -> Vec<Value> {
    let query = after.map(|a| format!("&after={a}")).unwrap_or_default();
    let body = expect(app.get(&format!("/v1/events?limit=1000{query}")).await, 200).await.body;
    body["items"].as_array().expect("items").clone()
}

async fn feed_head(app: &TestApp) -> String {
    let body = expect(app.get("/v1/events?limit=1000").await, 200).await.body;
    body["nextCursor"].as_str().expect("a cursor").to_owned()
}

async fn metric(app: &TestApp, outcome: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let line = format!("daap_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in {text}"))
        .parse()
        .expect("a count")
}

/// The delivery log once it has `n` entries: an attempt is recorded just after the receiver
/// has answered, so the receiver can see a delivery a moment before the log does.
async fn deliveries_once_recorded(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(app, id).await;
        if log.len() >= n || Instant::now() >= deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let body = expect(app.get(&format!("/v1/webhooks/{id}/deliveries?limit=200")).await, 200).await.body;
    body["items"].as_array().expect("items").clone()
}

async fn deliveries_are_signed_and_arrive_once_each_in_feed_order(app: TestApp) {
    app.create_product("before_sub").await; // committed before the subscription: never delivered
    let receiver = Receiver::start().await;
    let head = feed_head(&app).await;
    let sub = subscribe(&app, &json!({ "url": receiver.url, "description": "catalogue sync" })).await;
    let secret = sub["secret"].as_str().expect("a secret");
    let id = sub["id"].as_str().expect("an id");

    // A burst: sequential writes, then concurrent writers on several products.
    app.create_product("burst").await;
    app.put_table_ok("burst", "t1", &simple_table()).await;
    let writes = (0..4).map(|i| {
        let app = app.clone();
        async move {
            let name = format!("burst_{i}");
            app.create_product(&name).await;
            for t in 0..3 {
                app.put_table_ok(&name, &format!("t{t}"), &simple_table()).await;
            }
        }
    });
    join_all(writes).await;
    let mut meta = metadata_body();
    meta["description"] = json!("Changed");
    expect(app.put_json("/v1/data-products/burst", &meta).await, 200).await;

    let expected = feed_after(&app, Some(&head)).await;
    assert_eq!(expected.len(), 2 + 4 * 4 + 1);
    let accepted = receiver.wait_accepted(expected.len(), Duration::from_secs(30)).await;
    // Nothing more arrives (no duplicates).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.received();
    assert_eq!(all.len(), expected.len(), "each event is delivered once: {all:#?}");
    for (r, event) in accepted.iter().zip(&expected) {
        verify(secret, r);
        assert_eq!(r.id, event["id"].as_str().unwrap(), "in feed order");
        assert!(r.content_type.starts_with("application/json"), "{r:?}");
        let body: Value = serde_json::from_str(&r.body).expect("a JSON body");
        assert_eq!(&body, event, "the body is the event as the feed shows it");
    }
    assert!(accepted.iter().all(|r| !r.body.contains("before_sub")));

    let log = deliveries_once_recorded(&app, id, expected.len()).await;
    assert_eq!(log.len(), expected.len());
    for d in &log {
        assert_eq!(d["outcome"], "succeeded", "{d}");
        assert_eq!(d["attempt"], 1, "{d}");
        assert_eq!(d["responseStatus"], 200, "{d}");
        assert!(d["latencyMs"].is_u64() && d.get("error").is_none(), "{d}");
        assert!(d["attemptedAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{d}");
    }
    // Newest first.
    assert_eq!(log[0]["eventId"], expected.last().unwrap()["id"]);
    assert!(metric(&app, "succeeded").await >= expected.len() as u64);
    // Pages of the log chain without overlap.
    let first = expect(app.get(&format!("/v1/webhooks/{id}/deliveries?limit=5")).await, 200).await.body;
    let cursor = first["nextCursor"].as_str().expect("more pages");
    let second =
        expect(app.get(&format!("/v1/webhooks/{id}/deliveries?limit=5&cursor={cursor}")).await, 200).await.body;
    assert_eq!(second["items"][0]["eventId"], log[5]["eventId"]);
}

async fn a_receiver_answering_500_for_a_while_loses_nothing(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.state.fail_next.store(3, Ordering::SeqCst);
    let head = feed_head(&app).await;
    let sub = subscribe(&app, &json!({ "url": receiver.url })).await;
    let id = sub["id"].as_str().unwrap();
    app.create_product("outage").await;
    for t in ["a", "b", "c"] {
        app.put_table_ok("outage", t, &simple_table()).await;
    }
    let expected = feed_after(&app, Some(&head)).await;
    assert_eq!(expected.len(), 4);
    let accepted = receiver.wait_accepted(4, Duration::from_secs(30)).await;
    let ids: Vec<&str> = accepted.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, want, "after the outage every event arrives, in order");
    // The failing event held back the ones after it: the first four requests were all for it.
    let all = receiver.received();
    assert!(all[..4].iter().all(|r| r.id == want[0]), "{all:#?}");
    assert_eq!(all.iter().filter(|r| r.answered == 500).count(), 3);
    for r in &all {
        verify(sub["secret"].as_str().unwrap(), r);
    }
    // Every attempt is in the log.
    let mut log = deliveries_once_recorded(&app, id, 7).await;
    log.reverse();
    let attempts: Vec<(String, u64, String)> = log
        .iter()
        .map(|d| {
            (
                d["eventId"].as_str().unwrap().to_owned(),
                d["attempt"].as_u64().unwrap(),
                d["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(attempts.len(), 7, "{log:#?}");
    for (i, n) in [1, 2, 3].into_iter().enumerate() {
        assert_eq!(attempts[i], (want[0].to_owned(), n, "failed".to_owned()));
        assert_eq!(log[i]["responseStatus"], 500);
        assert!(log[i]["error"].as_str().is_some_and(|e| e.contains("500")), "{}", log[i]);
    }
    assert_eq!(attempts[3], (want[0].to_owned(), 4, "succeeded".to_owned()));
    assert!(metric(&app, "failed").await >= 3);
    let read = expect(app.get(&format!("/v1/webhooks/{id}")).await, 200).await.body;
    assert_eq!(read["status"], "active");
}

async fn a_deleted_subscription_stops_receiving(app: TestApp) {
    let receiver = Receiver::start().await;
    let sub = subscribe(&app, &json!({ "url": receiver.url })).await;
    let id = sub["id"].as_str().unwrap();
    app.create_product("gone").await;
    receiver.wait_accepted(1, Duration::from_secs(30)).await;
    expect(app.delete(&format!("/v1/webhooks/{id}")).await, 204).await;
    app.put_table_ok("gone", "t", &simple_table()).await;
    expect(app.delete("/v1/data-products/gone").await, 204).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "{:#?}", receiver.received());
    assert_problem(app.get(&format!("/v1/webhooks/{id}")).await, 404, "/problems/not-found").await;
    assert_problem(app.get(&format!("/v1/webhooks/{id}/deliveries")).await, 404, "/problems/not-found").await;
    assert_problem(app.delete(&format!("/v1/webhooks/{id}")).await, 404, "/problems/not-found").await;
    let list = expect(app.get("/v1/webhooks").await, 200).await.body;
    assert_eq!(list["items"], json!([]));
}

async fn a_delivery_in_flight_when_its_subscription_is_deleted_is_not_retried(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.state.fail_next.store(usize::MAX, Ordering::SeqCst);
    receiver.state.delay_ms.store(2000, Ordering::SeqCst);
    let sub = subscribe(&app, &json!({ "url": receiver.url })).await;
    let id = sub["id"].as_str().unwrap();
    app.create_product("in_flight").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "nothing was delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The receiver holds its (failing) answer: delete while the attempt is in flight.
    expect(app.delete(&format!("/v1/webhooks/{id}")).await, 204).await;
    // The answer comes within 2 s; a retry would follow within 200 ms of it.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(receiver.received().len(), 1, "retried after deletion: {:#?}", receiver.received());
    assert_problem(app.get(&format!("/v1/webhooks/{id}/deliveries")).await, 404, "/problems/not-found").await;
}

async fn filters_pick_event_types_and_products(app: TestApp) {
    let receiver = Receiver::start().await;
    let everything = Receiver::start().await;
    let sub = subscribe(
        &app,
        &json!({ "url": receiver.url, "eventTypes": ["schema.created", "schema.updated"], "dataProducts": ["wanted"] }),
    )
    .await;
    assert_eq!(sub["eventTypes"], json!(["schema.created", "schema.updated"]));
    assert_eq!(sub["dataProducts"], json!(["wanted"]));
    subscribe(&app, &json!({ "url": everything.url })).await;
    for name in ["wanted", "other"] {
        app.create_product(name).await;
        app.put_table_ok(name, "t", &simple_table()).await;
        app.put_table_ok(name, "t", &table_body("Changed", vec![col("x", "int")])).await;
    }
    everything.wait_accepted(6, Duration::from_secs(30)).await;
    let got = receiver.wait_accepted(2, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2);
    let types: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let e: Value = serde_json::from_str(&r.body).unwrap();
            (e["type"].as_str().unwrap().to_owned(), e["dataProduct"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        types,
        [("schema.created".to_owned(), "wanted".to_owned()), ("schema.updated".to_owned(), "wanted".to_owned())]
    );
}

async fn a_subscription_that_keeps_failing_is_paused_with_the_reason(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.state.fail_next.store(usize::MAX, Ordering::SeqCst);
    let sub = subscribe(&app, &json!({ "url": receiver.url })).await;
    let id = sub["id"].as_str().unwrap();
    app.create_product("failing").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let read = loop {
        let read = expect(app.get(&format!("/v1/webhooks/{id}")).await, 200).await.body;
        if read["status"] == "paused" {
            break read;
        }
        assert!(Instant::now() < deadline, "never paused: {read}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = read["pausedReason"].as_str().expect("a reason");
    assert!(reason.contains("500"), "{reason}");
    let attempts = receiver.received().len();
    assert!(attempts >= 2, "retried before pausing: {attempts}");
    // Paused: nothing more is attempted, even for new events.
    app.put_table_ok("failing", "t", &simple_table()).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), attempts);
    assert_eq!(deliveries(&app, id).await.len(), attempts);
}

async fn subscriptions_need_admin_and_a_valid_body(app: TestApp) {
    let writer = mint_token("writer", "daap:read daap:write", None);
    let body = json!({ "url": "http://127.0.0.1:9/hook" });
    let as_writer = app.request(Method::POST, "/v1/webhooks").bearer_auth(&writer).json(&body);
    assert_problem(app.send(as_writer).await, 403, "/problems/forbidden").await;
    let list_as_writer = app.request(Method::GET, "/v1/webhooks").bearer_auth(&writer);
    assert_problem(app.send(list_as_writer).await, 403, "/problems/forbidden").await;

    let bad = json!({
        "url": "ftp://example.com/x",
        "eventTypes": ["schema.created", "nope.nothing", 3],
        "dataProducts": ["Bad-Name"],
        "description": "",
        "extra": true,
    });
    let problem = assert_problem(app.post_json("/v1/webhooks", &bad).await, 422, "/problems/validation").await;
    assert_eq!(
        error_fields(&problem),
        ["/dataProducts/0", "/description", "/eventTypes/1", "/eventTypes/2", "/extra", "/url"]
    );
    let problem = assert_problem(app.post_json("/v1/webhooks", &json!({})).await, 422, "/problems/validation").await;
    assert_eq!(error_fields(&problem), ["/url"]);
    // URL parsing would drop a tab or line break silently: such a URL is refused, not stored.
    for url in [
        "not a url",
        "https://user:pw@example.com/",
        "mailto:x@example.com",
        "http://127.0.0.1:9/ho\nok",
        "http://127.0.0.1:9/\thook",
        "http://127.0.0.1:9/\u{0}",
    ] {
        let problem =
            assert_problem(app.post_json("/v1/webhooks", &json!({ "url": url })).await, 422, "/problems/validation")
                .await;
        assert_eq!(error_fields(&problem), ["/url"], "{url}");
    }
    // Nothing was created by the refusals.
    assert_eq!(expect(app.get("/v1/webhooks").await, 200).await.body["items"], json!([]));

    let created = expect(app.post_json("/v1/webhooks", &body).await, 201).await;
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.header("location"), format!("/v1/webhooks/{id}"));
    let secret = created.body["secret"].as_str().unwrap();
    let raw = STANDARD.decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("base64");
    assert!(raw.len() >= 24, "{secret}");
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["eventTypes"], json!([]));
    assert_eq!(created.body["url"], "http://127.0.0.1:9/hook");
    // The secret is shown only at creation.
    let read = expect(app.get(&format!("/v1/webhooks/{id}")).await, 200).await.body;
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["createdBy"], crate::helpers::ADMIN_SUB);
    let list = expect(app.get("/v1/webhooks").await, 200).await.body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("secret").is_none());
    assert!(list.get("nextCursor").is_none());
    assert_problem(app.get("/v1/webhooks/no-such-id").await, 404, "/problems/not-found").await;
    assert_problem(app.get("/v1/webhooks?cursor=%%%").await, 400, "/problems/malformed-request").await;
}

async fn subscriptions_page_in_creation_order(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let sub = subscribe(&app, &json!({ "url": format!("http://127.0.0.1:9/{i}") })).await;
        ids.push(sub["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = expect(app.get(&format!("/v1/webhooks?limit=2{query}")).await, 200).await.body;
        seen.extend(page["items"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

async fn private_targets_are_refused_by_default(app: TestApp) {
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        // IPv6 prefixes that tunnel or translate to IPv4 (local-use NAT64, 6to4, Teredo).
        "http://[64:ff9b:1::a00:1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
        "http://[::ffff:0:a00:1]/hook",
        "http://name-that-does-not-resolve.invalid/hook",
    ] {
        let resp = app.post_json("/v1/webhooks", &json!({ "url": url })).await;
        let problem = assert_problem(resp, 422, "/problems/validation").await;
        assert_eq!(error_fields(&problem), ["/url"], "{url}");
    }
    assert_eq!(expect(app.get("/v1/webhooks").await, 200).await.body["items"], json!([]));
}

/// `quick`, but the worker looks for due work only every minute unless woken.
fn quick_with_a_slow_poll(s: &mut Settings) {
    quick(s);
    s.webhook_poll_interval = Duration::from_secs(60);
}

async fn a_retry_is_sent_when_it_is_due_not_at_the_next_poll(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.state.fail_next.store(1, Ordering::SeqCst);
    subscribe(&app, &json!({ "url": receiver.url })).await;
    app.create_product("retried").await;
    // Well before the next poll, the worker wakes for the retry it scheduled.
    receiver.wait_accepted(1, Duration::from_secs(10)).await;
    assert_eq!(receiver.received().len(), 2, "one failed attempt, then the retry");
}

both_configured!(quick_with_a_slow_poll => a_retry_is_sent_when_it_is_due_not_at_the_next_poll);

both_configured!(quick =>
    deliveries_are_signed_and_arrive_once_each_in_feed_order,
    a_receiver_answering_500_for_a_while_loses_nothing,
    a_deleted_subscription_stops_receiving,
    a_delivery_in_flight_when_its_subscription_is_deleted_is_not_retried,
    filters_pick_event_types_and_products,
    subscriptions_need_admin_and_a_valid_body,
    subscriptions_page_in_creation_order,
);
/// A second replica of the service on the same database, with its own delivery worker.
struct Replica {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    async fn start(database_url: &str) -> Replica {
        let mut settings = Settings::local(Some(database_url.to_owned()), std::env::temp_dir().join("daap-unused"));
        settings.migrate_on_start = false;
        settings.rate_limit_per_second = 0;
        settings.jwt_secret = Some(crate::helpers::TEST_SECRET.to_owned());
        settings.shutdown_grace = Duration::from_secs(1);
        quick(&mut settings);
        let app = daap::startup::Application::build(settings).await.expect("the second replica starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Replica { base, stop: Some(stop), server }
    }

    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.server).await;
    }
}

async fn two_replicas_deliver_each_event_once_in_order(app: TestApp) {
    let replica = Replica::start(&app.database_url).await;
    let other = TestApp { base: replica.base.clone(), ..app.clone() };
    let receiver = Receiver::start().await;
    let head = feed_head(&app).await;
    let sub = subscribe(&app, &json!({ "url": receiver.url })).await;
    // Writes through both replicas, partly at once; both workers race for the subscription.
    let writes = (0..6).map(|i| {
        let target = if i % 2 == 0 { app.clone() } else { other.clone() };
        async move {
            let name = format!("replicated_{i}");
            target.create_product(&name).await;
            target.put_table_ok(&name, "t", &simple_table()).await;
            target.put_table_ok(&name, "u", &simple_table()).await;
        }
    });
    join_all(writes).await;
    let expected = feed_after(&app, Some(&head)).await;
    assert_eq!(expected.len(), 18);
    receiver.wait_accepted(expected.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got: Vec<String> = receiver.received().iter().map(|r| r.id.clone()).collect();
    let want: Vec<String> = expected.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, want, "each event once, in feed order, across two replicas");
    for r in receiver.received() {
        verify(sub["secret"].as_str().unwrap(), &r);
    }
    replica.shut_down().await;
}

/// The delivery-time check: a replica that refuses private targets does not deliver to one,
/// even for a subscription that was accepted (here by a replica that allowed them; in life,
/// a host whose DNS answer changed). The attempt fails with the reason.
async fn a_delivery_to_a_private_target_fails_with_the_reason(app: TestApp) {
    let receiver = Receiver::start().await;
    let permissive = Replica::start(&app.database_url).await;
    let other = TestApp { base: permissive.base.clone(), ..app.clone() };
    let sub = subscribe(&other, &json!({ "url": receiver.url })).await;
    permissive.shut_down().await;
    let id = sub["id"].as_str().unwrap();
    app.create_product("guarded").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = deliveries(&app, id).await;
        if log.len() >= 2 {
            break log;
        }
        assert!(Instant::now() < deadline, "no failed attempts recorded: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for d in &log {
        assert_eq!(d["outcome"], "failed", "{d}");
        assert!(d.get("responseStatus").is_none(), "{d}");
        assert!(d["error"].as_str().is_some_and(|e| e.contains("non-public")), "{d}");
    }
    assert!(receiver.received().is_empty(), "{:?}", receiver.received());
}

postgres_configured!(quick => two_replicas_deliver_each_event_once_in_order);
postgres_configured!(quick_but_guarded => a_delivery_to_a_private_target_fails_with_the_reason);
both_configured!(quick_to_pause => a_subscription_that_keeps_failing_is_paused_with_the_reason);
both!(private_targets_are_refused_by_default);
