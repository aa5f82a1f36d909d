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
//! # Parts
//! `Node` is the one facade; each part of its work lives in a submodule as an `impl Node`
//! block over the fields it uses: `purchases` (requests, idempotency records, pending
//! attempts, the sale), `seats` (token writes, seat maps, where a seat comes from, escrow
//! refills), `catalog` (operator edits, cancellation cascades), `timers`, `replication`
//! (events from peers), `remote` (what a remote event may carry), `deferred`, `keys`,
//! `catchup`, `verify`, `liveness` and `recovery`. This file holds the fields, `open`, the
//! batch and its commit, and the dispatch of inputs.
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

mod catalog;
mod catchup;
mod config;
mod deferred;
mod escrow;
mod keys;
mod liveness;
mod planted;
mod purchases;
mod recovery;
mod remote;
mod replication;
mod seats;
mod snapshot;
mod timers;
mod twins;
mod verify;

pub use liveness::PeerHealth;
use purchases::Attempt;
use recovery::Phase;
pub use recovery::{Equivocation, PeerState};
use seats::Pick;

pub use config::Config;
pub use planted::PlantedBug;

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
    /// This process's incarnation, in every probe it sends (see `twins.rs`).
    incarnation: u64,
    /// What this peer heard of each partner's incarnations, told back in its pages.
    incarnations: twins::Incarnations,
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
    /// Recent sales of this airline's flights, for the escrow policy.
    demand: escrow::Demand,
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
    /// Batches handled since open, and the index of the input being handled in this one: what
    /// names a rejected message (see [`Output::Rejected`]).
    batch_no: u64,
    input_no: Option<usize>,
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
        let incarnation = match cfg.incarnation {
            0 => twins::derive_incarnation(&cfg.airline, now),
            drawn => drawn,
        };
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
            incarnation,
            incarnations: twins::Incarnations::default(),
            equivocations: Vec::new(),
            equivocation_count: 0,
            time_offset: 0,
            last_now: now,
            deferred: deferred::DeferredQueue::default(),
            waiters: BTreeMap::new(),
            pending: BTreeSet::new(),
            requested: BTreeMap::new(),
            demand: escrow::Demand::default(),
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
            batch_no: 0,
            input_no: None,
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
        // Records are relayed only for the key bound here: one stored for a name whose key the
        // configuration now gives differently is dropped.
        for (airline, record) in snap.key_records {
            let bound = self.roster.get(&airline).map(|k| k.to_bytes().to_vec());
            if airline != self.cfg.airline && bound.as_ref() == Some(&record.key) {
                self.key_records.insert(airline, record);
            }
        }
        Ok(recorded)
    }

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
        self.batch_no += 1;
        for (i, input) in inputs.into_iter().enumerate() {
            self.input_no = Some(i);
            self.step(input, now);
            self.refresh_reachable(now);
            self.maybe_finish_recovery(now);
            if self.tokens_arrived {
                self.tokens_arrived = false;
                self.retry_pending(now);
            }
        }
        self.input_no = None;
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
                    (Some(_), _) => {
                        self.reject(&airline, format!("a second key claims to be {airline}"))
                    }
                    (None, Err(_)) => self.reject(&airline, "not an ed25519 key".into()),
                    (None, Ok(_)) if self.cfg.roster_closed => {
                        self.reject(&airline, format!("{airline} is not in the network roster"))
                    }
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
            // The clock moves only once the event is durable (below): a failed commit leaves
            // the number free, and nothing ever lowers a clock.
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
        self.store.commit(batch)?;
        if let Some(ev) = &sealed {
            self.clock.observe(&ev.origin, ev.seq);
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
    /// Rejects the message being handled, from `from`, for `reason`.
    pub(super) fn reject(&mut self, from: &AirlineId, reason: String) {
        self.out.push(Output::Rejected {
            from: from.clone(),
            reason,
            message: self.input_no,
        });
    }

    /// A tag for content kept past this input (a deferred event): which message of which batch
    /// brought it, so that its later rejection names that message while in the same batch.
    pub(super) fn message_tag(&self) -> Option<(u64, usize)> {
        self.input_no.map(|i| (self.batch_no, i))
    }

    /// The message a tag names, if it belongs to the batch being handled.
    pub(super) fn tagged_message(&self, tag: Option<(u64, usize)>) -> Option<usize> {
        tag.filter(|(b, _)| *b == self.batch_no).map(|(_, i)| i)
    }

    fn ask_sync(&mut self, peer: &AirlineId) {
        if self.sync_asked.insert(peer.clone()) {
            self.out.push(Output::Send {
                to: peer.clone(),
                msg: Message::SyncRequest {
                    clock: self.clock.clone(),
                    nonce: self.last_now,
                    incarnation: self.incarnation,
                },
            });
        }
    }

    fn on_message(&mut self, from: AirlineId, msg: Message, now: Millis) {
        match msg {
            Message::Events { events } => self.on_events(&from, events, now),
            Message::SyncRequest {
                clock,
                nonce,
                incarnation,
            } => self.on_sync_request(&from, &clock, nonce, incarnation, now),
            Message::Page {
                events,
                more,
                nonce,
                asker_seq,
                presence,
            } => self.on_page(&from, events, more, nonce, asker_seq, presence, now),
            Message::SeatRequest {
                flight,
                seats,
                count,
            } => self.on_seat_request(&from, &flight, &seats, count, now),
            Message::Keys { records } => self.on_key_records(&from, records, now),
        }
    }
}
