//! Client and admin commands against a peer's HTTP API: search, accounts, purchases, tickets,
//! and the operator's status, partition, heal and catalog edits.
//!
//! Every command prints a readable table by default and the API's JSON with `--json`; an
//! error is one line on stderr (the API's problem detail, which says what to fix), or with
//! `--json` one problem object on stderr (at least `reason`, `detail`, `title`), and a
//! non-zero exit.

use passcom_http::admin::{
    DialBody, EscrowBody, FlightBody, FlightsBody, FlightsDto, HangupBody, LinkDto, PeersBody,
    StatusDto,
};
use passcom_http::api::dto::{
    AccountDto, CredentialsBody, LegBody, PurchaseBody, RoutesDto, SeatFallbackBody, SessionDto,
    TicketDto,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

mod http;
mod session;
mod show;

pub use http::Failure;
use http::{Api, enc};
use session::{
    admin_token, load_session, password_or_stdin, random_key, save_session, session_path,
};
use show::{money, out, partition_line, routes_text, status_text, ticket_legs_table};

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

/// What `passcom buy` does when a chosen seat's airline cannot be reached now.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatFallbackArg {
    /// Refuse, listing the nearest seats this peer sells.
    Exact,
    /// Buy the nearest seat this peer sells instead.
    Nearest,
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
        /// When a chosen seat is held by an airline that cannot be reached now: refuse and
        /// list the nearest seats sold here (`exact`), or buy the nearest one (`nearest`).
        #[arg(long, value_enum, default_value_t = SeatFallbackArg::Exact)]
        seat_fallback: SeatFallbackArg,
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
        admin: AdminOpt,
        #[command(flatten)]
        conn: Conn,
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
            | ClientCommand::Dial { conn, .. }
            | ClientCommand::Hangup { conn, .. }
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
            let r: RoutesDto = Api::new(&conn, None).get(&q)?;
            out(&conn, &r, || routes_text(&r));
        }
        ClientCommand::Signup {
            name,
            password,
            session,
            conn,
        } => {
            let password = password_or_stdin(password)?;
            let api = Api::new(&conn, None);
            let creds = CredentialsBody { name, password };
            let acc: AccountDto = api.send("POST", "/api/accounts", &creds, &[])?;
            let s: SessionDto = api.send("POST", "/api/sessions", &creds, &[])?;
            save_session(&session, &conn.url, &s)?;
            out(&conn, &acc, || {
                format!("created account {} and logged in", acc.account)
            });
        }
        ClientCommand::Login {
            name,
            password,
            session,
            conn,
        } => {
            let password = password_or_stdin(password)?;
            let s: SessionDto = Api::new(&conn, None).send(
                "POST",
                "/api/sessions",
                &CredentialsBody { name, password },
                &[],
            )?;
            let path = save_session(&session, &conn.url, &s)?;
            // The token stays in the session file: a script's log should not hold it.
            let shown = LoggedIn {
                account: s.account.clone(),
                expires: s.expires,
            };
            out(&conn, &shown, || {
                format!(
                    "logged in as {} (session kept in {})",
                    s.account,
                    path.display()
                )
            });
        }
        ClientCommand::Logout { session, conn } => {
            let token = load_session(&session, &conn.url)?;
            Api::new(&conn, Some(token)).call::<()>("DELETE", "/api/sessions", None, &[])?;
            let _ = std::fs::remove_file(session_path(&session)?);
            out(&conn, &LoggedOut { logged_out: true }, || {
                "logged out".into()
            });
        }
        ClientCommand::Buy {
            legs,
            passenger,
            key,
            hold,
            seat_fallback,
            session,
            conn,
        } => {
            let token = load_session(&session, &conn.url)?;
            let legs = legs
                .iter()
                .map(|l| match l.split_once(':') {
                    Some((f, s)) => LegBody {
                        flight: f.to_owned(),
                        seat: Some(s.to_owned()),
                    },
                    None => LegBody {
                        flight: l.clone(),
                        seat: None,
                    },
                })
                .collect();
            let key = key.unwrap_or_else(random_key);
            let body = PurchaseBody {
                passenger,
                legs,
                hold_id: hold,
                seat_fallback: match seat_fallback {
                    SeatFallbackArg::Exact => SeatFallbackBody::Exact,
                    SeatFallbackArg::Nearest => SeatFallbackBody::Nearest,
                },
            };
            let api = Api::new(&conn, Some(token));
            let t: TicketDto = api
                .send(
                    "POST",
                    "/api/purchases",
                    &body,
                    &[("Idempotency-Key", &key)],
                )
                .map_err(|mut f| {
                    let nearest: Vec<&str> = f
                        .fields
                        .get("nearest")
                        .and_then(|v| v.as_array())
                        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                        .unwrap_or_default();
                    if !nearest.is_empty() {
                        f.detail.push_str(&format!(
                            " Nearest seats sold here: {}; add --seat-fallback nearest to take the first.",
                            nearest.join(", ")
                        ));
                    }
                    f.hint = Some(format!(
                        "{}[retry safely with --key {key}]",
                        f.hint.take().map(|h| format!("{h} ")).unwrap_or_default()
                    ));
                    f.with("idempotency_key", json!(key))
                })?;
            out(&conn, &t, || {
                format!(
                    "bought ticket {} for {} · {} · sold by {} (key {key})\n{}",
                    t.id,
                    t.passenger,
                    money(t.price_cents),
                    t.seller,
                    ticket_legs_table(&t)
                )
            });
        }
        ClientCommand::Tickets { session, conn } => {
            let token = load_session(&session, &conn.url)?;
            let list: Vec<TicketDto> = Api::new(&conn, Some(token)).get("/api/tickets")?;
            out(&conn, &list, || {
                if list.is_empty() {
                    return "no tickets".into();
                }
                let mut s = String::new();
                for t in &list {
                    s.push_str(&format!(
                        "{} · {} · {} · {} · sold by {}\n{}\n\n",
                        t.id,
                        t.passenger,
                        money(t.price_cents),
                        t.status,
                        t.seller,
                        ticket_legs_table(t)
                    ));
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
            let t: TicketDto = Api::new(&conn, Some(token)).call(
                "DELETE",
                &format!("/api/tickets/{}", enc(&ticket)),
                None,
                &[],
            )?;
            out(&conn, &t, || {
                format!("cancelled ticket {}; its seats are back on sale", t.id)
            });
        }
        ClientCommand::Status {
            flights,
            admin,
            conn,
        } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let st: StatusDto = api.get(&format!("/admin/status?flights={flights}"))?;
            out(&conn, &st, || status_text(&st));
        }
        ClientCommand::Partition { peers, admin, conn } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let st: StatusDto = api.send("POST", "/admin/partition", &PeersBody { peers }, &[])?;
            out(&conn, &st, || partition_line(&st));
        }
        ClientCommand::Heal { peers, admin, conn } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let st: StatusDto = api.send("POST", "/admin/heal", &PeersBody { peers }, &[])?;
            out(&conn, &st, || partition_line(&st));
        }
        ClientCommand::Dial {
            address,
            admin,
            conn,
        } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let body = DialBody {
                address: address.clone(),
            };
            let link: LinkDto = api.send("POST", "/admin/dial", &body, &[])?;
            out(&conn, &link, || {
                format!(
                    "{}: connected to {} ({}) at {address}; it is re-dialled after drops",
                    link.status.airline,
                    link.airline.as_deref().unwrap_or("a peer"),
                    link.peer_id
                )
            });
        }
        ClientCommand::Hangup { peer, admin, conn } => {
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let body = HangupBody { peer: peer.clone() };
            let link: LinkDto = api.send("POST", "/admin/hangup", &body, &[])?;
            out(&conn, &link, || {
                let who = link.airline.as_deref().unwrap_or(&peer);
                format!(
                    "{}: hung up on {who} ({}); it stays out until `passcom dial` names its address or `passcom heal {who}`",
                    link.status.airline, link.peer_id
                )
            });
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
            let escrow = escrow
                .iter()
                .map(|e| {
                    let (a, n) = e.split_once('=').ok_or_else(|| {
                        format!("--escrow {e}: write AIRLINE=SEATS, such as giro=18")
                    })?;
                    let seats: u32 = n
                        .parse()
                        .map_err(|_| format!("--escrow {e}: SEATS must be a whole number"))?;
                    Ok(EscrowBody {
                        airline: a.to_owned(),
                        seats,
                    })
                })
                .collect::<Result<_, String>>()?;
            let body = FlightsBody {
                flights: vec![FlightBody {
                    id: id.clone(),
                    origin: from,
                    destination: to,
                    departure,
                    arrival,
                    rows,
                    letters,
                    fare_cents,
                    cancelled,
                    escrow,
                }],
            };
            let api = Api::new(&conn, Some(admin_token(&admin)?));
            let written: FlightsDto = api.send("POST", "/admin/flights", &body, &[])?;
            out(&conn, &written, || {
                format!("wrote flight {id}; every peer will see it")
            });
        }
    }
    Ok(())
}

/// What `passcom login --json` prints: the session's owner and lapse, not its token.
#[derive(serde::Serialize)]
struct LoggedIn {
    account: String,
    expires: i64,
}

/// What `passcom logout --json` prints.
#[derive(serde::Serialize)]
struct LoggedOut {
    logged_out: bool,
}
