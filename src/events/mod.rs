//! The change feed: one total order of events, each written in the same transaction as
//! the change it describes.
//!
//! Ordering design: the feed is ordered by `(txid, seq)`, where `txid` is the id of the
//! transaction that wrote the event (`pg_current_xact_id()`, a column default) and `seq` a
//! sequence. A reader returns only events whose `txid` is below the oldest transaction
//! still in progress when its statement started (`pg_snapshot_xmin(pg_current_snapshot())`).
//! Every transaction below that horizon has ended, so all its events are visible to the
//! reader; every transaction that has not ended, or has not started, has a `txid` at or
//! above the horizon, so its events sort after everything the reader returned. Hence no
//! event can ever become visible behind a cursor a reader has already passed, and writers
//! take no lock to append: independent writes commit in parallel. The price is that an
//! event waits for older transactions still running before it is read (the long poll
//! re-reads briefly until it is). A cursor names an event by its `seq`; its position is
//! that event's `(txid, seq)`. Events written before this design have `txid` 0 and keep
//! their `seq` order. On SQLite, with one writer at a time, `txid` is always 0 and `seq`
//! order is commit order.
//!
//! Waiting readers (`wait`) sleep on one in-process notifier; it is woken by local
//! commits and, on PostgreSQL, by one `LISTEN daap_events` connection per replica, so
//! waiting clients never poll the database. A notification's payload is the product the
//! event is about, so other replicas' caches forget that product's head.
pub use crate::{
    domain::event::{EventType, NewEvent},
    store::events::{CHANNEL, EventRow, FeedError, FeedQuery, Heard, Notifier, append, head, read},
};

/// The opaque feed cursor that resumes right after `seq`.
pub fn cursor_of(seq: i64) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(format!("e:{seq}"))
}

/// An event as the feed and webhook deliveries show it (camelCase, absent members omitted).
pub fn wire(row: &EventRow) -> serde_json::Value {
    let mut event = serde_json::json!({
        "cursor": cursor_of(row.seq),
        "id": row.id,
        "type": row.event_type,
        "dataProduct": row.data_product,
        "occurredAt": row.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "actor": row.actor,
        "data": row.data,
    });
    if let Some(version) = &row.version {
        event["version"] = serde_json::json!(version);
    }
    if let Some(table) = &row.table_name {
        event["table"] = serde_json::json!(table);
    }
    event
}
