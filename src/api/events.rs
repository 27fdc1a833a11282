//! `/v1/events`: the ordered change feed for catalogue sync jobs, with long-polling.
use std::time::Duration;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query};

use super::{ApiTags, dto::timestamp, params};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::BearerAuth,
    error::ApiError,
    events::{self, EventRow, FeedError, FeedQuery},
    state::AppState,
};

pub struct EventsApi;

/// One change, as it happened.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Event {
    /// Pass as `after` to resume right after this event.
    pub cursor: String,
    /// Unique, stable event id (use it to de-duplicate).
    pub id: String,
    // The event type, e.g. `schema.updated`.
    #[oai(rename = "type")]
    pub event_type: super::dto::EventTypeName,
    /// The plain name of the data product.
    pub data_product: String,
    /// The version the change made, if it made one.
    pub version: Option<String>,
    /// The table, for `schema.*` events.
    pub table: Option<String>,
    /// When the change committed (RFC 3339, UTC).
    pub occurred_at: super::dto::Timestamp,
    /// Who made the change (the token's `sub`).
    pub actor: String,
    /// Details: `changeType` and `changes` for versioned changes.
    pub data: serde_json::Value,
}

/// A page of the feed.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct EventPage {
    /// Events in feed order.
    pub items: Vec<Event>,
    /// Always present: pass it as `after` next time (unchanged when nothing new came).
    pub next_cursor: String,
}

#[derive(ApiResponse)]
pub enum EventsResponse {
    /// The next events after the cursor.
    #[oai(status = 200)]
    Ok(Json<EventPage>),
}

fn cursor_of(seq: i64) -> String {
    events::cursor_of(seq)
}

fn event_of(row: EventRow) -> Event {
    Event {
        cursor: cursor_of(row.seq),
        id: row.id,
        event_type: super::dto::EventTypeName(row.event_type),
        data_product: row.data_product,
        version: row.version,
        table: row.table_name,
        occurred_at: timestamp(row.occurred_at),
        actor: row.actor,
        data: row.data,
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// Follow the change feed
    ///
    /// One total order of every committed change. A reader that always passes back
    /// `nextCursor` as `after` sees every event exactly once and in commit order, even while
    /// many writers commit on many replicas. With `wait`, the request is held until at least
    /// one event exists after the cursor or the time runs out.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn list_events(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// Resume after this cursor (`nextCursor` or an event's `cursor`); absent: from the start.
        after: Query<Option<String>>,
        /// Page size.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<u32>,
        /// Only events of this type, e.g. `schema.updated`.
        #[oai(name = "type")]
        event_type: Query<Option<super::dto::EventTypeName>>,
        /// Only events of this data product (plain name).
        #[oai(name = "dataProduct")]
        data_product: Query<Option<String>>,
        /// Seconds to wait for an event when there is none yet (0..=30).
        #[oai(default, validator(maximum(value = "30")))]
        wait: Query<u32>,
    ) -> Reply<EventsResponse, sets::List> {
        let after_seq = match after.0.as_deref() {
            None => 0,
            Some(raw) => params::decode_cursor('e', raw)?.parse::<i64>().map_err(|_| {
                ApiError::MalformedRequest(format!("bad cursor `{raw}`: pass back a `nextCursor` unchanged"))
            })?,
        };
        let query = FeedQuery {
            after: after_seq,
            limit: u64::from(limit.0),
            event_type: event_type.0.map(|t| t.0),
            data_product: params::filter_text("dataProduct", data_product.0)?,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait.0));
        let mut wake = state.db.feed.subscribe();
        // After a commit, its event may wait for older transactions still running before
        // the feed shows it (see `events`): re-read shortly rather than wait for another.
        // Re-reads left after a wake-up (20 ms apart: half a second in all).
        let mut rereads = 0u32;
        let rows = loop {
            wake.borrow_and_update();
            let rows = events::read(&state.db.conn, &query).await.map_err(|e| match e {
                FeedError::UnknownCursor => ApiError::MalformedRequest(format!(
                    "bad cursor `{}`: it names no event of the feed; pass back a `nextCursor` unchanged",
                    after.0.as_deref().unwrap_or_default()
                )),
                FeedError::Db(e) => e.into(),
            })?;
            if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
                break rows;
            }
            if rereads > 0 {
                rereads -= 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                }
                continue;
            }
            tokio::select! {
                changed = wake.changed() => match changed {
                    Ok(()) => rereads = 25,
                    Err(_) => break rows,
                },
                _ = tokio::time::sleep_until(deadline) => {}
            }
        };
        let next = rows.last().map(|r| r.seq).unwrap_or(after_seq);
        Ok(EventsResponse::Ok(Json(EventPage {
            items: rows.into_iter().map(event_of).collect(),
            next_cursor: cursor_of(next),
        }))
        .into())
    }
}

fn default_limit() -> u32 {
    100
}
