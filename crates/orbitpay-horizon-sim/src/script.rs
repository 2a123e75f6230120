//! A small line-based script for the binary (`--script FILE`).
//!
//! ```text
//! # comments and blank lines are ignored
//! accounts 3                 # acct0..acct2, derived from the seed
//! register acct2             # known account without history
//! traffic 200                # random transactions among the accounts
//! empty 5                    # five empty ledgers
//! pay acct1 acct0 12.5 native memo_id=42
//! pay acct1 acct0:7 3 USDC:GABC… memo_text=order-17   # acct0:7 is muxed id 7
//! elder 1010                 # retention: ledgers below 1010 are gone
//! live 5000 2                # then close a ledger every 5000 ms with 2 random txs
//! ```

use std::fmt;
use std::time::Duration;

use orbitpay_core::{AccountId, Address, Amount, Asset, Memo, MuxedAccount};

use crate::HorizonSim;
use crate::model::{Op, Tx, derive_account};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "script line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

#[derive(Debug, Clone)]
enum Step {
    Accounts(u64),
    Register(String),
    Traffic(usize),
    Empty(u32),
    Pay {
        from: String,
        to: String,
        amount: Amount,
        asset: Asset,
        memo: Memo,
    },
    Elder(u32),
}

/// A parsed script (the binary's `--script FILE`): setup steps plus an optional live phase.
///
/// ```text
/// # comments and blank lines are ignored
/// accounts 3                 # acct0..acct2, derived from the seed
/// register acct2             # known account without history
/// traffic 200                # random transactions among the accounts
/// empty 5                    # five empty ledgers
/// pay acct1 acct0 12.5 native memo_id=42
/// pay acct1 acct0:7 3 USDC:GABC… memo_text=order-17   # acct0:7 is muxed id 7
/// elder 1010                 # retention: ledgers below 1010 are gone
/// live 5000 2                # then close a ledger every 5000 ms with 2 random txs
/// ```
///
/// Accounts are named `acctN` (muxed: `acctN:ID`) or given as strkeys; amounts use Horizon's
/// decimal form; assets are `native` or `CODE:ISSUER`.
#[derive(Debug, Clone, Default)]
pub struct Script {
    steps: Vec<(usize, Step)>,
    /// `(interval, transactions per ledger)` of the `live` line, if any.
    pub live: Option<(Duration, usize)>,
}

impl Script {
    pub fn parse(text: &str) -> Result<Script, ScriptError> {
        let mut script = Script::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |m: &str| ScriptError {
                line,
                message: m.to_owned(),
            };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let words: Vec<&str> = content.split_whitespace().collect();
            let num = |k: usize| -> Result<u64, ScriptError> {
                words
                    .get(k)
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| err("expected a number"))
            };
            let step = match words[0] {
                "accounts" => Step::Accounts(num(1)?),
                "register" => Step::Register(
                    words
                        .get(1)
                        .ok_or_else(|| err("expected an account"))?
                        .to_string(),
                ),
                "traffic" => Step::Traffic(num(1)? as usize),
                "empty" => Step::Empty(num(1)? as u32),
                "elder" => Step::Elder(num(1)? as u32),
                "live" => {
                    script.live = Some((Duration::from_millis(num(1)?), num(2)? as usize));
                    continue;
                }
                "pay" => {
                    if words.len() < 4 {
                        return Err(err("pay FROM TO AMOUNT [ASSET] [memo_id=N|memo_text=S]"));
                    }
                    let amount: Amount = words[3].parse().map_err(|_| err("bad amount"))?;
                    let mut asset = Asset::Native;
                    let mut memo = Memo::None;
                    for w in &words[4..] {
                        if let Some(v) = w.strip_prefix("memo_id=") {
                            memo = Memo::Id(v.parse().map_err(|_| err("bad memo id"))?);
                        } else if let Some(v) = w.strip_prefix("memo_text=") {
                            memo = Memo::text(v.as_bytes())
                                .map_err(|_| err("memo text > 28 bytes"))?;
                        } else {
                            asset = w.parse().map_err(|_| err("bad asset"))?;
                        }
                    }
                    Step::Pay {
                        from: words[1].to_owned(),
                        to: words[2].to_owned(),
                        amount,
                        asset,
                        memo,
                    }
                }
                other => return Err(err(&format!("unknown command {other:?}"))),
            };
            script.steps.push((line, step));
        }
        Ok(script)
    }

    /// Runs the setup steps against `sim`; returns the named accounts (`acct0`, …).
    pub fn apply(&self, sim: &HorizonSim) -> Result<Vec<AccountId>, ScriptError> {
        let seed = sim.seed();
        let mut accounts: Vec<AccountId> = Vec::new();
        for (line, step) in &self.steps {
            let line = *line;
            let resolve = |name: &str, accounts: &[AccountId]| -> Result<Address, ScriptError> {
                let err = |m: String| ScriptError { line, message: m };
                let (base, mux) = match name.split_once(':') {
                    Some((b, id)) => (
                        b,
                        Some(
                            id.parse::<u64>()
                                .map_err(|_| err(format!("bad muxed id in {name}")))?,
                        ),
                    ),
                    None => (name, None),
                };
                let account = if let Some(n) = base.strip_prefix("acct") {
                    let n: usize = n.parse().map_err(|_| err(format!("bad account {name}")))?;
                    *accounts
                        .get(n)
                        .ok_or_else(|| err(format!("{base} not defined (use `accounts N`)")))?
                } else {
                    match base.parse::<Address>() {
                        Ok(a) if mux.is_none() => return Ok(a),
                        Ok(Address::Account(a)) => a,
                        _ => return Err(err(format!("bad address {name}"))),
                    }
                };
                Ok(match mux {
                    Some(id) => Address::Muxed(MuxedAccount::new(account, id)),
                    None => Address::Account(account),
                })
            };
            match step {
                Step::Accounts(n) => {
                    accounts = (0..*n).map(|i| derive_account(seed, i)).collect();
                    for a in &accounts {
                        sim.register_account(*a);
                    }
                }
                Step::Register(name) => {
                    if let Some(a) = resolve(name, &accounts)?.account() {
                        sim.register_account(a);
                    }
                }
                Step::Traffic(n) => {
                    sim.random_traffic(*n, &accounts);
                }
                Step::Empty(n) => {
                    sim.close_empty_ledgers(*n);
                }
                Step::Elder(n) => sim.set_history_elder_ledger(*n),
                Step::Pay {
                    from,
                    to,
                    amount,
                    asset,
                    memo,
                } => {
                    let from = resolve(from, &accounts)?;
                    let to = resolve(to, &accounts)?;
                    let tx = Tx::new(from).memo(memo.clone()).op(Op::payment(
                        from,
                        to,
                        asset.clone(),
                        *amount,
                    ));
                    sim.close_ledger(vec![tx]);
                }
            }
        }
        Ok(accounts)
    }
}
