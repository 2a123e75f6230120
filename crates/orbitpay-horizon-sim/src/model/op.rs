//! Operations: the kinds the simulator models and their constructors.

use orbitpay_core::{AccountId, Address, Amount, Asset};

use super::{IntoAddress, require_account};

/// One operation. Build it with the constructors ([`Op::payment`], [`Op::sac_transfer`], …)
/// and add it to a [`Tx`](super::Tx). The first address argument of each constructor is the
/// operation's source account (the payer); Horizon reports it as `source_account` (and
/// `from`/`funder`/…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
}

/// The operation kinds the simulator models. Everything except [`OpKind::ManageData`] appears on
/// the `/payments` endpoints; `ManageData` exists to occupy an operation index in multi-op
/// transactions (so payment op indexes have gaps, as on the real network).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpKind {
    /// `payment` (type_i 1).
    Payment {
        from: Address,
        to: Address,
        asset: Asset,
        amount: Amount,
    },
    /// `path_payment_strict_receive` (type_i 2): `to` receives exactly `dest_amount` of
    /// `dest_asset`; the sender spent `source_amount` (≤ `source_max`) of `source_asset`.
    PathPaymentStrictReceive {
        from: Address,
        to: Address,
        dest_asset: Asset,
        dest_amount: Amount,
        source_asset: Asset,
        source_amount: Amount,
        source_max: Amount,
        path: Vec<Asset>,
    },
    /// `path_payment_strict_send` (type_i 13): the sender spent exactly `source_amount`; `to`
    /// received `dest_amount` (≥ `destination_min`).
    PathPaymentStrictSend {
        from: Address,
        to: Address,
        source_asset: Asset,
        source_amount: Amount,
        dest_asset: Asset,
        dest_amount: Amount,
        destination_min: Amount,
        path: Vec<Asset>,
    },
    /// `create_account` (type_i 0).
    CreateAccount {
        funder: Address,
        account: AccountId,
        starting_balance: Amount,
    },
    /// `account_merge` (type_i 8). `amount` is the merged balance: it is NOT in the operation
    /// record (Horizon has no amount field there), only in the `account_credited` effect.
    AccountMerge {
        account: Address,
        into: Address,
        amount: Amount,
    },
    /// `invoke_host_function` (type_i 24) moving a Stellar Asset Contract's balance from `from`:
    /// one `asset_balance_changes` entry of type `transfer` per receiver, in order. One receiver
    /// is a SAC `transfer` call; several are a contract call that pays each (a split payment),
    /// so one operation id is in every receiver's payments. A receiver may be a `C…` contract or
    /// a muxed account (then `to` is the G account and `destination_muxed_id` the id).
    SacTransfer {
        from: Address,
        asset: Asset,
        transfers: Vec<(Address, Amount)>,
    },
    /// `manage_data` (type_i 10): not a payment; only occupies an operation index.
    ManageData { source: Address, name: String },
}

impl Op {
    /// A classic `payment`. `from`/`to` may be G or M addresses.
    pub fn payment(
        from: impl IntoAddress,
        to: impl IntoAddress,
        asset: Asset,
        amount: Amount,
    ) -> Op {
        let (from, to) = (from.into_address(), to.into_address());
        require_account(&from, "payment source");
        require_account(&to, "payment destination");
        Op {
            kind: OpKind::Payment {
                from,
                to,
                asset,
                amount,
            },
        }
    }

    /// A `path_payment_strict_receive`: `to` receives `dest_amount` of `dest_asset`, paid with
    /// `source_amount` of `source_asset`. `source_max` defaults to `source_amount` and the path to
    /// empty; change them with [`Op::with_source_max`] / [`Op::with_path`].
    pub fn path_payment_strict_receive(
        from: impl IntoAddress,
        to: impl IntoAddress,
        dest_asset: Asset,
        dest_amount: Amount,
        source_asset: Asset,
        source_amount: Amount,
    ) -> Op {
        let (from, to) = (from.into_address(), to.into_address());
        require_account(&from, "path payment source");
        require_account(&to, "path payment destination");
        Op {
            kind: OpKind::PathPaymentStrictReceive {
                from,
                to,
                dest_asset,
                dest_amount,
                source_asset,
                source_amount,
                source_max: source_amount,
                path: Vec::new(),
            },
        }
    }

    /// A `path_payment_strict_send`: the sender spends `source_amount` of `source_asset`; `to`
    /// receives `dest_amount` of `dest_asset`. `destination_min` defaults to `dest_amount`.
    pub fn path_payment_strict_send(
        from: impl IntoAddress,
        to: impl IntoAddress,
        source_asset: Asset,
        source_amount: Amount,
        dest_asset: Asset,
        dest_amount: Amount,
    ) -> Op {
        let (from, to) = (from.into_address(), to.into_address());
        require_account(&from, "path payment source");
        require_account(&to, "path payment destination");
        Op {
            kind: OpKind::PathPaymentStrictSend {
                from,
                to,
                source_asset,
                source_amount,
                dest_asset,
                dest_amount,
                destination_min: dest_amount,
                path: Vec::new(),
            },
        }
    }

    /// A `create_account` funding `account` with `starting_balance` XLM.
    pub fn create_account(
        funder: impl IntoAddress,
        account: AccountId,
        starting_balance: Amount,
    ) -> Op {
        let funder = funder.into_address();
        require_account(&funder, "funder");
        Op {
            kind: OpKind::CreateAccount {
                funder,
                account,
                starting_balance,
            },
        }
    }

    /// An `account_merge` of `account` into `into`, moving `amount` XLM (visible only in the
    /// operation's effects).
    pub fn account_merge(account: impl IntoAddress, into: impl IntoAddress, amount: Amount) -> Op {
        let (account, into) = (account.into_address(), into.into_address());
        require_account(&account, "merged account");
        require_account(&into, "merge destination");
        Op {
            kind: OpKind::AccountMerge {
                account,
                into,
                amount,
            },
        }
    }

    /// A SAC `transfer` (`invoke_host_function` with `asset_balance_changes`). `to` may be a C,
    /// G or M address; `from` a G or C address (a muxed `from` is reported as its G account).
    pub fn sac_transfer(
        from: impl IntoAddress,
        to: impl IntoAddress,
        asset: Asset,
        amount: Amount,
    ) -> Op {
        Op::sac_split(from, asset, [(to, amount)])
    }

    /// A contract call moving `asset` from `from` to each receiver (a split payment): one
    /// `invoke_host_function` whose `asset_balance_changes` hold one `transfer` per receiver.
    pub fn sac_split<A: IntoAddress>(
        from: impl IntoAddress,
        asset: Asset,
        transfers: impl IntoIterator<Item = (A, Amount)>,
    ) -> Op {
        let transfers: Vec<(Address, Amount)> = transfers
            .into_iter()
            .map(|(to, amount)| (to.into_address(), amount))
            .collect();
        assert!(!transfers.is_empty(), "a contract transfer pays someone");
        Op {
            kind: OpKind::SacTransfer {
                from: from.into_address(),
                asset,
                transfers,
            },
        }
    }

    /// A non-payment operation (`manage_data`) that only takes an operation index.
    pub fn manage_data(source: impl IntoAddress, name: &str) -> Op {
        let source = source.into_address();
        require_account(&source, "manage_data source");
        Op {
            kind: OpKind::ManageData {
                source,
                name: name.to_owned(),
            },
        }
    }

    /// Sets the path (intermediate assets) of a path payment. No effect on other kinds.
    pub fn with_path(mut self, assets: Vec<Asset>) -> Op {
        match &mut self.kind {
            OpKind::PathPaymentStrictReceive { path, .. }
            | OpKind::PathPaymentStrictSend { path, .. } => *path = assets,
            _ => {}
        }
        self
    }

    /// Sets `source_max` of a strict-receive path payment. No effect on other kinds.
    pub fn with_source_max(mut self, max: Amount) -> Op {
        if let OpKind::PathPaymentStrictReceive { source_max, .. } = &mut self.kind {
            *source_max = max;
        }
        self
    }

    /// Sets `destination_min` of a strict-send path payment. No effect on other kinds.
    pub fn with_destination_min(mut self, min: Amount) -> Op {
        if let OpKind::PathPaymentStrictSend {
            destination_min, ..
        } = &mut self.kind
        {
            *destination_min = min;
        }
        self
    }

    /// The operation's source account (the payer).
    pub fn source(&self) -> &Address {
        match &self.kind {
            OpKind::Payment { from, .. }
            | OpKind::PathPaymentStrictReceive { from, .. }
            | OpKind::PathPaymentStrictSend { from, .. }
            | OpKind::SacTransfer { from, .. } => from,
            OpKind::CreateAccount { funder, .. } => funder,
            OpKind::AccountMerge { account, .. } => account,
            OpKind::ManageData { source, .. } => source,
        }
    }

    /// Whether Horizon lists this operation on `/payments` endpoints.
    pub fn is_payment(&self) -> bool {
        !matches!(self.kind, OpKind::ManageData { .. })
    }

    pub(crate) fn type_name(&self) -> (&'static str, u32) {
        match self.kind {
            OpKind::CreateAccount { .. } => ("create_account", 0),
            OpKind::Payment { .. } => ("payment", 1),
            OpKind::PathPaymentStrictReceive { .. } => ("path_payment_strict_receive", 2),
            OpKind::AccountMerge { .. } => ("account_merge", 8),
            OpKind::ManageData { .. } => ("manage_data", 10),
            OpKind::PathPaymentStrictSend { .. } => ("path_payment_strict_send", 13),
            OpKind::SacTransfer { .. } => ("invoke_host_function", 24),
        }
    }

    /// Every G account taking part (Horizon's operation participants): the source plus the
    /// receivers. Muxed addresses count as their G account; contracts are not accounts. A SAC
    /// transfer's receivers come from its contract events, which a failed transaction lacks.
    pub(crate) fn participants(&self, successful: bool) -> Vec<AccountId> {
        let mut out: Vec<AccountId> = Vec::with_capacity(2);
        let mut push = |a: Option<AccountId>| {
            if let Some(a) = a
                && !out.contains(&a)
            {
                out.push(a);
            }
        };
        push(self.source().account());
        match &self.kind {
            OpKind::Payment { to, .. }
            | OpKind::PathPaymentStrictReceive { to, .. }
            | OpKind::PathPaymentStrictSend { to, .. } => push(to.account()),
            OpKind::SacTransfer { transfers, .. } => {
                if successful {
                    for (to, _) in transfers {
                        push(to.account())
                    }
                }
            }
            OpKind::CreateAccount { account, .. } => push(Some(*account)),
            OpKind::AccountMerge { into, .. } => push(into.account()),
            OpKind::ManageData { .. } => {}
        }
        out
    }
}
