//! What the API needs of a running peer, as a trait so that the handlers can be exercised
//! against any driver of the real [`Node`] state machine.
//!
//! The trait speaks only the node's types: requests and replies ([`Request`], [`Reply`]) and
//! the plain network report of [`passcom_node::peer_status`] ([`PeerStatus`],
//! [`ConnectedPeer`], [`LiveEvent`], [`NetError`]: peer ids and addresses as text), never a
//! libp2p type. Two implementations:
//! - [`PeerHandle`] (production, `passcom-net`): a peer on the libp2p network;
//! - [`LocalBackend`] ([`local`]): one [`Node`] in this process, without any network, for API
//!   tests and tools that need no partner.
//!
//! Both answer requests through the same state machine, so the API logic is the same.

pub mod local;
pub use local::LocalBackend;

use futures::future::BoxFuture;
use passcom_crdt::{AirlineId, Millis};
use passcom_net::PeerHandle;
use passcom_node::{ConnectedPeer, LiveEvent, NetError, Node, PeerStatus, Reply, Request};
use prometheus_client::registry::Registry;
use tokio::sync::broadcast;

/// A running airline peer as seen by the HTTP API.
///
/// Object-safe on purpose: the router holds an `Arc<dyn Backend>`, so handlers are plain
/// functions that the OpenAPI generator can describe.
pub trait Backend: Send + Sync + 'static {
    /// Submits a user request and waits for its reply. Implementations bound the wait; the
    /// API adds its own bound on top (see [`crate::ApiConfig::request_timeout`]).
    fn request(&self, req: Request) -> BoxFuture<'_, Reply>;
    /// Calls `f` with the node's state (read-only, short: the node is locked meanwhile).
    fn with_node(&self, f: &mut dyn FnMut(&Node));
    /// The peer's current time, ms since the Unix epoch.
    fn now(&self) -> Millis;
    /// Network status: peer id, connections, partitions, vector clock.
    fn status(&self) -> PeerStatus;
    /// Cuts the peer off from `peers` (all others when empty).
    fn partition(&self, peers: Vec<AirlineId>) -> BoxFuture<'_, Result<(), NetError>>;
    /// Undoes [`Backend::partition`] for `peers` (all when empty).
    fn heal(&self, peers: Vec<AirlineId>) -> BoxFuture<'_, Result<(), NetError>>;
    /// A receiver of the live event stream.
    fn events(&self) -> broadcast::Receiver<LiveEvent>;
    /// Dials `address` (a multiaddr with a host and a TCP port) and keeps it among the
    /// addresses re-dialled after drops; returns the peer id found there. The default refuses: a backend without a network cannot dial.
    fn dial(&self, address: String) -> BoxFuture<'_, Result<String, NetError>> {
        let _ = address;
        Box::pin(async { Err(NetError::Invalid("this peer has no network to dial".into())) })
    }
    /// Disconnects the peer named by `who` (airline or peer id) and keeps it out until a dial
    /// or a heal names it. The default refuses, like [`Backend::dial`].
    fn hangup(&self, who: String) -> BoxFuture<'_, Result<ConnectedPeer, NetError>> {
        let _ = who;
        Box::pin(async {
            Err(NetError::Invalid(
                "this peer has no network to hang up".into(),
            ))
        })
    }
    /// The peer's libp2p metrics registry, encoded after the API's own at `/metrics`; none by
    /// default.
    fn net_metrics(&self) -> Option<&Registry> {
        None
    }
}

/// Reads the node through `backend` and returns what `f` computed.
pub fn read<R>(backend: &dyn Backend, f: impl FnOnce(&Node) -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    backend.with_node(&mut |node| {
        if let Some(f) = f.take() {
            out = Some(f(node));
        }
    });
    out.expect("Backend::with_node must call its closure exactly once")
}

// ---------------------------------------------------------------------------------------------
// The libp2p peer of `passcom-net`: every call is the handle's own method of the same name.
// ---------------------------------------------------------------------------------------------

impl Backend for PeerHandle {
    fn request(&self, req: Request) -> BoxFuture<'_, Reply> {
        Box::pin(PeerHandle::request(self, req))
    }
    fn with_node(&self, f: &mut dyn FnMut(&Node)) {
        PeerHandle::read(self, |node| f(node))
    }
    fn now(&self) -> Millis {
        PeerHandle::now(self)
    }
    fn status(&self) -> PeerStatus {
        PeerHandle::status(self)
    }
    fn partition(&self, peers: Vec<AirlineId>) -> BoxFuture<'_, Result<(), NetError>> {
        Box::pin(PeerHandle::partition(self, peers))
    }
    fn heal(&self, peers: Vec<AirlineId>) -> BoxFuture<'_, Result<(), NetError>> {
        Box::pin(PeerHandle::heal(self, peers))
    }
    fn events(&self) -> broadcast::Receiver<LiveEvent> {
        PeerHandle::events(self)
    }
    fn dial(&self, address: String) -> BoxFuture<'_, Result<String, NetError>> {
        Box::pin(async move { PeerHandle::dial(self, &address).await })
    }
    fn hangup(&self, who: String) -> BoxFuture<'_, Result<ConnectedPeer, NetError>> {
        Box::pin(async move { PeerHandle::hangup(self, &who).await })
    }
    fn net_metrics(&self) -> Option<&Registry> {
        Some(PeerHandle::metrics(self))
    }
}
