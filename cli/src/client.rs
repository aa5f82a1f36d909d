//! Client and admin commands against a peer's HTTP API: search, accounts, purchases, tickets,
//! and the operator's status, partition, heal and catalog edits.
//!
//! Every command prints a readable table by default and the API's JSON with `--json`; an
//! error is one line on stderr (the API's problem detail, which says what to fix), or with
//! `--json` one problem object on stderr (at least `reason`, `detail`, `title`), and a
//! non-zero exit.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The client commands' default `--url`: the address `passcom peer` listens on by default
/// ([`crate::peer::DEFAULT_HTTP_ADDR`]) and the demo's rumos.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8081";

/// Where the peer is and how to print.
#[derive(clap::Args, Clone, Debug)]
pub struct Conn {
    /// Base URL of the peer's HTTP API.
    #[arg(long, env = "PASSCOM_URL", default_value = DEFAULT_URL)]
    url: String,
    /// Print the API's JSON answer instead of a table (for scripts).
    #[arg(long)]
    json: bool,
}

/// Where the traveler's session token is kept.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionOpt {
    /// File holding the session token [default: ~/.config/passcom/session].
    #[arg(long, env = "PASSCOM_SESSION", value_name = "FILE")]
    session: Option<PathBuf>,
}

/// How to prove you operate the peer.
#[derive(clap::Args, Clone, Debug)]
pub struct AdminOpt {
    /// The operator token (the contents of operator.token in the peer's data folder).
    #[arg(long, env = "PASSCOM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The peer's data folder, to read operator.token from.
    #[arg(long, value_name = "DIR", conflicts_with = "admin_token")]
    data: Option<PathBuf>,
}

/// The orders `passcom routes --sort` offers (the API's `sort` parameter).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Cheapest first.
    Price,
    /// Shortest total travel time first.
    Duration,
    /// Fewest legs first.
    Legs,
}

impl Sort {
    /// The value of the API's `sort` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Price => "price",
            Sort::Duration => "duration",
            Sort::Legs => "legs",
        }
    }
}

/// A failed client command: what `passcom` prints on stderr before it exits non-zero.
///
/// Without `--json` it is one line ([`std::fmt::Display`]); with `--json` it is one JSON
/// object ([`Failure::to_json`]): the API's problem document when the peer refused, or a
/// problem of the same shape made here (peer unreachable, not logged in, bad argument).
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status of the peer's answer; `None` when the failure happened before an answer.
    pub status: Option<u16>,
    /// A stable machine-readable word, such as `holder_unreachable` or `unreachable`.
    pub reason: String,
    /// What went wrong and what to do.
    pub detail: String,
    /// The other fields of the JSON form: the API's problem document when there was one
    /// (`type`, `title`, `status`…), and extras such as `idempotency_key` or `retry_after`.
    pub fields: serde_json::Map<String, Value>,
    /// What the one-line form adds after the detail (such as a retry hint).
    pub hint: Option<String>,
}

impl Failure {
    /// A failure found by the CLI itself (no answer from the peer): `reason` is a stable word,
    /// `detail` says what to do.
    pub fn local(reason: &str, detail: impl Into<String>) -> Failure {
        let title = match reason {
            "unreachable" => "Peer unreachable",
            "not_logged_in" => "Not logged in",
            "no_operator_token" => "Operator token needed",
            "no_password" => "Password needed",
            "invalid_argument" => "Invalid argument",
            _ => "Command failed",
        };
        let mut fields = serde_json::Map::new();
        fields.insert("title".into(), json!(title));
        Failure {
            status: None,
            reason: reason.to_owned(),
            detail: detail.into(),
            fields,
            hint: None,
        }
    }

    /// Adds `key: value` to the JSON form.
    pub fn with(mut self, key: &str, value: Value) -> Failure {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// The problem object printed on stderr under `--json`: the API's problem document (RFC
    /// 9457 fields and `reason`) when there was one, else one made here with `type`, `title`,
    /// `reason` and `detail`; plus the extra fields.
    pub fn to_json(&self) -> Value {
        let mut v = self.fields.clone();
        v.entry("type")
            .or_insert_with(|| json!(format!("urn:passcom:problem:cli:{}", self.reason)));
        v.entry("title").or_insert_with(|| json!("Refused"));
        if let Some(st) = self.status {
            v.entry("status").or_insert_with(|| json!(st));
        }
        v.insert("reason".into(), json!(self.reason));
        v.insert("detail".into(), json!(self.detail));
        Value::Object(v)
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
        write!(f, "{}", self.detail)?;
        if let Some(h) = &self.hint {
            write!(f, " {h}")?;
        }
        Ok(())
    }
}

impl From<String> for Failure {
    fn from(detail: String) -> Failure {
        Failure::local("invalid_argument", detail)
    }
}

/// Client subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Search itineraries between two airports, with seats left per leg.
    #[command(after_help = "Example: passcom routes SSA MAO --date 2026-12-01 --sort duration")]
    Routes {
        /// Departure airport (IATA code, such as SSA).
        from: String,
        /// Arrival airport (IATA code, such as MAO).
        to: String,
        /// Date of the first departure, YYYY-MM-DD, in the departure airport's local time
        /// [default: today there].
        #[arg(long)]
        date: Option<String>,
        /// Most legs per itinerary (1 to 5).
        #[arg(long, default_value_t = 3)]
        max_legs: u32,
        /// Order of the itineraries.
        #[arg(long, value_enum, default_value_t = Sort::Price)]
        sort: Sort,
        /// Most itineraries to show (1 to 100).
        #[arg(long, default_value_t = 10)]
        limit: u32,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a traveler account at the peer, and log in.
    Signup {
        /// Account name: 3 to 32 of a-z, 0-9, '.', '_', '-'.
        #[arg(long)]
        name: String,
        /// Password, 8 to 128 characters [default: read from stdin].
        #[arg(long, env = "PASSCOM_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        session: SessionOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Log in and keep the session token for the other commands.
    Login {
        /// Account name.
        #[arg(long)]
        name: String,
        /// Password [default: read from stdin].
        #[arg(long, env = "PASSCOM_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        session: SessionOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// End the session and forget its token.
    Logout {
        #[command(flatten)]
        session: SessionOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Buy an itinerary: all legs or none.
    #[command(
        after_help = "Example: passcom buy --leg RU1000-2026-12-01:14C --leg GI1012-2026-12-01 --passenger 'Ana Lima'\n\
        Retrying with the same --key never buys twice."
    )]
    Buy {
        /// A leg as FLIGHT or FLIGHT:SEAT, in travel order (repeat for each leg).
        #[arg(long = "leg", required = true, value_name = "FLIGHT[:SEAT]")]
        legs: Vec<String>,
        /// The passenger's name.
        #[arg(long)]
        passenger: String,
        /// Idempotency key: the same key returns the same result [default: a new random key].
        #[arg(long)]
        key: Option<String>,
        /// Check out this cart (from the web page's hold).
        #[arg(long, value_name = "HOLD_ID")]
        hold: Option<String>,
        #[command(flatten)]
        session: SessionOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// List your tickets.
    Tickets {
        #[command(flatten)]
        session: SessionOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Cancel one of your tickets (at the peer that sold it).
    Cancel {
        /// The ticket id, as `passcom tickets` shows it.
        ticket: String,
        #[command(flatten)]
        session: SessionOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show the peer's status: peers, vector clock, escrow pools, pending hand-overs (operator).
    Status {
        /// How many upcoming flights' pools to show.
        #[arg(long, default_value_t = 15)]
        flights: u32,
        #[command(flatten)]
        admin: AdminOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Cut the peer off from other airlines, all when none is named (operator).
    Partition {
        /// Airlines to cut off from.
        peers: Vec<String>,
        #[command(flatten)]
        admin: AdminOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Undo a partition, with all airlines when none is named (operator).
    Heal {
        /// Airlines to reconnect with.
        peers: Vec<String>,
        #[command(flatten)]
        admin: AdminOpt,
        #[command(flatten)]
        conn: Conn,
    },
    /// Edit the airline's own flights (operator).
    #[command(subcommand)]
    Flights(FlightsCommand),
}

/// `passcom flights …`
#[derive(clap::Subcommand, Debug)]
pub enum FlightsCommand {
    /// Add a flight, or change one (more rows, new times, --cancelled).
    #[command(
        after_help = "Example: passcom flights add --id RU9000-2026-12-24 --from GRU --to REC \\\n  \
        --departure 2026-12-24T10:00 --arrival 2026-12-24T13:20 --fare-cents 45990 --data ./data/rumos"
    )]
    Add {
        /// Flight id, starting with the airline's code (RU, GI, BO…).
        #[arg(long)]
        id: String,
        /// Departure airport (IATA).
        #[arg(long)]
        from: String,
        /// Arrival airport (IATA).
        #[arg(long)]
        to: String,
        /// Departure, YYYY-MM-DDTHH:MM in UTC.
        #[arg(long)]
        departure: String,
        /// Arrival, YYYY-MM-DDTHH:MM in UTC.
        #[arg(long)]
        arrival: String,
        /// Seat rows.
        #[arg(long, default_value_t = 30)]
        rows: u32,
        /// Seat letters of each row.
        #[arg(long, default_value = "ABCDEF")]
        letters: String,
        /// Fare of one seat, in cents.
        #[arg(long)]
        fare_cents: u64,
        /// Cancel the flight (and its tickets).
        #[arg(long)]
        cancelled: bool,
        /// Seats handed to a partner at creation, as AIRLINE=SEATS (repeatable).
        #[arg(long, value_name = "AIRLINE=SEATS")]
        escrow: Vec<String>,
        #[command(flatten)]
        admin: AdminOpt,
        #[command(flatten)]
        conn: Conn,
    },
}

impl ClientCommand {
    /// Whether the command was given `--json` (so a failure is printed as JSON too).
    pub fn json(&self) -> bool {
        match self {
            ClientCommand::Routes { conn, .. }
            | ClientCommand::Signup { conn, .. }
            | ClientCommand::Login { conn, .. }
            | ClientCommand::Logout { conn, .. }
            | ClientCommand::Buy { conn, .. }
            | ClientCommand::Tickets { conn, .. }
            | ClientCommand::Cancel { conn, .. }
            | ClientCommand::Status { conn, .. }
            | ClientCommand::Partition { conn, .. }
            | ClientCommand::Heal { conn, .. }
            | ClientCommand::Flights(FlightsCommand::Add { conn, .. }) => conn.json,
        }
    }
}

/// Runs a client command and prints its failure, if any, on stderr: one line saying what went
/// wrong and what to do (the API's problem detail, or why the peer could not be reached), or
/// under `--json` one problem object ([`Failure::to_json`]).
///
/// Returns success, or failure after printing why. Errors: none (every failure is printed
/// here, so that `--json` applies to it).
pub fn run(cmd: ClientCommand) -> Result<ExitCode, String> {
    let json = cmd.json();
    match execute(cmd) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(f) => {
            let line = if json {
                f.to_json().to_string()
            } else {
                format!("passcom: {f}")
            };
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs a client command; its output goes to stdout.
fn execute(cmd: ClientCommand) -> Result<(), Failure> {
    match cmd {
        ClientCommand::Routes {
            from,
            to,
            date,
            max_legs,
            sort,
            limit,
            conn,
        } => {
            let mut q = format!(
                "/api/routes?from={}&to={}&max_legs={max_legs}&sort={}&limit={limit}",
                enc(&from),
                enc(&to),
                sort.as_str()
            );
            if let Some(d) = date {
                q.push_str(&format!("&date={}", enc(&d)));
            }
            let v = Api::new(&conn, None).call("GET", &q, None, &[])?;
            print_routes(&conn, &v);
        }
        ClientCommand::Signup {
            name,
            password,
            session,
            conn,
        } => {
            let password = password_or_stdin(password)?;
            let api = Api::new(&conn, None);
            let creds = json!({"name": name, "password": password});
            let acc = api.call("POST", "/api/accounts", Some(&creds), &[])?;
            let s = api.call("POST", "/api/sessions", Some(&creds), &[])?;
            save_session(&session, &conn.url, &s)?;
            out(&conn, &acc, || {
                format!(
                    "created account {} and logged in",
                    acc["account"].as_str().unwrap_or("")
                )
            });
        }
        ClientCommand::Login {
            name,
            password,
            session,
            conn,
        } => {
            let password = password_or_stdin(password)?;
            let s = Api::new(&conn, None).call(
                "POST",
                "/api/sessions",
                Some(&json!({"name": name, "password": password})),
                &[],
            )?;
            let path = save_session(&session, &conn.url, &s)?;
            out(
                &conn,
                &json!({"account": s["account"], "expires": s["expires"]}),
                || {
                    format!(
                        "logged in as {} (session kept in {})",
                        s["account"].as_str().unwrap_or(""),
                        path.display()
                    )
                },
            );
        }
        ClientCommand::Logout { session, conn } => {
            let token = load_session(&session, &conn.url)?;
            Api::new(&conn, Some(token)).call("DELETE", "/api/sessions", None, &[])?;
            let _ = std::fs::remove_file(session_path(&session)?);
            out(&conn, &json!({"logged_out": true}), || "logged out".into());
        }
        ClientCommand::Buy {
            legs,
            passenger,
            key,
            hold,
            session,
            conn,
        } => {
            let token = load_session(&session, &conn.url)?;
            let legs: Vec<Value> = legs
                .iter()
                .map(|l| match l.split_once(':') {
                    Some((f, s)) => json!({"flight": f, "seat": s}),
                    None => json!({"flight": l}),
                })
                .collect();
            let key = key.unwrap_or_else(random_key);
            let mut body = json!({"passenger": passenger, "legs": legs});
            if let Some(h) = hold {
                body["hold_id"] = json!(h);
            }
            let api = Api::new(&conn, Some(token));
            let t = api
                .call(
                    "POST",
                    "/api/purchases",
                    Some(&body),
                    &[("Idempotency-Key", &key)],
                )
                .map_err(|mut f| {
                    f.hint = Some(format!(
                        "{}[retry safely with --key {key}]",
                        f.hint.take().map(|h| format!("{h} ")).unwrap_or_default()
                    ));
                    f.with("idempotency_key", json!(key))
                })?;
            out(&conn, &t, || {
                let mut s = format!(
                    "bought ticket {} for {} · {} · sold by {} (key {key})\n",
                    t["id"].as_str().unwrap_or(""),
                    t["passenger"].as_str().unwrap_or(""),
                    money(&t["price_cents"]),
                    t["seller"].as_str().unwrap_or("")
                );
                s.push_str(&ticket_legs_table(&t));
                s
            });
        }
        ClientCommand::Tickets { session, conn } => {
            let token = load_session(&session, &conn.url)?;
            let v = Api::new(&conn, Some(token)).call("GET", "/api/tickets", None, &[])?;
            out(&conn, &v, || {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "no tickets".into();
                }
                let mut s = String::new();
                for t in &list {
                    s.push_str(&format!(
                        "{} · {} · {} · {} · sold by {}\n",
                        t["id"].as_str().unwrap_or(""),
                        t["passenger"].as_str().unwrap_or(""),
                        money(&t["price_cents"]),
                        t["status"].as_str().unwrap_or(""),
                        t["seller"].as_str().unwrap_or("")
                    ));
                    s.push_str(&ticket_legs_table(t));
                    s.push('\n');
                }
                s.trim_end().to_owned()
            });
        }
        ClientCommand::Cancel {
            ticket,
            session,
            conn,
        } => {
            let token = load_session(&session, &conn.url)?;
            let t = Api::new(&conn, Some(token)).call(
                "DELETE",
                &format!("/api/tickets/{}", enc(&ticket)),
                None,
                &[],
            )?;
            out(&conn, &t, || {
                format!(
                    "cancelled ticket {}; its seats are back on sale",
                    t["id"].as_str().unwrap_or("")
                )
            });
        }
        ClientCommand::Status {
            flights,
            admin,
            conn,
        } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let v = api.call(
                "GET",
                &format!("/admin/status?flights={flights}"),
                None,
                &[],
            )?;
            print_status(&conn, &v);
        }
        ClientCommand::Partition { peers, admin, conn } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let v = api.call(
                "POST",
                "/admin/partition",
                Some(&json!({"peers": peers})),
                &[],
            )?;
            out(&conn, &v, || partition_line(&v));
        }
        ClientCommand::Heal { peers, admin, conn } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let v = api.call("POST", "/admin/heal", Some(&json!({"peers": peers})), &[])?;
            out(&conn, &v, || partition_line(&v));
        }
        ClientCommand::Flights(FlightsCommand::Add {
            id,
            from,
            to,
            departure,
            arrival,
            rows,
            letters,
            fare_cents,
            cancelled,
            escrow,
            admin,
            conn,
        }) => {
            let escrow: Vec<Value> = escrow
                .iter()
                .map(|e| {
                    let (a, n) = e.split_once('=').ok_or_else(|| {
                        format!("--escrow {e}: write AIRLINE=SEATS, such as giro=18")
                    })?;
                    let n: u32 = n
                        .parse()
                        .map_err(|_| format!("--escrow {e}: SEATS must be a whole number"))?;
                    Ok(json!({"airline": a, "seats": n}))
                })
                .collect::<Result<_, String>>()?;
            let body = json!({"flights": [{
                "id": id, "origin": from, "destination": to, "departure": departure, "arrival": arrival,
                "rows": rows, "letters": letters, "fare_cents": fare_cents, "cancelled": cancelled, "escrow": escrow,
            }]});
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let v = api.call("POST", "/admin/flights", Some(&body), &[])?;
            out(&conn, &v, || {
                format!("wrote flight {id}; every peer will see it")
            });
        }
    }
    Ok(())
}

/// A blocking client of one peer's API.
struct Api {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(conn: &Conn, token: Option<String>) -> Api {
        // Longer than the peer's own bounded wait for a purchase, so the peer answers first.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Api {
            agent,
            base: conn.url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Calls the API; returns the JSON body (Null when empty), or the problem.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some(b) => {
                let req = req
                    .header("Content-Type", "application/json")
                    .body(b.to_string())
                    .map_err(|e| format!("bad request to {url}: {e}; check --url"))?;
                self.agent.run(req)
            }
            None => self.agent.run(
                req.body(())
                    .map_err(|e| format!("bad request to {url}: {e}; check --url"))?,
            ),
        };
        let mut resp = result.map_err(|e| {
            Failure::local(
                "unreachable",
                format!(
                    "cannot reach the peer at {} ({e}); is it running? set --url",
                    self.base
                ),
            )
        })?;
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.body_mut().read_to_string().map_err(|e| {
            Failure::local(
                "unreachable",
                format!("the peer's answer could not be read: {e}; retry"),
            )
        })?;
        if status.is_success() {
            return Ok(if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            });
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let detail = problem["detail"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| text.trim().to_owned());
        let mut hints = Vec::new();
        let mut fields = match problem {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(r) = retry {
            hints.push(format!("(retry in {r} s)"));
            fields.insert(
                "retry_after".into(),
                r.parse::<u64>().map(Value::from).unwrap_or(json!(r)),
            );
        }
        if status.as_u16() == 401 && path.starts_with("/api/") {
            hints.push("— run `passcom login`".into());
        }
        let reason = fields
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        if let Some(name) = status.canonical_reason() {
            fields.entry("title").or_insert_with(|| json!(name));
        }
        Err(Failure {
            status: Some(status.as_u16()),
            reason,
            detail,
            fields,
            hint: (!hints.is_empty()).then(|| hints.join(" ")),
        })
    }
}

/// Percent-encodes a path or query component.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn random_key() -> String {
    // Unique enough for one traveler's purchases: time in ns and the process id.
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("cli-{ns:x}-{:x}", std::process::id())
}

/// The password: `given` (from `--password` or `PASSCOM_PASSWORD`), else asked for on the
/// terminal without echo when stdin is one, else the first line of stdin (piped).
fn password_or_stdin(given: Option<String>) -> Result<String, Failure> {
    if let Some(p) = given {
        return Ok(p);
    }
    use std::io::IsTerminal;
    let p = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("password: ").map_err(|e| {
            Failure::local(
                "no_password",
                format!("cannot read the password from the terminal: {e}"),
            )
        })?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            Failure::local(
                "no_password",
                format!("cannot read the password from stdin: {e}"),
            )
        })?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if p.is_empty() {
        return Err(Failure::local(
            "no_password",
            "no password given; type it when asked, pipe it on stdin, pass --password or set PASSCOM_PASSWORD",
        ));
    }
    Ok(p)
}

fn session_path(opt: &SessionOpt) -> Result<PathBuf, String> {
    if let Some(p) = &opt.session {
        return Ok(p.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or("no home folder to keep the session in; pass --session FILE")?;
    Ok(base.join("passcom").join("session"))
}

fn save_session(opt: &SessionOpt, url: &str, s: &Value) -> Result<PathBuf, String> {
    let path = session_path(opt)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let body =
        json!({"url": url, "token": s["token"], "account": s["account"], "expires": s["expires"]});
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        // The token is a credential: readable by its owner only.
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(&path)
        .and_then(|mut f| f.write_all(body.to_string().as_bytes()))
        .map_err(|e| format!("cannot write the session to {}: {e}", path.display()))?;
    Ok(path)
}

fn load_session(opt: &SessionOpt, url: &str) -> Result<String, Failure> {
    let path = session_path(opt)?;
    let not_in = |detail: String| Failure::local("not_logged_in", detail);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        not_in(format!(
            "not logged in (no session in {}); run `passcom login`",
            path.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|_| {
        not_in(format!(
            "{} is damaged; run `passcom login`",
            path.display()
        ))
    })?;
    if v["url"].as_str() != Some(url) {
        return Err(not_in(format!(
            "the session in {} is for {}; run `passcom login --url {url}` or pass --session",
            path.display(),
            v["url"].as_str().unwrap_or("another peer")
        )));
    }
    v["token"].as_str().map(str::to_owned).ok_or_else(|| {
        not_in(format!(
            "{} has no token; run `passcom login`",
            path.display()
        ))
    })
}

fn admin_token(opt: &AdminOpt) -> Result<String, Failure> {
    if let Some(t) = &opt.admin_token {
        return Ok(t.trim().to_owned());
    }
    if let Some(dir) = &opt.data {
        let p = dir.join("operator.token");
        return std::fs::read_to_string(&p)
            .map(|t| t.trim().to_owned())
            .map_err(|e| {
                Failure::local(
                    "no_operator_token",
                    format!(
                        "cannot read {}: {e}; is --data the peer's data folder?",
                        p.display()
                    ),
                )
            });
    }
    Err(Failure::local(
        "no_operator_token",
        "this is an operator command: pass --admin-token, set PASSCOM_ADMIN_TOKEN, or pass --data DIR",
    ))
}

fn out(conn: &Conn, v: &Value, text: impl FnOnce() -> String) {
    let text = if conn.json {
        serde_json::to_string_pretty(v).unwrap_or_default()
    } else {
        text()
    };
    // A closed pipe (`passcom tickets | head`) is not an error worth a panic.
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn money(cents: &Value) -> String {
    let c = cents.as_u64().unwrap_or(0);
    format!("R$ {}.{:02}", c / 100, c % 100)
}

/// Lays out rows under headers, each column as wide as its widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut s = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        s.push('\n');
        s.push_str(&line(r.clone()));
    }
    s
}

/// A local time from the API (`2026-12-01T07:00-04:00`) as `2026-12-01 07:00 -04:00`: the
/// wall-clock time a traveler reads at the airport, and its offset from UTC.
fn local_time(v: &Value) -> String {
    let s = str_of(v);
    match s.get(..16) {
        Some(clock) if s.len() > 16 => format!("{} {}", clock.replacen('T', " ", 1), &s[16..]),
        _ => s,
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn ticket_legs_table(t: &Value) -> String {
    let rows: Vec<Vec<String>> = t["legs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| {
            vec![
                format!("  {}", str_of(&l["flight"])),
                str_of(&l["airline"]),
                format!("{}→{}", str_of(&l["origin"]), str_of(&l["destination"])),
                local_time(&l["departure_local"]),
                str_of(&l["seat"]),
                money(&l["fare_cents"]),
            ]
        })
        .collect();
    table(
        &[
            "  flight",
            "airline",
            "route",
            "departs (local)",
            "seat",
            "fare",
        ],
        &rows,
    )
}

fn print_routes(conn: &Conn, v: &Value) {
    out(conn, v, || {
        let its = v["itineraries"].as_array().cloned().unwrap_or_default();
        let head = format!(
            "{} → {} on {} by {}",
            str_of(&v["from"]),
            str_of(&v["to"]),
            str_of(&v["date"]),
            str_of(&v["sort"])
        );
        if its.is_empty() {
            return format!("{head}: no itinerary; try another --date or more --max-legs");
        }
        let mut rows = Vec::new();
        for (i, it) in its.iter().enumerate() {
            let legs = it["legs"].as_array().cloned().unwrap_or_default();
            for (j, l) in legs.iter().enumerate() {
                let dur = it["duration_ms"].as_i64().unwrap_or(0) / 60_000;
                rows.push(vec![
                    if j == 0 {
                        format!("{}", i + 1)
                    } else {
                        String::new()
                    },
                    if j == 0 {
                        money(&it["price_cents"])
                    } else {
                        String::new()
                    },
                    if j == 0 {
                        format!("{}h{:02}", dur / 60, dur % 60)
                    } else {
                        String::new()
                    },
                    str_of(&l["flight"]),
                    str_of(&l["airline"]),
                    format!("{}→{}", str_of(&l["origin"]), str_of(&l["destination"])),
                    local_time(&l["departure_local"]),
                    local_time(&l["arrival_local"])
                        .get(11..)
                        .unwrap_or("")
                        .to_owned(),
                    format!("{}+{}", l["seats"]["here"], l["seats"]["partners"]),
                ]);
            }
        }
        format!(
            "{head}\n{}\n(times are local at each airport, with their UTC offset; seats: sellable here + at partners)",
            table(
                &[
                    "#", "price", "time", "flight", "airline", "route", "departs", "arrives",
                    "seats"
                ],
                &rows
            )
        )
    });
}

fn partition_line(v: &Value) -> String {
    let cut: Vec<String> = v["partitioned"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(str_of)
        .collect();
    let connected: Vec<String> = v["connected"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| c["airline"].as_str().unwrap_or("subscriber").to_owned())
        .collect();
    let cut = if v["cut_off_from_all"].as_bool() == Some(true) {
        "everyone".to_owned()
    } else if cut.is_empty() {
        "nobody".to_owned()
    } else {
        cut.join(", ")
    };
    format!(
        "{}: partitioned from {cut}; connected to {}",
        str_of(&v["airline"]),
        if connected.is_empty() {
            "nobody".to_owned()
        } else {
            connected.join(", ")
        }
    )
}

fn print_status(conn: &Conn, v: &Value) {
    out(conn, v, || {
        let mut s = format!(
            "airline   {}\npeer id   {}\n",
            str_of(&v["airline"]),
            str_of(&v["peer_id"])
        );
        s.push_str(&format!(
            "network   {}\n",
            partition_line(v)
                .split_once(": ")
                .map(|x| x.1)
                .unwrap_or("")
        ));
        let clock: Vec<String> = v["clock"]
            .as_object()
            .map(|m| m.iter().map(|(k, n)| format!("{k}={n}")).collect())
            .unwrap_or_default();
        s.push_str(&format!("clock     {}\n", clock.join(" ")));
        s.push_str(&format!(
            "holds {} · pending purchases {} · tickets known {} · hand-overs pending {}\n\n",
            v["holds"],
            v["pending_purchases"],
            v["tickets_known"],
            v["handovers"].as_array().map(|a| a.len()).unwrap_or(0)
        ));
        let rows: Vec<Vec<String>> = v["pools"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let st = &p["seats"];
                vec![
                    str_of(&p["flight"]),
                    format!("{}→{}", str_of(&p["origin"]), str_of(&p["destination"])),
                    str_of(&p["departure_utc"]).replace('T', " "),
                    st["here"].to_string(),
                    st["partners"].to_string(),
                    st["moving"].to_string(),
                    st["held"].to_string(),
                    st["sold"].to_string(),
                ]
            })
            .collect();
        s.push_str("escrow pools of the next flights:\n");
        s.push_str(&table(
            &[
                "flight",
                "route",
                "departs (UTC)",
                "here",
                "partners",
                "moving",
                "held",
                "sold",
            ],
            &rows,
        ));
        s
    });
}
