//! The HTTP API: one module per resource, assembled into one OpenAPI service.
//! Handlers are thin: they parse the request into domain types, call one `catalog`
//! workflow, and map the result to a documented response.
// Operations take one argument per documented parameter, and response enums carry whole
// bodies by value, as poem-openapi's derives expect.
#![allow(clippy::too_many_arguments, clippy::large_enum_variant)]
pub mod definitions;
pub mod dto;
pub mod events;
pub mod exports;
pub mod input;
pub mod ops;
pub mod params;
pub mod preview;
pub mod products;
pub mod rendered;
pub mod resolve;
pub mod schemas;
pub mod stats;
pub mod typed;
pub mod uploads;
pub mod versions;
pub mod webhooks;

use std::sync::Arc;

use poem_openapi::{OpenApiService, Tags};

/// Groups of operations in the docs.
#[derive(Tags)]
pub enum ApiTags {
    /// Register, list, read, update, delete and restore data products.
    DataProducts,
    /// The immutable history of a data product.
    Versions,
    /// Table schemas of the latest version; writes make new versions.
    Schemas,
    /// Resolve public IDs such as `dp:prisons:v1.2:incidents`.
    Resolve,
    /// Presigned uploads of data files, tracked until they are validated.
    Uploads,
    /// The ordered change feed for catalogue sync jobs.
    Events,
    /// Push notifications: subscribe a URL to the change feed (admin).
    Webhooks,
    /// A version in formats other tools read: ODCS data contracts and JSON Schemas.
    Exports,
    /// Health probes.
    Operations,
}

pub type Apis = (
    products::ProductsApi,
    definitions::DefinitionsApi,
    versions::VersionsApi,
    schemas::SchemasApi,
    resolve::ResolveApi,
    uploads::UploadsApi,
    preview::PreviewApi,
    events::EventsApi,
    webhooks::WebhooksApi,
    exports::ExportsApi,
    ops::OpsApi,
    stats::StatsApi,
);

const DESCRIPTION: &str = "\
daap is a metadata API for data products. Producers register data products, describe \
their tables and evolve them through immutable versions `v<major>.<minor>`: the server \
numbers each version from what changed, so a major bump is the only change that can \
break consumers.\n\n\
Writes are safe to retry: every POST, PUT and DELETE under `/v1` honours an \
`Idempotency-Key` header, whose first answer is stored with the change and replayed for \
`DAAP_IDEMPOTENCY_TTL` (24 hours by default). Catalogue sync jobs follow `GET /v1/events`, \
one total order of every committed change: pass back `nextCursor` and no event is ever \
missed or seen twice. Webhooks push the same events to a URL, signed per the Standard \
Webhooks specification. Any version exports as an ODCS data contract and each table as a \
JSON Schema of its rows.\n\n\
Every error is an RFC 9457 `application/problem+json` document whose `type` is a stable \
relative URI (`/problems/not-found`, `/problems/validation`, ...).";

/// The OpenAPI service for every operation.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            products::ProductsApi,
            definitions::DefinitionsApi,
            versions::VersionsApi,
            schemas::SchemasApi,
            resolve::ResolveApi,
            uploads::UploadsApi,
            preview::PreviewApi,
            events::EventsApi,
            webhooks::WebhooksApi,
            exports::ExportsApi,
            ops::OpsApi,
            stats::StatsApi,
        ),
        "daap",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
}

/// Request bodies whose unknown members the server refuses. poem-openapi's
/// `deny_unknown_fields` enforces that but does not say so in the schema, so the document
/// is amended here; clients and fuzzers then know not to send other members.
const CLOSED_SCHEMAS: &[&str] = &[
    "DataProductCreate",
    "DataProductUpdate",
    "TableSchemaPut",
    "ColumnDef",
    "WebhookCreate",
    "UploadCreate",
    "UploadComplete",
    "CompletedPartDto",
    "DataProductDefinition",
    "DefinitionTable",
];

/// What a public ID looks like (section 1), for the docs; the handler parses it for real so
/// that a malformed ID gets `/problems/invalid-id`.
const PUBLIC_ID_PATTERN: &str =
    r"^dp:[a-z][a-z0-9_]{1,62}(:v(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8}))?)?(:[a-z][a-z0-9_]{0,127})?$";

/// Operations that need more than their method implies (GET: `daap:read`, others:
/// `daap:write`), by operation ID, with how the docs say it.
const SCOPE_EXCEPTIONS: &[(&str, &[&str], &str)] = &[
    (
        "deleteDataProduct",
        &["daap:write", "daap:admin"],
        "`daap:write` for a soft delete; `daap:admin` with `purge=true`",
    ),
    ("createWebhook", &["daap:admin"], "`daap:admin`"),
    ("listWebhooks", &["daap:admin"], "`daap:admin`"),
    ("getWebhook", &["daap:admin"], "`daap:admin`"),
    ("deleteWebhook", &["daap:admin"], "`daap:admin`"),
    ("listWebhookDeliveries", &["daap:admin"], "`daap:admin`"),
    (
        "receiveStorageEvents",
        &["daap:admin"],
        "`daap:admin`, or the static `DAAP_STORAGE_EVENTS_TOKEN` when that is set",
    ),
];

/// The scopes an operation needs and how the docs say it.
fn required_scopes(method: &str, operation_id: &str) -> (Vec<&'static str>, String) {
    if let Some((_, scopes, words)) = SCOPE_EXCEPTIONS.iter().find(|(id, _, _)| *id == operation_id) {
        return (scopes.to_vec(), (*words).to_owned());
    }
    let scope = if method == "get" { "daap:read" } else { "daap:write" };
    (vec![scope], format!("`{scope}` (or stronger)"))
}

/// Says on each `/v1` operation which scope its token needs: in the description, and as
/// `x-required-scopes` for tools (an HTTP bearer scheme cannot list scopes in OpenAPI 3.0).
fn declare_scopes(doc: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    let Some(Value::Mapping(paths)) = doc.get_mut("paths") else { return };
    for (path, operations) in paths.iter_mut() {
        if !path.as_str().is_some_and(|p| p.starts_with("/v1/")) {
            continue;
        }
        let Value::Mapping(operations) = operations else { continue };
        for (method, operation) in operations.iter_mut() {
            let Value::Mapping(operation) = operation else { continue };
            let id = operation.get("operationId").and_then(Value::as_str).unwrap_or_default();
            let (scopes, words) = required_scopes(method.as_str().unwrap_or_default(), id);
            let description = operation.get("description").and_then(Value::as_str).unwrap_or_default();
            let description = if description.is_empty() {
                format!("Scope: {words}.")
            } else {
                format!("{description}\n\nScope: {words}.")
            };
            operation.insert("description".into(), description.into());
            operation
                .insert("x-required-scopes".into(), Value::Sequence(scopes.into_iter().map(Value::from).collect()));
        }
    }
}

/// An upload id: a UUID in its hyphenated form. The handler parses it for real, so the
/// problem names the id.
const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The generated document with what poem-openapi cannot declare: closed request bodies
/// (`CLOSED_SCHEMAS`), tag key and value rules, the public ID pattern and the scope each
/// operation needs. Mappings keep their order.
fn document() -> serde_yaml::Value {
    use serde_yaml::{Mapping, Value};
    let mut doc: Value = serde_yaml::from_str(&service().spec_yaml()).unwrap_or_default();
    declare_scopes(&mut doc);
    if let Some(schemas) = doc.get_mut("components").and_then(|c| c.get_mut("schemas")) {
        for &name in CLOSED_SCHEMAS {
            if let Some(Value::Mapping(schema)) = schemas.get_mut(name) {
                schema.insert("additionalProperties".into(), false.into());
            }
            if let Some(Value::Mapping(tags)) =
                schemas.get_mut(name).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut("tags"))
            {
                let mut names = Mapping::new();
                names.insert("pattern".into(), "^[a-z0-9_.-]{1,64}$".into());
                tags.insert("propertyNames".into(), names.into());
                let mut values = Mapping::new();
                values.insert("type".into(), "string".into());
                values.insert("maxLength".into(), 256.into());
                values.insert("pattern".into(), r"^[^\u0000-\u001F\u007F-\u009F]*$".into());
                tags.insert("additionalProperties".into(), values.into());
            }
        }
    }
    // Webhook filters name event types and product names.
    let webhook = doc.get_mut("components").and_then(|c| c.get_mut("schemas")).and_then(|s| s.get_mut("WebhookCreate"));
    if let Some(properties) = webhook.and_then(|w| w.get_mut("properties")) {
        if let Some(Value::Mapping(items)) = properties.get_mut("eventTypes").and_then(|p| p.get_mut("items")) {
            let types = crate::events::EventType::ALL.iter().map(|t| Value::from(t.as_str())).collect();
            items.insert("enum".into(), Value::Sequence(types));
        }
        if let Some(Value::Mapping(items)) = properties.get_mut("dataProducts").and_then(|p| p.get_mut("items")) {
            items.insert("pattern".into(), "^[a-z][a-z0-9_]{1,62}$".into());
        }
    }
    for (path, pattern) in [
        ("/v1/resolve/{id}", PUBLIC_ID_PATTERN),
        ("/v1/uploads/{id}", UUID_PATTERN),
        ("/v1/uploads/{id}/complete", UUID_PATTERN),
        ("/v1/uploads/{id}/parts", UUID_PATTERN),
        ("/v1/uploads/{id}/preview", UUID_PATTERN),
    ] {
        let Some(Value::Mapping(operations)) = doc.get_mut("paths").and_then(|p| p.get_mut(path)) else { continue };
        for (_, operation) in operations.iter_mut() {
            let Some(Value::Sequence(params)) = operation.get_mut("parameters") else { continue };
            for param in params.iter_mut().filter(|p| p.get("name").and_then(Value::as_str) == Some("id")) {
                if let Some(Value::Mapping(schema)) = param.get_mut("schema") {
                    schema.insert("pattern".into(), pattern.into());
                }
            }
        }
    }
    doc
}

/// The generated document as YAML (what `openapi/openapi.yaml` holds).
pub fn openapi_yaml() -> String {
    serde_yaml::to_string(&document()).unwrap_or_default()
}

/// The generated document as JSON.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default()
}

/// Path templates and their methods, for `Allow` on 405 answers.
pub struct RouteTable(Vec<(Arc<str>, Vec<String>, Vec<&'static str>)>);

impl RouteTable {
    pub fn from_spec(spec_json: &str) -> RouteTable {
        let doc: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut routes = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (template, ops) in paths {
                let segments = template.split('/').map(str::to_owned).collect();
                let methods = ["GET", "PUT", "POST", "DELETE", "PATCH"]
                    .into_iter()
                    .filter(|m| ops.get(m.to_lowercase()).is_some())
                    .collect();
                routes.push((Arc::from(template.as_str()), segments, methods));
            }
        }
        RouteTable(routes)
    }

    fn matching<'a>(
        &'a self,
        path: &str,
    ) -> impl Iterator<Item = &'a (Arc<str>, Vec<String>, Vec<&'static str>)> + use<'a> {
        let parts: Vec<String> = path.split('/').map(str::to_owned).collect();
        self.0.iter().filter(move |(_, segments, _)| {
            segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(s, p)| s == p || (s.starts_with('{') && s.ends_with('}')))
        })
    }

    /// The documented template a concrete path matches, e.g. `/v1/data-products/{name}`.
    pub fn template(&self, path: &str) -> Option<&Arc<str>> {
        // A literal segment beats a parameter (`/restore` over `/{version}`): fewest braces wins.
        self.matching(path).min_by_key(|(t, _, _)| t.matches('{').count()).map(|(t, _, _)| t)
    }

    /// The methods a concrete path supports.
    pub fn allowed(&self, path: &str) -> Vec<&'static str> {
        let mut allowed: Vec<&'static str> =
            self.matching(path).flat_map(|(_, _, methods)| methods.iter().copied()).collect();
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }
}
