//! `/v1/data-products`: register, list, read, replace metadata, delete, restore, purge.
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    dto::{self, DataProduct, DataProductPage, ProductWriteResult},
    input::{CreateProduct, JsonBody, UpdateProduct},
    params,
    rendered::{self, Rendered},
    typed::IdempotencyKey,
    typed::ProductNameParam,
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::domain::version::VersionSelector;
use crate::{
    auth::{BearerAuth, Principal, Scope},
    catalog::{self, WriteOptions, etag_matches},
    domain::model::ProductStatus,
    error::ApiError,
    idempotency::{Idem, StoredResponse},
    state::AppState,
    store::products::ProductFilter,
};

pub struct ProductsApi;

#[derive(ApiResponse)]
pub enum CreateResponse {
    /// The product is registered at `v1.0`.
    #[oai(status = 201)]
    Created(
        Json<DataProduct>,
        /// URL of the new product.
        #[oai(header = "Location")]
        String,
        /// The version, `"v1.0"`.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum GetResponse {
    /// The latest version of the product.
    #[oai(status = 200)]
    Ok(
        Rendered<DataProduct>,
        /// The latest version, e.g. `"v1.3"`.
        #[oai(header = "ETag")]
        String,
        /// `no-cache`: the latest version moves.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// The version named in `If-None-Match` is still the latest.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// A page of products ordered by name.
    #[oai(status = 200)]
    Ok(Json<DataProductPage>),
}

#[derive(ApiResponse)]
pub enum WriteResponse {
    /// The classified write: a new version, `changeType: none` when nothing changed, or the would-be result of a dry run.
    #[oai(status = 200)]
    Ok(
        Json<ProductWriteResult>,
        /// The resulting version.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Deleted (soft) or purged.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum RestoreResponse {
    /// The product is back; no version was made.
    #[oai(status = 200)]
    Ok(Json<DataProduct>, #[oai(header = "ETag")] String),
}

pub fn etag(version: impl std::fmt::Display) -> String {
    format!("\"{version}\"")
}

pub fn write_result(outcome: &catalog::WriteOutcome) -> ProductWriteResult {
    ProductWriteResult {
        data_product: DataProduct::from(&outcome.product),
        change_type: outcome.class.into(),
        changes: dto::changes(&outcome.changes),
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::DataProducts")]
impl ProductsApi {
    /// Register a data product
    ///
    /// Creates the product at version `v1.0`. The name is unique for good: a soft-deleted
    /// product keeps it until it is purged.
    #[oai(path = "/data-products", method = "post", operation_id = "createDataProduct")]
    async fn create_data_product(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        idem: Idem,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CreateProduct>,
    ) -> Reply<CreateResponse, sets::CreateProduct> {
        let CreateProduct { name, metadata } = body.0;
        let pending = catalog::create_product(&state.db, &who, &name, metadata).await?;
        let body = DataProduct::from(&pending.value);
        let (location, tag) = (format!("/v1/data-products/{name}"), etag(pending.value.version));
        pending
            .commit(idem.store(|| StoredResponse::json(201, &body, &[("Location", &location), ("ETag", &tag)])))
            .await?;
        Ok(CreateResponse::Created(Json(body), location, tag).into())
    }

    /// List data products
    ///
    /// Ordered by name, with keyset pagination: a reader passing back `nextCursor` never
    /// sees an item twice nor misses one that existed throughout, even while others insert.
    #[oai(path = "/data-products", method = "get", operation_id = "listDataProducts")]
    async fn list_data_products(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// Only products of this domain (exact match).
        domain: Query<Option<String>>,
        /// Only products with this status.
        status: Query<Option<dto::Status>>,
        /// Only products whose `dataProductOwner` is this address (case-insensitive).
        owner: Query<Option<String>>,
        /// Only products with this tag: `key`, or `key:value` (split at the first `:`).
        tag: Query<Option<String>>,
        /// Case-insensitive substring of the name or description, taken literally.
        q: Query<Option<String>>,
        /// Include soft-deleted products (they carry `deletedAt`).
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
        /// Page size.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Reply<ListResponse, sets::List> {
        let (domain, owner) = (params::filter_text("domain", domain.0)?, params::filter_text("owner", owner.0)?);
        let (tag, q) = (params::filter_text("tag", tag.0)?, params::filter_text("q", q.0)?);
        let (tag_key, tag_value) = match tag {
            None => (None, None),
            Some(t) => match t.split_once(':') {
                Some((k, v)) => (Some(k.to_owned()), Some(v.to_owned())),
                None => (Some(t), None),
            },
        };
        let filter = ProductFilter {
            domain,
            status: status.0.map(|s| ProductStatus::from(s).as_str().to_owned()),
            owner_lc: owner.map(|o| o.to_lowercase()),
            tag_key,
            tag_value,
            q_lc: q.map(|q| q.to_lowercase()),
            include_deleted: include_deleted.0,
            after_name: params::product_cursor(cursor.0.as_deref())?,
        };
        let (items, next) = catalog::list_products(&state.db, &filter, u64::from(limit.0)).await?;
        Ok(ListResponse::Ok(Json(DataProductPage {
            items: items.iter().map(DataProduct::from).collect(),
            next_cursor: next.map(|n| params::encode_cursor('n', &n)),
        }))
        .into())
    }

    /// Read the latest version of a data product
    #[oai(path = "/data-products/:name", method = "get", operation_id = "getDataProduct")]
    async fn get_data_product(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// Also find a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
        /// A version ETag held by the client; 304 if it is still the latest.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Reply<GetResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let (head, snapshot) = catalog::selected(&state.db, &name, VersionSelector::Latest, include_deleted.0).await?;
        let version = snapshot.product.version;
        if let Some(tags) = &if_none_match.0
            && etag_matches(tags, version)
        {
            return Ok(GetResponse::NotModified(etag(version), "no-cache".to_owned()).into());
        }
        Ok(GetResponse::Ok(rendered::product(&head, &snapshot), etag(version), "no-cache".to_owned()).into())
    }

    /// Replace the metadata of a data product
    ///
    /// A full replacement of every metadata field but `name` (left-out optional fields are
    /// removed). A change makes a new minor version; an identical body makes none and answers
    /// `changeType: none`.
    #[oai(path = "/data-products/:name", method = "put", operation_id = "updateDataProduct")]
    async fn update_data_product(
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
        /// Classify and answer without writing anything.
        #[oai(name = "dryRun", default)]
        dry_run: Query<bool>,
        /// The version the client read, e.g. `"v1.2"`; 412 if another came first.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<UpdateProduct>,
    ) -> Reply<WriteResponse, sets::VersionedWrite> {
        let name = params::product_name(&name)?;
        let UpdateProduct { name: body_name, metadata, expected } = body.0;
        if let Some(n) = body_name
            && n != name.as_str()
        {
            return Err(ApiError::Validation(vec![crate::error::FieldError::new(
                "/name",
                format!("`name` cannot change; it must equal `{name}` or be left out"),
            )])
            .into());
        }
        let opts = WriteOptions { if_match: if_match.0, expected, dry_run: dry_run.0, keyed: idem.0.is_some() };
        let pending = catalog::update_metadata(&state.db, &who, &name, metadata, &opts).await?;
        let (body, tag) = (write_result(&pending.value), etag(pending.value.product.version));
        pending.commit(idem.store(|| StoredResponse::json(200, &body, &[("ETag", &tag)]))).await?;
        Ok(WriteResponse::Ok(Json(body), tag).into())
    }

    /// Delete or purge a data product
    ///
    /// Without `purge`: a soft delete; reads answer 404, lists hide it, writes answer 409,
    /// and the name stays reserved. With `purge=true` (admin): every version is removed for
    /// good and the name is freed.
    #[oai(path = "/data-products/:name", method = "delete", operation_id = "deleteDataProduct")]
    async fn delete_data_product(
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
        /// Remove the product and all its versions for good.
        #[oai(default)]
        purge: Query<bool>,
    ) -> Reply<DeleteResponse, sets::StateWrite> {
        let name = params::product_name(&name)?;
        if purge.0 {
            who.require(Scope::Admin)?;
            catalog::purge_product(&state.db, &who, &name).await?
        } else {
            catalog::delete_product(&state.db, &who, &name).await?
        }
        .commit(idem.store(|| StoredResponse::empty(204)))
        .await?;
        Ok(DeleteResponse::NoContent.into())
    }

    /// Restore a soft-deleted data product
    ///
    /// Makes no new version; 409 if the product is not deleted.
    #[oai(path = "/data-products/:name/restore", method = "post", operation_id = "restoreDataProduct")]
    async fn restore_data_product(
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
    ) -> Reply<RestoreResponse, sets::StateWrite> {
        let name = params::product_name(&name)?;
        let pending = catalog::restore_product(&state.db, &who, &name).await?;
        let (body, tag) = (DataProduct::from(&pending.value), etag(pending.value.version));
        pending.commit(idem.store(|| StoredResponse::json(200, &body, &[("ETag", &tag)]))).await?;
        Ok(RestoreResponse::Ok(Json(body), tag).into())
    }
}

fn default_limit() -> u32 {
    50
}
