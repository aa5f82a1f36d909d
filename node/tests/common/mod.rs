//! A few real nodes (real redb files in a temp folder) wired together in one thread.
//! Messages are delivered in order, or held back to play a partition.

#![allow(dead_code)]

use passcom_crdt::{AirlineId, Airport, Flight, FlightId, Millis};
use passcom_node::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

pub use passcom_node::fixtures::{self, HOUR_MS, T0};

pub fn a(s: &str) -> AirlineId {
    AirlineId::new(s)
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<AirlineId, Node>,
    pub queue: VecDeque<(AirlineId, AirlineId, Message)>,
    pub replies: BTreeMap<RequestId, Reply>,
    pub cut: BTreeSet<AirlineId>,
    /// Peers cut silently: their messages are dropped, yet nobody is told of a disconnect.
    pub silent: BTreeSet<AirlineId>,
    /// Settings a node is (re)opened with, when not `Config::new(name)`.
    pub configs: BTreeMap<AirlineId, Config>,
    pub now: Millis,
    next_id: RequestId,
}

/// The four airports of the test flights ([`passcom_node::fixtures`]).
pub fn airports() -> Vec<Airport> {
    fixtures::airports(&["SSA", "BSB", "MAO", "REC"])
}

/// A test flight ([`fixtures::flight`]) leaving `dep_h` hours after [`T0`], with `rows` rows
/// of `letters`.
pub fn flight(
    airline: &str,
    id: &str,
    from: &str,
    to: &str,
    dep_h: i64,
    rows: u32,
    letters: &str,
) -> Flight {
    Flight {
        rows,
        letters: letters.into(),
        ..fixtures::flight(airline, id, from, to, T0 + dep_h * HOUR_MS)
    }
}

impl Cluster {
    pub fn new(names: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster {
            dir,
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            replies: BTreeMap::new(),
            cut: BTreeSet::new(),
            silent: BTreeSet::new(),
            configs: BTreeMap::new(),
            now: T0,
            next_id: 1,
        };
        for n in names {
            c.open(n);
        }
        let all: Vec<AirlineId> = c.nodes.keys().cloned().collect();
        for x in &all {
            for y in &all {
                if x != y {
                    c.input(x, Input::Connected(y.clone()));
                }
            }
        }
        c.settle();
        c
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.redb"))
    }

    pub fn open(&mut self, name: &str) {
        let store = Store::open(&self.path(name)).unwrap();
        let cfg = self
            .configs
            .get(&a(name))
            .cloned()
            .unwrap_or_else(|| Config::new(name));
        let (node, _out) = Node::open(cfg, store, self.now).unwrap();
        self.nodes.insert(a(name), node);
    }

    /// Drops a node as a crash would: nothing in memory survives, only its redb file.
    pub fn crash(&mut self, name: &str) {
        self.nodes.remove(&a(name));
        self.queue
            .retain(|(to, from, _)| to.as_str() != name && from.as_str() != name);
    }

    pub fn input(&mut self, at: &AirlineId, input: Input) {
        self.batch(at, vec![input]);
    }

    pub fn batch(&mut self, at: &AirlineId, inputs: Vec<Input>) {
        let Some(node) = self.nodes.get_mut(at) else {
            return;
        };
        let out = node.handle_batch(inputs, self.now);
        self.route(at, out);
    }

    fn route(&mut self, from: &AirlineId, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, msg } => self.queue.push_back((to, from.clone(), msg)),
                Output::Broadcast(msg) => {
                    for to in self.nodes.keys() {
                        if to != from {
                            self.queue
                                .push_back((to.clone(), from.clone(), msg.clone()));
                        }
                    }
                }
                Output::Reply(id, r) => {
                    self.replies.insert(id, r);
                }
                Output::Rejected {
                    from: culprit,
                    reason,
                    ..
                } => {
                    panic!("{from} rejected a message from {culprit}: {reason}")
                }
                Output::SetTimer { .. } => {}
            }
        }
    }

    /// Delivers queued messages until none is left (bounded). Messages to or from a cut peer
    /// are dropped, as on a real partition.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some((to, from, msg)) = self.queue.pop_front() else {
                return;
            };
            if [&to, &from]
                .iter()
                .any(|x| self.cut.contains(*x) || self.silent.contains(*x))
            {
                continue;
            }
            self.input(&to, Input::Message { from, msg });
        }
        panic!("messages kept flowing after 100000 deliveries");
    }

    /// Runs one timer tick at every node (anti-entropy, deadlines), then settles.
    pub fn tick(&mut self, advance_ms: Millis) {
        self.now += advance_ms;
        let names: Vec<AirlineId> = self.nodes.keys().cloned().collect();
        for n in names {
            self.input(&n, Input::Timer(Timer::Tick));
        }
        self.settle();
    }

    pub fn request(&mut self, at: &str, req: Request) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        self.input(&a(at), Input::Request(id, req));
        id
    }

    pub fn put(&mut self, airline: &str, flights: Vec<Flight>) {
        let id = self.request(airline, Request::PutAirports(airports()));
        assert_eq!(self.replies.get(&id), Some(&Reply::Done));
        let id = self.request(airline, Request::PutFlights(flights));
        assert_eq!(self.replies.get(&id), Some(&Reply::Done), "flights refused");
        self.settle();
    }

    pub fn partition(&mut self, name: &str) {
        self.cut.insert(a(name));
        let others: Vec<AirlineId> = self
            .nodes
            .keys()
            .filter(|n| n.as_str() != name)
            .cloned()
            .collect();
        for o in others {
            self.input(&o, Input::Disconnected(a(name)));
            self.input(&a(name), Input::Disconnected(o));
        }
    }

    pub fn heal(&mut self, name: &str) {
        self.cut.remove(&a(name));
        let others: Vec<AirlineId> = self
            .nodes
            .keys()
            .filter(|n| n.as_str() != name)
            .cloned()
            .collect();
        for o in others {
            self.input(&o, Input::Connected(a(name)));
            self.input(&a(name), Input::Connected(o));
        }
        self.settle();
    }

    /// Connects `name` to every other node (both ends told), then settles.
    pub fn connect(&mut self, name: &str) {
        self.heal(name);
    }

    /// Runs `n` ticks of `step_ms` each.
    pub fn ticks(&mut self, n: usize, step_ms: Millis) {
        for _ in 0..n {
            self.tick(step_ms);
        }
    }

    pub fn node(&self, name: &str) -> &Node {
        &self.nodes[&a(name)]
    }

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

    pub fn ticket(&self, id: RequestId) -> Option<&Ticket> {
        match self.replies.get(&id) {
            Some(Reply::Ticket(t)) => Some(t),
            _ => None,
        }
    }

    /// Live tickets known at `name`, as (flight, seat) → ticket id.
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
