//! The one task that owns the swarm and drives the node.
//!
//! Each turn of the `select!` loop takes whatever is ready — user requests, swarm events,
//! due timers — as node inputs, then calls [`Node::handle_batch`] ONCE with all of them at the
//! current time (so purchases arriving together share one redb commit), then performs the
//! outputs in order. The only decisions made here are transport ones: which connection carries
//! a message, whom to dial, whom to refuse while cut off.
//!
//! This file owns the driver's state (the [`Driver`] fields, read and written by every
//! submodule), the loop, shutdown and the network status copied out for handles. The work of
//! one turn is split by where it comes from:
//! - `outputs`: one batch through the node, and its outputs performed (send, broadcast,
//!   timers, replies, gossip verdicts);
//! - `swarm`: swarm and behaviour events turned into node inputs (connections, identify,
//!   gossip, direct messages, mDNS);
//! - `commands`: the operator's partition, heal, dial and hang-up;
//! - `bootstrap`: re-dialling bootstrap addresses with backoff.
//!
//! It must never decide what to send or whether a message is legitimate: that is the node's.

mod bootstrap;
mod commands;
mod outputs;
mod swarm;

use crate::behaviour::Behaviour;
use crate::{Command, ConnectedPeer, LiveEvent, NetError, PeerConfig, PeerStatus, lock, wire};
use futures::{FutureExt, StreamExt};
use libp2p::gossipsub::{self, MessageId};
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, Swarm};
use passcom_crdt::AirlineId;
use passcom_node::{Input, Node, Output, Reply, Request, RequestId, Timer};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

/// At most this many requests or swarm events join one batch (one commit).
const MAX_BATCH: usize = 256;
/// How often bootstrap peers are checked and re-dialled.
const MAINTAIN_EVERY: Duration = Duration::from_millis(500);
/// First and largest wait before re-dialling a bootstrap peer that could not be reached.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// At most this many bootstrap addresses, given at start or added by operators' dials.
const MAX_BOOTSTRAP: usize = 64;
/// Addresses remembered per peer, for re-dialling after a heal.
const MAX_ADDRS_PER_PEER: usize = 8;

/// A bootstrap address and what we know of it.
struct Boot {
    addr: Multiaddr,
    /// The peer found there last time.
    peer: Option<PeerId>,
    /// The dial in progress, if any.
    dialing: Option<ConnectionId>,
    next_try: Instant,
    backoff: Duration,
    /// It is our own address (a shared bootstrap list): never dial it.
    is_self: bool,
}

/// Inputs gathered for one batch, with what is needed to act on the node's verdicts.
#[derive(Default)]
struct Gathered {
    inputs: Vec<Input>,
    replies: Vec<(RequestId, oneshot::Sender<Reply>)>,
    /// Gossip messages handed to the node, to be reported Accept or Reject after it: (index
    /// in `inputs`, message id, propagation source).
    gossip: Vec<(usize, MessageId, PeerId)>,
    /// Direct messages handed to the node: (index in `inputs`, sender airline, its peer).
    direct: Vec<(usize, AirlineId, PeerId)>,
}

impl Gathered {
    fn len(&self) -> usize {
        self.inputs.len()
    }
}

pub(crate) struct Driver {
    airline: AirlineId,
    swarm: Swarm<Behaviour>,
    node: Arc<Mutex<Option<Node>>>,
    shared: Arc<Mutex<PeerStatus>>,
    requests: mpsc::Receiver<(Request, oneshot::Sender<Reply>)>,
    commands: mpsc::Receiver<Command>,
    live: broadcast::Sender<LiveEvent>,
    topic: gossipsub::IdentTopic,
    next_request: RequestId,
    /// Callers waiting for the reply of a request, by id. Bounded by the request queue and the
    /// node's purchase deadline: every request is answered or times out at the caller.
    waiting: HashMap<RequestId, oneshot::Sender<Reply>>,
    /// Timers by (when, which) on the monotonic clock; `timer_at` keeps one entry per
    /// distinct timer. The node's `at` is turned into a duration when the timer is set, so a
    /// wall clock that steps afterwards neither delays nor hastens it.
    timers: BTreeSet<(Instant, Timer)>,
    timer_at: BTreeMap<Timer, Instant>,
    /// Airline of every peer identified since start (kept after a disconnect, to recognise it
    /// when it comes back and to attribute gossip it authored).
    airline_of: HashMap<PeerId, AirlineId>,
    /// The connected peer of each airline, once identified.
    peer_of: BTreeMap<AirlineId, PeerId>,
    /// Connected peers that are not airlines (watchers, others).
    non_airlines: HashSet<PeerId>,
    /// Peers refused for claiming an airline that another key holds.
    impostors: HashSet<PeerId>,
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
    bootstrap: Vec<Boot>,
    cut_all: bool,
    cut: BTreeSet<AirlineId>,
    /// Peers blocked because of `partition` (unblocked by `heal`).
    cut_blocked: HashSet<PeerId>,
    /// Peers an operator hung up on (blocked until a dial names them, or a heal).
    hung_up: HashSet<PeerId>,
    /// Dials ordered by an operator, answered when they connect or fail; the address joins
    /// the bootstrap ones once connected.
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<String, NetError>>)>,
    listen: Vec<Multiaddr>,
    /// libp2p's recorder of swarm, identify and gossipsub events (the peer's registry).
    metrics: libp2p::metrics::Metrics,
    /// Airlines whose key the node's roster held after the last batch, to log each key the
    /// moment it is bound (on an open roster, the first key heard for an airline wins).
    keys_bound: BTreeSet<AirlineId>,
}

impl Driver {
    /// Prepares the driver: listens on the configured addresses and schedules the node's first
    /// outputs.
    ///
    /// Errors: an address cannot be listened on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cfg: &PeerConfig,
        mut swarm: Swarm<Behaviour>,
        node: Arc<Mutex<Option<Node>>>,
        shared: Arc<Mutex<PeerStatus>>,
        requests: mpsc::Receiver<(Request, oneshot::Sender<Reply>)>,
        commands: mpsc::Receiver<Command>,
        live: broadcast::Sender<LiveEvent>,
        first: Vec<Output>,
        metrics: libp2p::metrics::Metrics,
    ) -> Result<Driver, NetError> {
        for addr in &cfg.listen {
            swarm.listen_on(addr.clone()).map_err(|e| {
                NetError::Other(format!(
                    "cannot listen on {addr}: {e}; choose another --listen address"
                ))
            })?;
        }
        lock(&shared).peer_id = swarm.local_peer_id().to_string();
        let now = Instant::now();
        let mut d = Driver {
            airline: cfg.airline.clone(),
            swarm,
            node,
            shared,
            requests,
            commands,
            live,
            topic: gossipsub::IdentTopic::new(wire::EVENTS_TOPIC),
            next_request: 1,
            waiting: HashMap::new(),
            timers: BTreeSet::new(),
            timer_at: BTreeMap::new(),
            airline_of: HashMap::new(),
            peer_of: BTreeMap::new(),
            non_airlines: HashSet::new(),
            impostors: HashSet::new(),
            addrs: HashMap::new(),
            bootstrap: cfg
                .bootstrap
                .iter()
                .map(|a| Boot {
                    addr: a.clone(),
                    peer: None,
                    dialing: None,
                    next_try: now,
                    backoff: BACKOFF_MIN,
                    is_self: false,
                })
                .collect(),
            cut_all: false,
            cut: BTreeSet::new(),
            cut_blocked: HashSet::new(),
            hung_up: HashSet::new(),
            keys_bound: BTreeSet::new(),
            dials: HashMap::new(),
            listen: Vec::new(),
            metrics,
        };
        d.perform(first, &mut Gathered::default());
        Ok(d)
    }

    /// Runs until shutdown, or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut maintain = tokio::time::interval(MAINTAIN_EVERY);
        maintain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut g = Gathered::default();
            let next_timer = self.timers.first().map(|(at, _)| *at);
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown(ack)) => {
                        self.close();
                        let _ = ack.send(());
                        return;
                    }
                    Some(cmd) => self.on_command(cmd),
                    None => { self.close(); return; }
                },
                req = self.requests.recv() => match req {
                    Some((req, tx)) => {
                        self.add_request(req, tx, &mut g);
                        // Group commit: every request already queued joins this batch.
                        while g.len() < MAX_BATCH {
                            match self.requests.try_recv() {
                                Ok((req, tx)) => self.add_request(req, tx, &mut g),
                                Err(_) => break,
                            }
                        }
                    }
                    None => { self.close(); return; }
                },
                ev = self.swarm.select_next_some() => {
                    self.on_swarm_event(ev, &mut g);
                    while g.len() < MAX_BATCH {
                        match self.swarm.select_next_some().now_or_never() {
                            Some(ev) => self.on_swarm_event(ev, &mut g),
                            None => break,
                        }
                    }
                },
                _ = tokio::time::sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                    let now = Instant::now();
                    while let Some((at, _)) = self.timers.first() {
                        if *at > now { break; }
                        let (_, timer) = self.timers.pop_first().expect("checked");
                        self.timer_at.remove(&timer);
                        g.inputs.push(Input::Timer(timer));
                    }
                },
                _ = maintain.tick() => self.maintain(),
            }
            if !g.inputs.is_empty() {
                self.run_batch(g);
            }
        }
    }

    /// Closes everything: answers nobody further, closes connections and the database.
    fn close(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in peers {
            let _ = self.swarm.disconnect_peer_id(p);
        }
        // Dropping the node closes redb; pending purchases stay recorded and resume at restart.
        lock(&self.node).take();
        self.waiting.clear();
        lock(&self.shared).connected.clear();
    }

    fn emit(&self, kind: &str, detail: serde_json::Value) {
        let _ = self.live.send(LiveEvent {
            kind: kind.to_owned(),
            detail,
        });
    }

    fn add_request(&mut self, req: Request, tx: oneshot::Sender<Reply>, g: &mut Gathered) {
        let id = self.next_request;
        self.next_request += 1;
        g.inputs.push(Input::Request(id, req));
        g.replies.push((id, tx));
    }

    fn is_cut(&self, airline: &AirlineId) -> bool {
        self.cut_all || self.cut.contains(airline)
    }

    fn update_shared(&self) {
        let connected: Vec<ConnectedPeer> = self
            .swarm
            .connected_peers()
            .map(|p| ConnectedPeer {
                airline: self
                    .airline_of
                    .get(p)
                    .filter(|a| self.peer_of.get(*a) == Some(p))
                    .cloned(),
                peer_id: p.to_string(),
            })
            .collect();
        let mut s = lock(&self.shared);
        s.listen = self.listen.iter().map(|a| a.to_string()).collect();
        s.connected = connected;
        s.cut_off_from_all = self.cut_all;
        let mut hung_up: Vec<ConnectedPeer> = self
            .hung_up
            .iter()
            .map(|p| ConnectedPeer {
                airline: self.airline_of.get(p).cloned(),
                peer_id: p.to_string(),
            })
            .collect();
        hung_up.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        s.hung_up = hung_up;
        s.partitioned = if self.cut_all {
            let mut all: BTreeSet<AirlineId> = self.airline_of.values().cloned().collect();
            all.extend(self.cut.iter().cloned());
            all.into_iter().collect()
        } else {
            self.cut.iter().cloned().collect()
        };
    }
}
