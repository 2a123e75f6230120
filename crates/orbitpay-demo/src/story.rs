//! The story the demo tells over the admin socket: a session paid in full, an underpayment
//! topped up, a duplicate recorded rather than credited, an overpayment refunded.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use orbitpay_cli::Client;
use orbitpay_core::{Asset, Memo};
use orbitpay_horizon_sim::{HorizonSim, Op, Tx, stroops};
use serde_json::{Value, json};

/// Bound on each wait for the daemon to settle something.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct Demo<'a> {
    pub(crate) client: Client,
    pub(crate) sim: &'a HorizonSim,
    pub(crate) payer: orbitpay_core::AccountId,
    /// The merchant account: the demo plays the merchant signing and sending the refund.
    pub(crate) shop: orbitpay_core::AccountId,
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

        writeln!(out, "\n5. An overpayment, refunded")?;
        self.refund_overpayment(out).await?;
        Ok(())
    }

    /// A session paid 7 XLM for 5, its overpaid 2 XLM refunded through the admin API, the
    /// merchant "signing" the refund (the simulator takes no signatures: the demo posts the
    /// refund's payment itself), and the ledger completing it.
    async fn refund_overpayment(&self, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
        let c = self.create("5", "demo-order-5").await?;
        let c_id = str_field(&c, "id")?;
        writeln!(out, "   created session {c_id} for 5 XLM")?;
        let paying = self.pay(&c, 70_000_000)?;
        writeln!(out, "   the customer pays 7 XLM (tx {})", short(&paying))?;
        let c_now = self
            .wait_session(&c_id, |s| s["status"] == "paid" && s["overpaid"] == true)
            .await?;
        writeln!(
            out,
            "   status: paid, overpaid ({} XLM received)",
            xlm(&c_now["amount_received"])
        )?;

        let key = uuid::Uuid::new_v4().to_string();
        let refund = api_json(
            self.client
                .post_json(
                    "/v1/refunds",
                    &[("Idempotency-Key", key.as_str())],
                    &json!({ "session_id": c_id }),
                )
                .await?,
            "creating a refund",
        )?;
        let refund_id = str_field(&refund, "id")?;
        writeln!(
            out,
            "   refund {refund_id}: {} XLM to the payer, {}",
            xlm(&refund["amount"]),
            refund["status"].as_str().unwrap_or("?")
        )?;
        writeln!(out, "   sign: {}", str_field(&refund, "sep7_uri")?)?;

        let hash = self.send_refund(&refund, &paying)?;
        writeln!(
            out,
            "   the merchant signs and sends it (tx {})",
            short(&hash)
        )?;
        let done = self.wait_refund(&refund_id).await?;
        writeln!(
            out,
            "   refund completed: tx {} closed at {}",
            short(done["tx_hash"].as_str().unwrap_or("?")),
            done["closed_at"].as_str().unwrap_or("?")
        )?;
        if done["tx_hash"] != hash.as_str() {
            bail!("the refund completed with another transaction: {done}");
        }

        let completed = self
            .webhook("refund.completed", |body| {
                body["data"].to_string().contains(&refund_id)
            })
            .await?;
        let body = completed
            .verify(self.webhook_secret)
            .map_err(|e| anyhow::anyhow!("the refund.completed webhook did not verify: {e}"))?;
        writeln!(
            out,
            "   webhook {} arrived and verified",
            body["type"].as_str().unwrap_or("?")
        )?;
        Ok(())
    }

    /// Closes a ledger with the refund's payment, as the merchant's wallet would send it:
    /// from the merchant to the payer, in the refund's asset, amount and `MEMO_RETURN`.
    fn send_refund(&self, refund: &Value, paying_tx: &str) -> anyhow::Result<String> {
        if refund["asset"] != "native" {
            bail!("the demo refunds XLM only: {refund}");
        }
        let memo = &refund["memo"];
        if memo["type"] != "return" {
            bail!("the refund's memo is not MEMO_RETURN: {memo}");
        }
        let returned: [u8; 32] = hex::decode(str_field(memo, "value")?)
            .context("the MEMO_RETURN is not hex")?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the MEMO_RETURN is not 32 bytes"))?;
        if hex::encode(returned) != paying_tx {
            bail!("the MEMO_RETURN is not the paying transaction {paying_tx}: {memo}");
        }
        let amount: orbitpay_core::Amount = str_field(refund, "amount")?
            .parse()
            .map_err(|e| anyhow::anyhow!("refund amount: {e:?}"))?;
        let destination = str_field(refund, "destination")?;
        let destination: orbitpay_core::Address = destination
            .parse()
            .map_err(|e| anyhow::anyhow!("destination {destination}: {e}"))?;
        let tx = Tx::new(self.shop)
            .memo(Memo::Return(returned))
            .op(Op::payment(
                self.shop,
                destination,
                Asset::Native,
                stroops(amount.stroops()),
            ));
        let closed = self.sim.close_ledger(vec![tx]);
        Ok(closed
            .txs
            .first()
            .map(|t| t.hash.clone())
            .unwrap_or_default())
    }

    async fn wait_refund(&self, id: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let r = api_json(
                self.client.get(&format!("/v1/refunds/{id}")).await?,
                "reading a refund",
            )?;
            if r["status"] == "completed" {
                return Ok(r);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "refund {id} did not complete in {STEP_TIMEOUT:?} (status {})",
                    r["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a webhook of type `kind` whose body `matches` at the receiver.
    async fn webhook(
        &self,
        kind: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<orbitpay_testkit::receiver::Received> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let found = self.receiver.received().into_iter().find(|m| {
                let body = m.json();
                body["type"] == kind && matches(&body)
            });
            if let Some(m) = found {
                return Ok(m);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no {kind} webhook within {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for `session.paid` of `session_id` at the receiver and verifies it as a merchant
    /// would, with the Standard Webhooks reference library.
    async fn show_webhook(
        &self,
        out: &mut (dyn Write + Send),
        session_id: &str,
    ) -> anyhow::Result<()> {
        let paid = self
            .webhook("session.paid", |body| {
                body["data"]["session_id"] == session_id
            })
            .await?;
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
