//! `/v1/data-products/{name}/schemas`: the tables of the latest version, and writes
//! that make a new version (PUT a whole table, DELETE a table).
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    dto::{self, DataProduct, ProductWriteResult, SchemaWriteResult, TableSchema, TableSchemaList},
    input::{JsonBody, PutTable},
    params,
    products::{etag, write_result},
    rendered::{self, Rendered},
    typed::{IdempotencyKey, ProductNameParam, TableNameParam},
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::BearerAuth,
    auth::Principal,
    catalog::{self, WriteOptions},
    domain::version::VersionSelector,
    error::ApiError,
    idempotency::{Idem, StoredResponse},
    state::AppState,
};

pub struct SchemasApi;

#[derive(ApiResponse)]
pub enum ListResponse {
    /// The tables of the latest version.
    #[oai(status = 200)]
    Ok(Rendered<TableSchemaList>),
}

#[derive(ApiResponse)]
pub enum GetResponse {
    /// The table in the latest version.
    #[oai(status = 200)]
    Ok(
        Rendered<TableSchema>,
        /// The latest version.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum PutResponse {
    /// The table is new: a minor version was made.
    #[oai(status = 201)]
    Created(
        Json<SchemaWriteResult>,
        /// URL of the table.
        #[oai(header = "Location")]
        String,
        /// The new version.
        #[oai(header = "ETag")]
        String,
    ),
    /// The table was replaced (or nothing changed, or a dry run).
    #[oai(status = 200)]
    Ok(
        Json<SchemaWriteResult>,
        /// The resulting version.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// The table is gone from the new major version (it stays in older versions).
    #[oai(status = 200)]
    Ok(
        Json<ProductWriteResult>,
        /// The new version.
        #[oai(header = "ETag")]
        String,
    ),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Schemas")]
impl SchemasApi {
    /// List the tables of the latest version
    #[oai(path = "/data-products/:name/schemas", method = "get", operation_id = "listSchemas")]
    async fn list_schemas(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<ListResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let (_, snapshot) = catalog::selected(&state.db, &name, VersionSelector::Latest, include_deleted.0).await?;
        Ok(ListResponse::Ok(rendered::tables(&snapshot)).into())
    }

    /// Read a table of the latest version
    #[oai(path = "/data-products/:name/schemas/:table", method = "get", operation_id = "getSchema")]
    async fn get_schema(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// The table name.
        table: Path<TableNameParam>,
        /// Also read a soft-deleted product.
        #[oai(name = "includeDeleted", default)]
        include_deleted: Query<bool>,
    ) -> Reply<GetResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let table = params::table_name(&table)?;
        let (_, snapshot) = catalog::selected(&state.db, &name, VersionSelector::Latest, include_deleted.0).await?;
        let version = snapshot.product.version;
        let index = snapshot
            .table_index(table.as_str())
            .ok_or_else(|| ApiError::not_found(format_args!("table `{table}` in version {version} of `{name}`")))?;
        Ok(GetResponse::Ok(rendered::table(&snapshot, index), etag(version)).into())
    }

    /// Create or replace a table
    ///
    /// A full replacement of the table. The change is classified by the versioning rules:
    /// a new table or a compatible change makes a minor version, a breaking change a major
    /// one, an identical table none.
    #[oai(path = "/data-products/:name/schemas/:table", method = "put", operation_id = "putSchema")]
    async fn put_schema(
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
        /// The table name (must not look like a version, e.g. `v1`).
        table: Path<TableNameParam>,
        /// Classify and answer without writing anything (always 200).
        #[oai(name = "dryRun", default)]
        dry_run: Query<bool>,
        /// The version the client read; 412 if another came first.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<PutTable>,
    ) -> Reply<PutResponse, sets::VersionedWrite> {
        let name = params::product_name(&name)?;
        let table = params::table_name(&table)?;
        let expected = body.0.expected;
        let opts = WriteOptions { if_match: if_match.0, expected, dry_run: dry_run.0, keyed: idem.0.is_some() };
        let pending = catalog::put_table(&state.db, &who, &name, body.0.into_table(table.clone()), &opts).await?;
        let (outcome, view, created) = &pending.value;
        let created = *created;
        let result = SchemaWriteResult {
            data_product: DataProduct::from(&outcome.product),
            schema: TableSchema::from(view),
            change_type: outcome.class.into(),
            changes: dto::changes(&outcome.changes),
        };
        let tag = etag(outcome.product.version);
        if created && !opts.dry_run {
            let location = format!("/v1/data-products/{name}/schemas/{table}");
            pending
                .commit(idem.store(|| StoredResponse::json(201, &result, &[("Location", &location), ("ETag", &tag)])))
                .await?;
            Ok(PutResponse::Created(Json(result), location, tag).into())
        } else {
            pending.commit(idem.store(|| StoredResponse::json(200, &result, &[("ETag", &tag)]))).await?;
            Ok(PutResponse::Ok(Json(result), tag).into())
        }
    }

    /// Remove a table
    ///
    /// Always a major change: the table is gone from the new version only.
    #[oai(path = "/data-products/:name/schemas/:table", method = "delete", operation_id = "deleteSchema")]
    async fn delete_schema(
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
        /// The table name.
        table: Path<TableNameParam>,
        /// Classify and answer without writing anything.
        #[oai(name = "dryRun", default)]
        dry_run: Query<bool>,
        /// The version the client read; 412 if another came first.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Reply<DeleteResponse, sets::VersionedDelete> {
        let name = params::product_name(&name)?;
        let table = params::table_name(&table)?;
        let opts = WriteOptions { if_match: if_match.0, expected: None, dry_run: dry_run.0, keyed: idem.0.is_some() };
        let pending = catalog::delete_table(&state.db, &who, &name, &table, &opts).await?;
        let (body, tag) = (write_result(&pending.value), etag(pending.value.product.version));
        pending.commit(idem.store(|| StoredResponse::json(200, &body, &[("ETag", &tag)]))).await?;
        Ok(DeleteResponse::Ok(Json(body), tag).into())
    }
}
