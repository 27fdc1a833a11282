//! The pure rules of daap: names, column types, versions, public IDs, the
//! snapshot a version freezes and the diff that numbers versions.
//! Nothing here does I/O or knows about HTTP or storage; it imports only std,
//! serde and serde_json (and, for webhook signatures, base64 + HMAC-SHA256).

/// Hive/Athena/Glue column types: parser, canonical form and widening.
pub mod column_type;
/// Whole-product definitions: the document, YAML, and ODCS contracts imported into one.
pub mod definition;
/// The versioning rules: diff two snapshots and classify the changes.
pub mod diff;
/// The kinds of change the feed records.
pub mod event;
/// Exports: ODCS data contracts and JSON Schemas of table rows.
pub mod export;
/// The snapshot of a data product that one version freezes.
pub mod model;
/// Product, table and column names that only `parse` can build.
pub mod names;
/// Public IDs (`dp:<name>[:v<M>[.<m>]][:<table>]`).
pub mod public_id;
/// What a valid value of each column type is, and the rules a value can break.
pub mod value;
/// Version numbers (`v1.2`) and version selectors (`v1`, `latest`).
pub mod version;
/// Webhook signatures, retry schedule, filters and public-address rules.
pub mod webhook;
