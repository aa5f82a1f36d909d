//! Fixtures shared by Passcom's fuzz targets and by the seed-corpus generator.
//!
//! Everything here is deterministic: keys come from fixed seeds, time is a constant, so a
//! crash found by a fuzz target reproduces from its input file alone (`cargo fuzz run TARGET
//! FILE`). The targets themselves live in `fuzz_targets/`; `src/bin/gen_corpus.rs` writes the
//! seed corpora in `seeds/` from a real exchange between three in-memory nodes.

use ed25519_dalek::SigningKey;
use passcom_crdt::{AirlineId, Airport, Flight, FlightId, Millis};
use passcom_node::{
    Config, HoldRequest, Input, LegRequest, Message, Node, Output, PurchaseRequest, Request, Store,
    Timer,
};
use std::collections::{BTreeMap, VecDeque};

/// The fixed "now" of every fixture (late 2027), so that flights are in the future.
pub const T0: Millis = 1_800_000_000_000;

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

/// A node for `airline` over an in-memory redb database (no file, so a fuzz iteration costs
/// no disk I/O), signing with its fixture key and, when `require_signatures`, checking every
/// remote event against the fixture roster.
///
/// Panics: never for the fixture airlines (the in-memory database always opens).
pub fn memory_node(airline: &str, require_signatures: bool) -> Node {
    let index = AIRLINES.iter().position(|a| *a == airline).unwrap_or(0);
    let mut cfg = Config::new(airline);
    cfg.signing_key = Some(signing_key(index).to_bytes());
    cfg.require_signatures = require_signatures;
    cfg.roster = roster();
    // Small bounds so that a fuzz input can actually reach them.
    cfg.max_deferred = 64;
    cfg.max_events_per_sync = 8;
    let db = redb::Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .expect("an in-memory redb database opens");
    let store = Store::from_database(db, format!("memory:{airline}")).expect("a fresh store");
    let (node, _timers) = Node::open(cfg, store, T0).expect("a fresh node opens");
    node
}

/// Four airports, enough for the fixture flights.
pub fn airports() -> Vec<Airport> {
    ["GRU", "GIG", "BSB", "SSA"]
        .iter()
        .map(|c| Airport {
            iata: (*c).into(),
            name: format!("{c} airport"),
            city: (*c).into(),
            state: "XX".into(),
            latitude: -15.0,
            longitude: -47.0,
            time_zone: String::new(),
        })
        .collect()
}

/// One small flight of `airline`: 3 rows of `ABCD`, a quarter of the seats in escrow at each
/// other fixture airline.
pub fn flight(airline: &str, number: u32) -> Flight {
    let me = AirlineId::new(airline);
    let partners: Vec<AirlineId> = AIRLINES
        .iter()
        .filter(|a| **a != airline)
        .map(|a| AirlineId::new(*a))
        .collect();
    let departure = T0 + 86_400_000;
    Flight {
        id: FlightId::new(format!("{}{number}", &airline[..2].to_uppercase())),
        airline: me,
        origin: "GRU".into(),
        destination: "GIG".into(),
        departure,
        arrival: departure + 3_600_000,
        rows: 3,
        letters: "ABCD".into(),
        fare_cents: 10_000,
        cancelled: false,
        escrow: Flight::escrow_for(12, 0.25, &partners),
    }
}

/// A message that travelled in the fixture network: who sent it, to whom (`None`: gossip),
/// and what.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The sender.
    pub from: AirlineId,
    /// The receiver, or `None` for a broadcast.
    pub to: Option<AirlineId>,
    /// The message.
    pub msg: Message,
}

/// Three in-memory nodes that exchange messages in order, recording every one.
struct Net {
    nodes: BTreeMap<AirlineId, Node>,
    queue: VecDeque<Recorded>,
    log: Vec<Recorded>,
    now: Millis,
    next_request: u64,
}

impl Net {
    fn feed(&mut self, at: &AirlineId, input: Input) {
        let out = self
            .nodes
            .get_mut(at)
            .expect("a fixture node")
            .handle(input, self.now);
        for o in out {
            let rec = match o {
                Output::Send { to, msg } => Recorded {
                    from: at.clone(),
                    to: Some(to),
                    msg,
                },
                Output::Broadcast(msg) => Recorded {
                    from: at.clone(),
                    to: None,
                    msg,
                },
                _ => continue,
            };
            self.queue.push_back(rec);
        }
    }

    /// Delivers queued messages until none is left, with a bound: a fixture that does not
    /// settle in this many deliveries is a bug worth a panic, not a hang.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let Some(rec) = self.queue.pop_front() else {
                return;
            };
            self.log.push(rec.clone());
            let targets: Vec<AirlineId> = match &rec.to {
                Some(to) => vec![to.clone()],
                None => self
                    .nodes
                    .keys()
                    .filter(|a| **a != rec.from)
                    .cloned()
                    .collect(),
            };
            for to in targets {
                self.feed(
                    &to,
                    Input::Message {
                        from: rec.from.clone(),
                        msg: rec.msg.clone(),
                    },
                );
            }
        }
        panic!("the fixture network did not settle");
    }

    fn request(&mut self, at: &str, req: Request) {
        self.next_request += 1;
        let id = self.next_request;
        self.feed(&AirlineId::new(at), Input::Request(id, req));
        self.settle();
    }
}

/// Runs a short, real exchange between the three fixture airlines — each publishes its
/// catalog, partners buy seats from escrow and from the operator (a hand-over), a traveler
/// holds and cancels — and returns every message sent, in order.
///
/// The events carry valid signatures by the fixture keys, so they pass a signing node's
/// checks: that is what makes them good seeds.
pub fn record_exchange() -> Vec<Recorded> {
    let mut net = Net {
        nodes: AIRLINES
            .iter()
            .map(|a| (AirlineId::new(*a), memory_node(a, true)))
            .collect(),
        queue: VecDeque::new(),
        log: Vec::new(),
        now: T0,
        next_request: 0,
    };
    let all: Vec<AirlineId> = net.nodes.keys().cloned().collect();
    for x in &all {
        for y in all.iter().filter(|y| *y != x) {
            net.feed(x, Input::Connected(y.clone()));
        }
    }
    net.settle();
    for (i, a) in AIRLINES.iter().enumerate() {
        net.request(a, Request::PutAirports(airports()));
        net.request(a, Request::PutFlights(vec![flight(a, i as u32 + 1)]));
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
        })
    };
    // From giro's own escrow of rumos' flight, then a seat only rumos holds (a hand-over).
    net.request("giro", buy("k1", "RU1", None));
    net.request("giro", buy("k2", "RU1", Some("3D")));
    // A two-airline itinerary at boreal.
    net.request(
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
        }),
    );
    net.request(
        "rumos",
        Request::Hold(HoldRequest {
            hold_id: "cart-1".into(),
            account: None,
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: None,
            }],
            expires: T0 + 60_000,
        }),
    );
    net.request(
        "giro",
        Request::Cancel {
            ticket: passcom_crdt::TicketId::new("giro-3-1"),
            account: None,
        },
    );
    // A tick: every node asks the others what it lacks (sync requests) and the answers flow.
    net.now += 1_000;
    for a in &all {
        net.feed(a, Input::Timer(Timer::Tick));
    }
    net.settle();
    net.log
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

/// Lets panics that the code under test catches itself stay caught.
///
/// libfuzzer-sys installs a panic hook that aborts before unwinding, so even a panic the code
/// catches on purpose (`AirlineCatalog::apply_remote` guards Automerge this way) would count
/// as a crash. With the default hook back, a caught panic is only printed, and an uncaught one
/// still unwinds into libfuzzer-sys, which aborts: it is still reported as a crash.
pub fn allow_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(std::panic::take_hook()));
}
