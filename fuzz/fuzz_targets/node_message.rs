//! Fuzz target: a node handling arbitrary messages from its peers (`Node::handle` with
//! `Input::Message`), as a rogue peer could send them on gossip or a direct stream.
//!
//! The node is giro's, over an in-memory redb database, brought first to the state of a real
//! exchange (rumos' and boreal's recorded events applied), so that mutated events reach the
//! token, ticket and catalog checks rather than stopping at "unknown flight". The input is a
//! control byte then a sequence of CBOR messages (the wire encoding); each is handed to the
//! node as coming from one of the airlines, with a tick in between now and then.
//!
//! Nothing may panic, and whatever the messages say, the node's own log must hold only events
//! it wrote (gap-free, signed by its key) and no flight may show more live legs than seats.
#![no_main]

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use passcom_crdt::AirlineId;
use passcom_fuzz::{AIRLINES, T0, VICTIM, events_of, memory_node, record_exchange, signing_key};
use passcom_node::{Input, Message, Node, Output, Timer};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The recorded events of the other airlines, fed to every fresh node first.
fn preload() -> &'static Vec<(AirlineId, Message)> {
    static PRELOAD: OnceLock<Vec<(AirlineId, Message)>> = OnceLock::new();
    PRELOAD.get_or_init(|| {
        let record = record_exchange();
        AIRLINES
            .iter()
            .filter(|a| **a != VICTIM)
            .map(|a| {
                (
                    AirlineId::new(*a),
                    Message::Events {
                        events: events_of(&record, a),
                    },
                )
            })
            .collect()
    })
}

/// The node's own history may grow (it answers grants and seat requests with events of its
/// own) but only with events it wrote: numbered without gaps and signed with its own key.
/// A message that made it adopt an event in its name would show here.
fn check_own_history(node: &Node, key: &VerifyingKey) {
    let me = AirlineId::new(VICTIM);
    let mine: Vec<_> = node
        .events_missing_from(&Default::default(), usize::MAX)
        .expect("the in-memory log reads")
        .0
        .into_iter()
        .filter(|e| e.origin == me)
        .collect();
    assert_eq!(
        mine.len() as u64,
        node.clock().get(&me),
        "gaps in the node's own log"
    );
    for (i, e) in mine.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "the node's own log is out of order");
        let sig = Signature::from_slice(&e.signature).expect("a 64-byte signature");
        assert!(
            key.verify(&e.signed_bytes(), &sig).is_ok(),
            "event {} in the node's own log is not signed by it",
            e.seq
        );
    }
}

fn check(node: &Node) {
    let mut sold: BTreeMap<_, u32> = BTreeMap::new();
    for t in node.tickets().values() {
        if t.status == passcom_node::TicketStatus::Live {
            for leg in &t.legs {
                *sold.entry(leg.flight.clone()).or_default() += 1;
            }
        }
    }
    for (flight, n) in sold {
        if let Some(f) = node.catalog().flight(&flight) {
            assert!(
                n <= f.capacity(),
                "{flight}: {n} live legs, {} seats",
                f.capacity()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    passcom_fuzz::allow_caught_panics();
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    // Bit 0: require signatures (the production setting) or not (reaches deeper checks with
    // mutated events, whose signatures no longer match).
    let mut node = memory_node(VICTIM, control & 1 == 1);
    let mut now = T0 + 2_000;
    for (from, msg) in preload() {
        let _ = node.handle(
            Input::Message {
                from: from.clone(),
                msg: msg.clone(),
            },
            now,
        );
    }
    // At most 16 messages per input: each is a redb commit.
    for i in 0..16u8 {
        if rest.is_empty() {
            break;
        }
        let Ok(msg) = ciborium::from_reader::<Message, _>(&mut rest) else {
            break;
        };
        let from = AirlineId::new(AIRLINES[((control >> 1) as usize + i as usize) % 3]);
        if from.as_str() == VICTIM && control & 0x80 == 0 {
            // The transport never attributes a message to ourselves; mostly respect that.
            continue;
        }
        let out = node.handle(Input::Message { from, msg }, now);
        for o in &out {
            if let Output::Reply(..) = o {
                panic!("a reply without a request: {o:?}");
            }
        }
        check(&node);
        if control & (0x08 << (i % 4)) != 0 {
            now += 1_000;
            let _ = node.handle(Input::Timer(Timer::Tick), now);
        }
    }
    let index = AIRLINES.iter().position(|a| *a == VICTIM).unwrap_or(0);
    check_own_history(&node, &signing_key(index).verifying_key());
});
