//! The one mapping from a failure to its answer: `ApiError` -> status and RFC 9457 problem
//! type, framework errors (bad JSON, bad path or query, unknown routes, wrong methods, wrong
//! media types) included, so every error the service answers is a problem document and a 5xx
//! never shows internals. Each operation documents only the problems it can answer: its
//! `ErrorSet` lists them, and `Reply<T, S>` puts them (with the headers every answer carries)
//! into the OpenAPI document.
use std::{
    collections::HashMap,
    marker::PhantomData,
    sync::{LazyLock, Mutex},
};

use poem::{
    IntoResponse, Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::{ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError},
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};

use super::dto::ChangeDto;
use crate::error::{ApiError, FieldError, MAX_LISTED_ERRORS, chain_unavailable};

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

impl ApiError {
    /// The problem document of this failure: the only match from variant to status.
    pub fn problem(&self) -> Problem {
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
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Turns any error that reached the edge into a problem answer for `path`.
/// `allow` gives the methods a path supports, for 405 answers.
/// `instance` is the request path, with the request id as its fragment.
/// `param` gives a parameter's documented name and what it allows (from poem-openapi's name
/// for it: path parameters are `param0`, `param1`, ...), for parse failures.
pub fn problem_response(
    err: poem::Error,
    instance: &str,
    allow: impl Fn() -> Vec<&'static str>,
    param: impl Fn(&str) -> (String, Option<String>),
) -> Response {
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
    } else if let Some(e) = err.downcast_ref::<ParseParamError>() {
        Problem::of(ProblemType::MalformedRequest, parameter_problem(e.name, &e.reason, &param))
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        Problem::of(ProblemType::MalformedRequest, parameter_problem(e.name, &e.reason, &param))
    } else if err.is::<ParseRequestPayloadError>() {
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

/// "`limit` must be an integer in 1..=200": the parameter and what it allows, from its schema,
/// else from its own parser's words, without poem-openapi's wording ("verification failed",
/// `failed to parse "optional_Status"`).
fn parameter_problem(raw: &str, reason: &str, param: &impl Fn(&str) -> (String, Option<String>)) -> String {
    let (name, rule) = param(raw);
    if let Some(rule) = rule {
        return format!("`{name}` {rule}");
    }
    // A custom parser's message follows poem-openapi's `failed to parse "<type>": ` prefix.
    let own = reason.strip_prefix("failed to parse \"").and_then(|r| r.split_once("\": ")).map(|(_, m)| m);
    match own {
        Some(message) => format!("`{name}` {message}"),
        None => format!("`{name}` is malformed"),
    }
}

/// The problems one operation can answer with, and whether it is an idempotent write (whose
/// answers may be replays). Each operation names one set; `sets` holds them.
pub trait ErrorSet: Send + Sync + 'static {
    /// Every problem type the operation can answer with.
    const PROBLEMS: &'static [ProblemType];
    /// A POST, PUT or DELETE under `/v1`: it honours `Idempotency-Key`.
    const WRITE: bool = false;
}

/// What an operation answers: `T` on success (its headers spelt canonically, plus those every
/// answer carries), or a problem of the set `S`.
pub type Reply<T, S> = Result<Answer<T, S>, Failure<S>>;

/// A success answer of an operation whose problems `S` lists.
pub struct Answer<T, S>(pub T, PhantomData<fn() -> S>);

impl<T, S> From<T> for Answer<T, S> {
    fn from(value: T) -> Self {
        Answer(value, PhantomData)
    }
}

impl<T: IntoResponse, S: Send> IntoResponse for Answer<T, S> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<T: ApiResponse, S: ErrorSet> ApiResponse for Answer<T, S> {
    const BAD_REQUEST_HANDLER: bool = T::BAD_REQUEST_HANDLER;

    fn meta() -> MetaResponses {
        let mut meta = T::meta();
        for resp in &mut meta.responses {
            for h in &mut resp.headers {
                h.name = canonical_header(&h.name);
            }
            resp.headers.push(header_doc(REQUEST_ID, "The request's id: the one sent, or a new one.", true));
            if S::PROBLEMS.contains(&ProblemType::RateLimited) {
                resp.headers.extend(rate_limit_headers());
            }
            if S::WRITE && resp.status.is_some_and(|s| (200..300).contains(&s)) {
                resp.headers.push(header_doc(
                    IDEMPOTENT_REPLAYED,
                    "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`.",
                    false,
                ));
            }
        }
        meta
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Answer(T::from_parse_request_error(err), PhantomData)
    }
}

/// A failure of an operation whose problems `S` lists; answered by `problem_response`.
pub struct Failure<S>(pub ApiError, PhantomData<fn() -> S>);

impl<S> From<ApiError> for Failure<S> {
    fn from(err: ApiError) -> Self {
        Failure(err, PhantomData)
    }
}

impl<S> From<sea_orm::DbErr> for Failure<S> {
    fn from(err: sea_orm::DbErr) -> Self {
        Failure(err.into(), PhantomData)
    }
}

impl<S> From<Failure<S>> for poem::Error {
    fn from(failure: Failure<S>) -> Self {
        poem::Error::from(failure.0)
    }
}

impl<S: ErrorSet> ApiResponse for Failure<S> {
    fn meta() -> MetaResponses {
        problem_responses(S::PROBLEMS, S::WRITE)
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

const REQUEST_ID: &str = "X-Request-Id";
const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// Header names as HTTP documents spell them (poem-openapi upper-cases declared names).
pub fn canonical_header(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "ETag",
        "WWW-Authenticate",
        "X-Request-Id",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Idempotency-Key",
        "Idempotent-Replayed",
    ];
    if let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return (*known).to_owned();
    }
    name.split('-')
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn header_doc(name: &str, description: &str, required: bool) -> MetaHeader {
    MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required,
        deprecated: false,
        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
    }
}

fn integer_header(name: &str, description: &str, required: bool) -> MetaHeader {
    MetaHeader {
        schema: MetaSchemaRef::Inline(Box::new(MetaSchema { minimum: Some(0.0), ..MetaSchema::new("integer") })),
        ..header_doc(name, description, required)
    }
}

/// `RateLimit-*` (draft-ietf-httpapi-ratelimit-headers): sent on `/v1` answers while the
/// per-principal limit is on.
fn rate_limit_headers() -> Vec<MetaHeader> {
    vec![
        integer_header(
            "RateLimit-Limit",
            "Requests the principal may make in a burst (`DAAP_RATE_LIMIT_BURST`).",
            false,
        ),
        integer_header("RateLimit-Remaining", "Requests left in the current burst.", false),
        integer_header("RateLimit-Reset", "Seconds until the burst is whole again.", false),
    ]
}

/// A `&'static str` for a description built at run time; each distinct text is kept once.
fn interned(text: String) -> &'static str {
    static TEXTS: LazyLock<Mutex<HashMap<String, &'static str>>> = LazyLock::new(Default::default);
    let mut texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = texts.get(&text) {
        return t;
    }
    let leaked: &'static str = Box::leak(text.clone().into_boxed_str());
    texts.insert(text, leaked);
    leaked
}

impl ProblemType {
    /// When an operation answers with this type, for the docs.
    fn when(self) -> &'static str {
        match self {
            Self::MalformedRequest => "something in the path or query (or the body's JSON syntax) is malformed",
            Self::InvalidId => "the public ID does not parse",
            Self::InvalidIdempotencyKey => "the `Idempotency-Key` header is not 1..=255 printable ASCII characters",
            Self::Unauthorized => "no bearer token, or one that does not verify",
            Self::Forbidden => "the token lacks the scope, or the product is of another domain",
            Self::NotFound => "no such resource",
            Self::MethodNotAllowed => "the path does not support the method",
            Self::AlreadyExists => "the name is taken (also by a soft-deleted product)",
            Self::UnexpectedChange => "the server's classification differs from `expectedChange` (with `changes`)",
            Self::Conflict => "the resource's state forbids the request",
            Self::IdempotencyRequestInProgress => "a request with this `Idempotency-Key` is still running",
            Self::PreconditionFailed => "`If-Match` does not name the current version",
            Self::RequestTimeout => "the body did not arrive in time",
            Self::PayloadTooLarge => "the body is over `DAAP_MAX_BODY_BYTES`",
            Self::UnsupportedMediaType => "the body is not `application/json`",
            Self::Validation => "the body breaks the schema; `errors` lists every violation",
            Self::IdempotencyKeyReused => "the `Idempotency-Key` was used for a different request",
            Self::RateLimited => "the rate limit is spent",
            Self::Unavailable => "the database or the object store cannot be reached",
            Self::Internal => "a bug, logged with the request id",
        }
    }
}

/// One documented answer per status of `problems`, naming each problem type it may carry and
/// the headers that come with it.
pub fn problem_responses(problems: &[ProblemType], write: bool) -> MetaResponses {
    let mut statuses: Vec<u16> = problems.iter().map(|p| p.describe().2.as_u16()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let responses = statuses
        .into_iter()
        .map(|status| {
            let kinds: Vec<ProblemType> =
                problems.iter().copied().filter(|p| p.describe().2.as_u16() == status).collect();
            let description =
                kinds.iter().map(|k| format!("`{}`: {}", k.describe().0, k.when())).collect::<Vec<_>>().join("; ");
            let mut headers = vec![header_doc(REQUEST_ID, "The request's id: the one sent, or a new one.", true)];
            match status {
                401 => headers.push(header_doc("WWW-Authenticate", "`Bearer`.", true)),
                429 => headers.push(integer_header("Retry-After", "Seconds to wait before retrying.", true)),
                409 if kinds.contains(&ProblemType::IdempotencyRequestInProgress) => headers.push(integer_header(
                    "Retry-After",
                    "Seconds to wait before retrying (`/problems/idempotency-request-in-progress`).",
                    false,
                )),
                503 => headers.push(integer_header(
                    "Retry-After",
                    "Seconds to wait, when the service is receiving as many bodies as it takes at once.",
                    false,
                )),
                _ => {}
            }
            if status != 401 && problems.contains(&ProblemType::RateLimited) {
                headers.extend(rate_limit_headers());
            }
            if write && matches!(status, 409 | 412) {
                headers.push(header_doc(
                    IDEMPOTENT_REPLAYED,
                    "`true` when this is the stored refusal of an earlier request with the same `Idempotency-Key`.",
                    false,
                ));
            }
            MetaResponse {
                description: interned(format!("{}.", description)),
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType { content_type: PROBLEM_JSON, schema: Problem::schema_ref() }],
                headers,
            }
        })
        .collect();
    MetaResponses { responses }
}

/// The problem sets of the operations, named after them. Every `/v1` operation can answer
/// 401, 403, 429, 500 and 503; writes add the `Idempotency-Key` problems; bodies add 408,
/// 413, 415 and 422.
pub mod sets {
    use super::{ErrorSet, ProblemType};

    macro_rules! error_set {
        (@make $(#[$doc:meta])* $name:ident, $write:expr, [$($p:ident),*]) => {
            $(#[$doc])*
            pub struct $name;
            impl ErrorSet for $name {
                const PROBLEMS: &'static [ProblemType] = &[$(ProblemType::$p),*];
                const WRITE: bool = $write;
            }
        };
        ($(#[$doc:meta])* $name:ident: read [$($p:ident),*]) => {
            error_set!(@make $(#[$doc])* $name, false,
                [Unauthorized, Forbidden, RateLimited, Internal, Unavailable $(, $p)*]);
        };
        ($(#[$doc:meta])* $name:ident: write [$($p:ident),*]) => {
            error_set!(@make $(#[$doc])* $name, true,
                [Unauthorized, Forbidden, RateLimited, Internal, Unavailable, InvalidIdempotencyKey,
                 IdempotencyKeyReused, IdempotencyRequestInProgress $(, $p)*]);
        };
        ($(#[$doc:meta])* $name:ident: write_body [$($p:ident),*]) => {
            error_set!(@make $(#[$doc])* $name, true,
                [Unauthorized, Forbidden, RateLimited, Internal, Unavailable, InvalidIdempotencyKey,
                 IdempotencyKeyReused, IdempotencyRequestInProgress, MalformedRequest, RequestTimeout,
                 PayloadTooLarge, UnsupportedMediaType, Validation $(, $p)*]);
        };
    }

    /// Open routes that cannot fail (`/health/live`).
    pub struct Infallible;
    impl ErrorSet for Infallible {
        const PROBLEMS: &'static [ProblemType] = &[];
    }

    /// `/health/ready`: 503 when the database is unreachable or not migrated.
    pub struct Readiness;
    impl ErrorSet for Readiness {
        const PROBLEMS: &'static [ProblemType] = &[ProblemType::Unavailable];
    }

    error_set!(
        /// `GET /v1/stats`: no parameters, no resource to miss.
        Stats: read []
    );
    error_set!(
        /// A list without a parent resource: bad limit, cursor or filter.
        List: read [MalformedRequest]
    );
    error_set!(
        /// A read of a named resource: bad name, selector or parameter; no such resource.
        Read: read [MalformedRequest, NotFound]
    );
    error_set!(
        /// `GET /v1/resolve/{id}`.
        Resolve: read [MalformedRequest, InvalidId, NotFound]
    );
    error_set!(
        /// A read that the resource's state may refuse (a preview of an upload with no file).
        ReadState: read [MalformedRequest, NotFound, Conflict]
    );
    error_set!(
        /// `POST /v1/data-products`.
        CreateProduct: write_body [AlreadyExists]
    );
    error_set!(
        /// A versioned write with a body (metadata PUT, table PUT).
        VersionedWrite: write_body [NotFound, Conflict, UnexpectedChange, PreconditionFailed]
    );
    error_set!(
        /// A versioned write without a body (table DELETE).
        VersionedDelete: write [MalformedRequest, NotFound, Conflict, UnexpectedChange, PreconditionFailed]
    );
    error_set!(
        /// A write without a body on a named resource (delete, restore, abort).
        StateWrite: write [MalformedRequest, NotFound, Conflict]
    );
    error_set!(
        /// A write with a body on a named resource (create or complete an upload).
        StateWriteBody: write_body [NotFound, Conflict]
    );
    error_set!(
        /// A write with a body and no parent resource (webhooks, storage events).
        Submit: write_body []
    );
}
