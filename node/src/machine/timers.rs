//! Timers: ticks, hold expiry and the deadlines of pending purchases.

use super::*;

impl Node {
    pub(super) fn on_timer(&mut self, t: Timer, now: Millis) {
        match t {
            Timer::Tick => {
                self.deferred.expire_unverified(now);
                self.probe_partners(now);
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
            Timer::Deadline(_) if self.phase.is_active() => self.expire_pending(now),
            Timer::Deadline(_) => self.expire_pending_inactive(now),
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
        let Some(r) = self.phase.refusal() else {
            return;
        };
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|k| {
                matches!(self.operations.get(*k), Some(Operation::Pending { deadline, .. }) if *deadline <= now)
            })
            .cloned()
            .collect();
        for key in due {
            self.finish(
                &key,
                Operation::Refused(r.clone()),
                Reply::Refused(r.clone()),
            );
        }
    }

    pub(super) fn expire_pending(&mut self, now: Millis) {
        let due: Vec<(String, PendingOp)> = self
            .pending
            .iter()
            .filter_map(|k| match self.operations.get(k) {
                Some(Operation::Pending { op, deadline }) if *deadline <= now => {
                    Some((k.clone(), op.clone()))
                }
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
