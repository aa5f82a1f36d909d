//! The simulated network: the delivery queue ordered by (time, sequence), the links between
//! peers (partitions, flapping, one-way blackholes, silent cuts), latency, loss, duplication
//! and reordering, and gossip's reach. It knows nothing of clients or of what messages mean.

use super::*;

// ----------------------------------------------------------------------------------------------
// The event queue

/// Something due at a sim instant.
pub(super) enum What {
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

pub(super) struct Entry {
    pub(super) at: Millis,
    pub(super) seq: u64,
    pub(super) what: What,
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

/// The links between peers. A link is up when the partition plan wants it and both ends run;
/// a blackholed direction silently drops messages while the connection looks up (an
/// asymmetric link).
pub(super) struct Net {
    pub(super) n: usize,
    pub(super) want: Vec<bool>,
    pub(super) up: Vec<bool>,
    pub(super) generation: Vec<u64>,
    pub(super) blackhole: Vec<bool>,
    /// Silent cuts over each direction (they may overlap): while any is on, the direction
    /// drops everything and no one is told.
    pub(super) silent: Vec<u32>,
    /// After the final heal: no loss, duplication or reordering.
    pub(super) quiet: bool,
}

impl Net {
    pub(super) fn new(n: usize) -> Net {
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
    pub(super) fn at(&self, a: usize, b: usize) -> usize {
        a * self.n + b
    }
    pub(super) fn up(&self, a: usize, b: usize) -> bool {
        self.up[self.at(a, b)]
    }
    pub(super) fn carries(&self, a: usize, b: usize) -> bool {
        self.up(a, b) && !self.blackhole[self.at(a, b)] && self.silent[self.at(a, b)] == 0
    }
    pub(super) fn set_want(&mut self, a: usize, b: usize, want: bool) {
        let (i, j) = (self.at(a, b), self.at(b, a));
        self.want[i] = want;
        self.want[j] = want;
    }
    pub(super) fn fully_connected(&self) -> bool {
        self.up
            .iter()
            .enumerate()
            .all(|(i, up)| i / self.n == i % self.n || *up)
            && !self.blackhole.iter().any(|b| *b)
            && self.silent.iter().all(|s| *s == 0)
    }
}

impl Simulation {
    pub(super) fn schedule(&mut self, at: Millis, what: What) {
        self.seq += 1;
        self.queue.push(Entry {
            at: at.max(self.now),
            seq: self.seq,
            what,
        });
    }

    pub(super) fn deliver_now(&mut self, to: usize, input: Input) {
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

    /// Pops every entry due at the next instant and handles it: inputs gather into one batch
    /// per peer, and any other entry first flushes the batches gathered so far, so that it sees
    /// the state its predecessors left. Returns false when the queue is empty.
    pub(super) fn run_instant(&mut self) -> bool {
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
    pub(super) fn size(&self, msg: &Message) -> u64 {
        // Counted, not encoded: the size is all the measure needs.
        postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
            .map_or(0, |n| n as u64)
    }

    /// Peers a gossip message from `n` reaches, with the hops it takes (breadth-first over the
    /// links that carry messages, as gossipsub relays through its mesh).
    pub(super) fn gossip_reach(&self, n: usize) -> Vec<(usize, u32)> {
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

    pub(super) fn latency(&mut self) -> Millis {
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

    pub(super) fn transmit(&mut self, from: usize, to: usize, hops: u32, msg: Message, size: u64) {
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
    pub(super) fn refresh_links(&mut self) {
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

    pub(super) fn heal_links(&mut self) {
        self.net.want.iter_mut().for_each(|w| *w = true);
        self.net.blackhole.iter_mut().for_each(|b| *b = false);
        self.refresh_links();
    }
}
