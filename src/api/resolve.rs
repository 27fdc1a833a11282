//! `/v1/resolve/{id}`: public IDs to what they name, with the canonical immutable URL.
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Union,
    param::{Path, Query},
};

use super::{
    ApiTags,
    dto::{DataProduct, TableSchema},
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::BearerAuth,
    catalog::{self, Resolved},
    domain::public_id::PublicId,
    error::ApiError,
    state::AppState,
};

pub struct ResolveApi;

/// A data product (for product IDs) or a table schema (for table IDs).
#[derive(Debug, Clone, Union)]
pub enum ResolvedEntity {
    DataProduct(DataProduct),
    TableSchema(TableSchema),
}

#[derive(ApiResponse)]
pub enum ResolveResponse {
    /// What the ID names.
    #[oai(status = 200)]
    Ok(
        Json<ResolvedEntity>,
        /// The canonical, immutable URL of what was resolved.
        #[oai(header = "Content-Location")]
        String,
    ),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Resolve")]
impl ResolveApi {
    /// Resolve a public ID
    ///
    /// Accepts `dp:<name>`, `dp:<name>:v<M>.<m>`, `dp:<name>:v<M>`, and each of these
    /// followed by `:<table>`. Percent-encoded IDs are accepted.
    #[oai(path = "/resolve/:id", method = "get", operation_id = "resolveId")]
    async fn resolve_id(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The public ID, e.g. `dp:prisons:v1.2:incidents`.
        id: Path<String>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<ResolveResponse, sets::Resolve> {
        let id = PublicId::parse(&id).map_err(|e| ApiError::InvalidId(e.to_string()))?;
        Ok(match catalog::resolve(&state.db, &id, include_deleted.0).await? {
            Resolved::Product(p) => {
                let location = format!("/v1/data-products/{}/versions/{}", p.name, p.version);
                ResolveResponse::Ok(Json(ResolvedEntity::DataProduct(DataProduct::from(&p))), location)
            }
            Resolved::Table(t) => {
                let location = format!("/v1/data-products/{}/versions/{}/schemas/{}", t.product, t.version, t.name);
                ResolveResponse::Ok(Json(ResolvedEntity::TableSchema(TableSchema::from(&t))), location)
            }
        }
        .into())
    }
}
