//! A node rejects what a rogue peer sends: forged sales, foreign catalog edits, bad signatures.

use passcom_crdt::{AirlineId, FlightId, SeatId, TicketId, Token, TokenState};
use passcom_node::*;

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
    let mut c = Cluster::new(&["giro", "rumos"]);
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
    let mut c = Cluster::new(&["rumos"]);
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
