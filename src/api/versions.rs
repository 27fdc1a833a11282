//! `/v1/data-products/{name}/versions` and `/compare`: the immutable history.
//! Exact versions never change, so they are served with a strong ETag and cached for a
//! year; moving selectors (`latest`, `v1`) are not cached.
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    dto::{self, Comparison, DataProduct, TableSchema, TableSchemaList, VersionPage, VersionSummaryDto},
    params,
    products::etag,
    rendered::{self, Rendered},
    typed::{ProductNameParam, SelectorParam, TableNameParam},
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::BearerAuth,
    catalog::{self, etag_matches},
    domain::{diff::classify, version::VersionSelector},
    error::ApiError,
    state::AppState,
};

pub struct VersionsApi;

/// `Cache-Control` for what a selector names.
fn cache_control(selector: VersionSelector) -> String {
    if selector.is_exact() { "public, max-age=31536000, immutable".to_owned() } else { "no-cache".to_owned() }
}

#[derive(ApiResponse)]
pub enum VersionResponse {
    /// The product as of the selected version.
    #[oai(status = 200)]
    Ok(
        Rendered<DataProduct>,
        /// The version, e.g. `"v1.2"` (strong).
        #[oai(header = "ETag")]
        String,
        /// `public, max-age=31536000, immutable` for exact versions; `no-cache` for `latest` and `v<M>`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// The client's copy (`If-None-Match`) is current.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum VersionListResponse {
    /// A page of versions, newest first.
    #[oai(status = 200)]
    Ok(Json<VersionPage>),
}

#[derive(ApiResponse)]
pub enum TablesResponse {
    /// The tables of the selected version.
    #[oai(status = 200)]
    Ok(Rendered<TableSchemaList>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum TableResponse {
    /// The table as of the selected version.
    #[oai(status = 200)]
    Ok(
        Rendered<TableSchema>,
        /// The version the table is read in.
        #[oai(header = "ETag")]
        String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum CompareResponse {
    /// The direct diff of the two snapshots.
    #[oai(status = 200)]
    Ok(Json<Comparison>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Versions")]
impl VersionsApi {
    /// List the versions of a data product
    #[oai(path = "/data-products/:name/versions", method = "get", operation_id = "listVersions")]
    async fn list_versions(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// Page size.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<VersionListResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let before = params::version_cursor(cursor.0.as_deref())?;
        let (items, next) =
            catalog::list_versions(&state.db, &name, before, u64::from(limit.0), include_deleted.0).await?;
        Ok(VersionListResponse::Ok(Json(VersionPage {
            items: items.iter().map(|v| VersionSummaryDto::of(name.as_str(), v)).collect(),
            next_cursor: next.map(|v| params::encode_cursor('v', &v.to_string())),
        }))
        .into())
    }

    /// Read a data product as of a version
    ///
    /// `{version}` is exact (`v1.2` or `1.2`), the latest within a major (`v1`), or `latest`.
    #[oai(path = "/data-products/:name/versions/:version", method = "get", operation_id = "getVersion")]
    async fn get_version(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `v1.2`, `1.2`, `v1` or `latest`.
        version: Path<SelectorParam>,
        /// A version ETag held by the client.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<VersionResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let selector = params::selector(&version)?;
        let (head, snapshot) = catalog::selected(&state.db, &name, selector, include_deleted.0).await?;
        let version = snapshot.product.version;
        if let Some(tags) = &if_none_match.0
            && etag_matches(tags, version)
        {
            return Ok(VersionResponse::NotModified(etag(version), cache_control(selector)).into());
        }
        Ok(VersionResponse::Ok(rendered::product(&head, &snapshot), etag(version), cache_control(selector)).into())
    }

    /// List the tables of a version
    #[oai(path = "/data-products/:name/versions/:version/schemas", method = "get", operation_id = "listVersionSchemas")]
    async fn list_version_schemas(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `v1.2`, `1.2`, `v1` or `latest`.
        version: Path<SelectorParam>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<TablesResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let selector = params::selector(&version)?;
        let (_, snapshot) = catalog::selected(&state.db, &name, selector, include_deleted.0).await?;
        Ok(TablesResponse::Ok(rendered::tables(&snapshot), cache_control(selector)).into())
    }

    /// Read a table as of a version
    #[oai(
        path = "/data-products/:name/versions/:version/schemas/:table",
        method = "get",
        operation_id = "getVersionSchema"
    )]
    async fn get_version_schema(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// `v1.2`, `1.2`, `v1` or `latest`.
        version: Path<SelectorParam>,
        /// The table name.
        table: Path<TableNameParam>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<TableResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let selector = params::selector(&version)?;
        let table = params::table_name(&table)?;
        let (_, snapshot) = catalog::selected(&state.db, &name, selector, include_deleted.0).await?;
        let version = snapshot.product.version;
        let index = snapshot
            .table_index(table.as_str())
            .ok_or_else(|| ApiError::not_found(format_args!("table `{table}` in version {version} of `{name}`")))?;
        Ok(TableResponse::Ok(rendered::table(&snapshot, index), etag(version), cache_control(selector)).into())
    }

    /// Compare two versions
    ///
    /// The direct diff of the two snapshots, `from` -> `to` as asked; in reverse order an
    /// added column shows as removed. `from` and `to` take the same selectors as version reads.
    #[oai(path = "/data-products/:name/compare", method = "get", operation_id = "compareVersions")]
    async fn compare_versions(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// The version to compare from.
        from: Query<SelectorParam>,
        /// The version to compare to.
        to: Query<SelectorParam>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<CompareResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let (from, to) = (params::selector(&from)?, params::selector(&to)?);
        let (from, to, changes) = catalog::compare(&state.db, &name, from, to, include_deleted.0).await?;
        Ok(CompareResponse::Ok(Json(Comparison {
            from: from.to_string(),
            to: to.to_string(),
            change_type: classify(&changes).into(),
            changes: dto::changes(&changes),
        }))
        .into())
    }
}

fn default_limit() -> u32 {
    50
}
