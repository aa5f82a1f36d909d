//! The `twins` fault family: a second process with one peer's identity (its airline, its
//! signing key, its configuration) runs beside it for a while, from a copy of its store or
//! from an empty one, selling to travelers of its own; then its operator stops it.
//!
//! The twin sits where its original sits in the network: it uses the original's links, its
//! gossip reaches whom the original's reaches (never the original itself: both have one peer
//! id), a direct message to the airline lands at either process, and its messages say they
//! come from the airline. It is told of the connections up when it starts, as libp2p would.
//!
//! What the checker may demand: everything, of the twin as of any peer. The node stops a
//! newcomer that its partners hear beside a live process of its identity before it writes
//! (`passcom_node`'s `machine/twins.rs`), so the events a twin commits are the origin's
//! history — it writes only when the original is down, as a restart would — and they go to
//! the checker like the original's: two different events under one number are a violation
//! (invariant 8), and so is a seat the two sold twice. What the twin wrote that no surviving
//! copy holds when it stops is forgotten, with its tickets, as for a lost disk; its travelers'
//! tickets are not demanded otherwise (its store goes with it). Rejections of messages of the
//! twinned airline are counted (`twin_rejections`), not held against it.

use super::*;
use crate::backend::SharedMemoryBackend;
use std::collections::BTreeSet;

/// How long the operator takes to restart a halted peer once its twin is stopped (sim ms).
const TWIN_RESTART_MS: Millis = 1_000;

/// The twin now running, if any.
pub(super) struct Twin {
    /// The peer whose identity it has.
    pub(super) of: usize,
    /// Its node (its store is its own device).
    node: Node,
    /// Its generation: inputs scheduled for an earlier twin are dropped.
    pub(super) generation: u32,
}

/// Twins of the run.
#[derive(Default)]
pub(super) struct Twins {
    /// The twin running now.
    pub(super) current: Option<Twin>,
    /// Generations handed out so far.
    generation: u32,
    /// Peers that had a twin.
    pub(super) twinned: BTreeSet<usize>,
    /// Peers some of whose events a stopped twin held when no other copy did (a twin of
    /// giro outliving every disk, seed 20198 of the default schedules): their numbers may be
    /// written again, and they are judged at the end like the twinned peers.
    pub(super) last_copies: BTreeSet<usize>,
    /// Travelers' keys at twins so far.
    next_key: u64,
}

impl Simulation {
    /// Starts a twin of a running peer, from a copy of its store or from an empty one.
    pub(super) fn start_twin(&mut self) {
        if self.twins.current.is_some() {
            return;
        }
        let Some(x) = self.pick_alive() else {
            return;
        };
        let backend = SharedMemoryBackend::new();
        if !self.sched.faults.twin_from_empty {
            backend.restore(&self.peers[x].backend.snapshot());
        }
        let mut cfg = self.peers[x].cfg.clone();
        cfg.fresh_network = false;
        // A process of its own: an incarnation no restart of the original draws (those are
        // derived from the airline and the time of opening).
        cfg.incarnation = 0x7717_0000_0000 + u64::from(self.twins.generation) + 1;
        let name = format!("<simulated twin of {}>", cfg.airline);
        let opened = backend
            .open_database()
            .map_err(|e| e.to_string())
            .and_then(|db| passcom_node::Store::from_database(db, name).map_err(|e| e.to_string()))
            .and_then(|store| Node::open(cfg, store, self.local_now(x)).map_err(|e| e.to_string()));
        let (node, outputs) = match opened {
            Ok(o) => o,
            Err(e) => {
                let airline = self.world.airlines[x].clone();
                return self.breach((
                    Invariant::Crash,
                    format!("the twin of {airline} could not open its store: {e}"),
                ));
            }
        };
        self.mix(0xfb07 ^ x as u64);
        self.metrics.faults.twins += 1;
        self.twins.generation += 1;
        let generation = self.twins.generation;
        self.twins.twinned.insert(x);
        self.twins.current = Some(Twin {
            of: x,
            node,
            generation,
        });
        for out in outputs {
            self.perform_twin(out);
        }
        let linked: Vec<usize> = (0..self.peers.len())
            .filter(|&y| y != x && self.net.up(x, y))
            .collect();
        for y in linked {
            let input = Input::Connected(self.world.airlines[y].clone());
            self.schedule(self.now, What::Injected(Due::TwinInput(generation, input)));
        }
        let stop = self.now + self.sched.faults.twin_runs_ms;
        self.schedule(stop, What::Injected(Due::TwinStop(generation)));
    }

    /// The twin's operator stops it: its process and its store are gone.
    pub(super) fn stop_twin(&mut self, generation: u32) {
        if self
            .twins
            .current
            .as_ref()
            .is_some_and(|t| t.generation == generation)
            && let Some(t) = self.twins.current.take()
        {
            for x in 0..self.peers.len() {
                if t.node.clock().get(&self.world.airlines[x]) > self.copies_seq(x, u64::MAX) {
                    self.twins.last_copies.insert(x);
                }
            }
            self.mix(0xfb08 ^ t.of as u64);
            if matches!(t.node.state(), passcom_node::PeerState::Halted { .. }) {
                self.metrics.faults.twin_halts += 1;
            }
        }
    }

    /// One input for the twin, a batch of its own.
    pub(super) fn handle_twin(&mut self, generation: u32, input: Input) {
        let Some(t) = self.twins.current.as_mut() else {
            return;
        };
        if t.generation != generation {
            return;
        }
        let local = self.now + self.peers[t.of].skew;
        let node = &mut t.node;
        let outputs = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            node.handle_batch(vec![input], local)
        })) {
            Ok(outputs) => outputs,
            Err(panic) => {
                let airline = self.world.airlines[t.of].clone();
                return self.breach((
                    Invariant::Crash,
                    format!("the twin of {airline} panicked: {}", panic_message(&*panic)),
                ));
            }
        };
        self.steps += 1;
        self.mix(0x7717 ^ self.now as u64);
        let airline = self
            .twins
            .current
            .as_ref()
            .map(|t| self.world.airlines[t.of].clone());
        for out in &outputs {
            if let Output::Broadcast(Message::Events { events }) = out {
                for ev in events
                    .iter()
                    .filter(|e| Some(&e.origin) == airline.as_ref())
                {
                    if let Err(b) = self.observe_own_event(ev) {
                        return self.breach(b);
                    }
                }
            }
        }
        for out in outputs {
            self.perform_twin(out);
            if self.violation.is_some() {
                return;
            }
        }
    }

    /// Performs one output of the twin, from where its original sits.
    fn perform_twin(&mut self, out: Output) {
        let Some((x, generation)) = self.twins.current.as_ref().map(|t| (t.of, t.generation))
        else {
            return;
        };
        match out {
            Output::Send { to, msg } => {
                let Some(&to) = self.index.get(&to) else {
                    return;
                };
                for (part, size) in self.on_the_wire(msg, true) {
                    if to != x && self.net.carries(x, to) {
                        self.transmit(x, to, 1, part, size);
                    }
                }
            }
            Output::Broadcast(msg) => {
                if let Message::Events { events } = &msg {
                    let own = events
                        .iter()
                        .filter(|e| e.origin == self.world.airlines[x])
                        .count();
                    self.metrics.faults.twin_events += own as u64;
                }
                for (part, size) in self.on_the_wire(msg, false) {
                    for (to, hops) in self.gossip_reach(x) {
                        self.transmit(x, to, hops, part.clone(), size);
                    }
                }
            }
            Output::SetTimer { at, timer } => {
                let at = at - self.peers[x].skew;
                let input = Input::Timer(timer);
                self.schedule(at, What::Injected(Due::TwinInput(generation, input)));
            }
            Output::Reply(_, reply) => {
                if matches!(reply, Reply::Ticket(_)) {
                    self.metrics.faults.twin_tickets += 1;
                }
            }
            Output::Rejected { .. } => self.metrics.faults.twin_rejections += 1,
        }
    }

    /// Whether a message from `from` to peer `to` lands at `to`'s twin instead: a direct
    /// message lands at either process of the identity; a gossip message reaches both (the
    /// twin gets its copy here). The copy for the twin is scheduled here.
    pub(super) fn taken_by_twin(
        &mut self,
        from: usize,
        to: usize,
        hops: u32,
        part: &Message,
        direct: bool,
    ) -> bool {
        let Some(generation) = self
            .twins
            .current
            .as_ref()
            .filter(|t| t.of == to)
            .map(|t| t.generation)
        else {
            return false;
        };
        if direct && !self.fault_rng.random_bool(0.5) {
            return false;
        }
        let mut delay = 0;
        for _ in 0..hops {
            delay += self.latency();
        }
        let input = Input::Message {
            from: self.world.airlines[from].clone(),
            msg: part.clone(),
        };
        self.schedule(
            self.now + delay,
            What::Injected(Due::TwinInput(generation, input)),
        );
        direct
    }

    /// A traveler buys one seat at the running twin, now and then.
    pub(super) fn twin_client(&mut self) {
        let Some(generation) = self.twins.current.as_ref().map(|t| t.generation) else {
            return;
        };
        if !self.fault_rng.random_bool(0.5) {
            return;
        }
        let f = self.fault_rng.random_range(0..self.world.flights.len());
        self.twins.next_key += 1;
        let key = format!("twin-k{}", self.twins.next_key);
        let req = PurchaseRequest {
            key: key.clone(),
            passenger: format!("Traveler {key}"),
            account: None,
            legs: vec![LegRequest {
                flight: self.world.flights[f].id.clone(),
                seat: None,
            }],
            hold_id: None,
            seat_fallback: Default::default(),
        };
        let id = self.next_request;
        self.next_request += 1;
        let input = Input::Request(id, Request::Purchase(req));
        self.schedule(self.now, What::Injected(Due::TwinInput(generation, input)));
    }

    /// The operator's act once a twin is stopped, as the halted peer's message asks: a peer
    /// that had a twin, halted and is no longer twinned is restarted (it recovers from its
    /// partners). Called at every driver step and probe of the final phase.
    pub(super) fn restart_halted_twinned(&mut self) {
        if self.twins.current.is_some() {
            return;
        }
        let halted: Vec<usize> =
            self.twins
                .twinned
                .iter()
                .copied()
                .filter(|&x| {
                    self.peers[x].node.as_ref().is_some_and(|n| {
                        matches!(n.state(), passcom_node::PeerState::Halted { .. })
                    })
                })
                .collect();
        for x in halted {
            self.mix(0xfb09 ^ x as u64);
            self.metrics.faults.twin_halts += 1;
            self.crash_for(x, Down::For(TWIN_RESTART_MS));
        }
    }

    /// Hands an event a peer (or its twin) committed under its own origin to the checker. A
    /// second version of a number is forgiven only where the first is gone: a stopped twin's
    /// store went with it, so what it wrote, or what only it held, that no surviving copy
    /// holds is forgotten (with its tickets) before the number is judged again, as for a lost
    /// disk. The peer that wrote the new version already holds it, which is no copy of the
    /// old one: its store counts as holding only the numbers before (seed 18421 of the
    /// default schedules, where the new version itself kept the old one alive).
    pub(super) fn observe_own_event(&mut self, ev: &passcom_node::Event) -> Result<(), Breach> {
        match self.checker.observe_event(ev) {
            Err((Invariant::UniqueSequence, _))
                if self.twins.current.is_none() && self.judged_at_the_end(&ev.origin) =>
            {
                let mut keep = self.all_surviving();
                if let Some(own) = keep
                    .iter_mut()
                    .find(|(x, _)| self.world.airlines[*x] == ev.origin)
                {
                    own.1 = self.copies_seq(own.0, ev.seq.saturating_sub(1));
                }
                self.forget_beyond(keep);
                self.checker.observe_event(ev)
            }
            r => r,
        }
    }

    /// Whether `airline` lost copies to a stopped twin: it had one, or a twin held the only
    /// copy of some of its events. What survived of it is judged once the peers agree.
    pub(super) fn judged_at_the_end(&self, airline: &AirlineId) -> bool {
        self.twins
            .twinned
            .iter()
            .chain(&self.twins.last_copies)
            .any(|&x| &self.world.airlines[x] == airline)
    }

    /// The highest event of `origin` that the running twin holds (0 without one).
    pub(super) fn twin_holds(&self, origin: &AirlineId) -> u64 {
        self.twins
            .current
            .as_ref()
            .map_or(0, |t| t.node.clock().get(origin))
    }

    /// Whether `airline` had a twin in this run.
    pub(super) fn is_twinned(&self, airline: &AirlineId) -> bool {
        self.twins
            .twinned
            .iter()
            .any(|&x| &self.world.airlines[x] == airline)
    }

    /// At the end: the equivocations every peer recorded.
    pub(super) fn finish_twins(&mut self) {
        for p in &self.peers {
            if let Some(node) = &p.node {
                self.metrics.faults.equivocations += node.equivocations().1;
            }
        }
    }
}
