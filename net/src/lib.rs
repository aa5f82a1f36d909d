//! The libp2p adapter that carries the Passcom node state machine's messages.
//!
//! This crate makes no protocol decision: which token moves, who may sell, what a peer lacks,
//! when to retry — all of that is [`passcom_node::Node`]'s. The crate only turns the node's
//! outputs into libp2p actions and libp2p happenings into the node's inputs.
//!
//! # Map
//! - [`start`] and [`PeerHandle`]: run one airline peer and talk to it (HTTP API, CLI, tests).
//! - `driver` (private): the one task that owns the swarm and the node; a `select!` loop that
//!   stamps `now`, batches inputs into [`passcom_node::Node::handle_batch`] (group commit) and
//!   maps every output to I/O.
//! - [`behaviour`]: the libp2p behaviour (gossipsub, request-response, identify, mDNS, block
//!   list) and the swarm builder.
//! - [`wire`]: topics, protocol names, agent strings, the CBOR encoding and chunking — the wire
//!   format is versioned there and only there (see `docs/wire.md`).
//! - [`identity`]: the ed25519 identity kept in the data folder.
//! - [`watch()`]: a plain gossip subscriber that decodes every event (`passcom watch`).
//!
//! # Architecture invariant
//! Nothing here changes a token, a ticket or a clock: all state is the node's, written in its
//! `handle_batch` transaction before any output is performed, so a crash of the driver at any
//! point loses nothing that was confirmed.

pub mod behaviour;
mod driver;
pub mod identity;
mod watch;
pub mod wire;

pub use watch::{WatchConfig, WatchedEvent, watch};

use libp2p::metrics::Registry;
use passcom_crdt::{AirlineId, FlightId, Millis, VectorClock};
use passcom_node::{Node, Refusal, Reply, Request};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How to run one airline peer.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// The airline this peer runs.
    pub airline: AirlineId,
    /// Folder for the redb database and the identity key.
    pub data_dir: PathBuf,
    /// Multiaddrs to listen on (`/ip4/127.0.0.1/tcp/0` for any port).
    pub listen: Vec<libp2p::Multiaddr>,
    /// Peers to dial at start and re-dial after a drop (`/dns4/giro/tcp/7000` works too).
    pub bootstrap: Vec<libp2p::Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Share of every new flight handed to each partner in advance (0 = ask the owner).
    pub escrow_share: f64,
    /// Load this airline's demo flights and the 27 capitals at first start.
    pub demo_catalog: bool,
    /// State-machine settings (airline inside is overwritten by `airline`).
    pub node: passcom_node::Config,
}

impl PeerConfig {
    /// A configuration for `airline` in `data_dir` listening on an OS-chosen TCP port of
    /// 127.0.0.1, no bootstrap peers, no mDNS, escrow share 0.2, no demo catalog and the
    /// node's defaults.
    pub fn new(airline: impl Into<AirlineId>, data_dir: impl Into<PathBuf>) -> Self {
        let airline = airline.into();
        PeerConfig {
            node: passcom_node::Config::new(airline.clone()),
            airline,
            data_dir: data_dir.into(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr")],
            bootstrap: Vec::new(),
            mdns: false,
            escrow_share: 0.2,
            demo_catalog: false,
        }
    }
}

// The plain data this crate hands out (kept under their old paths here).
pub use passcom_node::peer_status::{ConnectedPeer, LiveEvent, NetError, PeerStatus};

/// Commands from handles to the driver, other than user requests.
pub(crate) enum Command {
    Partition(Vec<AirlineId>, oneshot::Sender<()>),
    Heal(Vec<AirlineId>, oneshot::Sender<()>),
    /// Dial an address; answered once a connection is up (the peer id) or the dial failed.
    Dial(libp2p::Multiaddr, oneshot::Sender<Result<String, NetError>>),
    /// Disconnect a peer (airline name or peer id) and keep it out.
    Hangup(String, oneshot::Sender<Result<ConnectedPeer, NetError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Bound of the queue of user requests waiting for the driver.
const REQUEST_QUEUE: usize = 1024;
/// Bound of the live event stream (a slow reader loses the oldest events, not the peer).
const LIVE_QUEUE: usize = 1024;
/// Time given to a request beyond the node's purchase deadline before it counts as lost.
const REPLY_MARGIN: Duration = Duration::from_secs(5);
/// Longest wait for the driver to obey a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a dial ordered by an operator to connect or fail (TCP's own connect
/// timeout is much longer on a silent address).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A running peer: cheap to clone, used by the HTTP API and the CLI.
#[derive(Clone)]
pub struct PeerHandle {
    airline: AirlineId,
    node: Arc<Mutex<Option<Node>>>,
    /// The network side of the status, kept up to date by the driver; its clock is filled
    /// from the node when asked ([`PeerHandle::status`]).
    shared: Arc<Mutex<PeerStatus>>,
    requests: mpsc::Sender<(Request, oneshot::Sender<Reply>)>,
    commands: mpsc::Sender<Command>,
    live: broadcast::Sender<LiveEvent>,
    reply_timeout: Duration,
    metrics: Arc<Registry>,
}

/// The current time in ms since the Unix epoch. The only clock this crate reads for the node.
pub(crate) fn now_ms() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as Millis
}

/// Locks a mutex, going on after a panic of another holder: the node's in-memory state always
/// equals what is committed, so it stays valid even if a reader panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PeerHandle {
    /// This peer's airline.
    pub fn airline(&self) -> &AirlineId {
        &self.airline
    }

    /// Submits a user request and waits for the reply, at most the purchase deadline plus a
    /// margin; a peer that does not answer in time (or has shut down) yields
    /// `Reply::Refused(Refusal::Timeout…)` naming the request's first flight.
    pub async fn request(&self, req: Request) -> Reply {
        let flight = match &req {
            Request::Purchase(p) => p.legs.first().map(|l| l.flight.clone()),
            Request::Hold(h) => h.legs.first().map(|l| l.flight.clone()),
            _ => None,
        }
        .unwrap_or_else(|| FlightId::new(""));
        let timeout = Reply::Refused(Refusal::Timeout { flight });
        let (tx, rx) = oneshot::channel();
        let deadline = tokio::time::Instant::now() + self.reply_timeout;
        match tokio::time::timeout_at(deadline, self.requests.send((req, tx))).await {
            Ok(Ok(())) => {}
            _ => return timeout,
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => reply,
            _ => timeout,
        }
    }

    /// Reads the node's state under its lock (keep `f` short: the driver waits meanwhile).
    ///
    /// Panics: after [`PeerHandle::shutdown`], when the node (and its database) is closed.
    pub fn read<R>(&self, f: impl FnOnce(&Node) -> R) -> R {
        let run = |guard: std::sync::MutexGuard<'_, Option<Node>>| {
            f(guard
                .as_ref()
                .expect("the peer has shut down; its node is closed"))
        };
        match self.node.try_lock() {
            // A free lock is read at once: handing the worker's tasks to another thread costs
            // a thread wake-up per call, about a fifth of an HTTP purchase's time when every
            // read paid it.
            Ok(guard) => run(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => run(e.into_inner()),
            // The driver holds the node while it commits (an fsync): waiting for it must not
            // stall a runtime worker that other connections need, so hand this worker's other
            // tasks over while we wait.
            Err(std::sync::TryLockError::WouldBlock) => blocking(|| run(lock(&self.node))),
        }
    }

    /// Whether the peer is still running (not shut down).
    pub fn is_running(&self) -> bool {
        lock(&self.node).is_some()
    }

    /// The peer's current time (ms since epoch).
    pub fn now(&self) -> Millis {
        now_ms()
    }

    /// Network status. The clock is empty after shutdown.
    pub fn status(&self) -> PeerStatus {
        let mut status = lock(&self.shared).clone();
        status.clock = lock(&self.node)
            .as_ref()
            .map(|n| n.clock().clone())
            .unwrap_or_default();
        status
    }

    /// Cuts this peer off from `peers` (all others when empty): connections closed, dials
    /// refused both ways, until [`PeerHandle::heal`].
    ///
    /// Errors: the peer has shut down or does not answer.
    pub async fn partition(&self, peers: Vec<AirlineId>) -> Result<(), NetError> {
        self.command(|tx| Command::Partition(peers, tx)).await
    }

    /// Undoes `partition` for `peers` (all when empty) and re-dials them.
    ///
    /// Errors: the peer has shut down or does not answer.
    pub async fn heal(&self, peers: Vec<AirlineId>) -> Result<(), NetError> {
        self.command(|tx| Command::Heal(peers, tx)).await
    }

    /// Dials `address`, a multiaddr with a host and a TCP port (`/ip4/10.0.0.7/tcp/7000`,
    /// `/dns4/giro/tcp/7000`, optionally ending in `/p2p/<peer-id>`), and keeps re-dialling it
    /// after drops, like a bootstrap address. A peer hung up on at that address (or with that
    /// peer id) is let back in. The address is kept (at most 64 in all) only once a connection
    /// is up: a dial that fails leaves nothing behind.
    ///
    /// Returns the peer id found there once connected. Errors: the text is not such an
    /// address, or it is this peer's own, or that of a peer cut off by `partition`
    /// ([`NetError::Invalid`]); the dial failed or did not connect within [`DIAL_TIMEOUT`]
    /// ([`NetError::Unreachable`]); the peer has shut down ([`NetError::Unavailable`]).
    pub async fn dial(&self, address: &str) -> Result<String, NetError> {
        let addr = parse_dial_address(address)?;
        let shown = addr.to_string();
        let rx = self.order(|tx| Command::Dial(addr, tx)).await?;
        match tokio::time::timeout(DIAL_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(NetError::Unavailable(format!(
                "peer {} has shut down",
                self.airline
            ))),
            Err(_) => Err(NetError::Unreachable(format!(
                "{shown} did not connect within {} s; check the address and that the peer runs",
                DIAL_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Disconnects the peer named by `who` (an airline name or a libp2p peer id) and keeps it
    /// out, both ways, until [`PeerHandle::dial`] names its address or peer id, or
    /// [`PeerHandle::heal`] names its airline (or all). Its own re-dials are refused meanwhile.
    ///
    /// Returns the peer hung up on. Errors: `who` is neither an airline name nor a peer id,
    /// or is this peer ([`NetError::Invalid`]); no such peer was seen since start
    /// ([`NetError::Unknown`]); the peer has shut down ([`NetError::Unavailable`]).
    pub async fn hangup(&self, who: &str) -> Result<ConnectedPeer, NetError> {
        let rx = self.order(|tx| Command::Hangup(who.to_owned(), tx)).await?;
        tokio::time::timeout(COMMAND_TIMEOUT, rx)
            .await
            .map_err(|_| NetError::Unavailable(format!("peer {} is not answering", self.airline)))?
            .map_err(|_| NetError::Unavailable(format!("peer {} has shut down", self.airline)))?
    }

    /// The peer's libp2p metrics (connections, bandwidth, identify, gossipsub mesh and
    /// scores), in a registry of this peer's own: several peers in one process never mix.
    pub fn metrics(&self) -> &Registry {
        &self.metrics
    }

    /// Sends a command whose answer is a result, and returns the receiver of that answer.
    async fn order<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<oneshot::Receiver<T>, NetError> {
        let (tx, rx) = oneshot::channel();
        tokio::time::timeout(COMMAND_TIMEOUT, self.commands.send(make(tx)))
            .await
            .map_err(|_| NetError::Unavailable(format!("peer {} is not answering", self.airline)))?
            .map_err(|_| NetError::Unavailable(format!("peer {} has shut down", self.airline)))?;
        Ok(rx)
    }

    /// A receiver of the live event stream.
    pub fn events(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Stops the peer cleanly: every confirmed change is already committed (each batch commits
    /// before its outputs are performed), connections are closed and the database is closed,
    /// so the same data folder can be opened again, in this process too. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.command(Command::Shutdown).await;
    }

    async fn command(
        &self,
        make: impl FnOnce(oneshot::Sender<()>) -> Command,
    ) -> Result<(), NetError> {
        let gone = || NetError::Unavailable(format!("peer {} has shut down", self.airline));
        let (tx, rx) = oneshot::channel();
        tokio::time::timeout(COMMAND_TIMEOUT, self.commands.send(make(tx)))
            .await
            .map_err(|_| NetError::Unavailable(format!("peer {} is not answering", self.airline)))?
            .map_err(|_| gone())?;
        tokio::time::timeout(COMMAND_TIMEOUT, rx)
            .await
            .map_err(|_| NetError::Unavailable(format!("peer {} is not answering", self.airline)))?
            .map_err(|_| gone())
    }
}

/// Parses an address to dial: a multiaddr that names a host (IP or DNS name) and a TCP port.
///
/// Errors: [`NetError::Invalid`] saying what to write instead.
fn parse_dial_address(text: &str) -> Result<libp2p::Multiaddr, NetError> {
    use libp2p::multiaddr::Protocol;
    let text = text.trim();
    let example = "write /ip4/127.0.0.1/tcp/7001 or /dns4/giro/tcp/7000";
    let addr: libp2p::Multiaddr = text
        .parse()
        .map_err(|e| NetError::Invalid(format!("{text:?} is not a multiaddr ({e}); {example}")))?;
    let host = addr.iter().any(|p| {
        matches!(
            p,
            Protocol::Ip4(_)
                | Protocol::Ip6(_)
                | Protocol::Dns(_)
                | Protocol::Dns4(_)
                | Protocol::Dns6(_)
        )
    });
    if !host || !addr.iter().any(|p| matches!(p, Protocol::Tcp(_))) {
        return Err(NetError::Invalid(format!(
            "{text:?} names no host and TCP port; {example}"
        )));
    }
    Ok(addr)
}

/// Runs `f`, which may block, without stalling the other tasks of a multi-threaded runtime.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Starts a peer: loads or creates its identity, opens its store, listens, dials its bootstrap
/// peers, and at first start with `demo_catalog` submits the demo airports and flights.
///
/// The node is configured to sign its events with the identity key and to require signatures
/// of others (`signing_key`, `require_signatures`); its own key is put in its roster so that
/// no other peer can claim this airline.
///
/// Errors: the airline name is not `[a-z0-9_-]{1,64}`; the data folder, identity or database
/// cannot be opened (the message names the file and what to do); a listen address cannot be
/// bound; the demo catalog is refused.
pub async fn start(cfg: PeerConfig) -> Result<PeerHandle, NetError> {
    if !wire::valid_airline_name(cfg.airline.as_str()) {
        return Err(NetError::Other(format!(
            "airline name {:?} must be 1 to 64 characters of a-z, 0-9, - and _",
            cfg.airline.as_str()
        )));
    }
    let (keypair, secret) = identity::load_or_create(&cfg.data_dir)?;
    let mut node_cfg = cfg.node.clone();
    node_cfg.airline = cfg.airline.clone();
    node_cfg.signing_key = Some(secret);
    node_cfg.require_signatures = true;
    let public = identity::ed25519_public(&keypair.public()).expect("an ed25519 identity");
    node_cfg.roster.insert(cfg.airline.clone(), public);
    let reply_timeout =
        Duration::from_millis(node_cfg.purchase_timeout_ms.max(0) as u64) + REPLY_MARGIN;

    let db = cfg.data_dir.join("passcom.redb");
    let store = passcom_node::Store::open(&db).map_err(|e| NetError::Other(e.to_string()))?;
    let (node, first) =
        Node::open(node_cfg, store, now_ms()).map_err(|e| NetError::Other(e.to_string()))?;

    // One registry per peer, never a global one: peers sharing a process (tests, the demo)
    // keep their numbers apart.
    let mut registry = Registry::default();
    let swarm = behaviour::build_swarm_with_metrics(
        keypair,
        wire::airline_agent(&cfg.airline),
        cfg.mdns,
        &mut registry,
    )?;
    let recorder = libp2p::metrics::Metrics::new(&mut registry);
    let node = Arc::new(Mutex::new(Some(node)));
    let shared = Arc::new(Mutex::new(PeerStatus::offline(
        cfg.airline.clone(),
        VectorClock::new(),
    )));
    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (live, _) = broadcast::channel(LIVE_QUEUE);
    let handle = PeerHandle {
        airline: cfg.airline.clone(),
        node: node.clone(),
        shared: shared.clone(),
        requests: req_tx,
        commands: cmd_tx,
        live: live.clone(),
        reply_timeout,
        metrics: Arc::new(registry),
    };
    let driver = driver::Driver::new(
        &cfg, swarm, node, shared, req_rx, cmd_rx, live, first, recorder,
    )?;
    tokio::spawn(driver.run());

    if cfg.demo_catalog {
        let active = |h: &PeerHandle| {
            h.is_running() && h.read(|n| n.state() == passcom_node::PeerState::Active)
        };
        if active(&handle) {
            load_demo_catalog(&handle, cfg.escrow_share).await?;
        } else {
            // A recovering peer writes nothing until its partners have caught it up (its
            // flights may well come back from them): load the demo catalog once it is active,
            // if it is still missing then.
            let h = handle.clone();
            let share = cfg.escrow_share;
            tokio::spawn(async move {
                while h.is_running() {
                    if active(&h) {
                        if let Err(e) = load_demo_catalog(&h, share).await {
                            tracing::error!(error = %e, "the demo catalog was not loaded");
                        }
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
    }
    Ok(handle)
}

/// Submits the demo catalog through the node unless this airline already has flights.
async fn load_demo_catalog(handle: &PeerHandle, escrow_share: f64) -> Result<(), NetError> {
    let me = handle.airline().clone();
    if handle.read(|n| n.catalog().flights().any(|f| f.airline == me)) {
        return Ok(());
    }
    let partners: Vec<AirlineId> = passcom_node::demo::DEMO_AIRLINES
        .iter()
        .map(|a| AirlineId::new(*a))
        .filter(|a| a != &me)
        .collect();
    let now = now_ms();
    let first_day = now - now.rem_euclid(passcom_node::demo::DAY_MS);
    let flights = passcom_node::demo::demo_flights(&me, first_day, 7, escrow_share, &partners);
    for req in [
        Request::PutAirports(passcom_node::demo::demo_airports()),
        Request::PutFlights(flights),
    ] {
        match handle.request(req).await {
            Reply::Done => {}
            other => {
                return Err(NetError::Other(format!(
                    "the demo catalog of {me} was refused: {other:?}"
                )));
            }
        }
    }
    Ok(())
}
