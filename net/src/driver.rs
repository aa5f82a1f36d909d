//! The one task that owns the swarm and drives the node.
//!
//! Each turn of the `select!` loop takes whatever is ready — user requests, swarm events,
//! due timers — as node inputs, then calls [`Node::handle_batch`] ONCE with all of them at the
//! current time (so purchases arriving together share one redb commit), then performs the
//! outputs in order. The only decisions made here are transport ones: which connection carries
//! a message, whom to dial, whom to refuse while cut off.

use crate::behaviour::Behaviour;
use crate::{
    Command, ConnectedPeer, LiveEvent, NetError, NetShared, PeerConfig, lock, now_ms, wire,
};
use futures::{FutureExt, StreamExt};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::metrics::Recorder;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, request_response};
use passcom_crdt::{AirlineId, Millis};
use passcom_node::{Input, Message, Node, Output, Reply, Request, RequestId, Timer};
use serde_json::json;
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
    /// Gossip messages handed to the node, to be reported Accept or Reject after it.
    gossip: Vec<(MessageId, PeerId, AirlineId)>,
    /// Direct messages handed to the node: (sender airline, its peer).
    direct: Vec<(AirlineId, PeerId)>,
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
    shared: Arc<Mutex<NetShared>>,
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
        shared: Arc<Mutex<NetShared>>,
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

    /// Feeds one batch to the node and performs its outputs.
    fn run_batch(&mut self, mut g: Gathered) {
        for (id, tx) in g.replies.drain(..) {
            self.waiting.insert(id, tx);
        }
        let inputs = std::mem::take(&mut g.inputs);
        // The commit inside blocks on the disk: let the runtime move this worker's other
        // tasks (HTTP connections) elsewhere meanwhile.
        let outputs = crate::blocking(|| {
            let mut guard = lock(&self.node);
            guard.as_mut().map(|node| {
                let out = node.handle_batch(inputs, now_ms());
                // The roster only grows when a key is first bound: copy it only then.
                let grew = node.roster_len() != self.keys_bound.len();
                let roster = grew.then(|| (node.roster(), node.config().roster_closed));
                (out, roster)
            })
        });
        let Some((outputs, roster)) = outputs else {
            return;
        };
        if let Some((roster, closed)) = roster {
            self.log_new_keys(&roster, closed);
        }
        self.perform(outputs, &mut g);
    }

    /// Logs every airline key the roster bound since the last batch. On an open roster the
    /// first key heard for an airline wins for good, so an operator must see which key that
    /// was (a warning, also shown by `/admin/status`); a closed roster (`--roster`) only
    /// binds the keys it lists.
    fn log_new_keys(&mut self, roster: &BTreeMap<AirlineId, [u8; 32]>, closed: bool) {
        for (airline, key) in roster {
            if self.keys_bound.insert(airline.clone()) && *airline != self.airline {
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                if closed {
                    tracing::info!(%airline, key = %hex, "roster: key of {airline} (closed roster)");
                } else {
                    tracing::warn!(
                        %airline,
                        key = %hex,
                        "roster: {airline} is now bound to the first key heard for it (open roster: first key wins; pass --roster FILE to name the keys yourself)"
                    );
                }
            }
        }
    }

    /// Performs the node's outputs in order, then reports the verdict on every gossip message
    /// of the batch (Reject if the node rejected something from its author, else Accept).
    fn perform(&mut self, outputs: Vec<Output>, g: &mut Gathered) {
        let mut rejected: BTreeSet<AirlineId> = BTreeSet::new();
        for out in outputs {
            match out {
                Output::Send { to, msg } => self.send(&to, msg),
                Output::Broadcast(msg) => self.broadcast(msg),
                Output::SetTimer { at, timer } => {
                    let at = instant_of(at);
                    // One pending instance per timer: keep the earlier.
                    match self.timer_at.get(&timer) {
                        Some(old) if *old <= at => {}
                        old => {
                            if let Some(old) = old {
                                self.timers.remove(&(*old, timer.clone()));
                            }
                            self.timer_at.insert(timer.clone(), at);
                            self.timers.insert((at, timer));
                        }
                    }
                }
                Output::Reply(id, reply) => {
                    if let Some(tx) = self.waiting.remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
                Output::Rejected { from, reason } => {
                    tracing::warn!(%from, %reason, "rejected a message");
                    self.emit("rejected", json!({ "from": from, "reason": reason }));
                    rejected.insert(from);
                }
            }
        }
        for (id, source, author) in g.gossip.drain(..) {
            let verdict = if rejected.contains(&author) {
                MessageAcceptance::Reject
            } else {
                MessageAcceptance::Accept
            };
            self.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&id, &source, verdict);
        }
        for (airline, peer) in g.direct.drain(..) {
            if rejected.contains(&airline) {
                // A direct message cannot be scored like gossip: drop the link instead.
                tracing::warn!(%airline, %peer, "disconnecting a peer that sent a rejected message");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn is_cut(&self, airline: &AirlineId) -> bool {
        self.cut_all || self.cut.contains(airline)
    }

    /// Sends a message to the peer of `to` if it is connected; otherwise drops it (the node
    /// retries at its next tick, so the transport needs no queue of its own).
    fn send(&mut self, to: &AirlineId, msg: Message) {
        if self.is_cut(to) {
            return;
        }
        let Some(peer) = self.peer_of.get(to).copied() else {
            tracing::debug!(%to, kind = msg.kind(), "not connected; dropped");
            return;
        };
        for part in wire::chunk(msg) {
            self.swarm.behaviour_mut().direct.send_request(&peer, part);
        }
    }

    fn broadcast(&mut self, msg: Message) {
        if let Message::Events { events } = &msg {
            for ev in events {
                self.emit(
                    "event",
                    json!({
                        "origin": ev.origin, "seq": ev.seq, "tokens": ev.tokens.len(),
                        "tickets": ev.tickets.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                        "catalog_changes": ev.catalog.len(),
                    }),
                );
            }
        }
        for part in wire::chunk(msg) {
            let bytes = match wire::encode(&part) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a broadcast");
                    continue;
                }
            };
            // Publishing fails when no peer is subscribed (alone, or cut off): the node's
            // vector-clock exchange delivers the events once peers are back.
            if let Err(e) = self
                .swarm
                .behaviour_mut()
                .gossip
                .publish(self.topic.clone(), bytes)
            {
                tracing::debug!(error = %e, "gossip publish failed; catch-up will deliver");
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Commands

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Partition(peers, ack) => {
                if peers.is_empty() {
                    self.cut_all = true;
                } else {
                    self.cut.extend(peers.iter().cloned());
                }
                let doomed: Vec<PeerId> = self
                    .swarm
                    .connected_peers()
                    .copied()
                    .filter(|p| {
                        self.cut_all || self.airline_of.get(p).is_some_and(|a| self.cut.contains(a))
                    })
                    .collect();
                for p in doomed {
                    self.block_for_cut(p);
                }
                // Known peers of cut airlines that are not connected now must not get in either.
                let known: Vec<PeerId> = self
                    .airline_of
                    .iter()
                    .filter(|(_, a)| self.is_cut(a))
                    .map(|(p, _)| *p)
                    .collect();
                for p in known {
                    self.block_for_cut(p);
                }
                self.emit("partition", json!({ "peers": peers, "all": self.cut_all }));
                self.update_shared();
                let _ = ack.send(());
            }
            Command::Heal(peers, ack) => {
                if peers.is_empty() {
                    self.cut_all = false;
                    self.cut.clear();
                } else {
                    for p in &peers {
                        self.cut.remove(p);
                    }
                }
                // A heal also ends hang-ups of the airlines it names (all when none).
                let released: Vec<PeerId> = self
                    .hung_up
                    .iter()
                    .copied()
                    .filter(|p| {
                        peers.is_empty()
                            || self.airline_of.get(p).is_some_and(|a| peers.contains(a))
                    })
                    .collect();
                for p in released {
                    self.hung_up.remove(&p);
                    if !self.cut_blocked.contains(&p) {
                        self.let_back_in(p);
                    }
                }
                let freed: Vec<PeerId> = self
                    .cut_blocked
                    .iter()
                    .copied()
                    .filter(|p| {
                        self.airline_of.get(p).is_none_or(|a| !self.is_cut(a)) && !self.cut_all
                    })
                    .collect();
                for p in freed {
                    self.cut_blocked.remove(&p);
                    if !self.hung_up.contains(&p) {
                        self.let_back_in(p);
                    }
                }
                for b in &mut self.bootstrap {
                    b.next_try = Instant::now();
                    b.backoff = BACKOFF_MIN;
                }
                self.maintain();
                self.emit("heal", json!({ "peers": peers }));
                self.update_shared();
                let _ = ack.send(());
            }
            Command::Dial(addr, reply) => self.dial(addr, reply),
            Command::Hangup(who, reply) => {
                let r = self.hangup(&who);
                let _ = reply.send(r);
            }
            Command::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }

    /// Unblocks `p` and re-dials it at the addresses it was seen at.
    fn let_back_in(&mut self, p: PeerId) {
        if self.impostors.contains(&p) {
            return;
        }
        self.swarm.behaviour_mut().blocked.unblock_peer(p);
        if let Some(addrs) = self.addrs.get(&p).cloned() {
            let opts = DialOpts::peer_id(p)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            let _ = self.swarm.dial(opts);
        }
    }

    /// An operator's dial: lets a hung-up peer at `addr` back in, dials, and once connected
    /// keeps the address among the bootstrap ones (re-dialled after drops). Answered on
    /// `reply` when the connection is up or the dial failed (a failed dial leaves nothing).
    fn dial(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<String, NetError>>) {
        let named = addr.iter().find_map(|p| match p {
            Protocol::P2p(id) => Some(id),
            _ => None,
        });
        let bare = without_peer_id(&addr);
        if named == Some(*self.swarm.local_peer_id())
            || self.listen.iter().any(|a| without_peer_id(a) == bare)
        {
            let _ = reply.send(Err(NetError::Invalid(format!(
                "{addr} is this peer's own address; dial another peer"
            ))));
            return;
        }
        if self.cut_all {
            let _ = reply.send(Err(NetError::Invalid(
                "this peer is cut off from everyone by partition; heal it first".into(),
            )));
            return;
        }
        let back: Vec<PeerId> = self
            .hung_up
            .iter()
            .copied()
            .filter(|p| {
                named == Some(*p)
                    || self
                        .addrs
                        .get(p)
                        .is_some_and(|l| l.iter().any(|a| without_peer_id(a) == bare))
            })
            .collect();
        for p in back {
            self.hung_up.remove(&p);
            if !self.cut_blocked.contains(&p) {
                self.swarm.behaviour_mut().blocked.unblock_peer(p);
            }
        }
        if let Some(p) = named {
            if self.cut_blocked.contains(&p) {
                let who = self
                    .airline_of
                    .get(&p)
                    .map_or(p.to_string(), |a| a.to_string());
                let _ = reply.send(Err(NetError::Invalid(format!(
                    "{who} is cut off by partition; heal it instead"
                ))));
                return;
            }
            if self.swarm.is_connected(&p) {
                self.keep_dialling(addr, p);
                self.update_shared();
                let _ = reply.send(Ok(p.to_string()));
                return;
            }
        }
        let opts = match named {
            Some(p) => DialOpts::peer_id(p).addresses(vec![addr.clone()]).build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, (addr, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(NetError::Unreachable(format!(
                    "cannot dial {addr}: {e}"
                ))));
            }
        }
        self.update_shared();
    }

    /// Adds `addr`, where `peer` answered, to the bootstrap addresses unless it is there
    /// already or [`MAX_BOOTSTRAP`] are kept.
    fn keep_dialling(&mut self, addr: Multiaddr, peer: PeerId) {
        if self.bootstrap.iter().any(|b| b.addr == addr) {
            return;
        }
        if self.bootstrap.len() >= MAX_BOOTSTRAP {
            tracing::warn!(%addr, "not re-dialled after drops: {MAX_BOOTSTRAP} addresses are already");
            return;
        }
        self.bootstrap.push(Boot {
            addr,
            peer: Some(peer),
            dialing: None,
            next_try: Instant::now(),
            backoff: BACKOFF_MIN,
            is_self: false,
        });
    }

    /// An operator's hang-up: disconnects the peer named by `who` (airline or peer id) and
    /// blocks it both ways until a dial names it or a heal.
    fn hangup(&mut self, who: &str) -> Result<ConnectedPeer, NetError> {
        let who = who.trim();
        let (peer, airline) = if let Ok(p) = who.parse::<PeerId>() {
            if p == *self.swarm.local_peer_id() {
                return Err(NetError::Invalid(format!(
                    "{who} is this peer itself; name another peer"
                )));
            }
            let seen = self.swarm.is_connected(&p)
                || self.airline_of.contains_key(&p)
                || self.addrs.contains_key(&p);
            if !seen {
                return Err(NetError::Unknown(format!(
                    "peer {p} is not connected and was not seen since start; see `passcom status`"
                )));
            }
            (p, self.airline_of.get(&p).cloned())
        } else if wire::valid_airline_name(who) {
            let airline = AirlineId::new(who);
            let peer = self.peer_of.get(&airline).copied().or_else(|| {
                self.airline_of
                    .iter()
                    .find(|(_, a)| **a == airline)
                    .map(|(p, _)| *p)
            });
            match peer {
                Some(p) => (p, Some(airline)),
                None if airline == self.airline => {
                    return Err(NetError::Invalid(format!(
                        "{who} is this peer itself; name another airline"
                    )));
                }
                None => {
                    return Err(NetError::Unknown(format!(
                        "no peer of airline {who} was seen since start; see `passcom status`"
                    )));
                }
            }
        } else {
            return Err(NetError::Invalid(format!(
                "{who:?} is neither an airline name (a-z, 0-9, - and _) nor a libp2p peer id"
            )));
        };
        if peer == *self.swarm.local_peer_id() || airline.as_ref() == Some(&self.airline) {
            return Err(NetError::Invalid(format!(
                "{who} is this peer itself; name another peer"
            )));
        }
        self.hung_up.insert(peer);
        // Blocking closes the peer's connections and refuses new ones in both directions.
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.emit(
            "hangup",
            json!({ "airline": airline, "peer_id": peer.to_string() }),
        );
        self.update_shared();
        Ok(ConnectedPeer {
            airline,
            peer_id: peer.to_string(),
        })
    }

    fn block_for_cut(&mut self, p: PeerId) {
        self.cut_blocked.insert(p);
        // Blocking closes the peer's connections and refuses new ones in both directions.
        self.swarm.behaviour_mut().blocked.block_peer(p);
    }

    /// Re-dials bootstrap peers that are not connected, with bounded exponential backoff.
    fn maintain(&mut self) {
        // Callers that gave up waiting (their request timed out) leave a closed sender.
        self.waiting.retain(|_, tx| !tx.is_closed());
        self.dials.retain(|_, (_, tx)| !tx.is_closed());
        if self.cut_all {
            return;
        }
        let now = Instant::now();
        for i in 0..self.bootstrap.len() {
            let b = &self.bootstrap[i];
            if b.is_self || b.dialing.is_some() || now < b.next_try {
                continue;
            }
            if let Some(p) = b.peer
                && (self.swarm.is_connected(&p)
                    || self.cut_blocked.contains(&p)
                    || self.hung_up.contains(&p)
                    || self.impostors.contains(&p))
            {
                continue;
            }
            let addr = b.addr.clone();
            let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
            let id = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => self.bootstrap[i].dialing = Some(id),
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "cannot dial bootstrap peer");
                    self.backoff(i);
                }
            }
        }
    }

    fn backoff(&mut self, i: usize) {
        let b = &mut self.bootstrap[i];
        b.dialing = None;
        b.next_try = Instant::now() + b.backoff;
        b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
    }

    // ----------------------------------------------------------------------------------------
    // Swarm events

    fn on_swarm_event(
        &mut self,
        ev: SwarmEvent<crate::behaviour::BehaviourEvent>,
        g: &mut Gathered,
    ) {
        self.metrics.record(&ev);
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(airline = %self.airline, %address, "listening");
                self.listen.push(address);
                self.update_shared();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen.retain(|a| a != &address);
                self.update_shared();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let Some(i) = self
                    .bootstrap
                    .iter()
                    .position(|b| b.dialing == Some(connection_id))
                {
                    let b = &mut self.bootstrap[i];
                    b.dialing = None;
                    b.peer = Some(peer_id);
                    b.backoff = BACKOFF_MIN;
                }
                let cut = self.cut_all
                    || self
                        .airline_of
                        .get(&peer_id)
                        .is_some_and(|a| self.is_cut(a));
                let dial = match self.dials.remove(&connection_id) {
                    Some((addr, tx)) if !cut && !self.hung_up.contains(&peer_id) => {
                        self.keep_dialling(addr, peer_id);
                        Some(tx)
                    }
                    other => other.map(|(_, tx)| tx),
                };
                if cut || self.impostors.contains(&peer_id) || self.hung_up.contains(&peer_id) {
                    // Inbound from a peer we are cut off from: refuse it at once.
                    let _ = self.swarm.close_connection(connection_id);
                    if let Some(tx) = dial {
                        let _ = tx.send(Err(NetError::Invalid(format!(
                            "{peer_id} is cut off by partition or refused; heal it instead"
                        ))));
                    }
                    return;
                }
                if let Some(tx) = dial {
                    let _ = tx.send(Ok(peer_id.to_string()));
                }
                if let ConnectedPoint::Dialer { address, .. } = endpoint {
                    self.remember_addr(peer_id, address);
                }
                self.update_shared();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.non_airlines.remove(&peer_id);
                if let Some(airline) = self.airline_of.get(&peer_id).cloned()
                    && self.peer_of.get(&airline) == Some(&peer_id)
                {
                    self.peer_of.remove(&airline);
                    tracing::info!(airline = %self.airline, peer = %airline, "disconnected");
                    self.emit(
                        "disconnected",
                        json!({ "airline": airline, "peer_id": peer_id.to_string() }),
                    );
                    g.inputs.push(Input::Disconnected(airline));
                }
                self.update_shared();
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((_, tx)) = self.dials.remove(&connection_id) {
                    let e = match &error {
                        DialError::LocalPeerId { .. } => NetError::Invalid(
                            "that address is this peer's own; dial another peer".into(),
                        ),
                        DialError::Denied { .. } => NetError::Invalid(
                            "the peer there is cut off by partition; heal it instead".into(),
                        ),
                        other => NetError::Unreachable(format!("the dial failed: {other}")),
                    };
                    let _ = tx.send(Err(e));
                }
                if let Some(i) = self
                    .bootstrap
                    .iter()
                    .position(|b| b.dialing == Some(connection_id))
                {
                    if matches!(error, DialError::LocalPeerId { .. }) {
                        self.bootstrap[i].is_self = true;
                    }
                    tracing::debug!(addr = %self.bootstrap[i].addr, %error, "bootstrap dial failed");
                    self.backoff(i);
                }
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour_event(b, g),
            _ => {}
        }
    }

    fn remember_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        let list = self.addrs.entry(peer).or_default();
        if !list.contains(&addr) {
            if list.len() >= MAX_ADDRS_PER_PEER {
                list.remove(0);
            }
            list.push(addr);
        }
    }

    fn on_behaviour_event(&mut self, ev: crate::behaviour::BehaviourEvent, g: &mut Gathered) {
        use crate::behaviour::BehaviourEvent as B;
        match &ev {
            B::Identify(e) => self.metrics.record(e),
            B::Gossip(e) => self.metrics.record(e),
            _ => {}
        }
        match ev {
            B::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identified(peer_id, info, g)
            }
            B::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message, g),
            B::Direct(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let _ = self.swarm.behaviour_mut().direct.send_response(channel, ());
                        match self.airline_of.get(&peer).cloned() {
                            Some(from)
                                if self.peer_of.get(&from) == Some(&peer)
                                    && !self.is_cut(&from) =>
                            {
                                self.emit("message", json!({ "from": from, "kind": request.kind(), "via": "direct" }));
                                g.inputs.push(Input::Message {
                                    from: from.clone(),
                                    msg: request,
                                });
                                g.direct.push((from, peer));
                            }
                            _ => {
                                tracing::debug!(%peer, "direct message from an unidentified peer; dropped")
                            }
                        }
                    }
                    request_response::Message::Response { .. } => {}
                }
            }
            B::Direct(request_response::Event::OutboundFailure { peer, error, .. }) => {
                tracing::debug!(%peer, %error, "direct message failed; the node retries");
            }
            B::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.remember_addr(peer, addr.clone());
                    if self.cut_all
                        || self.cut_blocked.contains(&peer)
                        || self.hung_up.contains(&peer)
                        || self.impostors.contains(&peer)
                    {
                        continue;
                    }
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            _ => {}
        }
    }

    /// Identify told us who the remote is: map its peer id to its airline, give the node its
    /// key, and tell the node it is reachable — or refuse it.
    fn on_identified(&mut self, peer: PeerId, info: identify::Info, g: &mut Gathered) {
        for a in info.listen_addrs.iter().take(MAX_ADDRS_PER_PEER) {
            if !a
                .iter()
                .any(|p| matches!(p, libp2p::multiaddr::Protocol::Ip4(ip) if ip.is_unspecified()))
            {
                self.remember_addr(peer, a.clone());
            }
        }
        if info.public_key.to_peer_id() != peer {
            tracing::warn!(%peer, "identify key does not match the peer id; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let airline = match wire::parse_agent(&info.agent_version) {
            wire::Agent::Airline(a) => a,
            wire::Agent::Watcher | wire::Agent::Other => {
                self.non_airlines.insert(peer);
                self.update_shared();
                return;
            }
        };
        if let Some(known) = self.airline_of.get(&peer) {
            if known != &airline {
                tracing::warn!(%peer, %known, claimed = %airline, "a peer changed its airline; disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            if self.peer_of.get(&airline) == Some(&peer) {
                return; // periodic re-identification
            }
        }
        let Some(key) = crate::identity::ed25519_public(&info.public_key) else {
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        };
        // The key goes to the node in a batch of its own, so that we can tell right away
        // whether this peer claims an airline that another key holds (or our own).
        let (outputs, bound) = {
            let mut guard = lock(&self.node);
            let Some(node) = guard.as_mut() else { return };
            let outputs = node.handle(
                Input::PeerKey {
                    airline: airline.clone(),
                    key,
                },
                now_ms(),
            );
            // Whether the node now binds this airline to this key. Asking the roster rather
            // than reading `Rejected` outputs matters: learning a key also re-checks events
            // deferred for it, whose rejections the node attributes to this airline although
            // anyone may have sent them.
            let bound = node.roster().get(&airline) == Some(&key);
            (outputs, bound)
        };
        let impostor = airline == self.airline || !bound;
        let rest: Vec<Output> = outputs
            .into_iter()
            .filter(|o| !matches!(o, Output::Rejected { from, .. } if from == &airline && impostor))
            .collect();
        self.perform(rest, &mut Gathered::default());
        if impostor {
            tracing::warn!(%peer, claimed = %airline, "refusing a peer that claims an airline another key holds");
            self.emit("rejected", json!({ "from": airline, "peer_id": peer.to_string(), "reason": format!("a second key claims to be {airline}") }));
            self.impostors.insert(peer);
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            return;
        }
        self.airline_of.insert(peer, airline.clone());
        if self.is_cut(&airline) {
            self.block_for_cut(peer);
            return;
        }
        if let Some(old) = self.peer_of.insert(airline.clone(), peer)
            && old != peer
        {
            // Same key, so same peer id: cannot differ. Kept for safety.
            let _ = self.swarm.disconnect_peer_id(old);
        }
        tracing::info!(airline = %self.airline, peer = %airline, "connected");
        self.emit(
            "connected",
            json!({ "airline": airline, "peer_id": peer.to_string() }),
        );
        g.inputs.push(Input::Connected(airline));
        self.update_shared();
    }

    fn on_gossip(
        &mut self,
        source: PeerId,
        id: MessageId,
        message: gossipsub::Message,
        g: &mut Gathered,
    ) {
        let verdict = |d: &mut Self, v| {
            d.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&id, &source, v);
        };
        let msg = match wire::decode(&message.data) {
            Ok(m @ Message::Events { .. }) => m,
            Ok(other) => {
                tracing::warn!(%source, kind = other.kind(), "only events travel on gossip; rejected");
                return verdict(self, MessageAcceptance::Reject);
            }
            Err(e) => {
                tracing::warn!(%source, error = %e, "undecodable gossip; rejected");
                return verdict(self, MessageAcceptance::Reject);
            }
        };
        let Some(author) = message.source else {
            return verdict(self, MessageAcceptance::Reject); // unsigned: impossible in Strict mode
        };
        let Some(airline) = self.airline_of.get(&author).cloned() else {
            // A watcher or other non-airline authored it: never entitled to publish events.
            if self.non_airlines.contains(&author) {
                return verdict(self, MessageAcceptance::Reject);
            }
            // An airline not identified yet: let catch-up bring its events instead.
            return verdict(self, MessageAcceptance::Ignore);
        };
        if self.is_cut(&airline) || self.airline_of.get(&source).is_some_and(|a| self.is_cut(a)) {
            return verdict(self, MessageAcceptance::Ignore);
        }
        self.emit(
            "message",
            json!({ "from": airline, "kind": msg.kind(), "via": "gossip" }),
        );
        g.inputs.push(Input::Message {
            from: airline.clone(),
            msg,
        });
        g.gossip.push((id, source, airline));
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

/// `addr` without its trailing `/p2p/<peer-id>`, to compare addresses with and without it.
fn without_peer_id(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

/// The monotonic instant of a wall-clock time in ms (now if it is past), read once, when the
/// timer is set.
fn instant_of(at: Millis) -> Instant {
    let delta = (at - now_ms()).max(0) as u64;
    Instant::now() + Duration::from_millis(delta)
}
