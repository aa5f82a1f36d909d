//! Helpers shared by the network tests: peers on 127.0.0.1 with OS-chosen ports, small
//! catalogs, bounded waits and full-state snapshots.

#![allow(dead_code)]

use passcom_crdt::{AirlineId, Flight, FlightId, SeatId, TicketId, Token, TokenState, VectorClock};
use passcom_net::{PeerConfig, PeerHandle};
use passcom_node::{LegRequest, PurchaseRequest, Reply, Request, Ticket, TicketStatus, fixtures};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// A node tick short enough that catch-up and retries happen quickly in tests.
pub const TICK_MS: i64 = 200;

/// Installs a log subscriber once (RUST_LOG chooses what shows; nothing by default).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The configuration of a test peer: fast tick, no demo catalog unless asked.
pub fn config(airline: &str, dir: &Path, bootstrap: Vec<libp2p::Multiaddr>) -> PeerConfig {
    let mut cfg = PeerConfig::new(airline, dir);
    cfg.bootstrap = bootstrap;
    cfg.node.tick_ms = TICK_MS;
    cfg.node.purchase_timeout_ms = 4_000;
    cfg
}

/// Starts a test peer.
pub async fn start(airline: &str, dir: &Path, bootstrap: Vec<libp2p::Multiaddr>) -> PeerHandle {
    passcom_net::start(config(airline, dir, bootstrap))
        .await
        .expect("peer starts")
}

/// Polls `cond` every 50 ms until it holds, panicking with `what` after `secs` seconds.
pub async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Awaits `fut`, panicking with `what` after `secs` seconds.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s: {what}"))
}

/// The first address `h` listens on, once it listens.
pub async fn addr(h: &PeerHandle) -> libp2p::Multiaddr {
    wait_for(10, "a listen address", || !h.status().listen.is_empty()).await;
    h.status().listen[0].parse().expect("a multiaddr")
}

/// The airlines `h` is connected to.
pub fn connected_airlines(h: &PeerHandle) -> BTreeSet<AirlineId> {
    h.status()
        .connected
        .into_iter()
        .filter_map(|c| c.airline)
        .collect()
}

/// Waits until every peer is connected to every other.
pub async fn wait_full_mesh(peers: &[&PeerHandle]) {
    wait_for(20, "every peer connected to every other", || {
        peers.iter().all(|p| {
            let c = connected_airlines(p);
            peers
                .iter()
                .filter(|q| q.airline() != p.airline())
                .all(|q| c.contains(q.airline()))
        })
    })
    .await;
}

/// Three peers on 127.0.0.1 that dial each other, in `root/<airline>`.
pub async fn three_peers(root: &Path) -> (PeerHandle, PeerHandle, PeerHandle) {
    three_peers_with(root, false).await
}

/// Three peers on 127.0.0.1 that dial each other, in `root/<airline>`, with the demo catalog
/// loaded at first start when `demo` is set.
pub async fn three_peers_with(root: &Path, demo: bool) -> (PeerHandle, PeerHandle, PeerHandle) {
    let start = |airline: &'static str, bootstrap: Vec<libp2p::Multiaddr>| {
        let mut cfg = config(airline, &root.join(airline), bootstrap);
        cfg.demo_catalog = demo;
        async move { passcom_net::start(cfg).await.expect("peer starts") }
    };
    let rumos = start("rumos", vec![]).await;
    let a = addr(&rumos).await;
    let giro = start("giro", vec![a.clone()]).await;
    let b = addr(&giro).await;
    let boreal = start("boreal", vec![a, b]).await;
    wait_full_mesh(&[&rumos, &giro, &boreal]).await;
    (rumos, giro, boreal)
}

/// Wall-clock ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A small flight of `airline` ten days from now: `rows` rows of `ABCD`, `escrow_share` of
/// the seats to each of `partners`.
pub fn small_flight(
    airline: &str,
    number: u32,
    rows: u32,
    escrow_share: f64,
    partners: &[&str],
) -> Flight {
    let id = format!(
        "{}{number}-T",
        passcom_node::demo::airline_code(&AirlineId::new(airline))
    );
    let departure = now_ms() + 10 * 86_400_000;
    let f = Flight {
        arrival: departure + 3_600_000,
        rows,
        letters: "ABCD".into(),
        ..fixtures::flight(airline, &id, "GRU", "GIG", departure)
    };
    fixtures::with_escrow(f, escrow_share, partners)
}

/// Puts `flights` into `h`'s catalog and checks the node accepted them.
pub async fn put_flights(h: &PeerHandle, flights: Vec<Flight>) {
    let reply = within(10, "PutFlights", h.request(Request::PutFlights(flights))).await;
    assert_eq!(reply, Reply::Done);
}

/// Buys any seat of `flight` at `h` under idempotency key `key`.
pub async fn buy(h: &PeerHandle, key: &str, flight: &FlightId) -> Reply {
    let req = PurchaseRequest {
        key: key.to_owned(),
        passenger: format!("Passenger {key}"),
        account: None,
        legs: vec![LegRequest {
            flight: flight.clone(),
            seat: None,
        }],
        hold_id: None,
        seat_fallback: Default::default(),
    };
    within(30, "a purchase reply", h.request(Request::Purchase(req))).await
}

/// [`buy`], retried under the same key while the answer is transient (holder unreachable,
/// timeout), as a traveler's client does, for at most `secs` seconds: right after start, or
/// on a loaded machine, the failure detector may not count the holder as reachable yet.
pub async fn buy_retrying(h: &PeerHandle, key: &str, flight: &FlightId, secs: u64) -> Reply {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let reply = buy(h, key, flight).await;
        match &reply {
            Reply::Refused(r) if r.is_transient() && std::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => return reply,
        }
    }
}

/// Everything replicated that must be equal at every peer after convergence.
#[derive(Debug, PartialEq)]
pub struct State {
    pub tokens: BTreeMap<SeatId, Token>,
    pub tickets: BTreeMap<TicketId, Ticket>,
    pub clock: VectorClock,
    pub flights: Vec<Flight>,
}

/// A snapshot of `h`'s replicated state.
pub fn state(h: &PeerHandle) -> State {
    h.read(|n| {
        let mut flights: Vec<Flight> = n.catalog().flights().cloned().collect();
        flights.sort_by(|a, b| a.id.cmp(&b.id));
        State {
            tokens: n.changed_tokens().clone(),
            tickets: n.tickets().clone(),
            clock: n.clock().clone(),
            flights,
        }
    })
}

/// Waits until every peer holds the same state, and returns it.
pub async fn wait_converged(secs: u64, peers: &[&PeerHandle]) -> State {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let states: Vec<State> = peers.iter().map(|p| state(p)).collect();
        if states.windows(2).all(|w| w[0] == w[1]) {
            return states.into_iter().next().expect("at least one peer");
        }
        if tokio::time::Instant::now() >= deadline {
            for (p, s) in peers.iter().zip(&states) {
                eprintln!(
                    "{}: clock {:?}, {} tokens, {} tickets, {} flights",
                    p.airline(),
                    s.clock,
                    s.tokens.len(),
                    s.tickets.len(),
                    s.flights.len()
                );
            }
            panic!("peers did not converge within {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks invariants 1 and 2 on one peer's state: no seat on two live tickets, no flight
/// sold beyond capacity, and every live ticket's seats sold to it. Returns the live tickets.
pub fn check_no_double_sale(s: &State) -> usize {
    let mut seats = BTreeSet::new();
    let mut per_flight: BTreeMap<FlightId, u32> = BTreeMap::new();
    let mut live = 0;
    for t in s
        .tickets
        .values()
        .filter(|t| t.status == TicketStatus::Live)
    {
        live += 1;
        for leg in &t.legs {
            let seat = SeatId::new(leg.flight.clone(), leg.seat.clone());
            assert!(
                seats.insert(seat.clone()),
                "seat {seat} is on two live tickets"
            );
            *per_flight.entry(leg.flight.clone()).or_default() += 1;
            let token = s
                .tokens
                .get(&seat)
                .unwrap_or_else(|| panic!("sold seat {seat} has no token change"));
            assert!(
                matches!(&token.state, TokenState::Sold { ticket, .. } if ticket == &t.id),
                "seat {seat} of live ticket {} has token {token:?}",
                t.id
            );
        }
    }
    for (flight, sold) in per_flight {
        let cap = s
            .flights
            .iter()
            .find(|f| f.id == flight)
            .map(|f| f.capacity())
            .expect("flight known");
        assert!(sold <= cap, "{flight}: {sold} sold, capacity {cap}");
    }
    live
}

/// The ticket of a reply, if it is one.
pub fn ticket(r: &Reply) -> Option<&Ticket> {
    match r {
        Reply::Ticket(t) => Some(t),
        _ => None,
    }
}
