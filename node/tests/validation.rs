//! A node rejects what a rogue peer sends: forged sales, foreign catalog edits, bad signatures.

use passcom_crdt::{AirlineId, FlightId, SeatId, TicketId, Token, TokenState};
use passcom_node::*;
use passcom_node::{Ticket, TicketLeg, TicketStatus};

mod common;
use common::*;

fn outputs_of(node: &mut Node, from: &str, events: Vec<Event>) -> Vec<Output> {
    node.handle(
        Input::Message {
            from: a(from),
            msg: Message::Events { events },
        },
        T0,
    )
}

fn rejected(out: &[Output]) -> bool {
    out.iter().any(|o| matches!(o, Output::Rejected { .. }))
}

fn one_flight_cluster() -> Cluster {
    let mut c = cluster(&["giro", "rumos"]);
    c.put(
        "rumos",
        vec![flight("rumos", "RU1", "SSA", "BSB", 10, 2, "AB")],
    );
    c
}

#[test]
fn a_sale_by_a_peer_that_does_not_hold_the_seat_is_rejected() {
    let mut c = one_flight_cluster();
    let seat = SeatId::new("RU1", "1A");
    let prev = c.node("giro").token(&seat).unwrap();
    let forged = Event {
        origin: a("giro"),
        seq: c.node("rumos").clock().get(&a("giro")) + 1,
        tokens: vec![TokenUpdate {
            seat: seat.clone(),
            prev: prev.clone(),
            next: Token {
                version: 1,
                state: TokenState::Sold {
                    seller: a("giro"),
                    ticket: TicketId::new("giro-x"),
                },
            },
        }],
        tickets: vec![],
        catalog: vec![],
        signature: vec![],
    };
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(node, "giro", vec![forged]);
    assert!(rejected(&out), "{out:?}");
    assert_eq!(node.token(&seat), Some(prev), "the seat is untouched");
}

#[test]
fn a_catalog_change_to_another_airlines_document_is_rejected() {
    let mut c = one_flight_cluster();
    // giro edits rumos's flight in a catalog of its own and ships the change as its event.
    let mut rogue = passcom_crdt::Catalog::new();
    let mut f = flight("rumos", "RU1", "SSA", "BSB", 10, 2, "AB");
    f.fare_cents = 1;
    let changes = rogue.doc_mut(&a("rumos")).put_flights(&[f]).unwrap();
    let ev = Event {
        origin: a("giro"),
        seq: c.node("rumos").clock().get(&a("giro")) + 1,
        tokens: vec![],
        tickets: vec![],
        catalog: changes,
        signature: vec![],
    };
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(node, "giro", vec![ev]);
    assert!(rejected(&out), "{out:?}");
    assert_eq!(
        node.catalog()
            .flight(&FlightId::new("RU1"))
            .unwrap()
            .fare_cents,
        10_000
    );
}

#[test]
fn unsigned_or_foreign_signed_events_are_rejected_when_signatures_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let key = |b: u8| ed25519_dalek::SigningKey::from_bytes(&[b; 32]);
    let mut cfg = Config::new("rumos");
    cfg.signing_key = Some([1; 32]);
    cfg.require_signatures = true;
    cfg.roster_closed = true;
    cfg.roster
        .insert(AirlineId::new("giro"), key(2).verifying_key().to_bytes());
    let store = Store::open(&dir.path().join("r.redb")).unwrap();
    let (mut node, _) = Node::open(cfg, store, T0).unwrap();
    let ev = |origin: &str, k: u8| {
        let mut e = Event {
            origin: a(origin),
            seq: 1,
            tokens: vec![],
            tickets: vec![],
            catalog: vec![],
            signature: vec![],
        };
        use ed25519_dalek::Signer;
        e.signature = key(k).sign(&e.signed_bytes()).to_bytes().to_vec();
        e
    };
    assert!(
        rejected(&outputs_of(&mut node, "giro", vec![ev("giro", 3)])),
        "signed by the wrong key"
    );
    assert!(
        rejected(&outputs_of(&mut node, "mallory", vec![ev("mallory", 3)])),
        "not in the roster"
    );
    let mut unsigned = ev("giro", 2);
    unsigned.signature.clear();
    assert!(rejected(&outputs_of(&mut node, "giro", vec![unsigned])));
    assert!(
        !rejected(&outputs_of(&mut node, "giro", vec![ev("giro", 2)])),
        "the real key passes"
    );
    assert_eq!(node.clock().get(&a("giro")), 1);
}

#[test]
fn a_learned_key_is_kept_across_a_restart_and_a_second_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.redb");
    let mut cfg = Config::new("rumos");
    cfg.require_signatures = true;
    let key = |b: u8| {
        ed25519_dalek::SigningKey::from_bytes(&[b; 32])
            .verifying_key()
            .to_bytes()
    };
    let (mut node, _) = Node::open(cfg.clone(), Store::open(&path).unwrap(), T0).unwrap();
    assert!(!rejected(&node.handle(
        Input::PeerKey {
            airline: a("giro"),
            key: key(2)
        },
        T0
    )));
    drop(node);
    let (mut node, _) = Node::open(cfg, Store::open(&path).unwrap(), T0).unwrap();
    assert_eq!(node.roster().get(&a("giro")), Some(&key(2)));
    assert!(rejected(&node.handle(
        Input::PeerKey {
            airline: a("giro"),
            key: key(3)
        },
        T0
    )));
    assert_eq!(
        node.roster().get(&a("giro")),
        Some(&key(2)),
        "first key wins"
    );
}

#[test]
fn a_peer_that_keeps_asking_for_seats_gets_only_a_bounded_pool() {
    let mut c = cluster(&["rumos"]);
    c.put(
        "rumos",
        vec![flight("rumos", "RU1", "SSA", "BSB", 10, 30, "ABCDEF")],
    );
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    for _ in 0..10 {
        let ask = Message::SeatRequest {
            flight: FlightId::new("RU1"),
            seats: vec![],
            count: 1000,
        };
        node.handle(
            Input::Message {
                from: a("mallory"),
                msg: ask,
            },
            T0,
        );
    }
    let f = node
        .catalog()
        .flight(&FlightId::new("RU1"))
        .unwrap()
        .clone();
    let taken = node
        .seats_of(&f)
        .iter()
        .filter(|(_, t)| t.writer().as_str() == "mallory")
        .count();
    assert!(taken > 0, "an honest-looking request is served");
    assert!(
        taken <= 2 * Config::new("rumos").refill_batch as usize,
        "{taken} seats went to mallory"
    );
    assert!(
        node.seat_counts(&f, T0).here >= 150,
        "the rest stays on sale"
    );
}

/// An event of giro's, next in its sequence at rumos.
fn giro_event(
    c: &Cluster,
    tokens: Vec<TokenUpdate>,
    tickets: Vec<Ticket>,
    catalog: Vec<Vec<u8>>,
) -> Event {
    Event {
        origin: a("giro"),
        seq: c.node("rumos").clock().get(&a("giro")) + 1,
        tokens,
        tickets,
        catalog,
        signature: vec![],
    }
}

fn ticket_of(id: &str, seller: &str, seat: &str, status: TicketStatus) -> Ticket {
    Ticket {
        id: TicketId::new(id),
        passenger: "Mallory".into(),
        account: None,
        legs: vec![TicketLeg {
            flight: FlightId::new("RU1"),
            seat: seat.into(),
            fare_cents: 1,
        }],
        price_cents: 1,
        seller: a(seller),
        created_at: T0,
        status,
        key: None,
    }
}

#[test]
fn a_flight_defined_under_another_airlines_id_is_refused_and_the_real_one_stays() {
    let mut c = one_flight_cluster();
    let real = c
        .node("rumos")
        .catalog()
        .flight(&FlightId::new("RU1"))
        .cloned()
        .unwrap();
    // giro writes rumos' flight id into its own document: 200 rows, all of them giro's.
    let mut shadow = real.clone();
    shadow.airline = a("giro");
    shadow.rows = 200;
    let changes = passcom_crdt::AirlineCatalog::new(a("giro"))
        .write_flights_unchecked(&[shadow])
        .unwrap();
    let ev = giro_event(&c, vec![], vec![], changes);
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(node, "giro", vec![ev]);
    assert!(rejected(&out), "{out:?}");
    assert_eq!(node.catalog().flight(&real.id), Some(&real));
    assert_eq!(node.clock().get(&a("giro")), 0);
}

#[test]
fn a_ticket_without_the_token_update_that_sold_its_seat_is_rejected() {
    let mut c = one_flight_cluster();
    let seat = SeatId::new("RU1", "1A");
    let before = c.node("rumos").token(&seat);
    let forged = ticket_of("giro-1-1", "giro", "1A", TicketStatus::Live);
    let ev = giro_event(&c, vec![], vec![forged], vec![]);
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(node, "giro", vec![ev]);
    assert!(rejected(&out), "{out:?}");
    assert!(node.tickets().is_empty(), "the forged ticket was kept");
    assert_eq!(node.token(&seat), before);
}

#[test]
fn a_cancellation_of_another_airlines_ticket_is_rejected_under_any_name() {
    let mut c = one_flight_cluster();
    let r = c.buy("rumos", "k1", &[("RU1", None)]);
    c.settle();
    let real = c.ticket(r).cloned().expect("rumos sold a ticket");
    let seat = &real.legs[0].seat;
    // As rumos' seller (not giro's to publish), and as giro's own ticket under rumos' id.
    let as_rumos = ticket_of(real.id.as_str(), "rumos", seat, TicketStatus::Cancelled);
    let as_giro = ticket_of(real.id.as_str(), "giro", seat, TicketStatus::Cancelled);
    for forged in [as_rumos, as_giro] {
        let ev = giro_event(&c, vec![], vec![forged], vec![]);
        let node = c.nodes.get_mut(&a("rumos")).unwrap();
        let out = outputs_of(node, "giro", vec![ev]);
        assert!(rejected(&out), "{out:?}");
        assert_eq!(
            node.tickets().get(&real.id),
            Some(&real),
            "rumos' ticket changed"
        );
    }
}

#[test]
fn a_refused_event_keeps_none_of_its_catalog_change() {
    let mut c = one_flight_cluster();
    // A valid new flight of giro's own, in the same event as a forged ticket.
    let own = flight("giro", "GI1", "BSB", "REC", 13, 2, "AB");
    let changes = passcom_crdt::AirlineCatalog::new(a("giro"))
        .put_flights(&[own])
        .unwrap();
    let forged = ticket_of("giro-1-1", "giro", "1A", TicketStatus::Live);
    let ev = giro_event(&c, vec![], vec![forged], changes);
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(node, "giro", vec![ev]);
    assert!(rejected(&out), "{out:?}");
    assert!(
        node.catalog().flight(&FlightId::new("GI1")).is_none(),
        "the catalog change was kept"
    );
    assert!(node.tickets().is_empty());
}

#[test]
fn a_flood_of_an_invented_origin_does_not_stop_honest_events() {
    let mut c = one_flight_cluster();
    // One message of 10,000 tiny events of an origin nobody knows, none of them applicable
    // (its first event never comes), then giro's next real event.
    let flood: Vec<Event> = (2..=10_001)
        .map(|seq| Event {
            origin: a("ghost"),
            seq,
            tokens: vec![],
            tickets: vec![],
            catalog: vec![],
            signature: vec![],
        })
        .collect();
    let honest = giro_event(&c, vec![], vec![], vec![]);
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    outputs_of(node, "giro", flood);
    outputs_of(node, "giro", vec![honest]);
    assert_eq!(
        node.clock().get(&a("giro")),
        1,
        "giro's event waits behind the flood"
    );
}

#[test]
fn a_network_where_two_airlines_share_a_flight_id_code_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new("rumos");
    cfg.partners.insert(a("rubber"));
    let store = Store::open(&dir.path().join("r.redb")).unwrap();
    let err = Node::open(cfg, store, T0).unwrap_err();
    assert!(matches!(err, OpenError::CodeClash { .. }), "{err}");
    println!("{err}");
}

#[test]
fn a_peer_never_connected_to_an_airline_learns_its_key_from_a_relayed_record_even_after_the_relay_restarted()
 {
    let dir = tempfile::tempdir().unwrap();
    let key = |b: u8| ed25519_dalek::SigningKey::from_bytes(&[b; 32]);
    let open = |name: &str, b: u8| {
        let mut cfg = Config::new(name);
        cfg.signing_key = Some([b; 32]);
        cfg.require_signatures = true;
        let store = Store::open(&dir.path().join(format!("{name}.redb"))).unwrap();
        Node::open(cfg, store, T0).unwrap().0
    };
    let (mut rumos, mut giro, mut boreal) = (open("rumos", 1), open("giro", 2), open("boreal", 3));
    let peer_key = |airline: &str, b: u8| Input::PeerKey {
        airline: a(airline),
        key: key(b).verifying_key().to_bytes(),
    };
    // Direct connections: rumos–giro and rumos–boreal; boreal never meets giro.
    rumos.handle_batch(vec![peer_key("giro", 2), peer_key("boreal", 3)], T0);
    giro.handle(peer_key("rumos", 1), T0);
    boreal.handle(peer_key("rumos", 1), T0);
    // giro publishes its catalog; rumos applies it.
    giro.handle(Input::Request(1, Request::PutAirports(airports())), T0);
    giro.handle(
        Input::Request(
            2,
            Request::PutFlights(vec![flight("giro", "GI1", "BSB", "REC", 13, 2, "AB")]),
        ),
        T0,
    );
    let sync = |asker: &Node| Message::SyncRequest {
        clock: asker.clock().clone(),
        nonce: T0,
        incarnation: asker.incarnation(),
    };
    let deliver = |to: &mut Node, from: &str, out: Vec<Output>| {
        // Pages first, key records after them: the worst order for the receiver.
        let mut msgs: Vec<Message> = out
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { msg, .. } => Some(msg),
                _ => None,
            })
            .collect();
        msgs.sort_by_key(|m| matches!(m, Message::Keys { .. }));
        for msg in msgs {
            let out = to.handle(Input::Message { from: a(from), msg }, T0);
            assert!(!rejected(&out), "{out:?}");
        }
    };
    let out = giro.handle(
        Input::Message {
            from: a("rumos"),
            msg: sync(&rumos),
        },
        T0,
    );
    deliver(&mut rumos, "giro", out);
    assert_eq!(rumos.clock().get(&a("giro")), 2);
    // rumos restarts: the records it relays are durable, not only in the memory of the
    // process that received them.
    drop(rumos);
    let mut rumos = open("rumos", 1);
    assert_eq!(rumos.clock().get(&a("giro")), 2);
    // boreal catches up from rumos: giro's events come with giro's record, relayed.
    let out = rumos.handle(
        Input::Message {
            from: a("boreal"),
            msg: sync(&boreal),
        },
        T0,
    );
    deliver(&mut boreal, "rumos", out);
    assert_eq!(
        boreal.clock().get(&a("giro")),
        2,
        "giro's events still wait for its key"
    );
    assert!(boreal.catalog().flight(&FlightId::new("GI1")).is_some());
    // A record signed by another key than the one it names is a forgery.
    let mut forged = KeyRecord {
        airline: a("mallory"),
        key: key(9).verifying_key().to_bytes().to_vec(),
        signature: vec![],
    };
    use ed25519_dalek::Signer;
    forged.signature = key(8).sign(&forged.signed_bytes()).to_bytes().to_vec();
    let out = boreal.handle(
        Input::Message {
            from: a("rumos"),
            msg: Message::Keys {
                records: vec![forged],
            },
        },
        T0,
    );
    assert!(rejected(&out));
    assert!(!boreal.roster().contains_key(&a("mallory")));
}

/// A copy of a key record the node already holds is taken without checking its signature
/// again (every catch-up page comes after the same records); a record that differs from the
/// held one in any byte is checked in full and rejected when its signature does not hold.
#[test]
fn a_held_key_record_is_taken_again_but_a_changed_copy_of_it_is_rejected() {
    use ed25519_dalek::Signer;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new("boreal");
    cfg.signing_key = Some([3; 32]);
    cfg.require_signatures = true;
    let store = Store::open(&dir.path().join("boreal.redb")).unwrap();
    let mut boreal = Node::open(cfg, store, T0).unwrap().0;
    let giro = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
    let mut record = KeyRecord {
        airline: a("giro"),
        key: giro.verifying_key().to_bytes().to_vec(),
        signature: vec![],
    };
    record.signature = giro.sign(&record.signed_bytes()).to_bytes().to_vec();
    let mut send = |records: Vec<KeyRecord>| {
        boreal.handle(
            Input::Message {
                from: a("rumos"),
                msg: Message::Keys { records },
            },
            T0,
        )
    };
    assert!(!rejected(&send(vec![record.clone()])), "learned");
    assert!(
        !rejected(&send(vec![record.clone()])),
        "the held copy again"
    );
    // The same airline and key under a signature changed in one byte: not the held record,
    // so it is checked, and the signature does not hold.
    let mut changed = record.clone();
    changed.signature[0] ^= 1;
    assert!(rejected(&send(vec![changed])), "a changed signature");
    // The held signature over another key: checked, and rejected.
    let mut other_key = record.clone();
    other_key.key = ed25519_dalek::SigningKey::from_bytes(&[9; 32])
        .verifying_key()
        .to_bytes()
        .to_vec();
    assert!(
        rejected(&send(vec![other_key])),
        "the signature over another key"
    );
    // The held key and signature under another name: checked, and rejected.
    let mut other_name = record.clone();
    other_name.airline = a("mallory");
    assert!(rejected(&send(vec![other_name])), "another name");
    assert_eq!(
        boreal.roster().get(&a("giro")),
        Some(&giro.verifying_key().to_bytes())
    );
    assert!(!boreal.roster().contains_key(&a("mallory")));
}

/// Rejections name the message that carried the rejected content, so the transport penalises
/// that message and not every message its sender had in the batch. An event that waited for a
/// predecessor and is rejected in a later batch names no message of that batch (its own was
/// judged when it came).
#[test]
fn a_rejection_names_the_message_not_every_message_of_its_sender() {
    let mut c = one_flight_cluster();
    let forged = ticket_of("giro-1-1", "giro", "1A", TicketStatus::Live);
    let bad = giro_event(&c, vec![], vec![forged.clone()], vec![]);
    let rumos = c.nodes.get_mut(&a("rumos")).unwrap();
    let clock = rumos.clock().clone();
    let probe = Message::SyncRequest {
        clock,
        nonce: T0,
        incarnation: 7,
    };
    let out = rumos.handle_batch(
        vec![
            Input::Message {
                from: a("giro"),
                msg: probe.clone(),
            },
            Input::Message {
                from: a("giro"),
                msg: Message::Events { events: vec![bad] },
            },
            Input::Message {
                from: a("giro"),
                msg: probe,
            },
        ],
        T0,
    );
    let named: Vec<Option<usize>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Rejected { message, .. } => Some(*message),
            _ => None,
        })
        .collect();
    assert_eq!(named, vec![Some(1)], "{out:?}");

    // Event 2 comes first and waits for event 1; event 1 is honest (empty), event 2 forged.
    let mut later = giro_event(&c, vec![], vec![forged], vec![]);
    later.seq += 1;
    let first = giro_event(&c, vec![], vec![], vec![]);
    let rumos = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(rumos, "giro", vec![later]);
    assert!(!rejected(&out), "it waits for its predecessor: {out:?}");
    let out = outputs_of(rumos, "giro", vec![first]);
    let named: Vec<Option<usize>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Rejected { message, .. } => Some(*message),
            _ => None,
        })
        .collect();
    assert_eq!(named, vec![None], "{out:?}");
}

/// A cart id in a seat's token is its holder's: giro holding a seat of its escrow in a cart
/// named in rumos's namespace is rejected and nothing of it is applied, while giro's own hold,
/// placed by a traveler at giro, reaches rumos under `giro-…` and checks out there.
#[test]
fn a_hold_under_a_cart_id_of_another_airline_is_rejected() {
    let mut c = cluster(&["giro", "rumos"]);
    let mut f = flight("rumos", "RU1", "SSA", "BSB", 10, 2, "AB");
    f.escrow = vec![passcom_crdt::EscrowShare {
        airline: a("giro"),
        seats: 2,
    }];
    c.put("rumos", vec![f]);
    let seat = SeatId::new("RU1", "1A");
    let prev = c.node("rumos").token(&seat).unwrap();
    assert_eq!(prev.writer(), &a("giro"), "giro holds 1A in escrow");
    let held = |cart: &str| TokenUpdate {
        seat: seat.clone(),
        prev: prev.clone(),
        next: Token {
            version: prev.version + 1,
            state: TokenState::Held {
                holder: a("giro"),
                hold_id: cart.into(),
                expires: T0 + 60_000,
            },
        },
    };
    let foreign = giro_event(&c, vec![held("rumos-cart")], vec![], vec![]);
    let node = c.nodes.get_mut(&a("rumos")).unwrap();
    let out = outputs_of(node, "giro", vec![foreign]);
    assert!(rejected(&out), "{out:?}");
    assert_eq!(
        node.token(&seat),
        Some(prev.clone()),
        "the seat is untouched"
    );

    // The honest path: a traveler's cart at giro, seen at rumos in giro's namespace.
    let hold = c.hold("giro", "cart", "RU1", "1A", c.now + 60_000);
    assert!(matches!(c.replies.get(&hold), Some(Reply::Held(_))));
    c.settle();
    match c.node("rumos").token(&seat).map(|t| t.state) {
        Some(TokenState::Held {
            holder, hold_id, ..
        }) => {
            assert_eq!((holder.as_str(), hold_id.as_str()), ("giro", "giro-cart"));
        }
        other => panic!("rumos sees 1A as {other:?}"),
    }
    let bought = c.request(
        "giro",
        Request::Purchase(PurchaseRequest {
            key: "checkout".into(),
            passenger: "Ana".into(),
            account: None,
            legs: vec![LegRequest {
                flight: "RU1".into(),
                seat: Some("1A".into()),
            }],
            hold_id: Some("cart".into()),
            seat_fallback: Default::default(),
        }),
    );
    assert!(c.ticket(bought).is_some(), "{:?}", c.replies.get(&bought));
    c.settle();
    assert!(matches!(
        c.node("rumos").token(&seat).map(|t| t.state),
        Some(TokenState::Sold { .. })
    ));
}

/// Peers that already agree exchange one probe and one empty page per tick: no key record
/// rides along when the page carries no event to vouch for (one did, on every answer).
#[test]
fn an_empty_page_travels_without_key_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new("rumos");
    cfg.signing_key = Some([1; 32]);
    let store = Store::open(&dir.path().join("r.redb")).unwrap();
    let (mut rumos, _) = Node::open(cfg, store, T0).unwrap();
    let probe = Message::SyncRequest {
        clock: rumos.clock().clone(),
        nonce: T0,
        incarnation: 7,
    };
    let out = rumos.handle(
        Input::Message {
            from: a("giro"),
            msg: probe,
        },
        T0,
    );
    let sent: Vec<&Message> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(sent[0], Message::Page { events, .. } if events.is_empty()));
}
