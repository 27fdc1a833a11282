//! The HTTP API: one module per resource, assembled into one OpenAPI service.
//! Handlers are thin: they parse the request into domain types, call one `catalog`
//! workflow, and map the result to a documented response.
// Operations take one argument per documented parameter, and response enums carry whole
// bodies by value, as poem-openapi's derives expect.
#![allow(clippy::too_many_arguments, clippy::large_enum_variant)]
pub mod dto;
pub mod events;
pub mod input;
pub mod ops;
pub mod params;
pub mod products;
pub mod resolve;
pub mod schemas;
pub mod uploads;
pub mod versions;

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
    /// Health probes.
    Operations,
}

pub type Apis = (
    products::ProductsApi,
    versions::VersionsApi,
    schemas::SchemasApi,
    resolve::ResolveApi,
    uploads::UploadsApi,
    events::EventsApi,
    ops::OpsApi,
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
missed or seen twice.\n\n\
Every error is an RFC 9457 `application/problem+json` document whose `type` is a stable \
relative URI (`/problems/not-found`, `/problems/validation`, ...).";

/// The OpenAPI service for every operation.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            products::ProductsApi,
            versions::VersionsApi,
            schemas::SchemasApi,
            resolve::ResolveApi,
            uploads::UploadsApi,
            events::EventsApi,
            ops::OpsApi,
        ),
        "daap",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
}

/// The generated document as YAML (what `openapi/openapi.yaml` holds).
pub fn openapi_yaml() -> String {
    service().spec_yaml()
}

/// The generated document as JSON.
pub fn openapi_json() -> String {
    service().spec()
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
