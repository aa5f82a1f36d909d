//! The fault families beyond the classic ones (partitions, flapping, one-way blackholes, short
//! crashes): which are switched on ([`FaultSet`]), what a schedule draws for them
//! ([`FaultPlan`]) and what a run counted ([`FaultCounts`], summed up in [`FaultSummary`]).
//!
//! The families are those DESIGN.md says real deployments meet: connections that stop carrying
//! packets without anyone being told, wall-clock steps, outages long enough to leave a peer
//! pages of catch-up behind, lost and rolled-back disks, peers that never come back, and the
//! signed events real peers exchange. Each can be switched off, so that a schedule with only
//! the classic faults replays the run it gave before these families existed.

use passcom_crdt::Millis;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fmt;

/// One fault family that can be switched on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultFamily {
    /// Every link of one peer (or of one pair) drops every message both ways while the
    /// connection looks up: no `Connected`/`Disconnected` input tells the nodes.
    SilentCuts,
    /// A peer's wall clock jumps backward or forward by 1 to 30 s.
    ClockSteps,
    /// A peer is down 20 to 60 s while the others keep selling; catch-up pages are small.
    LongOutages,
    /// A crashed peer restarts with an empty store, identity kept.
    DiskLoss,
    /// A crashed peer restarts from an older copy of its store.
    Rollback,
    /// A peer crashes and stays down until the final phase, or for good.
    NeverReturn,
    /// Every peer signs its events and requires its partners' signatures (closed roster).
    Signatures,
    /// In schedules with a long outage or a peer that never returns, catch-up pages hold
    /// [`SMALL_SYNC_PAGE`] events instead of 512, so that backlogs span many pages.
    SmallPages,
    /// Every message between peers goes through the wire's own code: `passcom_net::wire`'s
    /// chunking into parts of about 4 MiB, CBOR encoding, the size limits of gossip and of
    /// direct messages, and decoding; the peers get what decoding gave back.
    Wire,
    /// A second process with one peer's identity (its key, its airline) runs beside it for a
    /// while, selling from a copy of its store or from an empty one, then stops.
    Twins,
}

impl FaultFamily {
    /// Every family, in the order `--faults all` lists them.
    pub const ALL: [FaultFamily; 10] = [
        FaultFamily::SilentCuts,
        FaultFamily::ClockSteps,
        FaultFamily::LongOutages,
        FaultFamily::DiskLoss,
        FaultFamily::Rollback,
        FaultFamily::NeverReturn,
        FaultFamily::Signatures,
        FaultFamily::SmallPages,
        FaultFamily::Wire,
        FaultFamily::Twins,
    ];

    /// The family's name as `--faults` spells it.
    pub fn name(self) -> &'static str {
        match self {
            FaultFamily::SilentCuts => "silent-cuts",
            FaultFamily::ClockSteps => "clock-steps",
            FaultFamily::LongOutages => "long-outages",
            FaultFamily::DiskLoss => "disk-loss",
            FaultFamily::Rollback => "rollback",
            FaultFamily::NeverReturn => "never-return",
            FaultFamily::Signatures => "signatures",
            FaultFamily::SmallPages => "small-pages",
            FaultFamily::Wire => "wire",
            FaultFamily::Twins => "twins",
        }
    }
}

/// Which fault families a run injects (the classic faults always run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSet {
    bits: u16,
}

impl Default for FaultSet {
    /// Every family: each was caught breaking an invariant by its own family before the node
    /// was fixed (see `simulations/tests/faults.rs`), and the node now survives them all.
    fn default() -> Self {
        FaultSet::all()
    }
}

impl FaultSet {
    /// No new family: the classic faults only, as schedules were before the families existed.
    pub fn classic() -> Self {
        FaultSet { bits: 0 }
    }

    /// Every family.
    pub fn all() -> Self {
        FaultFamily::ALL
            .iter()
            .fold(FaultSet::classic(), |s, f| s.with(*f))
    }

    /// This set plus `family`.
    pub fn with(self, family: FaultFamily) -> Self {
        FaultSet {
            bits: self.bits | 1 << family as u16,
        }
    }

    /// This set without `family`.
    pub fn without(self, family: FaultFamily) -> Self {
        FaultSet {
            bits: self.bits & !(1 << family as u16),
        }
    }

    /// Whether `family` is on.
    pub fn has(self, family: FaultFamily) -> bool {
        self.bits & (1 << family as u16) != 0
    }

    /// The families that are on, in [`FaultFamily::ALL`] order.
    pub fn families(self) -> Vec<FaultFamily> {
        FaultFamily::ALL
            .into_iter()
            .filter(|f| self.has(*f))
            .collect()
    }

    /// Parses `--faults`: `all`, `classic`, `default`, or a comma-separated list of family
    /// names (`silent-cuts,clock-steps`; underscores work too).
    ///
    /// Errors: an unknown name, with the list of known ones.
    pub fn parse(s: &str) -> Result<FaultSet, String> {
        match s.trim() {
            "all" => return Ok(FaultSet::all()),
            "classic" | "none" | "" => return Ok(FaultSet::classic()),
            "default" => return Ok(FaultSet::default()),
            _ => {}
        }
        s.split(',')
            .map(|w| w.trim().replace('_', "-"))
            .filter(|w| !w.is_empty())
            .try_fold(FaultSet::classic(), |set, w| {
                FaultFamily::ALL
                    .into_iter()
                    .find(|f| f.name() == w)
                    .map(|f| set.with(f))
                    .ok_or_else(|| {
                        let known: Vec<&str> = FaultFamily::ALL.iter().map(|f| f.name()).collect();
                        format!(
                            "unknown fault family {w:?}: expected all, classic, default or a comma list of {}",
                            known.join(", ")
                        )
                    })
            })
    }
}

impl fmt::Display for FaultSet {
    /// The set as `--faults` accepts it back (`classic`, `all` or the comma list).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == FaultSet::all() {
            return f.write_str("all");
        }
        if *self == FaultSet::classic() {
            return f.write_str("classic");
        }
        let names: Vec<&str> = self.families().iter().map(|f| f.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// Catch-up page of the simulated peers in schedules with long outages: small, so that a peer
/// back from 20 s away is many pages behind (the node's default is 512 events a page).
pub const SMALL_SYNC_PAGE: usize = 16;

/// How long a twin runs beside the peer whose identity it has (sim ms).
pub const TWIN_RUNS_MS: std::ops::RangeInclusive<Millis> = 2_000..=20_000;

/// The node's own catch-up page, used when no long outage asks for a small one.
pub const DEFAULT_SYNC_PAGE: usize = 512;

/// What one schedule draws for the new fault families; all zero or off for a family that is
/// switched off or in a calm schedule. Rates are chances per step of the driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultPlan {
    /// Chance that a driver step cuts a peer or a pair silently.
    pub silent_cut_rate: f64,
    /// Chance that a driver step steps a peer's clock.
    pub clock_step_rate: f64,
    /// Chance that a driver step takes a peer down for 20 to 60 s.
    pub long_outage_rate: f64,
    /// Chance that a driver step crashes a peer that comes back with an empty store.
    pub disk_loss_rate: f64,
    /// Chance that a driver step snapshots a peer's store, to restore it at a crash soon after.
    pub rollback_rate: f64,
    /// The driver step at which one peer crashes and stays down, if any.
    pub never_return_at_step: Option<u64>,
    /// Whether that peer never comes back, even in the final phase.
    pub never_return_for_good: bool,
    /// Whether peers sign their events and require signatures.
    pub signatures: bool,
    /// The peers' catch-up page (`Config::max_events_per_sync`).
    pub max_events_per_sync: usize,
    /// Whether messages go through the wire's chunking, CBOR encoding and decoding.
    pub wire: bool,
    /// The driver step at which a twin of one peer starts, if any.
    pub twin_at_step: Option<u64>,
    /// How long the twin runs before it is stopped (sim ms).
    pub twin_runs_ms: Millis,
    /// Whether the twin starts from an empty store (else from a copy of the peer's).
    pub twin_from_empty: bool,
}

impl FaultPlan {
    /// Draws the plan of `seed` for the families of `set`. `calm` schedules (no classic
    /// faults) get none of the new faults either, signatures aside.
    ///
    /// A generator of its own keeps the classic parameters and the run's event stream exactly
    /// as they were: with [`FaultSet::classic`] a seed replays its old trace.
    pub fn draw(seed: u64, calm: bool, set: FaultSet) -> FaultPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_fa17_0002_0002);
        // Every draw happens whatever the set, so that switching one family off does not
        // change what the others draw.
        let mut family = |f: FaultFamily, low: f64, high: f64| {
            let active = rng.random_bool(0.5);
            let rate = rng.random_range(low..high);
            if set.has(f) && active && !calm {
                rate
            } else {
                0.0
            }
        };
        let silent_cut_rate = family(FaultFamily::SilentCuts, 0.004, 0.015);
        let clock_step_rate = family(FaultFamily::ClockSteps, 0.004, 0.015);
        let long_outage_rate = family(FaultFamily::LongOutages, 0.002, 0.006);
        let disk_loss_rate = family(FaultFamily::DiskLoss, 0.002, 0.008);
        let rollback_rate = family(FaultFamily::Rollback, 0.002, 0.008);
        let never_active = rng.random_bool(0.4);
        let never_at = rng.random_range(10..=120);
        let for_good = rng.random_bool(0.5);
        // Drawn after every older family, so that those draw what they drew before.
        let twin_active = rng.random_bool(0.5);
        let twin_at = rng.random_range(10..=150);
        let twin_runs_ms = rng.random_range(TWIN_RUNS_MS);
        let twin_from_empty = rng.random_bool(0.3);
        let twin_at_step = (set.has(FaultFamily::Twins) && twin_active && !calm).then_some(twin_at);
        let never_return_at_step =
            (set.has(FaultFamily::NeverReturn) && never_active && !calm).then_some(never_at);
        FaultPlan {
            silent_cut_rate,
            clock_step_rate,
            long_outage_rate,
            disk_loss_rate,
            rollback_rate,
            never_return_at_step,
            never_return_for_good: never_return_at_step.is_some() && for_good,
            // A twin's second versions prove an equivocation only when signed by its origin.
            signatures: set.has(FaultFamily::Signatures) || twin_at_step.is_some(),
            max_events_per_sync: if set.has(FaultFamily::SmallPages)
                && (long_outage_rate > 0.0 || never_return_at_step.is_some())
            {
                SMALL_SYNC_PAGE
            } else {
                DEFAULT_SYNC_PAGE
            },
            wire: set.has(FaultFamily::Wire),
            twin_at_step,
            twin_runs_ms: if twin_at_step.is_some() {
                twin_runs_ms
            } else {
                0
            },
            twin_from_empty: twin_at_step.is_some() && twin_from_empty,
        }
    }
}

/// What the new fault families did in one schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultCounts {
    /// Silent cuts injected.
    pub silent_cuts: u64,
    /// Clock steps injected.
    pub clock_steps: u64,
    /// Long outages injected.
    pub long_outages: u64,
    /// Restarts with an empty store.
    pub disk_losses: u64,
    /// Restarts from an older copy of the store.
    pub rollbacks: u64,
    /// Peers that crashed to stay down until the final phase or for good.
    pub never_return: u64,
    /// Of those, the peers that never came back at all.
    pub gone_for_good: u64,
    /// For every end of a silent cut that was running and saw the other end reachable when
    /// the cut began: how long until the other end left its `reachable()` set (ms).
    pub detection_ms: Vec<i64>,
    /// Ends of silent cuts that still had the other end in `reachable()` when the cut healed.
    pub undetected_ends: u64,
    /// Silent cuts that no end noticed before the heal.
    pub unnoticed_cuts: u64,
    /// For every end that noticed a cut: how long after the heal the other end was reachable
    /// again (ms).
    pub reconnect_ms: Vec<i64>,
    /// Ends that noticed a cut and had not seen the other end again by the end of the run.
    pub never_reconnected: u64,
    /// Tickets confirmed to travelers that the checker stopped expecting, because they were
    /// on a lost or rolled-back disk only (see `Checker::forget_beyond`).
    pub tickets_forgiven: u64,
    /// The most events a peer lacked when it came back from a crash (of every origin, by
    /// the checker's count): how many catch-up pages a long outage left it behind.
    pub max_restart_backlog: u64,
    /// Whether the peers signed their events.
    pub signed: bool,
    /// Whether the peers' catch-up pages were small.
    pub small_pages: bool,
    /// Ends of silent cuts whose link also went down for real before the heal (the node was
    /// told, so its reaction says nothing of its failure detector).
    pub confounded_ends: u64,
    /// Whether messages went through the wire's encoding.
    pub wire: bool,
    /// Messages the wire split into more than one part.
    pub wire_split: u64,
    /// Twins started.
    pub twins: u64,
    /// Events the twins committed.
    pub twin_events: u64,
    /// Tickets the twins confirmed to travelers (never demanded by the checker: see
    /// `sim/twins.rs`).
    pub twin_tickets: u64,
    /// Twins, and peers whose identity a twin had, that halted.
    pub twin_halts: u64,
    /// Equivocations the honest peers recorded (`Node::equivocations`), summed over peers.
    pub equivocations: u64,
    /// Rejections of messages of an airline whose twin wrote events (not held as a violation:
    /// they are the partners refusing the twin's history, or the original's built on it).
    pub twin_rejections: u64,
}

/// The fault counts of many schedules, as `passcom simulate --json` prints them under
/// `faults`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultSummary {
    /// Silent cuts injected.
    pub silent_cuts: u64,
    /// Clock steps injected.
    pub clock_steps: u64,
    /// Long outages injected.
    pub long_outages: u64,
    /// Restarts with an empty store.
    pub disk_losses: u64,
    /// Restarts from an older copy of the store.
    pub rollbacks: u64,
    /// Peers that crashed to stay down until the final phase or for good.
    pub never_return: u64,
    /// Of those, peers that never came back.
    pub gone_for_good: u64,
    /// Schedules whose peers signed their events.
    pub signed_schedules: u64,
    /// Ends of silent cuts that noticed the cut (the other end left `reachable()`).
    pub detected_ends: u64,
    /// Ends that did not notice before the heal.
    pub undetected_ends: u64,
    /// Cuts no end noticed before the heal.
    pub unnoticed_cuts: u64,
    /// Median time from a silent cut to its detection at one end (ms; 0 when none detected).
    pub detection_ms_p50: i64,
    /// 99th percentile of that time (ms).
    pub detection_ms_p99: i64,
    /// Median time from a heal to the other end being reachable again (ms).
    pub reconnect_ms_p50: i64,
    /// 99th percentile of that time (ms).
    pub reconnect_ms_p99: i64,
    /// Ends that noticed a cut and never saw the other end again.
    pub never_reconnected: u64,
    /// Confirmed tickets forgiven because only a lost or rolled-back disk had them.
    pub tickets_forgiven: u64,
    /// The most events a peer lacked when it came back from a crash, over all schedules.
    pub max_restart_backlog: u64,
    /// Schedules whose peers used catch-up pages of [`SMALL_SYNC_PAGE`] events.
    pub small_page_schedules: u64,
    /// Ends of silent cuts whose link also went down for real (the node was told) before
    /// the cut healed: neither detected nor undetected.
    pub confounded_ends: u64,
    /// Schedules whose messages went through the wire's chunking and CBOR encoding.
    pub wire_schedules: u64,
    /// Messages the wire split into more than one part.
    pub wire_split: u64,
    /// Twins started (a second process with one peer's identity).
    pub twins: u64,
    /// Events the twins committed.
    pub twin_events: u64,
    /// Tickets the twins confirmed to travelers.
    pub twin_tickets: u64,
    /// Twins, and peers whose identity a twin had, that halted.
    pub twin_halts: u64,
    /// Equivocations recorded by the peers.
    pub equivocations: u64,
    /// Rejections of messages of an airline that had a twin writing.
    pub twin_rejections: u64,
}

impl FaultSummary {
    /// Sums up the counts of many schedules; `percentile` is the report's nearest-rank one.
    pub fn of<'a>(
        counts: impl Iterator<Item = &'a FaultCounts>,
        percentile: fn(&[i64], f64) -> i64,
    ) -> FaultSummary {
        let mut s = FaultSummary::default();
        let (mut detect, mut reconnect) = (Vec::new(), Vec::new());
        for c in counts {
            s.silent_cuts += c.silent_cuts;
            s.clock_steps += c.clock_steps;
            s.long_outages += c.long_outages;
            s.disk_losses += c.disk_losses;
            s.rollbacks += c.rollbacks;
            s.never_return += c.never_return;
            s.gone_for_good += c.gone_for_good;
            s.signed_schedules += c.signed as u64;
            s.undetected_ends += c.undetected_ends;
            s.unnoticed_cuts += c.unnoticed_cuts;
            s.never_reconnected += c.never_reconnected;
            s.tickets_forgiven += c.tickets_forgiven;
            s.max_restart_backlog = s.max_restart_backlog.max(c.max_restart_backlog);
            s.small_page_schedules += c.small_pages as u64;
            s.confounded_ends += c.confounded_ends;
            s.wire_schedules += c.wire as u64;
            s.wire_split += c.wire_split;
            s.twins += c.twins;
            s.twin_events += c.twin_events;
            s.twin_tickets += c.twin_tickets;
            s.twin_halts += c.twin_halts;
            s.equivocations += c.equivocations;
            s.twin_rejections += c.twin_rejections;
            detect.extend_from_slice(&c.detection_ms);
            reconnect.extend_from_slice(&c.reconnect_ms);
        }
        detect.sort_unstable();
        reconnect.sort_unstable();
        s.detected_ends = detect.len() as u64;
        s.detection_ms_p50 = percentile(&detect, 0.5);
        s.detection_ms_p99 = percentile(&detect, 0.99);
        s.reconnect_ms_p50 = percentile(&reconnect, 0.5);
        s.reconnect_ms_p99 = percentile(&reconnect, 0.99);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_parse_and_print_back() {
        assert_eq!(FaultSet::parse("all").unwrap(), FaultSet::all());
        assert_eq!(FaultSet::parse("classic").unwrap(), FaultSet::classic());
        let s = FaultSet::parse("silent-cuts, disk_loss").unwrap();
        assert!(s.has(FaultFamily::SilentCuts) && s.has(FaultFamily::DiskLoss));
        assert!(!s.has(FaultFamily::Rollback));
        assert_eq!(FaultSet::parse(&s.to_string()).unwrap(), s);
        assert_eq!(
            FaultSet::parse(&FaultSet::default().to_string()).unwrap(),
            FaultSet::default()
        );
        assert!(FaultSet::parse("gremlins").is_err());
        assert_eq!(FaultSet::default(), FaultSet::all());
        assert!(
            FaultSet::parse("wire,twins")
                .unwrap()
                .has(FaultFamily::Twins)
        );
    }
}
