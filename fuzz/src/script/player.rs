//! Plays a fuzz input against one node ([`Player`]) and checks it after every step: no flight
//! shows more live legs than seats, every reply answers a request, and the log never changes
//! an adopted event, has no gap in the node's own numbers and holds only events signed by
//! their origin.
//!
//! It must never repair or skip what the node did: a failed check is a panic, the fuzzer's
//! finding.

use super::keys::{key_of, signature, verifies, verifying_key};
use super::pool::{cut, label};
use super::{MAX_EVENTS, MAX_OPS, Nonce, Op, Pool, Seen, Who};
use crate::{AIRLINES, T0};
use passcom_crdt::{AirlineId, FlightId, Millis, VectorClock};
use passcom_node::{
    Event, HoldRequest, Input, KeyRecord, LegRequest, Message, Node, Output, Presence,
    PurchaseRequest, Request, TicketStatus, Timer,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The events a node's log holds, as they were adopted, and their rows in its in-memory
/// store ([`passcom_node::Store::event_rows`]): a copy of the node whose row is still the
/// same allocation holds the same bytes, so the same event, and is not decoded again.
#[derive(Clone, Debug, Default)]
pub struct Adopted {
    events: BTreeMap<(AirlineId, u64), Event>,
    rows: BTreeMap<(AirlineId, u64), Arc<[u8]>>,
}

impl Adopted {
    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Plays an input against a node and checks it after every step.
pub struct Player<'a> {
    /// The node under test.
    pub node: Node,
    /// What inputs are built from.
    pub pool: &'a Pool,
    /// The node's time.
    pub now: Millis,
    /// Every (origin, seq) the node had adopted when it was copied, with the event it
    /// adopted: an event once in the log never changes. Shared by every input, never copied.
    baseline: &'a Adopted,
    /// Every (origin, seq) adopted since, with the event (and, for [`Player::baseline`], the
    /// row).
    adopted: Adopted,
    /// The nonce of the node's latest probe to each partner.
    probes: BTreeMap<AirlineId, Millis>,
    /// The ids of the requests made to the node, so any reply can be matched to one.
    requests: BTreeSet<u64>,
    next_request: u64,
    /// Whether remote events in the log must carry their origin's signature.
    signatures: bool,
}

impl<'a> Player<'a> {
    /// A player over `node`, which requires signatures when `signatures`. `baseline` is what
    /// [`Player::baseline`] gave for the node `node` was copied from (its log is then not
    /// read and checked again).
    pub fn new(
        node: Node,
        pool: &'a Pool,
        now: Millis,
        signatures: bool,
        baseline: &'a Adopted,
    ) -> Self {
        let mut p = Player {
            node,
            pool,
            now,
            baseline,
            adopted: Adopted::default(),
            probes: BTreeMap::new(),
            requests: BTreeSet::new(),
            next_request: 0,
            signatures,
        };
        // A copy of a node whose log `baseline` holds: nothing to check yet.
        if baseline.is_empty() {
            p.check_log();
        }
        p
    }

    /// Checks the log of `node` (a node copies will be made of) and returns what it holds,
    /// for [`Player::new`].
    ///
    /// Panics: when the log fails the checks of [`Player::check_log`].
    pub fn baseline(node: Node, pool: &Pool, signatures: bool) -> Adopted {
        let now = T0;
        let empty = Adopted::default();
        let p = Player::new(node, pool, now, signatures, &empty);
        p.adopted
    }

    /// Feeds one input to the node, records the probes it sends and checks its outputs.
    pub fn feed(&mut self, input: Input) {
        let out = self.node.handle(input, self.now);
        for o in &out {
            match o {
                Output::Send {
                    to,
                    msg: Message::SyncRequest { nonce, .. },
                } => {
                    self.probes.insert(to.clone(), *nonce);
                }
                Output::Reply(id, _) => {
                    assert!(
                        self.requests.contains(id),
                        "a reply without a request: {o:?}"
                    );
                }
                _ => {}
            }
        }
    }

    fn message(&mut self, from: Who, msg: Message) {
        self.feed(Input::Message {
            from: from.id(),
            msg,
        });
    }

    fn request(&mut self, req: Request) {
        self.next_request += 1;
        self.requests.insert(self.next_request);
        self.feed(Input::Request(self.next_request, req));
    }

    /// Plays every step (at most [`MAX_OPS`]), checking the node after each, and its log
    /// after the last.
    pub fn play_all(&mut self, ops: &[Op]) {
        for op in ops.iter().take(MAX_OPS) {
            self.play(op);
        }
        self.check_log();
    }

    /// Plays one step, then checks the node's capacity (the log is checked by
    /// [`Player::play_all`]: reading it back from redb after every step would cost more than
    /// the step).
    pub fn play(&mut self, op: &Op) {
        let victim = self.node.airline().clone();
        match op {
            Op::Replay { index, from } => {
                if self.pool.log.is_empty() {
                    return;
                }
                let r = &self.pool.log[*index as usize % self.pool.log.len()];
                let from = from.map(Who::id).unwrap_or_else(|| r.from.clone());
                if from == victim {
                    return; // the transport never attributes a message to ourselves
                }
                self.feed(Input::Message {
                    from,
                    msg: r.msg.clone(),
                });
            }
            Op::Events { from, events } => {
                let events = events
                    .iter()
                    .take(MAX_EVENTS)
                    .map(|e| self.pool.build(e))
                    .collect();
                self.message(*from, Message::Events { events });
            }
            Op::Page {
                from,
                events,
                more,
                nonce,
                asker_seq,
                presence,
                parts,
            } => {
                let events = events
                    .iter()
                    .take(MAX_EVENTS)
                    .map(|e| self.pool.build(e))
                    .collect();
                let nonce = match nonce {
                    Nonce::Echo => self.probes.get(&from.id()).copied().unwrap_or(T0),
                    Nonce::Other(d) => T0 + i64::from(*d),
                };
                let mine = self.node.incarnation();
                let presence = match presence {
                    Seen::Alone(t) => Presence {
                        incarnation: mine,
                        other: None,
                        alone_ms: i64::from(*t) * 10,
                    },
                    Seen::Twin(i) => Presence {
                        incarnation: mine,
                        other: Some(u64::from(*i)),
                        alone_ms: 0,
                    },
                    Seen::Elsewhere(i) => Presence {
                        incarnation: mine ^ (u64::from(*i) + 1),
                        other: None,
                        alone_ms: 0,
                    },
                };
                for m in cut(events, *more, nonce, u64::from(*asker_seq), presence, parts) {
                    self.message(*from, m);
                }
            }
            Op::Answer { from, limit, parts } => {
                let limit = (*limit as usize % 16) + 1;
                let (events, more) = self.pool.missing(&self.node, limit);
                let nonce = self.probes.get(&from.id()).copied().unwrap_or(T0);
                let asker_seq = self
                    .pool
                    .events
                    .iter()
                    .filter(|e| e.origin == victim)
                    .map(|e| e.seq)
                    .max()
                    .unwrap_or(0);
                // An honest partner that has heard the node alone for long.
                let presence = Presence {
                    incarnation: self.node.incarnation(),
                    other: None,
                    alone_ms: 60_000,
                };
                for m in cut(events, more, nonce, asker_seq, presence, parts) {
                    self.message(*from, m);
                }
            }
            Op::SyncRequest {
                from,
                clock,
                nonce,
                incarnation,
            } => {
                let mut vc = VectorClock::new();
                for (who, n) in [Who::Rumos, Who::Giro, Who::Boreal, Who::Zeta]
                    .iter()
                    .zip(clock)
                {
                    vc.observe(&who.id(), u64::from(*n));
                }
                self.message(
                    *from,
                    Message::SyncRequest {
                        clock: vc,
                        nonce: T0 + i64::from(*nonce),
                        incarnation: u64::from(*incarnation),
                    },
                );
            }
            Op::Keys { from, records } => {
                let records = records
                    .iter()
                    .take(4)
                    .map(|(airline, key, signer)| {
                        let mut r = KeyRecord {
                            airline: airline.id(),
                            key: verifying_key(key.key_index()).to_bytes().to_vec(),
                            signature: Vec::new(),
                        };
                        r.signature = signature(signer.key_index(), r.signed_bytes());
                        r
                    })
                    .collect();
                self.message(*from, Message::Keys { records });
            }
            Op::SeatRequest {
                from,
                flight,
                seats,
                count,
            } => {
                let msg = Message::SeatRequest {
                    flight: self.pool.flight(*flight),
                    seats: seats.iter().take(6).map(|s| label(*s)).collect(),
                    count: u32::from(*count),
                };
                self.message(*from, msg);
            }
            Op::Raw { from, bytes } => {
                if let Ok(msg) = ciborium::from_reader::<Message, _>(bytes.as_slice()) {
                    self.message(*from, msg);
                }
            }
            Op::Buy { flight, seat, key } => {
                let req = PurchaseRequest {
                    key: format!("fuzz-{}", key % 4),
                    passenger: "Fuzz".into(),
                    account: None,
                    legs: vec![LegRequest {
                        flight: self.pool.flight(*flight),
                        seat: seat.map(label),
                    }],
                    hold_id: None,
                    seat_fallback: Default::default(),
                };
                self.request(Request::Purchase(req));
            }
            Op::Hold { flight, cart } => {
                let req = HoldRequest {
                    hold_id: format!("fuzz-cart-{}", cart % 3),
                    account: None,
                    legs: vec![LegRequest {
                        flight: self.pool.flight(*flight),
                        seat: None,
                    }],
                    expires: self.now + 60_000,
                    seat_fallback: Default::default(),
                };
                self.request(Request::Hold(req));
            }
            Op::Cancel(t) => {
                let ticket = self.pool.ticket(*t);
                self.request(Request::Cancel {
                    ticket,
                    account: None,
                });
            }
            Op::Tick => self.feed(Input::Timer(Timer::Tick)),
            Op::Clock(secs) => self.now += i64::from(*secs) * 1_000,
            Op::Connected(w) => self.feed(Input::Connected(w.id())),
            Op::Disconnected(w) => self.feed(Input::Disconnected(w.id())),
            Op::PeerKey(airline, key) => self.feed(Input::PeerKey {
                airline: airline.id(),
                key: verifying_key(key.key_index()).to_bytes(),
            }),
            Op::PartnerGone(w) => self.feed(Input::PartnerGone(w.id())),
        }
        self.check_capacity();
    }

    /// No flight shows more live legs than seats.
    pub fn check_capacity(&self) {
        let mut sold: BTreeMap<&FlightId, u32> = BTreeMap::new();
        for t in self.node.tickets().values() {
            if t.status == TicketStatus::Live {
                for leg in &t.legs {
                    *sold.entry(&leg.flight).or_default() += 1;
                }
            }
        }
        for (flight, n) in sold {
            if let Some(f) = self.node.catalog().flight(flight) {
                assert!(
                    n <= f.capacity(),
                    "{flight}: {n} live legs, {} seats",
                    f.capacity()
                );
            }
        }
    }

    /// The log: an event once adopted never changes (no two events for one origin and
    /// number), the node's own events are numbered without gaps and signed by its key, and,
    /// when signatures are required, every event of a roster airline is signed by it.
    ///
    /// The log is every origin's events from 1 to the node's clock, as a partner asking with
    /// an empty clock gets it (`Node::events_missing_from`). On an in-memory store only the
    /// rows written since the copy are decoded: a row that is still the allocation the
    /// baseline read is the event the baseline checked.
    pub fn check_log(&mut self) {
        let me = self.node.airline().clone();
        let clock = self.node.clock().clone();
        let mut own = 0u64;
        for (origin, last) in clock.iter() {
            let Some(rows) = self.node.store().event_rows(origin, 1, last) else {
                // A redb store: decode the whole log.
                let log = self
                    .node
                    .store()
                    .events(origin, 1, last, usize::MAX)
                    .expect("the log reads");
                for e in log {
                    self.check_event(&me, &mut own, e, None);
                }
                continue;
            };
            for (seq, row) in rows {
                let key = (origin.clone(), seq);
                if self
                    .baseline
                    .rows
                    .get(&key)
                    .is_some_and(|b| Arc::ptr_eq(b, &row))
                {
                    // The bytes the baseline decoded and checked: the event it adopted.
                    if *origin == me {
                        own += 1;
                        assert_eq!(seq, own, "the node's own log has a gap or is out of order");
                    }
                    continue;
                }
                let e = self
                    .node
                    .store()
                    .events(origin, seq, seq, 1)
                    .expect("the in-memory log reads")
                    .pop()
                    .expect("a row the store just listed");
                self.check_event(&me, &mut own, e, Some(row));
            }
        }
        assert_eq!(own, clock.get(&me), "gaps in the node's own log");
    }

    /// [`Player::check_log`] for one event of the log, read from `row` when the store is in
    /// memory; `own` counts the node's own events so far.
    fn check_event(&mut self, me: &AirlineId, own: &mut u64, e: Event, row: Option<Arc<[u8]>>) {
        if e.origin == *me {
            *own += 1;
            assert_eq!(
                e.seq, *own,
                "the node's own log has a gap or is out of order"
            );
        }
        let key = (e.origin.clone(), e.seq);
        if let Some(first) = self
            .baseline
            .events
            .get(&key)
            .or_else(|| self.adopted.events.get(&key))
        {
            // Checked when first seen; it must not have changed since.
            assert!(
                first == &e,
                "event {} of {} changed in the log: two versions adopted",
                e.seq,
                e.origin
            );
            return;
        }
        let must_verify = e.origin == *me || self.signatures;
        if must_verify && let Some(i) = key_of(&e.origin).filter(|i| *i < AIRLINES.len()) {
            let ok = verifies(i, e.signed_bytes(), &e.signature);
            assert!(
                ok,
                "event {} of {} in the log is not signed by it",
                e.seq, e.origin
            );
        }
        if let Some(row) = row {
            self.adopted.rows.insert(key.clone(), row);
        }
        self.adopted.events.insert(key, e);
    }
}
