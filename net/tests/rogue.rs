//! Rogue peers against real libp2p peers on 127.0.0.1: forged token moves, replayed events,
//! another airline's flight edited, keys outside the roster, messages over the size limits
//! and a flood of junk. Every attack must be refused, its sender penalised (gossip score) or
//! disconnected, and the honest peers must keep selling and converging.
//!
//! The rogue is a hand-driven libp2p swarm with a valid identity, built from the same
//! `passcom_net::behaviour::Behaviour` as a real peer (its fields are public) but with limits
//! of its own choosing. Every wait is bounded; the figures printed here (with `--nocapture`)
//! are the ones SECURITY.md quotes.

mod common;

use common::*;
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{Multiaddr, StreamProtocol, Swarm, identify, noise, tcp, yamux};
use passcom_crdt::{AirlineCatalog, AirlineId, Flight, SeatId, TicketId, Token, TokenState};
use passcom_net::behaviour::Behaviour;
use passcom_net::{PeerHandle, wire};
use passcom_node::{Event, Message, Ticket, TicketLeg, TicketStatus, TokenUpdate};
use std::time::{Duration, Instant};

/// A misbehaving peer: a valid libp2p identity announcing `agent`, with message limits far
/// above Passcom's so that it can send what honest peers must refuse.
struct Rogue {
    key: libp2p::identity::Keypair,
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
}

impl Rogue {
    fn new(agent: &str) -> Rogue {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let topic = IdentTopic::new(wire::EVENTS_TOPIC);
        let behaviour = |key: &libp2p::identity::Keypair| {
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Strict)
                .max_transmit_size(64 << 20)
                .build()
                .expect("a gossipsub configuration");
            let mut gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                config,
            )
            .expect("a gossipsub behaviour");
            gossip.subscribe(&topic).expect("subscribed");
            let codec = request_response::cbor::codec::Codec::<Message, ()>::default()
                .set_request_size_maximum(64 << 20);
            Behaviour {
                blocked: Default::default(),
                gossip,
                direct: request_response::Behaviour::with_codec(
                    codec,
                    [(
                        StreamProtocol::new(wire::DIRECT_PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(10)),
                ),
                identify: identify::Behaviour::new(
                    identify::Config::new(wire::IDENTIFY_PROTOCOL.to_owned(), key.public())
                        .with_agent_version(agent.to_owned()),
                ),
                mdns: Toggle::from(None),
            }
        };
        let swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp")
            .with_behaviour(|k| behaviour(k))
            .expect("a behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        Rogue { key, swarm, topic }
    }

    fn peer_id(&self) -> String {
        self.swarm.local_peer_id().to_string()
    }

    /// Drives the swarm for `d` (connections, identify, deliveries happen only while it runs).
    async fn pump(&mut self, d: Duration) {
        let _ = tokio::time::timeout(d, async {
            loop {
                self.swarm.select_next_some().await;
            }
        })
        .await;
    }

    /// Dials `peers` and runs until each has identified this rogue as `airline` (bounded).
    async fn join(&mut self, peers: &[(&PeerHandle, Multiaddr)], airline: &str) {
        for (_, a) in peers {
            self.swarm.dial(a.clone()).expect("dial");
        }
        let id = self.peer_id();
        let known = |h: &PeerHandle| {
            h.status()
                .connected
                .iter()
                .any(|c| c.peer_id == id && c.airline.as_ref().map(|a| a.as_str()) == Some(airline))
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !peers.iter().all(|(h, _)| known(h)) {
            assert!(
                Instant::now() < deadline,
                "the rogue was never identified as {airline}"
            );
            self.pump(Duration::from_millis(50)).await;
        }
        // Let the gossip mesh form (one or two heartbeats) so that publishing reaches them.
        self.pump(Duration::from_millis(1_500)).await;
    }

    /// Publishes `data` on the events topic, retrying for a few seconds while gossipsub has
    /// nobody to send it to yet. Returns whether it went out.
    async fn publish(&mut self, data: Vec<u8>) -> bool {
        for _ in 0..40 {
            match self
                .swarm
                .behaviour_mut()
                .gossip
                .publish(self.topic.clone(), data.clone())
            {
                Ok(_) => {
                    self.pump(Duration::from_millis(100)).await;
                    return true;
                }
                Err(
                    gossipsub::PublishError::NoPeersSubscribedToTopic
                    | gossipsub::PublishError::AllQueuesFull(_),
                ) => self.pump(Duration::from_millis(100)).await,
                Err(e) => panic!("the rogue could not publish: {e}"),
            }
        }
        false
    }

    /// An event of `origin`, signed by this rogue's key (valid for its own airline only).
    fn event(
        &self,
        origin: &str,
        seq: u64,
        tokens: Vec<TokenUpdate>,
        tickets: Vec<Ticket>,
        catalog: Vec<Vec<u8>>,
    ) -> Event {
        let mut ev = Event {
            origin: AirlineId::new(origin),
            seq,
            tokens,
            tickets,
            catalog,
            signature: Vec::new(),
        };
        ev.signature = self
            .key
            .sign(&ev.signed_bytes())
            .expect("an ed25519 key signs");
        ev
    }
}

fn encode(events: Vec<Event>) -> Vec<u8> {
    wire::encode(&Message::Events { events }).expect("encodes")
}

/// A forged sale of `seat` (held by `holder`) by `seller`, with its ticket.
fn forged_sale(
    seat: &SeatId,
    holder: &str,
    seller: &str,
    ticket: &str,
) -> (Vec<TokenUpdate>, Vec<Ticket>) {
    let id = TicketId::new(ticket);
    let update = TokenUpdate {
        seat: seat.clone(),
        prev: Token::initial(AirlineId::new(holder)),
        next: Token {
            version: 1,
            state: TokenState::Sold {
                seller: AirlineId::new(seller),
                ticket: id.clone(),
            },
        },
    };
    let ticket = Ticket {
        id,
        passenger: "Mallory".into(),
        account: None,
        key: None,
        legs: vec![TicketLeg {
            flight: seat.flight.clone(),
            seat: seat.seat.clone(),
            fare_cents: 1,
        }],
        price_cents: 1,
        seller: AirlineId::new(seller),
        created_at: 0,
        status: TicketStatus::Live,
    };
    (vec![update], vec![ticket])
}

/// Counts the `rejected` live events naming `from` that arrive within `secs` seconds, until
/// `want` of them have arrived.
async fn rejections(
    rx: &mut tokio::sync::broadcast::Receiver<passcom_net::LiveEvent>,
    from: &str,
    want: usize,
    secs: u64,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(secs), async {
        while reasons.len() < want {
            match rx.recv().await {
                Ok(e) if e.kind == "rejected" && e.detail["from"] == from => {
                    reasons.push(e.detail["reason"].as_str().unwrap_or("").to_owned())
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    reasons
}

/// Three honest peers sharing rumos' small flight, and its addresses.
async fn network(root: &std::path::Path) -> ([PeerHandle; 3], Vec<Multiaddr>, Flight) {
    let (rumos, giro, boreal) = three_peers(root).await;
    let flight = small_flight("rumos", 70, 4, 0.25, &["giro", "boreal"]);
    put_flights(&rumos, vec![flight.clone()]).await;
    for h in [&giro, &boreal] {
        wait_for(10, "the flight everywhere", || {
            h.read(|n| n.catalog().flight(&flight.id).is_some())
        })
        .await;
    }
    let mut addrs = Vec::new();
    for h in [&rumos, &giro, &boreal] {
        addrs.push(addr(h).await);
    }
    ([rumos, giro, boreal], addrs, flight)
}

/// The honest network still sells (at giro, which needs a seat of rumos' flight) and
/// converges to one state with no seat sold twice.
async fn honest_network_still_works(peers: &[PeerHandle; 3], flight: &Flight, key: &str) {
    let reply = buy(&peers[1], key, &flight.id).await;
    assert!(
        ticket(&reply).is_some(),
        "an honest purchase after the attack: {reply:?}"
    );
    let s = wait_converged(20, &[&peers[0], &peers[1], &peers[2]]).await;
    check_no_double_sale(&s);
    assert!(
        s.tickets.values().all(|t| t.passenger != "Mallory"),
        "a forged ticket spread"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_moves_foreign_edits_replays_and_keys_outside_the_roster_are_all_refused() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (peers, addrs, flight) = network(dir.path()).await;
    let [rumos, giro, boreal] = &peers;
    // A seat rumos holds (the back rows are not in escrow).
    let seat = flight.seat("4D");
    assert_eq!(flight.initial_holder("4D").as_str(), "rumos");
    let before = state(rumos);
    let mut rx: Vec<_> = peers.iter().map(|p| p.events()).collect();

    // The rogue *airline*: a fresh key announcing the new airline "mallory". Its key is bound
    // to "mallory", so its own events verify — what it may not do is touch others' things.
    let mut mallory = Rogue::new("passcom/1/mallory");
    let targets: Vec<(&PeerHandle, Multiaddr)> = peers.iter().zip(addrs.iter().cloned()).collect();
    mallory.join(&targets, "mallory").await;

    // 1. A forged token move: mallory grants itself a seat that rumos holds.
    let grant = TokenUpdate {
        seat: seat.clone(),
        prev: Token::initial(AirlineId::new("rumos")),
        next: Token {
            version: 1,
            state: TokenState::InTransit {
                from: AirlineId::new("rumos"),
                to: AirlineId::new("mallory"),
            },
        },
    };
    // 2. A forged sale of the same seat.
    let (tokens, tickets) = forged_sale(&seat, "rumos", "mallory", "mallory-2-1");
    // 3. rumos' flight edited: a change written with rumos' Automerge actor (what only rumos'
    //    peer produces) carried in mallory's event, which must be refused as foreign.
    let mut edited = flight.clone();
    edited.fare_cents = 1;
    let foreign_edit = AirlineCatalog::new(AirlineId::new("rumos"))
        .put_flights(&[edited])
        .expect("an edit of a valid flight");
    let attacks = vec![
        (
            "forged move",
            mallory.event("mallory", 1, vec![grant], vec![], vec![]),
        ),
        (
            "forged sale",
            mallory.event("mallory", 1, tokens, tickets, vec![]),
        ),
        (
            "foreign flight edit",
            mallory.event("mallory", 1, vec![], vec![], foreign_edit.clone()),
        ),
    ];
    for (what, ev) in attacks {
        assert!(
            mallory.publish(encode(vec![ev])).await,
            "{what} not published"
        );
    }
    for (h, rx) in peers.iter().zip(rx.iter_mut()) {
        let reasons = rejections(rx, "mallory", 3, 10).await;
        println!("{}: rejected mallory's forgeries: {reasons:?}", h.airline());
        assert_eq!(reasons.len(), 3, "{} rejected {reasons:?}", h.airline());
    }

    // The penalty: three rejected messages put mallory below gossipsub's graylist threshold
    // (P4 = -10 x 3^2 = -90 < -80), so even a well-formed event of its own, validly signed,
    // is now dropped unread by every peer.
    let own = mallory.event("mallory", 1, vec![], vec![], vec![]);
    mallory.publish(encode(vec![own])).await;
    mallory.pump(Duration::from_secs(2)).await;
    for h in &peers {
        assert_eq!(
            h.read(|n| n.clock().get(&AirlineId::new("mallory"))),
            0,
            "{} still listens to mallory after three rejections",
            h.airline()
        );
    }
    println!("mallory is graylisted: its next valid event was ignored by every peer");

    // 4. The same forgeries under rumos' name, signed by mallory's key: bad signatures.
    let rumos_next = rumos.read(|n| n.clock().get(&AirlineId::new("rumos"))) + 1;
    let (tokens, tickets) = forged_sale(&seat, "rumos", "rumos", "rumos-99-1");
    let as_rumos = mallory.event("rumos", rumos_next, tokens, tickets, foreign_edit);
    // 5. A replay: rumos' real events, published again by mallory (old sequence numbers).
    let replay = rumos
        .read(|n| n.events_missing_from(&Default::default(), 16))
        .expect("rumos' log")
        .0;
    assert!(!replay.is_empty());
    // 6. An origin that no peer knows, with a signature that is not one.
    let (tokens, tickets) = forged_sale(&seat, "rumos", "ghost", "ghost-1-1");
    let mut ghost = mallory.event("ghost", 1, tokens, tickets, vec![]);
    ghost.signature = vec![0xAB; 64];
    for data in [encode(vec![as_rumos]), encode(replay), encode(vec![ghost])] {
        // mallory may be graylisted by now (three rejections): then the peers drop its
        // messages unread, which is the point of the penalty. Either way nothing may apply.
        mallory.publish(data).await;
    }
    mallory.pump(Duration::from_secs(1)).await;

    // 7. A second key claiming giro, an airline already bound to giro's key, with a forged
    //    giro event: refused at identification, its event never applied.
    let mut impostor = Rogue::new("passcom/1/giro");
    impostor.swarm.dial(addrs[0].clone()).unwrap();
    let impostor_id = impostor.peer_id();
    // Give it time to connect and identify (it is refused as soon as rumos hears its claim).
    impostor.pump(Duration::from_secs(2)).await;
    let (tokens, tickets) = forged_sale(&seat, "rumos", "giro", "giro-99-1");
    let giro_next = giro.read(|n| n.clock().get(&AirlineId::new("giro"))) + 1;
    let forged_giro = impostor.event("giro", giro_next, tokens, tickets, vec![]);
    let _ = impostor
        .swarm
        .behaviour_mut()
        .gossip
        .publish(impostor.topic.clone(), encode(vec![forged_giro]));
    impostor.pump(Duration::from_millis(500)).await;
    assert!(
        !rumos
            .status()
            .connected
            .iter()
            .any(|c| c.peer_id == impostor_id),
        "the impostor is still connected to rumos"
    );
    println!("rumos: refused and blocked a second key claiming giro");

    // Nothing of it applied anywhere: the seat is still rumos', no forged ticket, no event of
    // mallory or ghost, rumos' flight unchanged.
    for h in &peers {
        assert_eq!(
            h.read(|n| n.token(&seat)),
            Some(Token::initial(AirlineId::new("rumos")))
        );
        assert!(h.read(|n| n.tickets().values().all(|t| t.passenger != "Mallory")));
        for origin in ["mallory", "ghost"] {
            assert_eq!(
                h.read(|n| n.clock().get(&AirlineId::new(origin))),
                0,
                "{origin} at {}",
                h.airline()
            );
        }
        assert_eq!(
            h.read(|n| n.catalog().flight(&flight.id).cloned()),
            Some(flight.clone())
        );
    }
    assert_eq!(state(rumos).clock, before.clock, "rumos' clock moved");
    let _ = (giro, boreal);
    honest_network_still_works(&peers, &flight, "after-forgeries").await;
    for h in &peers {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_the_size_limits_are_refused() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (peers, addrs, flight) = network(dir.path()).await;
    let mut rx: Vec<_> = peers.iter().map(|p| p.events()).collect();
    let mut rogue = Rogue::new("passcom/1/bulky");
    let targets: Vec<(&PeerHandle, Multiaddr)> = peers.iter().zip(addrs.iter().cloned()).collect();
    rogue.join(&targets, "bulky").await;

    // Gossip: one well-formed, validly signed event of the rogue's own, 9 MiB (limit 8 MiB).
    let big = rogue.event(
        "bulky",
        1,
        vec![],
        vec![],
        vec![vec![0u8; wire::MAX_GOSSIP_BYTES + (1 << 20)]],
    );
    let gossip = encode(vec![big.clone()]);
    assert!(gossip.len() > wire::MAX_GOSSIP_BYTES);
    assert!(
        rogue.publish(gossip).await,
        "the oversized gossip message went out"
    );
    // Direct: the same event as a request of 17 MiB (limit 16 MiB) to rumos.
    let mut direct = big;
    direct.catalog = vec![vec![0u8; wire::MAX_DIRECT_BYTES as usize + (1 << 20)]];
    let rumos_peer: libp2p::PeerId = peers[0].status().peer_id.parse().unwrap();
    rogue.swarm.behaviour_mut().direct.send_request(
        &rumos_peer,
        Message::Events {
            events: vec![direct],
        },
    );
    rogue.pump(Duration::from_secs(4)).await;

    for (h, rx) in peers.iter().zip(rx.iter_mut()) {
        assert_eq!(
            h.read(|n| n.clock().get(&AirlineId::new("bulky"))),
            0,
            "{} took an oversized event",
            h.airline()
        );
        // Nothing reached the node: oversized messages die in the transport.
        let reasons = rejections(rx, "bulky", 1, 1).await;
        assert!(reasons.is_empty(), "{reasons:?}");
    }
    let still = rogue.swarm.connected_peers().count();
    println!(
        "oversized: the rogue keeps {still} of 3 connections (the stream is dropped, not the link)"
    );
    println!(
        "oversized gossip (9 MiB) and direct (17 MiB) messages: refused by the transport, not applied"
    );
    honest_network_still_works(&peers, &flight, "after-oversized").await;
    for h in &peers {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_junk_is_refused_and_the_honest_peers_keep_serving() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (peers, addrs, flight) = network(dir.path()).await;
    let mut rx = peers[0].events();
    let mut rogue = Rogue::new("passcom/1/flood");
    let targets: Vec<(&PeerHandle, Multiaddr)> = peers.iter().zip(addrs.iter().cloned()).collect();
    rogue.join(&targets, "flood").await;

    // 2,000 junk gossip messages (each distinct, so none is a duplicate) as fast as the
    // rogue's swarm takes them, then 200 junk direct requests to rumos.
    const JUNK: usize = 2_000;
    let started = Instant::now();
    let (mut sent, mut refused_locally) = (0, 0);
    for i in 0..JUNK {
        let junk = format!("junk {i} \u{1F4A3}").into_bytes();
        match rogue
            .swarm
            .behaviour_mut()
            .gossip
            .publish(rogue.topic.clone(), junk)
        {
            Ok(_) => sent += 1,
            Err(_) => refused_locally += 1,
        }
        if i % 100 == 0 {
            // Let the swarm write what it queued (bounded: 10 ms per hundred).
            rogue.pump(Duration::from_millis(10)).await;
        }
    }
    let rumos_peer: libp2p::PeerId = peers[0].status().peer_id.parse().unwrap();
    for i in 0..200u32 {
        rogue.swarm.behaviour_mut().direct.send_request(
            &rumos_peer,
            Message::SeatRequest {
                flight: passcom_crdt::FlightId::new(format!("NOPE{i}")),
                seats: vec![],
                count: u32::MAX,
            },
        );
    }
    rogue.pump(Duration::from_secs(3)).await;
    let flood_ms = started.elapsed().as_millis();
    let reasons = rejections(&mut rx, "flood", 1, 1).await;
    println!(
        "flood: {sent} junk gossip messages sent ({refused_locally} refused by the rogue's own queues), 200 junk seat requests, in {flood_ms} ms; rumos logged {} node-level rejections",
        reasons.len()
    );
    // The penalty: every junk message that reached a peer was reported `Reject`, so the
    // flooder is graylisted and even a well-formed, validly signed event of its own is dropped.
    let own = rogue.event("flood", 1, vec![], vec![], vec![]);
    rogue.publish(encode(vec![own])).await;
    rogue.pump(Duration::from_secs(2)).await;
    for h in &peers {
        assert_eq!(
            h.read(|n| n.clock().get(&AirlineId::new("flood"))),
            0,
            "{} still listens to the flooder",
            h.airline()
        );
    }
    println!("flood: the flooder is graylisted: its next valid event was ignored by every peer");
    // Serving goes on during and after the flood: a purchase, then convergence.
    let t = Instant::now();
    honest_network_still_works(&peers, &flight, "after-flood").await;
    println!(
        "flood: honest purchase and convergence took {} ms after the flood",
        t.elapsed().as_millis()
    );
    for h in &peers {
        h.shutdown().await;
    }
}

/// A live or cancelled ticket of one seat of `flight`, as `seller` publishes it.
fn bare_ticket(id: &str, seller: &str, seat: &SeatId, status: TicketStatus) -> Ticket {
    let (_, mut tickets) = forged_sale(seat, "rumos", seller, id);
    let mut t = tickets.remove(0);
    t.status = status;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_airline_cannot_shadow_a_flight_forge_a_ticket_cancel_anothers_or_flood_the_queue()
{
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (peers, addrs, flight) = network(dir.path()).await;
    let [rumos, ..] = &peers;
    // A real ticket of rumos', which the rogue will try to cancel.
    let real = ticket(&buy(rumos, "real-sale", &flight.id).await)
        .cloned()
        .expect("rumos sells");
    wait_converged(20, &[&peers[0], &peers[1], &peers[2]]).await;
    let mut rx: Vec<_> = peers.iter().map(|p| p.events()).collect();
    let targets: Vec<(&PeerHandle, Multiaddr)> = peers.iter().zip(addrs.iter().cloned()).collect();

    // mallory, with a valid key of its own and valid signatures on everything it sends.
    let mut mallory = Rogue::new("passcom/1/mallory");
    mallory.join(&targets, "mallory").await;
    // 1. A shadow flight: rumos' flight id in mallory's own document, 200 rows, no escrow.
    let mut shadow = flight.clone();
    shadow.airline = AirlineId::new("mallory");
    shadow.rows = 200;
    shadow.escrow.clear();
    let shadow_change = AirlineCatalog::new(AirlineId::new("mallory"))
        .write_flights_unchecked(&[shadow])
        .expect("automerge writes anything");
    // 2. A well-formed flight of mallory's own, in one event with a ticket for a seat of
    //    rumos' flight that mallory never sold: the whole event must be refused, flight too.
    let mut own = small_flight("mallory", 1, 2, 0.0, &[]);
    own.id = passcom_crdt::FlightId::new("MA1-T");
    let own_change = AirlineCatalog::new(AirlineId::new("mallory"))
        .put_flights(std::slice::from_ref(&own))
        .expect("a valid flight");
    let forged = bare_ticket(
        "mallory-1-1",
        "mallory",
        &flight.seat("4C"),
        TicketStatus::Live,
    );
    for ev in [
        mallory.event("mallory", 1, vec![], vec![], shadow_change),
        mallory.event("mallory", 1, vec![], vec![forged], own_change),
    ] {
        assert!(mallory.publish(encode(vec![ev])).await);
    }
    for (h, rx) in peers.iter().zip(rx.iter_mut()) {
        let reasons = rejections(rx, "mallory", 2, 10).await;
        println!("{}: rejected mallory's events: {reasons:?}", h.airline());
        assert_eq!(reasons.len(), 2, "{} rejected {reasons:?}", h.airline());
    }

    // nemo, a second rogue airline: 3. it cancels rumos' real ticket, under rumos' name as
    // seller and under its own; 4. it floods every peer with 10,000 events of an invented
    // origin that can never apply.
    let mut nemo = Rogue::new("passcom/1/nemo");
    nemo.join(&targets, "nemo").await;
    let seat = SeatId::new(real.legs[0].flight.clone(), real.legs[0].seat.clone());
    let mut as_rumos = bare_ticket(real.id.as_str(), "rumos", &seat, TicketStatus::Cancelled);
    as_rumos.legs = real.legs.clone();
    let mut as_nemo = as_rumos.clone();
    as_nemo.seller = AirlineId::new("nemo");
    assert!(
        nemo.publish(encode(vec![nemo.event(
            "nemo",
            1,
            vec![],
            vec![as_rumos],
            vec![]
        )]))
        .await
    );
    assert!(
        nemo.publish(encode(vec![nemo.event(
            "nemo",
            1,
            vec![],
            vec![as_nemo],
            vec![]
        )]))
        .await
    );
    for (h, rx) in peers.iter().zip(rx.iter_mut()) {
        let reasons = rejections(rx, "nemo", 2, 10).await;
        println!(
            "{}: rejected nemo's cancellations: {reasons:?}",
            h.airline()
        );
        assert_eq!(reasons.len(), 2, "{} rejected {reasons:?}", h.airline());
    }
    let flood: Vec<Event> = (2..=10_001)
        .map(|seq| Event {
            origin: AirlineId::new("ghost"),
            seq,
            tokens: vec![],
            tickets: vec![],
            catalog: vec![],
            signature: Vec::new(),
        })
        .collect();
    // One gossip message (well under its size limit: the events are tiny).
    assert!(nemo.publish(encode(flood)).await);
    nemo.pump(Duration::from_secs(2)).await;

    // Nothing of it stuck: rumos' flight is rumos', mallory's flight and ticket are nowhere,
    // rumos' ticket is live, and the honest peers still apply each other's events.
    for h in &peers {
        assert_eq!(
            h.read(|n| n.catalog().flight(&flight.id).cloned()),
            Some(flight.clone()),
            "{}: rumos' flight was shadowed",
            h.airline()
        );
        assert!(h.read(|n| n.catalog().flight(&own.id).is_none()));
        assert_eq!(
            h.read(|n| n.tickets().get(&real.id).cloned()),
            Some(real.clone()),
            "{}: rumos' ticket was touched",
            h.airline()
        );
        for origin in ["mallory", "nemo", "ghost"] {
            assert_eq!(h.read(|n| n.clock().get(&AirlineId::new(origin))), 0);
        }
    }
    honest_network_still_works(&peers, &flight, "after-rogue-airlines").await;
    for h in &peers {
        h.shutdown().await;
    }
}
