//! The crash model: a peer's in-memory device keeps what it committed when the peer is dropped
//! and reopened, which is what lets the simulator crash peers mid-purchase.

use passcom_crdt::{Flight, FlightId};
use passcom_node::{
    Config, Input, LegRequest, Node, Output, PurchaseRequest, Reply, Request, Store, fixtures,
};
use passcom_simulations::backend::SharedMemoryBackend;

const NOW: i64 = 1_800_000_000_000;

fn open(backend: &SharedMemoryBackend) -> Node {
    let db = backend.open_database().expect("the device opens");
    let store = Store::from_database(db, "<test>".into()).expect("the store opens");
    Node::open(Config::new("rumos"), store, NOW)
        .expect("the node opens")
        .0
}

fn reply(outputs: Vec<Output>, id: u64) -> Reply {
    outputs
        .into_iter()
        .find_map(|o| match o {
            Output::Reply(i, r) if i == id => Some(r),
            _ => None,
        })
        .expect("the request was answered")
}

#[test]
fn a_ticket_sold_before_a_crash_is_there_after_the_restart() {
    let backend = SharedMemoryBackend::new();
    let mut node = open(&backend);
    let flight = Flight {
        arrival: NOW + 90_000_000,
        rows: 3,
        letters: "ABCD".into(),
        ..fixtures::flight("rumos", "RU1", "SSA", "BSB", NOW + 86_400_000)
    };
    let setup = vec![
        Input::Request(1, Request::PutAirports(fixtures::airports(&["SSA", "BSB"]))),
        Input::Request(2, Request::PutFlights(vec![flight])),
    ];
    node.handle_batch(setup, NOW);
    let buy = PurchaseRequest {
        key: "retry-me".into(),
        passenger: "Ana".into(),
        account: None,
        legs: vec![LegRequest {
            flight: FlightId::new("RU1"),
            seat: Some("2B".into()),
        }],
        hold_id: None,
        seat_fallback: Default::default(),
    };
    let Reply::Ticket(sold) = reply(
        node.handle(Input::Request(3, Request::Purchase(buy.clone())), NOW + 10),
        3,
    ) else {
        panic!("the seat is free and held here")
    };

    // The crash: everything in memory goes, the committed bytes stay.
    drop(node);
    let mut node = open(&backend);
    assert_eq!(node.tickets().get(&sold.id), Some(&sold));

    // The traveler never heard back and retries with the same key: the same ticket, not a
    // second one.
    let again = reply(
        node.handle(Input::Request(4, Request::Purchase(buy)), NOW + 20),
        4,
    );
    assert_eq!(again, Reply::Ticket(sold));
    assert_eq!(node.tickets().len(), 1);
}
