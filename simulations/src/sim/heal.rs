//! The final heal: every peer restarts, every link comes up, the network stops losing, and
//! the peers run until they agree or the bound passes; then the converged state is checked.

use super::*;

impl Simulation {
    // ------------------------------------------------------------------------------------------
    // The final heal

    pub(super) fn final_heal(&mut self) {
        self.draining = true;
        self.net.quiet = true;
        // No rollback happens any more: snapshots kept for one are not copies of anything now.
        for p in &mut self.peers {
            p.snapshot = None;
        }
        // Peers gone for good are judged once the peers agree, below, not here: their events
        // may wait in a partner's queue of early events for a dependency that lands in the
        // final phase (seed 1137 of the default schedules).
        let keep = self
            .all_surviving()
            .into_iter()
            .filter(|&(x, _)| !self.peers[x].gone)
            .collect();
        self.forget_beyond(keep);
        // The twin's operator stops it (its store goes with it) after what it holds was
        // counted above: its messages still in flight land during the final phase, and what
        // reached nobody is forgotten before the converged state is judged.
        if let Some(generation) = self.twins.current.as_ref().map(|t| t.generation) {
            self.stop_twin(generation);
        }
        for n in 0..self.peers.len() {
            self.peers[n].crash_after_batch = false;
            if !self.alive(n) {
                self.restart(n);
            }
        }
        self.silent_heal_all();
        self.heal_links();
        let healed_at = self.now;
        let unanswered: Vec<String> = self
            .keys
            .iter()
            .filter(|(key, k)| {
                k.outcome == KeyOutcome::Unanswered
                    && !self.peers[k.node].gone
                    && !self
                        .outstanding
                        .values()
                        .any(|o| matches!(&o.kind, ReqKind::Purchase(x) if x == *key))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in unanswered {
            self.schedule(self.now, What::Resend { key });
        }
        let deadline = healed_at + CONVERGENCE_BOUND_MS;
        let mut next_probe = self.now;
        let start_steps = self.steps;
        while self.violation.is_none() {
            if self.now >= next_probe {
                next_probe = self.now + CONVERGENCE_PROBE_MS;
                // Done when every request has its answer (including re-sends still queued:
                // an unanswered key is not done just because nothing is in flight yet) and
                // the peers agree.
                let all_answered = self.outstanding.is_empty()
                    && self
                        .keys
                        .values()
                        .all(|k| k.outcome != KeyOutcome::Unanswered || self.peers[k.node].gone);
                if all_answered && self.converged().is_none() {
                    self.metrics.convergence_ms = Some(self.now - healed_at);
                    break;
                }
                self.check_stuck();
                self.restart_halted_twinned();
            }
            let next_at = self.queue.peek().map(|e| e.at);
            if self.now >= deadline
                || next_at.is_none_or(|t| t > deadline)
                || self.steps - start_steps > DRAIN_EVENT_BOUND
            {
                let why = self.converged().unwrap_or_else(|| {
                    format!("{} requests still unanswered", self.outstanding.len())
                });
                let b = (
                    Invariant::Convergence,
                    format!(
                        "peers still disagree {CONVERGENCE_BOUND_MS} ms after the final heal: {why}"
                    ),
                );
                return self.breach(b);
            }
            // Probe between events too, so that the time to converge is measured to the probe.
            if next_at.is_some_and(|t| t > next_probe) {
                self.now = next_probe;
                continue;
            }
            self.run_instant();
        }
        if self.violation.is_some() {
            return;
        }
        let unanswered = self
            .keys
            .iter()
            .find(|(_, k)| k.outcome == KeyOutcome::Unanswered && !self.peers[k.node].gone)
            .map(|(key, _)| key.clone());
        if let Some(key) = unanswered {
            return self.breach((
                Invariant::Idempotency,
                format!("purchase {key} never ended, confirmed or refused"),
            ));
        }
        // A peer gone for good took its disk with it: only what its partners hold survives.
        // Judged once they agree, not at the heal: events of it waiting in a partner's queue
        // of early events are applied during the final phase.
        // Likewise a stopped twin took its store: what it wrote, or held alone, that reached
        // nobody is gone.
        let gone: Vec<usize> = (0..self.peers.len())
            .filter(|&n| {
                self.peers[n].gone
                    || (self.twins.current.is_none()
                        && self.judged_at_the_end(&self.world.airlines[n]))
            })
            .collect();
        let keep = gone.iter().map(|&n| (n, self.surviving_seq(n))).collect();
        self.forget_beyond(keep);
        if self.violation.is_some() {
            return;
        }
        let nodes: Vec<&Node> = self.peers.iter().filter_map(|p| p.node.as_ref()).collect();
        if let Some(view) = nodes.first()
            && let Err(b) = self.checker.revive(view)
        {
            return self.breach(b);
        }
        if let Err(b) = self.checker.check_converged(&nodes) {
            self.breach(b);
        }
    }

    pub(super) fn converged(&self) -> Option<String> {
        // A peer restarting (a halted twinned one, restarted by its operator during the final
        // phase) is not there to agree yet.
        if let Some(x) = (0..self.peers.len()).find(|&x| !self.alive(x) && !self.peers[x].gone) {
            return Some(format!("{} is down", self.world.airlines[x]));
        }
        let nodes: Vec<&Node> = self.peers.iter().filter_map(|p| p.node.as_ref()).collect();
        Checker::difference(&nodes)
    }
}
