//! The airline peer's state machine: inputs in, outputs out, no clock, no socket.
//!
//! # Calling order
//! 1. [`Node::open`] reads the store and returns the outputs that resume unfinished work
//!    (timers of pending purchases and holds, the first [`Timer::Tick`]).
//! 2. [`Node::handle_batch`] takes every input that arrived together and the current time.
//!    Its changes are committed to redb in ONE write transaction (group commit) before any
//!    output is returned, so nothing is sent that a crash could take back.
//! 3. The driver performs the outputs in order: sends, broadcasts, timers, replies.
//!
//! Getters (`token`, `tickets`, `seat_counts`, …) read the in-memory state, which always equals
//! what is committed.
//!
//! # How a purchase proceeds
//! For every leg the node needs a token it holds. Missing ones are asked for with
//! [`Message::SeatRequest`] and the purchase is recorded as pending with a deadline. Once every
//! leg's token is here, all legs are written `Sold` in the same transaction as the ticket and
//! the purchase record, so a multi-leg itinerary is all-or-nothing and a retry under the same
//! idempotency key finds the ticket.

use crate::model::*;
use crate::store::{Batch, Operation, OutboxEntry, PendingOp, Store, StoreError};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use passcom_crdt::{
    AirlineId, Catalog, Flight, FlightId, Millis, SeatId, TicketId, Token, TokenState, Transition,
    VectorClock,
};
use std::collections::{BTreeMap, BTreeSet};

mod catchup;
mod deferred;
mod keys;
mod liveness;
mod recovery;
mod remote;
mod snapshot;
mod verify;

pub use liveness::PeerHealth;
use recovery::Phase;
pub use recovery::{Equivocation, PeerState};

/// Settings of one peer.
#[derive(Clone, Debug)]
pub struct Config {
    /// This peer's airline.
    pub airline: AirlineId,
    /// How long a purchase may wait for seats held elsewhere before it is refused (ms).
    pub purchase_timeout_ms: i64,
    /// Period of the anti-entropy tick: clock exchange, hold expiry, pool refill (ms).
    pub tick_ms: i64,
    /// A partner whose sellable seats of a flight fall below this asks for more.
    pub refill_low_water: u32,
    /// How many seats a refill asks for.
    pub refill_batch: u32,
    /// At most this many events go in one catch-up page. Large pages amortise the round
    /// trip and the commit of each page over many events; the wire cuts a page into parts
    /// of at most `CHUNK_BYTES` (net crate) when it is larger.
    pub max_events_per_sync: usize,
    /// Bound of each origin's room in the queue of events that arrived before their
    /// predecessors (see `machine/deferred.rs`: rooms are also bounded in bytes, and origins
    /// whose key is unknown get small rooms for a limited time).
    pub max_deferred: usize,
    /// The secret key that signs this peer's events (`None`: unsigned, for tests).
    pub signing_key: Option<[u8; 32]>,
    /// Whether remote events must carry a valid signature of their origin's key.
    pub require_signatures: bool,
    /// Verifying keys of the network's airlines known in advance. More can be learned with
    /// [`Input::PeerKey`] unless `roster_closed`.
    pub roster: BTreeMap<AirlineId, [u8; 32]>,
    /// When set, only airlines of `roster` belong to the network: events of any other origin
    /// are rejected rather than kept until its key is learned.
    pub roster_closed: bool,
    /// A connected partner that has not answered a probe ([`Message::SyncRequest`]) sent in
    /// the last `suspect_after_ms` is treated as unreachable: no seat requests go to it and
    /// purchases that need it are answered at once. Probes go out every tick.
    pub suspect_after_ms: i64,
    /// Start every open in the recovering state: sell nothing until the reachable partners
    /// have sent what they hold of every origin, this peer's own included (see
    /// [`PeerState::Recovering`]). Off by default for in-process tests; `passcom peer` sets it.
    pub recover_at_start: bool,
    /// The operator asserts that no partner holds events of this airline (a brand-new
    /// network): an empty store starts active instead of waiting for partners.
    pub fresh_network: bool,
    /// The partners this peer's network has, besides those it learns of (its clock's origins
    /// and its connections). A recovering peer waits to be caught up by every one of them:
    /// after a lost disk it knows nobody, and a partner it never hears of may be the only
    /// one holding some of its own events (`passcom peer --partners`).
    pub partners: BTreeSet<AirlineId>,
    /// Partners gone for good (their operator said so): a recovering peer does not wait for
    /// them. What they alone held of this peer's events is lost with them, so their operator
    /// must be sure (`passcom peer --partner-gone`, [`Input::PartnerGone`]).
    pub gone_partners: BTreeSet<AirlineId>,
    /// A deliberate bug, so the simulator's checker can prove it catches one. Exists only in
    /// builds with the `planted-bugs` feature.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
}

/// Bugs the simulator plants to show that its checker fails when an invariant breaks.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// A peer sells seats whose token another peer holds.
    NonHolderSells,
    /// Merging keeps the lower version: a stale update rolls a token back.
    MergeKeepsLower,
}

#[cfg(feature = "planted-bugs")]
impl std::str::FromStr for PlantedBug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "non-holder-sells" => Ok(PlantedBug::NonHolderSells),
            "merge-keeps-lower" => Ok(PlantedBug::MergeKeepsLower),
            _ => Err(format!(
                "unknown planted bug {s:?}: expected non-holder-sells or merge-keeps-lower"
            )),
        }
    }
}

impl Config {
    /// Defaults for `airline`: 3 s purchase deadline, 1 s tick, unsigned.
    pub fn new(airline: impl Into<AirlineId>) -> Self {
        Config {
            airline: airline.into(),
            purchase_timeout_ms: 3_000,
            tick_ms: 1_000,
            refill_low_water: 4,
            refill_batch: 12,
            max_events_per_sync: 2048,
            max_deferred: 10_000,
            signing_key: None,
            require_signatures: false,
            roster: BTreeMap::new(),
            roster_closed: false,
            suspect_after_ms: 3_000,
            recover_at_start: false,
            fresh_network: false,
            partners: BTreeSet::new(),
            gone_partners: BTreeSet::new(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

/// Where one seat is, for the seat map.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SeatStatus {
    /// Sellable by this peer now.
    Here,
    /// Sellable by a partner.
    Partner {
        /// Who holds it.
        holder: AirlineId,
    },
    /// Being handed over.
    Moving {
        /// From.
        from: AirlineId,
        /// To.
        to: AirlineId,
    },
    /// In a cart.
    Held {
        /// Where.
        holder: AirlineId,
    },
    /// Sold.
    Sold,
}

/// What trying an operation found.
#[allow(clippy::large_enum_variant)] // short-lived, never stored in bulk
enum Attempt {
    /// Done: reply with this and record it.
    Finished(Operation, Reply),
    /// Some legs need seats from elsewhere: these requests would fetch them.
    Waiting(Vec<(AirlineId, Message)>, FlightId),
}

/// The airline peer. See the module documentation for the calling order.
pub struct Node {
    cfg: Config,
    store: Store,
    signer: Option<SigningKey>,
    roster: BTreeMap<AirlineId, VerifyingKey>,
    /// Signed key records to relay (this peer's own included), by airline: see
    /// [`KeyRecord`]. Kept in memory only: each is heard again from its airline's pages.
    key_records: BTreeMap<AirlineId, KeyRecord>,
    catalog: Catalog,
    tokens: BTreeMap<SeatId, Token>,
    tickets: BTreeMap<TicketId, Ticket>,
    clock: VectorClock,
    operations: BTreeMap<String, Operation>,
    holds: BTreeMap<String, Hold>,
    outbox: BTreeMap<SeatId, OutboxEntry>,
    /// Partners the transport reports connected, with when the connection came up.
    connected: BTreeMap<AirlineId, Millis>,
    /// Per partner, the send time (our clock) of the latest probe it answered.
    answered: BTreeMap<AirlineId, Millis>,
    /// Per partner, when we last received an answer from it.
    heard: BTreeMap<AirlineId, Millis>,
    /// Connected partners that answered a recent probe: the only ones counted on.
    reachable: BTreeSet<AirlineId>,
    phase: Phase,
    equivocations: Vec<Equivocation>,
    equivocation_count: u64,
    /// Added to the caller's `now` so that the node's time never runs backward (a wall clock
    /// stepped back): see [`Node::handle_batch`].
    time_offset: Millis,
    last_now: Millis,
    deferred: deferred::DeferredQueue,
    waiters: BTreeMap<String, Vec<RequestId>>,
    /// Keys of the operations still pending: an index, so retries need not scan every record.
    pending: BTreeSet<String>,
    requested: BTreeMap<(AirlineId, FlightId), Millis>,
    // Scratch of the batch in progress.
    batch: Batch,
    local_tokens: Vec<TokenUpdate>,
    local_tickets: Vec<Ticket>,
    local_catalog: Vec<Vec<u8>>,
    dirty_docs: BTreeSet<AirlineId>,
    direct: BTreeSet<AirlineId>,
    sync_asked: BTreeSet<AirlineId>,
    out: Vec<Output>,
    tickets_in_batch: u32,
    tokens_arrived: bool,
    /// Set when a failed commit could not be followed by a reload: memory may hold changes the
    /// disk does not, so nothing is processed until a reload succeeds.
    stale: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("airline", &self.cfg.airline)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Why the node could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store failed or holds foreign data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored catalog document does not load.
    #[error(
        "catalog of {airline} in {path} does not load ({why}); start from a new data folder to resync from peers"
    )]
    Catalog {
        /// Whose document.
        airline: AirlineId,
        /// The database file.
        path: String,
        /// The error.
        why: String,
    },
    /// The signing key or a roster key is not a valid ed25519 key.
    #[error("invalid ed25519 key for {0}")]
    Key(AirlineId),
    /// Two airlines of the network would share a flight-id code, so either could claim the
    /// other's flight ids.
    #[error(
        "airlines {first} and {second} share the flight-id code {code:?} (the first two letters of the name); rename one of them"
    )]
    CodeClash {
        /// One airline.
        first: AirlineId,
        /// The other.
        second: AirlineId,
        /// Their common code.
        code: String,
    },
}

const MAX_LEGS: usize = 6;
const MAX_KEY_LEN: usize = 128;

impl Node {
    /// Opens the peer over `store` and resumes unfinished work as of `now`.
    ///
    /// Returns the node and the outputs to perform first (timers). Pending purchases whose
    /// deadline passed while the peer was down are refused at the first tick.
    ///
    /// Errors: the store cannot be read, belongs to another airline, a key is invalid, or two
    /// airlines of the roster and partners share a flight-id code ([`OpenError::CodeClash`]).
    pub fn open(cfg: Config, store: Store, now: Millis) -> Result<(Node, Vec<Output>), OpenError> {
        // Flight ids are tied to their airline by its code: two airlines of one network must
        // not share one (see `passcom_crdt::airline_code`).
        let mut codes: BTreeMap<String, &AirlineId> = BTreeMap::new();
        let members = std::iter::once(&cfg.airline)
            .chain(cfg.roster.keys())
            .chain(cfg.partners.iter());
        for airline in members {
            let code = passcom_crdt::airline_code(airline);
            match codes.get(&code) {
                Some(first) if *first != airline => {
                    return Err(OpenError::CodeClash {
                        first: (*first).clone(),
                        second: airline.clone(),
                        code,
                    });
                }
                _ => {
                    codes.insert(code, airline);
                }
            }
        }
        let signer = cfg.signing_key.map(|k| SigningKey::from_bytes(&k));
        let mut roster = BTreeMap::new();
        for (airline, key) in &cfg.roster {
            roster.insert(
                airline.clone(),
                VerifyingKey::from_bytes(key).map_err(|_| OpenError::Key(airline.clone()))?,
            );
        }
        let mut node = Node {
            cfg,
            store,
            signer,
            roster,
            key_records: BTreeMap::new(),
            catalog: Catalog::new(),
            tokens: BTreeMap::new(),
            tickets: BTreeMap::new(),
            clock: VectorClock::new(),
            operations: BTreeMap::new(),
            holds: BTreeMap::new(),
            outbox: BTreeMap::new(),
            connected: BTreeMap::new(),
            answered: BTreeMap::new(),
            heard: BTreeMap::new(),
            reachable: BTreeSet::new(),
            phase: Phase::Active,
            equivocations: Vec::new(),
            equivocation_count: 0,
            time_offset: 0,
            last_now: now,
            deferred: deferred::DeferredQueue::default(),
            waiters: BTreeMap::new(),
            pending: BTreeSet::new(),
            requested: BTreeMap::new(),
            batch: Batch::default(),
            local_tokens: Vec::new(),
            local_tickets: Vec::new(),
            local_catalog: Vec::new(),
            dirty_docs: BTreeSet::new(),
            direct: BTreeSet::new(),
            sync_asked: BTreeSet::new(),
            out: Vec::new(),
            tickets_in_batch: 0,
            tokens_arrived: false,
            stale: false,
        };
        node.sign_own_key_record();
        let recorded = node.reload()?;
        if !recorded {
            let mut b = Batch::default();
            b.meta("airline", node.cfg.airline.as_str().as_bytes().to_vec());
            node.store.commit(b)?;
        }
        let empty = node.clock.get(&node.cfg.airline) == 0;
        if node.cfg.recover_at_start && !(empty && node.cfg.fresh_network) {
            node.phase = Phase::recovering(now);
        }
        // Deadlines written under a clock that has since stepped back would hold a purchase
        // for the size of the step: none waits longer than one purchase timeout from now.
        let latest = now + node.cfg.purchase_timeout_ms;
        for op in node.operations.values_mut() {
            if let Operation::Pending { deadline, .. } = op {
                *deadline = (*deadline).min(latest);
            }
        }
        let mut out = vec![Output::SetTimer {
            at: now + node.cfg.tick_ms,
            timer: Timer::Tick,
        }];
        for (key, op) in &node.operations {
            if let Operation::Pending { deadline, .. } = op {
                out.push(Output::SetTimer {
                    at: *deadline,
                    timer: Timer::Deadline(key.clone()),
                });
            }
        }
        for hold in node.holds.values() {
            out.push(Output::SetTimer {
                at: hold.expires,
                timer: Timer::HoldExpiry(hold.hold_id.clone()),
            });
        }
        Ok((node, out))
    }

    /// Replaces the in-memory state with what the store holds (after open, or after a failed
    /// commit so that nothing uncommitted survives).
    /// Returns whether the store already recorded its airline.
    fn reload(&mut self) -> Result<bool, OpenError> {
        let snap = self.store.load()?;
        let recorded = snap.airline.is_some();
        if let Some(found) = &snap.airline
            && found != self.cfg.airline.as_str()
        {
            return Err(StoreError::WrongAirline {
                path: self.store.path().to_owned(),
                found: found.clone(),
                expected: self.cfg.airline.to_string(),
            }
            .into());
        }
        let mut catalog = Catalog::new();
        for (airline, bytes) in &snap.catalog {
            let doc = passcom_crdt::AirlineCatalog::load(airline.clone(), bytes).map_err(|e| {
                OpenError::Catalog {
                    airline: airline.clone(),
                    path: self.store.path().to_owned(),
                    why: e.to_string(),
                }
            })?;
            catalog.insert_doc(doc);
        }
        self.catalog = catalog;
        self.tokens = snap.tokens;
        self.tickets = snap.tickets;
        self.clock = snap.clock;
        // Only final answers are kept for a key; a store of an older build may hold answers to
        // one attempt ("unreachable", "timed out"), which a retry must try again.
        self.operations = snap
            .operations
            .into_iter()
            .filter(|(_, o)| !matches!(o, Operation::Refused(r) if r.is_transient()))
            .collect();
        self.pending = self
            .operations
            .iter()
            .filter(|(_, o)| matches!(o, Operation::Pending { .. }))
            .map(|(k, _)| k.clone())
            .collect();
        self.holds = snap.holds;
        self.outbox = snap.outbox;
        for (airline, key) in snap.roster {
            // Keys given in the configuration win over keys learned earlier.
            if let (false, Ok(k)) = (
                self.roster.contains_key(&airline),
                VerifyingKey::from_bytes(&key),
            ) {
                self.roster.insert(airline, k);
            }
        }
        Ok(recorded)
    }

    // ----------------------------------------------------------------------------------------
    // Getters

    /// This peer's airline.
    pub fn airline(&self) -> &AirlineId {
        &self.cfg.airline
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The vector clock: the events applied, per origin.
    pub fn clock(&self) -> &VectorClock {
        &self.clock
    }

    /// The catalog (union of every airline's document).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The current token of `seat`, or `None` if its flight is unknown here.
    pub fn token(&self, seat: &SeatId) -> Option<Token> {
        if let Some(t) = self.tokens.get(seat) {
            return Some(t.clone());
        }
        let flight = self.catalog.flight(&seat.flight)?;
        flight
            .has_seat(&seat.seat)
            .then(|| Token::initial(flight.initial_holder(&seat.seat).clone()))
    }

    /// Every token that ever changed, by seat (the others are at their initial state).
    pub fn changed_tokens(&self) -> &BTreeMap<SeatId, Token> {
        &self.tokens
    }

    /// Every ticket known here, sold by any peer.
    pub fn tickets(&self) -> &BTreeMap<TicketId, Ticket> {
        &self.tickets
    }

    /// The record of an operation (purchase or hold) by idempotency key.
    pub fn operation(&self, key: &str) -> Option<&Operation> {
        self.operations.get(key)
    }

    /// Every purchase and hold record, by key.
    pub fn operations(&self) -> &BTreeMap<String, Operation> {
        &self.operations
    }

    /// Carts, by id.
    pub fn holds(&self) -> &BTreeMap<String, Hold> {
        &self.holds
    }

    /// Hand-overs this peer granted that the receiver has not yet taken.
    pub fn outbox(&self) -> &BTreeMap<SeatId, OutboxEntry> {
        &self.outbox
    }

    /// How many airlines the roster binds to a key: cheap, for callers that watch it grow.
    pub fn roster_len(&self) -> usize {
        self.roster.len()
    }

    /// The verifying keys known, by airline (a copy: see [`Node::roster_len`] to notice a new
    /// binding without making one).
    pub fn roster(&self) -> BTreeMap<AirlineId, [u8; 32]> {
        self.roster
            .iter()
            .map(|(a, k)| (a.clone(), k.to_bytes()))
            .collect()
    }

    /// Partners currently reachable: connected, and answering the failure detector's probes.
    pub fn reachable(&self) -> &BTreeSet<AirlineId> {
        &self.reachable
    }

    /// The store (for reading the event log).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where each seat of `flight` is, in seat order, as of `now`.
    pub fn seat_map(&self, flight: &Flight, now: Millis) -> Vec<(String, SeatStatus)> {
        self.seats_of(flight)
            .into_iter()
            .map(|(label, token)| {
                let status = self.status(&token, now);
                (label, status)
            })
            .collect()
    }

    /// Every seat of `flight` with its current token, in seat order. One range scan of the
    /// changed tokens, instead of a lookup per seat: this is on the purchase path.
    pub fn seats_of(&self, flight: &Flight) -> Vec<(String, Token)> {
        let start = SeatId {
            flight: flight.id.clone(),
            seat: String::new(),
        };
        let changed: BTreeMap<&str, &Token> = self
            .tokens
            .range(start..)
            .take_while(|(s, _)| s.flight == flight.id)
            .map(|(s, t)| (s.seat.as_str(), t))
            .collect();
        flight
            .seat_labels()
            .map(|label| {
                let token = match changed.get(label.as_str()) {
                    Some(t) => (*t).clone(),
                    None => Token::initial(flight.initial_holder(&label).clone()),
                };
                (label, token)
            })
            .collect()
    }

    fn status(&self, token: &Token, now: Millis) -> SeatStatus {
        match &token.state {
            TokenState::Sold { .. } => SeatStatus::Sold,
            TokenState::InTransit { from, to } => SeatStatus::Moving {
                from: from.clone(),
                to: to.clone(),
            },
            TokenState::Held {
                holder, expires, ..
            } if *expires > now => SeatStatus::Held {
                holder: holder.clone(),
            },
            TokenState::Available { holder } | TokenState::Held { holder, .. } => {
                if holder == &self.cfg.airline {
                    SeatStatus::Here
                } else {
                    SeatStatus::Partner {
                        holder: holder.clone(),
                    }
                }
            }
        }
    }

    /// Seats of `flight` by where they are, as of `now`.
    pub fn seat_counts(&self, flight: &Flight, now: Millis) -> SeatCounts {
        let mut c = SeatCounts::default();
        for (_, status) in self.seat_map(flight, now) {
            match status {
                SeatStatus::Here => c.here += 1,
                SeatStatus::Partner { .. } => c.partners += 1,
                SeatStatus::Moving { .. } => c.moving += 1,
                SeatStatus::Held { .. } => c.held += 1,
                SeatStatus::Sold => c.sold += 1,
            }
        }
        c
    }

    // ----------------------------------------------------------------------------------------
    // Inputs

    /// Handles one input at `now`. Same as [`Node::handle_batch`] with one input.
    pub fn handle(&mut self, input: Input, now: Millis) -> Vec<Output> {
        self.handle_batch(vec![input], now)
    }

    /// Handles inputs that arrived together and commits all their changes in ONE durable redb
    /// transaction before returning the outputs.
    ///
    /// If the commit fails (disk full, I/O error), every change of the batch is dropped, the
    /// in-memory state is reloaded from the store, and each request of the batch is answered
    /// with [`Refusal::Storage`]; no message is sent.
    ///
    /// `now` is the caller's wall clock. The node never lets its own time run backward: after
    /// a backward step it carries on from the latest time it saw, and converts the timers it
    /// sets back to the caller's clock, so every timer keeps its duration whatever the step.
    ///
    /// A node whose store could not be reloaded after a failed commit (`stale`) first tries to
    /// reload; until that succeeds it refuses every request with [`Refusal::Storage`] and
    /// handles nothing else, so it never answers from memory it could not make durable.
    pub fn handle_batch(&mut self, inputs: Vec<Input>, now: Millis) -> Vec<Output> {
        let now = self.monotonic(now);
        let mut out = self.handle_batch_at(inputs, now);
        for o in &mut out {
            if let Output::SetTimer { at, .. } = o {
                *at -= self.time_offset;
            }
        }
        out
    }

    /// The node's time for a caller's `now`: never earlier than a time already seen.
    fn monotonic(&mut self, now: Millis) -> Millis {
        if now + self.time_offset < self.last_now {
            self.time_offset = self.last_now - now;
        }
        self.last_now = now + self.time_offset;
        self.last_now
    }

    fn handle_batch_at(&mut self, inputs: Vec<Input>, now: Millis) -> Vec<Output> {
        if self.stale {
            match self.reload() {
                Ok(_) => self.stale = false,
                Err(e) => return self.refuse_all(inputs, &e.to_string(), now),
            }
        }
        let requests: Vec<RequestId> = inputs
            .iter()
            .filter_map(|i| {
                if let Input::Request(id, _) = i {
                    Some(*id)
                } else {
                    None
                }
            })
            .collect();
        self.refresh_reachable(now);
        for input in inputs {
            self.step(input, now);
            self.refresh_reachable(now);
            self.maybe_finish_recovery(now);
            if self.tokens_arrived {
                self.tokens_arrived = false;
                self.retry_pending(now);
            }
        }
        match self.seal_and_commit(now) {
            Ok(()) => std::mem::take(&mut self.out),
            Err(e) => {
                let why = e.to_string();
                self.out.clear();
                self.reset_scratch();
                self.stale = self.reload().is_err();
                self.storage_refusals(requests, &why, now)
            }
        }
    }

    /// Answers every request of `inputs` with a storage refusal and does nothing else.
    fn refuse_all(&mut self, inputs: Vec<Input>, why: &str, now: Millis) -> Vec<Output> {
        let requests = inputs
            .into_iter()
            .filter_map(|i| match i {
                Input::Request(id, _) => Some(id),
                _ => None,
            })
            .collect();
        self.storage_refusals(requests, why, now)
    }

    fn storage_refusals(
        &mut self,
        requests: Vec<RequestId>,
        why: &str,
        now: Millis,
    ) -> Vec<Output> {
        let mut out: Vec<Output> = requests
            .into_iter()
            .map(|id| Output::Reply(id, Reply::Refused(Refusal::Storage(why.to_owned()))))
            .collect();
        out.push(Output::SetTimer {
            at: now + self.cfg.tick_ms,
            timer: Timer::Tick,
        });
        out
    }

    fn reset_scratch(&mut self) {
        self.batch = Batch::default();
        self.local_tokens.clear();
        self.local_tickets.clear();
        self.local_catalog.clear();
        self.dirty_docs.clear();
        self.direct.clear();
        self.sync_asked.clear();
        self.tickets_in_batch = 0;
    }

    fn step(&mut self, input: Input, now: Millis) {
        match input {
            Input::Request(id, req) => self.on_request(id, req, now),
            Input::Message { from, msg } => self.on_message(from, msg, now),
            Input::Connected(peer) => self.on_connected(peer, now),
            Input::Disconnected(peer) => self.on_disconnected(&peer),
            Input::Timer(t) => self.on_timer(t, now),
            Input::PartnerGone(airline) => self.partner_gone(airline, now),
            Input::PeerKey { airline, key } => {
                let known = self.roster.get(&airline).map(|k| k.to_bytes());
                match (known, VerifyingKey::from_bytes(&key)) {
                    (Some(k), _) if k == key => {}
                    (Some(_), _) => self.out.push(Output::Rejected {
                        from: airline.clone(),
                        reason: format!("a second key claims to be {airline}"),
                    }),
                    (None, Err(_)) => self.out.push(Output::Rejected {
                        from: airline.clone(),
                        reason: "not an ed25519 key".into(),
                    }),
                    (None, Ok(_)) if self.cfg.roster_closed => self.out.push(Output::Rejected {
                        from: airline.clone(),
                        reason: format!("{airline} is not in the network roster"),
                    }),
                    (None, Ok(k)) => {
                        self.roster.insert(airline.clone(), k);
                        self.batch.meta(
                            "roster",
                            postcard::to_stdvec(&self.roster()).unwrap_or_default(),
                        );
                        self.drain_deferred(now);
                    }
                }
            }
        }
    }

    /// Seals the batch's local changes into one event, signs it, and commits everything.
    fn seal_and_commit(&mut self, now: Millis) -> Result<(), StoreError> {
        let _ = now;
        let mut sealed = None;
        if !self.local_tokens.is_empty()
            || !self.local_tickets.is_empty()
            || !self.local_catalog.is_empty()
        {
            let seq = self.clock.get(&self.cfg.airline) + 1;
            let mut ev = Event {
                origin: self.cfg.airline.clone(),
                seq,
                tokens: std::mem::take(&mut self.local_tokens),
                tickets: std::mem::take(&mut self.local_tickets),
                catalog: std::mem::take(&mut self.local_catalog),
                signature: Vec::new(),
            };
            if let Some(key) = &self.signer {
                ev.signature = key.sign(&ev.signed_bytes()).to_bytes().to_vec();
            }
            self.clock.observe(&self.cfg.airline, seq);
            self.batch.clock(self.cfg.airline.clone(), seq);
            self.batch.event(ev.clone());
            sealed = Some(ev);
        }
        for airline in std::mem::take(&mut self.dirty_docs) {
            let bytes = self.catalog.doc_mut(&airline).save();
            self.batch.catalog(airline, bytes);
        }
        let batch = std::mem::take(&mut self.batch);
        let direct = std::mem::take(&mut self.direct);
        self.sync_asked.clear();
        self.tickets_in_batch = 0;
        if let Err(e) = self.store.commit(batch) {
            if let Some(ev) = &sealed {
                // The event never became durable: forget its number so it is reused.
                self.clock.0.insert(ev.origin.clone(), ev.seq - 1);
            }
            return Err(e);
        }
        self.refresh_sync_clocks();
        if let Some(ev) = sealed {
            // Grants go straight to their receivers too, so a hand-over need not wait for gossip.
            for to in direct {
                self.out.insert(
                    0,
                    Output::Send {
                        to,
                        msg: Message::Events {
                            events: vec![ev.clone()],
                        },
                    },
                );
            }
            self.out
                .insert(0, Output::Broadcast(Message::Events { events: vec![ev] }));
        }
        Ok(())
    }

    fn reply(&mut self, id: RequestId, reply: Reply) {
        self.out.push(Output::Reply(id, reply));
    }

    /// Sends `peer` our clock (once per batch): it answers with what we lack, and the answer
    /// is also the failure detector's proof that it is alive.
    fn ask_sync(&mut self, peer: &AirlineId) {
        if self.sync_asked.insert(peer.clone()) {
            self.out.push(Output::Send {
                to: peer.clone(),
                msg: Message::SyncRequest {
                    clock: self.clock.clone(),
                    nonce: self.last_now,
                },
            });
        }
    }

    // ----------------------------------------------------------------------------------------
    // Local token writes

    /// Writes a transition of a token this peer may write, recording it for the local event.
    /// A peer that is not active (recovering, halted) writes nothing: its numbering is not
    /// known to be its own yet.
    fn write_token(
        &mut self,
        seat: &SeatId,
        t: &Transition,
        now: Millis,
    ) -> Result<Token, passcom_crdt::TokenError> {
        if !self.phase.is_active() {
            return Err(passcom_crdt::TokenError::Invalid {
                op: "write",
                state: "not active",
            });
        }
        let (prev, next) = self.next_token(seat, t, now)?;
        self.install_token(seat, &next, now);
        self.local_tokens.push(TokenUpdate {
            seat: seat.clone(),
            prev,
            next: next.clone(),
        });
        Ok(next)
    }

    /// What writing `t` to `seat` would give, without writing it: the token now and the next.
    fn next_token(
        &self,
        seat: &SeatId,
        t: &Transition,
        now: Millis,
    ) -> Result<(Token, Token), passcom_crdt::TokenError> {
        let prev = self.token(seat).ok_or(passcom_crdt::TokenError::Invalid {
            op: "write",
            state: "unknown",
        })?;
        #[cfg(feature = "planted-bugs")]
        let next = match (self.cfg.planted_bug, t) {
            (Some(PlantedBug::NonHolderSells), Transition::Sell { ticket, .. })
                if prev.writer() != &self.cfg.airline =>
            {
                Token {
                    version: prev.version + 1,
                    state: TokenState::Sold {
                        seller: self.cfg.airline.clone(),
                        ticket: ticket.clone(),
                    },
                }
            }
            (Some(PlantedBug::NonHolderSells), Transition::Hold { hold_id, expires })
                if prev.writer() != &self.cfg.airline =>
            {
                Token {
                    version: prev.version + 1,
                    state: TokenState::Held {
                        holder: self.cfg.airline.clone(),
                        hold_id: hold_id.clone(),
                        expires: *expires,
                    },
                }
            }
            _ => prev.apply(&self.cfg.airline, t, now)?,
        };
        #[cfg(not(feature = "planted-bugs"))]
        let next = prev.apply(&self.cfg.airline, t, now)?;
        Ok((prev, next))
    }

    /// Stores a new token state and keeps the outbox in step with it.
    fn install_token(&mut self, seat: &SeatId, next: &Token, now: Millis) {
        self.tokens.insert(seat.clone(), next.clone());
        self.batch.token(seat.clone(), next.clone());
        match &next.state {
            TokenState::InTransit { from, to } if from == &self.cfg.airline => {
                let entry = OutboxEntry {
                    to: to.clone(),
                    since: now,
                };
                self.outbox.insert(seat.clone(), entry.clone());
                self.batch.outbox(seat.clone(), Some(entry));
                self.direct.insert(to.clone());
            }
            _ => {
                if self.outbox.remove(seat).is_some() {
                    self.batch.outbox(seat.clone(), None);
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Requests

    fn on_request(&mut self, id: RequestId, req: Request, now: Millis) {
        // A peer that is not active answers what it already knows (a retried key) but starts
        // nothing new; `start` and the writes below refuse with the phase's reason.
        let writes = !matches!(req, Request::Purchase(_) | Request::Hold(_));
        if writes && let Some(r) = self.phase.refusal() {
            return self.reply(id, Reply::Refused(r));
        }
        match req {
            Request::Purchase(p) => self.on_purchase(id, p, now),
            Request::Hold(h) => self.on_hold(id, h, now),
            Request::ReleaseHold { hold_id } => {
                let r = self.release_hold(&hold_id, now);
                self.reply(id, r);
            }
            Request::Cancel { ticket, account } => {
                let r = match self.cancel_ticket(&ticket, account.as_deref(), now) {
                    Ok(t) => Reply::Ticket(t),
                    Err(r) => Reply::Refused(r),
                };
                self.reply(id, r);
            }
            Request::PutFlights(flights) => {
                let r = match self.put_flights(flights, now) {
                    Ok(()) => Reply::Done,
                    Err(r) => Reply::Refused(r),
                };
                self.reply(id, r);
            }
            Request::PutAirports(airports) => {
                let me = self.cfg.airline.clone();
                let r = match self.catalog.put_airports(&me, &airports) {
                    Ok(changes) => {
                        self.local_catalog.extend(changes);
                        self.dirty_docs.insert(me);
                        Reply::Done
                    }
                    Err(e) => Reply::Refused(Refusal::Invalid(e.to_string())),
                };
                self.reply(id, r);
            }
        }
    }

    fn check_legs(&self, legs: &[LegRequest]) -> Result<(), Refusal> {
        if legs.is_empty() || legs.len() > MAX_LEGS {
            return Err(Refusal::Invalid(format!(
                "an itinerary has 1 to {MAX_LEGS} legs, this one has {}",
                legs.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for leg in legs {
            if !seen.insert(&leg.flight) {
                return Err(Refusal::Invalid(format!(
                    "flight {} appears twice; list each flight once",
                    leg.flight
                )));
            }
        }
        Ok(())
    }

    fn on_purchase(&mut self, id: RequestId, req: PurchaseRequest, now: Millis) {
        if req.key.is_empty() || req.key.len() > MAX_KEY_LEN {
            return self.reply(
                id,
                Reply::Refused(Refusal::Invalid(format!(
                    "the idempotency key must have 1 to {MAX_KEY_LEN} characters"
                ))),
            );
        }
        if req.passenger.trim().is_empty() || req.passenger.len() > 200 {
            return self.reply(
                id,
                Reply::Refused(Refusal::Invalid(
                    "the passenger name must have 1 to 200 characters".into(),
                )),
            );
        }
        if let Some(existing) = self.operations.get(&req.key).cloned() {
            return self.answer_existing(id, &req.key, existing, Some(&req));
        }
        if let Err(r) = self.check_legs(&req.legs) {
            return self.reply(id, Reply::Refused(r));
        }
        self.start(id, req.key.clone(), PendingOp::Purchase(req), now);
    }

    fn on_hold(&mut self, id: RequestId, req: HoldRequest, now: Millis) {
        if req.hold_id.is_empty() || req.hold_id.len() > MAX_KEY_LEN {
            return self.reply(
                id,
                Reply::Refused(Refusal::Invalid(format!(
                    "the hold id must have 1 to {MAX_KEY_LEN} characters"
                ))),
            );
        }
        if req.expires <= now {
            return self.reply(
                id,
                Reply::Refused(Refusal::Invalid(
                    "the hold must expire in the future".into(),
                )),
            );
        }
        let key = format!("hold:{}", req.hold_id);
        if let Some(existing) = self.operations.get(&key).cloned() {
            return self.answer_existing(id, &key, existing, None);
        }
        if let Err(r) = self.check_legs(&req.legs) {
            return self.reply(id, Reply::Refused(r));
        }
        self.start(id, key, PendingOp::Hold(req), now);
    }

    fn answer_existing(
        &mut self,
        id: RequestId,
        key: &str,
        op: Operation,
        req: Option<&PurchaseRequest>,
    ) {
        match op {
            Operation::Confirmed(ticket) => match self.tickets.get(&ticket).cloned() {
                Some(t) => {
                    let same = req.is_none_or(|r| {
                        r.legs.len() == t.legs.len()
                            && r.legs
                                .iter()
                                .zip(&t.legs)
                                .all(|(a, b)| a.flight == b.flight)
                    });
                    let reply = if same {
                        Reply::Ticket(t)
                    } else {
                        Reply::Refused(Refusal::KeyReused {
                            key: key.to_owned(),
                        })
                    };
                    self.reply(id, reply)
                }
                None => self.reply(id, Reply::Refused(Refusal::UnknownTicket { ticket })),
            },
            Operation::Held(hold_id) => match self.holds.get(&hold_id).cloned() {
                Some(h) => self.reply(id, Reply::Held(h)),
                None => self.reply(id, Reply::Refused(Refusal::UnknownHold { hold_id })),
            },
            Operation::Refused(r) => self.reply(id, Reply::Refused(r)),
            Operation::Pending { .. } => self.waiters.entry(key.to_owned()).or_default().push(id),
        }
    }

    /// First attempt at a new operation: finish it now, or record it as pending.
    fn start(&mut self, id: RequestId, key: String, op: PendingOp, now: Millis) {
        if let Some(r) = self.phase.refusal() {
            return self.reply(id, Reply::Refused(r));
        }
        match self.attempt(&op, now) {
            Attempt::Finished(record, reply) => {
                self.record(&key, record);
                self.reply(id, reply);
            }
            Attempt::Waiting(requests, _) => {
                let deadline = now + self.cfg.purchase_timeout_ms;
                self.record(&key, Operation::Pending { op, deadline });
                self.waiters.entry(key.clone()).or_default().push(id);
                self.out.push(Output::SetTimer {
                    at: deadline,
                    timer: Timer::Deadline(key),
                });
                self.send_requests(requests, now, true);
            }
        }
    }

    fn send_requests(&mut self, requests: Vec<(AirlineId, Message)>, now: Millis, force: bool) {
        for (to, msg) in requests {
            let flight = match &msg {
                Message::SeatRequest { flight, .. } => flight.clone(),
                _ => FlightId::default(),
            };
            let slot = (to.clone(), flight);
            let recent = self
                .requested
                .get(&slot)
                .is_some_and(|t| now - t < self.cfg.tick_ms);
            if force || !recent {
                self.requested.insert(slot, now);
                self.out.push(Output::Send { to, msg });
            }
        }
    }

    /// Re-tries every pending operation after tokens moved or peers came back. Not while the
    /// peer is not active: it may write nothing, and its pending purchases wait for it to be.
    fn retry_pending(&mut self, now: Millis) {
        if !self.phase.is_active() {
            return;
        }
        let pending: Vec<(String, PendingOp)> = self
            .pending
            .iter()
            .filter_map(|k| match self.operations.get(k) {
                Some(Operation::Pending { op, .. }) => Some((k.clone(), op.clone())),
                _ => None,
            })
            .collect();
        for (key, op) in pending {
            match self.attempt(&op, now) {
                Attempt::Finished(record, reply) => self.finish(&key, record, reply),
                Attempt::Waiting(requests, _) => self.send_requests(requests, now, false),
            }
        }
    }

    /// Writes an operation record and keeps the pending index in step. A transient refusal
    /// (unreachable holder, timeout, storage, recovering) answers one attempt, not the key: it
    /// is not kept, so a retry under the same key tries again.
    fn record(&mut self, key: &str, record: Operation) {
        if matches!(record, Operation::Pending { .. }) {
            self.pending.insert(key.to_owned());
        } else {
            self.pending.remove(key);
        }
        if matches!(&record, Operation::Refused(r) if r.is_transient()) {
            if self.operations.remove(key).is_some() {
                self.batch.forget_operation(key.to_owned());
            }
            return;
        }
        self.operations.insert(key.to_owned(), record.clone());
        self.batch.operation(key.to_owned(), record);
    }

    fn finish(&mut self, key: &str, record: Operation, reply: Reply) {
        self.record(key, record);
        for id in self.waiters.remove(key).unwrap_or_default() {
            self.reply(id, reply.clone());
        }
    }

    /// Tries to complete an operation with the tokens this peer holds now.
    fn attempt(&mut self, op: &PendingOp, now: Millis) -> Attempt {
        let (legs, hold_id, account) = match op {
            PendingOp::Purchase(p) => (&p.legs, p.hold_id.as_deref(), p.account.as_deref()),
            PendingOp::Hold(h) => (&h.legs, None, h.account.as_deref()),
        };
        let refused =
            |r: Refusal| Attempt::Finished(Operation::Refused(r.clone()), Reply::Refused(r));
        let hold = match hold_id {
            // A cart is checked out only by the account that filled it (an anonymous cart by
            // anyone who knows its id, as with the operator's own requests).
            Some(h) => match self.holds.get(h) {
                Some(hold)
                    if hold.expires > now
                        && (hold.account.is_none() || hold.account.as_deref() == account) =>
                {
                    Some(hold.clone())
                }
                _ => {
                    return refused(Refusal::UnknownHold {
                        hold_id: h.to_owned(),
                    });
                }
            },
            None => None,
        };
        let mut chosen: Vec<(SeatId, Option<String>)> = Vec::new();
        let mut requests: Vec<(AirlineId, Message)> = Vec::new();
        let mut waiting_for = None;
        for leg in legs {
            let Some(flight) = self.catalog.flight(&leg.flight).cloned() else {
                return refused(Refusal::UnknownFlight {
                    flight: leg.flight.clone(),
                });
            };
            if flight.cancelled {
                return refused(Refusal::FlightCancelled { flight: flight.id });
            }
            if flight.departure <= now {
                return refused(Refusal::Departed { flight: flight.id });
            }
            let held_seat = hold.as_ref().and_then(|h| {
                h.seats
                    .iter()
                    .find(|s| {
                        s.flight == flight.id && leg.seat.as_ref().is_none_or(|l| l == &s.seat)
                    })
                    .cloned()
            });
            match self.pick_seat(&flight, leg.seat.as_deref(), held_seat, hold_id, now) {
                Ok(Pick::Here(seat, with_hold)) => chosen.push((seat, with_hold)),
                Ok(Pick::Ask(holder, msg)) => {
                    requests.push((holder, msg));
                    waiting_for.get_or_insert(flight.id.clone());
                }
                Ok(Pick::Wait) => {
                    waiting_for.get_or_insert(flight.id.clone());
                }
                Err(r) => return refused(r),
            }
        }
        if let Some(flight) = waiting_for {
            return Attempt::Waiting(requests, flight);
        }
        match op {
            PendingOp::Purchase(p) => self.sell(p, chosen, hold, now),
            PendingOp::Hold(h) => self.place_hold(h, chosen, now),
        }
    }

    fn sell(
        &mut self,
        p: &PurchaseRequest,
        chosen: Vec<(SeatId, Option<String>)>,
        hold: Option<Hold>,
        now: Millis,
    ) -> Attempt {
        // Every leg is checked before any is written, so a leg that cannot be sold (a cart's
        // seat taken after its hold lapsed, say) refuses the whole itinerary and writes nothing.
        if let Some(r) = self.phase.refusal() {
            return Attempt::Finished(Operation::Refused(r.clone()), Reply::Refused(r));
        }
        let probe = TicketId::new(String::new());
        for (seat, hold_id) in &chosen {
            let t = Transition::Sell {
                ticket: probe.clone(),
                hold_id: hold_id.clone(),
            };
            if self.next_token(seat, &t, now).is_err() {
                let r = Refusal::SeatTaken { seat: seat.clone() };
                return Attempt::Finished(Operation::Refused(r.clone()), Reply::Refused(r));
            }
        }
        self.tickets_in_batch += 1;
        let seq = self.clock.get(&self.cfg.airline) + 1;
        let ticket_id = TicketId::new(format!(
            "{}-{}-{}",
            self.cfg.airline, seq, self.tickets_in_batch
        ));
        let mut legs = Vec::new();
        for (seat, hold_id) in &chosen {
            let t = Transition::Sell {
                ticket: ticket_id.clone(),
                hold_id: hold_id.clone(),
            };
            // Checked above, in this same step; nothing in between changed the token.
            if let Err(e) = self.write_token(seat, &t, now) {
                debug_assert!(false, "a checked seat became unsellable: {e}");
            }
            let fare = self
                .catalog
                .flight(&seat.flight)
                .map(|f| f.fare_cents)
                .unwrap_or(0);
            legs.push(TicketLeg {
                flight: seat.flight.clone(),
                seat: seat.seat.clone(),
                fare_cents: fare,
            });
        }
        if let Some(h) = hold {
            // The cart is checked out: seats not bought go back on sale.
            for seat in &h.seats {
                if !chosen.iter().any(|(s, _)| s == seat) {
                    let _ = self.write_token(
                        seat,
                        &Transition::Release {
                            hold_id: h.hold_id.clone(),
                        },
                        now,
                    );
                }
            }
            self.holds.remove(&h.hold_id);
            self.batch.hold(h.hold_id.clone(), None);
        }
        let ticket = Ticket {
            id: ticket_id.clone(),
            passenger: p.passenger.trim().to_owned(),
            account: p.account.clone(),
            price_cents: legs.iter().map(|l| l.fare_cents).sum(),
            legs,
            seller: self.cfg.airline.clone(),
            created_at: now,
            status: TicketStatus::Live,
            key: Some(p.key.clone()),
        };
        self.tickets.insert(ticket_id.clone(), ticket.clone());
        self.batch.ticket(ticket.clone());
        self.local_tickets.push(ticket.clone());
        self.after_sale(&chosen, now);
        Attempt::Finished(Operation::Confirmed(ticket_id), Reply::Ticket(ticket))
    }

    fn place_hold(
        &mut self,
        h: &HoldRequest,
        chosen: Vec<(SeatId, Option<String>)>,
        now: Millis,
    ) -> Attempt {
        let t = Transition::Hold {
            hold_id: h.hold_id.clone(),
            expires: h.expires,
        };
        if let Some(r) = self.phase.refusal() {
            return Attempt::Finished(Operation::Refused(r.clone()), Reply::Refused(r));
        }
        for (seat, _) in &chosen {
            if self.next_token(seat, &t, now).is_err() {
                let r = Refusal::SeatTaken { seat: seat.clone() };
                return Attempt::Finished(Operation::Refused(r.clone()), Reply::Refused(r));
            }
        }
        for (seat, _) in &chosen {
            if let Err(e) = self.write_token(seat, &t, now) {
                debug_assert!(false, "a checked seat became unholdable: {e}");
            }
        }
        let hold = Hold {
            hold_id: h.hold_id.clone(),
            account: h.account.clone(),
            seats: chosen.into_iter().map(|(s, _)| s).collect(),
            expires: h.expires,
        };
        self.holds.insert(hold.hold_id.clone(), hold.clone());
        self.batch.hold(hold.hold_id.clone(), Some(hold.clone()));
        self.out.push(Output::SetTimer {
            at: h.expires,
            timer: Timer::HoldExpiry(h.hold_id.clone()),
        });
        Attempt::Finished(Operation::Held(h.hold_id.clone()), Reply::Held(hold))
    }

    /// Escrow policy: a partner whose pool of a flight runs low asks peers with surplus.
    fn after_sale(&mut self, sold: &[(SeatId, Option<String>)], now: Millis) {
        let flights: BTreeSet<FlightId> = sold.iter().map(|(s, _)| s.flight.clone()).collect();
        for id in flights {
            let Some(flight) = self.catalog.flight(&id).cloned() else {
                continue;
            };
            if flight.airline == self.cfg.airline || flight.escrow.is_empty() {
                continue;
            }
            let counts = self.seat_counts(&flight, now);
            if counts.here < self.cfg.refill_low_water
                && let Some(holder) = self.richest_reachable_holder(&flight, now)
            {
                let msg = Message::SeatRequest {
                    flight: id.clone(),
                    seats: Vec::new(),
                    count: self.cfg.refill_batch,
                };
                self.send_requests(vec![(holder, msg)], now, false);
            }
        }
    }

    /// The reachable peer holding the most sellable seats of `flight` (ties: name order).
    fn richest_reachable_holder(&self, flight: &Flight, now: Millis) -> Option<AirlineId> {
        let mut per: BTreeMap<AirlineId, u32> = BTreeMap::new();
        for (_, t) in self.seats_of(flight) {
            if let Some(h) = t.seller_now(now)
                && h != &self.cfg.airline
                && self.reachable.contains(h)
            {
                *per.entry(h.clone()).or_default() += 1;
            }
        }
        per.into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(h, _)| h)
    }

    /// Finds a seat of `flight` for one leg: one this peer can use now, or whom to ask.
    fn pick_seat(
        &self,
        flight: &Flight,
        label: Option<&str>,
        held: Option<SeatId>,
        hold_id: Option<&str>,
        now: Millis,
    ) -> Result<Pick, Refusal> {
        let me = &self.cfg.airline;
        if let Some(seat) = held {
            // A seat in the traveler's own cart.
            return Ok(Pick::Here(seat, hold_id.map(str::to_owned)));
        }
        if let Some(label) = label {
            if !flight.has_seat(label) {
                return Err(Refusal::Invalid(format!(
                    "flight {} has no seat {label}; seats are rows 1-{} with letters {}",
                    flight.id, flight.rows, flight.letters
                )));
            }
            let seat = flight.seat(label);
            let token = self.token(&seat).expect("the flight is known");
            return match &token.state {
                _ if token.seller_now(now) == Some(me) => Ok(Pick::Here(seat, None)),
                TokenState::Available { holder } | TokenState::Held { holder, .. }
                    if token.seller_now(now).is_some() =>
                {
                    if self.reachable.contains(holder) {
                        let msg = Message::SeatRequest {
                            flight: flight.id.clone(),
                            seats: vec![label.to_owned()],
                            count: 1,
                        };
                        Ok(Pick::Ask(holder.clone(), msg))
                    } else {
                        Err(Refusal::HolderUnreachable {
                            seat,
                            holder: holder.clone(),
                        })
                    }
                }
                TokenState::InTransit { to, .. } if to == me => Ok(Pick::Wait),
                _ => Err(Refusal::SeatTaken { seat }),
            };
        }
        let mut moving_here = false;
        let mut elsewhere: Option<(AirlineId, SeatId)> = None;
        for (l, token) in self.seats_of(flight) {
            let seat = flight.seat(&l);
            #[cfg(feature = "planted-bugs")]
            if self.cfg.planted_bug == Some(PlantedBug::NonHolderSells)
                && token.seller_now(now).is_some()
            {
                return Ok(Pick::Here(seat, None));
            }
            match token.seller_now(now) {
                Some(h) if h == me => return Ok(Pick::Here(seat, None)),
                Some(h) => {
                    if elsewhere.as_ref().is_none_or(|(e, _)| {
                        !self.reachable.contains(e) && self.reachable.contains(h)
                    }) {
                        elsewhere = Some((h.clone(), seat));
                    }
                }
                None => {
                    moving_here |=
                        matches!(&token.state, TokenState::InTransit { to, .. } if to == me)
                }
            }
        }
        if moving_here {
            return Ok(Pick::Wait);
        }
        match elsewhere {
            None => Err(Refusal::SoldOut {
                flight: flight.id.clone(),
            }),
            Some((holder, seat)) => match self.richest_reachable_holder(flight, now) {
                Some(h) => {
                    let count = if flight.escrow.is_empty() {
                        1
                    } else {
                        self.cfg.refill_batch
                    };
                    Ok(Pick::Ask(
                        h,
                        Message::SeatRequest {
                            flight: flight.id.clone(),
                            seats: Vec::new(),
                            count,
                        },
                    ))
                }
                None => Err(Refusal::HolderUnreachable { seat, holder }),
            },
        }
    }

    fn release_hold(&mut self, hold_id: &str, now: Millis) -> Reply {
        let Some(hold) = self.holds.remove(hold_id) else {
            return Reply::Refused(Refusal::UnknownHold {
                hold_id: hold_id.to_owned(),
            });
        };
        for seat in &hold.seats {
            // A seat no longer in this cart (sold after expiry, say) is simply skipped.
            let _ = self.write_token(
                seat,
                &Transition::Release {
                    hold_id: hold_id.to_owned(),
                },
                now,
            );
        }
        self.batch.hold(hold_id.to_owned(), None);
        Reply::Done
    }

    fn cancel_ticket(
        &mut self,
        id: &TicketId,
        account: Option<&str>,
        now: Millis,
    ) -> Result<Ticket, Refusal> {
        let Some(ticket) = self.tickets.get(id).cloned() else {
            return Err(Refusal::UnknownTicket { ticket: id.clone() });
        };
        if let Some(a) = account
            && ticket.account.as_deref() != Some(a)
        {
            return Err(Refusal::NotYours);
        }
        if ticket.seller != self.cfg.airline {
            return Err(Refusal::NotSeller {
                ticket: id.clone(),
                seller: ticket.seller,
            });
        }
        if ticket.status == TicketStatus::Cancelled {
            return Err(Refusal::AlreadyCancelled { ticket: id.clone() });
        }
        if let Some(r) = self.phase.refusal() {
            return Err(r);
        }
        for leg in &ticket.legs {
            let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
            if let Some(t) = self.token(&seat)
                && matches!(&t.state, TokenState::Sold { ticket: tk, .. } if tk == id)
            {
                // The seller holds every seat it sold; a refusal here would mean a corrupt
                // store, and the ticket is cancelled all the same.
                let _ = self.write_token(&seat, &Transition::Refund, now);
            }
        }
        let mut cancelled = ticket;
        cancelled.status = TicketStatus::Cancelled;
        self.tickets.insert(id.clone(), cancelled.clone());
        self.batch.ticket(cancelled.clone());
        self.local_tickets.push(cancelled.clone());
        self.tokens_arrived = true;
        Ok(cancelled)
    }

    /// Cancels the live tickets this peer sold on flights that are now cancelled.
    fn cancel_tickets_of_cancelled_flights(&mut self, now: Millis) {
        let me = self.cfg.airline.clone();
        let doomed: Vec<TicketId> = self
            .tickets
            .values()
            .filter(|t| t.seller == me && t.status == TicketStatus::Live)
            .filter(|t| {
                t.legs
                    .iter()
                    .any(|l| self.catalog.flight(&l.flight).is_some_and(|f| f.cancelled))
            })
            .map(|t| t.id.clone())
            .collect();
        for id in doomed {
            let _ = self.cancel_ticket(&id, None, now);
        }
    }

    fn put_flights(&mut self, flights: Vec<Flight>, now: Millis) -> Result<(), Refusal> {
        let me = self.cfg.airline.clone();
        for f in &flights {
            if f.airline != me {
                return Err(Refusal::Invalid(format!(
                    "flight {} belongs to {}; {me} may edit only its own flights",
                    f.id, f.airline
                )));
            }
            if let Some(old) = self.catalog.flight(&f.id) {
                old.check_change(f)
                    .map_err(|e| Refusal::Invalid(e.to_string()))?;
            }
        }
        let changes = self
            .catalog
            .put_flights(&me, &flights)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        self.local_catalog.extend(changes);
        self.dirty_docs.insert(me);
        if flights.iter().any(|f| f.cancelled) {
            self.cancel_tickets_of_cancelled_flights(now);
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------------
    // Timers

    fn on_timer(&mut self, t: Timer, now: Millis) {
        match t {
            Timer::Tick => {
                self.deferred.expire_unverified(now);
                // Every connected partner is probed, reachable or not, so that one that comes
                // back is noticed without waiting for a new connection.
                let peers: Vec<AirlineId> = self.connected.keys().cloned().collect();
                for peer in peers {
                    self.ask_sync(&peer);
                }
                self.out.push(Output::SetTimer {
                    at: now + self.cfg.tick_ms,
                    timer: Timer::Tick,
                });
                if !self.phase.is_active() {
                    // Nothing is released or written while the history is not ours yet; a
                    // purchase that reached its deadline is answered all the same.
                    return self.expire_pending_inactive(now);
                }
                let lapsed: Vec<String> = self
                    .holds
                    .values()
                    .filter(|h| h.expires <= now)
                    .map(|h| h.hold_id.clone())
                    .collect();
                for h in lapsed {
                    self.release_hold(&h, now);
                }
                self.expire_pending(now);
                self.tokens_arrived = true;
            }
            Timer::Deadline(_) if self.phase.is_active() => self.expire_pending(now),
            Timer::Deadline(_) => self.expire_pending_inactive(now),
            Timer::HoldExpiry(hold_id) => {
                if self.holds.get(&hold_id).is_some_and(|h| h.expires <= now) {
                    self.release_hold(&hold_id, now);
                }
            }
        }
    }

    /// A peer that is not active ends the purchases that reached their deadline with its
    /// phase's refusal (an answer to one attempt: the key stays free for a retry), writing
    /// nothing, so no request waits on a recovery that may take long.
    fn expire_pending_inactive(&mut self, now: Millis) {
        let Some(r) = self.phase.refusal() else {
            return;
        };
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|k| {
                matches!(self.operations.get(*k), Some(Operation::Pending { deadline, .. }) if *deadline <= now)
            })
            .cloned()
            .collect();
        for key in due {
            self.finish(
                &key,
                Operation::Refused(r.clone()),
                Reply::Refused(r.clone()),
            );
        }
    }

    fn expire_pending(&mut self, now: Millis) {
        let due: Vec<(String, PendingOp)> = self
            .pending
            .iter()
            .filter_map(|k| match self.operations.get(k) {
                Some(Operation::Pending { op, deadline }) if *deadline <= now => {
                    Some((k.clone(), op.clone()))
                }
                _ => None,
            })
            .collect();
        for (key, op) in due {
            let (record, reply) = match self.attempt(&op, now) {
                Attempt::Finished(record, reply) => (record, reply),
                Attempt::Waiting(_, flight) => {
                    let r = Refusal::Timeout { flight };
                    (Operation::Refused(r.clone()), Reply::Refused(r))
                }
            };
            self.finish(&key, record, reply);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Messages from peers

    fn on_message(&mut self, from: AirlineId, msg: Message, now: Millis) {
        match msg {
            Message::Events { events } => self.on_events(&from, events, now),
            Message::SyncRequest { clock, nonce } => self.on_sync_request(&from, &clock, nonce),
            Message::Page {
                events,
                more,
                nonce,
                asker_seq,
            } => self.on_page(&from, events, more, nonce, asker_seq, now),
            Message::SeatRequest {
                flight,
                seats,
                count,
            } => self.on_seat_request(&from, &flight, &seats, count, now),
            Message::Keys { records } => self.on_key_records(&from, records, now),
        }
    }

    fn on_seat_request(
        &mut self,
        from: &AirlineId,
        flight: &FlightId,
        seats: &[String],
        count: u32,
        now: Millis,
    ) {
        let Some(f) = self.catalog.flight(flight).cloned() else {
            return;
        };
        if f.cancelled || f.departure <= now || from == &self.cfg.airline || !self.phase.is_active()
        {
            return;
        }
        let me = self.cfg.airline.clone();
        let seats_now = self.seats_of(&f);
        // A peer may hold only so many unsold seats of a flight: its escrow share, or two
        // refills. Seats move only to sell them soon, so this costs honest peers nothing, and
        // it bounds how many seats an identity that merely asks can take out of sale.
        let share = f
            .escrow
            .iter()
            .filter(|s| &s.airline == from)
            .map(|s| s.seats)
            .sum::<u32>();
        // The operating airline is not capped: the flight's seats are its own, it has no
        // escrow share of its own flight, and it already holds most of them, so any cap would
        // leave its traveler's chosen seat at the partner for ever (a timeout every time).
        let cap = if from == &f.airline {
            usize::MAX
        } else {
            share.max(2 * self.cfg.refill_batch) as usize
        };
        let held = seats_now
            .iter()
            .filter(|(_, t)| !matches!(t.state, TokenState::Sold { .. }) && t.writer() == from)
            .count();
        let room = cap.saturating_sub(held);
        let grant = Transition::Grant { to: from.clone() };
        if !seats.is_empty() {
            // A traveler's chosen seats pass even a full pool, by at most one itinerary's
            // worth: a partner holding its whole escrow share must still sell the seat its
            // buyer picked, and an asker still cannot take more than a few beyond the cap.
            let room = cap.saturating_add(MAX_LEGS).saturating_sub(held);
            for label in seats.iter().take(MAX_LEGS.min(room)) {
                if f.has_seat(label) {
                    let _ = self.write_token(&f.seat(label), &grant, now);
                }
            }
            return;
        }
        if room == 0 {
            return;
        }
        let mine: Vec<SeatId> = seats_now
            .into_iter()
            .filter(|(_, t)| t.seller_now(now) == Some(&me))
            .map(|(l, _)| f.seat(&l))
            .collect();
        // The operator gives what is asked; a partner shares at most half of its pool.
        let limit = if f.airline == me {
            (count as usize).min(room)
        } else {
            (count as usize).min(mine.len() / 2).min(room)
        };
        // Hand out from the back of the pool so the front seats stay where travelers pick them.
        for seat in mine.iter().rev().take(limit) {
            let _ = self.write_token(seat, &grant, now);
        }
    }

    fn on_events(&mut self, from: &AirlineId, events: Vec<Event>, now: Millis) {
        let mut gap = false;
        // The signatures of every event that may be kept are checked together, in batches
        // (see `verify`); the verdicts are those `check_signature` would give one by one.
        let fresh: Vec<bool> = events
            .iter()
            .map(|ev| {
                ev.seq > self.clock.get(&ev.origin)
                    && !self.deferred.contains_key(&(ev.origin.clone(), ev.seq))
            })
            .collect();
        let mut verdicts = self.check_signatures(&events, &fresh);
        for (i, ev) in events.into_iter().enumerate() {
            let have = self.clock.get(&ev.origin);
            // The planted bug: a duplicate or catch-up copy of an applied event is merged again,
            // and its older token versions win over the newer ones already here.
            #[cfg(feature = "planted-bugs")]
            if ev.seq <= have && self.cfg.planted_bug == Some(PlantedBug::MergeKeepsLower) {
                for u in &ev.tokens {
                    if self
                        .tokens
                        .get(&u.seat)
                        .is_some_and(|t| t.version > u.next.version)
                    {
                        self.install_token(&u.seat, &u.next, now);
                    }
                }
            }
            if ev.seq <= have {
                self.check_equivocation(&ev, from);
                continue;
            }
            if let Some(d) = self.deferred.get(&(ev.origin.clone(), ev.seq)) {
                if d.event.signed_bytes() != ev.signed_bytes() {
                    self.second_version(&ev, from);
                }
                continue;
            }
            // Check the signature before keeping anything, so forged events are rejected (and
            // their sender penalised) at once instead of filling the queue.
            let verdict = verdicts[i]
                .take()
                .unwrap_or_else(|| self.check_signature(&ev));
            let verified = match verdict {
                Ok(v) => v,
                Err(reason) => {
                    self.out.push(Output::Rejected {
                        from: from.clone(),
                        reason,
                    });
                    continue;
                }
            };
            if ev.origin == self.cfg.airline && !self.own_event_welcome(&ev) {
                continue;
            }
            if ev.seq > have + 1 {
                gap = true;
            }
            let kept = self.deferred.offer(
                deferred::Deferred {
                    from: from.clone(),
                    size: ev.signed_bytes().len() + ev.signature.len(),
                    event: ev,
                    verified,
                    arrived: now,
                },
                self.cfg.max_deferred,
            );
            if !kept {
                gap = true;
            }
        }
        self.drain_deferred(now);
        if gap {
            self.ask_sync(from);
        }
    }

    /// Checks an event's signature against its origin's key: `Ok(true)` when valid,
    /// `Ok(false)` when the key is not known yet (or signatures are not required), and the
    /// reason to reject it otherwise.
    pub(super) fn check_signature(&self, ev: &Event) -> Result<bool, String> {
        let origin = &ev.origin;
        if origin == &self.cfg.airline {
            // Our own history coming back from partners (after a lost disk, say) is taken only
            // with our own signature: nobody else can write as us.
            let ok = match &self.signer {
                Some(key) => Signature::from_slice(&ev.signature)
                    .is_ok_and(|sig| key.verifying_key().verify(&ev.signed_bytes(), &sig).is_ok()),
                None => !self.cfg.require_signatures,
            };
            return if ok {
                Ok(true)
            } else {
                Err(format!("event {} of {origin} claims to be ours", ev.seq))
            };
        }
        if !self.cfg.require_signatures {
            return Ok(true);
        }
        let Some(key) = self.roster.get(origin) else {
            if self.cfg.roster_closed {
                return Err(format!("{origin} is not in the network roster"));
            }
            return Ok(false); // kept until we learn its key
        };
        let ok = Signature::from_slice(&ev.signature)
            .is_ok_and(|sig| key.verify(&ev.signed_bytes(), &sig).is_ok());
        if ok {
            Ok(true)
        } else {
            Err(format!(
                "event {} of {origin} has no valid signature",
                ev.seq
            ))
        }
    }

    /// Applies every deferred event whose predecessors are all here, until none applies.
    fn drain_deferred(&mut self, now: Millis) {
        loop {
            let mut progressed = false;
            let keys: Vec<(AirlineId, u64)> = self.deferred.keys().cloned().collect();
            for key in keys {
                let have = self.clock.get(&key.0);
                if key.1 <= have {
                    self.deferred.remove(&key);
                    continue;
                }
                if key.1 != have + 1 {
                    continue;
                }
                let mut d = self.deferred.remove(&key).expect("listed");
                if !d.verified {
                    match self.check_signature(&d.event) {
                        Ok(true) => d.verified = true,
                        Ok(false) => {
                            self.deferred.put_back(key, d);
                            continue;
                        }
                        Err(reason) => {
                            self.out.push(Output::Rejected {
                                from: d.from,
                                reason,
                            });
                            continue;
                        }
                    }
                }
                match self.apply_remote_event(&d.event, now) {
                    Applied::Yes => progressed = true,
                    Applied::NotYet => {
                        self.deferred.put_back(key, d);
                    }
                    Applied::Rejected(reason) => {
                        self.out.push(Output::Rejected {
                            from: d.from,
                            reason,
                        });
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Validates a remote event against the local state and applies it whole, or not at all:
    /// a refused event leaves no catalog change, token or ticket behind. Its signature was
    /// checked when it was queued ([`Node::check_signature`]); what it carries is checked by
    /// [`passcom_crdt::Catalog::prepare_remote`] and [`Node::check_event`].
    fn apply_remote_event(&mut self, ev: &Event, now: Millis) -> Applied {
        let origin = &ev.origin;
        // The catalog first, as it would be after the event: the event may sell seats of a
        // flight it creates, so its tokens are checked against the new document. The old
        // document is put back if anything in the event is refused or must wait.
        let previous_doc = if ev.catalog.is_empty() {
            None
        } else {
            match self.catalog.prepare_remote(origin, &ev.catalog) {
                Ok(doc) => Some(self.catalog.insert_doc(doc)),
                Err(e) => {
                    return Applied::Rejected(format!("catalog change from {origin} refused: {e}"));
                }
            }
        };
        let updates = match self.check_event(ev) {
            Ok(updates) => updates,
            Err(unfit) => {
                if let Some(previous) = previous_doc {
                    self.catalog.restore(origin, previous);
                }
                return match unfit {
                    remote::Unfit::NotYet => Applied::NotYet,
                    remote::Unfit::Rejected(reason) => Applied::Rejected(reason),
                };
            }
        };
        if previous_doc.is_some() {
            self.dirty_docs.insert(origin.clone());
        }
        for u in updates {
            self.install_token(&u.seat, &u.next, now);
            if matches!(&u.next.state, TokenState::InTransit { to, .. } if to == &self.cfg.airline)
            {
                // Step 2 of the hand-over: take the token, durably, in this same batch.
                let _ = self.write_token(&u.seat, &Transition::Receive, now);
            }
            self.tokens_arrived = true;
        }
        for t in &ev.tickets {
            let merged = match self.tickets.get(&t.id) {
                Some(old) => old.merge(t),
                None => t.clone(),
            };
            self.tickets.insert(t.id.clone(), merged.clone());
            self.batch.ticket(merged);
            if origin == &self.cfg.airline
                && let Some(key) = &t.key
                && !matches!(self.operations.get(key), Some(Operation::Confirmed(_)))
            {
                // Our own sale, recovered from a partner: a retry of its key gets this ticket.
                self.record(key, Operation::Confirmed(t.id.clone()));
            }
        }
        self.clock.observe(origin, ev.seq);
        self.batch.clock(origin.clone(), ev.seq);
        self.batch.event(ev.clone());
        if !ev.catalog.is_empty() {
            self.cancel_tickets_of_cancelled_flights(now);
            // Tokens of flights we had not heard of may now be checkable.
            self.tokens_arrived = true;
        }
        Applied::Yes
    }
}

enum Pick {
    Here(SeatId, Option<String>),
    Ask(AirlineId, Message),
    Wait,
}

enum Applied {
    Yes,
    NotYet,
    Rejected(String),
}
