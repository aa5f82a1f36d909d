//! Timers: ticks, hold expiry and the deadlines of pending purchases.
//!
//! Timers are named, and the name says what a firing is for: [`Timer::Deadline`] carries the
//! idempotency key of the one pending purchase or hold it ends, [`Timer::HoldExpiry`] the id of
//! the one cart it lapses, and [`Timer::Tick`] is the periodic work. The node keeps no table of
//! timers of its own: the driver keeps them (the network's driver one per name, the earlier
//! wins) and fires each back as `Input::Timer`. A firing whose purpose is gone (the purchase
//! finished, the cart checked out) does nothing. A driver times a timer as a duration, so after the wall clock
//! steps back a timer can fire before its deadline in the node's time; it then does nothing
//! too, and the tick, which ends everything past its time, ends that purchase at most one
//! tick later.

use super::*;

impl Node {
    pub(super) fn on_timer(&mut self, t: Timer, now: Millis) {
        match t {
            Timer::Tick => {
                self.deferred.expire_unverified(now);
                // Every connected partner is probed, reachable or not, so that one that comes
                // back is noticed without waiting for a new connection.
                let peers: Vec<AirlineId> = self.connected.keys().cloned().collect();
                for peer in peers {
                    self.ask_sync(&peer);
                }
                self.out.push(Output::SetTimer {
                    at: now + self.cfg.tick_ms,
                    timer: Timer::Tick,
                });
                if !self.phase.is_active() {
                    // Nothing is released or written while the history is not ours yet; a
                    // purchase that reached its deadline is answered all the same.
                    return self.expire_pending_inactive(now);
                }
                let lapsed: Vec<String> = self
                    .holds
                    .values()
                    .filter(|h| h.expires <= now)
                    .map(|h| h.hold_id.clone())
                    .collect();
                for h in lapsed {
                    self.release_hold(&h, now);
                }
                self.expire_pending(now);
                self.rebalance_escrow(now);
                self.tokens_arrived = true;
            }
            Timer::Deadline(key) => {
                let due = matches!(
                    self.operations.get(&key),
                    Some(Operation::Pending { deadline, .. }) if *deadline <= now
                );
                if due && self.phase.is_active() {
                    self.expire(vec![key], now);
                } else if due {
                    self.refuse_inactive(vec![key]);
                }
            }
            Timer::HoldExpiry(hold_id) => {
                if self.holds.get(&hold_id).is_some_and(|h| h.expires <= now) {
                    self.release_hold(&hold_id, now);
                }
            }
        }
    }

    /// A peer that is not active ends the purchases that reached their deadline with its
    /// phase's refusal (an answer to one attempt: the key stays free for a retry), writing
    /// nothing, so no request waits on a recovery that may take long.
    pub(super) fn expire_pending_inactive(&mut self, now: Millis) {
        let due = self.due(now);
        self.refuse_inactive(due);
    }

    /// Keys of the pending operations whose deadline has come, in key order.
    fn due(&self, now: Millis) -> Vec<String> {
        self.pending
            .iter()
            .filter(|k| {
                matches!(self.operations.get(*k), Some(Operation::Pending { deadline, .. }) if *deadline <= now)
            })
            .cloned()
            .collect()
    }

    /// Ends the pending operations `due` with the phase's refusal (nothing when active).
    fn refuse_inactive(&mut self, due: Vec<String>) {
        let Some(r) = self.phase.refusal() else {
            return;
        };
        for key in due {
            self.finish(
                &key,
                Operation::Refused(r.clone()),
                Reply::Refused(r.clone()),
            );
        }
    }

    /// Ends every pending operation whose deadline has come (the tick's sweep).
    pub(super) fn expire_pending(&mut self, now: Millis) {
        let due = self.due(now);
        self.expire(due, now);
    }

    /// Ends the pending operations `due` (keys whose deadline has come): a last attempt,
    /// which sells or holds if every seat is here by now, else the refusal `timeout`.
    fn expire(&mut self, due: Vec<String>, now: Millis) {
        let due: Vec<(String, PendingOp)> = due
            .into_iter()
            .filter_map(|k| match self.operations.get(&k) {
                Some(Operation::Pending { op, .. }) => Some((k, op.clone())),
                _ => None,
            })
            .collect();
        for (key, op) in due {
            let (record, reply) = match self.attempt(&op, now) {
                Attempt::Finished(record, reply) => (record, reply),
                Attempt::Waiting(_, flight) => {
                    let r = Refusal::Timeout { flight };
                    (Operation::Refused(r.clone()), Reply::Refused(r))
                }
            };
            self.finish(&key, record, reply);
        }
    }
}
