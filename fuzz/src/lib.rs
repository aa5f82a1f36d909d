//! Fixtures shared by Passcom's fuzz targets and by the seed-corpus generator.
//!
//! Everything here is deterministic: keys come from fixed seeds, time is a constant, so a
//! crash found by a fuzz target reproduces from its input file alone (`cargo fuzz run TARGET
//! FILE`). The targets themselves live in `fuzz_targets/`; `src/bin/gen_corpus.rs` writes the
//! seed corpora in `seeds/` from a real exchange between three in-memory nodes.

use ed25519_dalek::SigningKey;
use passcom_crdt::{AirlineId, Airport, Flight, FlightId, Millis};
use passcom_node::cluster::Cluster;
use passcom_node::fixtures;
use passcom_node::{
    Config, HoldRequest, Input, LegRequest, Message, Node, PurchaseRequest, Request, Store, Timer,
};
use std::collections::BTreeMap;

pub mod script;

/// The redb device in memory the fixtures copy (shared with the simulator).
pub use passcom_node::memdisk::MemDisk;

/// The fixed "now" of every fixture (late 2027), so that flights are in the future.
pub use passcom_node::fixtures::T0;

/// The three airlines of the fixture network.
pub const AIRLINES: [&str; 3] = ["rumos", "giro", "boreal"];

/// The airline whose node the `node_message` target feeds.
pub const VICTIM: &str = "giro";

/// The identity key of fixture airline `index` (0..3), from a fixed seed.
pub fn signing_key(index: usize) -> SigningKey {
    SigningKey::from_bytes(&[index as u8 + 1; 32])
}

/// Every fixture airline's verifying key, as the node's roster wants them.
pub fn roster() -> BTreeMap<AirlineId, [u8; 32]> {
    AIRLINES
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                AirlineId::new(*a),
                signing_key(i).verifying_key().to_bytes(),
            )
        })
        .collect()
}

/// The configuration of fixture airline `airline`: its fixture key, the fixture roster, and
/// small bounds that a fuzz input can actually reach. `require_signatures` is the production
/// setting; off, mutated events whose signatures no longer match reach the deeper checks.
pub fn config(airline: &str, require_signatures: bool) -> Config {
    let index = AIRLINES.iter().position(|a| *a == airline).unwrap_or(0);
    let mut cfg = Config::new(airline);
    cfg.signing_key = Some(signing_key(index).to_bytes());
    cfg.require_signatures = require_signatures;
    cfg.roster = roster();
    cfg.max_deferred = 64;
    cfg.max_events_per_sync = 8;
    cfg
}

/// A node with `cfg` over `disk` (created when the device is empty), opened at `now`.
///
/// Panics: when the device does not hold a database of `cfg.airline` — only a fixture bug
/// can cause that, never a fuzz input.
pub fn open_node(cfg: Config, disk: &MemDisk, now: Millis) -> Node {
    let db = disk.open_database().expect("the fixture database opens");
    let store = Store::from_database(db, format!("memory:{}", cfg.airline)).expect("a store");
    let (node, _timers) = Node::open(cfg, store, now).expect("the fixture node opens");
    node
}

/// A node for `airline` over an empty in-memory database, signing with its fixture key and,
/// when `require_signatures`, checking every remote event against the fixture roster.
///
/// Panics: never for the fixture airlines (an empty database always opens).
pub fn memory_node(airline: &str, require_signatures: bool) -> Node {
    open_node(config(airline, require_signatures), &MemDisk::default(), T0)
}

/// A state a fuzz input starts from: the bytes of a cleanly closed database. A [`Start`] opens
/// a node over it once; every input then works on a copy ([`Start::fork`]), so building the
/// state (a whole network exchange, signature checks, catalog merges) and opening it are paid
/// once per process, and an input costs a copy of the bytes and of the node's memory.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    bytes: Vec<u8>,
}

impl Snapshot {
    /// The state of the database on `disk` as it is now, for a node with `cfg`. Taken while a
    /// node runs over the device, between two of its batches (every batch is committed when
    /// `handle` returns), it is what a crash would leave; it is opened once on a copy and
    /// closed cleanly, so that every fork opens without redb's repair pass.
    pub fn of_disk(disk: &MemDisk, cfg: Config) -> Snapshot {
        let copy = MemDisk::from_bytes(&disk.snapshot());
        drop(open_node(cfg, &copy, T0));
        Snapshot {
            bytes: copy.snapshot(),
        }
    }

    /// The size of the database, for the record.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether this is the empty state (no database yet).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A node ready to be copied: opened once with its configuration over a [`Snapshot`], its
/// database then copied into an in-memory store (`Store::to_memory`: the same rows and
/// encodings, no redb), so that every fuzz input starts from [`Start::fork`], a copy of the
/// node's memory (`Node::fork`) over a copy of those tables — no database to open, commit or
/// close per input, and no catalog reloaded through Automerge.
///
/// Every fork starts from exactly the same state: nothing a fork writes reaches the tables it
/// was copied from (checked once per start by [`Start::check_recycle`]).
pub struct Start {
    node: Node,
    /// The size of the redb database the state came from, for the record.
    bytes: usize,
}

impl std::fmt::Debug for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Start")
            .field("node", &self.node)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Start {
    /// Opens a node with `cfg` at `now` over a copy of `state` (a fresh database when the
    /// state is empty: a lost disk).
    ///
    /// Panics: when the state does not open (a fixture bug, never a fuzz input).
    pub fn new(state: &Snapshot, cfg: Config, now: Millis) -> Start {
        // Opened over redb first, so the tables hold whatever `Node::open` writes (the airline
        // of a fresh store); the node kept is opened over an in-memory copy of them and writes
        // nothing more.
        let disk = MemDisk::from_bytes(&state.bytes);
        let first = open_node(cfg.clone(), &disk, now);
        let tables = first
            .store()
            .to_memory()
            .expect("the fixture database reads");
        drop(first);
        let (node, _timers) = Node::open(cfg, tables, now).expect("the fixture node opens");
        Start {
            node,
            bytes: disk.snapshot().len(),
        }
    }

    /// A copy of the node over a copy of its tables.
    ///
    /// Panics: never (a node just opened has nothing a copy could miss, and copying in-memory
    /// tables cannot fail).
    pub fn fork(&self) -> Node {
        let store = self
            .node
            .store()
            .to_memory()
            .expect("in-memory tables copy");
        self.node
            .fork(store)
            .expect("a node just opened holds no deferred event")
    }

    /// Throws away a node made by [`Start::fork`]. Nothing to undo: its writes went to its own
    /// copy of the tables.
    pub fn recycle(&self, node: Node) {
        drop(node);
    }

    /// Checks that a fork starts from the starting state whatever the fork before it wrote:
    /// a fork writes (a catalog edit, a tick), is recycled, and the next fork's log must be
    /// the starting node's.
    ///
    /// Panics: when it does not (the fuzz target would otherwise start inputs from a state
    /// that depends on the inputs before).
    pub fn check_recycle(&self, now: Millis) {
        let log = |n: &Node| {
            n.events_missing_from(&Default::default(), usize::MAX)
                .expect("the log reads")
                .0
        };
        let mut node = self.fork();
        let me = node.airline().as_str().to_owned();
        let index = AIRLINES.iter().position(|a| *a == me).unwrap_or(0);
        let _ = node.handle(Input::Request(1, Request::PutAirports(airports())), now);
        let _ = node.handle(
            Input::Request(2, Request::PutFlights(vec![flight(&me, 7 + index as u32)])),
            now,
        );
        let _ = node.handle(Input::Timer(Timer::Tick), now + 1_000);
        let wrote = log(&node).len();
        self.recycle(node);
        let again = self.fork();
        let (got, want) = (log(&again), log(&self.node));
        assert_eq!(
            got.len(),
            want.len(),
            "a fork holds {} events after one that held {wrote}",
            got.len()
        );
        assert!(got == want, "a fork holds another log than the start");
        assert!(
            again.clock() == self.node.clock(),
            "a fork has another clock than the start"
        );
        self.recycle(again);
    }

    /// The size of the redb database the state was read from.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether that database is empty (never: a node was opened over it).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The node copies are made from.
    pub fn node(&self) -> &Node {
        &self.node
    }
}

/// Four airports, enough for the fixture flights ([`fixtures::airport`], placed at
/// -15°, -47°: the seed corpora were recorded with these values).
pub fn airports() -> Vec<Airport> {
    fixtures::airports(&["GRU", "GIG", "BSB", "SSA"])
        .into_iter()
        .map(|a| Airport {
            latitude: -15.0,
            longitude: -47.0,
            ..a
        })
        .collect()
}

/// One small flight of `airline` ([`fixtures::flight`]) a day after [`T0`], one hour long:
/// 3 rows of `ABCD`, a quarter of the seats in escrow at each other fixture airline.
pub fn flight(airline: &str, number: u32) -> Flight {
    let partners: Vec<&str> = AIRLINES.iter().copied().filter(|a| *a != airline).collect();
    let id = format!("{}{number}", &airline[..2].to_uppercase());
    let departure = T0 + 86_400_000;
    let f = Flight {
        arrival: departure + 3_600_000,
        rows: 3,
        letters: "ABCD".into(),
        ..fixtures::flight(airline, &id, "GRU", "GIG", departure)
    };
    fixtures::with_escrow(f, 0.25, &partners)
}

/// A message that travelled in the fixture network: who sent it, to whom (`None`: gossip),
/// and what — the record of [`passcom_node::cluster`].
pub use passcom_node::cluster::Envelope as Recorded;

/// The fixture network: the three airlines over in-memory devices, signing with their
/// fixture keys, exchanging messages in order and recording every one. Rejections are kept,
/// not fatal, and a storm fails after 10,000 deliveries.
fn net() -> Cluster {
    let mut net = Cluster::in_memory(&[]);
    for a in AIRLINES {
        net.configs.insert(AirlineId::new(a), config(a, true));
        net.open(a);
    }
    net.log = Some(Vec::new());
    net.strict = false;
    net.settle_bound = 10_000;
    net.connect_all();
    net
}

/// Hands `req` to `at` and delivers everything that follows.
fn request(net: &mut Cluster, at: &str, req: Request) {
    net.request(at, req);
    net.settle();
}

/// What [`exchange`] recorded.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Every message sent, in order.
    pub log: Vec<Recorded>,
    /// The victim's database after its first sale, before the rest of the exchange: an old
    /// backup, from which it must recover what it wrote since.
    pub victim_early: Snapshot,
    /// The victim's database at the end of the exchange.
    pub victim_end: Snapshot,
    /// A fresh victim with only the other airlines' events applied (none of its own).
    pub victim_others: Snapshot,
}

/// Runs a short, real exchange between the three fixture airlines — each publishes its
/// catalog, partners buy seats from escrow and from the operator (a hand-over), a traveler
/// holds and cancels — and returns every message sent, in order.
///
/// The events carry valid signatures by the fixture keys, so they pass a signing node's
/// checks: that is what makes them good seeds.
pub fn record_exchange() -> Vec<Recorded> {
    exchange().log
}

/// [`record_exchange`], with snapshots of the victim's database along the way.
pub fn exchange() -> Exchange {
    let mut net = net();
    for (i, a) in AIRLINES.iter().enumerate() {
        request(&mut net, a, Request::PutAirports(airports()));
        request(
            &mut net,
            a,
            Request::PutFlights(vec![flight(a, i as u32 + 1)]),
        );
    }
    let buy = |key: &str, flight: &str, seat: Option<&str>| {
        Request::Purchase(PurchaseRequest {
            key: key.into(),
            passenger: format!("Passenger {key}"),
            account: Some("acct".into()),
            legs: vec![LegRequest {
                flight: FlightId::new(flight),
                seat: seat.map(Into::into),
            }],
            hold_id: None,
            seat_fallback: Default::default(),
        })
    };
    // From giro's own escrow of rumos' flight, then a seat only rumos holds (a hand-over).
    request(&mut net, "giro", buy("k1", "RU1", None));
    let victim_early = Snapshot::of_disk(
        net.disk(VICTIM).expect("the victim's device"),
        config(VICTIM, true),
    );
    request(&mut net, "giro", buy("k2", "RU1", Some("3D")));
    // A two-airline itinerary at boreal.
    request(
        &mut net,
        "boreal",
        Request::Purchase(PurchaseRequest {
            key: "k3".into(),
            passenger: "Two legs".into(),
            account: None,
            legs: vec![
                LegRequest {
                    flight: FlightId::new("GI2"),
                    seat: None,
                },
                LegRequest {
                    flight: FlightId::new("BO3"),
                    seat: None,
                },
            ],
            hold_id: None,
            seat_fallback: Default::default(),
        }),
    );
    request(
        &mut net,
        "rumos",
        Request::Hold(HoldRequest {
            hold_id: "cart-1".into(),
            account: None,
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: None,
            }],
            expires: T0 + 60_000,
            seat_fallback: Default::default(),
        }),
    );
    request(
        &mut net,
        "giro",
        Request::Cancel {
            ticket: passcom_crdt::TicketId::new("giro-3-1"),
            account: None,
        },
    );
    // A tick: every node asks the others what it lacks (sync requests) and the answers flow.
    net.tick(1_000);
    let victim_end = Snapshot::of_disk(
        net.disk(VICTIM).expect("the victim's device"),
        config(VICTIM, true),
    );
    // The state the node target always started from: a fresh victim given the others' events.
    let disk = MemDisk::default();
    let mut fresh = open_node(config(VICTIM, true), &disk, T0);
    for a in AIRLINES.iter().filter(|a| **a != VICTIM) {
        let events = events_of(net.log.as_deref().unwrap_or_default(), a);
        let _ = fresh.handle(
            Input::Message {
                from: AirlineId::new(*a),
                msg: Message::Events { events },
            },
            net.now,
        );
    }
    drop(fresh);
    let victim_others = Snapshot::of_disk(&disk, config(VICTIM, true));
    Exchange {
        log: net.log.take().unwrap_or_default(),
        victim_early,
        victim_end,
        victim_others,
    }
}

/// The events of `origin` that `record` sent, in order: used to bring a fresh node to the
/// state where the recorded later messages apply.
pub fn events_of(record: &[Recorded], origin: &str) -> Vec<passcom_node::Event> {
    let mut out: BTreeMap<u64, passcom_node::Event> = BTreeMap::new();
    for r in record {
        if let Message::Events { events } | Message::Page { events, .. } = &r.msg {
            for e in events.iter().filter(|e| e.origin.as_str() == origin) {
                out.insert(e.seq, e.clone());
            }
        }
    }
    out.into_values().collect()
}

/// Splits a fuzz input into `n` byte strings at the lengths its first bytes give, so a target
/// can feed several independent blobs (Automerge changes, messages) from one input.
pub fn split(data: &[u8], max_parts: usize) -> Vec<&[u8]> {
    let Some((&n, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let parts = (n as usize % max_parts) + 1;
    let mut out = Vec::with_capacity(parts);
    for i in 0..parts {
        if i + 1 == parts || rest.len() < 2 {
            out.push(rest);
            break;
        }
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        rest = &rest[2..];
        let len = len.min(rest.len());
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// The inverse of [`split`], for the corpus generator.
pub fn join(parts: &[Vec<u8>]) -> Vec<u8> {
    assert!(!parts.is_empty() && parts.len() <= 256);
    let mut out = vec![(parts.len() - 1) as u8];
    for (i, p) in parts.iter().enumerate() {
        if i + 1 < parts.len() {
            out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(p);
    }
    out
}

/// Runs one fuzz input, `input`, letting panics that the code under test catches itself stay
/// caught, and reporting one that escapes as a crash with its message and backtrace.
///
/// libfuzzer-sys installs a panic hook that aborts before unwinding, so even a panic the code
/// catches on purpose (`AirlineCatalog::apply_remote` guards Automerge this way) would count
/// as a crash. The hook installed here only remembers the panic's message: the default hook
/// prints every caught panic, and under `RUST_BACKTRACE=1` resolves a backtrace for each, which
/// took a few percent of `catalog_apply`'s time. A panic that escapes `input` is reported in
/// full: the input is run again under the default hook (inputs are deterministic: every
/// fixture is built from fixed seeds and a constant time), which prints the message and the
/// backtrace and unwinds into libfuzzer-sys, which aborts. Were the second run not to panic,
/// the remembered message is printed and the first panic resumed: a crash either way.
pub fn with_caught_panics(input: impl Fn()) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            LAST_PANIC.with_borrow_mut(|last| *last = Some(message));
        }));
    });
    let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&input)) else {
        return;
    };
    let first = LAST_PANIC.with_borrow_mut(Option::take);
    // From here on every panic is printed by the default hook: the process is about to end.
    drop(std::panic::take_hook());
    input();
    eprintln!(
        "{}\n(the input did not panic when run again; this is the first run's panic)",
        first.as_deref().unwrap_or("a panic without a message")
    );
    std::panic::resume_unwind(payload)
}

thread_local! {
    /// The message of the latest panic, for [`with_caught_panics`].
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}
