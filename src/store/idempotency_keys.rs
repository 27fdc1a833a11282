//! Idempotency keys as stored: a claim (`running`, leased until `locked_until`) and, once
//! its request has answered, the answer to replay (`done`). A claim is one conditional
//! INSERT or UPDATE, so of many concurrent requests with one key exactly one holds it; the
//! answer of a change commits in the change's own transaction (`tx::Write::commit`).
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, DeriveActiveEnum, EntityTrait, EnumIter, QueryFilter,
    sea_query::{OnConflict, StringLen},
};

use super::{
    Db,
    entities::idempotency_keys as keys,
    tx::{Autocommit, Write},
};

/// A key a request holds: its scope (the principal) and the key itself.
#[derive(Debug, Clone)]
pub struct ClaimedKey {
    pub principal: String,
    pub key: String,
}

/// A response as stored for replay.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What a write stores with its change for an idempotency key.
pub type Answer = (ClaimedKey, StoredResponse);

/// Where a claimed key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum KeyState {
    /// Its request is running (or died; then the lease runs out).
    #[sea_orm(string_value = "running")]
    Running,
    /// Its request answered; the answer is stored.
    #[sea_orm(string_value = "done")]
    Done,
}

/// A stored key, decoded.
#[derive(Debug, Clone)]
struct Key {
    fingerprint: String,
    locked_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// The stored answer, once the key is `done`.
    answer: Option<StoredResponse>,
}

impl From<keys::Model> for Key {
    fn from(row: keys::Model) -> Key {
        let answer = (row.state == KeyState::Done).then(|| StoredResponse {
            status: row.response_status.unwrap_or(200) as u16,
            headers: row.response_headers.and_then(|h| serde_json::from_value(h).ok()).unwrap_or_default(),
            body: row.response_body.unwrap_or_default(),
        });
        Key { fingerprint: row.fingerprint, locked_until: row.locked_until, expires_at: row.expires_at, answer }
    }
}

/// The outcome of claiming a key.
#[derive(Debug)]
pub enum Claim {
    /// Claimed, with the end of this claim's lease (which tells this claim from a later one).
    Claimed(DateTime<Utc>),
    Replay(StoredResponse),
    InProgress,
    Mismatch,
}

/// Marks a claimed key finished with its answer, inside the caller's transaction.
pub async fn complete(conn: &impl ConnectionTrait, key: &ClaimedKey, response: &StoredResponse) -> Result<(), DbErr> {
    let headers = serde_json::to_value(&response.headers).unwrap_or_default();
    keys::Entity::update_many()
        .col_expr(keys::Column::State, KeyState::Done.into())
        .col_expr(keys::Column::ResponseStatus, i32::from(response.status).into())
        .col_expr(keys::Column::ResponseHeaders, headers.into())
        .col_expr(keys::Column::ResponseBody, response.body.clone().into())
        .filter(keys::Column::Principal.eq(key.principal.as_str()))
        .filter(keys::Column::Key.eq(key.key.as_str()))
        .filter(keys::Column::State.eq(KeyState::Running))
        .exec(conn)
        .await?;
    Ok(())
}

/// `complete` on its own, for answers that came with no change (nothing if the change
/// already stored one).
pub async fn complete_alone(db: &Db, key: &ClaimedKey, response: &StoredResponse) -> Result<(), DbErr> {
    let write = Autocommit::begin(db).await;
    complete(write.conn(), key, response).await
}

/// Claims `key` for `principal` (the scope) for `lease`, or says why not; a new key is
/// kept for `ttl`.
pub async fn claim(
    db: &Db,
    principal: &str,
    key: &str,
    fingerprint: &str,
    lease: Duration,
    ttl: Duration,
) -> Result<Claim, DbErr> {
    // Whole milliseconds, so the lease reads back equal on every backend.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 3);
    for _ in 0..3 {
        // Replays are the common repeat: a read answers them without writing.
        let found = keys::Entity::find_by_id((principal.to_owned(), key.to_owned())).one(&db.conn).await?;
        if let Some(existing) = found.map(Key::from) {
            if existing.expires_at <= now {
                // An expired key counts as unused at once.
                let write = Autocommit::begin(db).await;
                keys::Entity::delete_many()
                    .filter(keys::Column::Principal.eq(principal))
                    .filter(keys::Column::Key.eq(key))
                    .filter(keys::Column::ExpiresAt.lte(now))
                    .exec(write.conn())
                    .await?;
                continue;
            }
            if existing.fingerprint != fingerprint {
                return Ok(Claim::Mismatch);
            }
            if let Some(answer) = existing.answer {
                return Ok(Claim::Replay(answer));
            }
            if existing.locked_until > now {
                return Ok(Claim::InProgress);
            }
            // The request holding it died: take the claim over.
            let write = Autocommit::begin(db).await;
            let taken = keys::Entity::update_many()
                .col_expr(keys::Column::LockedUntil, (now + lease).into())
                .filter(keys::Column::Principal.eq(principal))
                .filter(keys::Column::Key.eq(key))
                .filter(keys::Column::State.eq(KeyState::Running))
                .filter(keys::Column::LockedUntil.lte(now))
                .exec(write.conn())
                .await?;
            return Ok(if taken.rows_affected == 1 { Claim::Claimed(now + lease) } else { Claim::InProgress });
        }
        let row = keys::ActiveModel {
            principal: Set(principal.to_owned()),
            key: Set(key.to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            state: Set(KeyState::Running),
            locked_until: Set(now + lease),
            response_status: Set(None),
            response_headers: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(now + ttl),
        };
        let write = Write::begin(db).await?;
        if write.txn().get_database_backend() == DbBackend::Postgres {
            // The claim need not wait for its own flush: the change that completes it commits
            // synchronously later, which flushes this earlier WAL record too. A claim lost in
            // a crash belongs to a request that never answered.
            write.txn().execute_unprepared("SET LOCAL synchronous_commit TO OFF").await?;
        }
        let inserted = keys::Entity::insert(row)
            .on_conflict(OnConflict::columns([keys::Column::Principal, keys::Column::Key]).do_nothing().to_owned())
            .exec_without_returning(write.txn())
            .await?;
        write.commit(None).await?;
        if inserted == 1 {
            return Ok(Claim::Claimed(now + lease));
        }
    }
    Ok(Claim::InProgress)
}

/// Deletes a claim while it is still the one leased until `lease` and unanswered, so that
/// a retry runs again.
pub async fn release(db: &Db, key: &ClaimedKey, lease: DateTime<Utc>) -> Result<(), DbErr> {
    let write = Autocommit::begin(db).await;
    keys::Entity::delete_many()
        .filter(keys::Column::Principal.eq(key.principal.as_str()))
        .filter(keys::Column::Key.eq(key.key.as_str()))
        .filter(keys::Column::State.eq(KeyState::Running))
        .filter(keys::Column::LockedUntil.eq(lease))
        .exec(write.conn())
        .await?;
    Ok(())
}

/// Deletes expired keys; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64, DbErr> {
    let write = Autocommit::begin(db).await;
    let done = keys::Entity::delete_many().filter(keys::Column::ExpiresAt.lte(Utc::now())).exec(write.conn()).await?;
    Ok(done.rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;

    #[test]
    fn key_states_are_stored_as_before() {
        let stored: Vec<String> = KeyState::iter().map(|s| s.to_value()).collect();
        assert_eq!(stored, ["running", "done"]);
    }
}
