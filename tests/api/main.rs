//! The black-box HTTP suite: one binary, one module per resource. Every test starts the
//! real application against a fresh database and runs once on SQLite and once on
//! PostgreSQL (`<module>::<scenario>::on_sqlite` / `::on_postgres`).
#[macro_use]
mod helpers;

mod auth;
mod concurrency;
mod errors;
mod exports;
mod feed;
mod idempotency;
mod operations;
mod ops;
mod products;
mod resolve;
mod schemas;
mod stats;
mod uploads;
mod validation;
mod versions;
mod webhooks;
