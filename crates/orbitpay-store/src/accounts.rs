//! Watched accounts as data: what the admin API adds, lists and removes, and what the config's
//! `accounts` list is applied as at start.
//!
//! An add writes the account's start into `stream_cursors` in the same transaction, so ingestion
//! begins exactly there whichever instance picks it up and however late: a payment sent after
//! the add is credited even if no follower was running yet, and one sent before its start is
//! not. A removal deletes the row and keeps the cursor; a later add sets the cursor to the new
//! start, so nothing paid while the account was not watched is credited unless the new start
//! asks for it (the settle's per-account idempotency makes a replayed operation a no-op).

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, SessionStatus};

use crate::StoreError;
use crate::models::{PgSessionStatus, Session, SessionRow, WatchedAccountRow};
use crate::schema::{sessions, watched_accounts};

/// The channel every change to the table is announced on (the migration's trigger; the payload
/// is the address).
pub const CHANNEL: &str = "orbitpay_watched_accounts";

/// Who added an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddedBy {
    Config,
    Api,
}

impl AddedBy {
    fn as_str(self) -> &'static str {
        match self {
            AddedBy::Config => "config",
            AddedBy::Api => "api",
        }
    }
}

/// An account to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub address: AccountId,
    pub label: String,
    /// As given: `now` or a paging token (decimal).
    pub start_cursor: String,
    /// The resolved start: the token itself, or the ledger's position when `now` was asked.
    /// `None` only for a config account while no ledger is reachable (its follower resolves it).
    pub start_token: Option<i64>,
    pub added_by: AddedBy,
}

/// What [`create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Added now.
    Created(WatchedAccountRow),
    /// Already there with the same label and start: nothing changed.
    Existing(WatchedAccountRow),
    /// Already there with another label or start: nothing changed.
    Conflict(WatchedAccountRow),
}

/// Adds `new`, idempotently: a repeat with the same label and start answers the existing row,
/// one that differs answers [`Created::Conflict`]; neither changes anything. A fresh add sets
/// the account's cursor to its start (over a cursor left by an earlier watch).
pub async fn create(conn: &mut AsyncPgConnection, new: &NewAccount) -> Result<Created, StoreError> {
    conn.transaction(async |conn| {
        let inserted: Option<WatchedAccountRow> = diesel::insert_into(watched_accounts::table)
            .values((
                watched_accounts::address.eq(new.address.to_string()),
                watched_accounts::label.eq(&new.label),
                watched_accounts::start_cursor.eq(&new.start_cursor),
                watched_accounts::start_token.eq(new.start_token),
                watched_accounts::added_by.eq(new.added_by.as_str()),
            ))
            .on_conflict_do_nothing()
            .returning(WatchedAccountRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(row) = inserted {
            if let Some(token) = new.start_token {
                diesel::sql_query(
                    "INSERT INTO stream_cursors (account, paging_token) VALUES ($1, $2)
                     ON CONFLICT (account) DO UPDATE
                       SET paging_token = excluded.paging_token, updated_at = now()",
                )
                .bind::<diesel::sql_types::Text, _>(new.address.to_string())
                .bind::<diesel::sql_types::BigInt, _>(token)
                .execute(conn)
                .await?;
            }
            return Ok(Created::Created(row));
        }
        // Inserted by someone else, committed before our insert looked (READ COMMITTED).
        let existing: WatchedAccountRow = watched_accounts::table
            .find(new.address.to_string())
            .select(WatchedAccountRow::as_select())
            .first(conn)
            .await?;
        if existing.label == new.label && existing.start_cursor == new.start_cursor {
            Ok(Created::Existing(existing))
        } else {
            Ok(Created::Conflict(existing))
        }
    })
    .await
}

/// Applies the config's accounts at start: each one not in the table is added (`added_by =
/// config`), with its start written as the cursor only when the account has none (a cursor
/// from before accounts were data wins, as the config's start always yielded to it). Nothing
/// is updated or removed: an account added through the API, or removed from the config, stays
/// until it is removed through the API. Returns how many were added.
pub async fn apply_config(
    conn: &mut AsyncPgConnection,
    accounts: &[NewAccount],
) -> Result<usize, StoreError> {
    conn.transaction(async |conn| {
        let mut added = 0;
        for new in accounts {
            let inserted = diesel::insert_into(watched_accounts::table)
                .values((
                    watched_accounts::address.eq(new.address.to_string()),
                    watched_accounts::label.eq(&new.label),
                    watched_accounts::start_cursor.eq(&new.start_cursor),
                    watched_accounts::start_token.eq(new.start_token),
                    watched_accounts::added_by.eq(AddedBy::Config.as_str()),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if inserted == 0 {
                continue;
            }
            added += 1;
            if let Some(token) = new.start_token {
                diesel::sql_query(
                    "INSERT INTO stream_cursors (account, paging_token) VALUES ($1, $2)
                     ON CONFLICT (account) DO NOTHING",
                )
                .bind::<diesel::sql_types::Text, _>(new.address.to_string())
                .bind::<diesel::sql_types::BigInt, _>(token)
                .execute(conn)
                .await?;
            }
        }
        Ok(added)
    })
    .await
}

/// Accounts with `address > after`, by address (a keyset: stable while rows come and go; the
/// key is compared as text, so it need not name a watched account, or a valid one).
pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<WatchedAccountRow>, StoreError> {
    let mut q = watched_accounts::table.into_boxed();
    if let Some(after) = after {
        q = q.filter(watched_accounts::address.gt(after.to_owned()));
    }
    Ok(q.order(watched_accounts::address.asc())
        .limit(limit)
        .select(WatchedAccountRow::as_select())
        .load(conn)
        .await?)
}

/// Every watched account, by address: what an instance ingests.
pub async fn all(conn: &mut AsyncPgConnection) -> Result<Vec<WatchedAccountRow>, StoreError> {
    Ok(watched_accounts::table
        .order(watched_accounts::address.asc())
        .select(WatchedAccountRow::as_select())
        .load(conn)
        .await?)
}

/// The stored cursors of `addresses`, as `(address, paging_token)`, in one query.
pub async fn cursors_of(
    conn: &mut AsyncPgConnection,
    addresses: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    use crate::schema::stream_cursors;
    Ok(stream_cursors::table
        .filter(stream_cursors::account.eq_any(addresses))
        .select((stream_cursors::account, stream_cursors::paging_token))
        .load(conn)
        .await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    address: &AccountId,
) -> Result<Option<WatchedAccountRow>, StoreError> {
    Ok(watched_accounts::table
        .find(address.to_string())
        .select(WatchedAccountRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The account added first: the default receiver of a session that names none.
pub async fn first(conn: &mut AsyncPgConnection) -> Result<Option<AccountId>, StoreError> {
    let address: Option<String> = watched_accounts::table
        .order((
            watched_accounts::created_at.asc(),
            watched_accounts::address.asc(),
        ))
        .select(watched_accounts::address)
        .first(conn)
        .await
        .optional()?;
    address
        .map(|a| {
            a.parse()
                .map_err(|e| StoreError::Corrupt(format!("watched_accounts.address {a:?}: {e}")))
        })
        .transpose()
}

/// What [`remove`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Removed {
    /// Removed, with the pending sessions it expired (empty without `expire_open`).
    Removed {
        expired: Vec<Session>,
    },
    NotWatched,
    /// Nothing changed: sessions are open on the account. `processing` ones block removal even
    /// with `expire_open` (money is being settled under their claim, and only its resolution may
    /// move them), `pending` ones only without it.
    OpenSessions {
        pending: i64,
        processing: i64,
    },
}

/// Removes `address` from the watched accounts. With `expire_open`, its pending sessions are
/// expired in the same transaction, each with its `session.expired` event as the expiry job
/// writes it. The account's open sessions are locked first (waiting for a claim or settle in
/// flight), so none can turn `processing` between the count and the removal.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    address: &AccountId,
    expire_open: bool,
) -> Result<Removed, StoreError> {
    conn.transaction(async |conn| {
        let held: Option<String> = watched_accounts::table
            .find(address.to_string())
            .select(watched_accounts::address)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        if held.is_none() {
            return Ok(Removed::NotWatched);
        }
        let open: Vec<SessionRow> = sessions::table
            .filter(sessions::account.eq(address.to_string()))
            .filter(sessions::status.eq_any([
                PgSessionStatus(SessionStatus::Pending),
                PgSessionStatus(SessionStatus::Processing),
            ]))
            .select(SessionRow::as_select())
            .for_no_key_update()
            .load(conn)
            .await?;
        let processing = open
            .iter()
            .filter(|s| s.status == SessionStatus::Processing)
            .count() as i64;
        let pending = open.len() as i64 - processing;
        if processing > 0 || (pending > 0 && !expire_open) {
            return Ok(Removed::OpenSessions {
                pending,
                processing,
            });
        }
        let expired = if pending > 0 {
            let ids: Vec<uuid::Uuid> = open.iter().map(|s| s.id).collect();
            crate::expiry::expire_pending(conn, &ids).await?
        } else {
            Vec::new()
        };
        diesel::delete(watched_accounts::table.find(address.to_string()))
            .execute(conn)
            .await?;
        Ok(Removed::Removed { expired })
    })
    .await
}

/// Who holds an advisory lock: the PostgreSQL session an instance leads through.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct LockHolder {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub key: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub application_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub client_addr: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub pid: i32,
}

/// The holders of the session advisory locks `keys` in this database (a bigint key is
/// `classid` high and `objid` low in `pg_locks`), in one query: how `GET /v1/accounts` names
/// each account's leading instance without asking the instances.
pub async fn lock_holders(
    conn: &mut AsyncPgConnection,
    keys: &[i64],
) -> Result<Vec<LockHolder>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT ((l.classid::bigint << 32) | l.objid::bigint) AS key,
                a.application_name, host(a.client_addr) AS client_addr, a.pid
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(keys)
    .load(conn)
    .await?)
}
