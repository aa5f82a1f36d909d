//! Structure-aware inputs for the node targets: a fuzzer-chosen sequence of operations
//! ([`Op`]) decoded with `arbitrary`, played against one node, with the checks every step must
//! pass ([`Player`]).
//!
//! Raw bytes mostly die in CBOR decoding; here the fuzzer picks *which* recorded event to
//! send, *who* sends it and *what* to change in it (a token's holder or version, a ticket's
//! seat, the sequence number, the signer), so its mutations reach the token, ticket, catalog,
//! catch-up and recovery checks. Events are re-signed with their origin's fixture key unless
//! the input says otherwise: that is what a rogue airline can publish about itself.

use crate::{AIRLINES, Exchange, Recorded, T0};
use arbitrary::Arbitrary;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use passcom_crdt::{AirlineId, FlightId, Millis, SeatId, TicketId, TokenState, VectorClock};
use passcom_node::{
    Event, HoldRequest, Input, KeyRecord, LegRequest, Message, Node, Output, PurchaseRequest,
    Request, TicketStatus, Timer,
};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many operations per input: each may be a redb commit.
pub const MAX_OPS: usize = 24;
/// At most this many events built per message.
const MAX_EVENTS: usize = 6;
/// At most this many edits per event.
const MAX_EDITS: usize = 6;

/// An airline as the fuzzer names it: the three of the fixture, or one outside the roster.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The fixture's `rumos`.
    Rumos,
    /// The fixture's `giro` (the victim itself, for some inputs).
    Giro,
    /// The fixture's `boreal`.
    Boreal,
    /// `zeta`, unknown to the roster, with a key of its own.
    Zeta,
}

impl Who {
    /// The airline's name.
    pub fn id(self) -> AirlineId {
        AirlineId::new(match self {
            Who::Rumos => AIRLINES[0],
            Who::Giro => AIRLINES[1],
            Who::Boreal => AIRLINES[2],
            Who::Zeta => "zeta",
        })
    }

    fn key_index(self) -> usize {
        match self {
            Who::Rumos => 0,
            Who::Giro => 1,
            Who::Boreal => 2,
            Who::Zeta => 3,
        }
    }
}

/// The fixture keys of rumos, giro, boreal and zeta, derived once: deriving a public key is a
/// scalar multiplication, far too slow to repeat per input under coverage instrumentation.
fn keys() -> &'static [(SigningKey, VerifyingKey); 4] {
    static KEYS: std::sync::OnceLock<[(SigningKey, VerifyingKey); 4]> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        std::array::from_fn(|i| {
            let k = crate::signing_key(i);
            let v = k.verifying_key();
            (k, v)
        })
    })
}

fn signing_key(i: usize) -> &'static SigningKey {
    &keys()[i].0
}

fn verifying_key(i: usize) -> &'static VerifyingKey {
    &keys()[i].1
}

fn key_of(airline: &AirlineId) -> Option<usize> {
    AIRLINES
        .iter()
        .position(|a| *a == airline.as_str())
        .or((airline.as_str() == "zeta").then_some(3))
}

/// How an event built by the fuzzer is signed.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Sign {
    /// By its origin's fixture key, after the edits: a rogue airline signing what it wrote.
    Origin,
    /// Left as recorded: valid only if no edit touched a signed field.
    Keep,
    /// By another airline's key: a forgery.
    By(Who),
    /// No signature.
    Empty,
}

/// A state a token edit writes.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum State {
    /// `Available{holder}`.
    Available(Who),
    /// `Held{holder, "cart-1", expires}`, `expires` seconds after the fixture's start.
    Held(Who, u16),
    /// `InTransit{from, to}`.
    InTransit(Who, Who),
    /// `Sold{seller, ticket}`, the ticket picked among the recorded ones.
    Sold(Who, u8),
}

/// One change to an event taken from the record.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Edit {
    /// Another origin.
    Origin(Who),
    /// The sequence number moved by this much (saturating at 0).
    Seq(i8),
    /// One token update dropped.
    DropToken(u8),
    /// One token update sent twice.
    DupToken(u8),
    /// One token update's `next` (or, with `prev`, its `prev`) state replaced.
    TokenState {
        /// Which update.
        index: u8,
        /// The side: `prev` when true.
        prev: bool,
        /// The new state.
        state: State,
    },
    /// One token update's `next` version moved by this much.
    TokenVersion(u8, i8),
    /// One token update moved to another seat (flight and seat picked).
    TokenSeat(u8, u8, u8),
    /// One ticket dropped.
    DropTicket(u8),
    /// One ticket's leg moved to another seat of a picked flight.
    TicketSeat(u8, u8, u8),
    /// One ticket's status flipped.
    TicketStatus(u8),
    /// One ticket's seller replaced.
    TicketSeller(u8, Who),
    /// One ticket's id replaced by another recorded ticket's id.
    TicketId(u8, u8),
    /// One ticket's legs doubled (the same seat twice on one ticket).
    TicketDupLeg(u8),
    /// The catalog changes dropped.
    DropCatalog,
    /// One byte of one catalog change overwritten.
    CatalogByte(u8, u16, u8),
    /// The catalog changes of another recorded event.
    CatalogFrom(u16),
}

/// An event to send: a recorded one (picked by index among every event of the exchange),
/// edited, then signed.
#[derive(Arbitrary, Clone, Debug)]
pub struct EventOp {
    /// Which recorded event.
    pub base: u16,
    /// The edits, in order (at most [`MAX_EDITS`] are applied).
    pub edits: Vec<Edit>,
    /// How it is signed.
    pub sign: Sign,
}

/// How a page's parts travel: the page cut as the wire cuts a large one (every part echoes
/// the nonce and `asker_seq`; all but the last say `more`), then delivered in this order.
#[derive(Arbitrary, Clone, Debug)]
pub struct Parts {
    /// Where the events are cut (each value picks a cut point).
    pub cuts: Vec<u8>,
    /// Deliver the parts last first.
    pub reversed: bool,
    /// Lose the part at this position, if any.
    pub lose: Option<u8>,
    /// Deliver the part at this position twice.
    pub duplicate: Option<u8>,
}

/// The nonce a page echoes.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Nonce {
    /// The nonce of the node's latest probe to the sender (a real answer).
    Echo,
    /// Some other time, this many ms after the fixture's start.
    Other(i32),
}

/// One step of an input.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// A recorded message (index modulo the record's length) delivered again, from its real
    /// sender or from another.
    Replay {
        /// Which message.
        index: u16,
        /// Another sender.
        from: Option<Who>,
    },
    /// Events built from recorded ones, on gossip.
    Events {
        /// The sender.
        from: Who,
        /// The events.
        events: Vec<EventOp>,
    },
    /// Events built from recorded ones, as a catch-up page, possibly in parts.
    Page {
        /// The sender.
        from: Who,
        /// The events.
        events: Vec<EventOp>,
        /// The page's `more`.
        more: bool,
        /// The nonce it echoes.
        nonce: Nonce,
        /// Its `asker_seq`.
        asker_seq: u8,
        /// How it travels.
        parts: Parts,
    },
    /// An honest partner answers the node's latest probe: a fair page of the recorded events
    /// the node lacks, in parts, with `asker_seq` the highest recorded event of the node.
    Answer {
        /// The partner.
        from: Who,
        /// How many events at most.
        limit: u8,
        /// How the page travels.
        parts: Parts,
    },
    /// A vector-clock exchange: the sender claims to have these many events of each origin.
    SyncRequest {
        /// The sender.
        from: Who,
        /// Its claimed clock, per fixture airline (rumos, giro, boreal, zeta).
        clock: [u8; 4],
        /// Its nonce.
        nonce: i32,
    },
    /// Key records: `airline` bound to `key`'s verifying key, signed by `signer`'s.
    Keys {
        /// The sender.
        from: Who,
        /// (airline, key, signer) triples.
        records: Vec<(Who, Who, Who)>,
    },
    /// A request for seats of a picked flight.
    SeatRequest {
        /// The sender.
        from: Who,
        /// The flight (picked among the fixture's, or one that does not exist).
        flight: u8,
        /// Specific seats (picked labels).
        seats: Vec<u8>,
        /// How many.
        count: u8,
    },
    /// Any CBOR bytes, decoded as the wire would: the raw path.
    Raw {
        /// The sender.
        from: Who,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A traveler buys a seat of a picked flight at the node (it writes events of its own).
    Buy {
        /// The flight.
        flight: u8,
        /// A chosen seat, if any.
        seat: Option<u8>,
        /// The idempotency key (one of a few, so retries happen).
        key: u8,
    },
    /// A traveler holds a seat in a cart.
    Hold {
        /// The flight.
        flight: u8,
        /// The cart (one of a few).
        cart: u8,
    },
    /// The operator cancels a recorded ticket.
    Cancel(u8),
    /// The tick timer fires.
    Tick,
    /// The clock moves by this many seconds (backward too: a wall-clock step).
    Clock(i16),
    /// A partner connects.
    Connected(Who),
    /// A partner disconnects.
    Disconnected(Who),
    /// The transport learned `airline`'s key to be `key`'s.
    PeerKey(Who, Who),
    /// The operator says a partner is gone for good.
    PartnerGone(Who),
}

/// A whole input: the node's settings and the steps.
#[derive(Arbitrary, Clone, Debug)]
pub struct Script {
    /// Which starting state (the target decides what each value means).
    pub state: u8,
    /// Whether the node requires signatures (the production setting).
    pub signatures: bool,
    /// The steps (at most [`MAX_OPS`] are played).
    pub ops: Vec<Op>,
}

/// What the record offers to build inputs from, computed once per process.
#[derive(Debug)]
pub struct Pool {
    /// Every message of the record.
    pub log: Vec<Recorded>,
    /// Every event of the record, one per (origin, seq), in that order.
    pub events: Vec<Event>,
    /// The ids of every recorded ticket.
    pub tickets: Vec<TicketId>,
    /// The fixture's flights, then one no catalog defines.
    pub flights: Vec<FlightId>,
}

impl Pool {
    /// The pool of `exchange`.
    pub fn new(exchange: &Exchange) -> Pool {
        let mut events: BTreeMap<(AirlineId, u64), Event> = BTreeMap::new();
        for r in &exchange.log {
            if let Message::Events { events: evs } | Message::Page { events: evs, .. } = &r.msg {
                for e in evs {
                    events.insert((e.origin.clone(), e.seq), e.clone());
                }
            }
        }
        let events: Vec<Event> = events.into_values().collect();
        let tickets: BTreeSet<TicketId> = events
            .iter()
            .flat_map(|e| e.tickets.iter().map(|t| t.id.clone()))
            .collect();
        Pool {
            log: exchange.log.clone(),
            events,
            tickets: tickets.into_iter().collect(),
            flights: ["RU1", "GI2", "BO3", "ZZ9"]
                .iter()
                .map(|f| FlightId::new(*f))
                .collect(),
        }
    }

    fn flight(&self, pick: u8) -> FlightId {
        self.flights[pick as usize % self.flights.len()].clone()
    }

    fn ticket(&self, pick: u8) -> TicketId {
        if self.tickets.is_empty() {
            return TicketId::new("giro-1-1");
        }
        self.tickets[pick as usize % self.tickets.len()].clone()
    }

    /// An event of the record, edited and signed as `op` says.
    pub fn build(&self, op: &EventOp) -> Event {
        let mut ev = self.events[op.base as usize % self.events.len()].clone();
        let mut touched = false;
        for edit in op.edits.iter().take(MAX_EDITS) {
            touched |= self.edit(&mut ev, *edit);
        }
        match op.sign {
            Sign::Keep if !touched => {}
            Sign::Keep | Sign::Origin => {
                if let Some(i) = key_of(&ev.origin) {
                    sign(&mut ev, i);
                }
            }
            Sign::By(who) => sign(&mut ev, who.key_index()),
            Sign::Empty => ev.signature.clear(),
        }
        ev
    }

    /// Applies one edit; returns whether it changed a signed field.
    fn edit(&self, ev: &mut Event, edit: Edit) -> bool {
        fn at<T>(v: &mut [T], i: u8) -> Option<&mut T> {
            let n = v.len();
            (n > 0).then(|| &mut v[i as usize % n])
        }
        match edit {
            Edit::Origin(who) => ev.origin = who.id(),
            Edit::Seq(d) => ev.seq = ev.seq.saturating_add_signed(i64::from(d)),
            Edit::DropToken(i) => {
                if !ev.tokens.is_empty() {
                    ev.tokens.remove(i as usize % ev.tokens.len());
                }
            }
            Edit::DupToken(i) => {
                if let Some(t) = at(&mut ev.tokens, i).cloned() {
                    ev.tokens.push(t);
                }
            }
            Edit::TokenState { index, prev, state } => {
                let st = self.state(state);
                if let Some(t) = at(&mut ev.tokens, index) {
                    if prev {
                        t.prev.state = st;
                    } else {
                        t.next.state = st;
                    }
                }
            }
            Edit::TokenVersion(i, d) => {
                if let Some(t) = at(&mut ev.tokens, i) {
                    t.next.version = t.next.version.saturating_add_signed(i64::from(d));
                }
            }
            Edit::TokenSeat(i, f, s) => {
                let seat = SeatId::new(self.flight(f), label(s));
                if let Some(t) = at(&mut ev.tokens, i) {
                    t.seat = seat;
                }
            }
            Edit::DropTicket(i) => {
                if !ev.tickets.is_empty() {
                    ev.tickets.remove(i as usize % ev.tickets.len());
                }
            }
            Edit::TicketSeat(i, f, s) => {
                let flight = self.flight(f);
                if let Some(leg) = at(&mut ev.tickets, i).and_then(|t| at(&mut t.legs, s)) {
                    leg.flight = flight;
                    leg.seat = label(s);
                }
            }
            Edit::TicketStatus(i) => {
                if let Some(t) = at(&mut ev.tickets, i) {
                    t.status = match t.status {
                        TicketStatus::Live => TicketStatus::Cancelled,
                        TicketStatus::Cancelled => TicketStatus::Live,
                    };
                }
            }
            Edit::TicketSeller(i, who) => {
                if let Some(t) = at(&mut ev.tickets, i) {
                    t.seller = who.id();
                }
            }
            Edit::TicketId(i, pick) => {
                let id = self.ticket(pick);
                if let Some(t) = at(&mut ev.tickets, i) {
                    t.id = id;
                }
            }
            Edit::TicketDupLeg(i) => {
                if let Some(t) = at(&mut ev.tickets, i)
                    && let Some(leg) = t.legs.first().cloned()
                {
                    t.legs.push(leg);
                }
            }
            Edit::DropCatalog => ev.catalog.clear(),
            Edit::CatalogByte(i, pos, byte) => {
                if let Some(c) = at(&mut ev.catalog, i)
                    && !c.is_empty()
                {
                    let n = c.len();
                    c[pos as usize % n] = byte;
                }
            }
            Edit::CatalogFrom(pick) => {
                ev.catalog = self.events[pick as usize % self.events.len()]
                    .catalog
                    .clone();
            }
        }
        true
    }

    fn state(&self, s: State) -> TokenState {
        match s {
            State::Available(h) => TokenState::Available { holder: h.id() },
            State::Held(h, secs) => TokenState::Held {
                holder: h.id(),
                hold_id: "cart-1".into(),
                expires: T0 + i64::from(secs) * 1_000,
            },
            State::InTransit(from, to) => TokenState::InTransit {
                from: from.id(),
                to: to.id(),
            },
            State::Sold(seller, t) => TokenState::Sold {
                seller: seller.id(),
                ticket: self.ticket(t),
            },
        }
    }

    /// The recorded events `node` lacks, fair across origins as a partner's page is, at most
    /// `limit`; and whether more remain.
    fn missing(&self, node: &Node, limit: usize) -> (Vec<Event>, bool) {
        let mut by_origin: BTreeMap<&AirlineId, Vec<&Event>> = BTreeMap::new();
        for e in &self.events {
            if e.seq > node.clock().get(&e.origin) {
                by_origin.entry(&e.origin).or_default().push(e);
            }
        }
        let total: usize = by_origin.values().map(Vec::len).sum();
        let share = (limit / by_origin.len().max(1)).max(1);
        let page: Vec<Event> = by_origin
            .values()
            .flat_map(|v| v.iter().take(share).map(|e| (*e).clone()))
            .take(limit)
            .collect();
        let more = page.len() < total;
        (page, more)
    }
}

/// A seat label picked by `s`: rows 1 to 4 (the fixture flights have 3), letters A to E (they
/// have A to D), so some picks are seats no flight has.
fn label(s: u8) -> String {
    format!(
        "{}{}",
        1 + (s / 5) % 4,
        ['A', 'B', 'C', 'D', 'E'][s as usize % 5]
    )
}

fn sign(ev: &mut Event, key: usize) {
    ev.signature = signing_key(key)
        .sign(&ev.signed_bytes())
        .to_bytes()
        .to_vec();
}

/// A page cut into parts as `parts` says, in delivery order.
fn cut(events: Vec<Event>, more: bool, nonce: Millis, asker_seq: u64, p: &Parts) -> Vec<Message> {
    let mut points: Vec<usize> = p
        .cuts
        .iter()
        .take(4)
        .map(|c| *c as usize % (events.len() + 1))
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks: Vec<Vec<Event>> = Vec::new();
    let mut rest = events;
    for at in points.into_iter().rev() {
        chunks.push(rest.split_off(at.min(rest.len())));
    }
    chunks.push(rest);
    chunks.reverse();
    chunks.retain(|c| !c.is_empty());
    let mut msgs = passcom_net::wire::page_parts(chunks, more, nonce, asker_seq);
    if let Some(d) = p.duplicate {
        let m = msgs[d as usize % msgs.len()].clone();
        msgs.push(m);
    }
    if let Some(l) = p.lose
        && msgs.len() > 1
    {
        msgs.remove(l as usize % msgs.len());
    }
    if p.reversed {
        msgs.reverse();
    }
    msgs
}

/// The events a node's log holds, as they were adopted.
#[derive(Clone, Debug, Default)]
pub struct Adopted(BTreeMap<(AirlineId, u64), Event>);

/// Plays an input against a node and checks it after every step.
pub struct Player<'a> {
    /// The node under test.
    pub node: Node,
    /// What inputs are built from.
    pub pool: &'a Pool,
    /// The node's time.
    pub now: Millis,
    /// Every (origin, seq) the node has adopted, with the event it adopted: an event
    /// once in the log never changes.
    adopted: BTreeMap<(AirlineId, u64), Event>,
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
        baseline: &Adopted,
    ) -> Self {
        let mut p = Player {
            node,
            pool,
            now,
            adopted: baseline.0.clone(),
            probes: BTreeMap::new(),
            requests: BTreeSet::new(),
            next_request: 0,
            signatures,
        };
        // A copy of a node whose log `baseline` holds: nothing to check yet.
        if p.adopted.is_empty() {
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
        let p = Player::new(node, pool, now, signatures, &Adopted::default());
        Adopted(p.adopted)
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
                for m in cut(events, *more, nonce, u64::from(*asker_seq), parts) {
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
                for m in cut(events, more, nonce, asker_seq, parts) {
                    self.message(*from, m);
                }
            }
            Op::SyncRequest { from, clock, nonce } => {
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
                        r.signature = signing_key(signer.key_index())
                            .sign(&r.signed_bytes())
                            .to_bytes()
                            .to_vec();
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
    pub fn check_log(&mut self) {
        let me = self.node.airline().clone();
        let log = self
            .node
            .events_missing_from(&VectorClock::new(), usize::MAX)
            .expect("the in-memory log reads")
            .0;
        let mut own = 0u64;
        for e in &log {
            if e.origin == me {
                own += 1;
                assert_eq!(
                    e.seq, own,
                    "the node's own log has a gap or is out of order"
                );
            }
            let key = (e.origin.clone(), e.seq);
            if let Some(first) = self.adopted.get(&key) {
                // Checked when first seen; it must not have changed since.
                assert!(
                    first == e,
                    "event {} of {} changed in the log: two versions adopted",
                    e.seq,
                    e.origin
                );
                continue;
            }
            let must_verify = e.origin == me || self.signatures;
            if must_verify && let Some(i) = key_of(&e.origin).filter(|i| *i < AIRLINES.len()) {
                let ok = Signature::from_slice(&e.signature)
                    .is_ok_and(|sig| verifying_key(i).verify(&e.signed_bytes(), &sig).is_ok());
                assert!(
                    ok,
                    "event {} of {} in the log is not signed by it",
                    e.seq, e.origin
                );
            }
            self.adopted.insert(key, e.clone());
        }
        assert_eq!(
            own,
            self.node.clock().get(&me),
            "gaps in the node's own log"
        );
    }
}
