//! SPEC section 6: bearer tokens, scopes and domains. One test per way in.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_SUB, Backend, TEST_SECRET, TestApp, assert_problem, expect, metadata_body, mint_token, product_body, read,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"sub": "mallory", "scope": "daap:read daap:write daap:admin", "iat": now(), "exp": now() + 600});
    c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    c
}

fn hs256(secret: &[u8], claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("a fixture key")
}

/// GETs the product list with `authorization` (or none) and returns the answer.
async fn list_with(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    // A client without the default admin token.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client.get(app.url("/v1/data-products"));
    if let Some(a) = authorization {
        request = request.header("Authorization", a);
    }
    request.send().await.unwrap()
}

async fn refused(app: &TestApp, authorization: Option<&str>, why: &str) {
    let resp = list_with(app, authorization).await;
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body = assert_problem(resp, 401, "/problems/unauthorized").await;
    assert_eq!(challenge.as_deref(), Some("Bearer"), "{why}: 401 without WWW-Authenticate: Bearer");
    assert!(body["detail"].is_string(), "{why}");
}

async fn requests_without_a_valid_token_are_401(app: TestApp) {
    refused(&app, None, "no header").await;
    refused(&app, Some("Bearer"), "empty bearer").await;
    refused(&app, Some("Bearer not.a.jwt"), "garbled token").await;
    refused(&app, Some("Basic dXNlcjpwYXNz"), "another scheme").await;
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    refused(&app, Some(&format!("Bearer {none_header}.{body}.")), "alg none").await;
    let bad_signature = hs256(b"some-other-secret-0123456789abcdef", &claims(json!({})));
    refused(&app, Some(&format!("Bearer {bad_signature}")), "bad signature").await;
    let expired = hs256(TEST_SECRET.as_bytes(), &claims(json!({"exp": now() - 120})));
    refused(&app, Some(&format!("Bearer {expired}")), "expired beyond the leeway").await;
    let early = hs256(TEST_SECRET.as_bytes(), &claims(json!({"nbf": now() + 300})));
    refused(&app, Some(&format!("Bearer {early}")), "not yet valid").await;
    let mut no_exp = claims(json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    refused(&app, Some(&format!("Bearer {}", hs256(TEST_SECRET.as_bytes(), &no_exp))), "no exp").await;
    // Open routes need no token.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for path in ["/health/live", "/health/ready", "/openapi.json", "/docs"] {
        assert_eq!(client.get(app.url(path)).send().await.unwrap().status(), 200, "{path} is open");
    }
    // Within the leeway a just-expired token still works.
    let lenient = hs256(TEST_SECRET.as_bytes(), &claims(json!({"exp": now() - 20})));
    assert_eq!(list_with(&app, Some(&format!("Bearer {lenient}"))).await.status(), 200);
}

async fn scopes_limit_what_a_token_may_do(app: TestApp) {
    let reader = mint_token("reader", "daap:read", None);
    let writer = mint_token("writer", "daap:write", None);
    let nothing = mint_token("nobody", "openid profile", None);
    let as_ = |token: &str, method: Method, path: &str| {
        app.request(method, path).header("Authorization", format!("Bearer {token}"))
    };
    assert_problem(app.send(as_(&nothing, Method::GET, "/v1/data-products")).await, 403, "/problems/forbidden").await;
    expect(app.send(as_(&reader, Method::GET, "/v1/data-products")).await, 200).await;
    let create = as_(&reader, Method::POST, "/v1/data-products").json(&product_body("scoped"));
    assert_problem(app.send(create).await, 403, "/problems/forbidden").await;
    let create = as_(&writer, Method::POST, "/v1/data-products").json(&product_body("scoped"));
    let created = expect(app.send(create).await, 201).await;
    assert_eq!(created.body["createdBy"], "writer", "createdBy is the token's sub");
    // write implies read; purge needs admin.
    expect(app.send(as_(&writer, Method::GET, "/v1/data-products/scoped")).await, 200).await;
    let purge = as_(&writer, Method::DELETE, "/v1/data-products/scoped?purge=true");
    assert_problem(app.send(purge).await, 403, "/problems/forbidden").await;
    expect(app.delete("/v1/data-products/scoped?purge=true").await, 204).await; // the admin client
    // `scp` and `roles` arrays carry scopes too.
    let scp = hs256(TEST_SECRET.as_bytes(), &json!({"sub": "svc", "scp": ["daap:write"], "exp": now() + 600}));
    let create = as_(&scp, Method::POST, "/v1/data-products").json(&product_body("via_scp"));
    expect(app.send(create).await, 201).await;
    let roles = hs256(TEST_SECRET.as_bytes(), &json!({"sub": "svc", "roles": ["daap:read"], "exp": now() + 600}));
    expect(app.send(as_(&roles, Method::GET, "/v1/data-products/via_scp")).await, 200).await;
}

async fn domains_limit_writes_but_not_reads(app: TestApp) {
    let mut other = product_body("elsewhere");
    other["domain"] = json!("OPG");
    app.create_product_with(&other).await;
    app.create_product("home").await; // domain HMPPS
    let hmpps = mint_token("hmpps-writer", "daap:read daap:write", Some(vec!["HMPPS".into()]));
    let as_ = |method: Method, path: &str| app.request(method, path).header("Authorization", format!("Bearer {hmpps}"));
    expect(app.send(as_(Method::GET, "/v1/data-products/elsewhere")).await, 200).await;
    let mut meta = metadata_body();
    meta["domain"] = json!("OPG");
    meta["description"] = json!("changed");
    let other_domain = as_(Method::PUT, "/v1/data-products/elsewhere").json(&meta);
    assert_problem(app.send(other_domain).await, 403, "/problems/forbidden").await;
    let mut create = product_body("not_mine");
    create["domain"] = json!("OPG");
    assert_problem(app.send(as_(Method::POST, "/v1/data-products").json(&create)).await, 403, "/problems/forbidden")
        .await;
    // Moving one of its own products out of its domain is refused too.
    let moving = as_(Method::PUT, "/v1/data-products/home").json(&meta);
    assert_problem(app.send(moving).await, 403, "/problems/forbidden").await;
    assert_eq!(app.latest_version("home").await, "v1.0", "a refused write changed the product");
    let mut own = metadata_body();
    own["description"] = json!("mine to change");
    expect(app.send(as_(Method::PUT, "/v1/data-products/home").json(&own)).await, 200).await;
    assert_problem(app.send(as_(Method::DELETE, "/v1/data-products/elsewhere")).await, 403, "/problems/forbidden")
        .await;
    // The admin may write anywhere.
    expect(app.put_json("/v1/data-products/elsewhere", &meta).await, 200).await;
}

async fn public_keys_verify_only_their_own_algorithms(app: TestApp) {
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa-private.pem")).unwrap();
    let good =
        encode(&Header::new(Algorithm::RS256), &claims(json!({"iss": "https://idp.example", "aud": "daap"})), &rsa)
            .unwrap();
    expect(list_with(&app, Some(&format!("Bearer {good}"))).await, 200).await;
    // Key confusion: an HS256 token whose HMAC key is the RSA public key is refused.
    let confused = hs256(&pem("rsa-public.pem"), &claims(json!({"iss": "https://idp.example", "aud": "daap"})));
    refused(&app, Some(&format!("Bearer {confused}")), "HS256 signed with the public key").await;
    // An ES256 token is not checked against an RSA key.
    let ec = EncodingKey::from_ec_pem(&pem("ec-private.pem")).unwrap();
    let other_family =
        encode(&Header::new(Algorithm::ES256), &claims(json!({"iss": "https://idp.example", "aud": "daap"})), &ec)
            .unwrap();
    refused(&app, Some(&format!("Bearer {other_family}")), "ES256 against an RSA key").await;
    let wrong_iss =
        encode(&Header::new(Algorithm::RS256), &claims(json!({"iss": "https://evil.example", "aud": "daap"})), &rsa)
            .unwrap();
    refused(&app, Some(&format!("Bearer {wrong_iss}")), "wrong issuer").await;
    let wrong_aud =
        encode(&Header::new(Algorithm::RS256), &claims(json!({"iss": "https://idp.example", "aud": "other"})), &rsa)
            .unwrap();
    refused(&app, Some(&format!("Bearer {wrong_aud}")), "wrong audience").await;
    let no_iss = encode(&Header::new(Algorithm::RS256), &claims(json!({"aud": "daap"})), &rsa).unwrap();
    refused(&app, Some(&format!("Bearer {no_iss}")), "missing issuer").await;
    let mut with_kid = Header::new(Algorithm::RS256);
    with_kid.kid = Some("unknown-kid".into());
    let kid = encode(&with_kid, &claims(json!({"iss": "https://idp.example", "aud": "daap"})), &rsa).unwrap();
    assert_eq!(list_with(&app, Some(&format!("Bearer {kid}"))).await.status(), 200, "a PEM key ignores kid");
}

async fn es256_public_keys_work(app: TestApp) {
    let ec = EncodingKey::from_ec_pem(&pem("ec-private.pem")).unwrap();
    let good = encode(&Header::new(Algorithm::ES256), &claims(json!({})), &ec).unwrap();
    let reply = read(list_with(&app, Some(&format!("Bearer {good}"))).await).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

async fn writes_record_the_token_subject(app: TestApp) {
    let created = app.create_product("subject").await;
    assert_eq!(created["createdBy"], ADMIN_SUB);
    assert_eq!(created["updatedBy"], ADMIN_SUB);
}

both!(
    requests_without_a_valid_token_are_401,
    scopes_limit_what_a_token_may_do,
    domains_limit_writes_but_not_reads,
    writes_record_the_token_subject
);

fn rsa_with_issuer_and_audience(s: &mut daap::config::Settings) {
    s.jwt_public_key = Some(format!("{FIXTURES}/rsa-public.pem"));
    s.jwt_issuer = Some("https://idp.example".into());
    s.jwt_audience = Some("daap".into());
}

fn ec_key(s: &mut daap::config::Settings) {
    s.jwt_public_key = Some(String::from_utf8(pem("ec-public.pem")).unwrap());
}

mod public_keys_verify_only_their_own_algorithms {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(
            super::Backend::Sqlite,
            super::rsa_with_issuer_and_audience,
            super::public_keys_verify_only_their_own_algorithms,
        )
        .await
    }
}

mod es256_public_keys_work {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        crate::helpers::run_configured(super::Backend::Sqlite, super::ec_key, super::es256_public_keys_work).await
    }
}

/// A key set endpoint the test controls: what it serves, and how often it was asked.
#[derive(Clone, Default)]
struct KeySetEndpoint {
    serving: std::sync::Arc<std::sync::Mutex<Option<Value>>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl KeySetEndpoint {
    /// Serves on a loopback port until the test ends; `None` answers 500.
    async fn start(&self) -> String {
        let state = self.clone();
        let app = poem::endpoint::make(move |_req| {
            let state = state.clone();
            async move {
                state.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let serving = state.serving.lock().unwrap().clone();
                match serving {
                    Some(set) => poem::Response::builder().content_type("application/json").body(set.to_string()),
                    None => poem::Response::builder().status(poem::http::StatusCode::INTERNAL_SERVER_ERROR).finish(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let acceptor = poem::listener::Listener::into_acceptor(poem::listener::TcpListener::bind(addr)).await.unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        format!("http://{addr}/.well-known/jwks.json")
    }

    fn serve(&self, keys: &[(&str, Algorithm)]) {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(kid, alg)| {
                let mut jwk =
                    serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&signing_key(*alg), *alg).unwrap())
                        .unwrap();
                jwk["kid"] = json!(kid);
                jwk
            })
            .collect();
        *self.serving.lock().unwrap() = Some(json!({ "keys": keys }));
    }

    fn fail(&self) {
        *self.serving.lock().unwrap() = None;
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn signing_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem("rsa-private.pem")).unwrap(),
        _ => EncodingKey::from_ec_pem(&pem("ec-private.pem")).unwrap(),
    }
}

/// A fresh token (never seen before, so never answered from a cache) signed by `alg`'s key.
fn signed_with(kid: &str, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let token = encode(&header, &claims(json!({"jti": uuid::Uuid::new_v4().to_string()})), &signing_key(alg)).unwrap();
    format!("Bearer {token}")
}

async fn jwks_keys_rotate_and_a_failed_refresh_keeps_the_old_ones(app: TestApp, jwks: KeySetEndpoint) {
    // The set was unreachable at start-up: the service runs and refuses tokens.
    assert_eq!(jwks.hits(), 1, "the key set is fetched at start-up");
    expect(app.get("/health/ready").await, 200).await;
    refused(&app, Some(&signed_with("k1", Algorithm::RS256)), "no keys yet").await;
    assert_eq!(jwks.hits(), 2, "an unknown kid fetches the set again");
    jwks.serve(&[("k1", Algorithm::RS256)]);
    refused(&app, Some(&signed_with("k1", Algorithm::RS256)), "within the minimum refresh interval").await;
    assert_eq!(jwks.hits(), 2, "an unknown kid fetches at most once per interval");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let first = signed_with("k1", Algorithm::RS256);
    expect(list_with(&app, Some(&first)).await, 200).await;
    assert_eq!(jwks.hits(), 3);

    // Rotation: k1 is replaced by an ES256 key k2.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    jwks.serve(&[("k2", Algorithm::ES256)]);
    expect(list_with(&app, Some(&signed_with("k2", Algorithm::ES256))).await, 200).await;
    assert_eq!(jwks.hits(), 4, "a new kid is fetched at once");
    let resp = list_with(&app, Some(&signed_with("k1", Algorithm::RS256))).await;
    let problem = assert_problem(resp, 401, "/problems/unauthorized").await;
    assert!(problem["detail"].as_str().unwrap().contains("`k1`"), "{problem}");
    refused(&app, Some(&first), "a token already accepted, once its key left the set").await;
    // A token that names k2 but is signed with another key, or claims another algorithm, is refused.
    let mut forged = Header::new(Algorithm::RS256);
    forged.kid = Some("k2".into());
    let forged = encode(&forged, &claims(json!({})), &signing_key(Algorithm::RS256)).unwrap();
    refused(&app, Some(&format!("Bearer {forged}")), "RS256 token naming an ES256 key").await;
    let hs = hs256(&pem("ec-public.pem"), &claims(json!({})));
    refused(&app, Some(&format!("Bearer {hs}")), "HS256 signed with a JWKS public key").await;

    // The set fails: the keys already known keep working.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    jwks.fail();
    refused(&app, Some(&signed_with("k9", Algorithm::RS256)), "unknown kid while the set is down").await;
    assert_eq!(jwks.hits(), 5, "the failed refresh was attempted");
    expect(list_with(&app, Some(&signed_with("k2", Algorithm::ES256))).await, 200).await;
}

mod jwks_keys_rotate_and_a_failed_refresh_keeps_the_old_ones {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        let jwks = super::KeySetEndpoint::default();
        let url = jwks.start().await;
        crate::helpers::run_configured(
            super::Backend::Sqlite,
            |s| {
                s.jwks_url = Some(url);
                s.jwks_min_refresh_interval = std::time::Duration::from_secs(2);
            },
            |app| super::jwks_keys_rotate_and_a_failed_refresh_keeps_the_old_ones(app, jwks),
        )
        .await
    }
}
