/// The HTTP API: resources, DTOs and the OpenAPI document.
pub mod api;
/// Who is calling (the seam for token verification).
pub mod auth;
/// The workflows behind the API; each owns its transaction.
pub mod catalog;
/// The command line for producers (`daap upload`, `ls`, `events`, ...): a client of the HTTP API.
pub mod cli;
/// Settings from flags and environment variables.
pub mod config;
/// Pure rules: names, column types, versions, public IDs, diffs.
pub mod domain;
/// `ApiError` and the problem+json mapping.
pub mod error;
/// The change feed: ordered events and the notifier that wakes waiting readers.
pub mod events;
/// Idempotency keys: claim, replay and store with the change.
pub mod idempotency;
/// Prometheus metrics.
pub mod metrics;
/// Building and running the server.
pub mod startup;
/// What every handler can reach.
pub mod state;
/// Object storage: presigned URLs, HEAD, ranged reads, the embedded S3-compatible store.
pub mod storage;
/// Persistence: connection, migrations, queries.
pub mod store;
/// Log set-up.
pub mod telemetry;
/// Upload tracking: presigned uploads, the reconciler, file validation.
pub mod uploads;
/// Webhook subscriptions and the worker that delivers the feed to them.
pub mod webhooks;
