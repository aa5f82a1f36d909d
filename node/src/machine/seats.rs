//! Seats: the token writes of this peer, seat maps, and where a sale's seat comes from
//! (one held here, or asked of its holder), with the escrow refills that follow a sale.

use super::*;

impl Node {
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

    /// Every seat of `flight` with its current token, in seat order: the changed tokens
    /// (one range scan) and, for the others, their initial holder.
    pub fn seats_of(&self, flight: &Flight) -> Vec<(String, Token)> {
        self.changed_by_index(flight)
            .into_iter()
            .enumerate()
            .map(|(i, changed)| {
                let i = i as u32;
                let token = match changed {
                    Some(t) => t.clone(),
                    None => Token::initial(flight.initial_holder_at(i).clone()),
                };
                (flight.label_at(i).unwrap_or_default(), token)
            })
            .collect()
    }

    /// The changed tokens of `flight` by seat index (row-major, as [`Flight::seat_index`]
    /// counts); `None` for a seat still at its initial state. One range scan and one
    /// allocation, with no label or token copied: this is on the purchase path.
    pub(super) fn changed_by_index(&self, flight: &Flight) -> Vec<Option<&Token>> {
        let mut by_index = vec![None; flight.capacity() as usize];
        let start = SeatId {
            flight: flight.id.clone(),
            seat: String::new(),
        };
        for (s, t) in self
            .tokens
            .range(start..)
            .take_while(|(s, _)| s.flight == flight.id)
        {
            if let Some(slot) = flight
                .seat_index(&s.seat)
                .and_then(|i| by_index.get_mut(i as usize))
            {
                *slot = Some(t);
            }
        }
        by_index
    }

    pub(super) fn status(&self, token: &Token, now: Millis) -> SeatStatus {
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

    /// Writes a transition of a token this peer may write, recording it for the local event.
    /// A peer that is not active (recovering, halted) writes nothing: its numbering is not
    /// known to be its own yet.
    pub(super) fn write_token(
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
    pub(super) fn next_token(
        &self,
        seat: &SeatId,
        t: &Transition,
        now: Millis,
    ) -> Result<(Token, Token), passcom_crdt::TokenError> {
        let prev = self.token(seat).ok_or(passcom_crdt::TokenError::Invalid {
            op: "write",
            state: "unknown",
        })?;
        let next = match self.non_holder_write(&prev, t) {
            Some(planted) => planted,
            None => prev.apply(&self.cfg.airline, t, now)?,
        };
        Ok((prev, next))
    }

    /// Stores a new token state and keeps the outbox in step with it.
    pub(super) fn install_token(&mut self, seat: &SeatId, next: &Token, now: Millis) {
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

    /// Escrow policy: a partner whose pool of a flight runs low asks peers with surplus.
    pub(super) fn after_sale(&mut self, sold: &[(SeatId, Option<String>)], now: Millis) {
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

    /// Up to `n` seats of `flight` that this peer can sell now, nearest to `label` first (by
    /// distance in rows and seat letters; ties by seat order): what to offer a traveler whose
    /// chosen seat is held by a partner that cannot be reached. Empty when `label` is not a
    /// seat of the flight or nothing is sellable here.
    pub fn nearest_sellable(
        &self,
        flight: &Flight,
        label: &str,
        now: Millis,
        n: usize,
    ) -> Vec<String> {
        let width = flight.letters.chars().count().max(1) as i64;
        let labels: Vec<String> = flight.seat_labels().collect();
        let Some(at) = labels.iter().position(|l| l == label) else {
            return Vec::new();
        };
        let (row, col) = (at as i64 / width, at as i64 % width);
        let me = &self.cfg.airline;
        let mut near: Vec<(i64, usize)> = labels
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                *i != at
                    && self
                        .token(&flight.seat(l))
                        .is_some_and(|t| t.seller_now(now) == Some(me))
            })
            .map(|(i, _)| {
                let (r, c) = (i as i64 / width, i as i64 % width);
                ((r - row).pow(2) + (c - col).pow(2), i)
            })
            .collect();
        near.sort_unstable();
        near.into_iter()
            .take(n)
            .map(|(_, i)| labels[i].clone())
            .collect()
    }

    /// With [`SeatFallback::Nearest`], a chosen seat whose holder cannot be reached now
    /// becomes the nearest seat this peer can sell now, before the request is recorded (so a
    /// retry of its key answers with that seat). Legs whose seat is sold, held by a cart or
    /// with a reachable holder keep their choice; so does a leg with no seat sellable here.
    pub(super) fn resolve_fallback(
        &self,
        legs: &mut [LegRequest],
        fallback: SeatFallback,
        now: Millis,
    ) {
        if fallback != SeatFallback::Nearest {
            return;
        }
        let me = &self.cfg.airline;
        for leg in legs.iter_mut() {
            let Some(label) = leg.seat.clone() else {
                continue;
            };
            let Some(flight) = self.catalog.flight(&leg.flight) else {
                continue;
            };
            let unreachable = self
                .token(&flight.seat(&label))
                .and_then(|t| t.seller_now(now).cloned())
                .is_some_and(|h| &h != me && !self.reachable.contains(&h));
            if unreachable && let Some(other) = self.nearest_sellable(flight, &label, now, 1).pop()
            {
                leg.seat = Some(other);
            }
        }
    }

    /// The reachable peer holding the most sellable seats of `flight` (ties: name order).
    pub(super) fn richest_reachable_holder(
        &self,
        flight: &Flight,
        now: Millis,
    ) -> Option<AirlineId> {
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
    pub(super) fn pick_seat(
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
        let mut elsewhere: Option<(&AirlineId, u32)> = None;
        let seat_at = |i: u32| flight.seat(&flight.label_at(i).unwrap_or_default());
        // The first seat in seat order that this peer can sell. No label, token or seat id is
        // built for the seats passed over: this scan is most of a purchase's work otherwise.
        for (i, changed) in self.changed_by_index(flight).into_iter().enumerate() {
            let i = i as u32;
            let seller = match changed {
                Some(token) => token.seller_now(now),
                None => Some(flight.initial_holder_at(i)),
            };
            if self.planted(PlantedBug::NonHolderSells) && seller.is_some() {
                return Ok(Pick::Here(seat_at(i), None));
            }
            match seller {
                Some(h) if h == me => return Ok(Pick::Here(seat_at(i), None)),
                Some(h) => {
                    if elsewhere.is_none_or(|(e, _)| {
                        !self.reachable.contains(e) && self.reachable.contains(h)
                    }) {
                        elsewhere = Some((h, i));
                    }
                }
                None => {
                    moving_here |= matches!(changed,
                        Some(Token { state: TokenState::InTransit { to, .. }, .. }) if to == me)
                }
            }
        }
        if moving_here {
            return Ok(Pick::Wait);
        }
        let elsewhere = elsewhere.map(|(h, i)| (h.clone(), seat_at(i)));
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

    pub(super) fn on_seat_request(
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
}

pub(super) enum Pick {
    Here(SeatId, Option<String>),
    Ask(AirlineId, Message),
    Wait,
}
