//! Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a retried write is never
//! applied twice. A key is claimed (scope: the principal's `sub` and its authority, see
//! `scope_of`, + key) before the handler runs; the handler stores its 2xx response in the
//! same transaction as the change, so a crash can never leave a change without its stored
//! answer. Deterministic refusals (409, 412) are stored after the fact; every other answer
//! releases the key so a retry runs again, also when the database is down at that moment
//! (released in the background once it is back) or the request was abandoned.
use std::time::Duration;

use chrono::Utc;
use poem::{
    Endpoint, FromRequest, IntoResponse, Request, RequestBody, Response,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
};
use sha2::{Digest, Sha256};

pub use crate::store::idempotency_keys::{Answer, Claim, ClaimedKey, StoredResponse, purge_expired};
use crate::{
    auth::Principal,
    error::{Problem, ProblemType},
    store::{Db, DbErr, idempotency_keys as keys},
};

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed answer.
pub const REPLAYED: &str = "Idempotent-Replayed";
/// How long a claim may run before another request may take it over (a crashed replica).
const LEASE: Duration = Duration::from_secs(60);

/// The scope a principal's keys live in: its `sub`, plus a digest of its scope and domains.
/// A stored answer is replayed only to a caller whose token grants exactly what the original
/// caller's did, so a replay passes the same authorisation as the original request: a write
/// token with an admin's `sub`, or a token limited to one domain, never sees an answer that
/// was made for more authority (it runs the request instead, and the handler refuses it).
pub fn scope_of(principal: &Principal) -> String {
    let mut h = Sha256::new();
    h.update(principal.scope.map_or("", |s| s.as_str()).as_bytes());
    h.update([0]);
    match &principal.domains {
        None => h.update(b"*"),
        Some(domains) => {
            let mut sorted: Vec<&str> = domains.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            sorted.dedup();
            for d in sorted {
                h.update([1]);
                h.update(d.as_bytes());
            }
        }
    }
    let digest: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}#{digest}", principal.sub)
}

/// Parses a key: 1..=255 printable ASCII, or the same inside sf-string quotes.
pub fn parse_key(raw: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "must be printable ASCII".to_owned())?;
    let inner = match text.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(|| "a quoted key must end with a quote".to_owned())?,
        None => text,
    };
    if inner.is_empty() || inner.len() > 255 {
        return Err("must be 1 to 255 characters".to_owned());
    }
    if !inner.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("must be printable ASCII".to_owned());
    }
    if text.starts_with('"') && inner.contains(['"', '\\']) {
        return Err("a quoted key may not contain quotes or backslashes".to_owned());
    }
    Ok(inner.to_owned())
}

/// JSON with object keys sorted and no insignificant whitespace.
fn canonical_json(value: &serde_json::Value) -> String {
    // serde_json's Map is a BTreeMap (no `preserve_order` feature), so keys come out sorted.
    value.to_string()
}

/// sha256 of method, path, query and the canonical JSON of the body (raw bytes when not JSON).
pub fn fingerprint(method: &Method, path: &str, query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method.as_str(), path, query] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => h.update(canonical_json(&v).as_bytes()),
        Err(_) => h.update(body),
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl StoredResponse {
    /// A JSON answer with the headers that matter (Location, ETag).
    pub fn json(status: u16, body: &impl poem_openapi::types::ToJSON, headers: &[(&str, &str)]) -> Self {
        let mut all = vec![("content-type".to_owned(), "application/json; charset=utf-8".to_owned())];
        all.extend(headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())));
        StoredResponse { status, headers: all, body: body.to_json_string() }
    }

    pub fn empty(status: u16) -> Self {
        StoredResponse { status, headers: Vec::new(), body: String::new() }
    }

    fn replay(&self) -> Response {
        let mut resp = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK))
            .body(self.body.clone());
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
        resp
    }
}

/// The claimed key of this request, if it sent one.
#[derive(Debug, Clone, Default)]
pub struct Idem(pub Option<ClaimedKey>);

impl Idem {
    /// What to store with the change, built only when a key is held.
    pub fn store(&self, response: impl FnOnce() -> StoredResponse) -> Option<Answer> {
        self.0.clone().map(|k| (k, response()))
    }
}

impl<'a> FromRequest<'a> for Idem {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Idem(req.extensions().get::<ClaimedKey>().cloned()))
    }
}

/// Claims `key` for `principal` (the scope), or says why not.
pub async fn claim(db: &Db, principal: &str, key: &str, fingerprint: &str, ttl: Duration) -> Result<Claim, DbErr> {
    keys::claim(db, principal, key, fingerprint, LEASE, ttl).await
}

/// Runs `purge_expired` every `every` for as long as the process runs.
pub fn spawn_purger(db: Db, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match purge_expired(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "expired idempotency keys deleted"),
                Err(err) => tracing::warn!(error = %err, "cannot purge expired idempotency keys"),
            }
        }
    });
}

/// Whether a request takes part: writes under `/v1` that carry the header.
pub fn applies(req: &Request) -> bool {
    matches!(*req.method(), Method::POST | Method::PUT | Method::DELETE)
        && req.uri().path().starts_with("/v1/")
        && req.headers().contains_key(HEADER)
}

fn problem(kind: ProblemType, detail: &str, path: &str) -> Response {
    let mut p = Problem::of(kind, detail);
    p.instance = Some(path.to_owned());
    p.into_response()
}

/// Wraps `next` (which answers errors as problems already) with claim, replay and store.
pub async fn handle<E: Endpoint>(
    next: &E,
    mut req: Request,
    body: &[u8],
    db: &Db,
    principal: &str,
    ttl: Duration,
    instance: &str,
) -> Response {
    let path = instance.to_owned();
    let raw = req.headers().get(HEADER).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let key = match parse_key(&raw) {
        Ok(k) => k,
        Err(why) => {
            return problem(ProblemType::InvalidIdempotencyKey, &format!("the Idempotency-Key header {why}"), &path);
        }
    };
    let fp = fingerprint(req.method(), req.uri().path(), req.uri().query().unwrap_or(""), body);
    match claim(db, principal, &key, &fp, ttl).await {
        Err(err) => {
            tracing::error!(error = %err, "cannot claim an idempotency key");
            problem(ProblemType::Unavailable, "the idempotency store cannot be reached; try again later", &path)
        }
        Ok(Claim::Replay(stored)) => stored.replay(),
        Ok(Claim::Mismatch) => problem(
            ProblemType::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request (method, path, query or body)",
            &path,
        ),
        Ok(Claim::InProgress) => {
            let mut resp = problem(
                ProblemType::IdempotencyRequestInProgress,
                "a request with this Idempotency-Key is still running; retry later",
                &path,
            );
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp
        }
        Ok(Claim::Claimed(lease)) => {
            let claimed = ClaimedKey { principal: principal.to_owned(), key: key.clone() };
            req.extensions_mut().insert(claimed.clone());
            // Released in the background if this future is dropped (the request timed out).
            let mut guard = Held { db: db.clone(), key: claimed.clone(), lease, armed: true };
            let resp = match next.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            };
            guard.armed = false;
            finish(db, &claimed, lease, resp).await
        }
    }
}

/// A claim whose request has not finished; dropping it armed releases the claim.
struct Held {
    db: Db,
    key: ClaimedKey,
    lease: chrono::DateTime<Utc>,
    armed: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.armed && tokio::runtime::Handle::try_current().is_ok() {
            let (db, key, lease) = (self.db.clone(), self.key.clone(), self.lease);
            tokio::spawn(async move {
                if release(&db, &key, lease).await.is_err() {
                    release_later(db, key, lease).await;
                }
            });
        }
    }
}

/// Deletes this request's claim (only while it is still this request's: still running, with
/// this lease), so that a retry runs again.
async fn release(db: &Db, key: &ClaimedKey, lease: chrono::DateTime<Utc>) -> Result<(), DbErr> {
    keys::release(db, key, lease).await
}

/// Retries `release` until it succeeds or the lease has ended (a retry may then take the claim
/// over anyway): a request that failed because the database went away leaves no claim behind
/// once the database is back, so the client's retry runs instead of waiting out the lease.
async fn release_later(db: Db, key: ClaimedKey, lease: chrono::DateTime<Utc>) {
    let mut wait = Duration::from_millis(100);
    while Utc::now() < lease {
        tokio::time::sleep(wait).await;
        match release(&db, &key, lease).await {
            Ok(()) => {
                tracing::info!("an idempotency key held by a failed request is released");
                return;
            }
            Err(_) => wait = (wait * 2).min(Duration::from_secs(1)),
        }
    }
}

/// Stores a deterministic answer, or releases the key so that a retry runs again.
async fn finish(db: &Db, key: &ClaimedKey, lease: chrono::DateTime<Utc>, resp: Response) -> Response {
    let status = resp.status();
    let keep = status.is_success() || status == StatusCode::CONFLICT || status == StatusCode::PRECONDITION_FAILED;
    if !keep {
        if let Err(err) = release(db, key, lease).await {
            tracing::warn!(error = %err, "cannot release an idempotency key now; retrying in the background");
            tokio::spawn(release_later(db.clone(), key.clone(), lease));
        }
        return resp;
    }
    // 2xx answers of versioned writes were stored with the change; this stores the rest.
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter(|(k, _)| {
            matches!(k.as_str(), "content-type" | "location" | "etag" | "content-location" | "retry-after")
        })
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let stored =
        StoredResponse { status: status.as_u16(), headers, body: String::from_utf8_lossy(&bytes).into_owned() };
    if let Err(err) = keys::complete_alone(db, key, &stored).await {
        tracing::warn!(error = %err, "cannot store an idempotent answer");
    }
    Response::from_parts(parts, bytes.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_keys_are_the_same_key() {
        assert_eq!(parse_key(b"abc").unwrap(), "abc");
        assert_eq!(parse_key(b"\"abc\"").unwrap(), "abc");
    }

    #[test]
    fn malformed_keys_are_refused() {
        let long = "k".repeat(256);
        for bad in [&b""[..], b"\"\"", b"\"abc", "caf\u{e9}".as_bytes(), b"a\tb", long.as_bytes(), b"\"a\"b\""] {
            assert!(parse_key(bad).is_err(), "{:?} was accepted", String::from_utf8_lossy(bad));
        }
        assert!(parse_key("k".repeat(255).as_bytes()).is_ok());
    }

    #[test]
    fn fingerprint_ignores_key_order_and_whitespace_but_not_values() {
        let a = fingerprint(&Method::PUT, "/v1/x", "", br#"{"a":1,"b":[1,2]}"#);
        let b = fingerprint(&Method::PUT, "/v1/x", "", b"{ \"b\": [1, 2],\n \"a\": 1 }");
        let c = fingerprint(&Method::PUT, "/v1/x", "", br#"{"a":2,"b":[1,2]}"#);
        let d = fingerprint(&Method::PUT, "/v1/x", "dryRun=true", br#"{"a":1,"b":[1,2]}"#);
        let e = fingerprint(&Method::POST, "/v1/x", "", br#"{"a":1,"b":[1,2]}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_ne!(a, e);
    }
}
