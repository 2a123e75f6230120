//! Effect records: the balance effects of one operation.

use orbitpay_core::{Address, Amount, Asset};
use serde::Serialize;

use super::{AssetFields, Link, amt, asset_fields, link, rfc3339, split};
use crate::model::{OpKind, StoredTx};

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
            asset,
            transfers,
        } => {
            let mut v = Vec::new();
            for (to, amount) in transfers {
                if !matches!(from, Address::Contract(_)) {
                    v.push(E::Debited(from, asset, *amount));
                }
                if !matches!(to, Address::Contract(_)) {
                    v.push(E::Credited(to, asset, *amount));
                }
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
