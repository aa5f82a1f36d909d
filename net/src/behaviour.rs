//! The libp2p behaviour of a Passcom peer and how its swarm is built. No protocol decision is
//! made here: this is transport configuration only.

use crate::NetError;
use crate::wire;
use libp2p::metrics::Registry;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, allow_block_list, gossipsub, identify, mdns, noise, request_response,
    tcp, yamux,
};
use passcom_node::Message;
use std::time::Duration;

/// The transport-level answer to a direct message: "received". The node's own acknowledgement
/// of a hand-over is an event it sends back, so this carries nothing (CBOR `null`).
pub type Ack = ();

/// Everything a Passcom swarm runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Refuses connections to and from peers this one is cut off from (`partition`), and to
    /// impostors.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Live events, signed by their publisher and validated by the node before forwarding.
    pub gossip: gossipsub::Behaviour,
    /// Messages to one peer.
    pub direct: request_response::cbor::Behaviour<Message, Ack>,
    /// Who the remote is: its airline (agent version) and public key.
    pub identify: identify::Behaviour,
    /// Local-network discovery, when enabled.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Connections stay open this long without traffic. Long, because libp2p's default closes
/// links that carry no stream (a quiet partner outside the gossip mesh), and the node counts on
/// `Connected`/`Disconnected` meaning reachable/unreachable.
const IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A direct message that gets no answer in this time has failed (the node retries).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Gossipsub settings: signed, validated by the application before forwarding, large messages.
fn gossip_config() -> Result<gossipsub::Config, NetError> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(700))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(wire::MAX_GOSSIP_BYTES)
        .build()
        .map_err(|e| NetError::Other(format!("gossipsub configuration: {e}")))
}

/// Peer scoring that punishes invalid messages hard and little else: a network of a handful
/// of airlines is quiet, so delivery-rate penalties (P3) would punish honest peers.
fn score_params(
    topic: &gossipsub::IdentTopic,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // No credit either: by default time in the mesh (P1, +1 per ms up to +3600) and first
        // deliveries (P2) outweigh P4 within seconds, and a peer then needs about twenty
        // rejected messages, not three, to be graylisted (net/tests/rogue.rs checks three).
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        // P4 is squared: three rejected messages (-10 × 3²) pass the graylist threshold (-80).
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        // Demo and test peers all share 127.0.0.1: the IP-colocation penalty would hit them.
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    (params, gossipsub::PeerScoreThresholds::default())
}

/// Builds the swarm of a peer with `keypair`, announcing `agent` through identify, with its
/// metrics in a registry of its own that nobody reads (watchers and tests).
///
/// Errors: as [`build_swarm_with_metrics`].
pub fn build_swarm(
    keypair: libp2p::identity::Keypair,
    agent: String,
    with_mdns: bool,
) -> Result<Swarm<Behaviour>, NetError> {
    build_swarm_with_metrics(keypair, agent, with_mdns, &mut Registry::default())
}

/// Builds the swarm of a peer with `keypair`, announcing `agent` through identify, and
/// registers in `registry` the transport's bandwidth (`libp2p_bandwidth_*`) and gossipsub's
/// own metrics: mesh sizes, peer scores, messages by topic (`libp2p_gossipsub_*`). The swarm
/// and protocol events are recorded by the driver ([`libp2p::metrics::Metrics`]).
///
/// Errors: an invalid configuration (a bug) or the DNS resolver cannot be set up.
pub fn build_swarm_with_metrics(
    keypair: libp2p::identity::Keypair,
    agent: String,
    with_mdns: bool,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, NetError> {
    let err = |what: &str, e: String| NetError::Other(format!("{what}: {e}"));
    let topic = gossipsub::IdentTopic::new(wire::EVENTS_TOPIC);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| err("tcp transport", e.to_string()))?
        .with_dns()
        .map_err(|e| err("dns resolver", e.to_string()))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| {
            make_behaviour(key, &topic, agent, with_mdns, registry).map_err(Into::into)
        })
        .map_err(|e| err("behaviour", e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

/// The behaviour of a peer with `key`, subscribed to `topic`.
fn make_behaviour(
    key: &libp2p::identity::Keypair,
    topic: &gossipsub::IdentTopic,
    agent: String,
    with_mdns: bool,
    metrics: &mut Registry,
) -> Result<Behaviour, NetError> {
    let err = |what: &str, e: String| NetError::Other(format!("{what}: {e}"));
    let mut gossip = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config()?,
    )
    .map_err(|e| err("gossipsub", e.to_owned()))?
    .with_metrics(
        metrics.sub_registry_with_prefix("libp2p_gossipsub"),
        gossipsub::MetricsConfig::default(),
    );
    let (params, thresholds) = score_params(topic);
    gossip
        .with_peer_score(params, thresholds)
        .map_err(|e| err("gossipsub scoring", e))?;
    gossip
        .subscribe(topic)
        .map_err(|e| err("gossipsub subscribe", e.to_string()))?;
    let codec = request_response::cbor::codec::Codec::<Message, Ack>::default()
        .set_request_size_maximum(wire::MAX_DIRECT_BYTES)
        .set_response_size_maximum(1024);
    let direct = request_response::Behaviour::with_codec(
        codec,
        [(
            StreamProtocol::new(wire::DIRECT_PROTOCOL),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
    );
    let identify = identify::Behaviour::new(
        identify::Config::new(wire::IDENTIFY_PROTOCOL.to_owned(), key.public())
            .with_agent_version(agent),
    );
    let mdns = if with_mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                .map_err(|e| err("mdns", e.to_string()))?,
        )
    } else {
        None
    };
    Ok(Behaviour {
        blocked: Default::default(),
        gossip,
        direct,
        identify,
        mdns: mdns.into(),
    })
}
