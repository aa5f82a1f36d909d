//! Real libp2p peers on 127.0.0.1, several in one process: discovery, concurrent sales,
//! partitions, crashes during a hand-over, a rogue publisher, a plain watcher, and an
//! operator's dial and hang-up.
//!
//! Every wait is bounded; nodes tick every 200 ms so that catch-up is quick.

mod common;

use common::*;
use passcom_crdt::{AirlineId, TicketId, Token, TokenState};
use passcom_net::NetError;
use passcom_node::{Event, Message, Reply, Ticket, TicketLeg, TicketStatus, TokenUpdate};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_find_each_other_and_converge_to_one_catalog_and_token_state() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    // Each loads its demo schedule (about 550 flights) at first start, and adds a small flight.
    let (rumos, giro, boreal) = three_peers_with(dir.path(), true).await;
    put_flights(
        &rumos,
        vec![small_flight("rumos", 1, 6, 0.2, &["giro", "boreal"])],
    )
    .await;
    put_flights(
        &giro,
        vec![small_flight("giro", 2, 5, 0.2, &["rumos", "boreal"])],
    )
    .await;
    put_flights(&boreal, vec![small_flight("boreal", 3, 5, 0.0, &[])]).await;
    // A seat of each flight moves or sells, so tokens differ from their initial state.
    for (h, flight, key) in [
        (&giro, "RU1-T", "k1"),
        (&boreal, "GI2-T", "k2"),
        (&rumos, "BO3-T", "k3"),
    ] {
        let flight = passcom_crdt::FlightId::new(flight);
        wait_for(10, "the flight to reach the buyer", || {
            h.read(|n| n.catalog().flight(&flight).is_some())
        })
        .await;
        let reply = buy_retrying(h, key, &flight, 20).await;
        assert!(ticket(&reply).is_some(), "{key}: {reply:?}");
    }
    let s = wait_converged(30, &[&rumos, &giro, &boreal]).await;
    let first_day = now_ms() - now_ms().rem_euclid(passcom_node::demo::DAY_MS);
    let demo: usize = ["rumos", "giro", "boreal"]
        .iter()
        .map(|a| {
            passcom_node::demo::demo_flights(&AirlineId::new(*a), first_day, 7, 0.2, &[]).len()
        })
        .sum();
    assert!(demo > 1000, "{demo} demo flights");
    assert_eq!(s.flights.len(), demo + 3);
    assert_eq!(rumos.read(|n| n.catalog().airports().count()), 27);
    assert_eq!(s.tickets.len(), 3);
    assert_eq!(check_no_double_sale(&s), 3);
    for h in [&rumos, &giro, &boreal] {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_at_three_peers_hammering_one_flight_never_oversell() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (rumos, giro, boreal) = three_peers(dir.path()).await;
    // 20 seats, 4 in escrow at each partner: 36 buyers compete for them.
    let flight = small_flight("rumos", 10, 5, 0.2, &["giro", "boreal"]);
    let id = flight.id.clone();
    put_flights(&rumos, vec![flight]).await;
    for h in [&giro, &boreal] {
        wait_for(10, "the flight everywhere", || {
            h.read(|n| n.catalog().flight(&id).is_some())
        })
        .await;
    }
    let mut tasks = Vec::new();
    for h in [&rumos, &giro, &boreal] {
        for i in 0..12 {
            let (h, id) = (h.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                buy(&h, &format!("{}-{i}", h.airline()), &id).await
            }));
        }
    }
    let mut sold = Vec::new();
    for t in tasks {
        let reply = within(60, "a buyer", t).await.unwrap();
        if let Some(t) = ticket(&reply) {
            sold.push(t.clone());
        }
    }
    let seats: BTreeSet<String> = sold.iter().map(|t| t.legs[0].seat.clone()).collect();
    assert_eq!(seats.len(), sold.len(), "a seat was confirmed twice");
    assert!(sold.len() <= 20, "{} tickets for 20 seats", sold.len());
    assert!(
        sold.len() >= 10,
        "only {} of 20 seats sold to 36 buyers",
        sold.len()
    );
    let s = wait_converged(30, &[&rumos, &giro, &boreal]).await;
    assert_eq!(check_no_double_sale(&s), sold.len());
    for t in &sold {
        assert!(
            s.tickets.contains_key(&t.id),
            "confirmed ticket {} lost",
            t.id
        );
    }
    for h in [&rumos, &giro, &boreal] {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cut_off_sells_from_its_escrow_and_everyone_converges_after_the_heal() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (rumos, giro, boreal) = three_peers(dir.path()).await;
    let flight = small_flight("rumos", 20, 5, 0.2, &["giro", "boreal"]);
    let id = flight.id.clone();
    put_flights(&rumos, vec![flight]).await;
    for h in [&giro, &boreal] {
        wait_for(10, "the flight everywhere", || {
            h.read(|n| n.catalog().flight(&id).is_some())
        })
        .await;
    }

    boreal.partition(vec![]).await.unwrap();
    wait_for(10, "boreal alone", || {
        connected_airlines(&boreal).is_empty()
    })
    .await;
    wait_for(10, "the others to see boreal gone", || {
        !connected_airlines(&rumos).contains(&AirlineId::new("boreal"))
            && !connected_airlines(&giro).contains(&AirlineId::new("boreal"))
    })
    .await;

    let mut sold: Vec<Ticket> = Vec::new();
    // boreal's escrow is 4 seats: it sells them alone; the fifth finds nobody to ask.
    for i in 0..5 {
        let reply = buy(&boreal, &format!("cut-{i}"), &id).await;
        match (&reply, i) {
            (Reply::Ticket(t), 0..4) => sold.push(t.clone()),
            (Reply::Refused(r), 4) => assert!(r.is_transient(), "{r:?}"),
            _ => panic!("purchase {i} at boreal while cut off: {reply:?}"),
        }
    }
    // Meanwhile the other two keep selling, moving seats between them as they need.
    for i in 0..8 {
        let h = if i % 2 == 0 { &rumos } else { &giro };
        let reply = buy(h, &format!("main-{i}"), &id).await;
        sold.push(
            ticket(&reply)
                .unwrap_or_else(|| panic!("main-{i}: {reply:?}"))
                .clone(),
        );
    }
    // Still cut off: boreal knows nothing of their sales.
    assert!(boreal.read(|n| n.tickets().len()) == 4);

    boreal.heal(vec![]).await.unwrap();
    wait_full_mesh(&[&rumos, &giro, &boreal]).await;
    let s = wait_converged(40, &[&rumos, &giro, &boreal]).await;
    assert_eq!(check_no_double_sale(&s), sold.len());
    for t in &sold {
        assert!(s.tickets.contains_key(&t.id), "ticket {} lost", t.id);
    }
    for h in [&rumos, &giro, &boreal] {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_killed_during_a_hand_over_restarts_from_its_folder_and_loses_nothing() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let rumos = start("rumos", &dir.path().join("rumos"), vec![]).await;
    let rumos_addr = addr(&rumos).await;
    let giro_dir = dir.path().join("giro");
    let giro = start("giro", &giro_dir, vec![rumos_addr.clone()]).await;
    wait_full_mesh(&[&rumos, &giro]).await;
    // No escrow: every seat giro sells must first be handed over by rumos.
    let flight = small_flight("rumos", 30, 3, 0.0, &[]);
    let id = flight.id.clone();
    put_flights(&rumos, vec![flight]).await;
    wait_for(10, "the flight at giro", || {
        giro.read(|n| n.catalog().flight(&id).is_some())
    })
    .await;

    let buyer = {
        let (giro, id) = (giro.clone(), id.clone());
        tokio::spawn(async move { buy(&giro, "crash-1", &id).await })
    };
    // Kill giro as soon as rumos has granted a seat: the grant may or may not have landed.
    wait_for(10, "rumos to grant a seat", || {
        rumos.read(|n| !n.outbox().is_empty() || n.changed_tokens().values().any(|t| t.version > 0))
    })
    .await;
    giro.shutdown().await;
    let before_crash = within(15, "the buyer's reply", buyer).await.unwrap();

    let giro = start("giro", &giro_dir, vec![rumos_addr]).await;
    wait_full_mesh(&[&rumos, &giro]).await;
    // The retry under the same key ends the purchase one way or the other, never twice.
    let after = buy(&giro, "crash-1", &id).await;
    if let Some(t) = ticket(&before_crash) {
        assert_eq!(
            ticket(&after).map(|a| &a.id),
            Some(&t.id),
            "the confirmed ticket changed or vanished"
        );
    }
    let again = buy(&giro, "crash-2", &id).await;
    assert!(
        ticket(&again).is_some(),
        "giro sells after the restart: {again:?}"
    );

    let s = wait_converged(30, &[&rumos, &giro]).await;
    let live = check_no_double_sale(&s);
    assert_eq!(live, s.tickets.len());
    assert!(
        live == 2 || (live == 1 && ticket(&after).is_none()),
        "{live} tickets, first purchase {after:?}"
    );
    // Every token ended with exactly one holder: none is left between two peers.
    for (seat, token) in &s.tokens {
        assert!(
            !matches!(token.state, TokenState::InTransit { .. }),
            "{seat} stuck in transit: {token:?}"
        );
    }
    rumos.shutdown().await;
    giro.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_peer_publishing_a_forged_sale_is_rejected_by_every_honest_peer() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let rumos = start("rumos", &dir.path().join("rumos"), vec![]).await;
    let a = addr(&rumos).await;
    let giro = start("giro", &dir.path().join("giro"), vec![a.clone()]).await;
    let b = addr(&giro).await;
    wait_full_mesh(&[&rumos, &giro]).await;
    let flight = small_flight("rumos", 40, 3, 0.0, &[]);
    let seat = flight.seat("1A");
    put_flights(&rumos, vec![flight.clone()]).await;
    wait_for(10, "the flight at giro", || {
        giro.read(|n| n.catalog().flight(&flight.id).is_some())
    })
    .await;
    let mut rumos_events = rumos.events();
    let mut giro_events = giro.events();

    // The rogue: a valid libp2p identity announcing itself as airline "rogue".
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut rogue =
        passcom_net::behaviour::build_swarm(key.clone(), "passcom/1/rogue".into(), false).unwrap();
    rogue.dial(a).unwrap();
    rogue.dial(b).unwrap();
    let rogue_id = rogue.local_peer_id().to_string();
    let rogue_known = |h: &passcom_net::PeerHandle| {
        h.status()
            .connected
            .iter()
            .any(|c| c.peer_id == rogue_id && c.airline == Some(AirlineId::new("rogue")))
    };
    let forge = |origin: &str, seq: u64| {
        let origin = AirlineId::new(origin);
        let ticket = TicketId::new(format!("{origin}-{seq}-1"));
        let mut ev = Event {
            origin: origin.clone(),
            seq,
            tokens: vec![TokenUpdate {
                seat: seat.clone(),
                prev: Token::initial(AirlineId::new("rumos")),
                next: Token {
                    version: 1,
                    state: TokenState::Sold {
                        seller: origin.clone(),
                        ticket: ticket.clone(),
                    },
                },
            }],
            tickets: vec![Ticket {
                id: ticket,
                passenger: "Mallory".into(),
                account: None,
                key: None,
                legs: vec![TicketLeg {
                    flight: seat.flight.clone(),
                    seat: seat.seat.clone(),
                    fare_cents: 1,
                }],
                price_cents: 1,
                seller: origin,
                created_at: 0,
                status: TicketStatus::Live,
            }],
            catalog: Vec::new(),
            signature: Vec::new(),
        };
        // A valid signature, by the rogue's own key.
        ev.signature = key.sign(&ev.signed_bytes()).unwrap();
        passcom_net::wire::encode(&Message::Events { events: vec![ev] }).unwrap()
    };
    // One sale of a seat the rogue never held, one pretending to be rumos.
    let rumos_next = rumos.read(|n| n.clock().get(&AirlineId::new("rumos"))) + 1;
    let mut forged = vec![forge("rogue", 1), forge("rumos", rumos_next)];
    let topic = libp2p::gossipsub::IdentTopic::new(passcom_net::wire::EVENTS_TOPIC);
    within(20, "the rogue's forged events to go out", async {
        use futures::StreamExt;
        let mut retry = tokio::time::interval(Duration::from_millis(200));
        while !forged.is_empty() {
            tokio::select! {
                _ = rogue.select_next_some() => {}
                _ = retry.tick() => {
                    if rogue_known(&rumos) && rogue_known(&giro) {
                        let data = forged[0].clone();
                        if rogue.behaviour_mut().gossip.publish(topic.clone(), data).is_ok() {
                            forged.remove(0);
                        }
                    }
                }
            }
        }
        // Keep the rogue's swarm running while its messages are delivered.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                rogue.select_next_some().await;
            }
        })
        .await;
    })
    .await;

    for (h, events) in [(&rumos, &mut rumos_events), (&giro, &mut giro_events)] {
        let mut reasons = Vec::new();
        within(10, "rejections at every honest peer", async {
            while reasons.len() < 2 {
                let e = events.recv().await.unwrap();
                if e.kind == "rejected" && e.detail["from"] == "rogue" {
                    reasons.push(e.detail["reason"].to_string());
                }
            }
        })
        .await;
        let token = h.read(|n| n.token(&seat)).unwrap();
        assert_eq!(
            token,
            Token::initial(AirlineId::new("rumos")),
            "{} applied a forged sale",
            h.airline()
        );
        assert!(h.read(|n| n.tickets().values().all(|t| t.passenger != "Mallory")));
        assert_eq!(h.read(|n| n.clock().get(&AirlineId::new("rogue"))), 0);
    }

    // A second key claiming an airline that exists is refused outright.
    let impostor_key = libp2p::identity::Keypair::generate_ed25519();
    let mut impostor =
        passcom_net::behaviour::build_swarm(impostor_key, "passcom/1/giro".into(), false).unwrap();
    impostor.dial(addr(&rumos).await).unwrap();
    let impostor_id = impostor.local_peer_id().to_string();
    within(10, "the impostor refused", async {
        use futures::StreamExt;
        loop {
            tokio::select! {
                _ = impostor.select_next_some() => {}
                e = rumos_events.recv() => {
                    let e = e.unwrap();
                    if e.kind == "rejected" && e.detail["peer_id"] == impostor_id.as_str() { break; }
                }
            }
        }
    })
    .await;
    within(10, "the impostor disconnected", async {
        use futures::StreamExt;
        while rumos
            .status()
            .connected
            .iter()
            .any(|c| c.peer_id == impostor_id)
        {
            let _ =
                tokio::time::timeout(Duration::from_millis(50), impostor.select_next_some()).await;
        }
    })
    .await;

    // The honest network still sells.
    let reply = buy(&giro, "after-rogue", &flight.id).await;
    assert!(ticket(&reply).is_some(), "{reply:?}");
    rumos.shutdown().await;
    giro.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_decodes_the_events_of_a_purchase() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let rumos = start("rumos", &dir.path().join("rumos"), vec![]).await;
    let a = addr(&rumos).await;
    let flight = small_flight("rumos", 50, 3, 0.0, &[]);
    put_flights(&rumos, vec![flight.clone()]).await;

    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let cfg = passcom_net::WatchConfig {
        bootstrap: vec![a],
        topics: vec![],
        count: None,
        timeout: Some(Duration::from_secs(30)),
    };
    let watcher = tokio::spawn(passcom_net::watch(cfg, move |e| {
        let _ = tx.try_send(serde_json::to_value(&e).unwrap());
    }));
    wait_for(10, "the watcher connected", || {
        rumos.status().connected.iter().any(|c| c.airline.is_none())
    })
    .await;

    // Buy until the watcher has seen a sale (its subscription may land after the first).
    let seen = within(20, "the watcher to see a sale", async {
        for i in 0.. {
            let reply = buy(&rumos, &format!("w{i}"), &flight.id).await;
            let id = ticket(&reply).expect("a ticket").id.clone();
            let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
            while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                if e["event"]["tickets"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["id"] == id.as_str()))
                {
                    return e;
                }
            }
        }
        unreachable!()
    })
    .await;
    assert_eq!(seen["topic"], passcom_net::wire::EVENTS_TOPIC);
    assert_eq!(seen["event"]["origin"], "rumos");
    assert!(
        seen["event"]["tokens"][0]["next"]["state"]["sold"].is_object(),
        "{seen}"
    );
    watcher.abort();
    rumos.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_between_two_airlines_holds_against_re_dials_until_healed() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (rumos, giro, boreal) = three_peers(dir.path()).await;
    let giro_id = AirlineId::new("giro");
    rumos.partition(vec![giro_id.clone()]).await.unwrap();
    assert_eq!(rumos.status().partitioned, vec![giro_id.clone()]);
    wait_for(10, "rumos and giro apart", || {
        !connected_airlines(&rumos).contains(&giro_id)
            && !connected_airlines(&giro).contains(&AirlineId::new("rumos"))
    })
    .await;
    // giro keeps re-dialling its bootstrap peer rumos; rumos refuses every attempt, and its
    // link to boreal is untouched.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!connected_airlines(&rumos).contains(&giro_id));
    assert!(!rumos.read(|n| n.reachable().contains(&giro_id)));
    assert!(connected_airlines(&rumos).contains(&AirlineId::new("boreal")));

    rumos.heal(vec![]).await.unwrap();
    wait_full_mesh(&[&rumos, &giro, &boreal]).await;
    assert!(rumos.status().partitioned.is_empty());
    wait_for(10, "giro reachable again", || {
        rumos.read(|n| n.reachable().contains(&giro_id))
    })
    .await;
    for h in [&rumos, &giro, &boreal] {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_hangs_up_on_a_peer_that_stays_out_until_dialled_again() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let rumos = start("rumos", &dir.path().join("rumos"), vec![]).await;
    let rumos_addr = addr(&rumos).await;
    // giro knows rumos as a bootstrap peer: it re-dials it after every drop.
    let giro = start("giro", &dir.path().join("giro"), vec![rumos_addr.clone()]).await;
    // boreal is known to nobody: only an operator's dial links it.
    let boreal = start("boreal", &dir.path().join("boreal"), vec![]).await;
    let (giro_id, boreal_id) = (AirlineId::new("giro"), AirlineId::new("boreal"));
    wait_full_mesh(&[&rumos, &giro]).await;

    // Bad names are refused with a reason, and nothing changes.
    let own_id = rumos.status().peer_id;
    for (who, unknown) in [
        ("nobody", true),
        ("rumos", false),
        ("Not A Name!", false),
        (own_id.as_str(), false),
    ] {
        match rumos.hangup(who).await {
            Err(NetError::Unknown(_)) if unknown => {}
            Err(NetError::Invalid(_)) if !unknown => {}
            other => panic!("hangup {who:?}: {other:?}"),
        }
    }
    for bad in [
        rumos_addr.to_string(),
        "/ip4/127.0.0.1".into(),
        "nonsense".into(),
    ] {
        assert!(
            matches!(rumos.dial(&bad).await, Err(NetError::Invalid(_))),
            "dial {bad}"
        );
    }

    let gone = rumos.hangup("giro").await.unwrap();
    assert_eq!(gone.airline, Some(giro_id.clone()));
    assert_eq!(rumos.status().hung_up.len(), 1);
    wait_for(10, "rumos and giro apart", || {
        !connected_airlines(&rumos).contains(&giro_id)
            && !connected_airlines(&giro).contains(&AirlineId::new("rumos"))
    })
    .await;
    wait_for(10, "giro unreachable for rumos", || {
        !rumos.read(|n| n.reachable().contains(&giro_id))
    })
    .await;
    // giro keeps re-dialling rumos (every 0.25 to 10 s): rumos refuses every attempt.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!connected_airlines(&rumos).contains(&giro_id));

    // Dialling giro's address lets it back in.
    let giro_addr = addr(&giro).await;
    let peer_id = within(15, "the dial of giro", rumos.dial(&giro_addr.to_string()))
        .await
        .unwrap();
    assert_eq!(peer_id, giro.status().peer_id);
    assert!(rumos.status().hung_up.is_empty());
    wait_full_mesh(&[&rumos, &giro]).await;
    wait_for(10, "giro reachable again", || {
        rumos.read(|n| n.reachable().contains(&giro_id))
    })
    .await;

    // A peer nobody knew joins by a dial, and a hang-up by peer id lasts until a heal.
    let boreal_addr = addr(&boreal).await;
    within(
        15,
        "the dial of boreal",
        rumos.dial(&boreal_addr.to_string()),
    )
    .await
    .unwrap();
    wait_for(20, "rumos and boreal connected", || {
        connected_airlines(&rumos).contains(&boreal_id)
    })
    .await;
    let boreal_peer = boreal.status().peer_id;
    let gone = rumos.hangup(&boreal_peer).await.unwrap();
    assert_eq!(gone.airline, Some(boreal_id.clone()));
    wait_for(10, "rumos and boreal apart", || {
        !connected_airlines(&rumos).contains(&boreal_id)
    })
    .await;
    // The dialled address is re-dialled after drops, but not while boreal is hung up on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!connected_airlines(&rumos).contains(&boreal_id));
    rumos.heal(vec![]).await.unwrap();
    wait_for(20, "boreal back after the heal", || {
        connected_airlines(&rumos).contains(&boreal_id)
    })
    .await;
    for h in [&rumos, &giro, &boreal] {
        h.shutdown().await;
    }
}
