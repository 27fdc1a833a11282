//! Everything an operation can fail with, as the workflows see it. `ApiError` says what went
//! wrong, never how it is answered: `api::problem` is the one place that gives a failure its
//! status and problem type. Database errors that mean "cannot answer now" (connection lost,
//! pool exhausted, SQLite busy, PostgreSQL shutting down) are told apart from bugs here.
use poem_openapi::Object;

use crate::domain::diff::Change;

// The problem document is the API layer's (`api::problem`); re-exported for the idempotency
// module until its refusals move into `api::edge` (see LAYOUT, PART 2).
pub use crate::api::problem::{Problem, ProblemType};

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

/// The most field violations one validation problem lists; `errorCount` gives the total.
pub const MAX_LISTED_ERRORS: usize = 100;

/// Everything an operation can fail with. `api::problem` maps each variant to its status.
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
pub fn chain_unavailable(cause: &anyhow::Error) -> bool {
    cause.chain().any(|e| {
        e.downcast_ref::<sea_orm::DbErr>().is_some_and(db_unavailable)
            || e.downcast_ref::<sea_orm::sqlx::Error>().is_some_and(sqlx_unavailable)
    })
}

impl ApiError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} does not exist"))
    }
}
