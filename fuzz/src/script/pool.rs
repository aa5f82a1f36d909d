//! What a fuzz input is built from: the recorded exchange ([`Pool`]), its events edited and
//! re-signed as an [`EventOp`] says, and catch-up pages cut into parts as the wire cuts them.
//!
//! It only builds messages; it must never feed a node or check one (that is `player`'s).

use super::keys::{key_of, sign};
use super::{Edit, EventOp, MAX_EDITS, Parts, Sign, State};
use crate::{Exchange, Recorded, T0};
use passcom_crdt::{AirlineId, FlightId, Millis, SeatId, TicketId, TokenState};
use passcom_node::{Event, Message, Node, TicketStatus};
use std::collections::{BTreeMap, BTreeSet};

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

    pub(super) fn flight(&self, pick: u8) -> FlightId {
        self.flights[pick as usize % self.flights.len()].clone()
    }

    pub(super) fn ticket(&self, pick: u8) -> TicketId {
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
    pub(super) fn missing(&self, node: &Node, limit: usize) -> (Vec<Event>, bool) {
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
pub(super) fn label(s: u8) -> String {
    format!(
        "{}{}",
        1 + (s / 5) % 4,
        ['A', 'B', 'C', 'D', 'E'][s as usize % 5]
    )
}

/// A page cut into parts as `parts` says, in delivery order.
pub(super) fn cut(
    events: Vec<Event>,
    more: bool,
    nonce: Millis,
    asker_seq: u64,
    presence: passcom_node::Presence,
    p: &Parts,
) -> Vec<Message> {
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
    let mut msgs = passcom_net::wire::page_parts(chunks, more, nonce, asker_seq, presence);
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
