//! The story the demo tells over the admin socket: a session paid in full, an underpayment
//! topped up, a duplicate recorded rather than credited.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use orbitpay_cli::Client;
use orbitpay_core::Asset;
use orbitpay_horizon_sim::{HorizonSim, Op, Tx, stroops};
use serde_json::{Value, json};

/// Bound on each wait for the daemon to settle something.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct Demo<'a> {
    pub(crate) client: Client,
    pub(crate) sim: &'a HorizonSim,
    pub(crate) payer: orbitpay_core::AccountId,
    pub(crate) receiver: &'a orbitpay_testkit::receiver::Receiver,
    pub(crate) webhook_secret: &'a str,
}

impl Demo<'_> {
    pub(crate) async fn steps(&self, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
        writeln!(out, "\n1. A session for 12.5 XLM, paid in full")?;
        // What the customer's wallet was handed at creation; a paid session hands out nothing.
        let a_created = self.create("12.5", "demo-order-1").await?;
        let a_id = str_field(&a_created, "id")?;
        writeln!(out, "   created session {a_id}")?;
        writeln!(
            out,
            "   pay: {}",
            a_created["payment_instructions"]["pay_uri"]
                .as_str()
                .unwrap_or("?")
        )?;
        let hash = self.pay(&a_created, 125_000_000)?;
        writeln!(out, "   the customer pays 12.5 XLM (tx {})", short(&hash))?;
        let a = self.wait_session(&a_id, |s| s["status"] == "paid").await?;
        writeln!(out, "   status: {}", self.transitions(&a_id).await?)?;
        writeln!(out, "   received {} XLM", xlm(&a["amount_received"]))?;
        if a["payable"] != false || !a["payment_instructions"].is_null() {
            bail!("the paid session still hands out payment instructions");
        }
        writeln!(out, "   no longer payable: it hands out no pay URI")?;

        writeln!(out, "\n2. An underpayment, topped up")?;
        let b = self.create("10", "demo-order-2").await?;
        let b_id = str_field(&b, "id")?;
        writeln!(out, "   created session {b_id} for 10 XLM")?;
        let hash = self.pay(&b, 40_000_000)?;
        writeln!(out, "   the customer pays 4 XLM (tx {})", short(&hash))?;
        let b_now = self
            .wait_session(&b_id, |s| {
                xlm(&s["amount_received"]) == "4" && s["status"] == "pending"
            })
            .await?;
        writeln!(
            out,
            "   status: {} ({} of 10 XLM received)",
            self.transitions(&b_id).await?,
            xlm(&b_now["amount_received"])
        )?;
        let hash = self.pay(&b, 60_000_000)?;
        writeln!(out, "   the customer tops up 6 XLM (tx {})", short(&hash))?;
        let b_now = self.wait_session(&b_id, |s| s["status"] == "paid").await?;
        writeln!(out, "   status: {}", self.transitions(&b_id).await?)?;
        writeln!(out, "   received {} XLM", xlm(&b_now["amount_received"]))?;

        writeln!(out, "\n3. A duplicate payment to the paid session")?;
        // A wallet re-sending what it was handed at creation.
        let hash = self.pay(&a_created, 125_000_000)?;
        writeln!(
            out,
            "   the customer pays 12.5 XLM again (tx {})",
            short(&hash)
        )?;
        let unmatched = self.wait_unmatched(&hash).await?;
        let a = self.session(&a_id).await?;
        writeln!(
            out,
            "   recorded as unmatched ({}), not credited: session {} still received {} XLM",
            unmatched["reason"].as_str().unwrap_or("?"),
            a["status"].as_str().unwrap_or("?"),
            xlm(&a["amount_received"])
        )?;
        if xlm(&a["amount_received"]) != "12.5" {
            bail!("the duplicate payment was credited: {a}");
        }

        writeln!(out, "\n4. The merchant's webhook for the first session")?;
        self.show_webhook(out, &a_id).await?;
        Ok(())
    }

    /// Waits for `session.paid` of `session_id` at the receiver and verifies it as a merchant
    /// would, with the Standard Webhooks reference library.
    async fn show_webhook(
        &self,
        out: &mut (dyn Write + Send),
        session_id: &str,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        let paid = loop {
            let found = self.receiver.received().into_iter().find(|m| {
                let body = m.json();
                body["type"] == "session.paid" && body["data"]["session_id"] == session_id
            });
            if let Some(m) = found {
                break m;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no session.paid webhook for {session_id} within {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let header = |n: &str| {
            paid.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_owned()
        };
        writeln!(out, "   POST {} arrived", self.receiver.url)?;
        writeln!(out, "   webhook-id: {}", header("webhook-id"))?;
        writeln!(out, "   webhook-timestamp: {}", header("webhook-timestamp"))?;
        writeln!(
            out,
            "   webhook-signature: {}",
            short(&header("webhook-signature"))
        )?;
        let body = paid
            .verify(self.webhook_secret)
            .map_err(|e| anyhow::anyhow!("the webhook did not verify: {e}"))?;
        let session = &body["data"]["session"];
        writeln!(
            out,
            "   verified with the Standard Webhooks reference library: {} (session version {}, {} XLM received)",
            body["type"].as_str().unwrap_or("?"),
            session["version"],
            xlm(&session["amount_received"])
        )?;
        let all = self.receiver.received();
        let bad = all
            .iter()
            .filter(|m| m.verify(self.webhook_secret).is_err())
            .count();
        if bad > 0 {
            bail!("{bad} of {} webhooks did not verify", all.len());
        }
        writeln!(
            out,
            "   {} webhooks received so far, every one verified",
            all.len()
        )?;
        Ok(())
    }

    async fn create(&self, amount: &str, order_id: &str) -> anyhow::Result<Value> {
        let key = uuid::Uuid::new_v4().to_string();
        let response = self
            .client
            .post_json(
                "/v1/sessions",
                &[("Idempotency-Key", key.as_str())],
                &json!({ "amount": amount, "asset": "native", "order_id": order_id }),
            )
            .await?;
        api_json(response, "creating a session")
    }

    async fn session(&self, id: &str) -> anyhow::Result<Value> {
        api_json(
            self.client.get(&format!("/v1/sessions/{id}")).await?,
            "reading a session",
        )
    }

    /// Closes a ledger with a payment of `stroops` to the session's destination and memo.
    fn pay(&self, session: &Value, amount: i64) -> anyhow::Result<String> {
        let instructions = &session["payment_instructions"];
        let destination = str_field(instructions, "destination")?;
        let memo = &instructions["memo"];
        let mut tx = Tx::new(self.payer);
        match memo["type"].as_str() {
            Some("id") => {
                tx = tx.memo_id(
                    str_field(memo, "value")?
                        .parse()
                        .context("memo id is not a u64")?,
                );
            }
            Some("text") => tx = tx.memo_text(str_field(memo, "value")?.into_bytes()),
            Some("none") | None => {}
            Some(other) => bail!("the demo cannot pay with a {other} memo"),
        }
        let destination: orbitpay_core::Address = destination
            .parse()
            .map_err(|e| anyhow::anyhow!("destination {destination}: {e}"))?;
        let closed = self.sim.close_ledger(vec![tx.op(Op::payment(
            self.payer,
            destination,
            Asset::Native,
            stroops(amount),
        ))]);
        Ok(closed
            .txs
            .first()
            .map(|t| t.hash.clone())
            .unwrap_or_default())
    }

    async fn wait_session(&self, id: &str, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let s = self.session(id).await?;
            if done(&s) {
                return Ok(s);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "session {id} did not reach the expected state in {STEP_TIMEOUT:?} \
                     (status {}, received {})",
                    s["status"],
                    xlm(&s["amount_received"])
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_unmatched(&self, tx_hash: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let page = api_json(
                self.client.get("/v1/payments/unmatched?limit=100").await?,
                "listing unmatched payments",
            )?;
            if let Some(found) = page["data"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["tx_hash"] == tx_hash))
            {
                return Ok(found.clone());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("payment {tx_hash} was not recorded as unmatched in {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The session's path through its states, from the outbox event feed.
    async fn transitions(&self, id: &str) -> anyhow::Result<String> {
        let page = api_json(
            self.client.get("/v1/events?limit=500").await?,
            "reading the event feed",
        )?;
        let states: Vec<&str> = page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["session_id"] == id)
            .filter_map(|e| match e["type"].as_str()? {
                "session.created" => Some("pending"),
                "session.processing" => Some("processing"),
                "session.partially_paid" | "session.released" => Some("pending"),
                "session.paid" => Some("paid"),
                "session.expired" => Some("expired"),
                "session.cancelled" => Some("cancelled"),
                _ => None,
            })
            .collect();
        Ok(states.join(" -> "))
    }
}

fn api_json(response: orbitpay_cli::ApiResponse, what: &str) -> anyhow::Result<Value> {
    if !response.is_success() {
        bail!(
            "{what}: HTTP {} {}: {}",
            response.status,
            response.error_code().unwrap_or_default(),
            response.error_message().unwrap_or_default()
        );
    }
    response
        .json()
        .with_context(|| format!("{what}: the answer is not JSON"))
}

fn str_field(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("`{key}` missing in {v}"))
}

/// "12.5000000" -> "12.5".
fn xlm(amount: &Value) -> String {
    let text = amount.as_str().unwrap_or("?");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
