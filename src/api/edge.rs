//! The edge every request passes before a handler runs: it is identified (`X-Request-Id`),
//! observed (a log span, metrics by route template), authenticated and rate-limited on its
//! headers alone, its body read within size, time and concurrency caps, and its
//! `Idempotency-Key` claimed; every error on the way out becomes a problem document.
use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, header},
    middleware::Cors,
};
use tracing::Instrument;

use super::{
    RouteTable,
    problem::{Problem, ProblemType, problem_response},
};
use crate::{
    auth::{Principal, Scope, Verifier, rate_limit::RateLimiter},
    config::Settings,
    error::ApiError,
    idempotency,
    metrics::Metrics,
    state::AppState,
    store::Db,
};

/// What the layers around the routes share.
pub struct Edge {
    route_table: RouteTable,
    verifier: Arc<Verifier>,
    limiter: Option<RateLimiter>,
    /// Failed authentications per client address.
    unauth_limiter: Option<RateLimiter>,
    /// One permit per request body being read.
    bodies: tokio::sync::Semaphore,
    body_timeout: std::time::Duration,
    metrics: Arc<Metrics>,
    db: Db,
    max_body: usize,
    idempotency_ttl: std::time::Duration,
    request_timeout: std::time::Duration,
    storage_events_token: Option<String>,
}

impl Edge {
    /// The edge of the routes `route_table` describes, configured by `settings`.
    pub fn new(state: &AppState, settings: &Settings, route_table: RouteTable) -> Edge {
        Edge {
            route_table,
            verifier: state.verifier.clone(),
            limiter: RateLimiter::new(settings.rate_limit_per_second, settings.rate_limit_burst),
            unauth_limiter: RateLimiter::new(settings.unauth_rate_limit_per_second, settings.unauth_rate_limit_burst),
            bodies: tokio::sync::Semaphore::new(settings.max_inflight_bodies.max(1)),
            body_timeout: settings.body_timeout.max(std::time::Duration::from_millis(100)),
            metrics: state.metrics.clone(),
            db: state.db.clone(),
            max_body: settings.max_body_bytes,
            idempotency_ttl: settings.idempotency_ttl,
            request_timeout: settings.request_timeout,
            storage_events_token: settings.storage_events_token.clone().filter(|t| !t.is_empty()),
        }
    }
}

/// The request id of a request (from `X-Request-Id`, or generated).
#[derive(Clone)]
pub struct RequestId(pub String);

const REQUEST_ID: &str = "x-request-id";

impl Edge {
    /// Outermost: request id, a log span, metrics by route template.
    pub async fn observe<E: Endpoint>(&self, ep: &E, mut req: Request) -> Response {
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        req.extensions_mut().insert(RequestId(id.clone()));
        let method = req.method().clone();
        let route = self.route_table.template(req.uri().path()).cloned().unwrap_or_else(|| Arc::from("unmatched"));
        let method_label = crate::metrics::method_label(&method);
        let span = tracing::info_span!("request", request_id = %id, method = method_label, route = %route);
        let started = std::time::Instant::now();
        let instance = instance_of(&req);
        let mut resp = match tokio::time::timeout(self.request_timeout, ep.call(req).instrument(span.clone())).await {
            Ok(Ok(r)) => r.into_response(),
            Ok(Err(e)) => e.into_response(),
            Err(_) => {
                let mut p = Problem::of(ProblemType::Unavailable, "the request took too long and was abandoned");
                p.instance = Some(instance);
                p.into_response()
            }
        };
        let elapsed = started.elapsed();
        let status = resp.status().as_u16();
        span.in_scope(|| tracing::info!(status, elapsed_ms = elapsed.as_millis() as u64, "request"));
        self.metrics.observe(&method, &route, status, elapsed);
        if resp.headers().contains_key(idempotency::REPLAYED) {
            self.metrics.replayed();
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        resp
    }

    /// Authentication (on headers alone), rate limits, then the body (capped in size, time
    /// and number in flight), then idempotency. A client without a valid token never gets
    /// to send a body: it is refused before a byte of it is read.
    pub async fn admit<E: Endpoint>(&self, ep: &E, mut req: Request) -> Response {
        if !req.uri().path().starts_with("/v1/") {
            // Health, metrics, docs and the spec read no body: it is never read.
            return match ep.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            };
        }
        let has_body = has_body(&req);
        let mut quota = None;
        let who = if self.is_storage_events_token(&req) {
            req.extensions_mut().insert(super::uploads::StorageEventsCaller);
            Principal {
                sub: super::uploads::STORAGE_EVENTS_SUB.to_owned(),
                scope: Some(Scope::Write),
                domains: Some(Vec::new()),
            }
        } else {
            match self.authenticate(&req).await {
                Ok(who) => who,
                Err(resp) => return self.unread(resp, has_body),
            }
        };
        if let Some(limiter) = &self.limiter {
            match limiter.take(&who.sub) {
                Ok(q) => quota = Some(q),
                Err(wait) => {
                    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                    let mut resp = self.problem(ApiError::RateLimited(secs).into(), &req);
                    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    return self.unread(resp, has_body);
                }
            }
        }
        let idempotency_scope = idempotency::scope_of(&who);
        req.extensions_mut().insert(who);
        let bytes = match self.read_body(&mut req, has_body).await {
            Ok(bytes) => bytes,
            Err(resp) => return self.unread(resp, true),
        };
        req.set_body(bytes.clone());
        let routed = self.route_table.allowed(req.uri().path()).contains(&req.method().as_str());
        let mut resp = if routed && idempotency::applies(&req) {
            let instance = instance_of(&req);
            idempotency::handle(ep, req, &bytes, &self.db, &idempotency_scope, self.idempotency_ttl, &instance).await
        } else {
            match ep.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            }
        };
        if let Some(q) = quota {
            let h = resp.headers_mut();
            h.insert("ratelimit-limit", HeaderValue::from(q.limit));
            h.insert("ratelimit-remaining", HeaderValue::from(q.remaining));
            h.insert("ratelimit-reset", HeaderValue::from(q.reset));
        }
        resp
    }

    /// The verified principal of a bearer token with the scope the method needs (read for
    /// GET, write otherwise), or the refusal. A client address whose failures spent its
    /// budget is refused (429) before its token's signature is checked, unless the token was
    /// verified before; every 401 spends one from the budget.
    async fn authenticate(&self, req: &Request) -> Result<Principal, Response> {
        let token = bearer_token(req);
        let peer = client_address(req);
        if let (Some(limiter), Some(peer)) = (&self.unauth_limiter, &peer)
            && !token.as_ref().is_ok_and(|t| self.verifier.knows(t))
            && let Err(wait) = limiter.check(peer)
        {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut p = Problem::of(
                ProblemType::RateLimited,
                format!("too many requests that failed authentication from this address; retry in {secs} s"),
            );
            p.instance = Some(instance_of(req));
            let mut resp = p.into_response();
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return Err(resp);
        }
        let verified = match token {
            Ok(token) => self.verifier.verify(token).await,
            Err(err) => Err(err),
        };
        let who = match verified {
            Ok(who) => who,
            Err(err) => {
                if let (Some(limiter), Some(peer)) = (&self.unauth_limiter, &peer) {
                    let _ = limiter.take(peer);
                }
                return Err(self.problem(err.into(), req));
            }
        };
        let needed = if matches!(*req.method(), poem::http::Method::GET | poem::http::Method::HEAD) {
            Scope::Read
        } else {
            Scope::Write
        };
        who.require(needed).map_err(|err| self.problem(err.into(), req))?;
        Ok(who)
    }

    /// Reads the whole body, capped at `max_body` bytes, `body_timeout` and
    /// `max_inflight_bodies` bodies being read at once.
    async fn read_body(&self, req: &mut Request, has_body: bool) -> Result<bytes::Bytes, Response> {
        let _permit = if has_body {
            match self.bodies.try_acquire() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let mut p = Problem::of(
                        ProblemType::Unavailable,
                        "the service is receiving as many request bodies as it takes at once; retry shortly",
                    );
                    p.instance = Some(instance_of(req));
                    let mut resp = p.into_response();
                    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return Err(resp);
                }
            }
        } else {
            None
        };
        match tokio::time::timeout(self.body_timeout, req.take_body().into_bytes_limit(self.max_body)).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(err)) => Err(self.problem(err.into(), req)),
            Err(_) => {
                let mut p = Problem::of(
                    ProblemType::RequestTimeout,
                    format!("the request body did not arrive within {} s", self.body_timeout.as_secs_f64()),
                );
                p.instance = Some(instance_of(req));
                Err(p.into_response())
            }
        }
    }

    /// An answer given while the body is (partly) unread: the connection cannot be reused.
    fn unread(&self, mut resp: Response, body_unread: bool) -> Response {
        if body_unread {
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }

    /// Innermost: every error becomes a problem document.
    pub async fn map_errors<E: Endpoint>(&self, ep: &E, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        let method = req.method().as_str().to_owned();
        let instance = instance_of(&req);
        match ep.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => problem_response(
                err,
                &instance,
                || self.route_table.allowed(&path),
                |name| self.route_table.param(&method, &path, name),
            ),
        }
    }

    /// `POST /v1/storage-events` with exactly `Bearer <DAAP_STORAGE_EVENTS_TOKEN>` (compared in constant time).
    fn is_storage_events_token(&self, req: &Request) -> bool {
        let Some(expected) = &self.storage_events_token else {
            return false;
        };
        if req.method() != poem::http::Method::POST || req.uri().path() != "/v1/storage-events" {
            return false;
        }
        let Some(sent) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
        else {
            return false;
        };
        sent.len() == expected.len() && sent.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    fn problem(&self, err: poem::Error, req: &Request) -> Response {
        problem_response(err, &instance_of(req), Vec::new, |name| (name.to_owned(), None))
    }
}

/// The problem `instance` of a request: its path, with the request id as the fragment.
pub fn instance_of(req: &Request) -> String {
    match req.extensions().get::<RequestId>() {
        Some(RequestId(id)) => format!("{}#{id}", req.uri().path()),
        None => req.uri().path().to_owned(),
    }
}

/// A panicking handler is a bug: logged, answered as an opaque 500 problem.
pub fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    Problem::of(ProblemType::Internal, "an unexpected error occurred; it has been logged").into_response()
}

/// Browser access for the configured origins (`*` for any).
pub fn cors(origins: &[String]) -> Option<Cors> {
    let origins: Vec<&str> = origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return None;
    }
    let mut cors = Cors::new()
        .allow_methods(["GET", "POST", "PUT", "DELETE"])
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
            "if-none-match",
            "x-request-id",
        ])
        .expose_headers(["etag", "location", "content-location", "x-request-id", "idempotent-replayed", "retry-after"])
        .max_age(600);
    if !origins.contains(&"*") {
        cors = cors.allow_origins(origins);
    }
    Some(cors)
}

/// The bearer token of a request, or why there is none (a 401).
fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    let header = req.headers().get(poem::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match header.map(|h| h.split_once(' ')) {
        None => Err(ApiError::Unauthorized("a bearer token is required".to_owned())),
        Some(Some((scheme, token))) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim())
        }
        Some(_) => Err(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".to_owned())),
    }
}

/// The rate-limit key of the peer: its IPv4 address, or the /64 of its IPv6 address (one
/// host usually holds a whole /64). Behind a proxy this is the proxy's address.
fn client_address(req: &Request) -> Option<String> {
    let ip = req.remote_addr().as_socket_addr()?.ip();
    Some(match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    })
}

/// Whether a request may carry a body: a non-zero `Content-Length`, chunked, or any HTTP/2
/// request that is not a GET or HEAD.
fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        return len.to_str().ok().and_then(|l| l.trim().parse::<u64>().ok()) != Some(0);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    req.version() >= poem::http::Version::HTTP_2
        && !matches!(*req.method(), poem::http::Method::GET | poem::http::Method::HEAD)
}
