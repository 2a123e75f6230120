//! `/ui/sessions/{id}`: one session's story. Its timeline (created, claimed, credited, then
//! paid, expired or cancelled, each with its ledger and transaction), its payments, and its
//! outbox events with every attempt of each delivery, and its refunds (of its overpaid part or
//! of its late payments). Read through the store's
//! `timeline::for_session` (one consistent snapshot) and the attempts of its deliveries.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use orbitpay_store::models::PaymentRow;
use orbitpay_store::timeline::{self, TimelineEvent};
use orbitpay_store::{deliveries, refund_lists};
use uuid::Uuid;

use super::refunds::RefundView;
use crate::error::conn;
use crate::format;
use crate::{PageError, UiState};

struct Facts {
    status: &'static str,
    overpaid: bool,
    amount: String,
    received: String,
    asset: String,
    reference: String,
    account: String,
    order_id: String,
    created_at: String,
    expires_at: String,
}

/// One line of the timeline.
struct Step {
    /// CSS class: `created`, `claimed`, `credited`, `paid`, `expired`, ...
    kind: &'static str,
    label: String,
    at: String,
    amount: Option<String>,
    ledger: Option<i32>,
    tx_hash: Option<String>,
}

struct PaymentView {
    tx_hash: String,
    amount: String,
    asset: String,
    ledger: i32,
    at: String,
}

struct AttemptView {
    attempt: i32,
    at: String,
    status: String,
    latency_ms: i32,
    error: String,
}

struct DeliveryView {
    state: &'static str,
    url: String,
    attempt_count: i32,
    attempts: Vec<AttemptView>,
}

struct EventView {
    event_type: String,
    event_id: String,
    at: String,
    deliveries: Vec<DeliveryView>,
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    title: String,
    now: String,
    s: Facts,
    steps: Vec<Step>,
    payments: Vec<PaymentView>,
    events: Vec<EventView>,
    refunds: Vec<RefundView>,
}

pub async fn page(
    State(state): State<Arc<UiState>>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Ok(id) = id.parse::<Uuid>() else {
        return Ok(super::not_found_page("That is not a session id."));
    };
    let mut c = conn(&state).await?;
    let Some(t) = timeline::for_session(&mut c, id).await? else {
        return Ok(super::not_found_page(format!("No session {id}.")));
    };
    let mut events = Vec::with_capacity(t.events.len());
    for e in &t.events {
        let mut ds = Vec::with_capacity(e.deliveries.len());
        for d in &e.deliveries {
            let attempts = deliveries::attempts(&mut c, d.delivery.id).await?;
            ds.push(DeliveryView {
                state: d.delivery.state.as_str(),
                url: d.delivery.url.clone(),
                attempt_count: d.delivery.attempts,
                attempts: attempts
                    .into_iter()
                    .map(|a| AttemptView {
                        attempt: a.attempt,
                        at: format::time(a.started_at),
                        status: a.status.map_or("—".to_owned(), |s| s.to_string()),
                        latency_ms: a.latency_ms,
                        error: a.error.unwrap_or_default(),
                    })
                    .collect(),
            });
        }
        events.push(EventView {
            event_type: e.event.event_type.clone(),
            event_id: e.event.event_id.to_string(),
            at: format::time(e.event.created_at),
            deliveries: ds,
        });
    }
    let refunds = refund_lists::for_session(&mut c, id).await?;
    drop(c);
    let s = &t.session;
    let asset = format::asset(&s.asset.to_string());
    let view = SessionPage {
        title: format!("Session {id}"),
        now: super::now(),
        steps: steps(&t.events, &t.payments),
        payments: t
            .payments
            .iter()
            .map(|p| PaymentView {
                tx_hash: p.tx_hash.clone(),
                amount: format::stroops(i128::from(p.amount)),
                asset: format::asset(&p.asset),
                ledger: p.ledger,
                at: format::time(p.created_at),
            })
            .collect(),
        events,
        refunds: refunds
            .iter()
            .map(|r| RefundView::of(r, &state.network_passphrase, false))
            .collect(),
        s: Facts {
            status: s.status.as_str(),
            overpaid: s.is_overpaid(),
            amount: format::stroops(i128::from(s.amount.stroops())),
            received: format::stroops(i128::from(s.amount_received.stroops())),
            asset,
            reference: s.reference.to_string(),
            account: s.account.to_string(),
            order_id: s.order_id.clone().unwrap_or_default(),
            created_at: format::time(s.created_at),
            expires_at: format::time(s.expires_at),
        },
    };
    super::html(&view)
}

/// The events as steps, with a `credited` step for each payment placed just before the event
/// its transaction settled (paid, partly paid, overpaid, recovered): the payment row and that
/// event commit together, so that is where the credit happened.
fn steps(events: &[TimelineEvent], payments: &[PaymentRow]) -> Vec<Step> {
    let mut shown = vec![false; payments.len()];
    let mut out = Vec::new();
    for e in events {
        let (kind, label) = kind_of(&e.event.event_type);
        let settles = matches!(kind, "paid" | "partly-paid" | "overpaid" | "recovered");
        if settles && let Some(tx) = &e.tx_hash {
            for (i, p) in payments.iter().enumerate() {
                if !shown[i] && &p.tx_hash == tx {
                    shown[i] = true;
                    out.push(credited(p));
                }
            }
        }
        out.push(Step {
            kind,
            label: if kind == "other" {
                e.event.event_type.clone()
            } else {
                label.to_owned()
            },
            at: format::time(e.event.created_at),
            amount: e.amount.clone(),
            ledger: e.ledger,
            tx_hash: e.tx_hash.clone(),
        });
    }
    for (i, p) in payments.iter().enumerate() {
        if !shown[i] {
            out.push(credited(p));
        }
    }
    out
}

fn credited(p: &PaymentRow) -> Step {
    Step {
        kind: "credited",
        label: "credited".to_owned(),
        at: format::time(p.created_at),
        amount: Some(format!(
            "{} {}",
            format::stroops(i128::from(p.amount)),
            format::asset(&p.asset)
        )),
        ledger: Some(p.ledger),
        tx_hash: Some(p.tx_hash.clone()),
    }
}

fn kind_of(event_type: &str) -> (&'static str, &'static str) {
    match event_type {
        "session.created" => ("created", "created"),
        "session.processing" => ("claimed", "claimed"),
        "session.paid" => ("paid", "paid"),
        "session.partially_paid" => ("partly-paid", "partly paid"),
        "session.overpaid" => ("overpaid", "overpaid"),
        "session.released" => ("released", "claim released"),
        "session.expired" => ("expired", "expired"),
        "session.cancelled" => ("cancelled", "cancelled"),
        "session.late_payment" => ("unmatched", "late payment"),
        "payment.unmatched" => ("unmatched", "unmatched payment"),
        "session.recovered" => ("recovered", "recovered"),
        _ => ("other", "event"),
    }
}
