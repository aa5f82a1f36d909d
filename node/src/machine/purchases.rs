//! Purchases and holds: requests from travelers, their idempotency records, the pending
//! attempts that wait for seat tokens, and the sale that commits every leg at once.

use super::*;

impl Node {
    pub(super) fn on_request(&mut self, id: RequestId, req: Request, now: Millis) {
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

    pub(super) fn check_legs(&self, legs: &[LegRequest]) -> Result<(), Refusal> {
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

    pub(super) fn on_purchase(&mut self, id: RequestId, mut req: PurchaseRequest, now: Millis) {
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
        self.resolve_fallback(&mut req.legs, req.seat_fallback, now);
        self.start(id, req.key.clone(), PendingOp::Purchase(req), now);
    }

    pub(super) fn on_hold(&mut self, id: RequestId, mut req: HoldRequest, now: Millis) {
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
        self.resolve_fallback(&mut req.legs, req.seat_fallback, now);
        self.start(id, key, PendingOp::Hold(req), now);
    }

    pub(super) fn answer_existing(
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
    pub(super) fn start(&mut self, id: RequestId, key: String, op: PendingOp, now: Millis) {
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

    pub(super) fn send_requests(
        &mut self,
        requests: Vec<(AirlineId, Message)>,
        now: Millis,
        force: bool,
    ) {
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
    pub(super) fn retry_pending(&mut self, now: Millis) {
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
    pub(super) fn record(&mut self, key: &str, record: Operation) {
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

    pub(super) fn finish(&mut self, key: &str, record: Operation, reply: Reply) {
        self.record(key, record);
        for id in self.waiters.remove(key).unwrap_or_default() {
            self.reply(id, reply.clone());
        }
    }

    /// Tries to complete an operation with the tokens this peer holds now.
    pub(super) fn attempt(&mut self, op: &PendingOp, now: Millis) -> Attempt {
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
            let tag = hold_id.map(|h| self.cart_tag(h));
            match self.pick_seat(&flight, leg.seat.as_deref(), held_seat, tag.as_deref(), now) {
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

    pub(super) fn sell(
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
                            hold_id: self.cart_tag(&h.hold_id),
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
        self.note_sale(&ticket, now);
        self.after_sale(&chosen, now);
        Attempt::Finished(Operation::Confirmed(ticket_id), Reply::Ticket(ticket))
    }

    pub(super) fn place_hold(
        &mut self,
        h: &HoldRequest,
        chosen: Vec<(SeatId, Option<String>)>,
        now: Millis,
    ) -> Attempt {
        let t = Transition::Hold {
            hold_id: self.cart_tag(&h.hold_id),
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

    /// The id a cart goes by in its seats' tokens: the traveler's hold id in this airline's
    /// namespace (`{airline}-{hold_id}`), so that every held token names its holder's cart and
    /// no airline writes a cart id of another's (checked on remote events).
    pub(super) fn cart_tag(&self, hold_id: &str) -> String {
        format!("{}-{hold_id}", self.cfg.airline)
    }

    pub(super) fn release_hold(&mut self, hold_id: &str, now: Millis) -> Reply {
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
                    hold_id: self.cart_tag(hold_id),
                },
                now,
            );
        }
        self.batch.hold(hold_id.to_owned(), None);
        Reply::Done
    }

    pub(super) fn cancel_ticket(
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
}

/// What trying an operation found.
#[allow(clippy::large_enum_variant)] // short-lived, never stored in bulk
pub(super) enum Attempt {
    /// Done: reply with this and record it.
    Finished(Operation, Reply),
    /// Some legs need seats from elsewhere: these requests would fetch them.
    Waiting(Vec<(AirlineId, Message)>, FlightId),
}
