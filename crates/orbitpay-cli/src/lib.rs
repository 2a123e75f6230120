//! The `orbitpay` admin subcommands: a client for the daemon's admin socket.
//!
//! The `orbitpay` binary mounts [`Command`] into its own subcommands (`#[command(flatten)]`),
//! resolves the socket ([`resolve_socket`]: `--socket`, else the config's `admin.socket`) and
//! calls [`run`]. [`Cli`] is the same thing as a standalone parser.
//!
//! Output is a human table by default and the API's JSON with `--json`. A failure exits
//! non-zero and prints the API's error code (`error: SESSION_NOT_FOUND: ...`).
//!
//! Every resource reads the same way: `orbitpay RESOURCE list [filters]` and
//! `orbitpay RESOURCE show ID`, beside its own actions (`sessions cancel`, `webhooks retry`).
//! Each resource is a module whose command enum has `List` and `Show` and turns itself into a
//! [`Call`]: the request and the view of its answer. A new resource (accounts, refunds) is one
//! more such module and one more [`Command`] variant. Spellings from before the verbs were
//! uniform keep working: a bare `events` or `payments unmatched` lists ([`ListByDefault`]).

pub mod accounts;
pub mod client;
pub mod events;
pub mod payments;
pub mod refunds;
pub mod render;
pub mod sessions;
mod timeline;
pub mod ui;
pub mod webhooks;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, FromArgMatches, Parser, Subcommand};
use serde_json::Value;

pub use client::{ApiResponse, Client, ClientError, Method};

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
    Sessions(sessions::SessionsCommand),
    /// The watched accounts: add, list, remove.
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
    /// Payments that need a person: unmatched ones and unreadable records.
    #[command(subcommand)]
    Payments(payments::PaymentsCommand),
    /// Refunds: unsigned transactions the merchant signs in their own wallet.
    #[command(subcommand)]
    Refunds(refunds::RefundsCommand),
    /// The outbox event feed (a bare `events` lists; `events redeliver ID` sends one again).
    Events(ListByDefault<events::EventsCommand, events::FeedArgs>),
    /// The webhook delivery queue.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Daemon status: ingestion per account, session counts, outbox depth.
    Status,
    /// The operator page in a browser: a loopback proxy to the socket's `/ui/`, printing a
    /// URL with a one-time token.
    Ui(ui::UiArgs),
}

/// A resource group whose bare form (no verb) lists, with the list's flags: how `events` and
/// `payments unmatched` were spelled before every resource had `list` and `show`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ListByDefault<C: Subcommand + FromArgMatches, L: Args + FromArgMatches> {
    #[command(subcommand)]
    pub command: Option<C>,
    /// With no verb: `list` with these flags.
    #[command(flatten)]
    pub list: L,
}

/// A command enum with a `List` verb taking `L`.
pub trait Lists<L> {
    fn list(args: L) -> Self;
}

impl<C, L> ListByDefault<C, L>
where
    C: Subcommand + FromArgMatches + Lists<L> + Clone,
    L: Args + FromArgMatches + Clone,
{
    /// The verb asked for, `list` when none was.
    pub fn command(&self) -> C {
        self.command
            .clone()
            .unwrap_or_else(|| C::list(self.list.clone()))
    }
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
    if let Command::Ui(args) = command {
        return ui::run(args, socket, out, err).await;
    }
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

pub(crate) enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

pub(crate) type View = fn(&mut dyn Write, &Value) -> std::io::Result<()>;

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
pub(crate) fn segment(s: &str) -> String {
    encode(s)
}

/// What a command asks of the daemon, and how its answer is shown.
pub(crate) struct Call {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
    view: View,
}

impl Call {
    pub(crate) fn get(path: String, view: View) -> Call {
        Call {
            method: Method::GET,
            path,
            headers: Vec::new(),
            body: None,
            view,
        }
    }

    pub(crate) fn post(path: String, body: Value, view: View) -> Call {
        Call {
            method: Method::POST,
            body: Some(body),
            ..Call::get(path, view)
        }
    }

    pub(crate) fn delete(path: String, view: View) -> Call {
        Call {
            method: Method::DELETE,
            ..Call::get(path, view)
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: String) -> Call {
        self.headers.push((name, value));
        self
    }
}

impl Command {
    /// The request this command makes; `err` gets what the user must see before the answer
    /// (a generated idempotency key).
    pub(crate) fn call(&self, err: &mut dyn Write) -> Result<Call, Failure> {
        Ok(match self {
            Command::Sessions(c) => c.call(err)?,
            Command::Accounts(c) => c.call(),
            Command::Payments(c) => c.call(),
            Command::Refunds(c) => c.call(err)?,
            Command::Events(c) => c.command().call(),
            Command::Webhooks(c) => c.call(),
            Command::Status => Call::get("/v1/status".to_owned(), render::status),
            Command::Ui(_) => {
                return Err(Failure::Usage(
                    "`ui` serves a page; it is not one request".to_owned(),
                ));
            }
        })
    }
}

async fn execute(
    client: &Client,
    command: &Command,
    err: &mut dyn Write,
) -> Result<(ApiResponse, View), Failure> {
    let call = command.call(err)?;
    let headers: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = call
        .body
        .as_ref()
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let response = client.send(call.method, &call.path, &headers, body).await?;
    Ok((response, call.view))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "0194f0f0-0000-7000-8000-000000000000";

    /// The request a command line makes: method and path with its query.
    fn request(line: &str) -> (Method, String) {
        let cli = Cli::try_parse_from(line.split(' ')).unwrap_or_else(|e| panic!("{line}: {e}"));
        let call = cli
            .command
            .call(&mut Vec::new())
            .unwrap_or_else(|_| panic!("{line}"));
        (call.method, call.path)
    }

    #[test]
    fn accounts_are_added_listed_and_removed() {
        const G: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";
        for (line, expected) in [
            (
                format!("orbitpay accounts add {G}"),
                (Method::POST, "/v1/accounts".to_owned()),
            ),
            (
                "orbitpay accounts list --limit 2".to_owned(),
                (Method::GET, "/v1/accounts?limit=2".to_owned()),
            ),
            (
                format!("orbitpay accounts remove {G} --expire-open"),
                (Method::DELETE, format!("/v1/accounts/{G}?expire_open=true")),
            ),
            (
                format!("orbitpay accounts remove {G}"),
                (Method::DELETE, format!("/v1/accounts/{G}")),
            ),
        ] {
            assert_eq!(request(&line), expected, "{line}");
        }
    }

    #[test]
    fn every_resource_lists_and_shows() {
        let get = |p: &str| (Method::GET, p.to_owned());
        for (line, expected) in [
            (
                "orbitpay sessions list --status processing",
                get("/v1/sessions?status=processing"),
            ),
            ("orbitpay sessions show S", get("/v1/sessions/S/timeline")),
            ("orbitpay events list --after 5", get("/v1/events?after=5")),
            (
                &format!("orbitpay events show {EVENT}"),
                get(&format!("/v1/events/{EVENT}")),
            ),
            (
                "orbitpay webhooks list --status dead",
                get("/v1/webhooks/deliveries?status=dead"),
            ),
            ("orbitpay webhooks show 7", get("/v1/webhooks/deliveries/7")),
            (
                "orbitpay payments unmatched list --limit 2",
                get("/v1/payments/unmatched?limit=2"),
            ),
            (
                "orbitpay payments unmatched show 3",
                get("/v1/payments/unmatched/3"),
            ),
            (
                "orbitpay payments unreadable list --account GABC",
                get("/v1/payments/unreadable?account=GABC"),
            ),
            (
                "orbitpay payments unreadable show GABC 42",
                get("/v1/payments/unreadable/GABC/42"),
            ),
            (
                "orbitpay refunds list --limit 2",
                get("/v1/refunds?limit=2"),
            ),
            ("orbitpay refunds show R --qr", get("/v1/refunds/R")),
        ] {
            assert_eq!(request(line), expected, "{line}");
        }
    }

    #[test]
    fn the_spellings_from_before_the_verbs_make_the_same_requests() {
        for (old, new) in [
            ("orbitpay events", "orbitpay events list"),
            (
                "orbitpay events --after 5 --limit 2",
                "orbitpay events list --after 5 --limit 2",
            ),
            (
                "orbitpay payments unmatched",
                "orbitpay payments unmatched list",
            ),
            (
                "orbitpay payments unmatched --after 5",
                "orbitpay payments unmatched list --after 5",
            ),
            (
                "orbitpay payments unreadable",
                "orbitpay payments unreadable list",
            ),
            (
                "orbitpay payments unreadable --account GABC --limit 5",
                "orbitpay payments unreadable list --account GABC --limit 5",
            ),
        ] {
            assert_eq!(request(old), request(new), "{old}");
        }
    }

    #[test]
    fn a_refund_names_one_source_and_its_memo_whole() {
        let post = |p: &str| (Method::POST, p.to_owned());
        assert_eq!(
            request("orbitpay refunds create --unmatched 42"),
            post("/v1/refunds")
        );
        assert_eq!(
            request("orbitpay refunds prepare R"),
            post("/v1/refunds/R/prepare")
        );
        for bad in [
            "orbitpay refunds create",
            "orbitpay refunds create --unmatched 1 --session S",
            "orbitpay refunds create --unmatched 1 --memo 7",
        ] {
            assert!(Cli::try_parse_from(bad.split(' ')).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bare_group_takes_no_verb_and_flags_together() {
        assert!(Cli::try_parse_from(["orbitpay", "events", "--after", "5", "list"]).is_err());
    }

    #[test]
    fn the_documented_command_lines_parse() {
        for line in [
            "orbitpay sessions create --amount 12.5 --asset native --expires-in 15m --order-id X --idempotency-key K",
            "orbitpay sessions show 0194f0f0-0000-7000-8000-000000000000",
            "orbitpay sessions list --status processing",
            "orbitpay sessions cancel ID",
            "orbitpay sessions report-tx ID HASH",
            "orbitpay payments unmatched",
            "orbitpay payments unmatched list --after 3",
            "orbitpay payments unmatched show 3",
            "orbitpay payments unreadable --account GABC --limit 5",
            "orbitpay payments unreadable show GABC 42",
            "orbitpay events",
            "orbitpay events --after 5",
            "orbitpay events list --limit 10",
            "orbitpay events show 0194f0f0-0000-7000-8000-000000000000",
            "orbitpay events redeliver 0194f0f0-0000-7000-8000-000000000000",
            "orbitpay webhooks list --status dead",
            "orbitpay webhooks show 7",
            "orbitpay webhooks retry 7",
            "orbitpay webhooks enable --url https://shop.example/hook",
            "orbitpay status --json --socket /tmp/x.sock",
            "orbitpay refunds create --unmatched 42 --qr",
            "orbitpay refunds create --session S --amount 2.5 --claimable-balance",
            "orbitpay refunds create --unmatched 42 --destination G --memo-type id --memo 1234567",
            "orbitpay refunds prepare R --qr",
            "orbitpay refunds cancel R",
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
