//! The settings of one peer: timers, escrow refills and policy, catch-up bounds, keys and
//! roster, failure detection and recovery.

use super::*;

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
    /// Move unsold seats of this airline's flights to the partners that sell them, ahead of
    /// need (see `machine/escrow.rs`). Off (the default until a workload with realistic
    /// flights shows it helps: on the simulator's tiny flights it does not): escrow shares
    /// stay as the flight was created, refilled only when a partner's pool runs low.
    pub adaptive_escrow: bool,
    /// Sales older than this no longer count for a partner's share (ms).
    pub escrow_window_ms: i64,
    /// At most this many seats move to one partner for one flight at a time.
    pub escrow_max_move: u32,
    /// Seats of one flight move to one partner at most once per this period (ms).
    pub escrow_move_every_ms: i64,
    /// No seat moves ahead of need for a flight departing within this time (ms).
    pub escrow_freeze_before_ms: i64,
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
    /// This process's incarnation, carried by its probes (see [`crate::Presence`]): any
    /// number that no other process of this identity uses, drawn at random by the caller;
    /// 0 draws it from the airline and the time of [`Node::open`].
    pub incarnation: u64,
    /// A recovering peer becomes active only after every partner it waits for has heard it,
    /// and no other process of its identity, for this long, and after this long of its own
    /// time (ms; 0 turns the check off). A live twin behind the same links probes each partner
    /// every tick, so the default, 7 s (`suspect_after_ms` of 3 s plus four ticks of 1 s), leaves each partner at
    /// least four of its probes to hear. Two clocks must both jump forward to shorten it.
    pub twin_wait_ms: i64,
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

impl Config {
    /// Defaults for `airline`: 3 s purchase deadline, 1 s tick, unsigned.
    pub fn new(airline: impl Into<AirlineId>) -> Self {
        Config {
            airline: airline.into(),
            purchase_timeout_ms: 3_000,
            tick_ms: 1_000,
            refill_low_water: 4,
            refill_batch: 12,
            adaptive_escrow: false,
            escrow_window_ms: 600_000,
            escrow_max_move: 8,
            escrow_move_every_ms: 2_000,
            escrow_freeze_before_ms: 1_800_000,
            max_events_per_sync: 2048,
            max_deferred: 10_000,
            signing_key: None,
            require_signatures: false,
            roster: BTreeMap::new(),
            roster_closed: false,
            suspect_after_ms: 3_000,
            recover_at_start: false,
            fresh_network: false,
            incarnation: 0,
            twin_wait_ms: 7_000,
            partners: BTreeSet::new(),
            gone_partners: BTreeSet::new(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}
