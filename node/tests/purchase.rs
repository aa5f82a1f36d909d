//! Purchases in real nodes over real redb files: atomic multi-leg itineraries, idempotent
//! retries, the last seat, crashes mid-purchase, group commit.

mod common;
use common::*;
use passcom_crdt::{Flight, FlightId, SeatId, TokenState};
use passcom_node::*;

fn three_airlines() -> Cluster {
    let mut c = cluster(&["boreal", "giro", "rumos"]);
    c.put(
        "rumos",
        vec![flight("rumos", "RU1", "SSA", "BSB", 10, 2, "AB")],
    );
    c.put(
        "giro",
        vec![flight("giro", "GI1", "BSB", "REC", 13, 2, "AB")],
    );
    c.put(
        "boreal",
        vec![flight("boreal", "BO1", "REC", "MAO", 16, 1, "A")],
    );
    c
}

#[test]
fn a_three_airline_itinerary_commits_all_legs_in_one_ticket() {
    let mut c = three_airlines();
    let id = c.buy("giro", "k1", &[("RU1", None), ("GI1", None), ("BO1", None)]);
    assert!(
        c.ticket(id).is_none(),
        "legs held elsewhere must be fetched first"
    );
    c.settle();
    let ticket = c
        .ticket(id)
        .expect("confirmed once the tokens arrived")
        .clone();
    assert_eq!(ticket.legs.len(), 3);
    assert_eq!(ticket.seller.as_str(), "giro");
    for leg in &ticket.legs {
        let t = c
            .node("giro")
            .token(&SeatId::new(leg.flight.clone(), leg.seat.clone()))
            .unwrap();
        assert_eq!(
            t.state,
            TokenState::Sold {
                seller: a("giro"),
                ticket: ticket.id.clone()
            }
        );
    }
    // The ticket reached every peer.
    for n in ["rumos", "giro", "boreal"] {
        assert_eq!(
            c.node(n).tickets().get(&ticket.id),
            Some(&ticket),
            "missing at {n}"
        );
    }
}

#[test]
fn a_multi_leg_purchase_with_one_leg_sold_out_sells_nothing() {
    let mut c = three_airlines();
    let first = c.buy("boreal", "k1", &[("BO1", None)]);
    c.settle();
    assert!(c.ticket(first).is_some());
    let before: Vec<_> = c
        .node("rumos")
        .changed_tokens()
        .clone()
        .into_iter()
        .collect();
    let id = c.buy("rumos", "k2", &[("RU1", None), ("BO1", None)]);
    c.settle();
    assert!(
        matches!(
            c.replies.get(&id),
            Some(Reply::Refused(Refusal::SoldOut { .. }))
        ),
        "{:?}",
        c.replies.get(&id)
    );
    // RU1's seats are untouched: no partial sale.
    let after: Vec<_> = c
        .node("rumos")
        .changed_tokens()
        .clone()
        .into_iter()
        .collect();
    assert_eq!(before, after);
    assert_eq!(c.live_seats("rumos").len(), 1);
}

#[test]
fn a_retry_with_the_same_key_returns_the_same_ticket() {
    let mut c = three_airlines();
    let first = c.buy("rumos", "same-key", &[("RU1", Some("1A"))]);
    let again = c.buy("rumos", "same-key", &[("RU1", Some("1A"))]);
    assert_eq!(c.ticket(first), c.ticket(again));
    assert!(c.ticket(first).is_some());
    let other = c.buy("rumos", "same-key", &[("GI1", None)]);
    assert!(matches!(
        c.replies.get(&other),
        Some(Reply::Refused(Refusal::KeyReused { .. }))
    ));
    c.settle();
    assert_eq!(c.live_seats("giro").len(), 1);
}

#[test]
fn concurrent_buyers_of_the_last_seat_exactly_one_wins() {
    let mut c = three_airlines();
    // BO1 has one seat. Two purchases in one batch at boreal (group commit)…
    let (i1, i2) = (1001, 1002);
    let mk = |key: &str| {
        Request::Purchase(PurchaseRequest {
            key: key.into(),
            passenger: "P".into(),
            account: None,
            legs: vec![LegRequest {
                flight: FlightId::new("BO1"),
                seat: None,
            }],
            hold_id: None,
            seat_fallback: Default::default(),
        })
    };
    // …and one at rumos, which must fetch the seat from boreal, all at the same instant.
    let r = c.buy("rumos", "r", &[("BO1", None)]);
    c.batch(
        &a("boreal"),
        vec![Input::Request(i1, mk("x")), Input::Request(i2, mk("y"))],
    );
    c.settle();
    c.tick(5_000);
    let wins = [i1, i2, r]
        .iter()
        .filter(|i| c.ticket(**i).is_some())
        .count();
    assert_eq!(wins, 1, "{:?}", c.replies);
    for n in ["rumos", "giro", "boreal"] {
        assert_eq!(c.live_seats(n).len(), 1);
    }
}

#[test]
fn a_purchase_group_commits_as_one_event() {
    let mut c = cluster(&["rumos"]);
    c.put(
        "rumos",
        vec![flight("rumos", "RU1", "SSA", "BSB", 10, 10, "ABCDEF")],
    );
    let before = c.node("rumos").clock().get(&a("rumos"));
    let inputs = (0..20)
        .map(|i| {
            Input::Request(
                5000 + i,
                Request::Purchase(PurchaseRequest {
                    key: format!("k{i}"),
                    passenger: "P".into(),
                    account: None,
                    legs: vec![LegRequest {
                        flight: FlightId::new("RU1"),
                        seat: None,
                    }],
                    hold_id: None,
                    seat_fallback: Default::default(),
                }),
            )
        })
        .collect();
    c.batch(&a("rumos"), inputs);
    assert_eq!(
        c.node("rumos").clock().get(&a("rumos")),
        before + 1,
        "20 sales, one event"
    );
    assert_eq!(c.live_seats("rumos").len(), 20);
}

#[test]
fn a_crash_mid_purchase_ends_confirmed_or_refused_never_stuck_or_doubled() {
    let mut c = three_airlines();
    // giro asks rumos for a seat; the grant is lost with the crash.
    let id = c.buy("giro", "k", &[("RU1", Some("2B"))]);
    assert!(!c.replies.contains_key(&id));
    assert!(matches!(
        c.node("giro").operation("k"),
        Some(Operation::Pending { .. })
    ));
    c.crash("giro");
    c.open("giro");
    assert!(
        matches!(
            c.node("giro").operation("k"),
            Some(Operation::Pending { .. })
        ),
        "recorded durably"
    );
    // Reconnect: the grant (durable at rumos) reaches giro via catch-up and the purchase ends.
    for o in ["rumos", "boreal"] {
        c.input(&a("giro"), Input::Connected(a(o)));
        c.input(&a(o), Input::Connected(a("giro")));
    }
    c.settle();
    c.tick(100);
    let retry = c.buy("giro", "k", &[("RU1", Some("2B"))]);
    c.settle();
    match c.node("giro").operation("k") {
        Some(Operation::Confirmed(t)) => {
            assert_eq!(c.ticket(retry).map(|x| &x.id), Some(t));
        }
        other => panic!("expected confirmed, got {other:?}"),
    }
    assert_eq!(c.live_seats("rumos").len(), 1);
    assert_eq!(c.live_seats("giro").len(), 1);
}

#[test]
fn a_pending_purchase_whose_holder_stays_away_is_refused_at_its_deadline() {
    let mut c = three_airlines();
    let id = c.buy("giro", "k", &[("RU1", Some("1A"))]);
    // rumos is cut off before the request arrives.
    c.partition("rumos");
    c.settle();
    c.crash("giro");
    c.open("giro");
    c.tick(10_000);
    // The disconnect answered the caller at once, before the crash: nobody waits on a holder
    // that is known to be away.
    assert!(
        matches!(c.replies.get(&id), Some(Reply::Refused(r)) if r.is_transient()),
        "{:?}",
        c.replies.get(&id)
    );
    // The key's attempt ended; an answer to one attempt ("unreachable", "timed out") is not
    // the key's answer, so nothing is kept and a retry tries again.
    assert_eq!(c.node("giro").operation("k"), None);
    // With the holder unreachable, a new purchase of that seat is refused at once.
    let again = c.buy("giro", "k2", &[("RU1", Some("1A"))]);
    assert!(matches!(
        c.replies.get(&again),
        Some(Reply::Refused(Refusal::HolderUnreachable { .. }))
    ));
}

#[test]
fn tickets_survive_a_restart() {
    let mut c = three_airlines();
    let id = c.buy("rumos", "k", &[("RU1", None)]);
    let t = c.ticket(id).unwrap().clone();
    c.crash("rumos");
    c.open("rumos");
    assert_eq!(c.node("rumos").tickets().get(&t.id), Some(&t));
    let retry = c.buy("rumos", "k", &[("RU1", None)]);
    assert_eq!(c.ticket(retry), Some(&t));
}

#[test]
fn a_partner_sells_from_escrow_while_cut_off_and_everyone_converges() {
    let mut c = cluster(&["boreal", "giro", "rumos"]);
    let mut f = flight("rumos", "RU1", "SSA", "BSB", 10, 5, "ABCD");
    f.escrow = Flight::escrow_for(f.capacity(), 0.2, &[a("giro"), a("boreal")]);
    c.put("rumos", vec![f]);
    c.partition("giro");
    let mut sold_at_giro = 0;
    for i in 0..6 {
        let id = c.buy("giro", &format!("g{i}"), &[("RU1", None)]);
        sold_at_giro += usize::from(c.ticket(id).is_some());
    }
    assert_eq!(sold_at_giro, 4, "giro's escrow share is 4 seats");
    for i in 0..30 {
        c.buy("rumos", &format!("r{i}"), &[("RU1", None)]);
        c.buy("boreal", &format!("b{i}"), &[("RU1", None)]);
        c.settle();
    }
    c.heal("giro");
    c.tick(1_000);
    c.tick(1_000);
    let seats = c.live_seats("rumos");
    assert_eq!(seats.len(), 20, "every seat sold once");
    for n in ["giro", "boreal"] {
        assert_eq!(c.live_seats(n), seats);
        assert_eq!(c.node(n).changed_tokens(), c.node("rumos").changed_tokens());
        assert_eq!(c.node(n).clock(), c.node("rumos").clock());
    }
}

#[test]
fn holds_keep_seats_for_their_cart_until_they_lapse() {
    let mut c = three_airlines();
    let hold = c.request(
        "rumos",
        Request::Hold(HoldRequest {
            hold_id: "cart1".into(),
            account: None,
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: Some("1A".into()),
            }],
            expires: T0 + 60_000,
            seat_fallback: Default::default(),
        }),
    );
    assert!(matches!(c.replies.get(&hold), Some(Reply::Held(_))));
    let other = c.buy("rumos", "x", &[("RU1", Some("1A"))]);
    assert!(matches!(
        c.replies.get(&other),
        Some(Reply::Refused(Refusal::SeatTaken { .. }))
    ));
    let mine = c.request(
        "rumos",
        Request::Purchase(PurchaseRequest {
            key: "mine".into(),
            passenger: "P".into(),
            account: None,
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: None,
            }],
            hold_id: Some("cart1".into()),
            seat_fallback: Default::default(),
        }),
    );
    assert_eq!(c.ticket(mine).unwrap().legs[0].seat, "1A");
    // A second cart lapses and its seat returns.
    let h2 = c.request(
        "rumos",
        Request::Hold(HoldRequest {
            hold_id: "cart2".into(),
            account: None,
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: Some("1B".into()),
            }],
            expires: T0 + 60_000,
            seat_fallback: Default::default(),
        }),
    );
    assert!(matches!(c.replies.get(&h2), Some(Reply::Held(_))));
    c.tick(61_000);
    let late = c.buy("rumos", "late", &[("RU1", Some("1B"))]);
    assert!(c.ticket(late).is_some(), "{:?}", c.replies.get(&late));
}

#[test]
fn cancelling_returns_the_seat_and_cancelling_a_flight_cancels_its_tickets() {
    let mut c = three_airlines();
    let id = c.buy("giro", "k", &[("RU1", Some("1A"))]);
    c.settle();
    let t = c.ticket(id).unwrap().clone();
    let cancel = c.request(
        "giro",
        Request::Cancel {
            ticket: t.id.clone(),
            account: None,
        },
    );
    assert!(
        matches!(c.replies.get(&cancel), Some(Reply::Ticket(t)) if t.status == TicketStatus::Cancelled)
    );
    c.settle();
    assert!(c.live_seats("rumos").is_empty());
    let id2 = c.buy("giro", "k2", &[("RU1", Some("1A"))]);
    assert!(
        c.ticket(id2).is_some(),
        "the refunded seat sells again at its seller"
    );
    c.settle();
    let mut cancelled = flight("rumos", "RU1", "SSA", "BSB", 10, 2, "AB");
    cancelled.cancelled = true;
    let r = c.request("rumos", Request::PutFlights(vec![cancelled]));
    assert_eq!(c.replies.get(&r), Some(&Reply::Done));
    c.settle();
    c.tick(100);
    for n in ["rumos", "giro", "boreal"] {
        assert!(
            c.live_seats(n).is_empty(),
            "tickets of a cancelled flight are cancelled at {n}"
        );
    }
    let late = c.buy("giro", "k3", &[("RU1", None)]);
    assert!(matches!(
        c.replies.get(&late),
        Some(Reply::Refused(Refusal::FlightCancelled { .. }))
    ));
}

#[test]
fn an_airline_cannot_edit_another_airlines_flight() {
    let mut c = three_airlines();
    let r = c.request(
        "giro",
        Request::PutFlights(vec![flight("rumos", "RU1", "SSA", "BSB", 10, 2, "AB")]),
    );
    assert!(matches!(
        c.replies.get(&r),
        Some(Reply::Refused(Refusal::Invalid(_)))
    ));
}

#[test]
fn a_cart_is_checked_out_only_by_its_own_account() {
    let mut c = three_airlines();
    let hold = c.request(
        "rumos",
        Request::Hold(HoldRequest {
            hold_id: "cart-ana".into(),
            account: Some("ana".into()),
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: Some("1A".into()),
            }],
            expires: T0 + 60_000,
            seat_fallback: Default::default(),
        }),
    );
    assert!(matches!(c.replies.get(&hold), Some(Reply::Held(_))));
    let thief = c.request(
        "rumos",
        Request::Purchase(PurchaseRequest {
            key: "steal".into(),
            passenger: "Bruno".into(),
            account: Some("bruno".into()),
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: None,
            }],
            hold_id: Some("cart-ana".into()),
            seat_fallback: Default::default(),
        }),
    );
    assert!(matches!(
        c.replies.get(&thief),
        Some(Reply::Refused(Refusal::UnknownHold { .. }))
    ));
    let owner = c.request(
        "rumos",
        Request::Purchase(PurchaseRequest {
            key: "mine".into(),
            passenger: "Ana".into(),
            account: Some("ana".into()),
            legs: vec![LegRequest {
                flight: FlightId::new("RU1"),
                seat: None,
            }],
            hold_id: Some("cart-ana".into()),
            seat_fallback: Default::default(),
        }),
    );
    assert_eq!(c.ticket(owner).map(|t| t.legs[0].seat.as_str()), Some("1A"));
}
