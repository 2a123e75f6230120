//! The invariant checker: what must hold after any fault, read from the database, the
//! simulator's ledger (through the workload's record of it) and the webhook receiver.
//!
//! 1. Every credit the simulator put on the watched account appears exactly once: in
//!    `payment_operations`, `unmatched_payments` or (unresolved) `unreadable_records`; nothing
//!    else appears there (no phantom, no record of an ignored operation).
//! 2. Every session's `amount_received` equals the sum of its payments (and each payment the sum
//!    of its operations); its status agrees with it, and with its expiry by ledger time.
//! 3. No payments row without operations, no paid session without a payment.
//! 4. The stored cursor is at or behind the last handled record: every credit at or before it
//!    is handled, and it is not past the ledger.
//! 5. Every outbox event was delivered, with a stable `webhook-id`: the receiver saw each one
//!    (signed, the same bytes on every redelivery), nothing that never committed, each
//!    session's versions in order; a paid session has exactly one `session.paid` event.
//! 6. No session is left `processing` once recovery has had its chance.
//!
//! Besides those, the admin API's idempotency: each session belongs to the key that created
//! it, and a key the client got an answer for names the session it answered.
//!
//! [`Mode::Crashed`] checks what must hold at every instant, with the daemon dead (a kill -9
//! leaves only committed state): at most once, balances, orphans, the cursor, no phantom
//! webhook. [`Mode::Settled`] checks everything, after faults are healed and the system has
//! caught up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use orbitpay_core::toid;
use orbitpay_testkit::receiver::Received;

use crate::sql::Sql;
use crate::workload::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Crashed,
    Settled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    CreditedOnce = 1,
    Balances = 2,
    NoOrphans = 3,
    CursorNotAhead = 4,
    WebhooksDelivered = 5,
    NoStuckProcessing = 6,
    Idempotency = 7,
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}] {}", self.invariant, self.detail)
    }
}

/// What the checker looked at, and what it found.
#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub credits: usize,
    pub sessions: usize,
    pub payments: usize,
    pub events: usize,
    pub webhooks_received: usize,
}

impl Report {
    fn violate(&mut self, invariant: Invariant, detail: impl Into<String>) {
        self.violations.push(Violation {
            invariant,
            detail: detail.into(),
        });
    }

    /// Adds the violations of a check taken earlier in the run (after a kill), each once.
    pub fn absorb(&mut self, earlier: Vec<Violation>) {
        for v in earlier {
            if !self.violations.iter().any(|w| w.detail == v.detail) {
                self.violations.push(v);
            }
        }
    }

    pub fn has(&self, invariant: Invariant) -> bool {
        self.violations.iter().any(|v| v.invariant == invariant)
    }
}

/// What the checker compares the database with.
pub struct Expected<'a> {
    pub record: &'a Record,
    /// The watched account (G...).
    pub account: String,
    pub latest_ledger: u32,
    /// The receiver's URL, what it received (in arrival order), and the requests whose
    /// signature did not verify on arrival.
    pub receiver_url: &'a str,
    pub received: Vec<Received>,
    pub unsigned: Vec<String>,
}

fn n(v: &Option<String>) -> i64 {
    v.as_deref().map_or(0, |s| s.parse().unwrap())
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

pub async fn check(db: &Sql, exp: &Expected<'_>, mode: Mode) -> Report {
    let mut report = Report::default();
    credited_once(db, exp, mode, &mut report).await;
    balances(db, exp, &mut report).await;
    orphans(db, &mut report).await;
    cursor(db, exp, &mut report).await;
    webhooks(db, exp, mode, &mut report).await;
    if mode == Mode::Settled {
        stuck(db, &mut report).await;
    }
    idempotency(db, exp, &mut report).await;
    report
}

/// Invariant 1 (and the part of 4 a dead daemon can be held to: what the cursor passed).
async fn credited_once(db: &Sql, exp: &Expected<'_>, mode: Mode, report: &mut Report) {
    let account = &exp.account;
    let rows = db
        .rows(&format!(
            "SELECT op_id::text, 'payment_operations', amount::text FROM payment_operations
               WHERE account = '{account}'
             UNION ALL
             SELECT op_id::text, 'unmatched_payments ' || reason::text, amount::text
               FROM unmatched_payments WHERE account = '{account}'
             UNION ALL
             SELECT paging_token::text, 'unreadable_records', NULL
               FROM unreadable_records WHERE account = '{account}' AND resolved_at IS NULL"
        ))
        .await;
    let mut seen: BTreeMap<i64, Vec<(String, Option<i64>)>> = BTreeMap::new();
    for r in &rows {
        seen.entry(n(&r[0]))
            .or_default()
            .push((s(&r[1]), r[2].as_ref().map(|a| a.parse().unwrap())));
    }
    report.credits = exp.record.credits.len();
    for (op_id, credit) in &exp.record.credits {
        let found = seen.get(op_id).map_or(&[][..], |v| v.as_slice());
        if found.len() > 1 || (mode == Mode::Settled && found.is_empty()) {
            report.violate(
                Invariant::CreditedOnce,
                format!(
                    "op {op_id} ({}, {} stroops, tx {}, ledger {}) is recorded {} times: {found:?}",
                    credit.what,
                    credit.amount,
                    credit.tx_hash,
                    credit.ledger,
                    found.len()
                ),
            );
        }
        for (table, amount) in found {
            if table == "payment_operations" && *amount != Some(credit.amount) {
                report.violate(
                    Invariant::CreditedOnce,
                    format!(
                        "op {op_id} ({}) credited {amount:?} stroops; the ledger paid {}",
                        credit.what, credit.amount
                    ),
                );
            }
        }
    }
    // While the workload runs, a ledger it is closing may be on the stream before it is in
    // the record the check was given.
    let known = exp
        .record
        .credits
        .keys()
        .chain(&exp.record.ignored)
        .max()
        .copied();
    for (op_id, found) in &seen {
        if mode == Mode::Crashed && known.is_none_or(|k| *op_id > k) {
            continue;
        }
        if !exp.record.credits.contains_key(op_id)
            && !exp.record.beyond_retention.contains_key(op_id)
        {
            let what = if exp.record.ignored.contains(op_id) {
                "an operation that credits nothing (outgoing or failed)"
            } else {
                "an operation the ledger never had"
            };
            report.violate(
                Invariant::CreditedOnce,
                format!("op {op_id} is {what}, yet recorded: {found:?}"),
            );
        }
    }
}

/// Invariants 2 and the paid half of 3.
async fn balances(db: &Sql, exp: &Expected<'_>, report: &mut Report) {
    let rows = db
        .rows(
            "SELECT s.id::text, s.status::text, s.amount::text, s.amount_received::text,
                    COALESCE((SELECT sum(po.amount) FROM payments p
                              JOIN payment_operations po ON po.payment_id = p.id
                              WHERE p.session_id = s.id), 0)::text,
                    COALESCE((SELECT sum(p.amount) FROM payments p
                              WHERE p.session_id = s.id), 0)::text,
                    (SELECT count(*) FROM payments p WHERE p.session_id = s.id)::text
             FROM sessions s ORDER BY s.created_at",
        )
        .await;
    report.sessions = rows.len();
    for r in &rows {
        let (id, status) = (s(&r[0]), s(&r[1]));
        let (amount, received, ops, payments, count) =
            (n(&r[2]), n(&r[3]), n(&r[4]), n(&r[5]), n(&r[6]));
        report.payments += count as usize;
        if received != ops || received != payments {
            report.violate(
                Invariant::Balances,
                format!(
                    "session {id}: amount_received {received}, its payments sum to {payments}, \
                     their operations to {ops}"
                ),
            );
        }
        let full = received >= amount;
        let agrees = match status.as_str() {
            "paid" => full,
            _ => !full,
        };
        if !agrees {
            report.violate(
                Invariant::Balances,
                format!("session {id} is {status} with {received} of {amount} stroops received"),
            );
        }
        if status == "paid" && count == 0 {
            report.violate(
                Invariant::NoOrphans,
                format!("session {id} is paid without a payment"),
            );
        }
    }
    // Expiry by ledger time: a credited payment closed by expires_at; a session_expired one after.
    let rows = db
        .rows(
            "SELECT p.tx_hash, p.ledger::text, extract(epoch FROM s.expires_at)::bigint::text,
                    'credited'
               FROM payments p JOIN sessions s ON s.id = p.session_id
             UNION ALL
             SELECT u.tx_hash, u.ledger::text, extract(epoch FROM s.expires_at)::bigint::text,
                    'session_expired'
               FROM unmatched_payments u JOIN sessions s ON s.id = u.session_id
              WHERE u.reason = 'session_expired'",
        )
        .await;
    for r in &rows {
        let (hash, ledger, expires, kind) = (s(&r[0]), n(&r[1]) as u32, n(&r[2]), s(&r[3]));
        let Some(&closed) = exp.record.closed.get(&ledger) else {
            report.violate(
                Invariant::Balances,
                format!(
                    "tx {hash} is recorded in ledger {ledger}, which the workload never closed"
                ),
            );
            continue;
        };
        let late = closed > expires;
        if late != (kind == "session_expired") {
            report.violate(
                Invariant::Balances,
                format!(
                    "tx {hash} closed at {closed} (ledger {ledger}), session expiring at \
                     {expires}, recorded as {kind}"
                ),
            );
        }
    }
}

/// Invariant 3: payments without operations, and payments that disagree with theirs.
async fn orphans(db: &Sql, report: &mut Report) {
    let rows = db
        .rows(
            "SELECT p.id::text, p.tx_hash, p.amount::text, COALESCE(sum(po.amount), 0)::text,
                    count(po.op_id)::text
               FROM payments p LEFT JOIN payment_operations po ON po.payment_id = p.id
              GROUP BY p.id
             HAVING count(po.op_id) = 0 OR p.amount <> COALESCE(sum(po.amount), 0)",
        )
        .await;
    for r in &rows {
        report.violate(
            Invariant::NoOrphans,
            format!(
                "payment {} (tx {}) of {} stroops has {} operations summing to {}",
                s(&r[0]),
                s(&r[1]),
                s(&r[2]),
                s(&r[4]),
                s(&r[3])
            ),
        );
    }
}

/// Invariant 4.
async fn cursor(db: &Sql, exp: &Expected<'_>, report: &mut Report) {
    let Some(cursor) = db
        .scalar(&format!(
            "SELECT paging_token FROM stream_cursors WHERE account = '{}'",
            exp.account
        ))
        .await
    else {
        return;
    };
    let end = toid::encode(exp.latest_ledger, 0xF_FFFF, 0xFFF);
    if cursor > end {
        report.violate(
            Invariant::CursorNotAhead,
            format!(
                "the cursor {cursor} is past the ledger (latest {}, token {end})",
                exp.latest_ledger
            ),
        );
    }
    let handled: HashSet<i64> = db
        .rows(&format!(
            "SELECT op_id::text FROM payment_operations WHERE account = '{a}'
             UNION SELECT op_id::text FROM unmatched_payments WHERE account = '{a}'
             UNION SELECT paging_token::text FROM unreadable_records WHERE account = '{a}'",
            a = exp.account
        ))
        .await
        .iter()
        .map(|r| n(&r[0]))
        .collect();
    let skipped: Vec<i64> = exp
        .record
        .credits
        .range(..=cursor)
        .map(|(op, _)| *op)
        .filter(|op| !handled.contains(op))
        .collect();
    if !skipped.is_empty() {
        report.violate(
            Invariant::CursorNotAhead,
            format!(
                "the cursor {cursor} has passed {} credits that are recorded nowhere: {skipped:?}",
                skipped.len()
            ),
        );
    }
}

/// Invariant 5.
async fn webhooks(db: &Sql, exp: &Expected<'_>, mode: Mode, report: &mut Report) {
    let events = db
        .rows(&format!(
            "SELECT e.event_id::text, e.event_type, e.session_id::text, d.state::text
               FROM outbox_events e
               LEFT JOIN webhook_deliveries d ON d.event_id = e.event_id AND d.url = '{}'
              ORDER BY e.id",
            exp.receiver_url
        ))
        .await;
    report.events = events.len();
    let mut bodies: HashMap<String, &[u8]> = HashMap::new();
    let mut order: Vec<(String, serde_json::Value)> = Vec::new();
    for bad in &exp.unsigned {
        report.violate(Invariant::WebhooksDelivered, bad.clone());
    }
    for m in &exp.received {
        let id = m.id();
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&m.body) else {
            report.violate(
                Invariant::WebhooksDelivered,
                format!("webhook {id}: not JSON"),
            );
            continue;
        };
        if body["id"] != id.as_str() {
            report.violate(
                Invariant::WebhooksDelivered,
                format!("webhook-id {id} carries event {}", body["id"]),
            );
        }
        match bodies.get(&id) {
            Some(first) if *first != &m.body[..] => report.violate(
                Invariant::WebhooksDelivered,
                format!("event {id} was redelivered with other bytes"),
            ),
            Some(_) => {}
            None => {
                bodies.insert(id.clone(), &m.body[..]);
                order.push((id, body));
            }
        }
    }
    report.webhooks_received = bodies.len();
    let committed: HashMap<&str, (&str, Option<&str>)> = events
        .iter()
        .map(|r| {
            (
                r[0].as_deref().unwrap(),
                (r[1].as_deref().unwrap(), r[3].as_deref()),
            )
        })
        .collect();
    for (id, body) in &order {
        match committed.get(id.as_str()) {
            None => report.violate(
                Invariant::WebhooksDelivered,
                format!(
                    "the receiver got event {id} ({}), which never committed",
                    body["type"]
                ),
            ),
            Some((kind, _)) if body["type"] != *kind => report.violate(
                Invariant::WebhooksDelivered,
                format!("event {id} is {kind} but was delivered as {}", body["type"]),
            ),
            Some(_) => {}
        }
    }
    // Each session's versions, in the order its events first arrived.
    let mut last: HashMap<String, (i64, String)> = HashMap::new();
    for (id, body) in &order {
        let session = &body["data"]["session"];
        let (Some(sid), Some(version)) =
            (session["session_id"].as_str(), session["version"].as_i64())
        else {
            continue;
        };
        if let Some((prev, prev_id)) = last.get(sid)
            && version < *prev
        {
            report.violate(
                Invariant::WebhooksDelivered,
                format!(
                    "session {sid}: event {id} (version {version}) arrived after {prev_id} \
                     (version {prev})"
                ),
            );
        }
        last.insert(sid.to_owned(), (version, id.clone()));
    }
    if mode == Mode::Settled {
        for (id, (kind, state)) in &committed {
            if *state != Some("delivered") || !bodies.contains_key(*id) {
                report.violate(
                    Invariant::WebhooksDelivered,
                    format!(
                        "event {id} ({kind}): delivery {}, {} at the receiver",
                        state.unwrap_or("missing"),
                        if bodies.contains_key(*id) {
                            "seen"
                        } else {
                            "never seen"
                        }
                    ),
                );
            }
        }
    }
    let paid_events = db
        .rows(
            "SELECT s.id::text, s.status::text,
                    (SELECT count(*) FROM outbox_events e
                      WHERE e.session_id = s.id AND e.event_type = 'session.paid')::text
               FROM sessions s",
        )
        .await;
    for r in &paid_events {
        let want = i64::from(r[1].as_deref() == Some("paid"));
        if n(&r[2]) != want {
            report.violate(
                Invariant::WebhooksDelivered,
                format!(
                    "session {} is {} with {} session.paid events",
                    s(&r[0]),
                    s(&r[1]),
                    s(&r[2])
                ),
            );
        }
    }
}

/// Invariant 6.
async fn stuck(db: &Sql, report: &mut Report) {
    for r in db
        .rows(
            "SELECT id::text, processing_tx_hash, claim_source, processing_started_at::text
               FROM sessions WHERE status = 'processing'",
        )
        .await
    {
        report.violate(
            Invariant::NoStuckProcessing,
            format!(
                "session {} is still processing under {} ({}, since {})",
                s(&r[0]),
                s(&r[1]),
                s(&r[2]),
                s(&r[3])
            ),
        );
    }
}

async fn idempotency(db: &Sql, exp: &Expected<'_>, report: &mut Report) {
    for wrong in &exp.record.wrong_answers {
        report.violate(Invariant::Idempotency, wrong.clone());
    }
    let keys: HashMap<String, Option<String>> = db
        .rows("SELECT key, session_id::text FROM idempotency_keys WHERE key LIKE 'create-%'")
        .await
        .into_iter()
        .map(|r| (s(&r[0]), r[1].clone()))
        .collect();
    for (key, id) in &exp.record.answered_keys {
        if keys.get(key).and_then(|v| v.as_deref()) != Some(id.as_str()) {
            report.violate(
                Invariant::Idempotency,
                format!(
                    "key {key} was answered with session {id}; the database holds {:?}",
                    keys.get(key)
                ),
            );
        }
    }
    for r in db
        .rows(
            "SELECT s.id::text FROM sessions s
              WHERE (SELECT count(*) FROM idempotency_keys k
                      WHERE k.session_id = s.id AND k.key LIKE 'create-%') <> 1",
        )
        .await
    {
        report.violate(
            Invariant::Idempotency,
            format!("session {} is not the result of exactly one key", s(&r[0])),
        );
    }
}
