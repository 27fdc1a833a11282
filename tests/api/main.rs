//! The black-box HTTP suite: one binary, one module per resource. Every test starts the
//! real application against a fresh database and runs once on SQLite and once on
//! PostgreSQL (`<module>::<scenario>::on_sqlite` / `::on_postgres`).
#[macro_use]
mod helpers;

mod auth;
mod concurrency;
mod contract;
mod conversion;
mod definitions;
mod errors;
mod exports;
mod faults;
mod feed;
mod hardening;
mod idempotency;
mod operations;
mod ops;
mod products;
mod resolve;
mod schemas;
mod stats;
mod uploads;
mod validation;
mod version_store;
mod versions;
mod webhooks;
