//! `passcom dial` and `passcom hangup`: an operator links the peer to another one at run time,
//! or cuts one off, through the peer's admin API (`POST /admin/dial`, `POST /admin/hangup`).
//!
//! Like the other client commands, each prints one readable line by default and the API's
//! JSON with `--json`; a failure is one line on stderr (the API's problem detail, which says
//! what to fix), or with `--json` one problem object on stderr, and a non-zero exit.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Where the peer is, how to prove you operate it, and how to print.
#[derive(clap::Args, Clone, Debug)]
pub struct OperatorConn {
    /// Base URL of the peer's HTTP API.
    #[arg(long, env = "PASSCOM_URL", default_value = crate::client::DEFAULT_URL)]
    url: String,
    /// Print the API's JSON answer instead of a line (for scripts).
    #[arg(long)]
    json: bool,
    /// The operator token (the contents of operator.token in the peer's data folder).
    #[arg(long, env = "PASSCOM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The peer's data folder, to read operator.token from.
    #[arg(long, value_name = "DIR", conflicts_with = "admin_token")]
    data: Option<PathBuf>,
}

/// The operator's link commands.
#[derive(clap::Subcommand, Debug)]
pub enum OperatorCommand {
    /// Connect the peer to another one at ADDRESS, re-dialled after drops (operator).
    ///
    /// The address joins the peer's bootstrap addresses until it stops. A peer hung up on at
    /// that address (or with that peer id) is let back in.
    #[command(
        after_help = "Examples:\n  passcom dial /ip4/10.0.0.7/tcp/7000 --data ./data/rumos\n  passcom dial /dns4/giro/tcp/7000/p2p/12D3KooW… --data ./data/rumos"
    )]
    Dial {
        /// The other peer's libp2p address (`/ip4/HOST/tcp/PORT` or `/dns4/NAME/tcp/PORT`,
        /// optionally ending in `/p2p/PEER-ID`): see `listen` in its `passcom status --json`.
        address: String,
        #[command(flatten)]
        conn: OperatorConn,
    },
    /// Disconnect a peer, named by airline or peer id, and keep it out (operator).
    ///
    /// Its own re-dials are refused too, until `passcom dial` names its address (or peer id)
    /// or `passcom heal` names its airline (or all).
    #[command(after_help = "Example: passcom hangup giro --data ./data/rumos")]
    Hangup {
        /// An airline name (`giro`) or a libp2p peer id (`12D3KooW…`).
        peer: String,
        #[command(flatten)]
        conn: OperatorConn,
    },
}

/// A failed command: the HTTP status if the peer answered, a one-line detail, and the
/// problem object printed under `--json` (at least `reason`, `detail`, `title`).
struct Failure {
    status: Option<u16>,
    detail: String,
    problem: Value,
}

impl Failure {
    /// A failure found here, before or without an answer of the peer.
    fn local(reason: &str, detail: String) -> Failure {
        Failure {
            status: None,
            problem: json!({
                "type": format!("urn:passcom:problem:cli:{reason}"),
                "title": "Refused",
                "reason": reason,
                "detail": detail,
            }),
            detail,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(st) = self.status {
            let name = ureq::http::StatusCode::from_u16(st)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("");
            write!(f, "{st} {name}: ")?;
        }
        write!(f, "{}", self.detail)
    }
}

/// Runs an operator command and prints its outcome: the answer on stdout, or on failure one
/// line on stderr (or one problem object under `--json`) and a failure exit code.
///
/// Errors: none (every failure is printed here, so that `--json` applies to it).
pub fn run(cmd: OperatorCommand) -> Result<ExitCode, String> {
    let conn = match &cmd {
        OperatorCommand::Dial { conn, .. } | OperatorCommand::Hangup { conn, .. } => conn.clone(),
    };
    let result = match cmd {
        OperatorCommand::Dial { address, conn } => {
            call(&conn, "/admin/dial", json!({"address": address})).map(|v| {
                let who = v["airline"].as_str().unwrap_or("a peer");
                let line = format!(
                    "{}: connected to {who} ({}) at {address}; it is re-dialled after drops",
                    v["status"]["airline"].as_str().unwrap_or("this peer"),
                    v["peer_id"].as_str().unwrap_or("?")
                );
                (v, line)
            })
        }
        OperatorCommand::Hangup { peer, conn } => {
            call(&conn, "/admin/hangup", json!({"peer": peer})).map(|v| {
                let who = v["airline"].as_str().unwrap_or(&peer).to_owned();
                let line = format!(
                    "{}: hung up on {who} ({}); it stays out until `passcom dial` names its address or `passcom heal {who}`",
                    v["status"]["airline"].as_str().unwrap_or("this peer"),
                    v["peer_id"].as_str().unwrap_or("?")
                );
                (v, line)
            })
        }
    };
    use std::io::Write;
    match result {
        Ok((v, line)) => {
            let text = if conn.json {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            } else {
                line
            };
            // A closed pipe is not an error worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            let line = if conn.json {
                f.problem.to_string()
            } else {
                format!("passcom: {f}")
            };
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The operator token: `--admin-token` (or `PASSCOM_ADMIN_TOKEN`), else `operator.token` in
/// `--data`.
fn admin_token(conn: &OperatorConn) -> Result<String, Failure> {
    if let Some(t) = &conn.admin_token {
        return Ok(t.trim().to_owned());
    }
    let Some(dir) = &conn.data else {
        return Err(Failure::local(
            "no_operator_token",
            "this is an operator command: pass --admin-token, set PASSCOM_ADMIN_TOKEN, or pass --data DIR".into(),
        ));
    };
    let p = dir.join("operator.token");
    std::fs::read_to_string(&p)
        .map(|t| t.trim().to_owned())
        .map_err(|e| {
            Failure::local(
                "no_operator_token",
                format!(
                    "cannot read {}: {e}; is --data the peer's data folder?",
                    p.display()
                ),
            )
        })
}

/// POSTs `body` to `path` with the operator token; returns the JSON answer or the problem.
fn call(conn: &OperatorConn, path: &str, body: Value) -> Result<Value, Failure> {
    let token = admin_token(conn)?;
    let base = conn.url.trim_end_matches('/');
    let url = format!("{base}{path}");
    // Longer than the peer's own bound on a dial (10 s), so the peer answers first.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent
        .post(&url)
        .header("Authorization", format!("Bearer {token}"))
        .send_json(&body)
        .map_err(|e| {
            Failure::local(
                "unreachable",
                format!("cannot reach the peer at {base} ({e}); is it running? set --url"),
            )
        })?;
    let status = resp.status();
    let text = resp.body_mut().read_to_string().map_err(|e| {
        Failure::local(
            "unreachable",
            format!("the peer's answer could not be read: {e}; retry"),
        )
    })?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    if status.is_success() {
        return Ok(v);
    }
    let detail = v["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| text.trim().to_owned());
    let reason = v["reason"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http_{}", status.as_u16()));
    let mut problem = match v {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    problem["reason"] = json!(reason);
    problem["detail"] = json!(detail);
    problem["status"] = json!(status.as_u16());
    if problem.get("title").is_none() {
        problem["title"] = json!(status.canonical_reason().unwrap_or("Error"));
    }
    Err(Failure {
        status: Some(status.as_u16()),
        detail,
        problem,
    })
}
