//! Transactions as scripts build them.

use orbitpay_core::{Address, Memo};

use super::{IntoAddress, Op, require_account};

/// A transaction to put in a ledger: a source, a memo, a success flag and 1..=100 operations.
///
/// ```ignore
/// Tx::new(payer).memo(Memo::Id(7)).op(Op::payment(payer, shop, Asset::Native, units(5)))
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    pub source: Address,
    pub memo: Memo,
    pub successful: bool,
    pub ops: Vec<Op>,
    pub fee_charged: i64,
    pub max_fee: i64,
}

impl Tx {
    /// A successful transaction from `source` (G or M) with no memo and no operations yet.
    pub fn new(source: impl IntoAddress) -> Tx {
        let source = source.into_address();
        require_account(&source, "transaction source");
        Tx {
            source,
            memo: Memo::None,
            successful: true,
            ops: Vec::new(),
            fee_charged: 100,
            max_fee: 100,
        }
    }

    pub fn memo(mut self, memo: Memo) -> Tx {
        self.memo = memo;
        self
    }

    /// A text memo from raw bytes (≤ 28; may be invalid UTF-8 or hold NULs). Panics if longer.
    pub fn memo_text(self, bytes: impl Into<Vec<u8>>) -> Tx {
        let memo = Memo::text(bytes).expect("text memo of at most 28 bytes");
        self.memo(memo)
    }

    pub fn memo_id(self, id: u64) -> Tx {
        self.memo(Memo::Id(id))
    }

    /// Marks the transaction failed: it is hidden from `/payments` unless `include_failed=true`,
    /// path payments then read `"0.0000000"` for the amount the failed exchange did not set.
    pub fn failed(mut self) -> Tx {
        self.successful = false;
        self
    }

    pub fn successful(mut self, ok: bool) -> Tx {
        self.successful = ok;
        self
    }

    pub fn op(mut self, op: Op) -> Tx {
        self.ops.push(op);
        self
    }

    pub fn ops(mut self, ops: impl IntoIterator<Item = Op>) -> Tx {
        self.ops.extend(ops);
        self
    }

    /// Fee fields (stroops): `fee_charged` and `max_fee`. Default 100/100.
    pub fn fee(mut self, charged: i64, max: i64) -> Tx {
        self.fee_charged = charged;
        self.max_fee = max;
        self
    }
}
