//! Exports of a version: the ODCS data contract (JSON, or YAML on `Accept:
//! application/yaml`) and the JSON Schema of one table's rows. They take the same version
//! selectors as version reads; an exact version never changes, so its exports are cached
//! like it. Rendering runs on the blocking pool (`render`): a product of wide tables takes
//! CPU time that must not hold an async worker, where probes and other requests wait.
use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
    web::Data,
};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::Value;

use super::problem::{Reply, sets};
use super::{
    ApiTags, params,
    typed::{CompareSelectorParam, ProductNameParam, TableNameParam},
};
use crate::{
    auth::BearerAuth,
    catalog::{self, TableView},
    domain::{
        column_type::ColumnType,
        export::{self, ContractSource},
        model::{Column, Table},
        names::{ColumnName, TableName},
        version::{Version, VersionSelector},
    },
    error::ApiError,
    state::AppState,
};

pub struct ExportsApi;

/// `Cache-Control` for what a selector names (as for version reads).
fn cache_control(selector: VersionSelector) -> &'static str {
    if selector.is_exact() { "public, max-age=31536000, immutable" } else { "no-cache" }
}

/// A representation of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    ContractJson,
    ContractYaml,
    JsonSchema,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::ContractJson => "application/json",
            Format::ContractYaml => "application/yaml",
            Format::JsonSchema => "application/schema+json",
        }
    }

    /// A strong ETag per version and representation.
    fn etag(self, version: Version) -> String {
        let suffix = match self {
            Format::ContractJson => "odcs.json",
            Format::ContractYaml => "odcs.yaml",
            Format::JsonSchema => "schema.json",
        };
        format!("\"{version}+{suffix}\"")
    }
}

/// An export, or 304 when the client's copy is current.
pub struct ExportResponse {
    format: Format,
    etag: String,
    cache_control: &'static str,
    /// `None`: not modified.
    body: Option<String>,
}

impl ExportResponse {
    /// The 304 answer when `If-None-Match` names this representation's ETag.
    fn not_modified(
        format: Format,
        version: Version,
        selector: VersionSelector,
        if_none_match: Option<&str>,
    ) -> Option<Self> {
        let etag = format.etag(version);
        let fresh = if_none_match
            .is_some_and(|h| h.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag));
        fresh.then(|| ExportResponse { format, etag, cache_control: cache_control(selector), body: None })
    }

    fn ok(format: Format, version: Version, selector: VersionSelector, body: String) -> Self {
        ExportResponse { format, etag: format.etag(version), cache_control: cache_control(selector), body: Some(body) }
    }
}

impl IntoResponse for ExportResponse {
    fn into_response(self) -> Response {
        let mut resp = match self.body {
            Some(body) => {
                Response::builder().status(StatusCode::OK).content_type(self.format.content_type()).body(body)
            }
            None => Response::builder().status(StatusCode::NOT_MODIFIED).finish(),
        };
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(self.cache_control));
        if self.format != Format::JsonSchema {
            headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        }
        resp
    }
}

fn header_meta(name: &str, description: &str) -> MetaHeader {
    MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required: true,
        deprecated: false,
        schema: String::schema_ref(),
    }
}

fn export_meta(description: &'static str, body: &'static str, media: &[&'static str]) -> MetaResponses {
    let schema =
        || MetaSchemaRef::Inline(Box::new(MetaSchema { description: Some(body), ..MetaSchema::new("object") }));
    let headers = || {
        vec![
            header_meta("ETag", "Strong, per version and representation, e.g. `\"v1.2+odcs.json\"`."),
            header_meta(
                "Cache-Control",
                "`public, max-age=31536000, immutable` for exact versions; `no-cache` for `latest` and `v<M>`.",
            ),
        ]
    };
    MetaResponses {
        responses: vec![
            MetaResponse {
                description,
                status: Some(200),
                status_range: None,
                content: media.iter().map(|content_type| MetaMediaType { content_type, schema: schema() }).collect(),
                headers: headers(),
            },
            MetaResponse {
                description: "The client's copy (`If-None-Match`) is current.",
                status: Some(304),
                status_range: None,
                content: vec![],
                headers: headers(),
            },
        ],
    }
}

/// The ODCS contract answer.
pub struct ContractResponse(ExportResponse);

impl IntoResponse for ContractResponse {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl ApiResponse for ContractResponse {
    fn meta() -> MetaResponses {
        export_meta(
            "An Open Data Contract Standard v3.2.0 document (`kind: DataContract`): JSON, or YAML when \
             `Accept` asks for `application/yaml`.",
            "An ODCS v3.2.0 data contract; see https://bitol-io.github.io/open-data-contract-standard/",
            &["application/json", "application/yaml"],
        )
    }

    fn register(registry: &mut Registry) {
        Value::register(registry);
    }
}

/// The JSON Schema answer.
pub struct JsonSchemaResponse(ExportResponse);

impl IntoResponse for JsonSchemaResponse {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl ApiResponse for JsonSchemaResponse {
    fn meta() -> MetaResponses {
        export_meta(
            "A JSON Schema (draft 2020-12) that one row of the table satisfies.",
            "A JSON Schema (draft 2020-12) document",
            &["application/schema+json"],
        )
    }

    fn register(registry: &mut Registry) {
        Value::register(registry);
    }
}

/// True when `Accept` asks for YAML (any of its spellings) with a non-zero quality.
fn wants_yaml(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"));
            matches!(media.as_str(), "application/yaml" | "application/x-yaml" | "text/yaml") && !refused
        })
    })
}

/// Runs `work` on tokio's blocking pool, so CPU-heavy rendering never stalls the async
/// workers (and with them `/health/live`).
async fn render<T: Send + 'static>(work: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::Internal(anyhow::anyhow!("export rendering: {e}")))?
}

fn broken(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("stored {what} does not parse: {err}"))
}

/// A stored table as domain types.
fn table_of(view: &TableView) -> Result<Table, ApiError> {
    let columns = view
        .columns
        .iter()
        .map(|c| {
            Ok(Column {
                name: ColumnName::parse(&c.name).map_err(|e| broken("column name", e))?,
                ty: ColumnType::parse(&c.ty).map_err(|e| broken("column type", e))?,
                description: c.description.clone(),
                nullable: c.nullable,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Table {
        name: TableName::parse(&view.name).map_err(|e| broken("table name", e))?,
        description: view.description.clone(),
        columns,
    })
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Exports")]
impl ExportsApi {
    /// Export a version as an ODCS data contract
    ///
    /// The version as an Open Data Contract Standard document (`apiVersion: v3.2.0`, `kind:
    /// DataContract`), valid against the ODCS v3.2.0 JSON Schema: `id` is the version's public
    /// ID, `version` its semver form (`v1.3` -> `1.3.0`), `status` draft -> draft, published
    /// -> active, deprecated -> deprecated, retired -> retired; `team` lists the owner and
    /// maintainer, `support` the team e-mail, `tags` are `key:value`, and retention and DPIA
    /// are custom properties. One schema object per table and one property per column:
    /// `physicalType` the Hive type, `logicalType` per ODCS (`integer`, `number`, `string`,
    /// `boolean`, `date`, `timestamp`, `array` with `items`, `map` with `map.key`/`map.value`,
    /// `object` with `properties`), `required` = not nullable. JSON by default; YAML with
    /// `Accept: application/yaml`. Needs read scope.
    #[oai(path = "/data-products/:name/versions/:version/contract", method = "get", operation_id = "getContract")]
    async fn get_contract(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `v1.2`, `1.2`, `v1` or `latest`.
        version: Path<CompareSelectorParam>,
        /// `application/yaml` for YAML; anything else gives JSON.
        #[oai(name = "Accept")]
        accept: Header<Option<String>>,
        /// An ETag held by the client.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<ContractResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let selector = params::selector(&version)?;
        let view = catalog::get_version(&state.db, &name, selector, include_deleted.0).await?;
        let exact = VersionSelector::Exact(view.version);
        let format = if wants_yaml(accept.0.as_deref()) { Format::ContractYaml } else { Format::ContractJson };
        if let Some(fresh) = ExportResponse::not_modified(format, view.version, selector, if_none_match.0.as_deref()) {
            return Ok(ContractResponse(fresh).into());
        }
        let tables = catalog::version_tables(&state.db, &name, exact, include_deleted.0).await?;
        let created_at = super::dto::timestamp(view.updated_at).0;
        let (version, metadata, product) = (view.version, view.metadata, name.as_str().to_owned());
        let body = render(move || {
            let tables = tables.iter().map(table_of).collect::<Result<Vec<_>, _>>()?;
            let doc = export::contract(&ContractSource {
                name: &product,
                version,
                metadata: &metadata,
                created_at: &created_at,
                tables: &tables,
            });
            match format {
                Format::ContractYaml => Ok(export::yaml(&doc)),
                _ => serde_json::to_string_pretty(&doc).map_err(|e| ApiError::Internal(e.into())),
            }
        })
        .await?;
        Ok(ContractResponse(ExportResponse::ok(format, version, selector, body)).into())
    }

    /// Export the JSON Schema of a table's rows
    ///
    /// A JSON Schema (draft 2020-12) that one row of the table, as a JSON object, satisfies:
    /// `tinyint`..`bigint` are integers with their ranges; `float`/`double` numbers;
    /// `decimal(p,s)` strings such as `"-123.45"` with a pattern allowing at most `p-s` integer
    /// and `s` fraction digits (a JSON number cannot carry 38 digits through most parsers);
    /// `char(n)`/`varchar(n)` strings with `maxLength`; `date` a string with `format: date`,
    /// `timestamp` with `format: date-time` (RFC 3339); `binary` base64 text; `array`,
    /// `map` (an object; numeric keys as digits) and `struct` nested schemas whose values may
    /// be null. A nullable column's type is `["T", "null"]`; not-null columns are `required`;
    /// other members are refused. Needs read scope.
    #[oai(
        path = "/data-products/:name/versions/:version/schemas/:table/json-schema",
        method = "get",
        operation_id = "getTableJsonSchema"
    )]
    async fn get_json_schema(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `v1.2`, `1.2`, `v1` or `latest`.
        version: Path<CompareSelectorParam>,
        /// The table name.
        table: Path<TableNameParam>,
        /// An ETag held by the client.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<JsonSchemaResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let selector = params::selector(&version)?;
        let table = params::table_name(&table)?;
        let view = catalog::version_table(&state.db, &name, selector, &table, include_deleted.0).await?;
        let format = Format::JsonSchema;
        if let Some(fresh) = ExportResponse::not_modified(format, view.version, selector, if_none_match.0.as_deref()) {
            return Ok(JsonSchemaResponse(fresh).into());
        }
        let id = format!("dp:{}:{}:{}", name.as_str(), view.version, view.name);
        let version = view.version;
        let body = render(move || {
            let schema = export::row_schema(&id, &table_of(&view)?);
            serde_json::to_string_pretty(&schema).map_err(|e| ApiError::Internal(e.into()))
        })
        .await?;
        Ok(JsonSchemaResponse(ExportResponse::ok(format, version, selector, body)).into())
    }
}

#[cfg(test)]
mod tests {
    use super::wants_yaml;

    #[test]
    fn yaml_is_chosen_only_when_accept_asks_for_it() {
        assert!(wants_yaml(Some("application/yaml")));
        assert!(wants_yaml(Some("application/json;q=0.5, text/yaml")));
        assert!(!wants_yaml(Some("application/yaml;q=0")));
        assert!(!wants_yaml(Some("application/json")));
        assert!(!wants_yaml(None));
    }
}
