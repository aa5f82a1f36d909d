//! The invariants of DESIGN.md, checked against everything the simulated peers commit and
//! everything they confirm to travelers.
//!
//! The checker watches two streams. Every event a peer seals (it sees the peer's own
//! broadcast, which the simulator observes even when a crash keeps it from being sent: the
//! event is durable either way) is the ground truth of what was written. Every reply a client
//! receives is what the network promised. Checks run as each arrives ([`Checker::observe_event`],
//! [`Checker::confirmed`]) and once more over the converged state after the final heal
//! ([`Checker::check_converged`]).

use passcom_crdt::{AirlineId, FlightId, SeatId, TicketId, Token, TokenState};
use passcom_node::{Event, Node, Ticket, TicketStatus};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Which promise a violation breaks: the numbered invariants of DESIGN.md, plus the ways a
/// run can fail without breaking one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// 1. A seat is never sold twice.
    NoDoubleSale,
    /// 2. Sold seats never exceed capacity.
    Capacity,
    /// 3. At most one peer may write a token's next version.
    SingleHolder,
    /// 4. A confirmed ticket is never lost.
    NoLostTicket,
    /// 5. Peers converge after the heal.
    Convergence,
    /// 6. A multi-leg purchase is all-or-nothing.
    AllOrNothing,
    /// 7. Idempotent purchases that always end.
    Idempotency,
    /// 8. An origin never writes two different events under one sequence number.
    UniqueSequence,
    /// 9. Authority is bound to identity: nothing of a rogue airline's got into honest state.
    Authority,
    /// A peer rejected a message of an honest peer (the simulator forges nothing).
    HonestRejected,
    /// A peer panicked or could not reopen its store.
    Crash,
}

impl Invariant {
    /// The invariant's number in DESIGN.md (0 for failures that are not one of the seven).
    pub fn number(self) -> u8 {
        match self {
            Invariant::NoDoubleSale => 1,
            Invariant::Capacity => 2,
            Invariant::SingleHolder => 3,
            Invariant::NoLostTicket => 4,
            Invariant::Convergence => 5,
            Invariant::AllOrNothing => 6,
            Invariant::Idempotency => 7,
            Invariant::UniqueSequence => 8,
            Invariant::Authority => 9,
            Invariant::HonestRejected | Invariant::Crash => 0,
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Invariant::NoDoubleSale => "a seat is never sold twice",
            Invariant::Capacity => "sold seats never exceed capacity",
            Invariant::SingleHolder => "one holder per token",
            Invariant::NoLostTicket => "a confirmed ticket is never lost",
            Invariant::Convergence => "convergence after the heal",
            Invariant::AllOrNothing => "multi-leg purchases are all-or-nothing",
            Invariant::Idempotency => "idempotent purchases that always end",
            Invariant::UniqueSequence => "one event per origin and sequence number",
            Invariant::Authority => "authority is bound to identity",
            Invariant::HonestRejected => "honest messages are accepted",
            Invariant::Crash => "peers do not panic",
        };
        match self.number() {
            0 => f.write_str(name),
            n => write!(f, "invariant {n} ({name})"),
        }
    }
}

/// A broken invariant and what broke it.
pub type Breach = (Invariant, String);

/// What the checker has learned of the run so far.
#[derive(Debug, Default)]
pub struct Checker {
    /// Every token version ever written, by seat then version.
    versions: BTreeMap<SeatId, BTreeMap<u64, Token>>,
    /// Every ticket ever committed by any peer, merged (cancelled wins).
    tickets: BTreeMap<TicketId, Ticket>,
    /// Which live ticket sold each seat.
    claims: BTreeMap<SeatId, TicketId>,
    /// Live sold seats per flight.
    sold: BTreeMap<FlightId, u32>,
    /// The largest capacity each flight was ever published with.
    capacity: BTreeMap<FlightId, u32>,
    /// Seats of tickets confirmed to clients.
    confirmed_seats: BTreeMap<SeatId, TicketId>,
    /// Tickets confirmed to clients, with their seller.
    confirmed: BTreeMap<TicketId, AirlineId>,
    /// The highest event number committed by each origin.
    last_seq: BTreeMap<AirlineId, u64>,
    /// Every distinct event sealed, in the order the checker saw them: the ground truth that
    /// [`Checker::forget_beyond`] replays.
    log: Vec<Event>,
    /// Where each (origin, sequence number) is in `log`.
    by_seq: BTreeMap<(AirlineId, u64), usize>,
    /// Every ticket confirmed to a client, in order, for the replay.
    confirmed_log: Vec<Ticket>,
    /// Events judged lost, as they were: one that surfaces after all (it waited in a queue of
    /// early events, which no node getter shows) is taken back by [`Checker::revive`].
    forgotten: BTreeMap<(AirlineId, u64), Event>,
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `flight` may have up to `capacity` seats (new rows only ever add seats).
    pub fn allow_capacity(&mut self, flight: &FlightId, capacity: u32) {
        let c = self.capacity.entry(flight.clone()).or_default();
        *c = (*c).max(capacity);
    }

    /// The latest token state written for `seat`, if it ever changed.
    pub fn latest(&self, seat: &SeatId) -> Option<&Token> {
        self.versions.get(seat).and_then(|v| v.values().next_back())
    }

    /// Whether the ticket `id` was committed and is not cancelled.
    pub fn is_live(&self, id: &TicketId) -> bool {
        self.tickets
            .get(id)
            .is_some_and(|t| t.status == TicketStatus::Live)
    }

    /// Whether the ticket `id` was committed by some peer.
    pub fn committed(&self, id: &TicketId) -> bool {
        self.tickets.contains_key(id)
    }

    /// Number of distinct tickets committed.
    pub fn ticket_count(&self) -> usize {
        self.tickets.len()
    }

    /// Checks an event sealed by its origin: every token change by the peer entitled to it and
    /// on a state that existed (3), no second state at one version (3), every new ticket with
    /// all its legs sold in the same event (6), no seat in two live tickets (1), no flight over
    /// capacity (2).
    ///
    /// Invariant 8: an origin that seals a second, different event under a number it already
    /// used is caught here, while the very same event sealed or announced again (a restored
    /// peer re-announcing its old history) is accepted and ignored.
    pub fn observe_event(&mut self, ev: &Event) -> Result<(), Breach> {
        let origin = &ev.origin;
        if let Some(&i) = self.by_seq.get(&(origin.clone(), ev.seq)) {
            if &self.log[i] == ev {
                return Ok(());
            }
            let old = &self.log[i];
            return Err((
                Invariant::UniqueSequence,
                format!(
                    "{origin} sealed two different events under number {}: first with {} token updates and tickets {:?}, then with {} token updates and tickets {:?}",
                    ev.seq,
                    old.tokens.len(),
                    old.tickets
                        .iter()
                        .map(|t| t.id.to_string())
                        .collect::<Vec<_>>(),
                    ev.tokens.len(),
                    ev.tickets
                        .iter()
                        .map(|t| t.id.to_string())
                        .collect::<Vec<_>>(),
                ),
            ));
        }
        let last = self.last_seq.entry(origin.clone()).or_default();
        if ev.seq != *last + 1 {
            return Err((
                Invariant::Convergence,
                format!(
                    "{origin} sealed event {} after {}: event numbers must have no gaps or repeats",
                    ev.seq, last
                ),
            ));
        }
        *last = ev.seq;
        self.by_seq.insert((origin.clone(), ev.seq), self.log.len());
        self.log.push(ev.clone());
        for u in &ev.tokens {
            if let Err(e) = Token::check_successor(&u.prev, &u.next, origin) {
                return Err((
                    Invariant::SingleHolder,
                    format!(
                        "{origin} wrote {} v{} ({}) over v{} ({}), which it was not entitled to write: {e}",
                        u.seat,
                        u.next.version,
                        u.next.state.name(),
                        u.prev.version,
                        u.prev.state.name()
                    ),
                ));
            }
            let versions = self.versions.entry(u.seat.clone()).or_default();
            if u.prev.version > 0
                && let Some(known) = versions.get(&u.prev.version)
                && known != &u.prev
            {
                return Err((
                    Invariant::SingleHolder,
                    format!(
                        "{origin} wrote {} v{} over a v{} ({:?}) that no peer wrote (the real v{} is {:?})",
                        u.seat,
                        u.next.version,
                        u.prev.version,
                        u.prev.state,
                        u.prev.version,
                        known.state
                    ),
                ));
            }
            if let Some(known) = versions.get(&u.next.version) {
                if known != &u.next {
                    return Err((
                        Invariant::SingleHolder,
                        format!(
                            "two peers wrote {} v{}: {:?} and, by {origin}, {:?}",
                            u.seat, u.next.version, known.state, u.next.state
                        ),
                    ));
                }
                continue;
            }
            versions.insert(u.next.version, u.next.clone());
        }
        for t in &ev.tickets {
            if &t.seller != origin {
                return Err((
                    Invariant::SingleHolder,
                    format!("{origin} published ticket {} sold by {}", t.id, t.seller),
                ));
            }
            let new = !self.tickets.contains_key(&t.id);
            let was_live = self.is_live(&t.id);
            let merged = match self.tickets.get(&t.id) {
                Some(old) => old.merge(t),
                None => t.clone(),
            };
            self.tickets.insert(t.id.clone(), merged.clone());
            if new && merged.status == TicketStatus::Live {
                self.check_sold_together(ev, &merged)?;
                self.claim(&merged)?;
            } else if was_live && merged.status == TicketStatus::Cancelled {
                self.release(&merged);
            }
        }
        Ok(())
    }

    /// Invariant 6 at the moment of sale: the event that creates a ticket sells every leg.
    fn check_sold_together(&self, ev: &Event, t: &Ticket) -> Result<(), Breach> {
        for leg in &t.legs {
            let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
            let sold_here = ev.tokens.iter().any(|u| {
                u.seat == seat
                    && matches!(&u.next.state, TokenState::Sold { ticket, .. } if ticket == &t.id)
            });
            if !sold_here {
                return Err((
                    Invariant::AllOrNothing,
                    format!(
                        "ticket {} of {} was committed without selling its leg {seat} in the same transaction",
                        t.id, t.seller
                    ),
                ));
            }
        }
        Ok(())
    }

    fn claim(&mut self, t: &Ticket) -> Result<(), Breach> {
        for leg in &t.legs {
            let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
            if let Some(other) = self.claims.get(&seat)
                && other != &t.id
                && self.is_live(other)
            {
                return Err((
                    Invariant::NoDoubleSale,
                    format!(
                        "seat {seat} sold twice: live tickets {other} and {} (seller {})",
                        t.id, t.seller
                    ),
                ));
            }
            self.claims.insert(seat, t.id.clone());
            let sold = self.sold.entry(leg.flight.clone()).or_default();
            *sold += 1;
            let cap = self.capacity.get(&leg.flight).copied().unwrap_or(0);
            if *sold > cap {
                return Err((
                    Invariant::Capacity,
                    format!(
                        "flight {} has {sold} live sold seats, capacity {cap}",
                        leg.flight
                    ),
                ));
            }
        }
        Ok(())
    }

    fn release(&mut self, t: &Ticket) {
        for leg in &t.legs {
            let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
            if self.claims.get(&seat) == Some(&t.id) {
                self.claims.remove(&seat);
                if let Some(n) = self.sold.get_mut(&leg.flight) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }

    /// Checks a ticket a peer confirmed to a client: it was committed (4), and none of its seats
    /// is in another live ticket a client was given (1).
    pub fn confirmed(&mut self, t: &Ticket) -> Result<(), Breach> {
        if !self.committed(&t.id) {
            return Err((
                Invariant::NoLostTicket,
                format!(
                    "{} confirmed ticket {} that it never committed",
                    t.seller, t.id
                ),
            ));
        }
        self.confirmed.insert(t.id.clone(), t.seller.clone());
        self.confirmed_log.push(t.clone());
        if t.status != TicketStatus::Live {
            return Ok(());
        }
        for leg in &t.legs {
            let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
            if let Some(other) = self.confirmed_seats.get(&seat)
                && other != &t.id
                && self.is_live(other)
                && self.is_live(&t.id)
            {
                return Err((
                    Invariant::NoDoubleSale,
                    format!(
                        "travelers hold two live tickets for seat {seat}: {other} and {}",
                        t.id
                    ),
                ));
            }
            self.confirmed_seats.insert(seat, t.id.clone());
        }
        Ok(())
    }

    /// The highest event number of `origin` the checker knows to be written.
    pub fn last_seq(&self, origin: &AirlineId) -> u64 {
        self.last_seq.get(origin).copied().unwrap_or(0)
    }

    /// Forgets the events of `origin` numbered above `keep`, because the only copy of them was
    /// on a disk that is gone (lost, rolled back, or on a peer that never returns), and
    /// returns the confirmed tickets that went with them.
    ///
    /// What is fair to demand: a disk loss destroys what never left the disk. An event that
    /// some other peer had applied, or that the restored snapshot holds, still exists and must
    /// survive (invariant 4 keeps holding for its tickets, and reusing its number breaks 8);
    /// an event no surviving copy holds is gone, and so is any ticket only it carried. Such
    /// tickets are forgiven rather than reported lost, and the origin may write other events
    /// under those numbers. The caller passes as `keep` the highest number of `origin` that
    /// any surviving copy holds; events are applied in order, so every event up to it survives.
    /// Events in flight, or waiting in another peer's queue of early events (which no node
    /// getter shows), count as lost: the simulator restarts a lost disk only after its
    /// messages have landed, and judges a peer gone for good only once the others agree, so
    /// that such queues have drained.
    ///
    /// Everything derived (token versions, claims, sold counts, confirmations) is rebuilt by
    /// replaying what is kept, in the order it was first seen.
    ///
    /// Errors: the replay breaks an invariant, which would mean a kept event depended on a
    /// forgotten one (it cannot, if `keep` is right).
    ///
    /// Several origins may lose events at once (two disks replaced while both were down): they
    /// are forgotten together, in one replay, because a kept event of one may depend on a
    /// forgotten event of another only if it is itself forgotten.
    pub fn forget_beyond(
        &mut self,
        keep: &BTreeMap<AirlineId, u64>,
    ) -> Result<Vec<TicketId>, Breach> {
        if keep.iter().all(|(o, k)| self.last_seq(o) <= *k) {
            return Ok(Vec::new());
        }
        let (log, lost): (Vec<Event>, Vec<Event>) = std::mem::take(&mut self.log)
            .into_iter()
            .partition(|e| keep.get(&e.origin).is_none_or(|k| e.seq <= *k));
        let confirmed = std::mem::take(&mut self.confirmed_log);
        let capacity = std::mem::take(&mut self.capacity);
        let mut forgotten = std::mem::take(&mut self.forgotten);
        for e in lost {
            forgotten.insert((e.origin.clone(), e.seq), e);
        }
        *self = Checker {
            capacity,
            forgotten,
            ..Checker::default()
        };
        for ev in &log {
            self.observe_event(ev)?;
        }
        let mut forgiven = Vec::new();
        for t in confirmed {
            if self.committed(&t.id) {
                self.confirmed(&t)?;
            } else if !forgiven.contains(&t.id) {
                forgiven.push(t.id);
            }
        }
        Ok(forgiven)
    }

    /// Takes back events judged lost that `node` (a converged peer) holds after all, exactly
    /// as they were sealed: each origin's events above the checker's last number, in order,
    /// while each is one the checker forgot. A copy the checker could not see survived (an
    /// event waiting in a partner's queue of early events when a disk was replaced, applied
    /// once its dependency landed: seed 29412 of the default schedules). Anything else the
    /// node holds beyond is left for [`Checker::check_converged`] to report.
    ///
    /// Errors: a revived event breaks an invariant against what was sealed since (its number
    /// was reused, or its seat written again): a real conflict, not a judgment error.
    pub fn revive(&mut self, node: &Node) -> Result<(), Breach> {
        let mut known = passcom_crdt::VectorClock::new();
        for (origin, seq) in &self.last_seq {
            known.observe(origin, *seq);
        }
        let Ok((events, _)) = node.events_missing_from(&known, usize::MAX) else {
            return Ok(());
        };
        let mut events: Vec<Event> = events;
        events.sort_by(|a, b| (&a.origin, a.seq).cmp(&(&b.origin, b.seq)));
        for ev in events {
            let key = (ev.origin.clone(), ev.seq);
            if ev.seq != self.last_seq(&ev.origin) + 1 || self.forgotten.get(&key) != Some(&ev) {
                continue;
            }
            self.forgotten.remove(&key);
            self.observe_event(&ev)?;
        }
        Ok(())
    }

    /// Invariant 4 after a crash: the restarted `node` still has every ticket it confirmed.
    pub fn check_restarted(&self, node: &Node) -> Result<(), Breach> {
        let me = node.airline();
        for (id, seller) in &self.confirmed {
            if seller == me && !node.tickets().contains_key(id) {
                return Err((
                    Invariant::NoLostTicket,
                    format!("{me} lost ticket {id}, confirmed before its crash"),
                ));
            }
        }
        Ok(())
    }

    /// Describes the first way in which `nodes` differ, or `None` when they hold the same
    /// vector clock, tickets, tokens and flights.
    pub fn difference(nodes: &[&Node]) -> Option<String> {
        let (first, rest) = nodes.split_first()?;
        for other in rest {
            let (a, b) = (first.airline(), other.airline());
            if first.clock() != other.clock() {
                return Some(format!(
                    "vector clocks differ: {a} {:?}, {b} {:?}",
                    first.clock(),
                    other.clock()
                ));
            }
            if first.tickets() != other.tickets() {
                let id = first
                    .tickets()
                    .iter()
                    .find(|(id, t)| other.tickets().get(*id) != Some(*t))
                    .map(|(id, _)| id.to_string())
                    .or_else(|| {
                        other
                            .tickets()
                            .keys()
                            .find(|id| !first.tickets().contains_key(*id))
                            .map(|id| id.to_string())
                    })
                    .unwrap_or_default();
                return Some(format!("tickets differ between {a} and {b}, first at {id}"));
            }
            if first.changed_tokens() != other.changed_tokens() {
                let seat = first
                    .changed_tokens()
                    .keys()
                    .chain(other.changed_tokens().keys())
                    .find(|s| first.changed_tokens().get(*s) != other.changed_tokens().get(*s))
                    .cloned();
                let show = |n: &Node| {
                    seat.as_ref()
                        .and_then(|s| n.changed_tokens().get(s).cloned())
                };
                return Some(format!(
                    "tokens differ, first at {}: {a} has {:?}, {b} has {:?}",
                    seat.as_ref().map(|s| s.to_string()).unwrap_or_default(),
                    show(first),
                    show(other)
                ));
            }
            if !first.catalog().flights().eq(other.catalog().flights()) {
                return Some(format!("catalogs differ between {a} and {b}"));
            }
        }
        None
    }

    /// Checks the converged state (every node equal, see [`Checker::difference`]) against
    /// everything ever committed and confirmed: 1, 2, 4, 5 and 6.
    pub fn check_converged(&self, nodes: &[&Node]) -> Result<(), Breach> {
        let Some(view) = nodes.first() else {
            return Ok(());
        };
        for (origin, seq) in &self.last_seq {
            if view.clock().get(origin) != *seq {
                return Err((
                    Invariant::Convergence,
                    format!(
                        "{origin} committed {seq} events but the converged peers applied {}",
                        view.clock().get(origin)
                    ),
                ));
            }
        }
        for (id, committed) in &self.tickets {
            for n in nodes {
                match n.tickets().get(id) {
                    None => {
                        return Err((
                            Invariant::NoLostTicket,
                            format!(
                                "ticket {id} of {} never reached {}",
                                committed.seller,
                                n.airline()
                            ),
                        ));
                    }
                    Some(t) if t.status != committed.status => {
                        return Err((
                            Invariant::Convergence,
                            format!(
                                "{} has ticket {id} {:?}, its seller wrote {:?}",
                                n.airline(),
                                t.status,
                                committed.status
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let mut seats: BTreeMap<SeatId, &TicketId> = BTreeMap::new();
        for t in view
            .tickets()
            .values()
            .filter(|t| t.status == TicketStatus::Live)
        {
            for leg in &t.legs {
                let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
                if let Some(other) = seats.insert(seat.clone(), &t.id) {
                    return Err((
                        Invariant::NoDoubleSale,
                        format!(
                            "converged state has seat {seat} in live tickets {other} and {}",
                            t.id
                        ),
                    ));
                }
                let token = view.token(&seat);
                if !matches!(token.as_ref().map(|t| &t.state), Some(TokenState::Sold { ticket, .. }) if ticket == &t.id)
                {
                    return Err((
                        Invariant::AllOrNothing,
                        format!(
                            "live ticket {} has leg {seat} whose token is {:?}, not sold to it",
                            t.id,
                            token.map(|t| t.state)
                        ),
                    ));
                }
            }
        }
        let mut sold_per_flight: BTreeMap<&FlightId, u32> = BTreeMap::new();
        for (seat, token) in view.changed_tokens() {
            if let TokenState::Sold { ticket, .. } = &token.state {
                let live = view.tickets().get(ticket).map(|t| t.status) == Some(TicketStatus::Live);
                if !live {
                    return Err((
                        Invariant::AllOrNothing,
                        format!("seat {seat} is sold to {ticket}, which is not a live ticket"),
                    ));
                }
                *sold_per_flight.entry(&seat.flight).or_default() += 1;
            }
        }
        for (flight, sold) in sold_per_flight {
            let cap = view
                .catalog()
                .flight(flight)
                .map(|f| f.capacity())
                .unwrap_or(0);
            if sold > cap {
                return Err((
                    Invariant::Capacity,
                    format!("flight {flight} has {sold} sold seats, capacity {cap}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passcom_node::{TicketLeg, TokenUpdate};

    fn sale(origin: &str, seq: u64, ticket: &str, prev: Token) -> Event {
        let seat = SeatId::new("RU00", "1A");
        let next = Token {
            version: prev.version + 1,
            state: TokenState::Sold {
                seller: AirlineId::new(origin),
                ticket: TicketId::new(ticket),
            },
        };
        Event {
            origin: AirlineId::new(origin),
            seq,
            tokens: vec![TokenUpdate { seat, prev, next }],
            tickets: vec![Ticket {
                id: TicketId::new(ticket),
                passenger: "Ana".into(),
                account: None,
                legs: vec![TicketLeg {
                    flight: FlightId::new("RU00"),
                    seat: "1A".into(),
                    fare_cents: 1,
                }],
                price_cents: 1,
                seller: AirlineId::new(origin),
                created_at: 0,
                status: TicketStatus::Live,
                key: None,
            }],
            catalog: Vec::new(),
            signature: Vec::new(),
        }
    }

    #[test]
    fn a_second_sale_of_one_token_version_is_a_violation() {
        let mut c = Checker::new();
        c.allow_capacity(&FlightId::new("RU00"), 12);
        let initial = Token::initial(AirlineId::new("rumos"));
        c.observe_event(&sale("rumos", 1, "rumos-1-1", initial.clone()))
            .unwrap();
        // giro pretends the seat is still rumos's and available: both the entitlement and the
        // version are wrong.
        let (inv, why) = c
            .observe_event(&sale("giro", 1, "giro-1-1", initial))
            .unwrap_err();
        assert_eq!(inv, Invariant::SingleHolder, "{why}");
    }

    #[test]
    fn a_second_event_under_one_number_breaks_invariant_8_but_a_repeat_does_not() {
        let mut c = Checker::new();
        c.allow_capacity(&FlightId::new("RU00"), 12);
        let initial = Token::initial(AirlineId::new("rumos"));
        let first = sale("rumos", 1, "rumos-1-1", initial.clone());
        c.observe_event(&first).unwrap();
        // A restored peer announcing its old history again is fine.
        c.observe_event(&first).unwrap();
        // A peer that lost its disk and sells again under number 1 is not.
        let (inv, why) = c
            .observe_event(&sale("rumos", 1, "rumos-1-2", initial))
            .unwrap_err();
        assert_eq!(inv, Invariant::UniqueSequence, "{why}");
    }

    #[test]
    fn forgetting_a_lost_event_forgives_its_ticket_and_frees_its_number() {
        let mut c = Checker::new();
        c.allow_capacity(&FlightId::new("RU00"), 12);
        let initial = Token::initial(AirlineId::new("rumos"));
        let lost = sale("rumos", 1, "rumos-1-1", initial.clone());
        c.observe_event(&lost).unwrap();
        c.confirmed(&lost.tickets[0]).unwrap();
        let keep = BTreeMap::from([(AirlineId::new("rumos"), 0)]);
        let forgiven = c.forget_beyond(&keep).unwrap();
        assert_eq!(forgiven, vec![TicketId::new("rumos-1-1")]);
        assert!(!c.committed(&TicketId::new("rumos-1-1")));
        c.observe_event(&sale("rumos", 1, "rumos-1-2", initial))
            .unwrap();
    }

    #[test]
    fn a_ticket_confirmed_but_never_committed_is_lost() {
        let mut c = Checker::new();
        let ev = sale(
            "rumos",
            1,
            "rumos-1-1",
            Token::initial(AirlineId::new("rumos")),
        );
        let (inv, _) = c.confirmed(&ev.tickets[0]).unwrap_err();
        assert_eq!(inv, Invariant::NoLostTicket);
    }
}
