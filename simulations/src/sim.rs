//! The discrete-event simulator: peers, a faulty network, travelers and airline operators, all
//! driven by one seeded generator and one queue ordered by (time, sequence).
//!
//! # Architecture Invariant
//! Nothing here reads a clock, spawns a thread or iterates a hash map: the seed alone decides
//! every event, so a failing seed replays event for event ([`Outcome::trace_hash`]).
//!
//! # One schedule
//! 1. Every peer opens over its own in-memory redb device and publishes its airports and
//!    flights at t = 0; all links are up.
//! 2. The driver takes [`SimOptions::steps`] steps. A step is one event: a batch of inputs
//!    that arrived at one peer at the same instant (handled with `Node::handle_batch`, the
//!    group commit), a client action or a fault. Client actions and faults are drawn from the
//!    [`Schedule`].
//! 3. The final heal: crashed peers restart, every link comes up, loss and duplication stop,
//!    clients re-send what they never heard back about; the peers run until they agree and
//!    every request has its answer, or [`CONVERGENCE_BOUND_MS`] passes.
//! 4. The converged state is checked against everything ever committed and confirmed.
//!
//! # Modules
//! The network apart from the workload, as iroh-gossip's `proto/sim.rs` keeps them:
//! - `network`: the delivery queue, links, latency, loss, duplication, reordering, gossip's
//!   reach; it never decides what a client does.
//! - `peers`: each peer's node over its device, its batch and outputs, crashes and restarts.
//! - `workload`: travelers and airline operators, and the checks of their replies.
//! - `classic`: the driver's step and the classic faults; `inject`: the fault families;
//!   `rogue`: byzantine airlines.
//! - `heal`: the final heal and the convergence check.

mod classic;
mod heal;
mod inject;
mod network;
mod peers;
pub mod rogue;
mod twins;
mod wire_path;
mod workload;

use crate::backend::SharedMemoryBackend;
use crate::checker::{Breach, Checker, Invariant};
use crate::faults::FaultCounts;
use crate::schedule::{EPOCH_MS, Schedule, SimOptions};
use crate::world::World;
use inject::{DiskFate, Down, Due, Snapshot};
use network::{Entry, Net, What};
use passcom_crdt::{
    AirlineId, Flight, FlightId, Millis, SeatId, TicketId, TokenState, VectorClock,
};
use passcom_node::{
    Config, Input, LegRequest, Message, Node, Output, PurchaseRequest, Refusal, Reply, Request,
    RequestId, Ticket,
};
use peers::Peer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use workload::{HoldRecord, KeyOutcome, KeyRecord, Outstanding, ReqKind};

/// How long after the final heal the peers may take to agree (sim ms) before the run counts
/// as a convergence failure.
pub const CONVERGENCE_BOUND_MS: Millis = 120_000;

/// How often the converged state is compared during the final phase (sim ms).
const CONVERGENCE_PROBE_MS: Millis = 50;

/// A request unanswered this long by a peer that did not crash is stuck (invariant 7): the
/// purchase deadline (3 s) plus two ticks plus slack for delivery.
pub const STUCK_AFTER_MS: Millis = 6_500;

/// Upper bound of events handled in the final phase, so that a peer stuck in a loop at one
/// instant cannot hang the simulator.
const DRAIN_EVENT_BOUND: u64 = 2_000_000;

/// A violation: which invariant, what happened, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// The broken invariant.
    pub invariant: Invariant,
    /// What the checker saw.
    pub detail: String,
    /// Sim time, ms after the schedule's start.
    pub at_ms: Millis,
    /// The step at which it was seen.
    pub step: u64,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} broken at step {} (t = {} ms): {}",
            self.invariant, self.step, self.at_ms, self.detail
        )
    }
}

/// Purchases of one kind counted for availability, overall and while partitioned.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KindCounts {
    /// Attempted while a seat existed somewhere.
    pub attempts: u64,
    /// Of those, confirmed.
    pub confirmed: u64,
    /// Attempted while some link was down or a peer crashed.
    pub attempts_partitioned: u64,
    /// Of those, confirmed.
    pub confirmed_partitioned: u64,
}

/// Measures of one schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Purchases attempted while a seat for every leg existed somewhere in the network.
    pub attempts: u64,
    /// Of those, the ones that ended confirmed.
    pub confirmed: u64,
    /// Purchases attempted, with a seat available, while some link was down or a peer crashed.
    pub attempts_partitioned: u64,
    /// Of those, the ones that ended confirmed.
    pub confirmed_partitioned: u64,
    /// Tickets committed by all peers.
    pub tickets: u64,
    /// Messages sent between peers (one per destination of a broadcast).
    pub messages: u64,
    /// Their size, postcard-encoded.
    pub bytes: u64,
    /// Time from the final heal until every peer agreed (sim ms), if they did.
    pub convergence_ms: Option<Millis>,
    /// Crashes of peers.
    pub crashes: u64,
    /// Network faults (partitions, isolations, flapping and asymmetric links).
    pub network_faults: u64,
    /// Sim time at the end of the schedule (ms).
    pub sim_ms: Millis,
    /// Why counted purchases were refused, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Counted purchases by kind: `any_seat` (one leg, any seat), `chosen_seat` (one leg, a
    /// seat the traveler picked) and `multi_leg` (an itinerary of several flights).
    pub by_kind: BTreeMap<String, KindCounts>,
    /// Seats left unsold at the end of the schedule on flights for which some traveler was
    /// refused because the seats were at an unreachable peer (`holder_unreachable`), up to
    /// the number of such refusals per flight: demand and supply that escrow failed to meet.
    pub stranded_seats: u64,
    /// Seat hand-overs committed: token updates that put a seat in transit to another peer
    /// (escrow refills, seats asked for, moves ahead of need).
    pub handovers: u64,
    /// What the fault families beyond the classic ones did.
    pub faults: FaultCounts,
    /// What the byzantine airlines tried, and what of it got through (`--byzantine`).
    pub rogue: rogue::RogueCounts,
}

/// Everything one schedule produced.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The schedule's seed.
    pub seed: u64,
    /// Its drawn parameters.
    pub schedule: Schedule,
    /// The first violation, which stopped the schedule.
    pub violation: Option<Violation>,
    /// Its measures.
    pub metrics: Metrics,
    /// A hash of every event handled, in order: equal for two runs of one seed.
    pub trace_hash: u64,
    /// Steps taken (the final phase included).
    pub steps: u64,
}

/// Runs the schedule of `seed` under `opts` to its end or its first violation.
///
/// A panic inside a peer is caught and reported as a violation, so one bad seed does not end
/// a batch of schedules.
pub fn run_schedule(opts: &SimOptions, seed: u64) -> Outcome {
    let schedule = Schedule::draw_for(seed, opts.faults, opts.profile);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Simulation::new(opts, schedule.clone()).run()
    }));
    match caught {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic_message(&*panic);
            Outcome {
                seed,
                schedule,
                violation: Some(Violation {
                    invariant: Invariant::Crash,
                    detail: format!("panic: {what}"),
                    at_ms: 0,
                    step: 0,
                }),
                metrics: Metrics::default(),
                trace_hash: 0,
                steps: 0,
            }
        }
    }
}

/// The refusal's variant, as its JSON `reason` tag spells it.
fn refusal_name(r: &Refusal) -> &'static str {
    r.code()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}

// ----------------------------------------------------------------------------------------------
// The simulation

struct Simulation {
    opts: SimOptions,
    sched: Schedule,
    rng: ChaCha8Rng,
    world: World,
    peers: Vec<Peer>,
    index: BTreeMap<AirlineId, usize>,
    net: Net,
    queue: BinaryHeap<Entry>,
    seq: u64,
    now: Millis,
    steps: u64,
    checker: Checker,
    metrics: Metrics,
    violation: Option<Violation>,
    trace: u64,
    draining: bool,
    next_request: RequestId,
    next_key: u64,
    outstanding: BTreeMap<RequestId, Outstanding>,
    keys: BTreeMap<String, KeyRecord>,
    key_list: Vec<String>,
    holds: BTreeMap<String, HoldRecord>,
    /// Tickets confirmed to travelers and not known to be cancelled: (ticket, seller).
    client_tickets: Vec<(TicketId, usize)>,
    /// The generator of the new fault families, apart from `rng`.
    fault_rng: ChaCha8Rng,
    /// Driver steps so far.
    drives: u64,
    /// Silent cuts and their watched ends.
    cuts: inject::Cuts,
    rogues: Option<rogue::Rogues>,
    /// Second processes with a peer's identity (`twins`).
    twins: twins::Twins,
    /// Where travelers buy, in the realistic profile (uneven, drifting); `None`: evenly.
    demand: Option<workload::Demand>,
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Simulation {
    fn new(opts: &SimOptions, mut sched: Schedule) -> Simulation {
        // Rogue airlines are members of a closed roster with keys of their own, as a
        // compromised airline of a real network is: every peer signs and checks signatures.
        let rogues = (opts.byzantine > 0).then(|| rogue::Rogues::new(opts.byzantine, sched.seed));
        if rogues.is_some() {
            sched.faults.signatures = true;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(sched.seed);
        let n = opts.peers.clamp(1, 64);
        let world = World::new(n, &sched, opts.escrow_share);
        let demand = (sched.profile == crate::schedule::Profile::Realistic)
            .then(|| workload::Demand::new(n, sched.seed));
        let peers = world
            .airlines
            .iter()
            .enumerate()
            .map(|(i, airline)| {
                let mut cfg = Config::new(airline.clone());
                // As `passcom peer` runs: every open recovers from the partners first.
                cfg.recover_at_start = true;
                cfg.adaptive_escrow = opts.adaptive_escrow;
                inject::configure(&mut cfg, i, &world.airlines, &sched.faults, sched.seed);
                for (name, key) in rogues.iter().flat_map(|r| r.roster()) {
                    cfg.roster.insert(name, key);
                }
                #[cfg(feature = "planted-bugs")]
                {
                    cfg.planted_bug = opts.planted_bug;
                }
                let skew = if sched.max_skew_ms == 0 {
                    0
                } else {
                    rng.random_range(-sched.max_skew_ms..=sched.max_skew_ms)
                };
                Peer {
                    cfg,
                    backend: SharedMemoryBackend::new(),
                    node: None,
                    incarnation: 0,
                    skew,
                    crash_after_batch: false,
                    fate: DiskFate::Kept,
                    last_clock: VectorClock::new(),
                    restoring: false,
                    snapshot: None,
                    gone: false,
                }
            })
            .collect();
        let index = world
            .airlines
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i))
            .collect();
        let sched_seed = sched.seed;
        let mut checker = Checker::new();
        for f in &world.flights {
            checker.allow_capacity(&f.id, f.capacity());
        }
        Simulation {
            opts: opts.clone(),
            sched,
            rng,
            world,
            peers,
            index,
            net: Net::new(n),
            queue: BinaryHeap::new(),
            seq: 0,
            now: EPOCH_MS,
            steps: 0,
            checker,
            metrics: Metrics::default(),
            violation: None,
            trace: 0xcbf2_9ce4_8422_2325,
            draining: false,
            next_request: 1,
            next_key: 1,
            outstanding: BTreeMap::new(),
            keys: BTreeMap::new(),
            key_list: Vec::new(),
            holds: BTreeMap::new(),
            client_tickets: Vec::new(),
            fault_rng: inject::fault_rng(sched_seed),
            drives: 0,
            cuts: inject::Cuts::default(),
            rogues,
            twins: twins::Twins::default(),
            demand,
        }
    }

    fn run(mut self) -> Outcome {
        self.setup();
        // Every group holds at least the driver's next step until the final phase, so each
        // turn takes at least one step: the loop ends within `steps` turns.
        while self.steps < self.opts.steps && self.violation.is_none() {
            if !self.run_instant() {
                break;
            }
        }
        if self.violation.is_none() {
            self.final_heal();
        }
        self.metrics.tickets = self.checker.ticket_count() as u64;
        self.metrics.sim_ms = self.now - EPOCH_MS;
        self.metrics.faults.signed = self.sched.faults.signatures;
        self.metrics.faults.small_pages =
            self.sched.faults.max_events_per_sync == crate::faults::SMALL_SYNC_PAGE;
        self.metrics.faults.wire = self.sched.faults.wire;
        self.finish_watches();
        self.finish_twins();
        self.finish_metrics();
        self.count_rogue_traces();
        if let Some(r) = self.rogues.take() {
            self.metrics.rogue = r.counts;
        }
        Outcome {
            seed: self.sched.seed,
            schedule: self.sched,
            violation: self.violation,
            metrics: self.metrics,
            trace_hash: self.trace,
            steps: self.steps,
        }
    }

    // ------------------------------------------------------------------------------------------
    // Plumbing

    fn mix(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.trace ^= u64::from(b);
            self.trace = self.trace.wrapping_mul(FNV_PRIME);
        }
    }

    fn breach(&mut self, b: Breach) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                invariant: b.0,
                detail: b.1,
                at_ms: self.now - EPOCH_MS,
                step: self.steps,
            });
        }
    }

    fn alive(&self, n: usize) -> bool {
        self.peers[n].node.is_some()
    }

    fn local_now(&self, n: usize) -> Millis {
        self.now + self.peers[n].skew
    }

    fn random_alive(&mut self) -> Option<usize> {
        let alive: Vec<usize> = (0..self.peers.len()).filter(|&i| self.alive(i)).collect();
        if alive.is_empty() {
            None
        } else {
            Some(alive[self.rng.random_range(0..alive.len())])
        }
    }
}
