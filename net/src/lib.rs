//! libp2p adapter that carries the Passcom node state machine's messages (CONTRACT STUB:
//! the signatures below are what `passcom-http` and the CLI build on; bodies to be written).

use passcom_crdt::{AirlineId, Millis, VectorClock};
use passcom_node::{Node, Reply, Request};
use serde::Serialize;
use std::path::PathBuf;

/// How to run one airline peer.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// The airline this peer runs.
    pub airline: AirlineId,
    /// Folder for the redb database and the identity key.
    pub data_dir: PathBuf,
    /// Multiaddrs to listen on (`/ip4/127.0.0.1/tcp/0` for any port).
    pub listen: Vec<libp2p::Multiaddr>,
    /// Peers to dial at start and re-dial after a drop (`/dns4/giro/tcp/7000` works too).
    pub bootstrap: Vec<libp2p::Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Share of every new flight handed to each partner in advance (0 = ask the owner).
    pub escrow_share: f64,
    /// Load this airline's demo flights and the 27 capitals at first start.
    pub demo_catalog: bool,
    /// State-machine settings (airline inside is overwritten by `airline`).
    pub node: passcom_node::Config,
}

/// A peer this one is connected to.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectedPeer {
    /// Its airline, once identified (`None` for plain subscribers such as `passcom watch`).
    pub airline: Option<AirlineId>,
    /// Its libp2p peer id.
    pub peer_id: String,
}

/// What `GET /admin/status` shows of the network side.
#[derive(Clone, Debug, Serialize)]
pub struct PeerStatus {
    /// This peer's airline.
    pub airline: AirlineId,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Addresses it listens on.
    pub listen: Vec<String>,
    /// Connected peers.
    pub connected: Vec<ConnectedPeer>,
    /// Airlines this peer is cut off from by `partition`.
    pub partitioned: Vec<AirlineId>,
    /// The node's vector clock.
    pub clock: VectorClock,
}

/// One thing that happened at the peer, for the live stream (`GET /admin/events`).
#[derive(Clone, Debug, Serialize)]
pub struct LiveEvent {
    /// `event`, `message`, `connected`, `disconnected`, `rejected`, …
    pub kind: String,
    /// Details as JSON.
    pub detail: serde_json::Value,
}

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Anything, with a message that says what to fix.
    #[error("{0}")]
    Other(String),
}

/// A running peer: cheap to clone, used by the HTTP API and the CLI.
#[derive(Clone)]
pub struct PeerHandle {}

impl PeerHandle {
    /// Submits a user request and waits for the reply, at most the purchase deadline plus a
    /// margin; a peer that does not answer in time yields `Reply::Refused(Refusal::Timeout…)`.
    pub async fn request(&self, _req: Request) -> Reply {
        unimplemented!()
    }
    /// Reads the node's state.
    pub fn read<R>(&self, _f: impl FnOnce(&Node) -> R) -> R {
        unimplemented!()
    }
    /// The peer's current time (ms since epoch).
    pub fn now(&self) -> Millis {
        unimplemented!()
    }
    /// Network status.
    pub fn status(&self) -> PeerStatus {
        unimplemented!()
    }
    /// Cuts this peer off from `peers` (all others when empty): connections closed, dials refused.
    pub async fn partition(&self, _peers: Vec<AirlineId>) -> Result<(), NetError> {
        unimplemented!()
    }
    /// Undoes `partition` for `peers` (all when empty) and re-dials them.
    pub async fn heal(&self, _peers: Vec<AirlineId>) -> Result<(), NetError> {
        unimplemented!()
    }
    /// A receiver of the live event stream.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        unimplemented!()
    }
    /// Stops the peer cleanly: pending writes committed, connections closed.
    pub async fn shutdown(&self) {
        unimplemented!()
    }
}

/// Starts a peer: opens its store, loads or creates its identity, listens and dials.
pub async fn start(_cfg: PeerConfig) -> Result<PeerHandle, NetError> {
    unimplemented!()
}
