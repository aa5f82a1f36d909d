//! The driver's step and the classic faults: partitions, isolations, flapping and one-way
//! links, and crashes (the fault families beyond them are in `inject`).

use super::*;

impl Simulation {
    // ------------------------------------------------------------------------------------------
    // Control: the driver, faults, client actions

    pub(super) fn control(&mut self, what: What) {
        match what {
            What::Deliver { .. } => {}
            What::Drive => {
                if self.draining {
                    return;
                }
                self.steps += 1;
                self.check_stuck();
                if self.sched.fault_rate > 0.0 && self.rng.random_bool(self.sched.fault_rate) {
                    self.fault();
                } else {
                    self.client_action();
                }
                self.inject();
                self.rogue_attack();
                let u: f64 = self.rng.random();
                let gap = (-(1.0 - u).ln() * self.sched.action_gap_ms as f64) as Millis;
                self.schedule(self.now + gap.max(1), What::Drive);
            }
            What::Restart(n) => self.restart(n),
            What::HealAll => {
                if !self.draining {
                    self.heal_links();
                }
            }
            What::SetLink { a, b, up } => {
                if !self.draining {
                    self.net.set_want(a, b, up);
                    self.refresh_links();
                }
            }
            What::Checkout { hold_id } => {
                if !self.draining {
                    self.checkout(&hold_id);
                }
            }
            What::Resend { key } => self.resend(&key),
            What::Injected(due) => self.due(due),
        }
    }

    pub(super) fn fault(&mut self) {
        let n = self.peers.len();
        let kind = self.rng.random_range(0..6);
        self.mix(0xfa00 ^ kind);
        let heal_after = self.rng.random_range(200..=8_000);
        match kind {
            0 => {
                // A random split into two sides.
                let side: Vec<bool> = (0..n).map(|_| self.rng.random_bool(0.5)).collect();
                if side.iter().all(|s| *s) || side.iter().all(|s| !*s) {
                    return;
                }
                for a in 0..n {
                    for b in (a + 1)..n {
                        self.net.set_want(a, b, side[a] == side[b]);
                    }
                }
            }
            1 => {
                // One peer cut off from all others.
                let x = self.rng.random_range(0..n);
                for b in (0..n).filter(|&b| b != x) {
                    self.net.set_want(x, b, false);
                }
            }
            2 => {
                // A flapping link: a few toggles, ending up.
                let (a, b) = self.random_pair();
                let toggles = self.rng.random_range(2..=8);
                let mut at = self.now;
                for i in 0..toggles {
                    at += self.rng.random_range(20..=600);
                    let up = i % 2 == 1 || i + 1 == toggles;
                    self.schedule(at, What::SetLink { a, b, up });
                }
                self.metrics.network_faults += 1;
                return;
            }
            3 => {
                // An asymmetric link: a → b drops everything while the connection looks up.
                let (a, b) = self.random_pair();
                let i = self.net.at(a, b);
                self.net.blackhole[i] = true;
            }
            4 if self.sched.crashes => {
                if let Some(x) = self.random_alive() {
                    if self.rng.random_bool(0.5) {
                        self.peers[x].crash_after_batch = true;
                    } else {
                        self.crash(x);
                    }
                }
                return;
            }
            _ => {
                self.heal_links();
                return;
            }
        }
        self.metrics.network_faults += 1;
        self.refresh_links();
        self.schedule(self.now + heal_after, What::HealAll);
    }

    fn random_pair(&mut self) -> (usize, usize) {
        let n = self.peers.len();
        let a = self.rng.random_range(0..n);
        let b = (a + self.rng.random_range(1..n.max(2))) % n;
        (a, b)
    }
}
