//! The structure of a fuzz input, decoded with `arbitrary`: the steps ([`Op`]) and what they
//! name — an airline ([`Who`]), an event to build ([`EventOp`]) by edits ([`Edit`]) and a
//! signature ([`Sign`]), how a page travels ([`Parts`]).
//!
//! Only the shape of inputs: it must never build messages or touch a node (that is `pool`'s
//! and `player`'s), so that the meaning of a step stays in one place.

use crate::AIRLINES;
use arbitrary::Arbitrary;
use passcom_crdt::AirlineId;

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

    pub(super) fn key_index(self) -> usize {
        match self {
            Who::Rumos => 0,
            Who::Giro => 1,
            Who::Boreal => 2,
            Who::Zeta => 3,
        }
    }
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
    /// The edits, in order (at most [`MAX_EDITS`](super::MAX_EDITS) are applied).
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
        /// What it says it heard of the node's identity.
        presence: Seen,
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
        /// Its incarnation.
        incarnation: u8,
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
    /// The steps (at most [`MAX_OPS`](super::MAX_OPS) are played).
    pub ops: Vec<Op>,
}

/// What a page says its sender heard of the node's identity (`passcom_node::Presence`).
#[derive(Arbitrary, Clone, Debug)]
pub enum Seen {
    /// The node's process alone, for this many tens of milliseconds.
    Alone(u16),
    /// Another process of the node's identity, with this incarnation.
    Twin(u8),
    /// An answer meant for another process of the node's identity.
    Elsewhere(u8),
}
