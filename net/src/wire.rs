//! The wire format, versioned in this one place (documented for other languages in
//! `docs/wire.md`).
//!
//! Every payload is the CBOR encoding (serde, via ciborium) of the node's
//! [`passcom_node::Message`]. The version lives in the names: the gossip topic
//! [`EVENTS_TOPIC`], the request-response protocol [`DIRECT_PROTOCOL`] and the identify agent
//! strings. A change that old peers cannot decode gets new names, so old and new peers simply
//! do not talk instead of misreading each other.

use passcom_crdt::AirlineId;
use passcom_node::{Event, Message, Presence};

/// Version of the wire format described here.
pub const WIRE_VERSION: u32 = 5;

/// The gossipsub topic that carries every live event (catalog changes, seat-token changes and
/// tickets). One topic, because an event is signed as a whole by its origin: splitting it by
/// content would break the signature, and a subscriber filters what it wants after decoding.
pub const EVENTS_TOPIC: &str = "passcom/v5/events";

/// The request-response protocol for messages to one peer: token hand-overs, seat requests,
/// vector-clock exchange and catch-up events.
pub const DIRECT_PROTOCOL: &str = "/passcom/direct/5";

/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/passcom/1";

/// Prefix of an airline peer's identify agent version: `passcom/1/<airline>`.
pub const AIRLINE_AGENT_PREFIX: &str = "passcom/1/";

/// Identify agent version of a plain subscriber (`passcom watch`): not an airline.
pub const WATCH_AGENT: &str = "passcom-watch/1";

/// Largest gossip message accepted or sent (8 MiB). A demo catalog of one airline (about 550
/// flights) fits in one event well under this.
pub const MAX_GOSSIP_BYTES: usize = 8 << 20;

/// Largest request-response message accepted (16 MiB).
pub const MAX_DIRECT_BYTES: u64 = 16 << 20;

/// Target size of one `Events` message when a long list of events is split (4 MiB, by the
/// cautious estimate of `approx_size`, which is about twice the real size of a sale). A
/// catch-up page of the node's default 2,048 sales fits in one part, so it costs one request
/// and its asker asks again only once it has all of it. A single event larger than this still
/// travels alone.
pub const CHUNK_BYTES: usize = 4 << 20;

/// The identify agent version of `airline`'s peer.
pub fn airline_agent(airline: &AirlineId) -> String {
    format!("{AIRLINE_AGENT_PREFIX}{airline}")
}

/// What an identify agent version says about the remote peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agent {
    /// An airline peer of this wire version.
    Airline(AirlineId),
    /// A plain subscriber.
    Watcher,
    /// Anything else (another version, another program).
    Other,
}

/// Parses an identify agent version. An airline name must be 1 to 64 characters of
/// `[a-z0-9_-]`, so that it can be used in file names and URLs.
pub fn parse_agent(agent: &str) -> Agent {
    if agent == WATCH_AGENT {
        return Agent::Watcher;
    }
    match agent.strip_prefix(AIRLINE_AGENT_PREFIX) {
        Some(name) if valid_airline_name(name) => Agent::Airline(AirlineId::new(name)),
        _ => Agent::Other,
    }
}

/// Whether `name` is acceptable as an airline name: 1 to 64 of `[a-z0-9_-]`.
pub fn valid_airline_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Encodes a message as CBOR.
///
/// Errors: never for the node's message types in practice (ciborium fails only on I/O of the
/// `Vec` writer or on maps with non-string keys, neither of which occurs); reported anyway.
pub fn encode(msg: &Message) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(msg, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a CBOR message.
///
/// Errors: the bytes are not a CBOR `Message` of this version (the reason, for logs).
pub fn decode(bytes: &[u8]) -> Result<Message, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

/// A cheap upper estimate of an event's encoded size, to split long lists without encoding
/// them twice.
fn approx_size(ev: &Event) -> usize {
    let catalog: usize = ev.catalog.iter().map(|c| c.len() + 8).sum();
    let tickets: usize = ev
        .tickets
        .iter()
        .map(|t| 400 + t.passenger.len() + t.legs.len() * 120)
        .sum();
    256 + ev.signature.len() + catalog + ev.tokens.len() * 256 + tickets
}

/// Splits a message into messages of at most about [`CHUNK_BYTES`] each. Only `Events` and
/// `Page` are ever split (by whole events, keeping their order); other messages are returned as
/// they are. Splitting is safe because the node applies events in any grouping and order: it
/// defers an event until its predecessors are there. Every part of a page echoes its nonce and
/// `asker_seq` (any of them proves the responder alive); every part but the last says `more`
/// (there is more after it), and the last says what the whole page said.
pub fn chunk(msg: Message) -> Vec<Message> {
    match msg {
        Message::Events { events } => split(events)
            .into_iter()
            .map(|events| Message::Events { events })
            .collect(),
        Message::Page {
            events,
            more,
            nonce,
            asker_seq,
            presence,
        } => page_parts(split(events), more, nonce, asker_seq, presence),
        other => vec![other],
    }
}

/// The parts of one page cut into the runs `parts` (in order): each echoes the page's `nonce`,
/// `asker_seq` and `presence`, every part but the last says `more`, and the last says what the whole
/// page said. Never empty: no runs give one empty part.
pub fn page_parts(
    mut parts: Vec<Vec<Event>>,
    more: bool,
    nonce: passcom_crdt::Millis,
    asker_seq: u64,
    presence: Presence,
) -> Vec<Message> {
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    let last = parts.len() - 1;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, events)| Message::Page {
            events,
            more: more || i != last,
            nonce,
            asker_seq,
            presence,
        })
        .collect()
}

/// Cuts a list of events into runs of at most about [`CHUNK_BYTES`]; always at least one run.
fn split(events: Vec<Event>) -> Vec<Vec<Event>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for ev in events {
        let s = approx_size(&ev);
        if !current.is_empty() && size + s > CHUNK_BYTES {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += s;
        current.push(ev);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, catalog_bytes: usize) -> Event {
        Event {
            origin: AirlineId::new("rumos"),
            seq,
            tokens: Vec::new(),
            tickets: Vec::new(),
            catalog: vec![vec![7; catalog_bytes]],
            signature: vec![1; 64],
        }
    }

    #[test]
    fn a_message_survives_encoding() {
        let msg = Message::Events {
            events: vec![event(1, 10), event(2, 3)],
        };
        assert_eq!(decode(&encode(&msg).unwrap()).unwrap(), msg);
    }

    #[test]
    fn long_event_lists_are_split_by_whole_events_in_order() {
        let events: Vec<Event> = (1..=5).map(|s| event(s, CHUNK_BYTES / 2)).collect();
        let parts = chunk(Message::Events {
            events: events.clone(),
        });
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let joined: Vec<Event> = parts
            .into_iter()
            .flat_map(|m| match m {
                Message::Events { events } => events,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(joined, events);
        for m in chunk(Message::Events {
            events: vec![event(1, 3 * CHUNK_BYTES)],
        }) {
            assert!(matches!(m, Message::Events { events } if events.len() == 1));
        }
    }

    #[test]
    fn only_the_last_part_of_a_long_page_can_say_it_is_complete() {
        let events: Vec<Event> = (1..=5).map(|s| event(s, CHUNK_BYTES / 2)).collect();
        let parts = chunk(Message::Page {
            events,
            more: false,
            nonce: 42,
            asker_seq: 7,
            presence: Presence::default(),
        });
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let flags: Vec<(bool, i64)> = parts
            .iter()
            .map(|m| match m {
                Message::Page {
                    more,
                    nonce,
                    asker_seq,
                    ..
                } => {
                    assert_eq!(*asker_seq, 7);
                    (*more, *nonce)
                }
                _ => unreachable!(),
            })
            .collect();
        assert!(flags.iter().all(|(_, n)| *n == 42));
        // A part that is not the last must never read as "nothing more": a recovering asker
        // would take itself for caught up after the first part of a long page.
        let (last, rest) = flags.split_last().unwrap();
        assert!(rest.iter().all(|(m, _)| *m), "{flags:?}");
        assert!(!last.0, "the last part says what the page said");
    }

    #[test]
    fn agents_name_airlines_or_watchers() {
        assert_eq!(
            parse_agent("passcom/1/giro"),
            Agent::Airline(AirlineId::new("giro"))
        );
        assert_eq!(parse_agent(WATCH_AGENT), Agent::Watcher);
        assert_eq!(parse_agent("passcom/1/"), Agent::Other);
        assert_eq!(parse_agent("passcom/1/Bad Name"), Agent::Other);
        assert_eq!(parse_agent("rust-libp2p/0.57"), Agent::Other);
    }
}
