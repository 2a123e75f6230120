//! The `orbitpay` admin subcommands: a client for the daemon's admin socket.
//!
//! The `orbitpay` binary mounts [`Command`] into its own subcommands (`#[command(flatten)]`),
//! resolves the socket ([`resolve_socket`]: `--socket`, else the config's `admin.socket`) and
//! calls [`run`]. [`Cli`] is the same thing as a standalone parser.
//!
//! Output is a human table by default and the API's JSON with `--json`. A failure exits
//! non-zero and prints the API's error code (`error: SESSION_NOT_FOUND: ...`).

pub mod client;
pub mod events;
pub mod payments;
pub mod render;
pub mod webhooks;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

pub use client::{ApiResponse, Client, ClientError};

/// Where the daemon listens when neither `--socket` nor the config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/orbitpay/admin.sock";

/// Exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    /// The API answered an error.
    pub const API_ERROR: i32 = 1;
    /// Bad arguments.
    pub const USAGE: i32 = 2;
    /// The socket could not be reached.
    pub const UNREACHABLE: i32 = 3;
}

/// Options shared by every admin subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// The admin socket (default: `admin.socket` from the configuration).
    #[arg(
        long,
        global = true,
        env = "ORBITPAY_ADMIN_SOCKET",
        value_name = "PATH"
    )]
    pub socket: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Standalone parser: `orbitpay [--socket PATH] [--json] <command>`.
#[derive(Debug, Parser)]
#[command(name = "orbitpay", about = "orbitpay admin client")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Payment sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Payments.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// The outbox event feed (`events redeliver ID` sends one again).
    Events(EventsArgs),
    /// The webhook delivery queue.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Daemon status: ingestion per account, session counts, outbox depth.
    Status,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SessionsCommand {
    /// Create a session.
    Create(CreateArgs),
    /// Show a session and its payments.
    Show { id: String },
    /// List sessions, newest first.
    List(ListArgs),
    /// Cancel a pending session.
    Cancel { id: String },
    /// Report the transaction that pays a session.
    ReportTx {
        id: String,
        /// The transaction hash (64 hex characters).
        hash: String,
        /// Default: derived from the session and the hash, so a retry is idempotent.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Decimal amount, at most 7 decimals (e.g. 12.5).
    #[arg(long)]
    pub amount: String,
    /// `native` or `CODE:ISSUER`.
    #[arg(long)]
    pub asset: String,
    /// The receiving account (default: the first watched account).
    #[arg(long)]
    pub account: Option<String>,
    /// Lifetime, e.g. `15m` (default: the daemon's).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub expires_in: Option<Duration>,
    #[arg(long)]
    pub order_id: Option<String>,
    /// A JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Generated (and printed) when not given; reuse it to retry safely.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// pending, processing, paid, expired or cancelled.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub order_id: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
    /// The last id of the previous page.
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PaymentsCommand {
    /// Payments that credited no session.
    Unmatched(FeedArgs),
    /// Ledger records stored because they could not be read, awaiting reconciliation.
    Unreadable(UnreadableArgs),
}

#[derive(Debug, Clone, Args)]
pub struct UnreadableArgs {
    /// Only this watched account's records.
    #[arg(long)]
    pub account: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    #[command(flatten)]
    pub feed: FeedArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// Send an event's webhook again (same webhook-id), delivered or dead alike.
    Redeliver { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    #[arg(long)]
    pub after: Option<i64>,
    #[arg(long)]
    pub limit: Option<u32>,
}

/// `--socket` when given, else what the configuration names, else [`DEFAULT_SOCKET`].
pub fn resolve_socket(
    explicit: Option<PathBuf>,
    from_config: impl FnOnce() -> Option<PathBuf>,
) -> PathBuf {
    explicit
        .or_else(from_config)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Runs one command against the socket, writing results to `out` and errors to `err`;
/// returns the process exit code.
pub async fn run(
    command: &Command,
    socket: &Path,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let client = match Client::new(socket) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: CLIENT: {e}");
            return exit::UNREACHABLE;
        }
    };
    match execute(&client, command, err).await {
        Err(Failure::Usage(msg)) => {
            let _ = writeln!(err, "error: USAGE: {msg}");
            exit::USAGE
        }
        Err(Failure::Client(e)) => {
            let _ = writeln!(err, "error: CONNECTION_FAILED: {e}");
            exit::UNREACHABLE
        }
        Ok((response, view)) if response.is_success() => {
            let written = match response.json() {
                Some(body) if !json => view(out, &body),
                _ => out.write_all(&response.body).and_then(|()| writeln!(out)),
            };
            if let Err(e) = written {
                let _ = writeln!(err, "error: OUTPUT: {e}");
                return exit::API_ERROR;
            }
            exit::OK
        }
        Ok((response, _)) => {
            let code = response
                .error_code()
                .unwrap_or_else(|| format!("HTTP_{}", response.status));
            let message = response.error_message().unwrap_or_default();
            if json {
                let _ = out.write_all(&response.body).and_then(|()| writeln!(out));
            }
            let _ = writeln!(err, "error: {code}: {message}");
            exit::API_ERROR
        }
    }
}

enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

type View = fn(&mut dyn Write, &Value) -> std::io::Result<()>;

fn report_view(out: &mut dyn Write, v: &Value) -> std::io::Result<()> {
    writeln!(out, "outcome: {}", render::cell(v.get("outcome")))?;
    render::session(out, v)
}

pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A path segment from user input (ids are UUIDs; anything else is sent encoded and the
/// daemon answers 404).
fn segment(s: &str) -> String {
    encode(s)
}

async fn execute(
    client: &Client,
    command: &Command,
    err: &mut dyn Write,
) -> Result<(ApiResponse, View), Failure> {
    Ok(match command {
        Command::Sessions(SessionsCommand::Create(args)) => {
            let key = match &args.idempotency_key {
                Some(k) => k.clone(),
                None => {
                    let k = uuid::Uuid::new_v4().to_string();
                    let _ = writeln!(err, "Idempotency-Key: {k}");
                    k
                }
            };
            let mut body = json!({ "amount": args.amount, "asset": args.asset });
            if let Some(a) = &args.account {
                body["account"] = json!(a);
            }
            if let Some(d) = args.expires_in {
                body["expires_in"] = json!(d.as_secs());
            }
            if let Some(o) = &args.order_id {
                body["order_id"] = json!(o);
            }
            if let Some(m) = &args.metadata {
                body["metadata"] = serde_json::from_str(m)
                    .map_err(|e| Failure::Usage(format!("--metadata is not JSON: {e}")))?;
            }
            if let Some(u) = &args.webhook_url {
                body["webhook_url"] = json!(u);
            }
            let response = client
                .post_json("/v1/sessions", &[("Idempotency-Key", &key)], &body)
                .await?;
            (response, render::session as View)
        }
        Command::Sessions(SessionsCommand::Show { id }) => (
            client.get(&format!("/v1/sessions/{}", segment(id))).await?,
            render::session as View,
        ),
        Command::Sessions(SessionsCommand::List(args)) => {
            let q = query(&[
                ("status", args.status.clone()),
                ("order_id", args.order_id.clone()),
                ("limit", args.limit.map(|l| l.to_string())),
                ("after", args.after.clone()),
            ]);
            (
                client.get(&format!("/v1/sessions{q}")).await?,
                render::session_list as View,
            )
        }
        Command::Sessions(SessionsCommand::Cancel { id }) => {
            let response = client
                .post_json(
                    &format!("/v1/sessions/{}/cancel", segment(id)),
                    &[],
                    &json!({}),
                )
                .await?;
            (response, render::session as View)
        }
        Command::Sessions(SessionsCommand::ReportTx {
            id,
            hash,
            idempotency_key,
        }) => {
            let key = idempotency_key
                .clone()
                .unwrap_or_else(|| format!("report-tx:{id}:{}", hash.to_lowercase()));
            let response = client
                .post_json(
                    &format!("/v1/sessions/{}/payments", segment(id)),
                    &[("Idempotency-Key", &key)],
                    &json!({ "tx_hash": hash }),
                )
                .await?;
            (response, report_view as View)
        }
        Command::Payments(PaymentsCommand::Unmatched(args)) => {
            let q = query(&[
                ("after", args.after.map(|a| a.to_string())),
                ("limit", args.limit.map(|l| l.to_string())),
            ]);
            (
                client.get(&format!("/v1/payments/unmatched{q}")).await?,
                payments::unmatched_list as View,
            )
        }
        Command::Payments(PaymentsCommand::Unreadable(args)) => {
            let q = query(&[
                ("account", args.account.clone()),
                ("limit", args.limit.map(|l| l.to_string())),
            ]);
            (
                client.get(&format!("/v1/payments/unreadable{q}")).await?,
                payments::unreadable_list as View,
            )
        }
        Command::Events(EventsArgs {
            command: Some(EventsCommand::Redeliver { id }),
            ..
        }) => (
            client
                .post_json(
                    &format!("/v1/events/{}/redeliver", segment(id)),
                    &[],
                    &json!({}),
                )
                .await?,
            webhooks::delivery_list as View,
        ),
        Command::Webhooks(command) => {
            let (method, path, body) = webhooks::request(command);
            let response = match body {
                Some(b) if method == "POST" => client.post_json(&path, &[], &b).await?,
                _ => client.get(&path).await?,
            };
            let view = match command {
                webhooks::WebhooksCommand::List(_) => webhooks::delivery_list as View,
                webhooks::WebhooksCommand::Enable { .. } => webhooks::enabled as View,
                _ => webhooks::delivery as View,
            };
            (response, view)
        }
        Command::Events(EventsArgs { feed: args, .. }) => {
            let q = query(&[
                ("after", args.after.map(|a| a.to_string())),
                ("limit", args.limit.map(|l| l.to_string())),
            ]);
            (
                client.get(&format!("/v1/events{q}")).await?,
                events::event_list as View,
            )
        }
        Command::Status => (client.get("/v1/status").await?, render::status as View),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_command_lines_parse() {
        for line in [
            "orbitpay sessions create --amount 12.5 --asset native --expires-in 15m --order-id X --idempotency-key K",
            "orbitpay sessions show 0194f0f0-0000-7000-8000-000000000000",
            "orbitpay sessions list --status processing",
            "orbitpay sessions cancel ID",
            "orbitpay sessions report-tx ID HASH",
            "orbitpay payments unmatched",
            "orbitpay payments unreadable --account GABC --limit 5",
            "orbitpay events",
            "orbitpay events --after 5",
            "orbitpay events redeliver 0194f0f0-0000-7000-8000-000000000000",
            "orbitpay webhooks list --status dead",
            "orbitpay webhooks show 7",
            "orbitpay webhooks retry 7",
            "orbitpay webhooks enable --url https://shop.example/hook",
            "orbitpay status --json --socket /tmp/x.sock",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    #[test]
    fn socket_resolution_prefers_the_flag() {
        assert_eq!(
            resolve_socket(Some("/a".into()), || Some("/b".into())),
            PathBuf::from("/a")
        );
        assert_eq!(
            resolve_socket(None, || Some("/b".into())),
            PathBuf::from("/b")
        );
        assert_eq!(resolve_socket(None, || None), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query(&[("order_id", Some("a b&c".into())), ("x", None)]),
            "?order_id=a%20b%26c"
        );
    }
}
