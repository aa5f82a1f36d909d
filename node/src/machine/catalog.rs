//! Catalog edits by this airline's operator, and the cancellation cascade when a flight is
//! cancelled (its live tickets are cancelled and their seats freed).

use super::*;

impl Node {
    /// Cancels the live tickets this peer sold on flights that are now cancelled.
    pub(super) fn cancel_tickets_of_cancelled_flights(&mut self, now: Millis) {
        let me = self.cfg.airline.clone();
        let doomed: Vec<TicketId> = self
            .tickets
            .values()
            .filter(|t| t.seller == me && t.status == TicketStatus::Live)
            .filter(|t| {
                t.legs
                    .iter()
                    .any(|l| self.catalog.flight(&l.flight).is_some_and(|f| f.cancelled))
            })
            .map(|t| t.id.clone())
            .collect();
        for id in doomed {
            let _ = self.cancel_ticket(&id, None, now);
        }
    }

    pub(super) fn put_flights(&mut self, flights: Vec<Flight>, now: Millis) -> Result<(), Refusal> {
        let me = self.cfg.airline.clone();
        for f in &flights {
            if f.airline != me {
                return Err(Refusal::Invalid(format!(
                    "flight {} belongs to {}; {me} may edit only its own flights",
                    f.id, f.airline
                )));
            }
            if let Some(old) = self.catalog.flight(&f.id) {
                old.check_change(f)
                    .map_err(|e| Refusal::Invalid(e.to_string()))?;
            }
        }
        let changes = self
            .catalog
            .put_flights(&me, &flights)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        self.local_catalog.extend(changes);
        self.dirty_docs.insert(me);
        if flights.iter().any(|f| f.cancelled) {
            self.cancel_tickets_of_cancelled_flights(now);
        }
        Ok(())
    }
}
