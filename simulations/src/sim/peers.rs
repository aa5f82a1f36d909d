//! The simulated peers: one `Node` each over its crash-surviving device, the batch it handles
//! and the outputs it performs, and its setup, crashes and restarts.

use super::*;

// ----------------------------------------------------------------------------------------------
// Peers and links

pub(super) struct Peer {
    pub(super) cfg: Config,
    pub(super) backend: SharedMemoryBackend,
    pub(super) node: Option<Node>,
    /// Bumped at every crash: inputs addressed to an earlier incarnation are lost.
    pub(super) incarnation: u32,
    /// Added to sim time to give the peer's own clock.
    pub(super) skew: Millis,
    /// Crash right after the next batch, having performed only some of its outputs.
    pub(super) crash_after_batch: bool,
    /// What the disk holds at the next restart.
    pub(super) fate: DiskFate,
    /// The vector clock the peer had committed when it last crashed: what its disk holds.
    pub(super) last_clock: VectorClock,
    /// A copy of the store to roll back to at a coming crash.
    pub(super) snapshot: Option<Snapshot>,
    /// Never comes back, not even in the final phase.
    pub(super) gone: bool,
    /// Its disk was replaced (lost or rolled back) and it has not been active since: what it
    /// confirmed before may still be on its way back from the partners, so a restart now
    /// cannot be asked to hold it.
    pub(super) restoring: bool,
}

impl Simulation {
    /// One step of peer `n`: its batch, then its outputs in order (only some of them when it
    /// crashes right after the batch: what was committed stays, what was not sent is lost).
    pub(super) fn handle(&mut self, n: usize, inputs: Vec<Input>) {
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
                let me = self.world.airlines[n].clone();
                for ev in events.iter().filter(|e| e.origin == me) {
                    self.metrics.handovers += ev
                        .tokens
                        .iter()
                        .filter(|u| matches!(u.next.state, TokenState::InTransit { .. }))
                        .count() as u64;
                    if let Err(b) = self.observe_own_event(ev) {
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
                for (part, size) in self.on_the_wire(msg, true) {
                    if self.net.carries(n, to) && !self.taken_by_twin(n, to, 1, &part, true) {
                        self.transmit(n, to, 1, part, size);
                    }
                }
            }
            Output::Broadcast(msg) => {
                self.mix(2);
                for (part, size) in self.on_the_wire(msg, false) {
                    for (to, hops) in self.gossip_reach(n) {
                        self.taken_by_twin(n, to, hops, &part, false);
                        self.transmit(n, to, hops, part.clone(), size);
                    }
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
            Output::Rejected { from, .. } if self.is_twinned(&from) => {
                self.metrics.faults.twin_rejections += 1;
            }
            Output::Rejected { from, reason, .. } => {
                let me = self.world.airlines[n].clone();
                self.breach((
                    Invariant::HonestRejected,
                    format!("{me} rejected a message of {from}: {reason}"),
                ));
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Setup, crash, restart

    pub(super) fn setup(&mut self) {
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

    pub(super) fn open(&mut self, n: usize) {
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

    pub(super) fn crash(&mut self, n: usize) {
        self.crash_for(n, Down::Drawn);
    }

    /// Crashes peer `n`, to restart after `down`.
    pub(super) fn crash_for(&mut self, n: usize, down: Down) {
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

    pub(super) fn restart(&mut self, n: usize) {
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
}
