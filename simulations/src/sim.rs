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

mod inject;
pub mod rogue;

use crate::backend::SharedMemoryBackend;
use crate::checker::{Breach, Checker, Invariant};
use crate::faults::FaultCounts;
use crate::schedule::{EPOCH_MS, Schedule, SimOptions};
use crate::world::World;
use inject::{DiskFate, Down, Due, Snapshot};
use passcom_crdt::{
    AirlineId, Flight, FlightId, Millis, SeatId, TicketId, TokenState, VectorClock,
};
use passcom_node::{
    Config, Input, LegRequest, Message, Node, Output, PurchaseRequest, Refusal, Reply, Request,
    RequestId, Ticket,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

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
    let schedule = Schedule::draw(seed, opts.faults);
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
// The event queue

/// Something due at a sim instant.
enum What {
    /// An input for a peer: a message, a timer, a request or a link change. Dropped if the
    /// peer restarted since (`incarnation`) or, for a message sent over a direct link, if that
    /// link went down since (`link`: sender and the link's generation at send time).
    Deliver {
        to: usize,
        incarnation: u32,
        input: Input,
        link: Option<(usize, u64)>,
    },
    /// The driver's next step: a client action or a fault.
    Drive,
    /// A crashed peer comes back.
    Restart(usize),
    /// Every link up and every asymmetric fault gone.
    HealAll,
    /// One link goes up or down (flapping).
    SetLink { a: usize, b: usize, up: bool },
    /// A traveler checks out the cart `hold_id`.
    Checkout { hold_id: String },
    /// A client re-sends purchase `key`, same idempotency key.
    Resend { key: String },
    /// An action of the new fault families (see `inject`).
    Injected(Due),
}

struct Entry {
    at: Millis,
    seq: u64,
    what: What,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that the max-heap pops the earliest (time, sequence) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

// ----------------------------------------------------------------------------------------------
// Peers and links

struct Peer {
    cfg: Config,
    backend: SharedMemoryBackend,
    node: Option<Node>,
    /// Bumped at every crash: inputs addressed to an earlier incarnation are lost.
    incarnation: u32,
    /// Added to sim time to give the peer's own clock.
    skew: Millis,
    /// Crash right after the next batch, having performed only some of its outputs.
    crash_after_batch: bool,
    /// What the disk holds at the next restart.
    fate: DiskFate,
    /// The vector clock the peer had committed when it last crashed: what its disk holds.
    last_clock: VectorClock,
    /// A copy of the store to roll back to at a coming crash.
    snapshot: Option<Snapshot>,
    /// Never comes back, not even in the final phase.
    gone: bool,
    /// Its disk was replaced (lost or rolled back) and it has not been active since: what it
    /// confirmed before may still be on its way back from the partners, so a restart now
    /// cannot be asked to hold it.
    restoring: bool,
}

/// The links between peers. A link is up when the partition plan wants it and both ends run;
/// a blackholed direction silently drops messages while the connection looks up (an
/// asymmetric link).
struct Net {
    n: usize,
    want: Vec<bool>,
    up: Vec<bool>,
    generation: Vec<u64>,
    blackhole: Vec<bool>,
    /// Silent cuts over each direction (they may overlap): while any is on, the direction
    /// drops everything and no one is told.
    silent: Vec<u32>,
    /// After the final heal: no loss, duplication or reordering.
    quiet: bool,
}

impl Net {
    fn new(n: usize) -> Net {
        Net {
            n,
            want: vec![true; n * n],
            up: vec![false; n * n],
            generation: vec![0; n * n],
            blackhole: vec![false; n * n],
            silent: vec![0; n * n],
            quiet: false,
        }
    }
    fn at(&self, a: usize, b: usize) -> usize {
        a * self.n + b
    }
    fn up(&self, a: usize, b: usize) -> bool {
        self.up[self.at(a, b)]
    }
    fn carries(&self, a: usize, b: usize) -> bool {
        self.up(a, b) && !self.blackhole[self.at(a, b)] && self.silent[self.at(a, b)] == 0
    }
    fn set_want(&mut self, a: usize, b: usize, want: bool) {
        let (i, j) = (self.at(a, b), self.at(b, a));
        self.want[i] = want;
        self.want[j] = want;
    }
    fn fully_connected(&self) -> bool {
        self.up
            .iter()
            .enumerate()
            .all(|(i, up)| i / self.n == i % self.n || *up)
            && !self.blackhole.iter().any(|b| *b)
            && self.silent.iter().all(|s| *s == 0)
    }
}

// ----------------------------------------------------------------------------------------------
// Clients

#[derive(Clone, Debug, PartialEq)]
enum KeyOutcome {
    Unanswered,
    Confirmed(TicketId),
    Refused(Refusal),
}

struct KeyRecord {
    node: usize,
    req: PurchaseRequest,
    /// Counted for availability: a seat existed at the first attempt; `Some(partitioned)`.
    counted: Option<bool>,
    outcome: KeyOutcome,
    /// A request of this key was lost in a crash and waits to be re-sent.
    lost: bool,
    /// Its ticket was only on a disk that is gone: what the key yields next is not held
    /// against the lost answer.
    forgiven: bool,
}

enum ReqKind {
    Setup,
    Purchase(String),
    Hold(String),
    Cancel,
    Edit(Flight),
}

struct Outstanding {
    node: usize,
    incarnation: u32,
    sent_at: Millis,
    kind: ReqKind,
}

struct HoldRecord {
    node: usize,
    flights: Vec<FlightId>,
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
        let peers = world
            .airlines
            .iter()
            .enumerate()
            .map(|(i, airline)| {
                let mut cfg = Config::new(airline.clone());
                // As `passcom peer` runs: every open recovers from the partners first.
                cfg.recover_at_start = true;
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
        self.finish_watches();
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

    fn schedule(&mut self, at: Millis, what: What) {
        self.seq += 1;
        self.queue.push(Entry {
            at: at.max(self.now),
            seq: self.seq,
            what,
        });
    }

    fn deliver_now(&mut self, to: usize, input: Input) {
        let incarnation = self.peers[to].incarnation;
        self.schedule(
            self.now,
            What::Deliver {
                to,
                incarnation,
                input,
                link: None,
            },
        );
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

    /// Pops every entry due at the next instant and handles it: inputs gather into one batch
    /// per peer, and any other entry first flushes the batches gathered so far, so that it sees
    /// the state its predecessors left. Returns false when the queue is empty.
    fn run_instant(&mut self) -> bool {
        let Some(first) = self.queue.peek() else {
            return false;
        };
        let t = first.at;
        self.now = t;
        let mut batches: BTreeMap<usize, Vec<Input>> = BTreeMap::new();
        while self.queue.peek().is_some_and(|e| e.at == t) && self.violation.is_none() {
            let entry = self.queue.pop().expect("peeked");
            match entry.what {
                What::Deliver {
                    to,
                    incarnation,
                    input,
                    link,
                } => {
                    let live = self.alive(to) && self.peers[to].incarnation == incarnation;
                    let linked = link.is_none_or(|(from, g)| {
                        let i = self.net.at(from, to);
                        self.net.up(from, to)
                            && self.net.generation[i] == g
                            && self.net.silent[i] == 0
                    });
                    if live && linked {
                        batches.entry(to).or_default().push(input);
                    }
                }
                other => {
                    self.flush(&mut batches);
                    self.control(other);
                }
            }
        }
        self.flush(&mut batches);
        true
    }

    fn flush(&mut self, batches: &mut BTreeMap<usize, Vec<Input>>) {
        for (n, inputs) in std::mem::take(batches) {
            if self.violation.is_some() {
                return;
            }
            self.handle(n, inputs);
        }
    }

    /// One step of peer `n`: its batch, then its outputs in order (only some of them when it
    /// crashes right after the batch: what was committed stays, what was not sent is lost).
    fn handle(&mut self, n: usize, inputs: Vec<Input>) {
        let local = self.local_now(n);
        let Some(node) = self.peers[n].node.as_mut() else {
            return;
        };
        let count = inputs.len() as u64;
        // A panic inside the node is a finding, not a crash of the simulator: report it with
        // the step and time at which it happened.
        let outputs = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            node.handle_batch(inputs, local)
        })) {
            Ok(outputs) => outputs,
            Err(panic) => {
                let airline = self.world.airlines[n].clone();
                return self.breach((
                    Invariant::Crash,
                    format!("{airline} panicked: {}", panic_message(&*panic)),
                ));
            }
        };
        self.steps += 1;
        self.mix(self.now as u64);
        self.mix(n as u64 ^ (count << 32));
        for out in &outputs {
            if let Output::Broadcast(Message::Events { events }) = out {
                for ev in events.iter().filter(|e| e.origin == self.world.airlines[n]) {
                    if let Err(b) = self.checker.observe_event(ev) {
                        return self.breach(b);
                    }
                }
            }
        }
        let keep = if self.peers[n].crash_after_batch {
            self.rng.random_range(0..=outputs.len())
        } else {
            outputs.len()
        };
        for out in outputs.into_iter().take(keep) {
            self.perform(n, out);
            if self.violation.is_some() {
                return;
            }
        }
        if self.peers[n].crash_after_batch {
            self.crash(n);
        } else {
            self.watch_reachability(n);
        }
    }

    fn perform(&mut self, n: usize, out: Output) {
        match out {
            Output::Send { to, msg } => {
                self.mix(1);
                let Some(&to) = self.index.get(&to) else {
                    return;
                };
                let size = self.size(&msg);
                if self.net.carries(n, to) {
                    self.transmit(n, to, 1, msg, size);
                }
            }
            Output::Broadcast(msg) => {
                self.mix(2);
                let size = self.size(&msg);
                for (to, hops) in self.gossip_reach(n) {
                    self.transmit(n, to, hops, msg.clone(), size);
                }
            }
            Output::SetTimer { at, timer } => {
                self.mix(3);
                let incarnation = self.peers[n].incarnation;
                let at = at - self.peers[n].skew;
                self.schedule(
                    at,
                    What::Deliver {
                        to: n,
                        incarnation,
                        input: Input::Timer(timer),
                        link: None,
                    },
                );
            }
            Output::Reply(id, reply) => {
                self.mix(4 ^ (id << 8));
                self.on_reply(n, id, reply);
            }
            Output::Rejected { from, .. } if self.is_rogue(&from) => {
                if let Some(r) = self.rogues.as_mut() {
                    r.counts.rejected += 1;
                }
            }
            Output::Rejected { from, reason } => {
                let me = self.world.airlines[n].clone();
                self.breach((
                    Invariant::HonestRejected,
                    format!("{me} rejected a message of {from}: {reason}"),
                ));
            }
        }
    }

    fn size(&self, msg: &Message) -> u64 {
        // Counted, not encoded: the size is all the measure needs.
        postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
            .map_or(0, |n| n as u64)
    }

    /// Peers a gossip message from `n` reaches, with the hops it takes (breadth-first over the
    /// links that carry messages, as gossipsub relays through its mesh).
    fn gossip_reach(&self, n: usize) -> Vec<(usize, u32)> {
        let mut hops = vec![u32::MAX; self.peers.len()];
        hops[n] = 0;
        let mut frontier = vec![n];
        let mut reached = Vec::new();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for &a in &frontier {
                for b in 0..self.peers.len() {
                    if hops[b] == u32::MAX && self.net.carries(a, b) {
                        hops[b] = hops[a] + 1;
                        reached.push((b, hops[b]));
                        next.push(b);
                    }
                }
            }
            frontier = next;
        }
        reached
    }

    fn latency(&mut self) -> Millis {
        let s = &self.sched;
        let (min, jitter, tail) = (s.latency_min_ms, s.latency_jitter_ms, s.latency_long_tail);
        let mut l = min + self.rng.random_range(0..=jitter);
        if tail && self.rng.random_bool(0.05) {
            l += 10 * jitter.max(10);
        }
        if !self.net.quiet
            && self.sched.reordering > 0.0
            && self.rng.random_bool(self.sched.reordering)
        {
            l += self.rng.random_range(0..=400);
        }
        l.max(1)
    }

    fn transmit(&mut self, from: usize, to: usize, hops: u32, msg: Message, size: u64) {
        self.metrics.messages += 1;
        self.metrics.bytes += size;
        if !self.net.quiet && self.sched.loss > 0.0 && self.rng.random_bool(self.sched.loss) {
            return;
        }
        let copies = if !self.net.quiet
            && self.sched.duplication > 0.0
            && self.rng.random_bool(self.sched.duplication)
        {
            2
        } else {
            1
        };
        let incarnation = self.peers[to].incarnation;
        let link = (hops == 1).then(|| (from, self.net.generation[self.net.at(from, to)]));
        let airline = self.world.airlines[from].clone();
        for _ in 0..copies {
            let mut delay = 0;
            for _ in 0..hops {
                delay += self.latency();
            }
            let input = Input::Message {
                from: airline.clone(),
                msg: msg.clone(),
            };
            self.schedule(
                self.now + delay,
                What::Deliver {
                    to,
                    incarnation,
                    input,
                    link,
                },
            );
        }
    }

    /// Brings the links in line with the plan and the running peers, telling each running end
    /// of a changed link (as libp2p reports connections).
    fn refresh_links(&mut self) {
        let n = self.peers.len();
        for a in 0..n {
            for b in (a + 1)..n {
                let up = self.net.want[self.net.at(a, b)] && self.alive(a) && self.alive(b);
                if up == self.net.up(a, b) {
                    continue;
                }
                for (x, y) in [(a, b), (b, a)] {
                    let i = self.net.at(x, y);
                    self.net.up[i] = up;
                    if !up {
                        self.net.generation[i] += 1;
                    }
                }
                let (ia, ib) = (
                    self.world.airlines[a].clone(),
                    self.world.airlines[b].clone(),
                );
                for (x, other) in [(a, ib), (b, ia)] {
                    if self.alive(x) {
                        let input = if up {
                            Input::Connected(other)
                        } else {
                            Input::Disconnected(other)
                        };
                        self.deliver_now(x, input);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Setup, crash, restart

    fn setup(&mut self) {
        for n in 0..self.peers.len() {
            self.open(n);
        }
        self.refresh_links();
        for n in 0..self.peers.len() {
            let flights = self.world.flights_of(n);
            let airports = self.world.airports.clone();
            self.send_request(n, Request::PutAirports(airports), ReqKind::Setup);
            self.send_request(n, Request::PutFlights(flights), ReqKind::Setup);
        }
        self.schedule(self.now + 1, What::Drive);
    }

    fn open(&mut self, n: usize) {
        // A replaced disk cannot hold every ticket its peer confirmed yet: those that survive
        // elsewhere come back through catch-up, and the final check demands them.
        let replaced = self.apply_fate(n);
        self.peers[n].restoring |= replaced;
        let peer = &self.peers[n];
        let name = format!("<simulated {}>", peer.cfg.airline);
        let opened = peer
            .backend
            .open_database()
            .map_err(|e| e.to_string())
            .and_then(|db| passcom_node::Store::from_database(db, name).map_err(|e| e.to_string()))
            .and_then(|store| {
                // The network is new at the first open only: a disk lost later must be
                // recovered from the partners, never started afresh.
                let mut cfg = peer.cfg.clone();
                cfg.fresh_network = peer.incarnation == 0;
                Node::open(cfg, store, self.now + peer.skew).map_err(|e| e.to_string())
            });
        match opened {
            Ok((node, outputs)) => {
                if !self.peers[n].restoring
                    && let Err(b) = self.checker.check_restarted(&node)
                {
                    self.breach(b);
                }
                let backlog: u64 = self
                    .world
                    .airlines
                    .iter()
                    .map(|a| self.checker.last_seq(a).saturating_sub(node.clock().get(a)))
                    .sum();
                let max = &mut self.metrics.faults.max_restart_backlog;
                *max = (*max).max(backlog);
                self.peers[n].node = Some(node);
                self.peers[n].crash_after_batch = false;
                for out in outputs {
                    self.perform(n, out);
                }
            }
            Err(e) => {
                let airline = self.world.airlines[n].clone();
                self.breach((
                    Invariant::Crash,
                    format!("{airline} could not reopen its store: {e}"),
                ));
            }
        }
    }

    fn crash(&mut self, n: usize) {
        self.crash_for(n, Down::Drawn);
    }

    /// Crashes peer `n`, to restart after `down`.
    fn crash_for(&mut self, n: usize, down: Down) {
        // Dropping the node drops its redb Database: only committed bytes remain, and the
        // node's clock is what they hold (its memory equals its store).
        if let Some(node) = self.peers[n].node.take() {
            self.peers[n].last_clock = node.clock().clone();
            // Active again after a replaced disk: it holds all that survived of its history.
            if node.state() == passcom_node::PeerState::Active {
                self.peers[n].restoring = false;
            }
        }
        self.peers[n].incarnation += 1;
        self.peers[n].crash_after_batch = false;
        self.metrics.crashes += 1;
        self.mix(0xc0 ^ n as u64);
        let lost: Vec<RequestId> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.node == n)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some(Outstanding {
                kind: ReqKind::Purchase(key),
                ..
            }) = self.outstanding.remove(&id)
                && let Some(k) = self.keys.get_mut(&key)
                && k.outcome == KeyOutcome::Unanswered
            {
                k.lost = true;
            }
        }
        self.refresh_links();
        let down = match down {
            Down::Drawn => self.rng.random_range(100..=6_000),
            Down::For(ms) => ms,
            Down::Forever => return,
        };
        self.schedule(self.now + down, What::Restart(n));
    }

    fn restart(&mut self, n: usize) {
        if self.alive(n) || self.peers[n].gone {
            return;
        }
        self.open(n);
        self.refresh_links();
        // Travelers whose purchase was cut off by the crash try again, with the same key.
        let lost: Vec<String> = self
            .keys
            .iter()
            .filter(|(_, k)| k.node == n && k.lost)
            .map(|(key, _)| key.clone())
            .collect();
        for key in lost {
            let delay = self.rng.random_range(0..=500);
            self.schedule(self.now + delay, What::Resend { key });
        }
    }

    // ------------------------------------------------------------------------------------------
    // Control: the driver, faults, client actions

    fn control(&mut self, what: What) {
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

    fn heal_links(&mut self) {
        self.net.want.iter_mut().for_each(|w| *w = true);
        self.net.blackhole.iter_mut().for_each(|b| *b = false);
        self.refresh_links();
    }

    fn fault(&mut self) {
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

    fn client_action(&mut self) {
        let Some(node) = self.random_alive() else {
            return;
        };
        let nf = self.world.flights.len();
        let roll = self.rng.random_range(0..100);
        // Weights of the other actions, in per mille: catalog edits are rare, as they are for
        // airlines (and each one makes every peer re-read its Automerge documents).
        const WEIGHTS: [(u64, u32); 8] = [
            (1, 180),
            (2, 180),
            (3, 130),
            (4, 130),
            (5, 110),
            (6, 90),
            (7, 150),
            (8, 30),
        ];
        let kind = if roll < self.sched.flash_sale_pct {
            0
        } else {
            let mut pick = self
                .rng
                .random_range(0..WEIGHTS.iter().map(|w| w.1).sum::<u32>());
            WEIGHTS
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map_or(1, |(k, _)| *k)
        };
        self.mix(0xac00 ^ kind);
        match kind {
            // The flash sale: everyone wants the first flight.
            0 => self.purchase(node, vec![0], None, None),
            1 | 2 => {
                let f = self.rng.random_range(0..nf);
                self.purchase(node, vec![f], None, None);
            }
            3 => {
                if self.world.itineraries.is_empty() {
                    return;
                }
                let it = self.world.itineraries
                    [self.rng.random_range(0..self.world.itineraries.len())]
                .clone();
                self.purchase(node, it, None, None);
            }
            4 => {
                let f = self.rng.random_range(0..nf);
                let flight = &self.world.flights[f];
                let labels: Vec<String> = flight.seat_labels().collect();
                let label = labels[self.rng.random_range(0..labels.len())].clone();
                self.purchase(node, vec![f], Some(label), None);
            }
            5 => self.hold(node),
            6 => self.cancel(),
            7 => self.retry(),
            _ => self.edit_catalog(),
        }
    }

    fn send_request(&mut self, n: usize, req: Request, kind: ReqKind) {
        let id = self.next_request;
        self.next_request += 1;
        let incarnation = self.peers[n].incarnation;
        self.outstanding.insert(
            id,
            Outstanding {
                node: n,
                incarnation,
                sent_at: self.now,
                kind,
            },
        );
        self.deliver_now(n, Input::Request(id, req));
    }

    /// Whether a seat for the leg may still be had somewhere: the flight is not cancelled and
    /// some seat (the chosen one, if any) has no sold token.
    fn seat_exists(&self, f: usize, label: Option<&str>) -> bool {
        let flight = &self.world.flights[f];
        if flight.cancelled {
            return false;
        }
        let free = |l: &str| {
            let seat = SeatId::new(flight.id.clone(), l);
            !matches!(
                self.checker.latest(&seat).map(|t| &t.state),
                Some(TokenState::Sold { .. })
            )
        };
        match label {
            Some(l) => free(l),
            None => flight.seat_labels().any(|l| free(&l)),
        }
    }

    fn purchase(
        &mut self,
        node: usize,
        flights: Vec<usize>,
        seat: Option<String>,
        hold_id: Option<String>,
    ) {
        let key = format!("k{}", self.next_key);
        self.next_key += 1;
        let exists = flights
            .iter()
            .all(|&f| self.seat_exists(f, seat.as_deref()));
        // A checkout depends on the traveler's timing against the cart's expiry, not on the
        // network: availability counts only purchases of seats on sale.
        let counted = (exists && hold_id.is_none()).then(|| !self.net.fully_connected());
        let legs = flights
            .iter()
            .map(|&f| LegRequest {
                flight: self.world.flights[f].id.clone(),
                seat: seat.clone(),
            })
            .collect();
        let req = PurchaseRequest {
            key: key.clone(),
            passenger: format!("Traveler {key}"),
            account: None,
            legs,
            hold_id,
        };
        self.keys.insert(
            key.clone(),
            KeyRecord {
                node,
                req: req.clone(),
                counted,
                outcome: KeyOutcome::Unanswered,
                lost: false,
                forgiven: false,
            },
        );
        self.key_list.push(key.clone());
        self.send_request(node, Request::Purchase(req), ReqKind::Purchase(key));
    }

    fn hold(&mut self, node: usize) {
        let flights: Vec<usize> = if !self.world.itineraries.is_empty() && self.rng.random_bool(0.3)
        {
            self.world.itineraries[self.rng.random_range(0..self.world.itineraries.len())].clone()
        } else {
            vec![self.rng.random_range(0..self.world.flights.len())]
        };
        let hold_id = format!("cart{}", self.next_key);
        self.next_key += 1;
        let legs = flights
            .iter()
            .map(|&f| LegRequest {
                flight: self.world.flights[f].id.clone(),
                seat: None,
            })
            .collect();
        // The traveler's cart lapses by the peer's clock, which may be skewed from the sim's.
        let expires = self.local_now(node) + self.sched.hold_ms;
        let ids = flights
            .iter()
            .map(|&f| self.world.flights[f].id.clone())
            .collect();
        self.holds
            .insert(hold_id.clone(), HoldRecord { node, flights: ids });
        let req = passcom_node::HoldRequest {
            hold_id: hold_id.clone(),
            account: None,
            legs,
            expires,
        };
        self.send_request(node, Request::Hold(req), ReqKind::Hold(hold_id));
    }

    fn checkout(&mut self, hold_id: &str) {
        let Some(h) = self.holds.get(hold_id) else {
            return;
        };
        let node = h.node;
        if !self.alive(node) {
            return;
        }
        let flights: Vec<usize> = h
            .flights
            .iter()
            .filter_map(|f| self.world.flight_index(f))
            .collect();
        self.purchase(node, flights, None, Some(hold_id.to_owned()));
    }

    fn cancel(&mut self) {
        if self.client_tickets.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.client_tickets.len());
        let (ticket, seller) = self.client_tickets[i].clone();
        if self.alive(seller) {
            self.send_request(
                seller,
                Request::Cancel {
                    ticket,
                    account: None,
                },
                ReqKind::Cancel,
            );
        }
    }

    fn retry(&mut self) {
        if self.key_list.is_empty() {
            return;
        }
        let key = self.key_list[self.rng.random_range(0..self.key_list.len())].clone();
        self.resend(&key);
    }

    fn resend(&mut self, key: &str) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        let node = k.node;
        if self.peers[node].node.is_none() {
            return; // re-sent again when the peer restarts
        }
        k.lost = false;
        let req = k.req.clone();
        self.send_request(
            node,
            Request::Purchase(req),
            ReqKind::Purchase(key.to_owned()),
        );
    }

    fn edit_catalog(&mut self) {
        let Some(n) = self.random_alive() else { return };
        let own: Vec<usize> = (0..self.world.flights.len())
            .filter(|&f| self.world.flights[f].airline == self.world.airlines[n])
            .collect();
        if own.is_empty() {
            return;
        }
        let f = own[self.rng.random_range(0..own.len())];
        let mut flight = self.world.flights[f].clone();
        if flight.cancelled {
            return;
        }
        match self.rng.random_range(0..10) {
            0..=6 => flight.fare_cents = self.rng.random_range(20_000..=90_000),
            7 | 8 => flight.rows = (flight.rows + 1).min(200),
            // Cancelling the flash-sale flight would end the contention the schedule is about.
            _ if f != 0 => flight.cancelled = true,
            _ => flight.fare_cents += 100,
        }
        self.checker.allow_capacity(&flight.id, flight.capacity());
        self.send_request(
            n,
            Request::PutFlights(vec![flight.clone()]),
            ReqKind::Edit(flight),
        );
    }

    // ------------------------------------------------------------------------------------------
    // Replies

    fn on_reply(&mut self, n: usize, id: RequestId, reply: Reply) {
        let Some(req) = self.outstanding.remove(&id) else {
            return;
        };
        match req.kind {
            ReqKind::Setup => {
                if reply != Reply::Done {
                    let a = self.world.airlines[n].clone();
                    self.breach((
                        Invariant::Crash,
                        format!("{a} refused its own initial catalog: {reply:?}"),
                    ));
                }
            }
            ReqKind::Purchase(key) => self.on_purchase_reply(&key, reply),
            ReqKind::Hold(hold_id) => {
                if let Reply::Held(_) = reply {
                    // Check out at a random moment that may fall after the cart lapses.
                    let wait = self
                        .rng
                        .random_range(0..=self.sched.hold_ms * 13 / 10 + 200);
                    self.schedule(self.now + wait, What::Checkout { hold_id });
                }
            }
            ReqKind::Cancel => {
                if let Reply::Ticket(t) = reply {
                    self.client_tickets.retain(|(id, _)| id != &t.id);
                }
            }
            ReqKind::Edit(flight) => {
                if reply == Reply::Done
                    && let Some(f) = self.world.flight_index(&flight.id)
                {
                    self.world.flights[f] = flight;
                }
            }
        }
    }

    fn on_purchase_reply(&mut self, key: &str, reply: Reply) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        let seller = k.node;
        if k.forgiven {
            // The ticket this key had was on a lost disk only: the traveler's next answer
            // starts over.
            k.forgiven = false;
            k.outcome = KeyOutcome::Unanswered;
        }
        match reply {
            Reply::Ticket(t) => {
                let legs_match = t.legs.len() == k.req.legs.len()
                    && t.legs
                        .iter()
                        .zip(&k.req.legs)
                        .all(|(a, b)| a.flight == b.flight);
                let previous =
                    std::mem::replace(&mut k.outcome, KeyOutcome::Confirmed(t.id.clone()));
                match previous {
                    KeyOutcome::Confirmed(other) if other != t.id => {
                        return self.breach((
                            Invariant::Idempotency,
                            format!("key {key} confirmed two tickets: {other} and {}", t.id),
                        ));
                    }
                    KeyOutcome::Refused(r) if !r.is_transient() => {
                        return self.breach((
                            Invariant::Idempotency,
                            format!("key {key} was refused ({r}) and later confirmed {}", t.id),
                        ));
                    }
                    KeyOutcome::Confirmed(_) => return,
                    _ => {}
                }
                if !legs_match {
                    return self.breach((
                        Invariant::AllOrNothing,
                        format!("ticket {} does not have the legs key {key} asked for", t.id),
                    ));
                }
                self.client_confirmed(&t, seller);
            }
            Reply::Refused(r) => match &k.outcome {
                // An answer to one attempt ("recovering", "unreachable") after a confirmation
                // contradicts nothing: a restored seller may not know the ticket back yet, and
                // the traveler keeps the ticket it was given.
                KeyOutcome::Confirmed(_) if r.is_transient() => {}
                KeyOutcome::Confirmed(t) => {
                    let t = t.clone();
                    self.breach((
                        Invariant::Idempotency,
                        format!("key {key} confirmed {t} and was later refused: {r}"),
                    ));
                }
                KeyOutcome::Unanswered => k.outcome = KeyOutcome::Refused(r),
                KeyOutcome::Refused(_) => {}
            },
            other => {
                self.breach((
                    Invariant::Idempotency,
                    format!("purchase {key} answered with {other:?}"),
                ));
            }
        }
    }

    fn client_confirmed(&mut self, t: &Ticket, seller: usize) {
        if let Err(b) = self.checker.confirmed(t) {
            return self.breach(b);
        }
        self.client_tickets.push((t.id.clone(), seller));
    }

    /// Invariant 7 during the run: every request to a peer that kept running is answered
    /// within [`STUCK_AFTER_MS`].
    fn check_stuck(&mut self) {
        let stuck = self.outstanding.iter().find(|(_, o)| {
            self.peers[o.node].incarnation == o.incarnation && self.now - o.sent_at > STUCK_AFTER_MS
        });
        if let Some((id, o)) = stuck {
            let what = match &o.kind {
                ReqKind::Purchase(k) => format!("purchase {k}"),
                ReqKind::Hold(h) => format!("hold {h}"),
                _ => format!("request {id}"),
            };
            let a = self.world.airlines[o.node].clone();
            let waited = self.now - o.sent_at;
            self.breach((
                Invariant::Idempotency,
                format!("{what} at {a} has had no answer for {waited} ms"),
            ));
        }
    }

    // ------------------------------------------------------------------------------------------
    // The final heal

    fn final_heal(&mut self) {
        self.draining = true;
        self.net.quiet = true;
        // No rollback happens any more: snapshots kept for one are not copies of anything now.
        for p in &mut self.peers {
            p.snapshot = None;
        }
        self.forget_lost();
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
        let gone: Vec<usize> = (0..self.peers.len())
            .filter(|&n| self.peers[n].gone)
            .collect();
        let keep = gone.iter().map(|&n| (n, self.surviving_seq(n))).collect();
        self.forget_beyond(keep);
        if self.violation.is_some() {
            return;
        }
        let nodes: Vec<&Node> = self.peers.iter().filter_map(|p| p.node.as_ref()).collect();
        if let Err(b) = self.checker.check_converged(&nodes) {
            self.breach(b);
        }
    }

    fn converged(&self) -> Option<String> {
        let nodes: Vec<&Node> = self.peers.iter().filter_map(|p| p.node.as_ref()).collect();
        Checker::difference(&nodes)
    }

    fn finish_metrics(&mut self) {
        for k in self.keys.values() {
            let Some(partitioned) = k.counted else {
                continue;
            };
            let ok = matches!(k.outcome, KeyOutcome::Confirmed(_)) as u64;
            if let KeyOutcome::Refused(r) = &k.outcome {
                *self
                    .metrics
                    .refusals
                    .entry(refusal_name(r).to_owned())
                    .or_default() += 1;
            }
            self.metrics.attempts += 1;
            self.metrics.confirmed += ok;
            if partitioned {
                self.metrics.attempts_partitioned += 1;
                self.metrics.confirmed_partitioned += ok;
            }
        }
    }
}
