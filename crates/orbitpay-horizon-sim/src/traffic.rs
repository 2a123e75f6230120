//! Seeded random traffic.

use orbitpay_core::{AccountId, Address, Amount, Asset, Memo, MuxedAccount};

use crate::model::{Op, Tx, derive_account, derive_contract, sha, stroops};

/// SplitMix64: tiny, fast and stable across crate versions (determinism must not depend on a
/// dependency's choice of generator).
pub(crate) struct Rng {
    state: u64,
    seed: u64,
    created: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            seed,
            created: 0,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `pct`%.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn assets(seed: u64) -> [Asset; 3] {
    let issuer = derive_account(seed ^ 0x155_0E5, 0).to_string();
    [
        Asset::Native,
        Asset::credit("USDC", &issuer).expect("valid asset"),
        Asset::credit("LONGCODE12ab", &issuer).expect("valid asset"),
    ]
}

fn amount(rng: &mut Rng) -> Amount {
    let units = 1 + rng.below(5_000) as i64;
    let frac = if rng.chance(50) {
        rng.below(10_000_000) as i64
    } else {
        0
    };
    stroops(units * 10_000_000 + frac)
}

fn memo(rng: &mut Rng) -> Memo {
    match rng.below(100) {
        0..30 => Memo::None,
        30..50 => {
            let len = rng.below(29) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
            if len > 2 && rng.chance(25) {
                // Invalid UTF-8 and NULs, which Horizon scrubs from `memo`.
                bytes[0] = 0xFF;
                bytes[len - 1] = 0;
            }
            Memo::text(bytes).expect("≤ 28 bytes")
        }
        50..80 => Memo::Id(if rng.chance(20) {
            u64::MAX - rng.below(1000)
        } else {
            rng.below(1_000_000)
        }),
        80..92 => Memo::Hash(sha(&[b"memo-hash", &rng.next_u64().to_be_bytes()])),
        _ => Memo::Return(sha(&[b"memo-return", &rng.next_u64().to_be_bytes()])),
    }
}

fn party(rng: &mut Rng, accounts: &[AccountId], strangers: &[AccountId]) -> AccountId {
    if !accounts.is_empty() && rng.chance(70) {
        rng.pick(accounts)
    } else {
        rng.pick(strangers)
    }
}

fn maybe_muxed(rng: &mut Rng, a: AccountId) -> Address {
    if rng.chance(20) {
        let id = if rng.chance(20) {
            u64::MAX - rng.below(1000)
        } else {
            rng.below(100_000)
        };
        Address::Muxed(MuxedAccount::new(a, id))
    } else {
        Address::Account(a)
    }
}

fn one_op(
    rng: &mut Rng,
    source: AccountId,
    accounts: &[AccountId],
    strangers: &[AccountId],
    assets: &[Asset; 3],
) -> Op {
    let dest = if rng.chance(5) {
        source
    } else {
        party(rng, accounts, strangers)
    };
    let to = maybe_muxed(rng, dest);
    let a = assets[rng.below(3) as usize].clone();
    let b = assets[rng.below(3) as usize].clone();
    match rng.below(100) {
        0..40 => Op::payment(source, to, a, amount(rng)),
        40..52 => {
            let path = if rng.chance(50) {
                vec![assets[1].clone()]
            } else {
                Vec::new()
            };
            let spent = amount(rng);
            Op::path_payment_strict_receive(source, to, a, amount(rng), b, spent)
                .with_path(path)
                .with_source_max(stroops(spent.stroops().saturating_add(1_000_000)))
        }
        52..64 => {
            let got = amount(rng);
            Op::path_payment_strict_send(source, to, a, amount(rng), b, got)
                .with_destination_min(stroops(got.stroops() / 2))
        }
        64..76 => {
            rng.created += 1;
            let fresh = derive_account(rng.seed ^ 0xC0FF_EE00, rng.created);
            Op::create_account(source, fresh, amount(rng))
        }
        76..82 => Op::account_merge(source, to, amount(rng)),
        _ => {
            let to = if rng.chance(30) {
                Address::Contract(derive_contract(rng.seed, rng.below(5)))
            } else {
                to
            };
            Op::sac_transfer(source, to, a, amount(rng))
        }
    }
}

/// `n_txs` random transactions grouped into ledgers of 1–4 transactions.
pub(crate) fn generate(rng: &mut Rng, n_txs: usize, accounts: &[AccountId]) -> Vec<Vec<Tx>> {
    let strangers: Vec<AccountId> = (0..16)
        .map(|i| derive_account(rng.seed ^ 0x57_4A_4E_47, i))
        .collect();
    let assets = assets(rng.seed);
    let mut ledgers = Vec::new();
    let mut left = n_txs;
    while left > 0 {
        let k = (1 + rng.below(4) as usize).min(left);
        left -= k;
        let mut txs = Vec::with_capacity(k);
        for _ in 0..k {
            let source = party(rng, accounts, &strangers);
            let mut tx = Tx::new(maybe_muxed(rng, source)).memo(memo(rng));
            let n_ops = if rng.chance(15) {
                2 + rng.below(3) as usize
            } else {
                1
            };
            for _ in 0..n_ops {
                if n_ops > 1 && rng.chance(20) {
                    tx = tx.op(Op::manage_data(source, "sim"));
                } else {
                    tx = tx.op(one_op(rng, source, accounts, &strangers, &assets));
                }
            }
            if rng.chance(10) {
                tx = tx.failed();
            }
            txs.push(tx);
        }
        ledgers.push(txs);
    }
    ledgers
}

/// How many strangers network traffic moves money between: enough that an account's share of
/// it is small, as on a public network.
const NETWORK_STRANGERS: u64 = 1_000;

/// One ledger of network-wide traffic: `payments` single-payment transactions between
/// strangers, each paying one of `watched` instead with probability `watched_per_mille`/1000
/// (a native payment with a random id memo). What the bench's "200 payments/s across the
/// network, 1% to watched accounts" is made of.
pub(crate) fn network_ledger(
    rng: &mut Rng,
    payments: usize,
    watched: &[AccountId],
    watched_per_mille: u32,
) -> Vec<Tx> {
    let stranger =
        |rng: &mut Rng| derive_account(rng.seed ^ 0x4E_45_54, rng.below(NETWORK_STRANGERS));
    let assets = assets(rng.seed);
    (0..payments)
        .map(|_| {
            let from = stranger(rng);
            let to_watched = !watched.is_empty() && rng.below(1000) < u64::from(watched_per_mille);
            if to_watched {
                let to = rng.pick(watched);
                Tx::new(from)
                    .memo(Memo::Id(rng.below(1_000_000)))
                    .op(Op::payment(from, to, Asset::Native, amount(rng)))
            } else {
                let to = stranger(rng);
                let asset = assets[rng.below(2) as usize].clone();
                Tx::new(from).op(Op::payment(from, to, asset, amount(rng)))
            }
        })
        .collect()
}
