//! What a remote event may carry, checked before any of it is applied.
//!
//! An event is signed by its origin, so its signature proves *who* wrote it, not that the
//! origin was entitled to write it. Here every part is checked against the local state:
//!
//! - each token update must continue the token's chain and be written by the token's writer
//!   ([`Token::check_successor`]);
//! - each ticket must be the origin's own (its seller, and an id in the origin's namespace
//!   `{origin}-…`); a live ticket must come with the token updates, in the same event, that
//!   make each of its seats `Sold` by the origin under that ticket; a cancellation must come
//!   from the ticket's seller and leave none of its seats sold under it;
//! - each token the event holds in a cart names the cart in the origin's namespace
//!   (`{origin}-…`), as ticket ids do.
//!
//! The catalog part is checked by [`passcom_crdt::Catalog::prepare_remote`] before this runs.
//! Only an event that passes every check is applied, whole ([`Node::apply_remote_event`]).

use super::{MAX_LEGS, Node};
use crate::model::{Event, TicketStatus, TokenUpdate};
use passcom_crdt::{SeatId, Token, TokenState};
use std::collections::BTreeMap;

/// Why an event cannot be applied now.
pub(super) enum Unfit {
    /// It needs state that has not arrived yet (a flight, an earlier token version).
    NotYet,
    /// It is not the origin's to write: reject it, and its sender.
    Rejected(String),
}

impl Node {
    /// Checks `ev` against the local state (its catalog part already installed) and returns
    /// the token updates to install, in order.
    ///
    /// Errors: [`Unfit::NotYet`] when it depends on something missing, [`Unfit::Rejected`]
    /// with the reason when some part is not the origin's to write.
    pub(super) fn check_event(&self, ev: &Event) -> Result<Vec<TokenUpdate>, Unfit> {
        let origin = &ev.origin;
        // Ticket ids and cart ids an origin writes start with its name.
        let namespace = format!("{origin}-");
        // The state of every touched token after the event, and the states the event
        // proves it wrote (newly checked, or already here exactly as written).
        let mut overlay: BTreeMap<SeatId, Token> = BTreeMap::new();
        let mut proven: BTreeMap<&SeatId, Vec<&Token>> = BTreeMap::new();
        let mut updates = Vec::new();
        for u in &ev.tokens {
            let local = match overlay
                .get(&u.seat)
                .cloned()
                .or_else(|| self.token(&u.seat))
            {
                Some(t) => t,
                None => return Err(Unfit::NotYet), // flight not in our catalog yet
            };
            if local.version >= u.next.version {
                if local.version == u.next.version {
                    if local != u.next {
                        return Err(Unfit::Rejected(format!(
                            "{origin} wrote {} v{} differently from its holder",
                            u.seat, u.next.version
                        )));
                    }
                    proven.entry(&u.seat).or_default().push(&u.next);
                }
                continue; // already applied
            }
            if local.version < u.prev.version {
                return Err(Unfit::NotYet);
            }
            if local != u.prev {
                return Err(Unfit::Rejected(format!(
                    "{origin} moved {} from a state it never had",
                    u.seat
                )));
            }
            if let Err(e) = Token::check_successor(&u.prev, &u.next, origin) {
                return Err(Unfit::Rejected(format!(
                    "{origin} may not move {}: {e}",
                    u.seat
                )));
            }
            if let TokenState::Held { hold_id, .. } = &u.next.state
                && !hold_id.starts_with(&namespace)
            {
                return Err(Unfit::Rejected(format!(
                    "{origin} may only hold {} under a cart id that starts with {namespace:?}",
                    u.seat
                )));
            }
            overlay.insert(u.seat.clone(), u.next.clone());
            proven.entry(&u.seat).or_default().push(&u.next);
            updates.push(u.clone());
        }
        for t in &ev.tickets {
            let reject = |why: String| Err(Unfit::Rejected(format!("ticket {}: {why}", t.id)));
            if &t.seller != origin {
                return reject(format!("{origin} published a ticket sold by {}", t.seller));
            }
            if !t.id.as_str().starts_with(&namespace) {
                return reject(format!(
                    "{origin} may only use ticket ids that start with {namespace:?}"
                ));
            }
            if let Some(known) = self.tickets.get(&t.id)
                && &known.seller != origin
            {
                return reject(format!("{origin} cancels a ticket of {}", known.seller));
            }
            if t.legs.is_empty() || t.legs.len() > MAX_LEGS {
                return reject(format!("a ticket has 1 to {MAX_LEGS} legs"));
            }
            for leg in &t.legs {
                let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
                let sold_here = |tk: &Token| {
                    matches!(&tk.state, TokenState::Sold { seller, ticket }
                        if seller == origin && ticket == &t.id)
                };
                match t.status {
                    TicketStatus::Live => {
                        if !proven
                            .get(&seat)
                            .is_some_and(|states| states.iter().any(|s| sold_here(s)))
                        {
                            return reject(format!(
                                "{origin} sells {seat} without the token update that sold it"
                            ));
                        }
                    }
                    TicketStatus::Cancelled => {
                        let after = overlay.get(&seat).cloned().or_else(|| self.token(&seat));
                        if after.is_some_and(|s| sold_here(&s)) {
                            return reject(format!(
                                "{origin} cancels it but keeps {seat} sold under it"
                            ));
                        }
                    }
                }
            }
        }
        Ok(updates)
    }
}
