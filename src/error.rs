//! `ApiError` -> RFC 9457 `application/problem+json`: the one place where a failure
//! becomes a status code. Framework errors (bad JSON, bad path or query, unknown
//! routes, wrong methods, wrong media types) are mapped here too, so every error
//! the service answers is a problem document, and a 5xx never shows internals.
use poem::{
    Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::{ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError},
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

use crate::api::dto::ChangeDto;
use crate::domain::diff::Change;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every problem type the service answers with: its stable relative URI, title and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    MalformedRequest,
    InvalidId,
    InvalidIdempotencyKey,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    UnexpectedChange,
    Conflict,
    IdempotencyRequestInProgress,
    PreconditionFailed,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    IdempotencyKeyReused,
    RateLimited,
    Unavailable,
    Internal,
}

impl ProblemType {
    /// Every type, in README order.
    pub const ALL: [ProblemType; 20] = [
        Self::MalformedRequest,
        Self::InvalidId,
        Self::InvalidIdempotencyKey,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::AlreadyExists,
        Self::UnexpectedChange,
        Self::Conflict,
        Self::IdempotencyRequestInProgress,
        Self::PreconditionFailed,
        Self::RequestTimeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::IdempotencyKeyReused,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    /// (type URI, title, status)
    pub fn describe(self) -> (&'static str, &'static str, StatusCode) {
        match self {
            Self::MalformedRequest => ("/problems/malformed-request", "Malformed request", StatusCode::BAD_REQUEST),
            Self::InvalidId => ("/problems/invalid-id", "Invalid public ID", StatusCode::BAD_REQUEST),
            Self::InvalidIdempotencyKey => {
                ("/problems/invalid-idempotency-key", "Invalid idempotency key", StatusCode::BAD_REQUEST)
            }
            Self::IdempotencyRequestInProgress => {
                ("/problems/idempotency-request-in-progress", "Request in progress", StatusCode::CONFLICT)
            }
            Self::IdempotencyKeyReused => {
                ("/problems/idempotency-key-reused", "Idempotency key reused", StatusCode::UNPROCESSABLE_ENTITY)
            }
            Self::Unauthorized => ("/problems/unauthorized", "Unauthorized", StatusCode::UNAUTHORIZED),
            Self::Forbidden => ("/problems/forbidden", "Forbidden", StatusCode::FORBIDDEN),
            Self::NotFound => ("/problems/not-found", "Not found", StatusCode::NOT_FOUND),
            Self::MethodNotAllowed => {
                ("/problems/method-not-allowed", "Method not allowed", StatusCode::METHOD_NOT_ALLOWED)
            }
            Self::AlreadyExists => ("/problems/already-exists", "Already exists", StatusCode::CONFLICT),
            Self::UnexpectedChange => ("/problems/unexpected-change", "Unexpected change", StatusCode::CONFLICT),
            Self::Conflict => ("/problems/conflict", "Conflict", StatusCode::CONFLICT),
            Self::PreconditionFailed => {
                ("/problems/precondition-failed", "Precondition failed", StatusCode::PRECONDITION_FAILED)
            }
            Self::RequestTimeout => ("/problems/request-timeout", "Request timeout", StatusCode::REQUEST_TIMEOUT),
            Self::PayloadTooLarge => {
                ("/problems/payload-too-large", "Payload too large", StatusCode::PAYLOAD_TOO_LARGE)
            }
            Self::UnsupportedMediaType => {
                ("/problems/unsupported-media-type", "Unsupported media type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            Self::Validation => ("/problems/validation", "Validation failed", StatusCode::UNPROCESSABLE_ENTITY),
            Self::RateLimited => ("/problems/rate-limited", "Too many requests", StatusCode::TOO_MANY_REQUESTS),
            Self::Unavailable => ("/problems/unavailable", "Service unavailable", StatusCode::SERVICE_UNAVAILABLE),
            Self::Internal => ("/problems/internal", "Internal server error", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// One violated rule of a request body.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the offending member, e.g. `/columns/0/type`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Problem {
    /// Stable relative URI naming the problem type, e.g. `/problems/not-found`.
    #[oai(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: Option<String>,
    /// The path of the request that failed.
    pub instance: Option<String>,
    /// Field violations (`/problems/validation`): the first `MAX_LISTED_ERRORS` (100).
    pub errors: Option<Vec<FieldError>>,
    /// How many field violations there are in all (`/problems/validation`); more than
    /// `errors` lists when over 100.
    pub error_count: Option<u64>,
    /// The classified changes (`/problems/unexpected-change`).
    pub changes: Option<Vec<ChangeDto>>,
}

/// The most field violations one validation problem lists; `errorCount` gives the total.
pub const MAX_LISTED_ERRORS: usize = 100;

/// Everything an operation can fail with. `problem()` is the only mapping to a status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: something in the path or query is malformed.
    #[error("{0}")]
    MalformedRequest(String),
    /// 400: a public ID that does not parse.
    #[error("{0}")]
    InvalidId(String),
    /// 401: no bearer token, or one that does not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token lacks the scope, or the product is of another domain.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: the name is taken (also by a soft-deleted product).
    #[error("{0}")]
    AlreadyExists(String),
    /// 409: the server's classification differs from `expectedChange`.
    #[error("{detail}")]
    UnexpectedChange { detail: String, changes: Vec<Change> },
    /// 409: the resource's state forbids the request.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` does not name the current version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 422: the body breaks the schema; every violation listed.
    #[error("the request body is invalid")]
    Validation(Vec<FieldError>),
    /// 429: the principal's rate limit is spent; retry after this many seconds.
    #[error("rate limit exceeded")]
    RateLimited(u64),
    /// 503: the database answers but lacks migrations (`daap migrate up`).
    #[error("the database is not migrated")]
    NotMigrated,
    /// 503: the database cannot be reached.
    #[error("the database is unavailable")]
    Unavailable,
    /// 503: the object store cannot be reached or failed; the cause is logged, not shown.
    #[error("the object store is unavailable: {0}")]
    StorageUnavailable(String),
    /// 500: a bug; logged with its cause, never shown to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        if db_unavailable(&err) { ApiError::Unavailable } else { ApiError::Internal(err.into()) }
    }
}

/// True when a database error says the database cannot answer now, not that the request or
/// the code is wrong: no connection, a connection that died mid-query, a pool closed or timed
/// out, SQLite busy or locked past its busy timeout, or PostgreSQL shutting down, starting up
/// or refusing connections (SQLSTATE 57P01-57P03, class 08).
pub fn db_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
        DbErr::Exec(RuntimeErr::Internal(msg)) | DbErr::Query(RuntimeErr::Internal(msg)) => {
            // SeaORM reports a connection lost inside a transaction as text.
            let msg = msg.to_ascii_lowercase();
            msg.contains("connection closed") || msg.contains("pool timed out")
        }
        _ => false,
    }
}

fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::BeginFailed => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.parse::<i64>() {
                // SQLite: the primary result code is the low byte (5 BUSY, 6 LOCKED).
                Ok(n) if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() => {
                    matches!(n & 0xff, 5 | 6)
                }
                _ => matches!(code.as_ref(), "57P01" | "57P02" | "57P03") || code.starts_with("08"),
            }
        }
        _ => false,
    }
}

/// True when `cause`, or anything it wraps, is a database error that `db_unavailable` accepts.
fn chain_unavailable(cause: &anyhow::Error) -> bool {
    cause.chain().any(|e| {
        e.downcast_ref::<sea_orm::DbErr>().is_some_and(db_unavailable)
            || e.downcast_ref::<sea_orm::sqlx::Error>().is_some_and(sqlx_unavailable)
    })
}

impl ApiError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} does not exist"))
    }

    fn problem(&self) -> Problem {
        let (kind, detail) = match self {
            Self::MalformedRequest(d) => (ProblemType::MalformedRequest, d.clone()),
            Self::InvalidId(d) => (ProblemType::InvalidId, d.clone()),
            Self::Unauthorized(d) => (ProblemType::Unauthorized, d.clone()),
            Self::Forbidden(d) => (ProblemType::Forbidden, d.clone()),
            Self::NotFound(d) => (ProblemType::NotFound, d.clone()),
            Self::AlreadyExists(d) => (ProblemType::AlreadyExists, d.clone()),
            Self::UnexpectedChange { detail, .. } => (ProblemType::UnexpectedChange, detail.clone()),
            Self::Conflict(d) => (ProblemType::Conflict, d.clone()),
            Self::PreconditionFailed(d) => (ProblemType::PreconditionFailed, d.clone()),
            Self::Validation(errors) => {
                (ProblemType::Validation, format!("the request body has {} invalid member(s)", errors.len()))
            }
            Self::RateLimited(secs) => {
                (ProblemType::RateLimited, format!("too many requests from this principal; retry in {secs} s"))
            }
            Self::NotMigrated => (
                ProblemType::Unavailable,
                "the database is reachable but not migrated; run `daap migrate up`".to_owned(),
            ),
            Self::Unavailable => {
                (ProblemType::Unavailable, "the service cannot reach its database; try again later".to_owned())
            }
            Self::StorageUnavailable(_) => {
                (ProblemType::Unavailable, "the service cannot reach its object store; try again later".to_owned())
            }
            Self::Internal(cause) if chain_unavailable(cause) => {
                (ProblemType::Unavailable, "the service cannot reach its database; try again later".to_owned())
            }
            Self::Internal(_) => (ProblemType::Internal, "an unexpected error occurred; it has been logged".to_owned()),
        };
        let mut problem = Problem::of(kind, detail);
        match self {
            Self::Validation(errors) => {
                // A body of many bad members must not make an answer many times its size.
                problem.errors = Some(errors.iter().take(MAX_LISTED_ERRORS).cloned().collect());
                problem.error_count = Some(errors.len() as u64);
            }
            Self::UnexpectedChange { changes, .. } => {
                problem.changes = Some(changes.iter().map(ChangeDto::from).collect())
            }
            _ => {}
        }
        problem
    }
}

impl Problem {
    pub fn of(kind: ProblemType, detail: impl Into<String>) -> Self {
        let (uri, title, status) = kind.describe();
        Problem {
            problem_type: uri.to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            instance: None,
            errors: None,
            error_count: None,
            changes: None,
        }
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = poem_openapi::types::ToJSON::to_json_string(&self);
        let mut resp = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))
            .body(body);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn as_response(&self) -> Response {
        self.problem().into_response()
    }
}

impl Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Turns any error that reached the edge into a problem answer for `path`.
/// `allow` gives the methods a path supports, for 405 answers.
/// `instance` is the request path, with the request id as its fragment.
pub fn problem_response(err: poem::Error, instance: &str, allow: impl Fn() -> Vec<&'static str>) -> Response {
    let path = instance.split('#').next().unwrap_or(instance);
    let mut extra_allow = None;
    let mut problem = if let Some(api) = err.downcast_ref::<ApiError>() {
        if let ApiError::Internal(cause) = api {
            if chain_unavailable(cause) {
                tracing::warn!(error = %format!("{cause:#}"), path, "database unavailable");
            } else {
                tracing::error!(error = %format!("{cause:#}"), path, "internal error");
            }
        }
        if let ApiError::StorageUnavailable(cause) = api {
            tracing::warn!(error = %cause, path, "object store unavailable");
        }
        api.problem()
    } else if err.is::<NotFoundError>() {
        Problem::of(ProblemType::NotFound, format!("no route matches {path}"))
    } else if err.is::<MethodNotAllowedError>() {
        extra_allow = Some(allow().join(", "));
        Problem::of(ProblemType::MethodNotAllowed, format!("{path} does not support this method"))
    } else if err.is::<ContentTypeError>() {
        Problem::of(ProblemType::UnsupportedMediaType, format!("{err}; send the body as application/json"))
    } else if err.is::<ParseParamError>() || err.is::<ParsePathError>() || err.is::<ParseRequestPayloadError>() {
        Problem::of(ProblemType::MalformedRequest, err.to_string())
    } else {
        match err.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Problem::of(ProblemType::PayloadTooLarge, "the request body is over the size limit")
            }
            StatusCode::NOT_FOUND => Problem::of(ProblemType::NotFound, format!("no route matches {path}")),
            s if s.is_client_error() => Problem::of(ProblemType::MalformedRequest, err.to_string()),
            _ => {
                tracing::error!(error = %err, path, "unhandled error");
                Problem::of(ProblemType::Internal, "an unexpected error occurred; it has been logged")
            }
        }
    };
    problem.instance = Some(instance.to_owned());
    let mut resp = problem.into_response();
    if let Some(allow) = extra_allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    resp
}

/// Documents the problem answers of an operation.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let documented = [
            (
                400,
                "Malformed path, query, body or idempotency key (`/problems/malformed-request`, `/problems/invalid-id`, `/problems/invalid-idempotency-key`)",
            ),
            (
                401,
                "No bearer token, or one that does not verify (`/problems/unauthorized`, with `WWW-Authenticate: Bearer`)",
            ),
            (403, "The token lacks the scope, or the product is of another domain (`/problems/forbidden`)"),
            (404, "No such resource (`/problems/not-found`)"),
            (
                409,
                "Name taken, unexpected change or state conflict (`/problems/already-exists`, `/problems/unexpected-change`, `/problems/conflict`)",
            ),
            (412, "`If-Match` does not match the current version (`/problems/precondition-failed`)"),
            (413, "Body over the size limit (`/problems/payload-too-large`)"),
            (415, "Body is not `application/json` (`/problems/unsupported-media-type`)"),
            (429, "The principal's rate limit is spent (`/problems/rate-limited`, with `Retry-After`)"),
            (
                422,
                "Body breaks the schema; `errors` lists every violation (`/problems/validation`); or an idempotency key reused with a different request (`/problems/idempotency-key-reused`)",
            ),
            (500, "A bug, logged with the request (`/problems/internal`)"),
            (503, "The database or the object store is unreachable (`/problems/unavailable`)"),
        ];
        MetaResponses {
            responses: documented
                .into_iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType { content_type: PROBLEM_JSON, schema: Problem::schema_ref() }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}
