//! `AppState`: what every handler can reach. Built by `startup`, read by `api`; it imports
//! neither, so the two never import each other.
use std::sync::Arc;

use crate::{auth::Verifier, metrics::Metrics, store::Db, uploads::Uploads, webhooks};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub verifier: Arc<Verifier>,
    pub metrics: Arc<Metrics>,
    /// How webhook targets are checked.
    pub webhooks: webhooks::WebhookSettings,
    pub uploads: Arc<Uploads>,
}
