//! `GET /v1/stats`: the state of the platform at a glance.
use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{auth::BearerAuth, state::AppState, store};

pub struct StatsApi;

/// Data products that are not deleted.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProductStats {
    /// How many there are.
    pub total: i64,
    /// How many each domain owns (only domains that own one).
    pub by_domain: BTreeMap<String, i64>,
    /// How many have each lifecycle status (every status, zero included).
    pub by_status: BTreeMap<String, i64>,
}

/// Uploads, whatever their product's state.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct UploadStats {
    /// How many have each status (every status, zero included).
    pub by_status: BTreeMap<String, i64>,
}

/// Platform statistics.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Stats {
    // Data products that are not deleted.
    pub data_products: ProductStats,
    /// Versions of the products that are not deleted.
    pub versions: i64,
    /// Tables in the latest versions of the products that are not deleted.
    pub tables: i64,
    // Uploads by status.
    pub uploads: UploadStats,
    /// Events in the change feed (purged products' events included).
    pub events: i64,
}

#[derive(ApiResponse)]
pub enum StatsResponse {
    /// The figures, read in one transaction.
    #[oai(status = 200)]
    Ok(Json<Stats>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Operations")]
impl StatsApi {
    /// Platform statistics
    ///
    /// Counts of products by domain and status, versions, tables, uploads by status and
    /// events, each computed by one SQL aggregate. Soft-deleted products (and their
    /// versions and tables) are not counted.
    #[oai(path = "/stats", method = "get", operation_id = "getStats")]
    async fn stats(&self, state: Data<&AppState>, _auth: BearerAuth) -> Reply<StatsResponse, sets::Stats> {
        let s = store::stats::read(&state.db.conn).await?;
        Ok(StatsResponse::Ok(Json(Stats {
            data_products: ProductStats {
                total: s.products,
                by_domain: s.products_by_domain,
                by_status: s.products_by_status,
            },
            versions: s.versions,
            tables: s.tables,
            uploads: UploadStats { by_status: s.uploads_by_status },
            events: s.events,
        }))
        .into())
    }
}
