//! What a running peer reports of its network side, and the errors of network commands: plain
//! data (peer ids and addresses as text, no transport type), so that the libp2p driver
//! (`passcom-net`) produces them and the HTTP API (`passcom-http`, its `Backend` trait) reads
//! them without either knowing the other's internals.

use passcom_crdt::{AirlineId, VectorClock};
use serde::Serialize;

/// A peer this one is connected to.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectedPeer {
    /// Its airline, once identified (`None` for plain subscribers such as `passcom watch`).
    pub airline: Option<AirlineId>,
    /// Its transport peer id (a libp2p peer id, as text).
    pub peer_id: String,
}

/// What `GET /admin/status` shows of the network side.
#[derive(Clone, Debug, Serialize)]
pub struct PeerStatus {
    /// This peer's airline.
    pub airline: AirlineId,
    /// Its transport peer id (empty for a peer without a network).
    pub peer_id: String,
    /// Addresses it listens on (multiaddrs, as text).
    pub listen: Vec<String>,
    /// Connected peers.
    pub connected: Vec<ConnectedPeer>,
    /// Airlines this peer is cut off from by `partition`.
    pub partitioned: Vec<AirlineId>,
    /// Whether `partition` cut this peer off from every peer, known or not.
    pub cut_off_from_all: bool,
    /// Peers an operator hung up on, kept out until dialled again or healed.
    pub hung_up: Vec<ConnectedPeer>,
    /// The node's vector clock.
    pub clock: VectorClock,
}

impl PeerStatus {
    /// The status of a peer of `airline` without a network: no peer id, no address, no
    /// connection, no cut; `clock` is the node's.
    pub fn offline(airline: AirlineId, clock: VectorClock) -> PeerStatus {
        PeerStatus {
            airline,
            peer_id: String::new(),
            listen: Vec::new(),
            connected: Vec::new(),
            partitioned: Vec::new(),
            cut_off_from_all: false,
            hung_up: Vec::new(),
            clock,
        }
    }
}

/// One thing that happened at the peer, for the live stream (`GET /admin/events`).
#[derive(Clone, Debug, Serialize)]
pub struct LiveEvent {
    /// `event` (one this peer wrote), `message` (one it received), `connected`,
    /// `disconnected`, `rejected`, `partition`, `heal`.
    pub kind: String,
    /// Details as JSON.
    pub detail: serde_json::Value,
}

/// Errors of the network side of a peer (starting it, and the operator's commands).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The operator's request makes no sense here (this peer itself, a peer cut off by
    /// `partition`, an address that is not a multiaddr with a TCP port, a peer without a
    /// network): the message says what to do instead.
    #[error("{0}")]
    Invalid(String),
    /// No such peer: an airline or peer id not seen since start.
    #[error("{0}")]
    Unknown(String),
    /// A dial failed or got no answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// This peer's own driver did not obey in time or has shut down: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The peer could not start (a bad airline name, a data folder, identity or database that
    /// cannot be opened, an address that cannot be bound, a refused demo catalog), with a
    /// message that says what to fix.
    #[error("{0}")]
    Other(String),
}
