//! Session queries.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, Reference};
use uuid::Uuid;

use crate::StoreError;
use crate::models::{NewSession, NewSessionRow, Session, SessionRow};
use crate::numeric::U64Numeric;
use crate::schema::sessions;

/// Collisions in a 64-bit space are rare; eight in a row means the generator
/// is broken, not unlucky.
const REFERENCE_ATTEMPTS: u32 = 8;

/// Creates a session under a fresh random reference, drawing again when the
/// account already uses it.
///
/// `ON CONFLICT DO NOTHING` rather than catching the unique violation: the
/// latter would abort a surrounding transaction. Under READ COMMITTED a
/// concurrent insert of the same reference makes this wait and then draw
/// again; under REPEATABLE READ it fails with a retryable serialization error.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewSession) -> Result<Session, StoreError> {
    for _ in 0..REFERENCE_ATTEMPTS {
        let row = NewSessionRow {
            id: Uuid::now_v7(),
            account: new.account.to_string(),
            reference: U64Numeric(random_reference()),
            asset: new.asset.to_string(),
            amount: new.amount.stroops(),
            expires_at: new.expires_at,
            metadata: new.metadata.clone(),
            order_id: new.order_id.clone(),
            webhook_url: new.webhook_url.clone(),
        };
        let inserted = diesel::insert_into(sessions::table)
            .values(&row)
            .on_conflict((sessions::account, sessions::reference))
            .do_nothing()
            .returning(SessionRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(row) = inserted {
            return Session::try_from(row);
        }
    }
    Err(StoreError::ReferenceSpaceExhausted {
        attempts: REFERENCE_ATTEMPTS,
    })
}

/// Inserts a session with a caller-chosen reference (imports, tests). A taken
/// reference is a unique violation on `sessions_account_reference_key`.
pub async fn insert_with_reference(
    conn: &mut AsyncPgConnection,
    new: &NewSession,
    reference: Reference,
) -> Result<Session, StoreError> {
    let row = NewSessionRow {
        id: Uuid::now_v7(),
        account: new.account.to_string(),
        reference: reference.into(),
        asset: new.asset.to_string(),
        amount: new.amount.stroops(),
        expires_at: new.expires_at,
        metadata: new.metadata.clone(),
        order_id: new.order_id.clone(),
        webhook_url: new.webhook_url.clone(),
    };
    let row = diesel::insert_into(sessions::table)
        .values(&row)
        .returning(SessionRow::as_returning())
        .get_result(conn)
        .await?;
    Session::try_from(row)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Session>, StoreError> {
    sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// The session a payment to `account` carrying `reference` is meant for.
pub async fn find_by_reference(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    reference: Reference,
) -> Result<Option<Session>, StoreError> {
    sessions::table
        .filter(sessions::account.eq(account.to_string()))
        .filter(sessions::reference.eq(U64Numeric::from(reference)))
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// Like [`find_by_reference`], and locks the row until the transaction ends.
///
/// `FOR NO KEY UPDATE`, not `FOR UPDATE`: inserting a payment or outbox event
/// that references the session takes a KEY SHARE lock, which `FOR UPDATE`
/// would block.
pub async fn lock_by_reference(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    reference: Reference,
) -> Result<Option<Session>, StoreError> {
    sessions::table
        .filter(sessions::account.eq(account.to_string()))
        .filter(sessions::reference.eq(U64Numeric::from(reference)))
        .select(SessionRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// Locks a session by id; see [`lock_by_reference`].
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Session>, StoreError> {
    sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// Zero is avoided: some wallets treat memo id 0 as "no memo".
fn random_reference() -> u64 {
    rand::random_range(1..=u64::MAX)
}
