//! Escrow shares that follow demand.
//!
//! A flight's escrow list gives each partner a share of its seats at creation, so a partner
//! cut off from the operator still sells. Fixed shares sell out where demand is and sit
//! unused where it is not. Here the operating airline moves its own unsold seats, ahead of
//! need and while the partner is reachable, to the partners that sell them: every tick, each
//! partner's pool of a flight is compared with its target, the flight's unsold seats shared
//! in proportion to recent sales, never below a floor: the smaller of its escrow share and an
//! equal split of what is unsold, so a cut-off partner is never empty while seats remain
//! (a partner that sold its share gets it back while the flight keeps selling). The operator keeps
//! its own share of recent sales, and at least an equal split. A pool well under its target gets ordinary hand-overs
//! (`Transition::Grant`) from the back of the operator's own seats, at most
//! [`Config::escrow_max_move`] per flight and partner, and at most once every
//! [`Config::escrow_move_every_ms`]; nothing moves for a flight near departure
//! ([`Config::escrow_freeze_before_ms`]) or with few seats left, where moves would only
//! thrash. The partner's own refill (a seat request when its pool runs low) is unchanged.
//!
//! The policy is a pure function of the node's state and `now`: the simulator replays it
//! exactly. Only flights sold in the last window are looked at, so a tick costs
//! nothing for a catalog that is not selling. Recent sales are kept in memory only (after a
//! restart nothing moves until sales come in again), and only for the operator's own flights.

use super::*;
use std::collections::VecDeque;

/// Recent sales of this airline's flights, by whom, for the escrow policy.
#[derive(Clone, Default)]
pub(super) struct Demand {
    /// (when the sale was seen here, flight, seller), oldest first.
    sales: VecDeque<(Millis, FlightId, AirlineId)>,
    /// When seats last moved to a partner, per (flight, partner).
    last_move: BTreeMap<(FlightId, AirlineId), Millis>,
}

/// Sales remembered at most (the oldest are dropped first): bounds memory whatever the rate.
const MAX_SALES: usize = 100_000;

impl Node {
    /// Notes a live ticket seen for the first time (sold here or by a partner), so that each
    /// leg on one of this airline's flights counts for its seller's demand.
    pub(super) fn note_sale(&mut self, ticket: &Ticket, now: Millis) {
        if !self.cfg.adaptive_escrow || ticket.status != TicketStatus::Live {
            return;
        }
        for leg in &ticket.legs {
            let ours = self
                .catalog
                .flight(&leg.flight)
                .is_some_and(|f| f.airline == self.cfg.airline);
            if ours {
                if self.demand.sales.len() >= MAX_SALES {
                    self.demand.sales.pop_front();
                }
                self.demand
                    .sales
                    .push_back((now, leg.flight.clone(), ticket.seller.clone()));
            }
        }
    }

    /// Moves seats of this airline's flights toward the partners that sell them (see the
    /// module documentation). Called on every tick while active.
    pub(super) fn rebalance_escrow(&mut self, now: Millis) {
        if !self.cfg.adaptive_escrow {
            return;
        }
        let since = now - self.cfg.escrow_window_ms;
        while self
            .demand
            .sales
            .front()
            .is_some_and(|(t, _, _)| *t < since)
        {
            self.demand.sales.pop_front();
        }
        let mut recent: BTreeMap<&FlightId, BTreeMap<&AirlineId, u32>> = BTreeMap::new();
        for (_, flight, seller) in &self.demand.sales {
            *recent.entry(flight).or_default().entry(seller).or_default() += 1;
        }
        let every = self.cfg.escrow_move_every_ms;
        self.demand.last_move.retain(|_, t| now - *t < every);
        let mut moves: Vec<(SeatId, AirlineId)> = Vec::new();
        let mut moved: Vec<(FlightId, AirlineId)> = Vec::new();
        // Only flights sold in the window: a pool falls under its target only through sales,
        // and a tick must not scan every seat of a large catalog.
        for (id, sales) in &recent {
            let Some(flight) = self.catalog.flight(id) else {
                continue;
            };
            if flight.escrow.is_empty()
                || flight.cancelled
                || flight.departure - now <= self.cfg.escrow_freeze_before_ms
            {
                continue;
            }
            for (partner, seats) in self.plan_moves(flight, sales, now) {
                moved.push((flight.id.clone(), partner.clone()));
                moves.extend(seats.into_iter().map(|s| (s, partner.clone())));
            }
        }
        for key in moved {
            self.demand.last_move.insert(key, now);
        }
        for (seat, to) in moves {
            let _ = self.write_token(&seat, &Transition::Grant { to }, now);
        }
    }

    /// The seats of `flight` to hand to each partner now: for every reachable partner whose
    /// pool is under three quarters of its target, seats from the back of this airline's own
    /// sellable ones, keeping this airline's own target.
    fn plan_moves(
        &self,
        flight: &Flight,
        recent: &BTreeMap<&AirlineId, u32>,
        now: Millis,
    ) -> Vec<(AirlineId, Vec<SeatId>)> {
        let me = &self.cfg.airline;
        let seats = self.seats_of(flight);
        let mut pools: BTreeMap<&AirlineId, u32> = BTreeMap::new();
        let mut mine: Vec<SeatId> = Vec::new();
        let mut unsold = 0u32;
        for (label, token) in &seats {
            if matches!(token.state, TokenState::Sold { .. }) {
                continue;
            }
            unsold += 1;
            *pools.entry(token.writer()).or_default() += 1;
            if token.seller_now(now) == Some(me) {
                mine.push(flight.seat(label));
            }
        }
        let partners: Vec<&AirlineId> = flight.escrow.iter().map(|s| &s.airline).collect();
        let sellers = partners.len() as u32 + 1;
        // Few seats left: moving them would thrash between pools; they stay where they are.
        if unsold < 2 * sellers {
            return Vec::new();
        }
        let sales = |a: &AirlineId| recent.get(a).copied().unwrap_or(0);
        let total: u32 = partners.iter().map(|p| sales(p)).sum::<u32>() + sales(me);
        // A seller's target: its share of recent sales (`total` is at least one: only flights
        // sold in the window are planned), and never under its floor.
        let target = |a: &AirlineId, floor: u32| -> u32 {
            let by_sales = u64::from(unsold) * u64::from(sales(a)) / u64::from(total.max(1));
            (by_sales as u32).max(floor)
        };
        let equal = unsold / sellers;
        // The operator keeps its own target, and at least an equal split of what is unsold.
        let mut spare = mine.len().saturating_sub(target(me, equal) as usize);
        let mut from_back = mine.iter().rev();
        let mut plan = Vec::new();
        for share in &flight.escrow {
            let p = &share.airline;
            if !self.reachable.contains(p) || spare == 0 {
                continue;
            }
            let recently = self
                .demand
                .last_move
                .get(&(flight.id.clone(), p.clone()))
                .is_some_and(|t| now - *t < self.cfg.escrow_move_every_ms);
            if recently {
                continue;
            }
            let want = target(p, share.seats.min(equal));
            let has = pools.get(p).copied().unwrap_or(0);
            if has * 4 >= want * 3 {
                continue;
            }
            let n = ((want - has) as usize)
                .min(self.cfg.escrow_max_move as usize)
                .min(spare);
            let seats: Vec<SeatId> = from_back.by_ref().take(n).cloned().collect();
            spare -= seats.len();
            if !seats.is_empty() {
                plan.push((p.clone(), seats));
            }
        }
        plan
    }
}
