//! Fuzz target: the gossip decoder (`passcom_net::wire::decode`, ciborium), fed arbitrary
//! bytes as a rogue publisher could put in a gossipsub message.
//!
//! Beyond "never panics": whatever decodes must encode and decode back to the same message
//! (so a relayed event is the event that was signed), and splitting it into chunks must keep
//! every event, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passcom_net::wire;
use passcom_node::Message;

fuzz_target!(|data: &[u8]| {
    // The identify agent parser sees peer-chosen strings too.
    if let Ok(agent) = std::str::from_utf8(data) {
        let _ = wire::parse_agent(agent);
    }
    let Ok(msg) = wire::decode(data) else {
        return;
    };
    let bytes = wire::encode(&msg).expect("a decoded message encodes");
    assert_eq!(
        wire::decode(&bytes).expect("an encoded message decodes"),
        msg,
        "decode(encode(m)) != m"
    );
    if let Message::Events { events } = &msg {
        let rejoined: Vec<_> = wire::chunk(msg.clone())
            .into_iter()
            .flat_map(|m| match m {
                Message::Events { events } => events,
                other => panic!("chunk turned events into {}", other.kind()),
            })
            .collect();
        assert_eq!(&rejoined, events, "chunking lost or reordered events");
    }
});
