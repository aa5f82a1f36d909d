//! Many schedules at once: run them on every core, then sum up their measures in seed order.

use crate::schedule::SimOptions;
use crate::sim::{Outcome, run_schedule};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Runs the schedules of seeds `first_seed .. first_seed + schedules` on `threads` threads.
///
/// Each schedule runs on one thread from start to end, so it stays deterministic; threads only
/// decide which schedule runs where, and the results come back in seed order whatever the
/// threads did. `on_done` is called (from any thread) after each schedule, for progress bars.
/// With `stop_at_first_violation`, schedules after the first failing seed are skipped (those
/// before it still run, so the first failing seed reported is the lowest one).
pub fn run_many(
    opts: &SimOptions,
    first_seed: u64,
    schedules: u64,
    threads: usize,
    stop_at_first_violation: bool,
    on_done: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let threads = threads.clamp(1, 64).min(schedules.max(1) as usize);
    let next = AtomicU64::new(0);
    let first_failure = AtomicU64::new(u64::MAX);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..schedules).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                // Each turn claims one schedule, so the loop ends after at most `schedules` turns.
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= schedules
                        || (stop_at_first_violation && i > first_failure.load(Ordering::Relaxed))
                    {
                        break;
                    }
                    let outcome = run_schedule(opts, first_seed.wrapping_add(i));
                    if outcome.violation.is_some() {
                        first_failure.fetch_min(i, Ordering::Relaxed);
                    }
                    on_done(&outcome);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i as usize] = Some(outcome);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let cut = first_failure.load(Ordering::Relaxed);
    results
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !stop_at_first_violation || *i as u64 <= cut)
        .filter_map(|(_, o)| o)
        .collect()
}

/// The measures of a set of schedules, as `passcom simulate --json` prints them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Schedules run.
    pub schedules: u64,
    /// Schedules that ended with a violation.
    pub violations: u64,
    /// The lowest seed that failed, if any.
    pub first_failing_seed: Option<u64>,
    /// Purchases confirmed / attempted while a seat existed somewhere, over all schedules.
    pub availability: f64,
    /// The same, for purchases attempted while the network was partitioned or a peer down.
    pub availability_partitioned: f64,
    /// Median time to converge after the final heal (sim ms).
    pub convergence_ms_p50: i64,
    /// 99th percentile of the time to converge (sim ms).
    pub convergence_ms_p99: i64,
    /// Longest time to converge (sim ms).
    pub convergence_ms_max: i64,
    /// Messages between peers per committed ticket.
    pub messages_per_ticket: f64,
    /// Bytes between peers per committed ticket (postcard encoding).
    pub bytes_per_ticket: f64,
    /// Tickets committed over all schedules.
    pub tickets: u64,
    /// Purchases counted for availability.
    pub attempts: u64,
    /// Of those, attempted while partitioned.
    pub attempts_partitioned: u64,
    /// Peer crashes over all schedules.
    pub crashes: u64,
    /// Network faults over all schedules.
    pub network_faults: u64,
    /// Steps over all schedules.
    pub steps: u64,
    /// Why counted purchases were refused, by reason, over all schedules.
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Availability by kind of purchase (`any_seat`, `chosen_seat`, `multi_leg`).
    pub availability_by_kind: std::collections::BTreeMap<String, f64>,
    /// The same, while partitioned.
    pub availability_partitioned_by_kind: std::collections::BTreeMap<String, f64>,
    /// Seats unsold at the end on flights whose buyers were refused `holder_unreachable`
    /// (see `Metrics::stranded_seats`), over all schedules.
    pub stranded_seats: u64,
    /// Seat hand-overs committed per committed ticket (see `Metrics::handovers`).
    pub handovers_per_ticket: f64,
    /// What the fault families beyond the classic ones did, over all schedules.
    pub faults: crate::faults::FaultSummary,
    /// Attacks the byzantine airlines tried, by kind, over all schedules.
    pub rogue_attempts: std::collections::BTreeMap<String, u64>,
    /// Rejections naming a byzantine airline as the sender.
    pub rogue_rejected: u64,
    /// Traces of a byzantine airline found in honest state at the end: must be 0.
    pub rogue_accepted: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The value at `q` (0 to 1) of sorted `values`, nearest rank; 0 for none.
fn percentile(values: &[i64], q: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

impl Summary {
    /// Sums up `outcomes` (ratios of sums, not means of ratios, so a schedule with few
    /// purchases weighs little).
    pub fn of(outcomes: &[Outcome]) -> Summary {
        let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
        let mut conv: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| o.metrics.convergence_ms)
            .collect();
        conv.sort_unstable();
        let tickets = sum(|o| o.metrics.tickets);
        let failing: Vec<&Outcome> = outcomes.iter().filter(|o| o.violation.is_some()).collect();
        let mut refusals = std::collections::BTreeMap::new();
        for (reason, n) in outcomes.iter().flat_map(|o| &o.metrics.refusals) {
            *refusals.entry(reason.clone()).or_default() += n;
        }
        let mut rogue_attempts = std::collections::BTreeMap::new();
        for (kind, n) in outcomes.iter().flat_map(|o| &o.metrics.rogue.attempts) {
            *rogue_attempts.entry(kind.clone()).or_default() += n;
        }
        let mut kinds: std::collections::BTreeMap<String, crate::sim::KindCounts> =
            std::collections::BTreeMap::new();
        for (kind, c) in outcomes.iter().flat_map(|o| &o.metrics.by_kind) {
            let k = kinds.entry(kind.clone()).or_default();
            k.attempts += c.attempts;
            k.confirmed += c.confirmed;
            k.attempts_partitioned += c.attempts_partitioned;
            k.confirmed_partitioned += c.confirmed_partitioned;
        }
        Summary {
            availability_by_kind: kinds
                .iter()
                .map(|(k, c)| (k.clone(), ratio(c.confirmed, c.attempts)))
                .collect(),
            availability_partitioned_by_kind: kinds
                .iter()
                .map(|(k, c)| {
                    (
                        k.clone(),
                        ratio(c.confirmed_partitioned, c.attempts_partitioned),
                    )
                })
                .collect(),
            stranded_seats: sum(|o| o.metrics.stranded_seats),
            handovers_per_ticket: ratio(sum(|o| o.metrics.handovers), tickets),
            refusals,
            rogue_attempts,
            rogue_rejected: sum(|o| o.metrics.rogue.rejected),
            rogue_accepted: sum(|o| o.metrics.rogue.accepted),
            faults: crate::faults::FaultSummary::of(
                outcomes.iter().map(|o| &o.metrics.faults),
                percentile,
            ),
            schedules: outcomes.len() as u64,
            violations: failing.len() as u64,
            first_failing_seed: failing.iter().map(|o| o.seed).min(),
            availability: ratio(sum(|o| o.metrics.confirmed), sum(|o| o.metrics.attempts)),
            availability_partitioned: ratio(
                sum(|o| o.metrics.confirmed_partitioned),
                sum(|o| o.metrics.attempts_partitioned),
            ),
            convergence_ms_p50: percentile(&conv, 0.5),
            convergence_ms_p99: percentile(&conv, 0.99),
            convergence_ms_max: conv.last().copied().unwrap_or(0),
            messages_per_ticket: ratio(sum(|o| o.metrics.messages), tickets),
            bytes_per_ticket: ratio(sum(|o| o.metrics.bytes), tickets),
            tickets,
            attempts: sum(|o| o.metrics.attempts),
            attempts_partitioned: sum(|o| o.metrics.attempts_partitioned),
            crashes: sum(|o| o.metrics.crashes),
            network_faults: sum(|o| o.metrics.network_faults),
            steps: sum(|o| o.steps),
        }
    }
}

/// The number of threads to use by default: every core the OS grants.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A progress counter safe to share between the worker threads.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    failed: AtomicUsize,
}

impl Progress {
    /// Records one finished schedule; returns (done, failed) so far.
    pub fn record(&self, outcome: &Outcome) -> (usize, usize) {
        let failed = self
            .failed
            .fetch_add(outcome.violation.is_some() as usize, Ordering::Relaxed)
            + outcome.violation.is_some() as usize;
        (self.done.fetch_add(1, Ordering::Relaxed) + 1, failed)
    }
}
