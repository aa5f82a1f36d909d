//! The workload: travelers who buy, hold, check out, retry and cancel, airlines that edit
//! their flights, and what the replies they get must look like (invariants 6 and 7).

use super::*;

// ----------------------------------------------------------------------------------------------
// Clients

#[derive(Clone, Debug, PartialEq)]
pub(super) enum KeyOutcome {
    Unanswered,
    Confirmed(TicketId),
    Refused(Refusal),
}

pub(super) struct KeyRecord {
    pub(super) node: usize,
    pub(super) req: PurchaseRequest,
    /// Counted for availability: a seat existed at the first attempt; `Some(partitioned)`.
    pub(super) counted: Option<bool>,
    pub(super) outcome: KeyOutcome,
    /// A request of this key was lost in a crash and waits to be re-sent.
    pub(super) lost: bool,
    /// Its ticket was only on a disk that is gone: what the key yields next is not held
    /// against the lost answer.
    pub(super) forgiven: bool,
}

pub(super) enum ReqKind {
    Setup,
    Purchase(String),
    Hold(String),
    Cancel,
    Edit(Flight),
}

pub(super) struct Outstanding {
    pub(super) node: usize,
    pub(super) incarnation: u32,
    pub(super) sent_at: Millis,
    pub(super) kind: ReqKind,
}

pub(super) struct HoldRecord {
    pub(super) node: usize,
    pub(super) flights: Vec<FlightId>,
}

impl Simulation {
    /// The peer where the next traveler buys: any live one evenly, or, in the realistic
    /// profile, by each peer's drifting share of demand.
    fn client_node(&mut self) -> Option<usize> {
        let now = self.now;
        let Some(d) = self.demand.as_mut() else {
            return self.random_alive();
        };
        d.drift(now);
        let alive: Vec<usize> = (0..self.peers.len()).filter(|&i| self.alive(i)).collect();
        let d = self.demand.as_mut()?;
        d.pick(&alive)
    }

    /// A flight of the `nf`, evenly in the stress profile; in the realistic one, early flights
    /// of the list are hotter (the density falls as 1/√ of the position).
    fn pick_flight(&mut self, nf: usize) -> usize {
        if self.demand.is_none() {
            return self.rng.random_range(0..nf);
        }
        let u: f64 = self.rng.random_range(0.0..1.0);
        ((u * u) * nf as f64) as usize % nf.max(1)
    }

    pub(super) fn client_action(&mut self) {
        let Some(node) = self.client_node() else {
            return;
        };
        let nf = self.world.flights.len();
        let roll = self.rng.random_range(0..100);
        // Weights of the other actions, in per mille: catalog edits are rare, as they are for
        // airlines (and each one makes every peer re-read its Automerge documents).
        const WEIGHTS: [(u64, u32); 8] = [
            (1, 180),
            (2, 180),
            (3, 130),
            (4, 130),
            (5, 110),
            (6, 90),
            (7, 150),
            (8, 30),
        ];
        let kind = if roll < self.sched.flash_sale_pct {
            0
        } else {
            let mut pick = self
                .rng
                .random_range(0..WEIGHTS.iter().map(|w| w.1).sum::<u32>());
            WEIGHTS
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map_or(1, |(k, _)| *k)
        };
        self.mix(0xac00 ^ kind);
        match kind {
            // The flash sale: everyone wants the first flight.
            0 => self.purchase(node, vec![0], None, None),
            1 | 2 => {
                let f = self.pick_flight(nf);
                self.purchase(node, vec![f], None, None);
            }
            3 => {
                if self.world.itineraries.is_empty() {
                    return;
                }
                let it = self.world.itineraries
                    [self.rng.random_range(0..self.world.itineraries.len())]
                .clone();
                self.purchase(node, it, None, None);
            }
            4 => {
                let f = self.pick_flight(nf);
                let flight = &self.world.flights[f];
                let labels: Vec<String> = flight.seat_labels().collect();
                let label = labels[self.rng.random_range(0..labels.len())].clone();
                self.purchase(node, vec![f], Some(label), None);
            }
            5 => self.hold(node),
            6 => self.cancel(),
            7 => self.retry(),
            _ => self.edit_catalog(),
        }
    }

    pub(super) fn send_request(&mut self, n: usize, req: Request, kind: ReqKind) {
        let id = self.next_request;
        self.next_request += 1;
        let incarnation = self.peers[n].incarnation;
        self.outstanding.insert(
            id,
            Outstanding {
                node: n,
                incarnation,
                sent_at: self.now,
                kind,
            },
        );
        self.deliver_now(n, Input::Request(id, req));
    }

    /// Whether a seat for the leg may still be had somewhere: the flight is not cancelled and
    /// some seat (the chosen one, if any) has no sold token.
    fn seat_exists(&self, f: usize, label: Option<&str>) -> bool {
        let flight = &self.world.flights[f];
        if flight.cancelled {
            return false;
        }
        let free = |l: &str| {
            let seat = SeatId::new(flight.id.clone(), l);
            !matches!(
                self.checker.latest(&seat).map(|t| &t.state),
                Some(TokenState::Sold { .. })
            )
        };
        match label {
            Some(l) => free(l),
            None => flight.seat_labels().any(|l| free(&l)),
        }
    }

    pub(super) fn purchase(
        &mut self,
        node: usize,
        flights: Vec<usize>,
        seat: Option<String>,
        hold_id: Option<String>,
    ) {
        let key = format!("k{}", self.next_key);
        self.next_key += 1;
        let exists = flights
            .iter()
            .all(|&f| self.seat_exists(f, seat.as_deref()));
        // A checkout depends on the traveler's timing against the cart's expiry, not on the
        // network: availability counts only purchases of seats on sale.
        let counted = (exists && hold_id.is_none()).then(|| !self.net.fully_connected());
        let legs = flights
            .iter()
            .map(|&f| LegRequest {
                flight: self.world.flights[f].id.clone(),
                seat: seat.clone(),
            })
            .collect();
        let req = PurchaseRequest {
            key: key.clone(),
            passenger: format!("Traveler {key}"),
            account: None,
            legs,
            hold_id,
            seat_fallback: Default::default(),
        };
        self.keys.insert(
            key.clone(),
            KeyRecord {
                node,
                req: req.clone(),
                counted,
                outcome: KeyOutcome::Unanswered,
                lost: false,
                forgiven: false,
            },
        );
        self.key_list.push(key.clone());
        self.send_request(node, Request::Purchase(req), ReqKind::Purchase(key));
    }

    pub(super) fn hold(&mut self, node: usize) {
        let flights: Vec<usize> = if !self.world.itineraries.is_empty() && self.rng.random_bool(0.3)
        {
            self.world.itineraries[self.rng.random_range(0..self.world.itineraries.len())].clone()
        } else {
            vec![self.rng.random_range(0..self.world.flights.len())]
        };
        let hold_id = format!("cart{}", self.next_key);
        self.next_key += 1;
        let legs = flights
            .iter()
            .map(|&f| LegRequest {
                flight: self.world.flights[f].id.clone(),
                seat: None,
            })
            .collect();
        // The traveler's cart lapses by the peer's clock, which may be skewed from the sim's.
        let expires = self.local_now(node) + self.sched.hold_ms;
        let ids = flights
            .iter()
            .map(|&f| self.world.flights[f].id.clone())
            .collect();
        self.holds
            .insert(hold_id.clone(), HoldRecord { node, flights: ids });
        let req = passcom_node::HoldRequest {
            hold_id: hold_id.clone(),
            account: None,
            legs,
            expires,
            seat_fallback: Default::default(),
        };
        self.send_request(node, Request::Hold(req), ReqKind::Hold(hold_id));
    }

    pub(super) fn checkout(&mut self, hold_id: &str) {
        let Some(h) = self.holds.get(hold_id) else {
            return;
        };
        let node = h.node;
        if !self.alive(node) {
            return;
        }
        let flights: Vec<usize> = h
            .flights
            .iter()
            .filter_map(|f| self.world.flight_index(f))
            .collect();
        self.purchase(node, flights, None, Some(hold_id.to_owned()));
    }

    fn cancel(&mut self) {
        if self.client_tickets.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.client_tickets.len());
        let (ticket, seller) = self.client_tickets[i].clone();
        if self.alive(seller) {
            self.send_request(
                seller,
                Request::Cancel {
                    ticket,
                    account: None,
                },
                ReqKind::Cancel,
            );
        }
    }

    fn retry(&mut self) {
        if self.key_list.is_empty() {
            return;
        }
        let key = self.key_list[self.rng.random_range(0..self.key_list.len())].clone();
        self.resend(&key);
    }

    pub(super) fn resend(&mut self, key: &str) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        let node = k.node;
        if self.peers[node].node.is_none() {
            return; // re-sent again when the peer restarts
        }
        k.lost = false;
        let req = k.req.clone();
        self.send_request(
            node,
            Request::Purchase(req),
            ReqKind::Purchase(key.to_owned()),
        );
    }

    fn edit_catalog(&mut self) {
        let Some(n) = self.random_alive() else { return };
        let own: Vec<usize> = (0..self.world.flights.len())
            .filter(|&f| self.world.flights[f].airline == self.world.airlines[n])
            .collect();
        if own.is_empty() {
            return;
        }
        let f = own[self.rng.random_range(0..own.len())];
        let mut flight = self.world.flights[f].clone();
        if flight.cancelled {
            return;
        }
        match self.rng.random_range(0..10) {
            0..=6 => flight.fare_cents = self.rng.random_range(20_000..=90_000),
            7 | 8 => flight.rows = (flight.rows + 1).min(200),
            // Cancelling the flash-sale flight would end the contention the schedule is about.
            _ if f != 0 => flight.cancelled = true,
            _ => flight.fare_cents += 100,
        }
        self.checker.allow_capacity(&flight.id, flight.capacity());
        self.send_request(
            n,
            Request::PutFlights(vec![flight.clone()]),
            ReqKind::Edit(flight),
        );
    }

    // ------------------------------------------------------------------------------------------
    // Replies

    pub(super) fn on_reply(&mut self, n: usize, id: RequestId, reply: Reply) {
        let Some(req) = self.outstanding.remove(&id) else {
            return;
        };
        match req.kind {
            ReqKind::Setup => {
                if reply != Reply::Done {
                    let a = self.world.airlines[n].clone();
                    self.breach((
                        Invariant::Crash,
                        format!("{a} refused its own initial catalog: {reply:?}"),
                    ));
                }
            }
            ReqKind::Purchase(key) => self.on_purchase_reply(&key, reply),
            ReqKind::Hold(hold_id) => {
                if let Reply::Held(_) = reply {
                    // Check out at a random moment that may fall after the cart lapses.
                    let wait = self
                        .rng
                        .random_range(0..=self.sched.hold_ms * 13 / 10 + 200);
                    self.schedule(self.now + wait, What::Checkout { hold_id });
                }
            }
            ReqKind::Cancel => {
                if let Reply::Ticket(t) = reply {
                    self.client_tickets.retain(|(id, _)| id != &t.id);
                }
            }
            ReqKind::Edit(flight) => {
                if reply == Reply::Done
                    && let Some(f) = self.world.flight_index(&flight.id)
                {
                    self.world.flights[f] = flight;
                }
            }
        }
    }

    fn on_purchase_reply(&mut self, key: &str, reply: Reply) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        let seller = k.node;
        if k.forgiven {
            // The ticket this key had was on a lost disk only: the traveler's next answer
            // starts over.
            k.forgiven = false;
            k.outcome = KeyOutcome::Unanswered;
        }
        match reply {
            Reply::Ticket(t) => {
                let legs_match = t.legs.len() == k.req.legs.len()
                    && t.legs
                        .iter()
                        .zip(&k.req.legs)
                        .all(|(a, b)| a.flight == b.flight);
                let previous =
                    std::mem::replace(&mut k.outcome, KeyOutcome::Confirmed(t.id.clone()));
                match previous {
                    KeyOutcome::Confirmed(other) if other != t.id => {
                        return self.breach((
                            Invariant::Idempotency,
                            format!("key {key} confirmed two tickets: {other} and {}", t.id),
                        ));
                    }
                    KeyOutcome::Refused(r) if !r.is_transient() => {
                        return self.breach((
                            Invariant::Idempotency,
                            format!("key {key} was refused ({r}) and later confirmed {}", t.id),
                        ));
                    }
                    KeyOutcome::Confirmed(_) => return,
                    _ => {}
                }
                if !legs_match {
                    return self.breach((
                        Invariant::AllOrNothing,
                        format!("ticket {} does not have the legs key {key} asked for", t.id),
                    ));
                }
                self.client_confirmed(&t, seller);
            }
            Reply::Refused(r) => match &k.outcome {
                // An answer to one attempt ("recovering", "unreachable") after a confirmation
                // contradicts nothing: a restored seller may not know the ticket back yet, and
                // the traveler keeps the ticket it was given.
                KeyOutcome::Confirmed(_) if r.is_transient() => {}
                KeyOutcome::Confirmed(t) => {
                    let t = t.clone();
                    self.breach((
                        Invariant::Idempotency,
                        format!("key {key} confirmed {t} and was later refused: {r}"),
                    ));
                }
                KeyOutcome::Unanswered => k.outcome = KeyOutcome::Refused(r),
                KeyOutcome::Refused(_) => {}
            },
            other => {
                self.breach((
                    Invariant::Idempotency,
                    format!("purchase {key} answered with {other:?}"),
                ));
            }
        }
    }

    fn client_confirmed(&mut self, t: &Ticket, seller: usize) {
        if let Err(b) = self.checker.confirmed(t) {
            return self.breach(b);
        }
        self.client_tickets.push((t.id.clone(), seller));
    }

    /// Invariant 7 during the run: every request to a peer that kept running is answered
    /// within [`STUCK_AFTER_MS`].
    pub(super) fn check_stuck(&mut self) {
        let stuck = self.outstanding.iter().find(|(_, o)| {
            self.peers[o.node].incarnation == o.incarnation && self.now - o.sent_at > STUCK_AFTER_MS
        });
        if let Some((id, o)) = stuck {
            let what = match &o.kind {
                ReqKind::Purchase(k) => format!("purchase {k}"),
                ReqKind::Hold(h) => format!("hold {h}"),
                _ => format!("request {id}"),
            };
            let a = self.world.airlines[o.node].clone();
            let waited = self.now - o.sent_at;
            self.breach((
                Invariant::Idempotency,
                format!("{what} at {a} has had no answer for {waited} ms"),
            ));
        }
    }

    pub(super) fn finish_metrics(&mut self) {
        let mut unreachable_refusals: BTreeMap<FlightId, u64> = BTreeMap::new();
        for k in self.keys.values() {
            let Some(partitioned) = k.counted else {
                continue;
            };
            let ok = matches!(k.outcome, KeyOutcome::Confirmed(_)) as u64;
            if let KeyOutcome::Refused(r) = &k.outcome {
                *self
                    .metrics
                    .refusals
                    .entry(refusal_name(r).to_owned())
                    .or_default() += 1;
                if matches!(r, Refusal::HolderUnreachable { .. }) {
                    for leg in &k.req.legs {
                        *unreachable_refusals.entry(leg.flight.clone()).or_default() += 1;
                    }
                }
            }
            let kind = match (
                k.req.legs.len(),
                k.req.legs.first().and_then(|l| l.seat.as_ref()),
            ) {
                (2.., _) => "multi_leg",
                (_, Some(_)) => "chosen_seat",
                _ => "any_seat",
            };
            let by_kind = self.metrics.by_kind.entry(kind.to_owned()).or_default();
            by_kind.attempts += 1;
            by_kind.confirmed += ok;
            self.metrics.attempts += 1;
            self.metrics.confirmed += ok;
            if partitioned {
                by_kind.attempts_partitioned += 1;
                by_kind.confirmed_partitioned += ok;
                self.metrics.attempts_partitioned += 1;
                self.metrics.confirmed_partitioned += ok;
            }
        }
        // Seats still unsold on the flights that turned buyers away for want of a reachable
        // holder: what better placed seats would have sold.
        for (flight_id, refused) in unreachable_refusals {
            let Some(flight) = self.world.flights.iter().find(|f| f.id == flight_id) else {
                continue;
            };
            if flight.cancelled {
                continue;
            }
            let unsold = flight
                .seat_labels()
                .filter(|l| {
                    let seat = SeatId::new(flight.id.clone(), l);
                    !matches!(
                        self.checker.latest(&seat).map(|t| &t.state),
                        Some(TokenState::Sold { .. })
                    )
                })
                .count() as u64;
            self.metrics.stranded_seats += unsold.min(refused);
        }
    }
}

/// How long each peer's share of demand stays put before it drifts (sim ms).
const DRIFT_EVERY_MS: Millis = 3_000;

/// Where travelers buy in the realistic profile: each peer's share of demand, drawn uneven
/// and drifting, with a generator of its own (the stress profile's runs do not change).
pub(super) struct Demand {
    weights: Vec<f64>,
    rng: ChaCha8Rng,
    next_drift: Millis,
}

impl Demand {
    /// Shares for `peers` peers: e^U(-1.5, 1.5) each, so one peer may see up to 20 times
    /// another's travelers.
    pub(super) fn new(peers: usize, seed: u64) -> Demand {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xde3a_4d00_0000_0001);
        let weights = (0..peers)
            .map(|_| rng.random_range(-1.5f64..1.5).exp())
            .collect();
        Demand {
            weights,
            rng,
            next_drift: 0,
        }
    }

    /// Every `DRIFT_EVERY_MS`, one peer's share is multiplied or divided by up to 3.
    fn drift(&mut self, now: Millis) {
        if now < self.next_drift {
            return;
        }
        if self.next_drift > 0 && !self.weights.is_empty() {
            let i = self.rng.random_range(0..self.weights.len());
            let f: f64 = self.rng.random_range(-1.1f64..1.1).exp();
            self.weights[i] = (self.weights[i] * f).clamp(0.05, 20.0);
        }
        self.next_drift = now + DRIFT_EVERY_MS;
    }

    /// One of `alive`, by share.
    fn pick(&mut self, alive: &[usize]) -> Option<usize> {
        let total: f64 = alive.iter().map(|&i| self.weights[i]).sum();
        if alive.is_empty() || total <= 0.0 {
            return None;
        }
        let mut x = self.rng.random_range(0.0..total);
        for &i in alive {
            if x < self.weights[i] {
                return Some(i);
            }
            x -= self.weights[i];
        }
        alive.last().copied()
    }
}
