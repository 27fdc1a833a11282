//! `/v1/data-products/{name}/definition` (SPEC 8.2): a whole product as one document,
//! read from any version and written in one version. The body is a definition in JSON or
//! YAML, or an ODCS v3 contract (`application/odcs+yaml`, `application/odcs+json`), which
//! is turned into a definition first; every violation is reported at once, each by a JSON
//! pointer into the document as sent.
use std::collections::{BTreeMap, HashSet};

use poem::{
    FromRequest, IntoResponse, Request, RequestBody, Response,
    http::{HeaderValue, StatusCode, header},
    web::Data,
};
use poem_openapi::{
    ApiRequest, ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{ParsePayload, Payload},
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::{Map, Value};

use super::{
    ApiTags,
    dto::{ColumnDef, ExpectedChange, ProductWriteResult, Status},
    input::{Errors, FromJsonBody, PutTable, UpdateProduct, text_problem},
    params,
    products::{etag, write_result},
    typed::{IdempotencyKey, ProductNameParam, SelectorParam},
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::{BearerAuth, Principal},
    catalog::{self, MAX_TABLES, VersionSnapshot, WriteOptions, etag_matches},
    domain::{
        definition::{self, Document, DocumentColumn, DocumentTable},
        diff::ChangeClass,
        model::{ProductMetadata, Table},
        names::{ProductName, TableName},
        version::VersionSelector,
    },
    error::{ApiError, FieldError},
    idempotency::{Idem, StoredResponse},
    startup::AppState,
};

pub struct DefinitionsApi;

/// A table of a definition.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefinitionTable {
    /// Table name, unique within the definition; must not look like a version.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))]
    pub name: String,
    /// What the table holds (1..=4096 characters; tabs and line breaks allowed).
    #[oai(validator(min_length = 1, max_length = 4096))]
    pub table_description: String,
    /// The columns in order: 1..=1000, names unique.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub columns: Vec<ColumnDef>,
}

/// A whole data product: its metadata and every table (SPEC 8.2). `GET .../definition`
/// answers it (without `expectedChange`); `PUT .../definition` takes it. Unknown members
/// are refused with 422.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataProductDefinition {
    /// The product name; on PUT it may be left out, and must equal the path's when present.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{1,62}$"))]
    pub name: Option<String>,
    /// What the product holds (1..=4096 characters; tabs and line breaks allowed).
    #[oai(validator(min_length = 1, max_length = 4096))]
    pub description: String,
    /// Owning domain, e.g. `HMPPS` (1..=64 characters).
    #[oai(validator(min_length = 1, max_length = 64))]
    pub domain: String,
    /// E-mail address of the owner.
    pub data_product_owner: String,
    /// Display name of the owner (1..=256 characters).
    #[oai(validator(min_length = 1, max_length = 256))]
    pub data_product_owner_display_name: String,
    /// E-mail address of the maintainer.
    pub data_product_maintainer: Option<String>,
    /// Display name of the maintainer (1..=256 characters).
    #[oai(validator(min_length = 1, max_length = 256))]
    pub data_product_maintainer_display_name: Option<String>,
    /// Team contact e-mail address.
    pub email: String,
    // Lifecycle status (default `draft`).
    pub status: Option<Status>,
    /// Retention period in days.
    #[oai(validator(minimum(value = "0"), maximum(value = "36500")))]
    pub retention_period: u32,
    /// Whether a data protection impact assessment is required.
    pub dpia_required: bool,
    /// Where the DPIA is kept (1..=2048 characters).
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub dpia_location: Option<String>,
    /// Labels: at most 50; keys match `^[a-z0-9_.-]{1,64}$`, values at most 256 characters.
    #[oai(validator(max_properties = 50))]
    pub tags: Option<BTreeMap<String, String>>,
    /// Every table, in name order on GET (any order on PUT); a table left out of a PUT is
    /// removed. At most 1,000.
    #[oai(validator(max_items = 1000))]
    pub tables: Vec<DefinitionTable>,
    // PUT only: refuse the write with 409 unless the server classifies it so.
    pub expected_change: Option<ExpectedChange>,
}

/// How a definition body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spelling {
    Json,
    Yaml,
    OdcsJson,
    OdcsYaml,
}

impl Spelling {
    fn is_odcs(self) -> bool {
        matches!(self, Spelling::OdcsJson | Spelling::OdcsYaml)
    }
}

/// A body as sent, parsed as JSON or YAML (400 if it is neither), not yet checked.
pub struct RawBody {
    spelling: Spelling,
    value: Value,
}

fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

async fn read_body(request: &Request, body: &mut RequestBody, spelling: Spelling) -> poem::Result<RawBody> {
    let bytes = Vec::<u8>::from_request(request, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedRequest("the request body is empty; send a definition".to_owned()).into());
    }
    let value = match spelling {
        Spelling::Json | Spelling::OdcsJson => serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::MalformedRequest(format!("the request body is not valid JSON: {e}")))?,
        Spelling::Yaml | Spelling::OdcsYaml => definition::yaml_value(&bytes)
            .map_err(|e| ApiError::MalformedRequest(format!("the request body is not valid YAML: {e}")))?,
    };
    Ok(RawBody { spelling, value })
}

/// Declares a payload of one media type (or its aliases) for the definition PUT.
macro_rules! definition_payload {
    ($(#[$doc:meta])* $name:ident, $spelling:expr, $schema:expr, [$($media:literal),+]) => {
        $(#[$doc])*
        pub struct $name(RawBody);

        impl Payload for $name {
            const CONTENT_TYPE: &'static str = [$($media),+][0];

            fn check_content_type(content_type: &str) -> bool {
                [$($media),+].contains(&essence(content_type).as_str())
            }

            fn schema_ref() -> MetaSchemaRef {
                $schema
            }

            fn register(registry: &mut Registry) {
                DataProductDefinition::register(registry);
            }
        }

        impl ParsePayload for $name {
            const IS_REQUIRED: bool = true;

            async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
                read_body(request, body, $spelling).await.map($name)
            }
        }
    };
}

fn contract_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(
            "An Open Data Contract Standard v3 contract (`kind: DataContract`), as `GET .../contract` exports it \
             or as other ODCS tools write it. See README \"Definitions\" for how it maps and what is refused.",
        ),
        ..MetaSchema::new("object")
    }))
}

definition_payload!(
    /// A definition in JSON.
    JsonDefinition,
    Spelling::Json,
    DataProductDefinition::schema_ref(),
    ["application/json"]
);
definition_payload!(
    /// A definition in YAML.
    YamlDefinition,
    Spelling::Yaml,
    DataProductDefinition::schema_ref(),
    ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"]
);
definition_payload!(
    /// An ODCS contract in YAML.
    OdcsYamlContract,
    Spelling::OdcsYaml,
    contract_schema(),
    ["application/odcs+yaml"]
);
definition_payload!(
    /// An ODCS contract in JSON.
    OdcsJsonContract,
    Spelling::OdcsJson,
    contract_schema(),
    ["application/odcs+json"]
);

/// The body of `PUT .../definition`: a definition (JSON or YAML) or an ODCS contract.
#[derive(ApiRequest)]
pub enum DefinitionRequest {
    Json(JsonDefinition),
    Yaml(YamlDefinition),
    OdcsYaml(OdcsYamlContract),
    OdcsJson(OdcsJsonContract),
}

impl DefinitionRequest {
    fn into_raw(self) -> RawBody {
        match self {
            Self::Json(b) => b.0,
            Self::Yaml(b) => b.0,
            Self::OdcsYaml(b) => b.0,
            Self::OdcsJson(b) => b.0,
        }
    }
}

/// A definition parsed into domain types.
pub struct Definition {
    pub metadata: ProductMetadata,
    pub tables: Vec<Table>,
    pub expected: Option<ChangeClass>,
}

/// Walks the whole body: no string or member name may hold a control character other than
/// free text's tab, line feed and carriage return (one-line fields are checked again where
/// parsed).
fn refuse_controls(value: &Value, at: &str, errors: &mut Errors) {
    match value {
        Value::String(s) => {
            if let Some(problem) = text_problem(s) {
                errors.add(if at.is_empty() { "/" } else { at }, problem);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                refuse_controls(item, &format!("{at}/{i}"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key.chars().any(char::is_control) {
                    errors.add(here, "member names must not contain control characters");
                } else {
                    refuse_controls(item, &here, errors);
                }
            }
        }
        _ => {}
    }
}

/// `at` + a pointer relative to it.
fn under(at: &str, field: &str) -> String {
    if field.is_empty() || field == "/" { at.to_owned() } else { format!("{at}{field}") }
}

/// The tables of a definition: names unique, at most `MAX_TABLES`, each table checked as a
/// table PUT checks its body.
fn tables(value: &Value, errors: &mut Errors) -> Option<Vec<Table>> {
    let Some(list) = value.as_array() else {
        errors.add("/tables", "must be an array of tables");
        return None;
    };
    if list.len() > MAX_TABLES {
        errors.add("/tables", format!("a data product has at most {MAX_TABLES} tables (got {})", list.len()));
        return None;
    }
    let before = errors.0.len();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let at = format!("/tables/{i}");
        let Some(fields) = item.as_object() else {
            errors.add(at, "must be a table object: { name, tableDescription, columns }");
            continue;
        };
        let name = match fields.get("name") {
            None | Some(Value::Null) => {
                errors.add(format!("{at}/name"), "`name` is required");
                None
            }
            Some(Value::String(s)) => {
                TableName::parse(s).map_err(|e| errors.add(format!("{at}/name"), e.to_string())).ok()
            }
            Some(_) => {
                errors.add(format!("{at}/name"), "must be a string");
                None
            }
        };
        if let Some(name) = &name
            && !seen.insert(name.as_str().to_owned())
        {
            errors.add(format!("{at}/name"), format!("duplicate table name `{name}`"));
        }
        if fields.contains_key("expectedChange") {
            errors.add(format!("{at}/expectedChange"), "unknown member `expectedChange` (it belongs at the top level)");
        }
        let rest: Map<String, Value> = fields
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "name" | "expectedChange"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut found = Errors::default();
        let table = PutTable::from_json(&Value::Object(rest), &mut found);
        for e in found.0 {
            errors.add(under(&at, &e.field), e.message);
        }
        if let (Some(name), Some(table)) = (name, table) {
            out.push(table.into_table(name));
        }
    }
    (errors.0.len() == before).then_some(out)
}

/// A definition document for `product`: the metadata as a metadata PUT takes it (with
/// `name`, if present, equal to the path's), `tables`, and `expectedChange`.
fn definition_of(value: &Value, product: &ProductName, errors: &mut Errors) -> Option<Definition> {
    let Some(fields) = value.as_object() else {
        errors.add("/", "a definition is a JSON object (a YAML mapping)");
        return None;
    };
    if let Some(Value::String(name)) = fields.get("name")
        && name != product.as_str()
    {
        errors.add("/name", format!("must be `{product}`, the name in the path (or be left out)"));
    }
    let metadata: Map<String, Value> =
        fields.iter().filter(|(k, _)| k.as_str() != "tables").map(|(k, v)| (k.clone(), v.clone())).collect();
    let update = UpdateProduct::from_json(&Value::Object(metadata), errors);
    let tables = match fields.get("tables") {
        None | Some(Value::Null) => {
            errors.add("/tables", "`tables` is required (an empty list for a product without tables)");
            None
        }
        Some(list) => tables(list, errors),
    };
    let update = update?;
    Some(Definition { metadata: update.metadata, tables: tables?, expected: update.expected })
}

/// The body, parsed and checked for `product`; ODCS contracts are imported first and every
/// problem points into the contract.
fn parse(raw: &RawBody, product: &ProductName) -> Result<Definition, ApiError> {
    let mut errors = Errors::default();
    refuse_controls(&raw.value, "", &mut errors);
    if !errors.0.is_empty() {
        return Err(ApiError::Validation(errors.0));
    }
    if !raw.spelling.is_odcs() {
        return match definition_of(&raw.value, product, &mut errors) {
            Some(parsed) if errors.0.is_empty() => Ok(parsed),
            _ => Err(ApiError::Validation(errors.0)),
        };
    }
    let imported = definition::from_odcs(&raw.value, product.as_str());
    let mut problems: Vec<FieldError> =
        imported.problems.iter().map(|(at, message)| FieldError::new(at.clone(), message.clone())).collect();
    let parsed = definition_of(&imported.document, product, &mut errors);
    // What the import already explained is not reported again in the definition's words.
    let explained: HashSet<String> = problems.iter().map(|p| p.field.clone()).collect();
    for e in errors.0 {
        let at = imported.locate(&e.field);
        if !explained.contains(&at) {
            let message = in_contract_words(e.message, &at);
            problems.push(FieldError::new(at, message));
        }
    }
    match parsed {
        Some(parsed) if problems.is_empty() => Ok(parsed),
        _ => Err(ApiError::Validation(problems)),
    }
}

/// "`tableDescription` is required" said of the contract member it comes from
/// ("`description` is required" at `/schema/0/description`).
fn in_contract_words(message: String, at: &str) -> String {
    let member = at.rsplit('/').next().unwrap_or_default();
    let named = message.strip_prefix('`').and_then(|rest| rest.split_once('`'));
    match named {
        Some((_, rest))
            if rest.starts_with(" is required") && !member.is_empty() && member.parse::<usize>().is_err() =>
        {
            format!("`{member}`{rest}")
        }
        _ => message,
    }
}

/// The definition document of a version.
fn document(snapshot: &VersionSnapshot) -> Document<'_> {
    Document {
        name: &snapshot.product.name,
        metadata: &snapshot.product.metadata,
        tables: snapshot
            .tables
            .iter()
            .map(|t| DocumentTable {
                name: &t.name,
                table_description: &t.description,
                columns: t
                    .columns
                    .iter()
                    .map(|c| DocumentColumn {
                        name: &c.name,
                        ty: &c.ty,
                        description: &c.description,
                        nullable: c.nullable,
                    })
                    .collect(),
            })
            .collect(),
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

/// A definition read: JSON or YAML, or 304.
pub struct DefinitionResponse {
    yaml: bool,
    etag: String,
    cache_control: &'static str,
    /// `None`: not modified.
    body: Option<String>,
}

impl IntoResponse for DefinitionResponse {
    fn into_response(self) -> Response {
        let mut resp = match self.body {
            Some(body) => Response::builder()
                .status(StatusCode::OK)
                .content_type(if self.yaml { "application/yaml" } else { "application/json; charset=utf-8" })
                .body(body),
            None => Response::builder().status(StatusCode::NOT_MODIFIED).finish(),
        };
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(self.cache_control));
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
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

impl ApiResponse for DefinitionResponse {
    fn meta() -> MetaResponses {
        let headers = || {
            vec![
                header_meta("ETag", "The version, e.g. `\"v1.2\"` (pass it as `If-Match` to a PUT)."),
                header_meta(
                    "Cache-Control",
                    "`public, max-age=31536000, immutable` for exact versions; `no-cache` for moving ones.",
                ),
            ]
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The definition: JSON, or YAML when `Accept` asks for `application/yaml`.",
                    status: Some(200),
                    status_range: None,
                    content: vec![
                        MetaMediaType { content_type: "application/json", schema: DataProductDefinition::schema_ref() },
                        MetaMediaType { content_type: "application/yaml", schema: DataProductDefinition::schema_ref() },
                    ],
                    headers: headers(),
                },
                MetaResponse {
                    description: "The version named in `If-None-Match` is still the one selected.",
                    status: Some(304),
                    status_range: None,
                    content: vec![],
                    headers: headers(),
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        DataProductDefinition::register(registry);
    }
}

#[derive(ApiResponse)]
pub enum PutResponse {
    /// The product did not exist: it is registered at `v1.0` holding every table.
    #[oai(status = 201)]
    Created(
        Json<ProductWriteResult>,
        /// URL of the new product.
        #[oai(header = "Location")]
        String,
        /// `"v1.0"`.
        #[oai(header = "ETag")]
        String,
    ),
    /// The product was replaced in one version (or nothing changed, or a dry run).
    #[oai(status = 200)]
    Ok(
        Json<ProductWriteResult>,
        /// The resulting version.
        #[oai(header = "ETag")]
        String,
    ),
}

async fn read(
    state: &AppState,
    name: &str,
    selector: VersionSelector,
    accept: Option<&str>,
    if_none_match: Option<&str>,
    include_deleted: bool,
) -> Result<DefinitionResponse, ApiError> {
    let name = params::product_name(name)?;
    let (_, snapshot) = catalog::selected(&state.db, &name, selector, include_deleted).await?;
    let version = snapshot.product.version;
    let cache_control = if selector.is_exact() { "public, max-age=31536000, immutable" } else { "no-cache" };
    let (yaml, tag) = (wants_yaml(accept), etag(version));
    if if_none_match.is_some_and(|tags| etag_matches(tags, version)) {
        return Ok(DefinitionResponse { yaml, etag: tag, cache_control, body: None });
    }
    // A product of many wide tables takes CPU time to render: not on an async worker.
    let body = tokio::task::spawn_blocking(move || {
        let doc = document(&snapshot);
        if yaml {
            serde_yaml::to_string(&doc).map_err(anyhow::Error::from)
        } else {
            serde_json::to_string(&doc).map_err(anyhow::Error::from)
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("rendering a definition: {e}")))??;
    Ok(DefinitionResponse { yaml, etag: tag, cache_control, body: Some(body) })
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::DataProducts")]
impl DefinitionsApi {
    /// Read the definition of a data product
    ///
    /// The latest version as one document: `name`, every metadata field, and every table
    /// (`name`, `tableDescription`, `columns`) in name order. JSON, or YAML with `Accept:
    /// application/yaml`. `PUT` of the same document changes nothing.
    #[oai(path = "/data-products/:name/definition", method = "get", operation_id = "getDefinition")]
    async fn get_definition(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `application/yaml` for YAML; anything else gives JSON.
        #[oai(name = "Accept")]
        accept: Header<Option<String>>,
        /// A version ETag held by the client; 304 if it is still the latest.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<DefinitionResponse, sets::Read> {
        let answer = read(
            &state,
            &name,
            VersionSelector::Latest,
            accept.0.as_deref(),
            if_none_match.0.as_deref(),
            include_deleted.0,
        )
        .await?;
        Ok(answer.into())
    }

    /// Read the definition of a data product as of a version
    ///
    /// As `GET .../definition`, for the version a selector names (`v1.2`, `1.2`, `v1`,
    /// `latest`); exact versions are immutable and cached as such.
    #[oai(
        path = "/data-products/:name/versions/:version/definition",
        method = "get",
        operation_id = "getVersionDefinition"
    )]
    async fn get_version_definition(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `v1.2`, `1.2`, `v1` or `latest`.
        version: Path<SelectorParam>,
        /// `application/yaml` for YAML; anything else gives JSON.
        #[oai(name = "Accept")]
        accept: Header<Option<String>>,
        /// A version ETag held by the client.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<DefinitionResponse, sets::Read> {
        let selector = params::selector(&version)?;
        Ok(read(&state, &name, selector, accept.0.as_deref(), if_none_match.0.as_deref(), include_deleted.0)
            .await?
            .into())
    }

    /// Create or replace a data product from its definition
    ///
    /// Makes the product exactly what the document says, in ONE version. When the name is
    /// free the product is created at `v1.0` holding every table (201); otherwise its
    /// metadata and every table are replaced at once (200): a table left out is removed (a
    /// major change), and the version is classified as the strongest of all changes. The
    /// body is a definition (JSON, or YAML with `Content-Type: application/yaml`) or an ODCS
    /// v3 contract (`application/odcs+yaml` or `application/odcs+json`); every member daap
    /// cannot hold is a 422 naming it by JSON pointer. `If-Match`, `expectedChange` (in the
    /// body, or as a query parameter for contracts) and `dryRun` work as for other writes.
    #[oai(path = "/data-products/:name/definition", method = "put", operation_id = "putDefinition")]
    async fn put_definition(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        idem: Idem,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The product name.
        name: Path<ProductNameParam>,
        /// Classify and answer without writing anything (always 200).
        #[oai(name = "dryRun", default)]
        dry_run: Query<bool>,
        /// Refuse the write with 409 unless the server classifies it so; the same as the body's
        /// `expectedChange`, for bodies that cannot carry it (ODCS contracts).
        #[oai(name = "expectedChange")]
        expected_change: Query<Option<ExpectedChange>>,
        /// The version the client read, e.g. `"v1.2"`; 412 if another came first (or if the
        /// product does not exist yet).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: DefinitionRequest,
    ) -> Reply<PutResponse, sets::VersionedWrite> {
        let name = params::product_name(&name)?;
        let raw = body.into_raw();
        let parsed = parse(&raw, &name)?;
        let query = expected_change.0.map(|e| match e {
            ExpectedChange::None => ChangeClass::None,
            ExpectedChange::Minor => ChangeClass::Minor,
            ExpectedChange::Major => ChangeClass::Major,
        });
        let expected = match (parsed.expected, query) {
            (Some(body), Some(query)) if body != query => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "/expectedChange",
                    format!("is `{}` but the query's `expectedChange` is `{}`", body.as_str(), query.as_str()),
                )])
                .into());
            }
            (body, query) => body.or(query),
        };
        let opts = WriteOptions { if_match: if_match.0, expected, dry_run: dry_run.0, keyed: idem.0.is_some() };
        let pending = catalog::define_product(&state.db, &who, &name, parsed.metadata, parsed.tables, &opts).await?;
        let (outcome, created) = &pending.value;
        let (result, tag) = (write_result(outcome), etag(outcome.product.version));
        if *created && !opts.dry_run {
            let location = format!("/v1/data-products/{name}");
            pending
                .commit(idem.store(|| StoredResponse::json(201, &result, &[("Location", &location), ("ETag", &tag)])))
                .await?;
            Ok(PutResponse::Created(Json(result), location, tag).into())
        } else {
            pending.commit(idem.store(|| StoredResponse::json(200, &result, &[("ETag", &tag)]))).await?;
            Ok(PutResponse::Ok(Json(result), tag).into())
        }
    }
}
