//! The fault families of [`crate::faults`], injected into a running [`Simulation`]: silent
//! cuts and how long the nodes take to notice them, clock steps, long outages, lost and
//! rolled-back disks, peers that never return, and signed events.
//!
//! Every draw here comes from the simulation's second generator (`fault_rng`), never from the
//! one the classic faults and the workload use, so that with every family off a seed replays
//! the trace it gave before these families existed.

use super::{KeyOutcome, Simulation, What};
use crate::faults::FaultPlan;
use passcom_crdt::{AirlineId, Millis, VectorClock};
use passcom_node::{Config, Input};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a crashed peer's disk holds when it restarts.
#[derive(Clone, Debug, Default)]
pub(super) enum DiskFate {
    /// What it committed: an ordinary crash.
    #[default]
    Kept,
    /// Nothing: the disk was lost.
    Empty,
    /// An older copy of its bytes.
    Restored(Snapshot),
}

/// A copy of a peer's store at one instant, and the vector clock the peer had then.
#[derive(Clone, Debug)]
pub(super) struct Snapshot {
    bytes: Vec<u8>,
    clock: VectorClock,
}

/// How long a crashed peer stays down.
pub(super) enum Down {
    /// 0.1 to 6 s, drawn from the classic generator (the classic crash).
    Drawn,
    /// This long.
    For(Millis),
    /// Until the final phase (or for good, when the peer is marked gone).
    Forever,
}

/// A fault action due later.
pub(super) enum Due {
    /// Silent cut `id` heals.
    SilentHeal(usize),
    /// The peer crashes and comes back from the snapshot taken when this was scheduled.
    RollbackCrash(usize),
    /// An input for the twin of this generation (see `twins`).
    TwinInput(u32, Input),
    /// The twin of this generation is stopped.
    TwinStop(u32),
}

/// One end of a silent cut, watched for when it notices.
struct Watch {
    cut: usize,
    observer: usize,
    other: usize,
    incarnation: u32,
    detected: Option<Millis>,
    healed: Option<Millis>,
    reconnected: bool,
}

/// A silent cut: the pairs whose links drop everything, and when it began.
struct Cut {
    pairs: Vec<(usize, usize)>,
    started: Millis,
    healed: bool,
}

/// Every silent cut of the run and the ends being watched.
#[derive(Default)]
pub(super) struct Cuts {
    cuts: Vec<Cut>,
    watches: Vec<Watch>,
}

/// How long a silent cut lasts: long enough that a detector with a timeout of a few seconds
/// notices it.
const SILENT_CUT_MS: std::ops::RangeInclusive<Millis> = 1_000..=15_000;
/// How far a clock steps, either way.
const CLOCK_STEP_MS: std::ops::RangeInclusive<Millis> = 1_000..=30_000;
/// How long a long outage lasts.
const LONG_OUTAGE_MS: std::ops::RangeInclusive<Millis> = 20_000..=60_000;
/// How long a peer whose disk is lost or rolled back stays down: longer than any message it
/// sent can take to land (two hops of the longest latency with reordering), so that what its
/// partners hold when it restarts is all that survived.
const LOST_DISK_DOWN_MS: std::ops::RangeInclusive<Millis> = 5_000..=15_000;
/// How long after its snapshot a rolled-back peer crashes.
const ROLLBACK_AFTER_MS: std::ops::RangeInclusive<Millis> = 1_000..=15_000;

/// The generator of the new fault families for `seed`, apart from the classic one.
pub(super) fn fault_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_0003_0003_fa17)
}

/// Sets up `cfg` of peer `index` as the plan asks: the catch-up page, and with signatures a
/// signing key derived from the seed and the index, with every peer's verifying key in a
/// closed roster, as real peers run.
pub(super) fn configure(
    cfg: &mut Config,
    index: usize,
    airlines: &[AirlineId],
    plan: &FaultPlan,
    seed: u64,
) {
    cfg.max_events_per_sync = plan.max_events_per_sync;
    // Every peer knows its network's airlines, as `passcom peer --partners` says: a peer back
    // from a lost disk knows nobody otherwise, and would take the first partner it hears
    // from for the whole network.
    cfg.partners = airlines
        .iter()
        .filter(|a| **a != cfg.airline)
        .cloned()
        .collect();
    if !plan.signatures {
        return;
    }
    cfg.signing_key = Some(signing_key(seed, index));
    cfg.require_signatures = true;
    cfg.roster = airlines
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let key = ed25519_dalek::SigningKey::from_bytes(&signing_key(seed, i));
            (a.clone(), key.verifying_key().to_bytes())
        })
        .collect();
    cfg.roster_closed = true;
}

/// The secret key of peer `index` in the schedule of `seed`: deterministic, so that a seed
/// replays signature for signature.
pub(super) fn signing_key(seed: u64, index: usize) -> [u8; 32] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5167_0000_0000_0000 ^ index as u64);
    let mut key = [0u8; 32];
    rng.fill(&mut key);
    key
}

impl Simulation {
    /// One driver step's share of the new faults: each family fires with its plan's chance.
    pub(super) fn inject(&mut self) {
        self.drives += 1;
        let plan = self.sched.faults.clone();
        if plan.never_return_at_step == Some(self.drives) {
            self.never_return(plan.never_return_for_good);
        }
        let roll = |rate: f64, rng: &mut ChaCha8Rng| rate > 0.0 && rng.random_bool(rate);
        if roll(plan.silent_cut_rate, &mut self.fault_rng) {
            self.silent_cut();
        }
        if roll(plan.clock_step_rate, &mut self.fault_rng) {
            self.clock_step();
        }
        if roll(plan.long_outage_rate, &mut self.fault_rng) {
            let down = self.fault_rng.random_range(LONG_OUTAGE_MS);
            if let Some(x) = self.pick_alive() {
                self.mix(0xfb01 ^ x as u64);
                self.metrics.faults.long_outages += 1;
                self.crash_for(x, Down::For(down));
            }
        }
        if roll(plan.disk_loss_rate, &mut self.fault_rng) {
            let down = self.fault_rng.random_range(LOST_DISK_DOWN_MS);
            if let Some(x) = self.pick_alive() {
                self.mix(0xfb02 ^ x as u64);
                self.metrics.faults.disk_losses += 1;
                self.peers[x].fate = DiskFate::Empty;
                self.crash_for(x, Down::For(down));
            }
        }
        if roll(plan.rollback_rate, &mut self.fault_rng) {
            self.snapshot();
        }
        if plan.twin_at_step == Some(self.drives) {
            self.start_twin();
        }
        self.twin_client();
        self.restart_halted_twinned();
    }

    /// A running peer chosen by the fault generator, if any runs.
    pub(super) fn pick_alive(&mut self) -> Option<usize> {
        let alive: Vec<usize> = (0..self.peers.len()).filter(|&i| self.alive(i)).collect();
        (!alive.is_empty()).then(|| alive[self.fault_rng.random_range(0..alive.len())])
    }

    /// Handles a fault action that fell due.
    pub(super) fn due(&mut self, due: Due) {
        match due {
            Due::SilentHeal(id) => self.silent_heal(id),
            Due::TwinInput(generation, input) => self.handle_twin(generation, input),
            Due::TwinStop(generation) => self.stop_twin(generation),
            Due::RollbackCrash(n) => {
                // A snapshot is only worth restoring while the run goes on; in the final phase
                // the peers must be left to converge.
                if self.draining || !self.alive(n) {
                    // The snapshot was a copy too: what only it held is gone with it.
                    self.peers[n].snapshot = None;
                    self.forget_lost();
                    return;
                }
                let Some(snap) = self.peers[n].snapshot.take() else {
                    return;
                };
                self.mix(0xfb03 ^ n as u64);
                self.metrics.faults.rollbacks += 1;
                self.peers[n].fate = DiskFate::Restored(snap);
                let down = self.fault_rng.random_range(LOST_DISK_DOWN_MS);
                self.crash_for(n, Down::For(down));
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Silent cuts

    /// Cuts every link of one peer, or one pair, silently: messages stop both ways, and the
    /// nodes are told nothing.
    fn silent_cut(&mut self) {
        let n = self.peers.len();
        if n < 2 {
            return;
        }
        let x = self.fault_rng.random_range(0..n);
        let pairs: Vec<(usize, usize)> = if self.fault_rng.random_bool(0.5) {
            (0..n).filter(|&b| b != x).map(|b| (x, b)).collect()
        } else {
            let y = (x + self.fault_rng.random_range(1..n)) % n;
            vec![(x, y)]
        };
        let heal = self.fault_rng.random_range(SILENT_CUT_MS);
        let id = self.cuts.cuts.len();
        self.mix(0xfb04 ^ ((id as u64) << 8) ^ x as u64);
        self.metrics.faults.silent_cuts += 1;
        for &(a, b) in &pairs {
            for (o, t) in [(a, b), (b, a)] {
                let i = self.net.at(o, t);
                self.net.silent[i] += 1;
                // Watch an end only when it runs and sees the other end now: otherwise there
                // is nothing for it to notice.
                let sees = self.peers[o]
                    .node
                    .as_ref()
                    .is_some_and(|node| node.reachable().contains(&self.world.airlines[t]));
                if sees {
                    self.cuts.watches.push(Watch {
                        cut: id,
                        observer: o,
                        other: t,
                        incarnation: self.peers[o].incarnation,
                        detected: None,
                        healed: None,
                        reconnected: false,
                    });
                }
            }
        }
        self.cuts.cuts.push(Cut {
            pairs,
            started: self.now,
            healed: false,
        });
        self.schedule(self.now + heal, What::Injected(Due::SilentHeal(id)));
    }

    /// Heals silent cut `id` (as silently as it began) and closes its detection watch.
    fn silent_heal(&mut self, id: usize) {
        let Some(cut) = self.cuts.cuts.get_mut(id) else {
            return;
        };
        if cut.healed {
            return;
        }
        cut.healed = true;
        let pairs = cut.pairs.clone();
        for (a, b) in pairs {
            for (o, t) in [(a, b), (b, a)] {
                let i = self.net.at(o, t);
                self.net.silent[i] = self.net.silent[i].saturating_sub(1);
            }
        }
        let mut noticed = false;
        let mut watched = false;
        for w in self.cuts.watches.iter_mut().filter(|w| w.cut == id) {
            watched = true;
            w.healed = Some(self.now);
            match w.detected {
                Some(_) => noticed = true,
                None => self.metrics.faults.undetected_ends += 1,
            }
        }
        if watched && !noticed {
            self.metrics.faults.unnoticed_cuts += 1;
        }
        // Only ends that noticed have a reconnection to wait for.
        self.cuts
            .watches
            .retain(|w| !(w.cut == id && w.detected.is_none()));
    }

    /// Heals every silent cut still open (the final heal).
    pub(super) fn silent_heal_all(&mut self) {
        for id in 0..self.cuts.cuts.len() {
            self.silent_heal(id);
        }
    }

    /// Called after peer `n` handled a batch: records when an end of a silent cut stopped,
    /// or started again, listing the other end among its reachable peers. `reachable()` only
    /// changes in a batch, so this sees every change at the instant it happens.
    pub(super) fn watch_reachability(&mut self, n: usize) {
        if self.cuts.watches.is_empty() {
            return;
        }
        let Some(node) = self.peers[n].node.as_ref() else {
            return;
        };
        let incarnation = self.peers[n].incarnation;
        let now = self.now;
        let mut drop = Vec::new();
        for (i, w) in self.cuts.watches.iter_mut().enumerate() {
            if w.observer != n {
                continue;
            }
            if w.incarnation != incarnation {
                drop.push(i); // the end restarted: its view started over
                continue;
            }
            let sees = node.reachable().contains(&self.world.airlines[w.other]);
            let linked = self.net.up(w.observer, w.other);
            match (w.detected, w.healed) {
                (None, None) if !sees => {
                    if !linked {
                        // The link also went down for real and the node was told: that is
                        // not the detector noticing the silent cut.
                        self.metrics.faults.confounded_ends += 1;
                        drop.push(i);
                    } else {
                        w.detected = Some(now);
                        let delay = now - self.cuts.cuts[w.cut].started;
                        self.metrics.faults.detection_ms.push(delay);
                    }
                }
                (Some(_), Some(healed)) if sees && !w.reconnected => {
                    w.reconnected = true;
                    self.metrics.faults.reconnect_ms.push(now - healed);
                    drop.push(i);
                }
                _ => {}
            }
        }
        for i in drop.into_iter().rev() {
            self.cuts.watches.remove(i);
        }
    }

    /// At the end of the run: ends that noticed a healed cut and never saw the other end again.
    pub(super) fn finish_watches(&mut self) {
        let never = self
            .cuts
            .watches
            .iter()
            .filter(|w| w.detected.is_some() && w.healed.is_some() && !w.reconnected)
            .filter(|w| {
                self.alive(w.observer) && self.peers[w.observer].incarnation == w.incarnation
            })
            .count();
        self.metrics.faults.never_reconnected += never as u64;
    }

    // ------------------------------------------------------------------------------------------
    // Clocks, disks, peers that do not come back

    /// Steps one peer's wall clock by 1 to 30 s either way. Timers it set before keep their
    /// sim instant (they were converted with the skew in force when set), as a driver that
    /// runs timers on a monotonic clock does.
    fn clock_step(&mut self) {
        let x = self.fault_rng.random_range(0..self.peers.len());
        let mut step = self.fault_rng.random_range(CLOCK_STEP_MS);
        if self.fault_rng.random_bool(0.5) {
            step = -step;
        }
        self.mix(0xfb05 ^ x as u64 ^ ((step as u64) << 8));
        self.metrics.faults.clock_steps += 1;
        self.peers[x].skew += step;
    }

    /// Copies one running peer's store now, to be restored at a crash 1 to 15 s later.
    fn snapshot(&mut self) {
        let Some(x) = self.pick_alive() else {
            return;
        };
        if self.peers[x].snapshot.is_some() {
            return; // one pending rollback per peer
        }
        let Some(node) = self.peers[x].node.as_ref() else {
            return;
        };
        // Between two batches the device holds exactly what the peer committed.
        let snap = Snapshot {
            bytes: self.peers[x].backend.snapshot(),
            clock: node.clock().clone(),
        };
        self.peers[x].snapshot = Some(snap);
        let after = self.fault_rng.random_range(ROLLBACK_AFTER_MS);
        self.schedule(self.now + after, What::Injected(Due::RollbackCrash(x)));
    }

    /// A running peer crashes and stays down until the final phase, or for good.
    fn never_return(&mut self, for_good: bool) {
        let Some(x) = self.pick_alive() else {
            return;
        };
        self.mix(0xfb06 ^ x as u64);
        self.metrics.faults.never_return += 1;
        if for_good {
            self.metrics.faults.gone_for_good += 1;
            self.peers[x].gone = true;
            // Its partners' operators learn it is gone (it left the alliance, its data
            // centre burnt): recovering peers stop waiting for it, now and after restarts.
            let airline = self.world.airlines[x].clone();
            for y in (0..self.peers.len()).filter(|&y| y != x) {
                self.peers[y].cfg.gone_partners.insert(airline.clone());
                if self.alive(y) {
                    self.deliver_now(y, Input::PartnerGone(airline.clone()));
                }
            }
        }
        self.crash_for(x, Down::Forever);
    }

    /// Before peer `n` opens after a crash: puts on its device what its disk's fate says, and
    /// tells the checker which events no longer exist anywhere. Returns whether the disk was
    /// replaced (then the peer cannot be asked to hold every ticket it confirmed right away:
    /// those that survive come back through catch-up).
    ///
    /// Every origin is judged, not only `n`'s: the replaced disk may have held the last copy
    /// of another peer's events (a peer that lost its own disk earlier and has not caught up
    /// again, seed 21 of `--faults all`), and every loss already decided (a peer gone for
    /// good, or still down with a disk to be replaced) is judged in the same replay, because a
    /// kept event can depend on a lost one only if it is lost as well.
    pub(super) fn apply_fate(&mut self, n: usize) -> bool {
        if matches!(self.peers[n].fate, DiskFate::Kept) {
            return false;
        }
        // A backup taken before this disk was replaced is not restored any more (a rollback
        // not yet begun is cancelled): it may hold events that no running copy holds now, of
        // this peer or of another, and their origin, recovering from what its partners hold,
        // may write those numbers again (seed 845 of `--faults all`). No protocol can see a
        // backup lying offline, so the simulated operator keeps to backups newer than the
        // last loss. A restore already decided (another peer down with a restored disk) is
        // a copy its partners wait for, and counts.
        for p in &mut self.peers {
            p.snapshot = None;
        }
        let keep = self.all_surviving();
        let fate = std::mem::take(&mut self.peers[n].fate);
        match &fate {
            DiskFate::Kept => {}
            DiskFate::Empty => {
                self.peers[n].backend = crate::backend::SharedMemoryBackend::new();
                self.peers[n].last_clock = VectorClock::new();
            }
            DiskFate::Restored(s) => {
                self.peers[n].backend.restore(&s.bytes);
                self.peers[n].last_clock = s.clock.clone();
            }
        }
        self.forget_beyond(keep);
        // Refusals are answers kept by the peer that gave them, never replicated: a replaced
        // disk forgets them (the older copy may predate them), and the key's next answer
        // starts over. Only confirmations are the network's to keep.
        for k in self.keys.values_mut() {
            if k.node == n && matches!(k.outcome, KeyOutcome::Refused(_)) {
                k.forgiven = true;
            }
        }
        true
    }

    /// The highest event number of peer `x` that a copy will hold once every disk
    /// replacement already decided has happened: a running peer's state, what a crashed peer
    /// committed, what its replaced disk will hold (`x`'s own included), or a snapshot kept
    /// for a later rollback (never more than the running or crashed peer's own disk holds,
    /// since a disk replacement cancels every pending rollback). A peer gone for good took
    /// its disk and its snapshots with it.
    pub(super) fn surviving_seq(&self, x: usize) -> u64 {
        self.copies_seq(x, u64::MAX)
            // A running twin's store is a copy too: what it holds it also serves.
            .max(self.twin_holds(&self.world.airlines[x]))
    }

    /// [`Simulation::surviving_seq`] without the running twin, with `x`'s own running store
    /// counted as holding at most `own_cap` of its events (to judge a number `x` has just
    /// written again: its store already holds the new event, which is no copy of the old).
    pub(super) fn copies_seq(&self, x: usize, own_cap: u64) -> u64 {
        let origin = &self.world.airlines[x];
        (0..self.peers.len())
            .filter(|&y| !self.peers[y].gone)
            .map(|y| {
                let disk = match (&self.peers[y].node, &self.peers[y].fate) {
                    (Some(node), _) if y == x => node.clock().get(origin).min(own_cap),
                    (Some(node), _) => node.clock().get(origin),
                    (None, DiskFate::Kept) => self.peers[y].last_clock.get(origin),
                    (None, DiskFate::Empty) => 0,
                    (None, DiskFate::Restored(s)) => s.clock.get(origin),
                };
                let snapshot = self.peers[y].snapshot.as_ref().map(|s| s.clock.get(origin));
                disk.max(snapshot.unwrap_or(0))
            })
            .max()
            .unwrap_or(0)
    }

    /// [`Simulation::surviving_seq`] of every peer.
    pub(super) fn all_surviving(&self) -> Vec<(usize, u64)> {
        (0..self.peers.len())
            .map(|x| (x, self.surviving_seq(x)))
            .collect()
    }

    /// Tells the checker about every event that no copy holds any more.
    pub(super) fn forget_lost(&mut self) {
        let keep = self.all_surviving();
        self.forget_beyond(keep);
    }

    /// Tells the checker that events of each peer `x` above `keep[x]` are gone, and stops
    /// holding travelers' keys to the tickets that went with them.
    pub(super) fn forget_beyond(&mut self, keep: Vec<(usize, u64)>) {
        let keep = keep
            .into_iter()
            .map(|(x, k)| (self.world.airlines[x].clone(), k))
            .collect();
        match self.checker.forget_beyond(&keep) {
            Ok(forgiven) => {
                self.metrics.faults.tickets_forgiven += forgiven.len() as u64;
                self.client_tickets.retain(|(t, _)| !forgiven.contains(t));
                for k in self.keys.values_mut() {
                    if matches!(&k.outcome, KeyOutcome::Confirmed(t) if forgiven.contains(t)) {
                        k.forgiven = true;
                    }
                }
            }
            Err(b) => self.breach(b),
        }
    }
}
