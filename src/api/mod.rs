//! The HTTP API: one module per resource, assembled into one OpenAPI service.
//! Handlers are thin: they parse the request into domain types, call one `catalog`
//! workflow, and map the result to a documented response.
// Operations take one argument per documented parameter, and response enums carry whole
// bodies by value, as poem-openapi's derives expect.
#![allow(clippy::too_many_arguments, clippy::large_enum_variant)]
pub mod definitions;
pub mod docs;
pub mod dto;
pub mod edge;
pub mod events;
pub mod exports;
pub mod input;
pub mod json;
pub mod ops;
pub mod params;
pub mod preview;
pub mod problem;
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

use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};

/// Groups of operations in the docs, in the order a producer meets them: register a
/// product, describe its tables, upload data, read the history, follow changes.
#[derive(Tags)]
pub enum ApiTags {
    /// Register, list, read, update, delete and restore data products.
    DataProducts,
    /// Table schemas of the latest version; writes make new versions.
    Schemas,
    /// Presigned uploads of data files, tracked until they are validated.
    Uploads,
    /// The immutable history of a data product.
    Versions,
    /// The ordered change feed for catalogue sync jobs.
    Events,
    /// Push notifications: subscribe a URL to the change feed (admin).
    Webhooks,
    /// Resolve public IDs such as `dp:prisons:v1.2:incidents`.
    Resolve,
    /// A version in formats other tools read: ODCS data contracts and JSON Schemas.
    Exports,
    /// Health probes and platform statistics.
    Operations,
}

/// The tag names in `ApiTags` order (poem-openapi lists tags alphabetically).
const TAG_ORDER: &[&str] =
    &["DataProducts", "Schemas", "Uploads", "Versions", "Events", "Webhooks", "Resolve", "Exports", "Operations"];

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
    .license(LicenseObject::new("MIT").url("https://opensource.org/license/mit"))
    .server(ServerObject::new("/").description("The server that serves this document"))
    .server(
        ServerObject::new("http://127.0.0.1:8080").description("`cargo run`: the zero-setup default (`DAAP_LISTEN`)"),
    )
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
    "CompletedPart",
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

/// Operations without a bearer token (`/health/*`) say so with an empty `security`, which
/// poem-openapi has no attribute for.
fn declare_open_routes(doc: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    let Some(Value::Mapping(paths)) = doc.get_mut("paths") else { return };
    for (_, operations) in paths.iter_mut() {
        let Value::Mapping(operations) = operations else { continue };
        for (_, operation) in operations.iter_mut() {
            if let Value::Mapping(operation) = operation
                && !operation.contains_key("security")
            {
                operation.insert("security".into(), Value::Sequence(Vec::new()));
            }
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
    declare_open_routes(&mut doc);
    if let Some(Value::Sequence(tags)) = doc.get_mut("tags") {
        tags.sort_by_key(|t| {
            let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
            TAG_ORDER.iter().position(|n| *n == name).unwrap_or(TAG_ORDER.len())
        });
    }
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
                // OpenAPI 3.0 has no `propertyNames`: the rule is in the description and here.
                tags.insert("x-propertyNames".into(), names.into());
                let mut values = Mapping::new();
                values.insert("type".into(), "string".into());
                values.insert("maxLength".into(), 256.into());
                values.insert("pattern".into(), r"^[^\u0000-\u001F\u007F-\u009F]*$".into());
                tags.insert("additionalProperties".into(), values.into());
            }
        }
    }
    // Webhook filters name product names.
    let webhook = doc.get_mut("components").and_then(|c| c.get_mut("schemas")).and_then(|s| s.get_mut("WebhookCreate"));
    if let Some(Value::Mapping(items)) = webhook
        .and_then(|w| w.get_mut("properties"))
        .and_then(|p| p.get_mut("dataProducts"))
        .and_then(|p| p.get_mut("items"))
    {
        items.insert("pattern".into(), "^[a-z][a-z0-9_]{1,62}$".into());
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

/// Path templates and their methods, for `Allow` on 405 answers, and what each operation's
/// parameters allow, for the problems that refuse a bad one.
pub struct RouteTable {
    routes: Vec<(Arc<str>, Vec<String>, Vec<&'static str>)>,
    /// (template, upper-case method, parameter name) -> what the parameter allows.
    rules: std::collections::HashMap<(String, String, String), String>,
}

/// What a parameter's schema allows, in words: `an integer in 1..=200`, `one of a, b`,
/// `true or false`. None for free text and patterned strings (their own parsers say it).
fn rule_of(schema: &serde_json::Value, doc: &serde_json::Value) -> Option<String> {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<&str> = values.iter().filter_map(serde_json::Value::as_str).collect();
        return Some(format!("must be one of {}", values.join(", ")));
    }
    match schema["type"].as_str()? {
        "boolean" => Some("must be `true` or `false`".to_owned()),
        "integer" => Some(match (schema["minimum"].as_f64(), schema["maximum"].as_f64()) {
            (Some(min), Some(max)) => format!("must be an integer in {min}..={max}"),
            (Some(min), None) => format!("must be an integer of at least {min}"),
            (None, Some(max)) => format!("must be an integer in 0..={max}"),
            (None, None) => "must be a non-negative integer".to_owned(),
        }),
        _ => None,
    }
}

impl RouteTable {
    pub fn from_spec(spec_json: &str) -> RouteTable {
        let doc: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut routes = Vec::new();
        let mut rules = std::collections::HashMap::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (template, ops) in paths {
                let segments = template.split('/').map(str::to_owned).collect();
                let methods = ["GET", "PUT", "POST", "DELETE", "PATCH"]
                    .into_iter()
                    .filter(|m| ops.get(m.to_lowercase()).is_some())
                    .collect();
                routes.push((Arc::from(template.as_str()), segments, methods));
                for (method, op) in ops.as_object().into_iter().flatten() {
                    for param in op["parameters"].as_array().into_iter().flatten() {
                        if let (Some(name), Some(rule)) = (param["name"].as_str(), rule_of(&param["schema"], &doc)) {
                            rules.insert((template.clone(), method.to_uppercase(), name.to_owned()), rule);
                        }
                    }
                }
            }
        }
        RouteTable { routes, rules }
    }

    /// The documented name of parameter `raw` of `method` on the concrete `path` (poem-openapi
    /// calls path parameters `param0`, `param1`, ... in template order) and what it allows,
    /// if its schema says.
    pub fn param(&self, method: &str, path: &str, raw: &str) -> (String, Option<String>) {
        let Some(template) = self.template(path) else { return (raw.to_owned(), None) };
        let name = raw
            .strip_prefix("param")
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| template.split('/').filter(|s| s.starts_with('{')).nth(i))
            .map(|s| s.trim_matches(|c| c == '{' || c == '}').to_owned())
            .unwrap_or_else(|| raw.to_owned());
        let rule = self.rules.get(&(template.to_string(), method.to_owned(), name.clone())).cloned();
        (name, rule)
    }

    fn matching<'a>(
        &'a self,
        path: &str,
    ) -> impl Iterator<Item = &'a (Arc<str>, Vec<String>, Vec<&'static str>)> + use<'a> {
        let parts: Vec<String> = path.split('/').map(str::to_owned).collect();
        self.routes.iter().filter(move |(_, segments, _)| {
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
