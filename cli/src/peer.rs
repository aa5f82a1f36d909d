//! `passcom peer`, `passcom demo` and `passcom watch`: run a real peer, the three-airline demo
//! network in one process, or a plain gossip subscriber.

use passcom_crdt::AirlineId;
use passcom_net::{PeerConfig, PeerHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How an airline's escrow shares move (`passcom peer --escrow-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EscrowPolicy {
    /// Shares follow demand: unsold seats move ahead of need to the partners that sell them.
    Adaptive,
    /// Shares stay as created; a partner's pool is refilled only when it runs low.
    Fixed,
}

/// Arguments of `passcom peer`.
#[derive(clap::Args)]
pub struct PeerArgs {
    /// The airline this peer runs (a-z, 0-9, - and _).
    #[arg(
        long,
        env = "PASSCOM_AIRLINE",
        required_unless_present = "check_health"
    )]
    airline: Option<String>,
    /// Data folder (database and identity key); default ./passcom-data/AIRLINE.
    #[arg(long, env = "PASSCOM_DATA")]
    data: Option<PathBuf>,
    /// libp2p listen address.
    #[arg(long, env = "PASSCOM_LISTEN", default_value = "/ip4/0.0.0.0/tcp/7000")]
    listen: Vec<libp2p::Multiaddr>,
    /// HTTP address of the API and web page (the client commands' default `--url` points here).
    #[arg(long, env = "PASSCOM_HTTP", default_value = DEFAULT_HTTP_ADDR)]
    http: String,
    /// A peer to dial at start and re-dial after a drop (repeat; `/dns4/giro/tcp/7000` works).
    #[arg(long, env = "PASSCOM_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<libp2p::Multiaddr>,
    /// Share of every new demo flight handed to each partner in advance (0 to 0.33).
    #[arg(long, env = "PASSCOM_ESCROW_SHARE", default_value_t = 0.2)]
    escrow_share: f64,
    /// At first start, load this airline's demo flights (7 days from today) and the 27 capitals.
    #[arg(long, env = "PASSCOM_DEMO_CATALOG")]
    demo_catalog: bool,
    /// Discover peers on the local network with mDNS.
    #[arg(long, env = "PASSCOM_MDNS")]
    mdns: bool,
    /// Period of the node's anti-entropy tick in ms (clock exchange, retries).
    #[arg(long, default_value_t = 1000)]
    tick_ms: i64,
    /// Assert that no partner holds events of this airline (the very first start of a new
    /// network): an empty data folder then sells at once instead of waiting to be caught up
    /// by a partner. Never use it for a peer whose data folder was lost or restored.
    #[arg(long, env = "PASSCOM_FRESH_NETWORK")]
    fresh_network: bool,
    /// The other airlines of this network (repeat, or comma-separated). A recovering peer
    /// waits to be caught up by each of them, besides those it learns of from its store and
    /// its connections: after a lost data folder it knows nobody, and a partner it never
    /// hears of may be the only one holding some of its own events.
    #[arg(
        long,
        env = "PASSCOM_PARTNERS",
        value_delimiter = ',',
        value_name = "AIRLINE"
    )]
    partners: Vec<String>,
    /// A partner gone for good (repeat, or comma-separated): recovery stops waiting for it.
    /// Whatever of this peer's events only that partner held is lost, so say it only of an
    /// airline that will never come back with its data.
    #[arg(
        long,
        env = "PASSCOM_PARTNER_GONE",
        value_delimiter = ',',
        value_name = "AIRLINE"
    )]
    partner_gone: Vec<String>,
    /// A closed roster: a file of `AIRLINE PEER-ID` lines (`#` starts a comment; the ids
    /// from `passcom peer-id --data DIR` of each peer). Only these airlines, with these keys,
    /// belong to the network: events of any other origin or key are refused. Without it the
    /// roster is open and the first key heard for an airline wins (logged, and shown in
    /// `/admin/status`).
    #[arg(long, env = "PASSCOM_ROSTER", value_name = "FILE")]
    roster: Option<PathBuf>,
    /// A partner that has not answered the failure detector's probe for this long (ms) is
    /// treated as unreachable.
    #[arg(long, env = "PASSCOM_SUSPECT_AFTER_MS", default_value_t = 3000)]
    suspect_after_ms: i64,
    /// How this airline's escrow shares move: `adaptive` hands unsold seats ahead of need to
    /// the partners that sell them (in proportion to their recent sales, never under their
    /// share); `fixed` keeps the shares a flight was created with, refilled only on request.
    #[arg(long, env = "PASSCOM_ESCROW_POLICY", value_enum, default_value_t = EscrowPolicy::Fixed)]
    escrow_policy: EscrowPolicy,
    /// Sales of the last this many seconds count for a partner's share (adaptive policy).
    #[arg(long, env = "PASSCOM_ESCROW_WINDOW_S", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    escrow_window_s: u32,
    /// At most this many seats of one flight move to one partner at a time (adaptive policy).
    #[arg(long, env = "PASSCOM_ESCROW_MAX_MOVE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    escrow_max_move: u32,
    /// Do not run a peer: exit 0 if the peer at --http answers GET /api/health with 2xx, else
    /// 1 (for a container healthcheck without curl).
    #[arg(long)]
    check_health: bool,
    #[command(flatten)]
    log: LogOpt,
}

/// How the logs on stderr look.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct LogOpt {
    /// Log format on stderr: readable text, or one JSON object per line (what is logged is
    /// chosen with RUST_LOG, such as `info,tower_http=debug`).
    #[arg(long, env = "PASSCOM_LOG", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The formats of `--log-format` / `PASSCOM_LOG`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields, spans).
    Json,
}

/// Arguments of `passcom demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Root of the three data folders (ROOT/rumos, ROOT/giro, ROOT/boreal).
    #[arg(long, default_value = "./passcom-data")]
    data: PathBuf,
    /// Share of every new demo flight handed to each partner in advance.
    #[arg(long, default_value_t = 0.2)]
    escrow_share: f64,
    #[command(flatten)]
    log: LogOpt,
}

/// Arguments of `passcom watch`.
#[derive(clap::Args)]
pub struct WatchArgs {
    /// A peer to join through (repeat for several).
    #[arg(long, required = true)]
    bootstrap: Vec<libp2p::Multiaddr>,
    /// Topic to subscribe to (repeat); default passcom/v3/events.
    #[arg(long)]
    topic: Vec<String>,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<usize>,
    /// Exit after this many seconds.
    #[arg(long)]
    timeout: Option<u64>,
    #[command(flatten)]
    log: LogOpt,
}

/// The HTTP port a peer listens on, and the client commands call, unless told otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 8081;

/// `passcom peer`'s default `--http` address: loopback, [`DEFAULT_HTTP_PORT`].
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8081";

/// The demo airlines with their libp2p and HTTP ports (rumos on [`DEFAULT_HTTP_PORT`]).
const DEMO: [(&str, u16, u16); 3] = [
    ("rumos", 7001, DEFAULT_HTTP_PORT),
    ("giro", 7002, DEFAULT_HTTP_PORT + 1),
    ("boreal", 7003, DEFAULT_HTTP_PORT + 2),
];

/// The log filter when RUST_LOG is not set: info for passcom and for the HTTP request log
/// (tower-http's TraceLayer), warnings for the rest.
const DEFAULT_LOG_FILTER: &str =
    "warn,passcom=info,passcom_net=info,passcom_http=info,tower_http::trace=info";

/// Logs to stderr in `opt`'s format, filtered by RUST_LOG (default [`DEFAULT_LOG_FILTER`]).
fn init_logs(opt: LogOpt) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only on a terminal, not in files or `docker logs`.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match opt.log_format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Runs one peer until Ctrl-C or SIGTERM (`docker stop`), then shuts it down cleanly.
///
/// Errors: bad arguments, the peer cannot start (data folder, identity, ports), or the HTTP
/// address cannot be bound.
pub fn run_peer(args: PeerArgs) -> Result<ExitCode, String> {
    if args.check_health {
        return Ok(check_health(&args.http));
    }
    init_logs(args.log);
    let airline = args.airline.clone().ok_or("--airline is required")?;
    if !(0.0..=1.0).contains(&args.escrow_share) {
        return Err(format!(
            "--escrow-share {} must be between 0 and 1",
            args.escrow_share
        ));
    }
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from("passcom-data").join(&airline));
    let mut cfg = PeerConfig::new(airline.as_str(), data.clone());
    cfg.listen = args.listen.clone();
    cfg.bootstrap = args.bootstrap.clone();
    cfg.mdns = args.mdns;
    cfg.escrow_share = args.escrow_share;
    cfg.demo_catalog = args.demo_catalog;
    cfg.node.tick_ms = args.tick_ms.max(50);
    // Every start recovers from partners first: the data folder may have been lost or
    // restored from a backup, and selling before hearing them could reuse a sequence number.
    cfg.node.recover_at_start = true;
    cfg.node.fresh_network = args.fresh_network;
    cfg.node.partners = airline_set("--partners", &args.partners)?;
    cfg.node.gone_partners = airline_set("--partner-gone", &args.partner_gone)?;
    cfg.node.suspect_after_ms = args.suspect_after_ms.max(cfg.node.tick_ms);
    // A live twin behind the same links is heard by each partner at least four times.
    cfg.node.twin_wait_ms = cfg.node.suspect_after_ms + 4 * cfg.node.tick_ms;
    cfg.node.incarnation = rand::random::<u64>().max(1);
    cfg.node.adaptive_escrow = args.escrow_policy == EscrowPolicy::Adaptive;
    cfg.node.escrow_window_ms = i64::from(args.escrow_window_s) * 1_000;
    cfg.node.escrow_max_move = args.escrow_max_move;
    if let Some(file) = &args.roster {
        let roster = read_roster(file)?;
        let (own, _) = passcom_net::identity::peer_id_of(&data).map_err(|e| e.to_string())?;
        match roster.get(&AirlineId::new(airline.as_str())) {
            Some((id, _)) if *id == own.to_string() => {}
            Some((id, _)) => {
                return Err(format!(
                    "{}: {airline} is listed as {id}, but this peer's identity ({}) is {own}; fix the roster or --data",
                    file.display(),
                    data.join(passcom_net::identity::IDENTITY_FILE).display()
                ));
            }
            None => {
                return Err(format!(
                    "{}: {airline} is not listed; add the line `{airline} {own}`",
                    file.display()
                ));
            }
        }
        cfg.node.roster = roster.into_iter().map(|(a, (_, key))| (a, key)).collect();
        cfg.node.roster_closed = true;
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let handle = passcom_net::start(cfg).await.map_err(|e| e.to_string())?;
        let http = match serve_http(&handle, &args.http, data).await {
            Ok(h) => h,
            Err(e) => {
                handle.shutdown().await;
                return Err(e);
            }
        };
        eprintln!(
            "passcom: {airline} peer {} running; HTTP on http://{}",
            handle.status().peer_id,
            http.addr
        );
        wait_for_stop().await;
        eprintln!("passcom: stopping {airline}");
        // The API first (its in-flight requests need the node), then the node.
        http.stop().await;
        handle.shutdown().await;
        eprintln!("passcom: {airline} stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// A running HTTP server of one peer, and how to stop it.
struct HttpServer {
    /// The address it is bound to (the port chosen when `--http` asked for port 0).
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Stops accepting, lets in-flight requests finish (bounded by the API's request
    /// deadline, see `passcom_http::serve_until`) and returns when the server is gone.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Binds `addr` and serves the HTTP API of `handle` on it in a task, until
/// [`HttpServer::stop`].
///
/// A failure of the server after the bind is logged, not fatal: the peer keeps carrying
/// hand-overs and catch-up for its partners, which matters more than its own web page.
async fn serve_http(handle: &PeerHandle, addr: &str, data: PathBuf) -> Result<HttpServer, String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen for HTTP on {addr}: {e}; choose another --http address")
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen for HTTP on {addr}: {e}"))?;
    let handle = handle.clone();
    let cfg = passcom_http::ApiConfig::new(handle.read(|n| n.config().purchase_timeout_ms));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(async move {
        let server = tokio::spawn(passcom_http::serve_until(
            handle, listener, data, cfg, shutdown,
        ));
        match server.await {
            Ok(Ok(())) => tracing::debug!(%bound, "the HTTP server stopped"),
            Ok(Err(e)) => tracing::error!(%bound, error = %e, "the HTTP server failed"),
            Err(e) => tracing::error!(%bound, error = %e, "the HTTP server crashed"),
        }
    });
    Ok(HttpServer {
        addr: bound,
        stop,
        task,
    })
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `GET /api/health` at `addr` over plain HTTP/1.0: 0 if it answers 2xx within 3 s, else 1.
/// Written with std only, so a scratch container image needs nothing else.
fn check_health(addr: &str) -> ExitCode {
    let result = (|| -> Result<u16, String> {
        let mut target: SocketAddr = addr
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        if target.ip().is_unspecified() {
            // A peer bound to 0.0.0.0 is reached on loopback.
            target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let timeout = Duration::from_secs(3);
        let mut s = TcpStream::connect_timeout(&target, timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        write!(s, "GET /api/health HTTP/1.0\r\nHost: {target}\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head).map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&head[..n]);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not HTTP: {line:?}"))
    })();
    match result {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("passcom: {addr}/api/health answered {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("passcom: {addr} is not healthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs rumos, giro and boreal in this process, on 127.0.0.1, until Ctrl-C.
///
/// Errors: a port is taken (another demo running?) or a data folder cannot be used.
pub fn run_demo(args: DemoArgs) -> Result<ExitCode, String> {
    init_logs(args.log);
    if !(0.0..=1.0).contains(&args.escrow_share) {
        return Err(format!(
            "--escrow-share {} must be between 0 and 1",
            args.escrow_share
        ));
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let addr = |port: u16| -> libp2p::Multiaddr {
            format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("valid")
        };
        let mut peers: Vec<(PeerHandle, HttpServer)> = Vec::new();
        let mut result = Ok(());
        for (airline, p2p, http) in DEMO {
            let data = args.data.join(airline);
            let mut cfg = PeerConfig::new(AirlineId::new(airline), data.clone());
            cfg.listen = vec![addr(p2p)];
            cfg.bootstrap = DEMO
                .iter()
                .filter(|d| d.0 != airline)
                .map(|d| addr(d.1))
                .collect();
            cfg.escrow_share = args.escrow_share;
            cfg.demo_catalog = true;
            // The demo's three peers start together; a new data folder is a new network.
            cfg.node.recover_at_start = true;
            cfg.node.fresh_network = !data.join("passcom.redb").exists();
            cfg.node.incarnation = rand::random::<u64>().max(1);
            cfg.node.partners = DEMO
                .iter()
                .filter(|d| d.0 != airline)
                .map(|d| AirlineId::new(d.0))
                .collect();
            let started = match passcom_net::start(cfg).await {
                Ok(h) => serve_http(&h, &format!("127.0.0.1:{http}"), data)
                    .await
                    .map(|s| (h, s)),
                Err(e) => Err(format!("{airline}: {e}")),
            };
            match started {
                Ok(p) => peers.push(p),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            println!("Passcom demo network (Ctrl-C stops it):");
            for (airline, p2p, http) in DEMO {
                println!(
                    "  {airline:<7} http://127.0.0.1:{http}/   libp2p /ip4/127.0.0.1/tcp/{p2p}"
                );
            }
            println!("Watch the events: passcom watch --bootstrap /ip4/127.0.0.1/tcp/7001");
            wait_for_stop().await;
            println!("Stopping the demo network…");
        }
        // Every API drains at once, then every node stops.
        let (handles, servers): (Vec<_>, Vec<_>) = peers.into_iter().unzip();
        let mut stopping = tokio::task::JoinSet::new();
        for server in servers {
            stopping.spawn(server.stop());
        }
        while stopping.join_next().await.is_some() {}
        for h in handles {
            h.shutdown().await;
        }
        result.map(|()| ExitCode::SUCCESS)
    })
}

/// Prints every event heard on gossip as one JSON line, until --count events, --timeout or
/// Ctrl-C.
///
/// Errors: the watcher cannot start.
pub fn run_watch(args: WatchArgs) -> Result<ExitCode, String> {
    init_logs(args.log);
    let cfg = passcom_net::WatchConfig {
        bootstrap: args.bootstrap,
        topics: args.topic,
        count: args.count,
        timeout: args.timeout.map(Duration::from_secs),
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let stdout = std::io::stdout();
        let watching = passcom_net::watch(cfg, |e| {
            let mut out = stdout.lock();
            if let Ok(line) = serde_json::to_string(&e) {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
        tokio::select! {
            r = watching => r.map(|_| ExitCode::SUCCESS).map_err(|e| e.to_string()),
            _ = wait_for_stop() => Ok(ExitCode::SUCCESS),
        }
    })
}

/// Parses a list of airline names given to `flag`.
///
/// Errors: a name that is not 1 to 64 of `[a-z0-9_-]`, with the flag that gave it.
/// Reads a roster file: one `AIRLINE PEER-ID` per line, `#` comments and blank lines
/// ignored. Returns each airline's peer id (as written) and ed25519 key.
///
/// Errors: the file cannot be read, a line is malformed, an airline is listed twice, or a
/// peer id is not an ed25519 identity — each naming the file and line.
fn read_roster(
    file: &std::path::Path,
) -> Result<std::collections::BTreeMap<AirlineId, (String, [u8; 32])>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("--roster {}: cannot read it: {e}", file.display()))?;
    let mut roster = std::collections::BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), n + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(airline), Some(id), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{}: write `AIRLINE PEER-ID`, got {line:?}", at()));
        };
        if !passcom_net::wire::valid_airline_name(airline) {
            return Err(format!(
                "{}: {airline:?} is not an airline name (1 to 64 of a-z, 0-9, - and _)",
                at()
            ));
        }
        let key =
            passcom_net::identity::ed25519_of_peer_id(id).map_err(|e| format!("{}: {e}", at()))?;
        if roster
            .insert(AirlineId::new(airline), (id.to_owned(), key))
            .is_some()
        {
            return Err(format!("{}: {airline} is listed twice", at()));
        }
    }
    Ok(roster)
}

/// `passcom peer-id`: prints the peer id of the identity in a data folder (creating the
/// identity when the folder has none yet, so a roster can be written before the first start).
///
/// Errors: the folder or identity file cannot be created or read.
pub fn run_peer_id(args: PeerIdArgs) -> Result<ExitCode, String> {
    let (id, created) = passcom_net::identity::peer_id_of(&args.data).map_err(|e| e.to_string())?;
    if created {
        eprintln!(
            "passcom: created a new identity in {}",
            args.data
                .join(passcom_net::identity::IDENTITY_FILE)
                .display()
        );
    }
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// `passcom roster`: writes the closed roster of a network whose data folders are all at
/// hand (the compose network's first start): each airline's peer id, its identity created
/// when its folder has none yet. An existing roster file is kept when it says the same, so a
/// restart changes nothing.
///
/// Errors: a bad `AIRLINE=DIR` pair, an identity that cannot be read or created, or an
/// existing roster that differs (a data folder replaced by another identity: fix the file or
/// restore the folder's identity.key).
pub fn run_roster(args: RosterArgs) -> Result<ExitCode, String> {
    let mut text = String::from("# airline peer-id (written by `passcom roster`)\n");
    for pair in &args.peers {
        let (airline, dir) = pair.split_once('=').ok_or_else(|| {
            format!("{pair:?}: write AIRLINE=DATA-FOLDER, such as rumos=/data/rumos")
        })?;
        if !passcom_net::wire::valid_airline_name(airline) {
            return Err(format!(
                "{pair:?}: {airline:?} is not an airline name (1 to 64 of a-z, 0-9, - and _)"
            ));
        }
        let (id, _) = passcom_net::identity::peer_id_of(std::path::Path::new(dir))
            .map_err(|e| e.to_string())?;
        text.push_str(&format!("{airline} {id}\n"));
    }
    match std::fs::read_to_string(&args.out) {
        Ok(old) if old == text => {}
        Ok(_) => {
            return Err(format!(
                "{} already names other keys than the data folders hold; a folder has a new identity: restore its identity.key, or delete {} to accept the new keys",
                args.out.display(),
                args.out.display()
            ));
        }
        Err(_) => {
            if let Some(dir) = args.out.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            // Written whole or not at all: a peer must never read half a roster.
            let tmp = args.out.with_extension("tmp");
            std::fs::write(&tmp, &text)
                .and_then(|()| std::fs::rename(&tmp, &args.out))
                .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
        }
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `passcom roster`.
#[derive(clap::Args, Debug)]
pub struct RosterArgs {
    /// Where to write the roster (read by `passcom peer --roster FILE`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Each airline of the network and its data folder, as AIRLINE=DIR.
    #[arg(required = true, value_name = "AIRLINE=DIR")]
    peers: Vec<String>,
}

/// Arguments of `passcom peer-id`.
#[derive(clap::Args, Debug)]
pub struct PeerIdArgs {
    /// The peer's data folder (where `identity.key` is, or will be).
    #[arg(long, env = "PASSCOM_DATA", value_name = "DIR")]
    data: PathBuf,
}

fn airline_set(
    flag: &str,
    names: &[String],
) -> Result<std::collections::BTreeSet<AirlineId>, String> {
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            if passcom_net::wire::valid_airline_name(n) {
                Ok(AirlineId::new(n))
            } else {
                Err(format!(
                    "{flag} {n:?}: an airline name is 1 to 64 of a-z, 0-9, - and _"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_default_http_port_for_peer_and_client() {
        let addr: SocketAddr = DEFAULT_HTTP_ADDR.parse().unwrap();
        assert_eq!(addr.port(), DEFAULT_HTTP_PORT);
        assert!(addr.ip().is_loopback());
        assert_eq!(
            crate::client::DEFAULT_URL,
            format!("http://{DEFAULT_HTTP_ADDR}")
        );
        assert_eq!(DEMO[0].2, DEFAULT_HTTP_PORT);
    }
}
