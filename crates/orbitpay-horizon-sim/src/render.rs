//! Horizon's JSON: operation records, transactions, pages, effects, the root document and
//! problem bodies, with Horizon's field names, field order and value types.
//!
//! Output is encoded like Go's `encoding/json`: `&`, `<`, `>`, U+2028 and U+2029 are escaped as
//! `\u0026`…; REST bodies are indented by two spaces (Horizon's `json.MarshalIndent`) and SSE
//! data lines are compact.

use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use orbitpay_core::{Address, Amount, Asset, Memo};
use serde::Serialize;

use crate::model::{Ledger, OpKind, PaymentRef, StoredTx, sha};

pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .expect("close time in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Go-compatible JSON encoding
// ---------------------------------------------------------------------------------------------

struct GoEscape<F>(F);

fn go_fragment<W: ?Sized + io::Write>(w: &mut W, s: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '&' => "\\u0026",
            '<' => "\\u003c",
            '>' => "\\u003e",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            _ => continue,
        };
        w.write_all(&s.as_bytes()[start..i])?;
        w.write_all(esc.as_bytes())?;
        start = i + c.len_utf8();
    }
    w.write_all(&s.as_bytes()[start..])
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $t:ty),*)),* $(,)?) => {
        $(fn $name<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $t)*) -> io::Result<()> {
            self.0.$name(w $(, $arg)*)
        })*
    };
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for GoEscape<F> {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        go_fragment(w, fragment)
    }
}

/// Indented JSON as Horizon's REST responses are written (two spaces, Go escaping).
pub fn to_pretty<T: Serialize>(v: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    let fmt = GoEscape(serde_json::ser::PrettyFormatter::with_indent(b"  "));
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serializable");
    String::from_utf8(out).expect("utf-8")
}

/// One-line JSON as Horizon's SSE `data:` lines are written (Go escaping).
pub fn to_compact<T: Serialize>(v: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    let fmt = GoEscape(serde_json::ser::CompactFormatter);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serializable");
    String::from_utf8(out).expect("utf-8")
}

// ---------------------------------------------------------------------------------------------
// Small pieces
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Clone)]
pub struct Link {
    pub href: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub templated: bool,
}

fn link(href: String) -> Link {
    Link {
        href,
        templated: false,
    }
}

fn templated(href: String) -> Link {
    Link {
        href,
        templated: true,
    }
}

#[derive(Serialize)]
struct AssetFields {
    asset_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_issuer: Option<String>,
}

fn asset_fields(a: &Asset) -> AssetFields {
    match a {
        Asset::Native => AssetFields {
            asset_type: "native",
            asset_code: None,
            asset_issuer: None,
        },
        Asset::Credit { code, issuer } => AssetFields {
            asset_type: code.asset_type(),
            asset_code: Some(code.as_str().to_owned()),
            asset_issuer: Some(issuer.to_string()),
        },
    }
}

#[derive(Serialize)]
struct SourceAssetFields {
    source_asset_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_asset_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_asset_issuer: Option<String>,
}

fn source_asset_fields(a: &Asset) -> SourceAssetFields {
    let f = asset_fields(a);
    SourceAssetFields {
        source_asset_type: f.asset_type,
        source_asset_code: f.asset_code,
        source_asset_issuer: f.asset_issuer,
    }
}

/// `(G, Some(M), Some(id))` for a muxed address, `(G, None, None)` for an account.
fn split(a: &Address) -> (String, Option<String>, Option<String>) {
    match a {
        Address::Account(g) => (g.to_string(), None, None),
        Address::Muxed(m) => (
            m.account.to_string(),
            Some(m.to_string()),
            Some(m.id.to_string()),
        ),
        Address::Contract(c) => (c.to_string(), None, None),
    }
}

fn amt(a: Amount) -> String {
    a.to_string()
}

const ZERO_AMOUNT: &str = "0.0000000";

/// Horizon's text memo rewrite (`utf8.Scrub` then NUL removal): every byte that does not start
/// a valid UTF-8 sequence becomes U+FFFD (one per byte, as Go's `utf8.DecodeRune` steps), and NUL
/// characters are dropped.
pub fn scrub_memo_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match std::str::from_utf8(&bytes[i..]) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&bytes[i..i + good]).expect("valid prefix"));
                i += good;
                // Go decodes an invalid or truncated sequence one byte at a time.
                out.push('\u{FFFD}');
                i += 1;
            }
        }
    }
    out.replace('\0', "")
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct OpLinks {
    #[serde(rename = "self")]
    self_: Link,
    transaction: Link,
    effects: Link,
    succeeds: Link,
    precedes: Link,
}

#[derive(Serialize)]
struct PathAsset {
    #[serde(flatten)]
    asset: AssetFields,
}

#[derive(Serialize)]
struct PaymentBody {
    #[serde(flatten)]
    asset: AssetFields,
    from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_muxed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_muxed_id: Option<String>,
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_muxed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_muxed_id: Option<String>,
    amount: String,
}

#[derive(Serialize)]
struct HostFunctionParameter {
    value: String,
    #[serde(rename = "type")]
    type_: &'static str,
}

#[derive(Serialize)]
struct BalanceChange {
    #[serde(flatten)]
    asset: AssetFields,
    #[serde(rename = "type")]
    type_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_muxed_id: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OpBody {
    Payment(PaymentBody),
    StrictReceive {
        #[serde(flatten)]
        payment: PaymentBody,
        path: Vec<PathAsset>,
        source_amount: String,
        source_max: String,
        #[serde(flatten)]
        source_asset: SourceAssetFields,
    },
    StrictSend {
        #[serde(flatten)]
        payment: PaymentBody,
        path: Vec<PathAsset>,
        source_amount: String,
        destination_min: String,
        #[serde(flatten)]
        source_asset: SourceAssetFields,
    },
    CreateAccount {
        starting_balance: String,
        funder: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        funder_muxed: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        funder_muxed_id: Option<String>,
        account: String,
    },
    AccountMerge {
        account: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_muxed: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_muxed_id: Option<String>,
        into: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        into_muxed: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        into_muxed_id: Option<String>,
    },
    InvokeHostFunction {
        function: &'static str,
        parameters: Vec<HostFunctionParameter>,
        address: String,
        salt: String,
        asset_balance_changes: Vec<BalanceChange>,
    },
    ManageData {
        name: String,
        value: String,
    },
}

/// An operation record, field order as Horizon's `operations.Base` plus the type's fields.
#[derive(Serialize)]
pub(crate) struct OpRecord {
    _links: OpLinks,
    id: String,
    paging_token: String,
    transaction_successful: bool,
    source_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_account_muxed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_account_muxed_id: Option<String>,
    #[serde(rename = "type")]
    type_: &'static str,
    type_i: u32,
    created_at: String,
    transaction_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<TxRecord>,
    #[serde(flatten)]
    body: OpBody,
}

fn payment_body(from: &Address, to: &Address, asset: &Asset, amount: String) -> PaymentBody {
    let (from, from_muxed, from_muxed_id) = split(from);
    let (to, to_muxed, to_muxed_id) = split(to);
    PaymentBody {
        asset: asset_fields(asset),
        from,
        from_muxed,
        from_muxed_id,
        to,
        to_muxed,
        to_muxed_id,
        amount,
    }
}

/// A fake but well-formed `SCVal` XDR (base64) for host-function parameters.
fn scval(tag: &[u8], payload: &[u8]) -> String {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(tag);
    v.extend_from_slice(payload);
    B64.encode(v)
}

fn sac_parameters(
    from: &Address,
    to: &Address,
    asset: &Asset,
    amount: Amount,
) -> Vec<HostFunctionParameter> {
    let addr = |a: &Address| -> Vec<u8> {
        let key = match a {
            Address::Account(g) => *g.as_bytes(),
            Address::Muxed(m) => *m.account.as_bytes(),
            Address::Contract(c) => {
                // ContractId exposes no byte accessor; hash its strkey instead (opaque anyway).
                sha(&[c.to_string().as_bytes()])
            }
        };
        key.to_vec()
    };
    let contract = sha(&[b"sac", asset.to_string().as_bytes()]);
    let mut amount_bytes = vec![0u8; 8];
    amount_bytes.extend_from_slice(&amount.stroops().to_be_bytes());
    vec![
        HostFunctionParameter {
            value: scval(&[0, 0, 0, 18, 0, 0, 0, 1], &contract),
            type_: "Address",
        },
        HostFunctionParameter {
            value: scval(&[0, 0, 0, 15, 0, 0, 0, 8], b"transfer"),
            type_: "Sym",
        },
        HostFunctionParameter {
            value: scval(&[0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0], &addr(from)),
            type_: "Address",
        },
        HostFunctionParameter {
            value: scval(&[0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0], &addr(to)),
            type_: "Address",
        },
        HostFunctionParameter {
            value: scval(&[0, 0, 0, 10], &amount_bytes),
            type_: "I128",
        },
    ]
}

pub(crate) fn op_record(base: &str, ledger: &Ledger, p: &PaymentRef, join_tx: bool) -> OpRecord {
    let st = ledger.tx_for(p);
    let op = &st.tx.ops[p.op as usize];
    let ok = st.tx.successful;
    let (type_, type_i) = op.type_name();
    let (source, source_muxed, source_muxed_id) = split(op.source());
    let id = p.toid.to_string();
    let body = match &op.kind {
        OpKind::Payment {
            from,
            to,
            asset,
            amount,
        } => OpBody::Payment(payment_body(from, to, asset, amt(*amount))),
        OpKind::PathPaymentStrictReceive {
            from,
            to,
            dest_asset,
            dest_amount,
            source_asset,
            source_amount,
            source_max,
            path,
        } => OpBody::StrictReceive {
            // The destination amount is part of the operation itself; the amount actually
            // spent is only known from a successful result, so a failed tx reads zero.
            payment: payment_body(from, to, dest_asset, amt(*dest_amount)),
            path: path
                .iter()
                .map(|a| PathAsset {
                    asset: asset_fields(a),
                })
                .collect(),
            source_amount: if ok {
                amt(*source_amount)
            } else {
                ZERO_AMOUNT.to_owned()
            },
            source_max: amt(*source_max),
            source_asset: source_asset_fields(source_asset),
        },
        OpKind::PathPaymentStrictSend {
            from,
            to,
            source_asset,
            source_amount,
            dest_asset,
            dest_amount,
            destination_min,
            path,
        } => OpBody::StrictSend {
            payment: payment_body(
                from,
                to,
                dest_asset,
                if ok {
                    amt(*dest_amount)
                } else {
                    ZERO_AMOUNT.to_owned()
                },
            ),
            path: path
                .iter()
                .map(|a| PathAsset {
                    asset: asset_fields(a),
                })
                .collect(),
            source_amount: amt(*source_amount),
            destination_min: amt(*destination_min),
            source_asset: source_asset_fields(source_asset),
        },
        OpKind::CreateAccount {
            funder,
            account,
            starting_balance,
        } => {
            let (funder, funder_muxed, funder_muxed_id) = split(funder);
            OpBody::CreateAccount {
                starting_balance: amt(*starting_balance),
                funder,
                funder_muxed,
                funder_muxed_id,
                account: account.to_string(),
            }
        }
        OpKind::AccountMerge { account, into, .. } => {
            let (account, account_muxed, account_muxed_id) = split(account);
            let (into, into_muxed, into_muxed_id) = split(into);
            OpBody::AccountMerge {
                account,
                account_muxed,
                account_muxed_id,
                into,
                into_muxed,
                into_muxed_id,
            }
        }
        OpKind::SacTransfer {
            from,
            to,
            asset,
            amount,
        } => {
            let (from_s, _, _) = split(from);
            let (to_s, _, to_id) = split(to);
            OpBody::InvokeHostFunction {
                function: "HostFunctionTypeHostFunctionTypeInvokeContract",
                parameters: sac_parameters(from, to, asset, *amount),
                address: String::new(),
                salt: String::new(),
                // A failed transaction emitted no events, so no balance changes.
                asset_balance_changes: if ok {
                    vec![BalanceChange {
                        asset: asset_fields(asset),
                        type_: "transfer",
                        from: Some(from_s),
                        to: Some(to_s),
                        amount: amt(*amount),
                        destination_muxed_id: to_id,
                    }]
                } else {
                    Vec::new()
                },
            }
        }
        OpKind::ManageData { name, .. } => OpBody::ManageData {
            name: name.clone(),
            value: String::new(),
        },
    };
    OpRecord {
        _links: OpLinks {
            self_: link(format!("{base}/operations/{id}")),
            transaction: link(format!("{base}/transactions/{}", st.hash)),
            effects: link(format!("{base}/operations/{id}/effects")),
            succeeds: link(format!("{base}/effects?order=desc&cursor={id}")),
            precedes: link(format!("{base}/effects?order=asc&cursor={id}")),
        },
        paging_token: id.clone(),
        id,
        transaction_successful: ok,
        source_account: source,
        source_account_muxed: source_muxed,
        source_account_muxed_id: source_muxed_id,
        type_,
        type_i,
        created_at: rfc3339(st.close_time),
        transaction_hash: st.hash.clone(),
        transaction: join_tx.then(|| tx_record(base, st)),
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// Effects
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct EffectLinks {
    operation: Link,
    succeeds: Link,
    precedes: Link,
}

#[derive(Serialize)]
pub(crate) struct EffectRecord {
    _links: EffectLinks,
    id: String,
    paging_token: String,
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_muxed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_muxed_id: Option<String>,
    #[serde(rename = "type")]
    type_: &'static str,
    type_i: u32,
    created_at: String,
    #[serde(flatten)]
    body: EffectBody,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EffectBody {
    Created {
        starting_balance: String,
    },
    Amount {
        #[serde(flatten)]
        asset: AssetFields,
        amount: String,
    },
    None {},
}

/// The balance effects of one operation (account_created/removed/credited/debited). Other
/// effect kinds (signers, trustlines, trades) are not modelled. Failed operations have none.
pub(crate) fn effects(base: &str, st: &StoredTx, op_index: usize, op_id: i64) -> Vec<EffectRecord> {
    let op = &st.tx.ops[op_index];
    if !st.tx.successful {
        return Vec::new();
    }
    enum E<'a> {
        Created(&'a Address, Amount),
        Removed(&'a Address),
        Credited(&'a Address, &'a Asset, Amount),
        Debited(&'a Address, &'a Asset, Amount),
    }
    let native = Asset::Native;
    let list: Vec<E<'_>> = match &op.kind {
        OpKind::Payment {
            from,
            to,
            asset,
            amount,
        } => vec![
            E::Credited(to, asset, *amount),
            E::Debited(from, asset, *amount),
        ],
        OpKind::PathPaymentStrictReceive {
            from,
            to,
            dest_asset,
            dest_amount,
            source_asset,
            source_amount,
            ..
        }
        | OpKind::PathPaymentStrictSend {
            from,
            to,
            source_asset,
            source_amount,
            dest_asset,
            dest_amount,
            ..
        } => vec![
            E::Credited(to, dest_asset, *dest_amount),
            E::Debited(from, source_asset, *source_amount),
        ],
        OpKind::CreateAccount {
            funder,
            starting_balance,
            ..
        } => vec![E::Debited(funder, &native, *starting_balance)],
        OpKind::AccountMerge {
            account,
            into,
            amount,
        } => vec![
            E::Debited(account, &native, *amount),
            E::Credited(into, &native, *amount),
            E::Removed(account),
        ],
        OpKind::SacTransfer {
            from,
            to,
            asset,
            amount,
        } => {
            let mut v = Vec::new();
            if !matches!(from, Address::Contract(_)) {
                v.push(E::Debited(from, asset, *amount));
            }
            if !matches!(to, Address::Contract(_)) {
                v.push(E::Credited(to, asset, *amount));
            }
            v
        }
        OpKind::ManageData { .. } => Vec::new(),
    };
    // create_account's account_created comes first, before the funder's debit.
    let mut list = list;
    let created_account;
    if let OpKind::CreateAccount {
        account,
        starting_balance,
        ..
    } = &op.kind
    {
        created_account = Address::Account(*account);
        list.insert(0, E::Created(&created_account, *starting_balance));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, e)| {
            let order = i + 1;
            let (who, type_, type_i, body) = match e {
                E::Created(a, amount) => (
                    a,
                    "account_created",
                    0,
                    EffectBody::Created {
                        starting_balance: amt(amount),
                    },
                ),
                E::Removed(a) => (a, "account_removed", 1, EffectBody::None {}),
                E::Credited(a, asset, amount) => (
                    a,
                    "account_credited",
                    2,
                    EffectBody::Amount {
                        asset: asset_fields(asset),
                        amount: amt(amount),
                    },
                ),
                E::Debited(a, asset, amount) => (
                    a,
                    "account_debited",
                    3,
                    EffectBody::Amount {
                        asset: asset_fields(asset),
                        amount: amt(amount),
                    },
                ),
            };
            let (account, account_muxed, account_muxed_id) = split(who);
            let pt = format!("{op_id}-{order}");
            EffectRecord {
                _links: EffectLinks {
                    operation: link(format!("{base}/operations/{op_id}")),
                    succeeds: link(format!("{base}/effects?order=desc&cursor={pt}")),
                    precedes: link(format!("{base}/effects?order=asc&cursor={pt}")),
                },
                id: format!("{op_id:019}-{order:010}"),
                paging_token: pt,
                account,
                account_muxed,
                account_muxed_id,
                type_,
                type_i,
                created_at: rfc3339(st.close_time),
                body,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pages, root, problems
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct PageLinks {
    #[serde(rename = "self")]
    self_: Link,
    next: Link,
    prev: Link,
}

#[derive(Serialize)]
struct Embedded<T> {
    records: Vec<T>,
}

#[derive(Serialize)]
pub(crate) struct Page<T> {
    _links: PageLinks,
    _embedded: Embedded<T>,
}

/// What a page's links are built from.
pub(crate) struct PageSpec<'a> {
    pub base: &'a str,
    pub path: &'a str,
    pub params: &'a [(String, String)],
    pub cursor: &'a str,
    pub asc: bool,
    pub limit: usize,
}

/// Builds a HAL page as Horizon's `hal.Page.PopulateLinks` does: the request's query
/// parameters are kept (sorted by key, as Go's `url.Values.Encode`), `cursor`/`order`/`limit`
/// are set; `next` moves the cursor to the last record, `prev` inverts the order and moves it to
/// the first record; on an empty page both keep the request's cursor.
pub(crate) fn page<T>(
    spec: &PageSpec<'_>,
    first_last: Option<(String, String)>,
    records: Vec<T>,
) -> Page<T> {
    let (order, inv) = if spec.asc {
        ("asc", "desc")
    } else {
        ("desc", "asc")
    };
    let build = |cursor: &str, order: &str| {
        let mut q: Vec<(String, String)> = spec
            .params
            .iter()
            .filter(|(k, _)| k != "cursor" && k != "order" && k != "limit")
            .cloned()
            .collect();
        q.push(("cursor".into(), cursor.into()));
        q.push(("order".into(), order.into()));
        q.push(("limit".into(), spec.limit.to_string()));
        q.sort_by(|a, b| a.0.cmp(&b.0));
        let enc: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        link(format!("{}{}?{}", spec.base, spec.path, enc.join("&")))
    };
    let (next_c, prev_c) = match &first_last {
        Some((first, last)) => (last.as_str(), first.as_str()),
        None => (spec.cursor, spec.cursor),
    };
    Page {
        _links: PageLinks {
            self_: build(spec.cursor, order),
            next: build(next_c, order),
            prev: build(prev_c, inv),
        },
        _embedded: Embedded { records },
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Serialize)]
struct RootLinks {
    account: Link,
    accounts: Link,
    effects: Link,
    ledger: Link,
    ledgers: Link,
    operation: Link,
    operations: Link,
    payments: Link,
    #[serde(rename = "self")]
    self_: Link,
    transaction: Link,
    transactions: Link,
}

#[derive(Serialize)]
pub(crate) struct Root {
    _links: RootLinks,
    horizon_version: &'static str,
    core_version: &'static str,
    ingest_latest_ledger: u32,
    history_latest_ledger: u32,
    history_latest_ledger_closed_at: String,
    history_elder_ledger: u32,
    core_latest_ledger: u32,
    network_passphrase: String,
    current_protocol_version: u32,
    supported_protocol_version: u32,
    core_supported_protocol_version: u32,
}

pub const PROTOCOL_VERSION: u32 = 23;

pub(crate) fn root(base: &str, ledger: &Ledger, passphrase: &str) -> Root {
    Root {
        _links: RootLinks {
            account: templated(format!("{base}/accounts/{{account_id}}")),
            accounts: templated(format!(
                "{base}/accounts{{?signer,sponsor,asset,liquidity_pool,cursor,limit,order}}"
            )),
            effects: templated(format!("{base}/effects{{?cursor,limit,order}}")),
            ledger: templated(format!("{base}/ledgers/{{sequence}}")),
            ledgers: templated(format!("{base}/ledgers{{?cursor,limit,order}}")),
            operation: templated(format!("{base}/operations/{{id}}")),
            operations: templated(format!(
                "{base}/operations{{?cursor,limit,order,include_failed}}"
            )),
            payments: templated(format!(
                "{base}/payments{{?cursor,limit,order,include_failed}}"
            )),
            self_: link(format!("{base}/")),
            transaction: templated(format!("{base}/transactions/{{hash}}")),
            transactions: templated(format!("{base}/transactions{{?cursor,limit,order}}")),
        },
        horizon_version: concat!("orbitpay-horizon-sim-", env!("CARGO_PKG_VERSION")),
        core_version: "stellar-core (simulated)",
        ingest_latest_ledger: ledger.latest,
        history_latest_ledger: ledger.latest,
        history_latest_ledger_closed_at: rfc3339(ledger.close_time(ledger.latest)),
        history_elder_ledger: ledger.elder(),
        core_latest_ledger: ledger.latest,
        network_passphrase: passphrase.to_owned(),
        current_protocol_version: PROTOCOL_VERSION,
        supported_protocol_version: PROTOCOL_VERSION,
        core_supported_protocol_version: PROTOCOL_VERSION,
    }
}

/// An `application/problem+json` body (Horizon's `problem.P`).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extras: Option<serde_json::Map<String, serde_json::Value>>,
}

const PROBLEM_BASE: &str = "https://stellar.org/horizon-errors/";

impl Problem {
    fn new(kind: &str, title: &str, status: u16, detail: &str) -> Problem {
        Problem {
            type_: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.to_owned(),
            extras: None,
        }
    }

    pub fn not_found() -> Problem {
        Problem::new(
            "not_found",
            "Resource Missing",
            404,
            "The resource at the url requested was not found.  This usually occurs for one of \
             two reasons:  The url requested is not valid, or no data in our database could be \
             found with the parameters provided.",
        )
    }

    /// Horizon's `MakeInvalidFieldProblem(field, reason)`.
    pub fn invalid_field(field: &str, reason: &str) -> Problem {
        let mut p = Problem::new(
            "bad_request",
            "Bad Request",
            400,
            "The request you sent was invalid in some way.",
        );
        let mut extras = serde_json::Map::new();
        extras.insert("invalid_field".into(), field.into());
        extras.insert("reason".into(), reason.into());
        p.extras = Some(extras);
        p
    }

    pub fn before_history() -> Problem {
        Problem::new(
            "before_history",
            "Data Requested Is Before Recorded History",
            410,
            "This horizon instance is configured to only track a portion of the Stellar \
             network's latest history. This request is asking for results prior to the recorded \
             history known to this horizon instance.",
        )
    }

    pub fn rate_limited() -> Problem {
        Problem::new(
            "rate_limit_exceeded",
            "Rate Limit Exceeded",
            429,
            "The rate limit for the requesting IP address is over its alloted limit.  The \
             allowed limit and requests left per time period are communicated to clients via \
             the http response headers 'X-RateLimit-*' headers.",
        )
    }

    /// A 5xx problem with Horizon's type/title/detail for the common statuses.
    pub fn server(status: u16) -> Problem {
        match status {
            503 => Problem::new(
                "service_unavailable",
                "Service Unavailable",
                503,
                "The request cannot be serviced at this time.",
            ),
            504 => Problem::new(
                "timeout",
                "Timeout",
                504,
                "Your request timed out before completing.  Please try your request again. If \
                 you are submitting a transaction make sure you are sending exactly the same \
                 transaction (with the same sequence number).",
            ),
            s => Problem::new(
                "server_error",
                "Internal Server Error",
                s,
                "An error occurred while processing this request.  This is usually due to a bug \
                 within the server software.  Trying this request again may succeed if the bug \
                 is transient, otherwise please report this issue to the issue tracker at: \
                 https://github.com/stellar/stellar-horizon/issues. Please include this response \
                 in your issue.",
            ),
        }
    }
}
