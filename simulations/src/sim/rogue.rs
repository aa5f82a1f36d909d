//! Byzantine airlines (`passcom simulate --byzantine N`): N extra airlines of the network,
//! members of its closed roster with valid keys of their own, that attack the honest peers
//! instead of selling. Each attack is an event signed with the rogue's own key, so only the
//! node's checks of *what* it carries stand in the way; the kinds are tried in turn, so every
//! schedule attempts each of them.
//!
//! The honest peers' invariants are checked as in every run; a rejection naming a rogue as
//! the sender is what must happen (not a violation), and at the end
//! [`RogueCounts::accepted`] counts every trace of a rogue found in an honest peer's state.

use super::Simulation;
use passcom_crdt::{AirlineCatalog, AirlineId, SeatId, TicketId, Token, TokenState, VectorClock};
use passcom_node::{Event, Input, Message, Ticket, TicketLeg, TicketStatus, TokenUpdate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// The attacks, in the order they are tried.
pub const KINDS: [&str; 9] = [
    "shadow-flight",
    "foreign-edit",
    "forged-ticket",
    "forged-cancellation",
    "foreign-namespace",
    "replay",
    "forged-predecessor",
    "flood",
    "impersonation",
];

/// Chance that one driver step carries an attack.
const ATTACK_RATE: f64 = 0.05;
/// Events of invented origins in one flood message.
const FLOOD_EVENTS: u64 = 200;
/// The passenger name of every rogue ticket, to find them in honest state.
const PASSENGER: &str = "Mallory";

/// What the rogue airlines did in one schedule, and what of it got through.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RogueCounts {
    /// Attacks tried, by kind.
    pub attempts: BTreeMap<String, u64>,
    /// Rejections naming a rogue as the sender.
    pub rejected: u64,
    /// Traces of a rogue in an honest peer's state at the end (an applied rogue event, a
    /// rogue or forged ticket, a rogue flight, an invented origin): must be 0.
    pub accepted: u64,
}

/// The name of rogue airline `i`: codes distinct from each other and from the honest ones.
pub fn rogue_name(i: usize) -> String {
    const NAMES: [&str; 6] = ["mallory", "nemo", "oscar", "trudy", "eve", "chuck"];
    match NAMES.get(i) {
        Some(n) => (*n).to_owned(),
        None => format!("q{}rogue", char::from(b'a' + (i % 26) as u8)),
    }
}

/// The rogue airlines of a run, with their keys.
pub(super) struct Rogues {
    pub names: Vec<AirlineId>,
    keys: Vec<ed25519_dalek::SigningKey>,
    rng: ChaCha8Rng,
    tried: u64,
    pub counts: RogueCounts,
}

impl Rogues {
    /// `n` rogues for the schedule of `seed`, their keys derived from it.
    pub fn new(n: usize, seed: u64) -> Rogues {
        let keys = (0..n)
            .map(|i| {
                ed25519_dalek::SigningKey::from_bytes(&super::inject::signing_key(seed, 1_000 + i))
            })
            .collect();
        Rogues {
            names: (0..n).map(|i| AirlineId::new(rogue_name(i))).collect(),
            keys,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0b12_0000_0000_0000),
            tried: 0,
            counts: RogueCounts::default(),
        }
    }

    /// The roster entries of the rogues.
    pub fn roster(&self) -> Vec<(AirlineId, [u8; 32])> {
        self.names
            .iter()
            .zip(&self.keys)
            .map(|(n, k)| (n.clone(), k.verifying_key().to_bytes()))
            .collect()
    }

    fn sign(&self, r: usize, mut ev: Event) -> Event {
        use ed25519_dalek::Signer;
        ev.signature = self.keys[r].sign(&ev.signed_bytes()).to_bytes().to_vec();
        ev
    }
}

fn event(origin: &AirlineId, seq: u64) -> Event {
    Event {
        origin: origin.clone(),
        seq,
        tokens: vec![],
        tickets: vec![],
        catalog: vec![],
        signature: vec![],
    }
}

fn ticket(id: String, seller: &AirlineId, seat: &SeatId, status: TicketStatus) -> Ticket {
    Ticket {
        id: TicketId::new(id),
        passenger: PASSENGER.into(),
        account: None,
        legs: vec![TicketLeg {
            flight: seat.flight.clone(),
            seat: seat.seat.clone(),
            fare_cents: 1,
        }],
        price_cents: 1,
        seller: seller.clone(),
        created_at: 0,
        status,
        key: None,
    }
}

impl Simulation {
    /// One driver step's chance of an attack by a rogue on a running honest peer.
    pub(super) fn rogue_attack(&mut self) {
        let Some(mut rogues) = self.rogues.take() else {
            return;
        };
        self.attack_with(&mut rogues);
        self.rogues = Some(rogues);
    }

    fn attack_with(&mut self, rogues: &mut Rogues) {
        if !rogues.rng.random_bool(ATTACK_RATE) {
            return;
        }
        let alive: Vec<usize> = (0..self.peers.len()).filter(|&i| self.alive(i)).collect();
        if alive.is_empty() || self.world.flights.is_empty() {
            return;
        }
        let target = alive[rogues.rng.random_range(0..alive.len())];
        let r = rogues.rng.random_range(0..rogues.names.len());
        let kind = KINDS[(rogues.tried % KINDS.len() as u64) as usize];
        rogues.tried += 1;
        let flight =
            self.world.flights[rogues.rng.random_range(0..self.world.flights.len())].clone();
        let label = flight
            .seat_labels()
            .nth(rogues.rng.random_range(0..flight.capacity() as usize))
            .expect("a seat of the flight");
        let seat = flight.seat(&label);
        let me = rogues.names[r].clone();
        let node = self.peers[target].node.as_ref().expect("alive");
        let mut events = Vec::new();
        match kind {
            "shadow-flight" => {
                // The honest flight's id in the rogue's own document, 200 rows, no escrow.
                let mut shadow = flight.clone();
                shadow.airline = me.clone();
                shadow.rows = 200;
                shadow.escrow.clear();
                let mut ev = event(&me, 1);
                ev.catalog = AirlineCatalog::new(me.clone())
                    .write_flights_unchecked(&[shadow])
                    .unwrap_or_default();
                events.push(ev);
            }
            "foreign-edit" => {
                // A change written with the operator's Automerge actor, in the rogue's event.
                let mut edited = flight.clone();
                edited.fare_cents = 1;
                edited.rows = 200;
                let mut ev = event(&me, 1);
                ev.catalog = AirlineCatalog::new(flight.airline.clone())
                    .write_flights_unchecked(&[edited])
                    .unwrap_or_default();
                events.push(ev);
            }
            "forged-ticket" => {
                let mut ev = event(&me, 1);
                ev.tickets
                    .push(ticket(format!("{me}-1-1"), &me, &seat, TicketStatus::Live));
                events.push(ev);
            }
            "forged-cancellation" => {
                // A real ticket of the target's, cancelled under its seller's name and the
                // rogue's own.
                let real = node
                    .tickets()
                    .values()
                    .find(|t| t.status == TicketStatus::Live)
                    .cloned();
                let mut victim = real.unwrap_or_else(|| {
                    ticket(
                        format!("{}-1-1", flight.airline),
                        &flight.airline,
                        &seat,
                        TicketStatus::Live,
                    )
                });
                victim.status = TicketStatus::Cancelled;
                let mut as_seller = event(&me, 1);
                as_seller.tickets.push(victim.clone());
                victim.seller = me.clone();
                let mut as_rogue = event(&me, 1);
                as_rogue.tickets.push(victim);
                events.extend([as_seller, as_rogue]);
            }
            "foreign-namespace" => {
                // The rogue's own sale, under an id of the operator's namespace.
                let id = format!("{}-1-1", flight.airline);
                let mut ev = event(&me, 1);
                ev.tickets.push(ticket(id, &me, &seat, TicketStatus::Live));
                events.push(ev);
            }
            "replay" => {
                // Real events of the target's log, once as they are and once with a forged
                // ticket slipped in under their signatures.
                if let Ok((log, _)) = node.events_missing_from(&VectorClock::new(), 4) {
                    for ev in log {
                        let mut tampered = ev.clone();
                        tampered.tickets.push(ticket(
                            format!("{}-{}-99", ev.origin, ev.seq),
                            &ev.origin,
                            &seat,
                            TicketStatus::Live,
                        ));
                        events.extend([ev, tampered]);
                    }
                }
            }
            "forged-predecessor" => {
                // An event after a gap the rogue never fills, whose token update starts from a
                // version nobody wrote.
                let local = node
                    .token(&seat)
                    .unwrap_or_else(|| Token::initial(me.clone()));
                let mut ev = event(&me, 1_000 + rogues.rng.random_range(0..1_000));
                let prev = Token {
                    version: local.version + 3,
                    state: TokenState::Available { holder: me.clone() },
                };
                let id = TicketId::new(format!("{me}-{}-1", ev.seq));
                ev.tokens.push(TokenUpdate {
                    seat: seat.clone(),
                    next: Token {
                        version: prev.version + 1,
                        state: TokenState::Sold {
                            seller: me.clone(),
                            ticket: id.clone(),
                        },
                    },
                    prev,
                });
                ev.tickets
                    .push(ticket(id.to_string(), &me, &seat, TicketStatus::Live));
                events.push(ev);
            }
            "flood" => {
                for i in 0..FLOOD_EVENTS {
                    let ghost = AirlineId::new(format!("ghost{}", i % 16));
                    events.push(event(&ghost, 2 + i));
                }
            }
            _ => {
                // "impersonation": a sale under the operator's name, signed by the rogue.
                let origin = flight.airline.clone();
                let mut ev = event(&origin, node.clock().get(&origin) + 1);
                let id = format!("{origin}-{}-1", ev.seq);
                ev.tickets
                    .push(ticket(id, &origin, &seat, TicketStatus::Live));
                events.push(ev);
            }
        }
        let signed: Vec<Event> = if kind == "replay" {
            events
        } else {
            events.into_iter().map(|ev| rogues.sign(r, ev)).collect()
        };
        *rogues.counts.attempts.entry(kind.to_owned()).or_default() += 1;
        self.mix(0x0b12 ^ rogues.tried);
        self.deliver_now(
            target,
            Input::Message {
                from: me,
                msg: Message::Events { events: signed },
            },
        );
    }

    /// Whether `from` is one of the rogue airlines (its rejections are expected).
    pub(super) fn is_rogue(&self, from: &AirlineId) -> bool {
        self.rogues.as_ref().is_some_and(|r| r.names.contains(from))
    }

    /// Counts every trace of a rogue left in the running honest peers' state.
    pub(super) fn count_rogue_traces(&mut self) {
        let Some(rogues) = self.rogues.as_ref() else {
            return;
        };
        let mut traces = 0;
        for peer in &self.peers {
            let Some(node) = peer.node.as_ref() else {
                continue;
            };
            let foreign = |a: &AirlineId| !self.world.airlines.contains(a);
            traces += node.clock().origins().filter(|o| foreign(o)).count();
            traces += node
                .tickets()
                .values()
                .filter(|t| t.passenger == PASSENGER || rogues.names.contains(&t.seller))
                .count();
            traces += node
                .catalog()
                .flights()
                .filter(|f| foreign(&f.airline))
                .count();
        }
        let traces = traces as u64;
        if let Some(r) = self.rogues.as_mut() {
            r.counts.accepted = traces;
        }
        if traces > 0 {
            self.breach((
                super::Invariant::Authority,
                format!("{traces} traces of a rogue airline in honest state"),
            ));
        }
    }
}
