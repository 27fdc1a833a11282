//! The HTTP client of the daap API: one place that adds the bearer token, turns every
//! non-2xx answer into a `Problem` (RFC 9457, or what a proxy sent instead) and every
//! failure into a `CliError` with its exit code. Requests to object storage go through
//! `Client::storage`, which never carries the token, and their errors never show the
//! presigned URL (it is a secret).
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::{Connection, EXIT_FAILURE, EXIT_USAGE};

/// A field violation of a 422 problem.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A refusal from the server.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    /// The problem's `type` (empty when the answer was not problem+json).
    pub problem_type: String,
    pub title: String,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// The whole body, for `--json`.
    pub body: Value,
}

impl Problem {
    async fn of(resp: Response) -> Problem {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let str_of = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let errors = body
            .get("errors")
            .and_then(|e| serde_json::from_value::<Vec<FieldError>>(e.clone()).ok())
            .unwrap_or_default();
        let title = str_of("title")
            .unwrap_or_else(|| format!("HTTP {} {}", status.as_u16(), status.canonical_reason().unwrap_or_default()));
        let detail = str_of("detail").or_else(|| {
            // Not a problem document (a proxy's page, say): show its start, on one line.
            let snippet: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
            (!snippet.is_empty()).then_some(snippet)
        });
        Problem {
            status: status.as_u16(),
            problem_type: str_of("type").unwrap_or_default(),
            title,
            detail,
            errors,
            body,
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an error status.
    #[error("{}", .0.title)]
    Problem(Box<Problem>),
    /// The request did not get an answer (connection refused, timeout, broken body).
    #[error("{what}: {}", chain(.source))]
    Transport { what: String, source: reqwest::Error },
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// The command line asks for something that cannot be done (exit 3).
    #[error("{0}")]
    Usage(String),
    /// Anything else (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Problem(_) | CliError::Transport { .. } | CliError::Io { .. } | CliError::Failed(_) => {
                EXIT_FAILURE
            }
        }
    }

    /// Whether trying again later may succeed: no answer, or an answer saying "later".
    pub fn is_transient(&self) -> bool {
        match self {
            CliError::Transport { .. } => true,
            CliError::Problem(p) => matches!(p.status, 408 | 429 | 500 | 502 | 503 | 504),
            CliError::Io { .. } | CliError::Usage(_) | CliError::Failed(_) => false,
        }
    }

    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// An error and its causes, `: `-separated (reqwest's own message alone says little).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// A client of one daap server.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(conn: &Connection) -> Result<Client, CliError> {
        let base = conn.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::Usage(format!("--url / DAAP_URL `{}` is not an http(s) URL", conn.url)));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| CliError::Failed(format!("cannot set up an HTTP client: {e}")))?;
        let token = conn.token.clone().filter(|t| !t.trim().is_empty());
        Ok(Client { base, token, http })
    }

    /// `DAAP_URL` without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to the API (`path` starts with `/`), with the token and a 60 s timeout (long
    /// polls set their own).
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base)).timeout(Duration::from_secs(60));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request to object storage (a presigned URL): no token, no overall timeout.
    pub fn storage(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends an API request: a 2xx answer, or the problem as an error.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, CliError> {
        let request = request.build().map_err(|e| CliError::Failed(format!("cannot build a request: {e}")))?;
        let what = format!("cannot reach {} ({} {})", self.base, request.method(), request.url().path());
        let resp = self
            .http
            .execute(request)
            .await
            .map_err(|source| CliError::Transport { what, source: source.without_url() })?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
            Ok(resp)
        } else {
            Err(CliError::Problem(Box::new(Problem::of(resp).await)))
        }
    }

    /// Sends an API request and reads its JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, CliError> {
        let resp = self.send(request).await?;
        let url = resp.url().path().to_owned();
        let bytes =
            resp.bytes().await.map_err(|source| CliError::Transport { what: format!("reading {url}"), source })?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::Failed(format!("unexpected answer from {url}: {e}")))
    }

    /// `GET path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.json(self.api(Method::GET, path)).await
    }

    /// Every item of a paged list (`{ "items", "nextCursor" }`), following `nextCursor`;
    /// `query` is the list's other parameters (`&`-joined, already encoded).
    pub async fn all_pages(&self, path: &str, query: &str, max: Option<usize>) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}?limit=200");
            if !query.is_empty() {
                url.push('&');
                url.push_str(query);
            }
            if let Some(c) = &cursor {
                url.push_str("&cursor=");
                url.push_str(&encode(c));
            }
            let page: Value = self.get(&url).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            if max.is_some_and(|m| items.len() >= m) {
                items.truncate(max.unwrap_or_default());
                return Ok(items);
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters kept).
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from the parameters that are set.
pub fn query(params: &[(&str, Option<String>)]) -> String {
    params.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_unreserved_characters_and_escapes_the_rest() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("k:v w/x"), "k%3Av%20w%2Fx");
    }

    #[test]
    fn query_leaves_out_unset_parameters() {
        assert_eq!(query(&[("a", Some("1".into())), ("b", None), ("c", Some("x y".into()))]), "a=1&c=x%20y");
    }
}
