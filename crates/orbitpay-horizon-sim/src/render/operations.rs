//! Operation records (the payment-like operations the simulator models).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use orbitpay_core::{Address, Amount, Asset};
use serde::Serialize;

use super::transactions::{TxRecord, tx_record};
use super::{
    AssetFields, Link, SourceAssetFields, ZERO_AMOUNT, amt, asset_fields, link, rfc3339,
    source_asset_fields, split,
};
use crate::model::{Ledger, OpKind, PaymentRef, sha};

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

/// The call's parameters: a SAC's `transfer(from, to, amount)` for one receiver; for several,
/// a splitter contract's `split(from, to, amount, to, amount, ...)`.
fn sac_parameters(
    from: &Address,
    asset: &Asset,
    transfers: &[(Address, Amount)],
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
    let address = |a: &Address| HostFunctionParameter {
        value: scval(&[0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0], &addr(a)),
        type_: "Address",
    };
    let (contract, function): ([u8; 32], &[u8]) = match transfers {
        [_] => (sha(&[b"sac", asset.to_string().as_bytes()]), b"transfer"),
        _ => (sha(&[b"split", asset.to_string().as_bytes()]), b"split"),
    };
    let mut sym_tag = vec![0, 0, 0, 15, 0, 0, 0];
    sym_tag.push(function.len() as u8);
    let mut params = vec![
        HostFunctionParameter {
            value: scval(&[0, 0, 0, 18, 0, 0, 0, 1], &contract),
            type_: "Address",
        },
        HostFunctionParameter {
            value: scval(&sym_tag, function),
            type_: "Sym",
        },
        address(from),
    ];
    for (to, amount) in transfers {
        let mut amount_bytes = vec![0u8; 8];
        amount_bytes.extend_from_slice(&amount.stroops().to_be_bytes());
        params.push(address(to));
        params.push(HostFunctionParameter {
            value: scval(&[0, 0, 0, 10], &amount_bytes),
            type_: "I128",
        });
    }
    params
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
            asset,
            transfers,
        } => {
            let (from_s, _, _) = split(from);
            OpBody::InvokeHostFunction {
                function: "HostFunctionTypeHostFunctionTypeInvokeContract",
                parameters: sac_parameters(from, asset, transfers),
                address: String::new(),
                salt: String::new(),
                // A failed transaction emitted no events, so no balance changes.
                asset_balance_changes: if ok {
                    transfers
                        .iter()
                        .map(|(to, amount)| {
                            let (to_s, _, to_id) = split(to);
                            BalanceChange {
                                asset: asset_fields(asset),
                                type_: "transfer",
                                from: Some(from_s.clone()),
                                to: Some(to_s),
                                amount: amt(*amount),
                                destination_muxed_id: to_id,
                            }
                        })
                        .collect()
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
