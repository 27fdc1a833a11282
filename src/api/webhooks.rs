//! `/v1/webhooks`: subscriptions that push feed events to a URL (admin scope), and the
//! log of delivery attempts. Delivery itself is the `webhooks::worker`'s.
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    dto::{Delivery, DeliveryPage, Webhook, WebhookCreated, WebhookPage},
    input::{CreateWebhook, JsonBody},
    params,
    typed::IdempotencyKey,
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::{BearerAuth, Principal, Scope},
    error::ApiError,
    idempotency::{Idem, StoredResponse},
    state::AppState,
    webhooks,
};

pub struct WebhooksApi;

#[derive(ApiResponse)]
pub enum CreateResponse {
    /// The subscription, with its signing secret (shown only here).
    #[oai(status = 201)]
    Created(
        Json<WebhookCreated>,
        /// URL of the subscription.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// A page of subscriptions, oldest first.
    #[oai(status = 200)]
    Ok(Json<WebhookPage>),
}

#[derive(ApiResponse)]
pub enum GetResponse {
    /// The subscription (without its secret).
    #[oai(status = 200)]
    Ok(Json<Webhook>),
}

#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Deleted with its delivery log; no further deliveries are made or retried.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum DeliveriesResponse {
    /// A page of delivery attempts, newest first.
    #[oai(status = 200)]
    Ok(Json<DeliveryPage>),
}

fn page_cursor(tag: char, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    raw.map(|c| params::decode_cursor(tag, c)).transpose()
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Subscribe a URL to the change feed
    ///
    /// Needs the `daap:admin` scope. Events committed after this call that pass the filters
    /// (`eventTypes` AND `dataProducts`; absent or empty lists let everything through) are
    /// POSTed to `url` one at a time in feed order, following the Standard Webhooks
    /// specification: the body is the event as `GET /v1/events` shows it, `webhook-id` is the
    /// event `id` (de-duplicate by it: delivery is at least once), `webhook-timestamp` the
    /// Unix time of the attempt, and `webhook-signature` is `v1,` + base64 of HMAC-SHA256
    /// over `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the base64-decoded part
    /// of the secret after `whsec_`. A timeout (`DAAP_WEBHOOK_TIMEOUT`), connection error or
    /// non-2xx answer is retried, first within 5 s, then doubling with jitter up to 10
    /// minutes apart, and holds back later events; after 24 h of failures the subscription is
    /// `paused` with the reason. Redirects are not followed. The URL must be `http(s)`;
    /// hosts that resolve to loopback, link-local or private addresses are refused (422 on
    /// `/url`, and a failed attempt at delivery time) unless `DAAP_WEBHOOK_ALLOW_PRIVATE=true`.
    #[oai(path = "/webhooks", method = "post", operation_id = "createWebhook")]
    async fn create_webhook(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        idem: Idem,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CreateWebhook>,
    ) -> Reply<CreateResponse, sets::Submit> {
        who.require(Scope::Admin)?;
        let pending = webhooks::create(&state.db, &state.webhooks, &who, body.0.0).await?;
        let created = WebhookCreated { webhook: Webhook::from(&pending.value), secret: pending.value.secret.clone() };
        let location = format!("/v1/webhooks/{}", created.webhook.id);
        pending.commit(idem.store(|| StoredResponse::json(201, &created, &[("Location", &location)]))).await?;
        Ok(CreateResponse::Created(Json(created), location).into())
    }

    /// List webhook subscriptions
    ///
    /// Needs the `daap:admin` scope. Oldest first; secrets are never shown here.
    #[oai(path = "/webhooks", method = "get", operation_id = "listWebhooks")]
    async fn list_webhooks(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// Page size.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Reply<ListResponse, sets::List> {
        who.require(Scope::Admin)?;
        let after = page_cursor('w', cursor.0.as_deref())?;
        let (rows, more) = webhooks::list(&state.db, after.as_deref(), u64::from(limit.0)).await?;
        let next_cursor = more.then(|| rows.last().map(|r| params::encode_cursor('w', &r.id))).flatten();
        Ok(ListResponse::Ok(Json(WebhookPage { items: rows.iter().map(Webhook::from).collect(), next_cursor })).into())
    }

    /// Read a webhook subscription
    ///
    /// Needs the `daap:admin` scope. `status` says whether it is `active` or `paused` (with
    /// `pausedReason`). The secret is not shown.
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "getWebhook")]
    async fn get_webhook(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// The subscription's id.
        id: Path<String>,
    ) -> Reply<GetResponse, sets::Read> {
        who.require(Scope::Admin)?;
        let row = webhooks::get(&state.db, &id).await?;
        Ok(GetResponse::Ok(Json(Webhook::from(&row))).into())
    }

    /// Delete a webhook subscription
    ///
    /// Needs the `daap:admin` scope. Deliveries stop at once: an attempt in flight is neither
    /// recorded nor retried. The delivery log goes with it. Deleting it again is 404.
    #[oai(path = "/webhooks/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete_webhook(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        idem: Idem,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The subscription's id.
        id: Path<String>,
    ) -> Reply<DeleteResponse, sets::StateWrite> {
        who.require(Scope::Admin)?;
        let pending = webhooks::delete(&state.db, &id).await?;
        pending.commit(idem.store(|| StoredResponse::empty(204))).await?;
        Ok(DeleteResponse::Deleted.into())
    }

    /// List delivery attempts of a subscription
    ///
    /// Needs the `daap:admin` scope. Every attempt is recorded, newest first: the event, the
    /// attempt number for that event, `succeeded` (2xx) or `failed`, the receiver's status
    /// when it answered, the latency and, for failures, what went wrong.
    #[oai(path = "/webhooks/:id/deliveries", method = "get", operation_id = "listWebhookDeliveries")]
    async fn list_deliveries(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// The subscription's id.
        id: Path<String>,
        /// Page size.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Reply<DeliveriesResponse, sets::Read> {
        who.require(Scope::Admin)?;
        let before = page_cursor('d', cursor.0.as_deref())?
            .map(|p| {
                p.parse::<i64>().map_err(|_| {
                    ApiError::MalformedRequest("bad cursor: pass back a `nextCursor` unchanged".to_owned())
                })
            })
            .transpose()?;
        let (rows, more) = webhooks::deliveries(&state.db, &id, before, u64::from(limit.0)).await?;
        let next_cursor = more.then(|| rows.last().map(|r| params::encode_cursor('d', &r.id.to_string()))).flatten();
        Ok(DeliveriesResponse::Ok(Json(DeliveryPage { items: rows.iter().map(Delivery::from).collect(), next_cursor }))
            .into())
    }
}

fn default_limit() -> u32 {
    50
}
