//! Operational endpoints: liveness and readiness probes (no token needed).
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::{error::ApiError, startup::AppState};

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
    #[oai(path = "/health/live", method = "get", operation_id = "healthLive")]
    async fn health_live(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health { status: "ok".to_owned() }))
    }

    /// Readiness: the database is reachable and migrated
    ///
    /// 503 `/problems/unavailable` otherwise.
    #[oai(path = "/health/ready", method = "get", operation_id = "healthReady")]
    async fn health_ready(&self, state: Data<&AppState>) -> Result<HealthResponse, ApiError> {
        if state.db.is_ready().await {
            Ok(HealthResponse::Ok(Json(Health { status: "ok".to_owned() })))
        } else if state.db.ping().await {
            Err(ApiError::NotMigrated)
        } else {
            Err(ApiError::Unavailable)
        }
    }
}
