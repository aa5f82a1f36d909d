//! The node's vocabulary: events, tickets, wire messages, inputs, outputs and refusals.
//!
//! Everything here is plain data. Encodings live at the edges: the crate's private `store`
//! for redb (postcard, versioned there) and the `net` crate for the wire (CBOR, documented in
//! docs/wire.md).

use passcom_crdt::{AirlineId, FlightId, Millis, SeatId, TicketId, Token, VectorClock};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One token change as written by its author: the state it moved from and the one it wrote.
/// Carrying `prev` lets every receiver check that the author was entitled to write `next`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUpdate {
    /// The seat whose token changed.
    pub seat: SeatId,
    /// The token before the change.
    pub prev: Token,
    /// The token after the change (`prev.version + 1`).
    pub next: Token,
}

/// A ticket's lifecycle state. `Cancelled` wins over `Live` on merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Valid for travel.
    Live,
    /// Cancelled by the traveler or with its flight; its seats were returned.
    Cancelled,
}

/// One leg of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLeg {
    /// The flight.
    pub flight: FlightId,
    /// The seat label on it.
    pub seat: String,
    /// The fare paid for the leg, in cents.
    pub fare_cents: u64,
}

/// A confirmed purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Unique id: `{seller}-{event seq}-{n}`.
    pub id: TicketId,
    /// The passenger's name as given.
    pub passenger: String,
    /// The account that bought it, if any; only it may see or cancel the ticket.
    pub account: Option<String>,
    /// The legs, in travel order.
    pub legs: Vec<TicketLeg>,
    /// Total price in cents.
    pub price_cents: u64,
    /// The peer that sold it and holds its seats' tokens.
    pub seller: AirlineId,
    /// When it was sold (the seller's clock).
    pub created_at: Millis,
    /// Live or cancelled.
    pub status: TicketStatus,
    /// The idempotency key the seller confirmed it under. It travels with the ticket so that a
    /// seller restored from its partners (its disk lost) still answers a retry of that key with
    /// this ticket instead of selling a second one.
    pub key: Option<String>,
}

impl Ticket {
    /// Merges two replicas of one ticket: the cancelled one wins, else they are equal.
    pub fn merge(&self, other: &Ticket) -> Ticket {
        if other.status > self.status {
            other.clone()
        } else {
            self.clone()
        }
    }
}

/// What a local transaction changed, numbered by its origin: the unit of replication.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The peer that wrote it.
    pub origin: AirlineId,
    /// 1, 2, 3… per origin, without gaps.
    pub seq: u64,
    /// Token changes, each entitled by its `prev`.
    pub tokens: Vec<TokenUpdate>,
    /// Tickets sold or cancelled by the origin.
    pub tickets: Vec<Ticket>,
    /// Automerge changes to the origin's own catalog document.
    #[serde(with = "crate::bytes::list")]
    pub catalog: Vec<Vec<u8>>,
    /// ed25519 signature by the origin over everything above (empty when signing is off).
    #[serde(with = "crate::bytes")]
    pub signature: Vec<u8>,
}

impl Event {
    /// The bytes the signature covers: the event's fields without the signature, encoded by
    /// postcard (deterministic for a given value).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let view = (
            &self.origin,
            self.seq,
            &self.tokens,
            &self.tickets,
            &self.catalog,
        );
        postcard::to_stdvec(&view).unwrap_or_default()
    }
}

/// An airline's verifying key, signed by that key: the claim "this key is `airline`'s" that
/// any peer can check and relay, so that a peer learns the key of an airline it never met
/// directly (it arrives with the catch-up pages that carry the airline's events). Like a
/// direct identify, it binds a name to a key only where the name has no key yet (first key
/// wins with an open roster; a closed roster ignores it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The airline.
    pub airline: AirlineId,
    /// Its ed25519 verifying key (32 bytes).
    #[serde(with = "crate::bytes")]
    pub key: Vec<u8>,
    /// ed25519 signature by `key` over [`KeyRecord::signed_bytes`].
    #[serde(with = "crate::bytes")]
    pub signature: Vec<u8>,
}

impl KeyRecord {
    /// The bytes the signature covers: postcard of `("passcom-key/1", airline, key)`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(&("passcom-key/1", &self.airline, &self.key)).unwrap_or_default()
    }
}

/// What a partner has heard of one airline's processes, told to the airline in each
/// [`Message::Page`]: how a process that just started learns whether another process with its
/// identity is alive (a twin, or the original of a restored copy) before it writes anything.
/// Each process has an *incarnation*, a number drawn when it opens and carried by its probes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The incarnation of the asker this answers (echoed from its probe): a page that reaches
    /// another process of the identity says nothing about that one.
    pub incarnation: u64,
    /// Another incarnation of the asker's identity that the responder heard more than its
    /// `suspect_after_ms` after it first heard this one: a message that old would have been
    /// given up as lost, so that process was alive after this one started.
    pub other: Option<u64>,
    /// How long the responder has heard this incarnation without a gap longer than its
    /// `suspect_after_ms`, with no other incarnation heard meanwhile (ms; 0 when `other` is
    /// set). A live process of the same identity behind the same links would have been heard
    /// within that time.
    pub alone_ms: Millis,
}

/// Records read from one [`Message::Keys`]; the rest are ignored.
pub const MAX_KEY_RECORDS: usize = 64;

/// Messages between peers. Events also travel on gossip; the rest go to one peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// New events (live, on gossip) or the events a peer lacked (catch-up, direct).
    Events {
        /// The events, in origin then sequence order.
        #[serde(with = "crate::bytes::events")]
        events: Vec<Event>,
    },
    /// "This is what I have applied: send me what I lack." Always answered by a
    /// [`Message::Page`] carrying the same `nonce`, so it doubles as the failure detector's
    /// probe: a peer that has not answered a recent probe is unreachable.
    SyncRequest {
        /// The sender's vector clock.
        clock: VectorClock,
        /// The sender's time when it asked, echoed in the answer.
        nonce: Millis,
        /// The sender's incarnation: a number its process drew when it opened, so that the
        /// answer can say whether another process of the same identity asks too (see
        /// [`Presence`]).
        incarnation: u64,
    },
    /// The answer to a [`Message::SyncRequest`]: events the asker lacked, fair across
    /// origins so that no origin's backlog starves another's (see `Node::events_missing_from`).
    Page {
        /// The events, at most `Config::max_events_per_sync`.
        #[serde(with = "crate::bytes::events")]
        events: Vec<Event>,
        /// The responder has more that the asker lacks: ask again at once.
        more: bool,
        /// The asker's `nonce`, echoed.
        nonce: Millis,
        /// The highest event of the asker's own origin that the responder holds: a recovering
        /// asker is not caught up until its clock of itself reaches it.
        asker_seq: u64,
        /// What the responder has heard of the asker's identity: a recovering asker writes
        /// nothing while another process of its identity may be alive.
        presence: Presence,
    },
    /// Keys of the origins of a [`Message::Page`], sent just before it (and the sender's own):
    /// see [`KeyRecord`]. At most [`MAX_KEY_RECORDS`] are read.
    Keys {
        /// The records.
        records: Vec<KeyRecord>,
    },
    /// Asks the receiver to hand over seat tokens of `flight`: the named `seats`, or else any
    /// `count` seats.
    SeatRequest {
        /// The flight.
        flight: FlightId,
        /// Specific seats wanted (a traveler's choice); empty for any.
        seats: Vec<String>,
        /// How many seats, when `seats` is empty.
        count: u32,
    },
}

impl Message {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Events { .. } => "events",
            Message::SyncRequest { .. } => "sync_request",
            Message::Page { .. } => "page",
            Message::Keys { .. } => "keys",
            Message::SeatRequest { .. } => "seat_request",
        }
    }
}

/// One leg of a purchase or hold request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRequest {
    /// The flight.
    pub flight: FlightId,
    /// A chosen seat label, or `None` for any seat.
    pub seat: Option<String>,
}

/// A traveler's purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseRequest {
    /// Idempotency key: the same key at the same peer yields the same result.
    pub key: String,
    /// The passenger's name.
    pub passenger: String,
    /// The buying account, if logged in.
    pub account: Option<String>,
    /// The legs, in travel order.
    pub legs: Vec<LegRequest>,
    /// The cart whose held seats to check out, if any.
    pub hold_id: Option<String>,
    /// What to do when a chosen seat is held by a partner that cannot be reached now.
    /// Resolved before the purchase is recorded, so it is never stored.
    #[serde(skip)]
    pub seat_fallback: SeatFallback,
}

/// What a purchase or hold does when a chosen seat is held by a partner that cannot be
/// reached now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatFallback {
    /// Refuse (`holder_unreachable`, with the nearest seats this peer can sell now).
    #[default]
    Exact,
    /// Take the nearest seat of the same flight that this peer can sell now instead, in the
    /// same transaction (refused as `Exact` when it has none).
    Nearest,
}

/// A traveler's cart: seats kept for them until `expires`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    /// The cart's id, chosen by the caller (unique).
    pub hold_id: String,
    /// The account, if logged in.
    pub account: Option<String>,
    /// The seats to hold.
    pub legs: Vec<LegRequest>,
    /// When the hold lapses (the caller computes it from its own clock).
    pub expires: Millis,
    /// What to do when a chosen seat's holder cannot be reached (never stored).
    #[serde(skip)]
    pub seat_fallback: SeatFallback,
}

/// A hold as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The cart's id.
    pub hold_id: String,
    /// The account, if any.
    pub account: Option<String>,
    /// The seats held.
    pub seats: Vec<SeatId>,
    /// When it lapses.
    pub expires: Millis,
}

/// Requests from the peer's own users (HTTP, CLI, simulator), answered by [`Output::Reply`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Buy an itinerary.
    Purchase(PurchaseRequest),
    /// Put seats in a cart.
    Hold(HoldRequest),
    /// Empty a cart.
    ReleaseHold {
        /// The cart.
        hold_id: String,
    },
    /// Cancel a ticket sold here. `account` must match the ticket's unless `None` (operator).
    Cancel {
        /// The ticket.
        ticket: TicketId,
        /// The account asking, or `None` for the operator.
        account: Option<String>,
    },
    /// Add or change this airline's flights (the operator's catalog edit).
    PutFlights(Vec<passcom_crdt::Flight>),
    /// List airports this airline serves.
    PutAirports(Vec<passcom_crdt::Airport>),
}

/// Identifies a request so its reply can be routed back. Chosen by the driver.
pub type RequestId = u64;

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// A purchase confirmed (possibly earlier, under the same key).
    Ticket(Ticket),
    /// A hold placed.
    Held(Hold),
    /// Done, nothing to return.
    Done,
    /// Refused, with why.
    Refused(Refusal),
}

/// Why a request was refused. Each says what happened and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No such flight in the catalog.
    #[error("flight {flight} does not exist; search routes again")]
    UnknownFlight {
        /// The flight.
        flight: FlightId,
    },
    /// The flight was cancelled by its airline.
    #[error("flight {flight} is cancelled; choose another flight")]
    FlightCancelled {
        /// The flight.
        flight: FlightId,
    },
    /// The flight has left.
    #[error("flight {flight} has already departed; choose a later flight")]
    Departed {
        /// The flight.
        flight: FlightId,
    },
    /// No seat left anywhere.
    #[error("flight {flight} is sold out; choose another flight")]
    SoldOut {
        /// The flight.
        flight: FlightId,
    },
    /// The chosen seat is sold or in another cart.
    #[error("seat {seat} is taken; choose another seat")]
    SeatTaken {
        /// The seat.
        seat: SeatId,
    },
    /// The chosen seat's token is at a peer that cannot be reached now.
    #[error(
        "seat {seat} is held by {holder}, which cannot be reached now; choose another seat or retry later"
    )]
    HolderUnreachable {
        /// The seat.
        seat: SeatId,
        /// Who holds it.
        holder: AirlineId,
    },
    /// Seats exist elsewhere but did not arrive before the deadline.
    #[error("could not get a seat of {flight} from its holders in time; retry later")]
    Timeout {
        /// The flight.
        flight: FlightId,
    },
    /// No such ticket here.
    #[error("ticket {ticket} is not known here")]
    UnknownTicket {
        /// The ticket.
        ticket: TicketId,
    },
    /// The ticket was sold by another peer, which alone can cancel it.
    #[error("ticket {ticket} was sold by {seller}; cancel it there")]
    NotSeller {
        /// The ticket.
        ticket: TicketId,
        /// Its seller.
        seller: AirlineId,
    },
    /// The ticket or cart belongs to someone else.
    #[error("this belongs to another account")]
    NotYours,
    /// Already cancelled.
    #[error("ticket {ticket} is already cancelled")]
    AlreadyCancelled {
        /// The ticket.
        ticket: TicketId,
    },
    /// No such cart, or it lapsed.
    #[error("hold {hold_id} does not exist or has expired; hold the seats again")]
    UnknownHold {
        /// The cart.
        hold_id: String,
    },
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The idempotency key was used for a different request.
    #[error("idempotency key {key} was already used for a different purchase; use a new key")]
    KeyReused {
        /// The key.
        key: String,
    },
    /// The durable store failed (disk full, I/O error); nothing was written.
    #[error("the peer could not write to its disk ({0}); nothing was sold, retry later")]
    Storage(String),
    /// The peer is recovering its history from its partners and sells nothing until it has.
    #[error(
        "this peer is recovering its history from its partners and sells nothing until then; retry in a few seconds"
    )]
    Recovering,
    /// The peer stopped selling because it found its own identity writing elsewhere.
    #[error("this peer has stopped selling: {reason}; buy at another airline's peer")]
    Halted {
        /// What it found.
        reason: String,
    },
}

impl Refusal {
    /// A stable snake_case name of the refusal (`sold_out`, `holder_unreachable`, …): the HTTP
    /// problem's `reason`, metric labels, simulation reports.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownFlight { .. } => "unknown_flight",
            Refusal::FlightCancelled { .. } => "flight_cancelled",
            Refusal::Departed { .. } => "departed",
            Refusal::SoldOut { .. } => "sold_out",
            Refusal::SeatTaken { .. } => "seat_taken",
            Refusal::HolderUnreachable { .. } => "holder_unreachable",
            Refusal::Timeout { .. } => "timeout",
            Refusal::UnknownTicket { .. } => "unknown_ticket",
            Refusal::NotSeller { .. } => "not_seller",
            Refusal::NotYours => "not_yours",
            Refusal::AlreadyCancelled { .. } => "already_cancelled",
            Refusal::UnknownHold { .. } => "unknown_hold",
            Refusal::Invalid(_) => "invalid",
            Refusal::KeyReused { .. } => "key_reused",
            Refusal::Storage(_) => "storage",
            Refusal::Recovering => "recovering",
            Refusal::Halted { .. } => "halted",
        }
    }

    /// Whether retrying later may succeed (HTTP 503 with Retry-After rather than 4xx).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Refusal::HolderUnreachable { .. }
                | Refusal::Timeout { .. }
                | Refusal::Storage(_)
                | Refusal::Recovering
                | Refusal::Halted { .. }
        )
    }
}

/// Timers the node asks its driver to fire back at it ([`Output::SetTimer`]). A timer is
/// named by what it is for, so a driver may keep one per name (the earlier `at` when the same
/// name is set twice, as `passcom-net` does) and fires it back as [`Input::Timer`]; a firing
/// whose purpose is gone, or a second one, does nothing. The node keeps no timer table of its
/// own.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// Periodic vector-clock exchange and hand-over retry; it also ends whatever purchase,
    /// hold or cart is past its time and was not reached by its own timer.
    Tick,
    /// The pending purchase or hold under this idempotency key reaches its deadline: it gets
    /// a last attempt, and is refused `timeout` if its seats are still missing.
    Deadline(String),
    /// The cart with this hold id lapses and its seats are released.
    HoldExpiry(String),
}

/// Inputs to [`crate::Node::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A user request, answered by [`Output::Reply`] with the same id.
    Request(RequestId, Request),
    /// A message from a peer (the transport has checked it really comes from `from`).
    Message {
        /// The sending airline.
        from: AirlineId,
        /// The message.
        msg: Message,
    },
    /// A peer became reachable.
    Connected(AirlineId),
    /// A peer is no longer reachable.
    Disconnected(AirlineId),
    /// A timer set by [`Output::SetTimer`] fired.
    Timer(Timer),
    /// The operator says partner `airline` is gone for good: a recovering peer stops waiting
    /// for it (see `Config::gone_partners`).
    PartnerGone(AirlineId),
    /// The transport learned `airline`'s ed25519 verifying key (from its peer id). A second,
    /// different key for a known airline is answered by [`Output::Rejected`].
    PeerKey {
        /// The airline.
        airline: AirlineId,
        /// Its verifying key.
        key: [u8; 32],
    },
}

/// Outputs of [`crate::Node::handle`]: the driver performs them in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send to one peer.
    Send {
        /// The destination airline.
        to: AirlineId,
        /// The message.
        msg: Message,
    },
    /// Publish to every peer (gossip).
    Broadcast(Message),
    /// Call back with `Input::Timer(timer)` at `at` (or soon after).
    SetTimer {
        /// When.
        at: Millis,
        /// Which.
        timer: Timer,
    },
    /// The answer to a request.
    Reply(RequestId, Reply),
    /// A message from `from` was rejected as illegitimate; the transport should penalise it.
    Rejected {
        /// Who sent it.
        from: AirlineId,
        /// Why.
        reason: String,
        /// Which message: its index among the inputs of the batch that produced this output
        /// (so that the transport penalises that message, not every message of its sender in
        /// the batch). `None` when the rejected content arrived in an earlier batch (an event
        /// that waited for its predecessors or for its origin's key): its message was already
        /// judged then.
        message: Option<usize>,
    },
}

/// Seats of a flight by where they are, as seen from one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCounts {
    /// Sellable here now.
    pub here: u32,
    /// Sellable at other peers.
    pub partners: u32,
    /// Being handed over.
    pub moving: u32,
    /// In carts.
    pub held: u32,
    /// Sold.
    pub sold: u32,
}

impl fmt::Display for SeatCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} here, {} at partners", self.here, self.partners)
    }
}
