//! Catch-up pages whose signatures are checked in batches: a forged event among honest ones
//! is rejected alone, and the honest ones are applied.

use passcom_crdt::{AirlineId, VectorClock};
use passcom_node::*;

mod common;
use common::*;

fn request(node: &mut Node, req: Request) -> Reply {
    node.handle(Input::Request(1, req), T0)
        .into_iter()
        .find_map(|o| match o {
            Output::Reply(_, r) => Some(r),
            _ => None,
        })
        .expect("a reply")
}

/// A rumos store holding its catalog and `n` signed sales; returns rumos reopened on it.
fn rumos_with_sales(dir: &std::path::Path, key: [u8; 32], n: usize) -> Node {
    let mut cfg = Config::new("rumos");
    cfg.signing_key = Some(key);
    let path = dir.join("rumos.redb");
    let (mut rumos, _) = Node::open(cfg.clone(), Store::open(&path).unwrap(), T0).unwrap();
    let flights = vec![
        flight("rumos", "RU1", "SSA", "BSB", 10, 30, "ABCDEF"),
        flight("rumos", "RU2", "BSB", "MAO", 12, 30, "ABCDEF"),
    ];
    assert_eq!(
        request(&mut rumos, Request::PutAirports(airports())),
        Reply::Done
    );
    assert_eq!(
        request(&mut rumos, Request::PutFlights(flights.clone())),
        Reply::Done
    );
    let base = rumos.clock().get(&a("rumos"));
    drop(rumos);
    let mut store = Store::open(&path).unwrap();
    demo::append_sales(&mut store, &a("rumos"), &key, &flights, base, n).unwrap();
    drop(store);
    Node::open(cfg, Store::open(&path).unwrap(), T0).unwrap().0
}

fn giro_trusting(dir: &std::path::Path, key: [u8; 32]) -> Node {
    let mut cfg = Config::new("giro");
    cfg.require_signatures = true;
    cfg.roster.insert(
        AirlineId::new("rumos"),
        ed25519_dalek::SigningKey::from_bytes(&key)
            .verifying_key()
            .to_bytes(),
    );
    Node::open(cfg, Store::open(&dir.join("giro.redb")).unwrap(), T0)
        .unwrap()
        .0
}

#[test]
fn a_forged_event_inside_a_batch_verified_page_is_rejected_while_the_honest_ones_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let key = [7u8; 32];
    // 300 sales: more than one batch group, and enough to spread over threads.
    let rumos = rumos_with_sales(dir.path(), key, 300);
    let (mut events, more) = rumos
        .events_missing_from(&VectorClock::default(), 10_000)
        .unwrap();
    assert!(!more);
    let last = rumos.clock().get(&a("rumos"));
    let forged_seq = last - 150;
    let i = events.iter().position(|e| e.seq == forged_seq).unwrap();
    let honest = events[i].clone();
    // A relay rewrites the passenger of one sale and keeps the origin's signature.
    events[i].tickets[0].passenger = "Mallory".into();

    let mut giro = giro_trusting(dir.path(), key);
    let out = giro.handle(
        Input::Message {
            from: a("rumos"),
            msg: Message::Page {
                events,
                more: false,
                nonce: T0,
                asker_seq: 0,
                presence: passcom_node::Presence::default(),
            },
        },
        T0,
    );
    let reasons: Vec<&String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Rejected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1, "exactly the forged event: {reasons:?}");
    assert!(
        reasons[0].contains(&format!("event {forged_seq} of rumos")),
        "{reasons:?}"
    );
    // Everything before the forgery is applied; what follows waits for its predecessor.
    assert_eq!(giro.clock().get(&a("rumos")), forged_seq - 1);
    assert!(giro.tickets().values().all(|t| t.passenger != "Mallory"));

    // The honest copy arrives: it and the 150 verified events queued behind it apply.
    giro.handle(
        Input::Message {
            from: a("rumos"),
            msg: Message::Events {
                events: vec![honest],
            },
        },
        T0,
    );
    assert_eq!(giro.clock(), rumos.clock());
    assert_eq!(giro.tickets(), rumos.tickets());
    assert_eq!(giro.tickets().len(), 300);
}

#[test]
fn a_page_whose_parts_arrive_in_one_batch_is_not_asked_for_again() {
    let dir = tempfile::tempdir().unwrap();
    let key = [8u8; 32];
    let rumos = rumos_with_sales(dir.path(), key, 300);
    let (mut first, _) = rumos
        .events_missing_from(&VectorClock::default(), 10_000)
        .unwrap();
    let second = first.split_off(first.len() / 2);
    // The wire cut one page in two parts; every part but the last says `more`.
    let part = |events: Vec<Event>, more: bool| Input::Message {
        from: a("rumos"),
        msg: Message::Page {
            events,
            more,
            nonce: T0,
            asker_seq: 0,
            presence: passcom_node::Presence::default(),
        },
    };
    let mut giro = giro_trusting(dir.path(), key);
    let out = giro.handle_batch(vec![part(first, true), part(second, false)], T0);
    assert_eq!(giro.clock(), rumos.clock());
    // The first part asked for more; the request must say what the whole batch applied, or
    // rumos sends the second part again.
    let asked: Vec<&VectorClock> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: Message::SyncRequest { clock, .. },
                ..
            } => Some(clock),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![giro.clock()]);
}
