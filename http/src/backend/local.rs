//! [`LocalBackend`]: one airline's [`Node`] driven in this process, without any network.
//!
//! It serves the whole traveler API of one airline (search, seat maps, carts, purchases,
//! tickets, cancellation) and the operator's catalog edits, with the very same state machine
//! as a libp2p peer, so API tests need no libp2p peer, no port but the HTTP one, and no
//! waiting for a network to form.
//!
//! How it drives the node:
//! - a request is one batch, `node.handle(Input::Request(id, req), now)` at the wall clock;
//!   its reply is taken from the outputs (the node commits before it answers, as under the
//!   libp2p driver);
//! - the node's timers (`Output::SetTimer`: ticks, cart expiry, purchase deadlines) are fired
//!   back at it by a task on the tokio runtime, so carts lapse and a purchase that waits for a
//!   seat held by another airline (`Pending`, which nobody can answer here) is refused at its
//!   deadline — `Refusal::Timeout`, like a peer whose partners are out of reach. A reply that
//!   does not come within the purchase deadline plus a margin is refused the same way;
//! - messages for other peers (`Output::Send`, `Output::Broadcast`) go nowhere: there are none.
//!   Events this peer writes are still reported on the live stream (kind `event`), and
//!   rejections (kind `rejected`), with the same details as the libp2p driver's;
//! - the network report is [`PeerStatus::offline`]: no peer id, address or connection.
//!   Partition, heal, dial and hang-up are refused with [`NetError::Invalid`].

use super::Backend;
use futures::future::BoxFuture;
use passcom_crdt::{AirlineId, FlightId, Millis};
use passcom_node::memdisk::MemDisk;
use passcom_node::{
    Config, Input, LiveEvent, Message, NetError, Node, OpenError, Output, PeerStatus, Refusal,
    Reply, Request, RequestId, Store, Timer,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, oneshot};

/// Bound of the live event stream (a slow reader loses the oldest events).
const LIVE_QUEUE: usize = 1024;
/// Time given to a request beyond the node's purchase deadline before it counts as lost.
const REPLY_MARGIN: Duration = Duration::from_secs(5);

/// One airline's [`Node`] in this process, behind a mutex, as a [`Backend`] of the API.
///
/// Create it with [`LocalBackend::start`] (any [`Store`]) or [`LocalBackend::in_memory`]
/// inside a tokio runtime (it spawns the task that fires the node's timers; the task ends
/// when the backend is dropped). See the [module documentation](self) for what it does with
/// each output of the node.
pub struct LocalBackend {
    airline: AirlineId,
    state: Arc<Mutex<Local>>,
    live: broadcast::Sender<LiveEvent>,
    /// Wakes the timer task: a timer was set, or the backend is dropped.
    wake: Arc<Notify>,
    reply_timeout: Duration,
}

/// What the mutex guards: the node and the driver's bookkeeping around it.
struct Local {
    node: Node,
    next_request: RequestId,
    /// Requests waiting for their reply, by id.
    waiting: HashMap<RequestId, oneshot::Sender<Reply>>,
    /// The pending timers, one instance each (the earlier wins), at wall-clock times.
    timers: BTreeMap<Timer, Millis>,
}

impl LocalBackend {
    /// Opens a node of `cfg.airline` over `store` at the wall clock and starts firing its
    /// timers on the current tokio runtime.
    ///
    /// Returns the running backend. Errors: those of [`Node::open`] (the store cannot be read
    /// or belongs to another airline, a key is invalid, two airlines share a flight-id code).
    ///
    /// Panics: outside a tokio runtime.
    pub fn start(cfg: Config, store: Store) -> Result<LocalBackend, OpenError> {
        let airline = cfg.airline.clone();
        let reply_timeout =
            Duration::from_millis(cfg.purchase_timeout_ms.max(0) as u64) + REPLY_MARGIN;
        let (node, first) = Node::open(cfg, store, now_ms())?;
        let (live, _) = broadcast::channel(LIVE_QUEUE);
        let state = Arc::new(Mutex::new(Local {
            node,
            next_request: 1,
            waiting: HashMap::new(),
            timers: BTreeMap::new(),
        }));
        let wake = Arc::new(Notify::new());
        lock(&state).perform(first, &live);
        tokio::spawn(fire_timers(
            Arc::downgrade(&state),
            live.clone(),
            wake.clone(),
        ));
        Ok(LocalBackend {
            airline,
            state,
            live,
            wake,
            reply_timeout,
        })
    }

    /// [`LocalBackend::start`] over a new, empty database in memory
    /// ([`passcom_node::memdisk::MemDisk`]): nothing is written to disk, everything is gone
    /// when the backend is dropped.
    ///
    /// Errors: as [`LocalBackend::start`] (a key of `cfg` is invalid, two airlines share a
    /// flight-id code). Panics: outside a tokio runtime.
    pub fn in_memory(cfg: Config) -> Result<LocalBackend, OpenError> {
        let db = MemDisk::new()
            .open_database()
            .expect("an empty device in memory always holds a new database");
        let store = Store::from_database(db, format!("memory:{}", cfg.airline))?;
        LocalBackend::start(cfg, store)
    }

    /// Loads the demo catalog of this airline ([`passcom_node::demo`]): the 27 capitals and
    /// `days` days of its flights from today (UTC), every seat sold here (no escrow, since no
    /// partner can be reached). Does nothing if the airline already has flights.
    ///
    /// Errors: the node's reply when it refuses the airports or the flights. An airline that
    /// is not one of [`passcom_node::demo::DEMO_AIRLINES`] gets the airports and no flight.
    pub async fn load_demo_catalog(&self, days: u32) -> Result<(), Reply> {
        let me = self.airline.clone();
        if super::read(self, |n| n.catalog().flights().any(|f| f.airline == me)) {
            return Ok(());
        }
        let now = now_ms();
        let first_day = now - now.rem_euclid(passcom_node::demo::DAY_MS);
        let flights = passcom_node::demo::demo_flights(&me, first_day, days, 0.0, &[]);
        for req in [
            Request::PutAirports(passcom_node::demo::demo_airports()),
            Request::PutFlights(flights),
        ] {
            match Backend::request(self, req).await {
                Reply::Done => {}
                other => return Err(other),
            }
        }
        Ok(())
    }

    /// This backend's airline.
    pub fn airline(&self) -> &AirlineId {
        &self.airline
    }

    /// Submits `req` as one batch and returns the receiver of its reply (already answered
    /// unless the node left the request pending).
    fn submit(&self, req: Request) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        let mut s = lock(&self.state);
        let id = s.next_request;
        s.next_request += 1;
        s.waiting.insert(id, tx);
        let out = s.node.handle(Input::Request(id, req), now_ms());
        s.perform(out, &self.live);
        drop(s);
        // A timer may have been set earlier than the one the task sleeps for.
        self.wake.notify_one();
        rx
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        // The timer task holds only a weak reference: woken, it finds the node gone and ends.
        self.wake.notify_one();
    }
}

impl Local {
    /// Performs the node's outputs: replies to their waiters, timers recorded, events and
    /// rejections reported on the live stream; messages to peers dropped (there are none).
    fn perform(&mut self, outputs: Vec<Output>, live: &broadcast::Sender<LiveEvent>) {
        for out in outputs {
            match out {
                Output::Reply(id, reply) => {
                    if let Some(tx) = self.waiting.remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
                Output::SetTimer { at, timer } => {
                    let slot = self.timers.entry(timer).or_insert(at);
                    *slot = (*slot).min(at);
                }
                Output::Broadcast(Message::Events { events }) => {
                    for ev in events {
                        emit(
                            live,
                            "event",
                            json!({
                                "origin": ev.origin, "seq": ev.seq, "tokens": ev.tokens.len(),
                                "tickets": ev.tickets.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                                "catalog_changes": ev.catalog.len(),
                            }),
                        );
                    }
                }
                Output::Rejected { from, reason, .. } => {
                    emit(live, "rejected", json!({ "from": from, "reason": reason }));
                }
                Output::Broadcast(_) | Output::Send { .. } => {}
            }
        }
    }
}

/// Fires the node's timers when they are due, as one batch, until the backend is dropped.
async fn fire_timers(
    state: Weak<Mutex<Local>>,
    live: broadcast::Sender<LiveEvent>,
    wake: Arc<Notify>,
) {
    loop {
        let next = {
            let Some(state) = state.upgrade() else { return };
            let s = lock(&state);
            s.timers.values().min().copied()
        };
        match next {
            Some(at) => {
                let delay = Duration::from_millis((at - now_ms()).max(0) as u64);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = wake.notified() => continue,
                }
            }
            None => {
                wake.notified().await;
                continue;
            }
        }
        let Some(state) = state.upgrade() else { return };
        let mut s = lock(&state);
        let now = now_ms();
        let due: Vec<Timer> = s
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        if due.is_empty() {
            continue;
        }
        for t in &due {
            s.timers.remove(t);
        }
        let out = s
            .node
            .handle_batch(due.into_iter().map(Input::Timer).collect(), now);
        s.perform(out, &live);
    }
}

impl Backend for LocalBackend {
    /// Answers from the node; a request it leaves pending is answered when a later batch (a
    /// timer) decides it, and one not answered within the purchase deadline plus a margin is
    /// refused with `Refusal::Timeout` naming its first flight.
    fn request(&self, req: Request) -> BoxFuture<'_, Reply> {
        let flight = match &req {
            Request::Purchase(p) => p.legs.first().map(|l| l.flight.clone()),
            Request::Hold(h) => h.legs.first().map(|l| l.flight.clone()),
            _ => None,
        }
        .unwrap_or_else(|| FlightId::new(""));
        let rx = self.submit(req);
        let limit = self.reply_timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, rx).await {
                Ok(Ok(reply)) => reply,
                _ => Reply::Refused(Refusal::Timeout { flight }),
            }
        })
    }

    fn with_node(&self, f: &mut dyn FnMut(&Node)) {
        f(&lock(&self.state).node)
    }

    fn now(&self) -> Millis {
        now_ms()
    }

    /// [`PeerStatus::offline`] with the node's vector clock.
    fn status(&self) -> PeerStatus {
        let clock = lock(&self.state).node.clock().clone();
        PeerStatus::offline(self.airline.clone(), clock)
    }

    /// Refused with [`NetError::Invalid`]: there is no network to cut.
    fn partition(&self, peers: Vec<AirlineId>) -> BoxFuture<'_, Result<(), NetError>> {
        let _ = peers;
        Box::pin(async {
            Err(NetError::Invalid(
                "this peer runs without a network: there is nothing to partition".into(),
            ))
        })
    }

    /// Refused with [`NetError::Invalid`]: there is no network to heal.
    fn heal(&self, peers: Vec<AirlineId>) -> BoxFuture<'_, Result<(), NetError>> {
        let _ = peers;
        Box::pin(async {
            Err(NetError::Invalid(
                "this peer runs without a network: there is nothing to heal".into(),
            ))
        })
    }

    fn events(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }
}

fn emit(live: &broadcast::Sender<LiveEvent>, kind: &str, detail: serde_json::Value) {
    let _ = live.send(LiveEvent {
        kind: kind.to_owned(),
        detail,
    });
}

/// The current time in ms since the Unix epoch: the only clock this backend reads.
fn now_ms() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as Millis
}

/// Locks the node, going on after a panic of another holder: the node's in-memory state
/// always equals what is committed, so it stays valid even if a reader panicked.
fn lock(m: &Mutex<Local>) -> MutexGuard<'_, Local> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
