//! Transaction records.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use orbitpay_core::Memo;
use serde::Serialize;

use super::{Link, link, rfc3339, scrub_memo_text, split, templated};
use crate::model::{StoredTx, sha};

#[derive(Serialize)]
struct TxLinks {
    #[serde(rename = "self")]
    self_: Link,
    account: Link,
    ledger: Link,
    operations: Link,
    effects: Link,
    precedes: Link,
    succeeds: Link,
    transaction: Link,
}

#[derive(Serialize)]
struct Timebounds {
    min_time: String,
    max_time: String,
}

#[derive(Serialize)]
struct Preconditions {
    timebounds: Timebounds,
}

/// Field order follows Horizon: `memo` and `memo_bytes` come first because Horizon's custom
/// `MarshalJSON` puts them there; `memo` is present (even empty) unless `memo_type` is none,
/// `memo_bytes` only for text memos.
#[derive(Serialize)]
pub(crate) struct TxRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memo_bytes: Option<String>,
    _links: TxLinks,
    id: String,
    paging_token: String,
    successful: bool,
    hash: String,
    ledger: u32,
    created_at: String,
    source_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_muxed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_muxed_id: Option<String>,
    source_account_sequence: String,
    fee_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fee_account_muxed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fee_account_muxed_id: Option<String>,
    fee_charged: String,
    max_fee: String,
    operation_count: u32,
    envelope_xdr: String,
    result_xdr: String,
    fee_meta_xdr: String,
    memo_type: &'static str,
    signatures: Vec<String>,
    preconditions: Preconditions,
}

/// Deterministic opaque bytes standing in for XDR blobs (not decodable XDR).
fn blob(st: &StoredTx, what: &[u8], len: usize) -> String {
    let mut out = Vec::with_capacity(len);
    let mut n: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(&sha(&[what, &st.hash_bytes, &n.to_be_bytes()]));
        n += 1;
    }
    out.truncate(len);
    B64.encode(out)
}

pub(crate) fn tx_record(base: &str, st: &StoredTx) -> TxRecord {
    let (memo, memo_bytes) = match &st.tx.memo {
        Memo::None => (None, None),
        Memo::Text(t) => (
            Some(scrub_memo_text(t.as_bytes())),
            Some(B64.encode(t.as_bytes())),
        ),
        Memo::Id(id) => (Some(id.to_string()), None),
        Memo::Hash(h) | Memo::Return(h) => (Some(B64.encode(h)), None),
    };
    let (source, muxed, muxed_id) = split(&st.tx.source);
    let pt = st.paging_token().to_string();
    let h = &st.hash;
    TxRecord {
        memo,
        memo_bytes,
        _links: TxLinks {
            self_: link(format!("{base}/transactions/{h}")),
            account: link(format!("{base}/accounts/{source}")),
            ledger: link(format!("{base}/ledgers/{}", st.ledger)),
            operations: templated(format!(
                "{base}/transactions/{h}/operations{{?cursor,limit,order}}"
            )),
            effects: templated(format!(
                "{base}/transactions/{h}/effects{{?cursor,limit,order}}"
            )),
            precedes: link(format!("{base}/transactions?order=asc&cursor={pt}")),
            succeeds: link(format!("{base}/transactions?order=desc&cursor={pt}")),
            transaction: link(format!("{base}/transactions/{h}")),
        },
        id: h.clone(),
        paging_token: pt,
        successful: st.tx.successful,
        hash: h.clone(),
        ledger: st.ledger,
        created_at: rfc3339(st.close_time),
        fee_account: source.clone(),
        fee_account_muxed: muxed.clone(),
        fee_account_muxed_id: muxed_id.clone(),
        source_account: source,
        account_muxed: muxed,
        account_muxed_id: muxed_id,
        source_account_sequence: st.account_sequence.to_string(),
        fee_charged: st.tx.fee_charged.to_string(),
        max_fee: st.tx.max_fee.to_string(),
        operation_count: st.tx.ops.len() as u32,
        envelope_xdr: blob(st, b"envelope", 96 + 64 * st.tx.ops.len().min(8)),
        result_xdr: blob(st, b"result", 32),
        fee_meta_xdr: blob(st, b"fee_meta", 144),
        memo_type: st.tx.memo.type_name(),
        signatures: vec![blob(st, b"signature", 64)],
        preconditions: Preconditions {
            timebounds: Timebounds {
                min_time: "0".to_owned(),
                max_time: (st.close_time + 300).to_string(),
            },
        },
    }
}
