//! Several [`Node`]s in one process, joined by an in-order message queue: the one in-process
//! network of the node's integration tests, the fuzz targets' recorded exchange and the
//! catch-up benchmark.
//!
//! A [`Cluster`] keys its nodes by airline, each over a [`Store`] it opens itself — a redb file
//! in a folder ([`Cluster::on_disk`]) or a [`MemDisk`] ([`Cluster::in_memory`]) — so that a
//! crash ([`Cluster::crash`]) drops only memory and a reopen ([`Cluster::open`]) reads what
//! was committed. Outputs are routed at once: messages join the back of one FIFO queue
//! (a broadcast is one entry, delivered to every other node present when it leaves the
//! queue), replies are kept by request id, rejections panic or are kept
//! ([`Cluster::strict`]), timers are ignored (time moves only through [`Cluster::tick`]).
//! [`Cluster::settle`] delivers until the queue is empty, with a bound, so a protocol that
//! never quiesces fails loudly instead of hanging.
//!
//! Partitions are whole peers: a peer in [`Cluster::cut`] is told of the disconnect
//! ([`Cluster::partition`]), a peer in [`Cluster::silent`] is not (a link that drops
//! everything while both ends believe it up); messages to or from either are dropped when
//! they leave the queue, as on a real network.
//!
//! The simulator keeps its own network (`passcom_simulations`): its queue is ordered by
//! simulated time, with latency, loss, duplication and reordering drawn from the schedule's
//! seed; this one has none of these and needs no seed.
//!
//! ```
//! use passcom_node::cluster::Cluster;
//! use passcom_node::fixtures::{self, T0, HOUR_MS};
//! use passcom_node::Reply;
//!
//! let mut c = Cluster::in_memory(&["rumos", "giro"]);
//! let f = fixtures::flight("rumos", "RU1", "SSA", "BSB", T0 + 24 * HOUR_MS);
//! c.put("rumos", vec![f]);
//! let id = c.buy("giro", "key-1", &[("RU1", None)]);
//! c.settle();
//! assert!(matches!(c.replies.get(&id), Some(Reply::Ticket(_))));
//! assert_eq!(c.live_seats("rumos"), c.live_seats("giro"));
//! ```

use crate::fixtures::{self, T0};
use crate::memdisk::MemDisk;
use crate::{
    Config, HoldRequest, Input, LegRequest, Message, Node, Output, PurchaseRequest, Reply, Request,
    RequestId, Store, Ticket, TicketStatus, Timer,
};
use passcom_crdt::{AirlineId, Flight, FlightId, Millis};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The airports [`Cluster::put`] publishes with every catalog: the ones the node tests'
/// flights fly between.
pub const AIRPORTS: [&str; 4] = ["SSA", "BSB", "MAO", "REC"];

/// The default bound of [`Cluster::settle`]: far above what any test exchange needs, low
/// enough that a message storm fails in seconds.
pub const SETTLE_BOUND: usize = 100_000;

/// One message in the queue, or in the record of delivered ones.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The sender.
    pub from: AirlineId,
    /// The receiver, or `None` for a broadcast (gossip): every other node present when the
    /// message leaves the queue.
    pub to: Option<AirlineId>,
    /// The message.
    pub msg: Message,
}

/// A rejection a node reported while the cluster was not [`Cluster::strict`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The node that rejected.
    pub at: AirlineId,
    /// The peer it blamed.
    pub culprit: AirlineId,
    /// The node's reason.
    pub reason: String,
}

/// Where the nodes' stores live. A crash keeps them; only the node in memory goes.
enum Disks {
    /// One redb file per airline, `{airline}.redb` in a folder. The folder is held as given
    /// (a `tempfile::TempDir` stays alive, and is removed, with the cluster).
    Files(Box<dyn AsRef<Path> + Send>),
    /// One in-memory redb device per airline, created on first open.
    Memory(BTreeMap<AirlineId, MemDisk>),
}

/// Nodes keyed by airline, the queue between them, and what they answered. See the
/// [module doc](self).
///
/// The fields are public on purpose: a test that plays a fault the cluster has no verb for
/// (a twin that intercepts its own answers, a rewritten queue) edits them directly.
pub struct Cluster {
    /// The running nodes. A crashed node is absent until [`Cluster::open`].
    pub nodes: BTreeMap<AirlineId, Node>,
    /// Messages sent and not yet delivered, oldest first.
    pub queue: VecDeque<Envelope>,
    /// Every reply, by request id.
    pub replies: BTreeMap<RequestId, Reply>,
    /// Peers cut off and told so: their messages are dropped.
    pub cut: BTreeSet<AirlineId>,
    /// Peers cut silently: their messages are dropped, yet nobody is told of a disconnect.
    pub silent: BTreeSet<AirlineId>,
    /// Settings a node is (re)opened with, when not `Config::new(airline)`.
    pub configs: BTreeMap<AirlineId, Config>,
    /// The time every input is handled at; moved by [`Cluster::tick`] or by hand.
    pub now: Millis,
    /// When `Some`, every delivered message is appended here, in delivery order.
    pub log: Option<Vec<Envelope>>,
    /// When true (the default) a rejection panics: the peers of a test are honest, so a
    /// rejection is a bug. When false it is kept in [`Cluster::rejections`].
    pub strict: bool,
    /// Rejections seen while not strict.
    pub rejections: Vec<Rejection>,
    /// How many deliveries [`Cluster::settle`] makes before it panics.
    pub settle_bound: usize,
    disks: Disks,
    next_id: RequestId,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .field("queued", &self.queue.len())
            .field("cut", &self.cut)
            .field("silent", &self.silent)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Nodes `names` over redb files in `dir` (created by the first open, kept by a crash),
    /// each told that every other is connected, then settled; `now` is [`T0`]. `dir` is kept
    /// for the cluster's life, so a `tempfile::TempDir` is removed with it.
    ///
    /// Panics: when a store or node does not open (a test's setup failed).
    pub fn on_disk(dir: impl AsRef<Path> + Send + 'static, names: &[&str]) -> Cluster {
        Cluster::with_disks(Disks::Files(Box::new(dir)), names)
    }

    /// Nodes `names` over in-memory redb devices ([`MemDisk`]), connected and settled as
    /// [`Cluster::on_disk`] does. A crash keeps the device.
    ///
    /// Panics: when a node does not open (never over a fresh device).
    pub fn in_memory(names: &[&str]) -> Cluster {
        Cluster::with_disks(Disks::Memory(BTreeMap::new()), names)
    }

    fn with_disks(disks: Disks, names: &[&str]) -> Cluster {
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            replies: BTreeMap::new(),
            cut: BTreeSet::new(),
            silent: BTreeSet::new(),
            configs: BTreeMap::new(),
            now: T0,
            log: None,
            strict: true,
            rejections: Vec::new(),
            settle_bound: SETTLE_BOUND,
            disks,
            next_id: 1,
        };
        for n in names {
            c.open(n);
        }
        c.connect_all();
        c
    }

    /// Tells every node that every other is connected, then settles.
    pub fn connect_all(&mut self) {
        let all: Vec<AirlineId> = self.nodes.keys().cloned().collect();
        for x in &all {
            for y in all.iter().filter(|y| *y != x) {
                self.input(x, Input::Connected(y.clone()));
            }
        }
        self.settle();
    }

    /// The folder of the redb files, or `None` for an in-memory cluster.
    pub fn dir(&self) -> Option<&Path> {
        match &self.disks {
            Disks::Files(dir) => Some((**dir).as_ref()),
            Disks::Memory(_) => None,
        }
    }

    /// The redb file of `name`.
    ///
    /// Panics: on an in-memory cluster, which has no files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir()
            .expect("an in-memory cluster has no files")
            .join(format!("{name}.redb"))
    }

    /// The in-memory device of `name`, once it was opened; `None` on disk.
    pub fn disk(&self, name: &str) -> Option<&MemDisk> {
        match &self.disks {
            Disks::Memory(disks) => disks.get(&AirlineId::new(name)),
            Disks::Files(_) => None,
        }
    }

    /// Opens (or reopens after a crash) node `name` over its store at [`Cluster::now`], with
    /// its entry in [`Cluster::configs`] or `Config::new(name)`. The outputs of opening
    /// (timers) are dropped: ticks come from [`Cluster::tick`].
    ///
    /// Panics: when the store or the node does not open.
    pub fn open(&mut self, name: &str) {
        let airline = AirlineId::new(name);
        let store = match &mut self.disks {
            Disks::Files(_) => Store::open(&self.path(name)).expect("the store opens"),
            Disks::Memory(disks) => {
                let disk = disks.entry(airline.clone()).or_default();
                let db = disk.open_database().expect("the in-memory database opens");
                Store::from_database(db, format!("memory:{name}")).expect("the store opens")
            }
        };
        let cfg = self
            .configs
            .get(&airline)
            .cloned()
            .unwrap_or_else(|| Config::new(name));
        let (node, _timers) = Node::open(cfg, store, self.now).expect("the node opens");
        self.nodes.insert(airline, node);
    }

    /// Drops node `name` as a crash would: nothing in memory survives, only its store; the
    /// messages queued to or from it are lost.
    pub fn crash(&mut self, name: &str) {
        self.nodes.remove(&AirlineId::new(name));
        self.queue.retain(|e| {
            e.from.as_str() != name && e.to.as_ref().is_none_or(|t| t.as_str() != name)
        });
    }

    /// Handles one input at `at` (nothing if `at` is not running) and routes its outputs.
    pub fn input(&mut self, at: &AirlineId, input: Input) {
        self.batch(at, vec![input]);
    }

    /// Handles `inputs` as one batch at `at` (nothing if `at` is not running) and routes the
    /// outputs.
    ///
    /// Panics: on a rejection when [`Cluster::strict`].
    pub fn batch(&mut self, at: &AirlineId, inputs: Vec<Input>) {
        let Some(node) = self.nodes.get_mut(at) else {
            return;
        };
        let out = node.handle_batch(inputs, self.now);
        self.route(at, out);
    }

    /// Sends, replies and rejections of `from`'s outputs to where they belong.
    fn route(&mut self, from: &AirlineId, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, msg } => self.queue.push_back(Envelope {
                    from: from.clone(),
                    to: Some(to),
                    msg,
                }),
                Output::Broadcast(msg) => self.queue.push_back(Envelope {
                    from: from.clone(),
                    to: None,
                    msg,
                }),
                Output::Reply(id, r) => {
                    self.replies.insert(id, r);
                }
                Output::Rejected {
                    from: culprit,
                    reason,
                    ..
                } => {
                    assert!(
                        !self.strict,
                        "{from} rejected a message from {culprit}: {reason}"
                    );
                    self.rejections.push(Rejection {
                        at: from.clone(),
                        culprit,
                        reason,
                    });
                }
                Output::SetTimer { .. } => {}
            }
        }
    }

    /// Whether `x` is cut off, told or not.
    fn is_cut(&self, x: &AirlineId) -> bool {
        self.cut.contains(x) || self.silent.contains(x)
    }

    /// Takes the oldest queued message and delivers it (to every other running node, for a
    /// broadcast), unless its sender or receiver is cut. Returns false when the queue was
    /// empty. The benchmark times each step; [`Cluster::settle`] loops over it.
    pub fn step(&mut self) -> bool {
        let Some(env) = self.queue.pop_front() else {
            return false;
        };
        if self.is_cut(&env.from) {
            return true;
        }
        let targets: Vec<AirlineId> = match &env.to {
            Some(to) => vec![to.clone()],
            None => self
                .nodes
                .keys()
                .filter(|a| **a != env.from)
                .cloned()
                .collect(),
        };
        let targets: Vec<AirlineId> = targets.into_iter().filter(|t| !self.is_cut(t)).collect();
        if targets.is_empty() {
            return true;
        }
        if let Some(log) = &mut self.log {
            log.push(env.clone());
        }
        let Envelope { from, msg, .. } = env;
        // The last receiver takes the message itself: a point-to-point delivery copies
        // nothing, so the benchmark's timings hold the node's work only.
        let (last, first) = targets.split_last().expect("targets is not empty");
        for to in first {
            let msg = msg.clone();
            let from = from.clone();
            self.input(to, Input::Message { from, msg });
        }
        self.input(last, Input::Message { from, msg });
        true
    }

    /// Delivers queued messages until none is left. Messages to or from a cut peer are
    /// dropped, as on a real partition.
    ///
    /// Panics: when the queue is still not empty after [`Cluster::settle_bound`] deliveries.
    pub fn settle(&mut self) {
        for _ in 0..self.settle_bound {
            if !self.step() {
                return;
            }
        }
        panic!(
            "messages kept flowing after {} deliveries",
            self.settle_bound
        );
    }

    /// Moves time by `advance_ms`, runs one timer tick at every node (anti-entropy, deadlines,
    /// detector), then settles.
    pub fn tick(&mut self, advance_ms: Millis) {
        self.now += advance_ms;
        let names: Vec<AirlineId> = self.nodes.keys().cloned().collect();
        for n in names {
            self.input(&n, Input::Timer(Timer::Tick));
        }
        self.settle();
    }

    /// Runs `n` ticks of `step_ms` each.
    pub fn ticks(&mut self, n: usize, step_ms: Millis) {
        for _ in 0..n {
            self.tick(step_ms);
        }
    }

    /// Hands `req` to node `at` under a fresh request id (from 1 up) and returns the id; the
    /// reply, once there is one, is in [`Cluster::replies`]. Does not settle.
    pub fn request(&mut self, at: &str, req: Request) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        self.input(&AirlineId::new(at), Input::Request(id, req));
        id
    }

    /// Publishes the [`AIRPORTS`] and `flights` in `airline`'s catalog, then settles.
    ///
    /// Panics: when the node refuses either.
    pub fn put(&mut self, airline: &str, flights: Vec<Flight>) {
        let id = self.request(airline, Request::PutAirports(fixtures::airports(&AIRPORTS)));
        assert_eq!(
            self.replies.get(&id),
            Some(&Reply::Done),
            "airports refused"
        );
        let id = self.request(airline, Request::PutFlights(flights));
        assert_eq!(self.replies.get(&id), Some(&Reply::Done), "flights refused");
        self.settle();
    }

    /// Cuts `name` off every other node, and tells both ends of each link.
    pub fn partition(&mut self, name: &str) {
        self.cut.insert(AirlineId::new(name));
        for o in self.others(name) {
            self.input(&o, Input::Disconnected(AirlineId::new(name)));
            self.input(&AirlineId::new(name), Input::Disconnected(o));
        }
    }

    /// Ends `name`'s cut, tells both ends of each link that it is up, then settles.
    pub fn heal(&mut self, name: &str) {
        self.cut.remove(&AirlineId::new(name));
        for o in self.others(name) {
            self.input(&o, Input::Connected(AirlineId::new(name)));
            self.input(&AirlineId::new(name), Input::Connected(o));
        }
        self.settle();
    }

    /// Connects `name` to every other node (both ends told), then settles: what a node that
    /// was (re)opened needs to hear.
    pub fn connect(&mut self, name: &str) {
        self.heal(name);
    }

    fn others(&self, name: &str) -> Vec<AirlineId> {
        self.nodes
            .keys()
            .filter(|n| n.as_str() != name)
            .cloned()
            .collect()
    }

    /// Node `name`.
    ///
    /// Panics: when it is not running.
    pub fn node(&self, name: &str) -> &Node {
        &self.nodes[&AirlineId::new(name)]
    }

    /// Asks node `at` to sell `legs` (flight, chosen seat or any) to passenger "Ana Souza"
    /// under idempotency key `key`, with no account and no cart. Does not settle.
    pub fn buy(&mut self, at: &str, key: &str, legs: &[(&str, Option<&str>)]) -> RequestId {
        self.request(
            at,
            Request::Purchase(PurchaseRequest {
                key: key.into(),
                passenger: "Ana Souza".into(),
                account: None,
                legs: legs
                    .iter()
                    .map(|(f, s)| LegRequest {
                        flight: FlightId::new(*f),
                        seat: s.map(str::to_owned),
                    })
                    .collect(),
                hold_id: None,
                seat_fallback: Default::default(),
            }),
        )
    }

    /// Puts one seat of `flight` in the anonymous cart `hold_id` at `at`, until `expires`.
    /// Does not settle.
    pub fn hold(
        &mut self,
        at: &str,
        hold_id: &str,
        flight: &str,
        seat: &str,
        expires: Millis,
    ) -> RequestId {
        self.request(
            at,
            Request::Hold(HoldRequest {
                hold_id: hold_id.into(),
                account: None,
                legs: vec![LegRequest {
                    flight: FlightId::new(flight),
                    seat: Some(seat.into()),
                }],
                expires,
                seat_fallback: Default::default(),
            }),
        )
    }

    /// The ticket request `id` was answered with, if it was.
    pub fn ticket(&self, id: RequestId) -> Option<&Ticket> {
        match self.replies.get(&id) {
            Some(Reply::Ticket(t)) => Some(t),
            _ => None,
        }
    }

    /// Live tickets known at `name`, as (flight, seat) → ticket id.
    ///
    /// Panics: when a seat is on two live tickets (invariant 1), or `name` is not running.
    pub fn live_seats(&self, name: &str) -> BTreeMap<(String, String), String> {
        let mut out = BTreeMap::new();
        for t in self
            .node(name)
            .tickets()
            .values()
            .filter(|t| t.status == TicketStatus::Live)
        {
            for l in &t.legs {
                let prev = out.insert((l.flight.to_string(), l.seat.clone()), t.id.to_string());
                assert!(
                    prev.is_none(),
                    "seat {}/{} sold twice at {name}",
                    l.flight,
                    l.seat
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::HOUR_MS;

    #[test]
    fn a_silent_cut_drops_messages_without_telling_anyone() {
        let mut c = Cluster::in_memory(&["rumos", "giro"]);
        c.log = Some(Vec::new());
        c.silent.insert(AirlineId::new("giro"));
        c.put(
            "rumos",
            vec![fixtures::flight("rumos", "RU1", "SSA", "BSB", T0 + HOUR_MS)],
        );
        assert!(
            c.node("giro")
                .catalog()
                .flight(&FlightId::new("RU1"))
                .is_none()
        );
        assert!(c.log.as_ref().is_some_and(|l| l.is_empty()));
        c.silent.clear();
        c.tick(1_000);
        assert!(
            c.node("giro")
                .catalog()
                .flight(&FlightId::new("RU1"))
                .is_some()
        );
        assert!(c.log.as_ref().is_some_and(|l| !l.is_empty()));
    }

    #[test]
    fn a_crash_keeps_the_in_memory_disk() {
        let mut c = Cluster::in_memory(&["rumos"]);
        c.put(
            "rumos",
            vec![fixtures::flight("rumos", "RU1", "SSA", "BSB", T0 + HOUR_MS)],
        );
        c.crash("rumos");
        c.open("rumos");
        assert!(
            c.node("rumos")
                .catalog()
                .flight(&FlightId::new("RU1"))
                .is_some()
        );
    }
}
