//! Operational endpoints: liveness and readiness probes (no token needed).
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{
    ApiTags,
    json::Json,
    problem::{Answer, Reply, sets},
};
use crate::{error::ApiError, state::AppState};

pub struct OpsApi;

/// A probe result.
#[derive(Debug, Clone, Object)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The check passed.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[OpenApi(tag = "ApiTags::Operations")]
impl OpsApi {
    /// Liveness: the process is up
    ///
    /// Answers 200 while the process serves requests; it reads nothing else. No token needed.
    #[oai(path = "/health/live", method = "get", operation_id = "healthLive")]
    async fn health_live(&self) -> Answer<HealthResponse, sets::Infallible> {
        HealthResponse::Ok(Json(Health { status: "ok".to_owned() })).into()
    }

    /// Readiness: the database is reachable and migrated
    ///
    /// 503 `/problems/unavailable` otherwise. No token needed.
    #[oai(path = "/health/ready", method = "get", operation_id = "healthReady")]
    async fn health_ready(&self, state: Data<&AppState>) -> Reply<HealthResponse, sets::Readiness> {
        if state.db.is_ready().await {
            Ok(HealthResponse::Ok(Json(Health { status: "ok".to_owned() })).into())
        } else if state.db.ping().await {
            Err(ApiError::NotMigrated.into())
        } else {
            Err(ApiError::Unavailable.into())
        }
    }
}
