//! The refund endpoints: create (idempotent, checked on the ledger), list, show, prepare again
//! and cancel. orbitpay never signs: a refund is an unsigned envelope the merchant signs in
//! their own wallet, and the ledger completes it (docs/refunds.md).

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use diesel_async::AsyncConnection as _;
use orbitpay_core::{Amount, Memo};
use orbitpay_store::models::RefundRow;
use orbitpay_store::refunds::{self, AWAITING_SIGNATURE, Change, CreateRefused, RefundSource};
use orbitpay_store::sessions::database_now;
use uuid::Uuid;

use super::idempotency::KeyGuard;
use super::state::AdminState;
use super::support::body;
use super::support::db::with_db;
use super::support::error::{ApiError, ErrorBody, code};
use super::support::input::{PathParam, path_id, query};
use super::support::json::{json_bytes_response, json_response};
use super::support::pagination::{next_after, page_limit};

mod envelope;
mod json;

use envelope::Terms;
pub use json::{CreateRefundRequest, ListRefundsParams, RefundMethod, RefundPage, RefundView};

fn not_awaiting(row: &RefundRow, action: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        code::REFUND_NOT_AWAITING_SIGNATURE,
        format!("cannot {action} refund {}: it is {}", row.id, row.status),
    )
}

fn refund_id(raw: &str) -> Result<Uuid, ApiError> {
    path_id("refund", raw)
}

fn refund_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("refund {id}"))
}

/// Refund an unmatched payment or a session (its overpaid part by default).
///
/// The destination and the merchant account are read on Horizon first; the amount is then
/// checked again, under the source's lock, against what its other refunds (canceled ones
/// excepted) leave, so two requests at once cannot both take the same money.
#[utoipa::path(
    post, path = "/v1/refunds", tag = "refunds",
    params(("Idempotency-Key" = String, Header, pattern = r"^[\x21-\x7E]([\x20-\x7E]{0,253}[\x21-\x7E])?$", description = "Required; 1-255 printable ASCII characters (space inside only). Retries with the same key and request replay the first result.")),
    request_body = CreateRefundRequest,
    responses(
        (status = 201, description = "Prepared: `awaiting_signature`, with the unsigned envelope and its SEP-7 URI", body = RefundView, links(
            ("show" = (operation_id = "get_refund", parameters(("id" = "$response.body#/id")))),
            ("prepare" = (operation_id = "prepare_refund", parameters(("id" = "$response.body#/id")))),
            ("cancel" = (operation_id = "cancel_refund", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 200, description = "A retry with the same Idempotency-Key: the first response, replayed", body = RefundView),
        (status = 400, description = "ERROR_BAD_JSON, INVALID_AMOUNT, IDEMPOTENCY_KEY_REQUIRED", body = ErrorBody),
        (status = 404, description = "NOT_FOUND (no such unmatched payment), SESSION_NOT_FOUND", body = ErrorBody),
        (status = 408, description = "REQUEST_TIMEOUT: the body did not arrive in time", body = ErrorBody),
        (status = 409, description = "REFUND_EXCEEDS_REFUNDABLE: more than is left to refund from the source; IDEMPOTENCY_KEY_IN_USE", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 422, description = "REFUND_SOURCE_REQUIRED (neither or both of unmatched_id and session_id), REFUND_NOTHING_TO_REFUND, REFUND_DESTINATION_MISSING, REFUND_DESTINATION_CANNOT_RECEIVE (use method claimable_balance), REFUND_UNSUPPORTED_SOURCE (a contract payer), REFUND_PAYER_UNKNOWN (give destination), REFUND_INVALID_DESTINATION, REFUND_INVALID_MEMO, REFUND_SOURCE_ACCOUNT_MISSING, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 503, description = "LEDGER_UNAVAILABLE, with Retry-After: Horizon did not answer an account read; DATABASE_UNAVAILABLE, with Retry-After", body = ErrorBody),
    )
)]
pub async fn create_refund(
    State(state): State<Arc<AdminState>>,
    Extension(guard): Extension<KeyGuard>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(&headers, body, state.body_timeout).await?;
    let req: CreateRefundRequest = body::parse(&bytes)?;
    let source = match (req.unmatched_id, req.session_id) {
        (Some(id), None) => RefundSource::Unmatched(id),
        (None, Some(id)) => RefundSource::Session(id),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::REFUND_SOURCE_REQUIRED,
                "name exactly one of unmatched_id and session_id",
            ));
        }
    };
    let requested = req
        .amount
        .as_deref()
        .map(super::sessions::parse_amount)
        .transpose()?;
    let memo_override = req.memo.as_ref().map(envelope::memo).transpose()?;
    let method = req.method.unwrap_or(RefundMethod::Payment);

    let origin = with_db!(state, |conn| envelope::origin(conn, source))?;
    let amount = match requested {
        Some(a) => a.stroops(),
        None if origin.default_amount == 0 => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::REFUND_NOTHING_TO_REFUND,
                "nothing is left to refund by default (a session refunds its overpaid part): \
                 give an amount",
            ));
        }
        None => origin.default_amount,
    };
    let amount = Amount::from_stroops(amount).map_err(ApiError::internal)?;
    if amount.stroops() > origin.left {
        return Err(exceeds(amount, origin.left));
    }
    let destination = envelope::destination(req.destination.as_deref(), origin.payer.as_deref())?;
    let terms = Terms {
        account: origin.account,
        destination,
        asset: origin.asset.clone(),
        amount,
        memo: memo_override.unwrap_or(Memo::Return(*origin.tx_hash.as_bytes())),
        method,
    };
    let (checked, merchant) = tokio::join!(
        envelope::check_destination(&state, &terms.destination, &terms.asset, amount, method),
        envelope::merchant(&state, &terms.account),
    );
    checked?;
    let merchant = merchant?;

    let created = with_db!(state, |conn| conn.transaction(async |conn| {
        let now = database_now(conn).await?;
        let valid_until = envelope::valid_until(&state, now)?;
        let (envelope_xdr, sequence) = terms.envelope(&state, merchant.sequence, valid_until)?;
        let (memo_type, memo_value, memo_bytes) = envelope::memo_columns(&terms.memo);
        let (unmatched_id, session_id) = match source {
            RefundSource::Unmatched(id) => (Some(id), None),
            RefundSource::Session(id) => (None, Some(id)),
        };
        let new = RefundRow {
            id: Uuid::now_v7(),
            unmatched_id,
            session_id,
            account: terms.account.to_string(),
            amount: amount.stroops(),
            asset: terms.asset.to_string(),
            destination: terms.destination.to_string(),
            memo_type,
            memo_value,
            memo_bytes,
            method: method.as_str().to_owned(),
            status: AWAITING_SIGNATURE.to_owned(),
            envelope_xdr,
            sequence,
            valid_until,
            tx_hash: None,
            closed_at: None,
            created_at: now,
            updated_at: now,
        };
        match refunds::create(conn, &new).await? {
            Ok(row) => {
                let view = RefundView::new(&row, &state.network_passphrase);
                let body = serde_json::to_vec(&view).map_err(ApiError::internal)?;
                guard
                    .complete(conn, StatusCode::CREATED, &body, None)
                    .await?;
                Ok::<_, ApiError>(Ok((row, body)))
            }
            Err(refused) => Ok(Err(refused)),
        }
    }))?;
    let (row, body) = match created {
        Ok(created) => created,
        Err(CreateRefused::Exceeds { left }) => return Err(exceeds(amount, left)),
        Err(CreateRefused::SourceMissing) => {
            return Err(ApiError::internal("the refund's source vanished"));
        }
        Err(CreateRefused::AssetMismatch { received }) => {
            return Err(ApiError::internal(format!(
                "the source's asset changed to {received:?}"
            )));
        }
    };
    tracing::info!(
        refund_id = %row.id,
        account = %row.account,
        destination = %row.destination,
        amount = %amount,
        asset = %row.asset,
        method = %row.method,
        "refund prepared"
    );
    metrics::counter!("orbitpay_refunds_created_total").increment(1);
    let mut response = json_bytes_response(StatusCode::CREATED, body);
    KeyGuard::mark_completed(&mut response);
    Ok(response)
}

fn exceeds(amount: Amount, left: i64) -> ApiError {
    let left = Amount::from_stroops(left).unwrap_or(Amount::ZERO);
    ApiError::new(
        StatusCode::CONFLICT,
        code::REFUND_EXCEEDS_REFUNDABLE,
        format!("{amount} exceeds the {left} left to refund from this source"),
    )
}

/// Refunds, oldest first, keyset-paginated.
#[utoipa::path(
    get, path = "/v1/refunds", tag = "refunds",
    params(ListRefundsParams),
    responses(
        (status = 200, body = RefundPage),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
    )
)]
pub async fn list_refunds(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: ListRefundsParams = query(&uri)?;
    let limit = page_limit(params.limit)?;
    let rows = with_db!(state, |conn| async {
        refunds::list_after(conn, params.after, limit)
            .await
            .map_err(ApiError::from)
    })?;
    let next_after = next_after(&rows, limit, |r| r.id);
    let data = rows
        .iter()
        .map(|r| RefundView::new(r, &state.network_passphrase))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &RefundPage { data, next_after },
    ))
}

/// One refund.
#[utoipa::path(
    get, path = "/v1/refunds/{id}", tag = "refunds",
    params(("id" = Uuid, Path, description = "Refund id")),
    responses(
        (status = 200, body = RefundView),
        (status = 404, description = "NOT_FOUND (an id that is not a UUID names no refund either)", body = ErrorBody),
    )
)]
pub async fn get_refund(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = refund_id(&id)?;
    let row = with_db!(state, |conn| async {
        refunds::find(conn, id)
            .await?
            .ok_or_else(|| refund_not_found(id))
    })?;
    Ok(json_response(
        StatusCode::OK,
        &RefundView::new(&row, &state.network_passphrase),
    ))
}

/// Prepare an awaiting refund again: a fresh envelope when the old one is stale (its time
/// bounds ran out, or the merchant account's sequence number moved on); otherwise the refund
/// as it stands.
#[utoipa::path(
    post, path = "/v1/refunds/{id}/prepare", tag = "refunds",
    params(("id" = Uuid, Path, description = "Refund id")),
    responses(
        (status = 200, description = "The refund, with a fresh envelope if the old one was stale", body = RefundView),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "REFUND_NOT_AWAITING_SIGNATURE: completed or canceled; REFUND_ENVELOPE_LANDED: the envelope's sequence number was used by the envelope itself (it landed: the ledger completes the refund, and no second envelope is made)", body = ErrorBody),
        (status = 422, description = "REFUND_SOURCE_ACCOUNT_MISSING: the merchant account is not on the ledger", body = ErrorBody),
        (status = 503, description = "LEDGER_UNAVAILABLE, with Retry-After: Horizon did not answer; DATABASE_UNAVAILABLE, with Retry-After", body = ErrorBody),
    )
)]
pub async fn prepare_refund(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = refund_id(&id)?;
    let (row, now) = with_db!(state, |conn| async {
        let row = refunds::find(conn, id)
            .await?
            .ok_or_else(|| refund_not_found(id))?;
        Ok::<_, ApiError>((row, database_now(conn).await?))
    })?;
    if row.status != AWAITING_SIGNATURE {
        return Err(not_awaiting(&row, "prepare"));
    }
    let terms = Terms::of(&row)?;
    let merchant = envelope::merchant(&state, &terms.account).await?;
    let sequence_moved = merchant.sequence.checked_add(1) != Some(row.sequence);
    if !sequence_moved && now < row.valid_until {
        return Ok(json_response(
            StatusCode::OK,
            &RefundView::new(&row, &state.network_passphrase),
        ));
    }
    if sequence_moved {
        // What used the sequence number may be this very envelope: then a fresh one would pay
        // the money back twice.
        envelope::ensure_not_landed(&state, &row).await?;
    }
    let valid_until = envelope::valid_until(&state, now)?;
    let (envelope_xdr, sequence) = terms.envelope(&state, merchant.sequence, valid_until)?;
    let changed = with_db!(state, |conn| async {
        refunds::replace_envelope(conn, id, &envelope_xdr, sequence, valid_until)
            .await
            .map_err(ApiError::from)
    })?;
    let row = match changed {
        Change::Done(row) => row,
        Change::NotFound => return Err(refund_not_found(id)),
        Change::NotAwaiting(row) => return Err(not_awaiting(&row, "prepare")),
    };
    tracing::info!(refund_id = %id, account = %row.account, sequence, "refund prepared again");
    Ok(json_response(
        StatusCode::OK,
        &RefundView::new(&row, &state.network_passphrase),
    ))
}

/// Cancel an awaiting refund: its amount can be refunded again. An envelope already signed
/// can still land until its time bounds end; the ledger decides then.
#[utoipa::path(
    post, path = "/v1/refunds/{id}/cancel", tag = "refunds",
    params(("id" = Uuid, Path, description = "Refund id")),
    responses(
        (status = 200, description = "Canceled", body = RefundView),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "REFUND_NOT_AWAITING_SIGNATURE: completed or canceled already", body = ErrorBody),
    )
)]
pub async fn cancel_refund(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = refund_id(&id)?;
    let changed = with_db!(state, |conn| async {
        refunds::cancel(conn, id).await.map_err(ApiError::from)
    })?;
    let row = match changed {
        Change::Done(row) => row,
        Change::NotFound => return Err(refund_not_found(id)),
        Change::NotAwaiting(row) => return Err(not_awaiting(&row, "cancel")),
    };
    tracing::info!(refund_id = %id, account = %row.account, "refund canceled");
    Ok(json_response(
        StatusCode::OK,
        &RefundView::new(&row, &state.network_passphrase),
    ))
}
