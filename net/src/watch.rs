//! A plain gossip subscriber: joins the network without being an airline and decodes every
//! event it hears (`passcom watch`, and a reference for subscribers in other languages).

use crate::{NetError, behaviour, wire};
use futures::StreamExt;
use libp2p::Multiaddr;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use passcom_node::{Event, Message};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// What to watch.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Peers to dial (at least one), re-dialled every few seconds while not connected.
    pub bootstrap: Vec<Multiaddr>,
    /// Topics to subscribe to; empty means [`wire::EVENTS_TOPIC`].
    pub topics: Vec<String>,
    /// Stop after this many events.
    pub count: Option<usize>,
    /// Stop after this long.
    pub timeout: Option<Duration>,
}

/// One decoded event as heard on gossip.
#[derive(Clone, Debug, Serialize)]
pub struct WatchedEvent {
    /// The topic it came on.
    pub topic: String,
    /// The peer id of its publisher (checked by gossipsub's signature).
    pub publisher: Option<String>,
    /// The event.
    pub event: Event,
}

/// How often a watcher that is not connected re-dials its bootstrap peers.
const REDIAL_EVERY: Duration = Duration::from_secs(2);

/// Joins the network as a plain subscriber (identify agent `passcom-watch/1`, a fresh
/// identity each run) and calls `on_event` for every event of every `Events` message, until
/// `count` events were seen or `timeout` passed.
///
/// The watcher never forwards what it hears (it reports every message as `Ignore` to
/// gossipsub), so it cannot carry traffic around a partition.
///
/// Returns the number of events seen.
///
/// Errors: no bootstrap address, or the swarm cannot be built.
pub async fn watch(
    cfg: WatchConfig,
    mut on_event: impl FnMut(WatchedEvent),
) -> Result<usize, NetError> {
    if cfg.bootstrap.is_empty() {
        return Err(NetError::Other(
            "give at least one --bootstrap address of a peer to watch".into(),
        ));
    }
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let mut swarm = behaviour::build_swarm(keypair, wire::WATCH_AGENT.to_owned(), false)?;
    let topics = if cfg.topics.is_empty() {
        vec![wire::EVENTS_TOPIC.to_owned()]
    } else {
        cfg.topics.clone()
    };
    for t in &topics {
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&gossipsub::IdentTopic::new(t))
            .map_err(|e| NetError::Other(format!("cannot subscribe to {t}: {e}")))?;
    }
    let deadline = cfg.timeout.map(|t| Instant::now() + t);
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let mut redial = tokio::time::interval(REDIAL_EVERY);
    let mut seen = 0usize;
    loop {
        if cfg.count.is_some_and(|n| seen >= n) {
            return Ok(seen);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => return Ok(seen),
            _ = redial.tick() => {
                if swarm.connected_peers().next().is_none() {
                    for a in &cfg.bootstrap {
                        if let Err(e) = swarm.dial(a.clone()) {
                            tracing::debug!(addr = %a, error = %e, "cannot dial");
                        }
                    }
                }
            }
            ev = swarm.select_next_some() => {
                let SwarmEvent::Behaviour(behaviour::BehaviourEvent::Gossip(gossipsub::Event::Message {
                    propagation_source, message_id, message,
                })) = ev else { continue };
                // Never relay: a watcher is an observer, not part of the network.
                swarm.behaviour_mut().gossip.report_message_validation_result(
                    &message_id, &propagation_source, MessageAcceptance::Ignore);
                let topic = topics.iter().find(|t| gossipsub::IdentTopic::new(t.as_str()).hash() == message.topic)
                    .cloned().unwrap_or_else(|| message.topic.to_string());
                match wire::decode(&message.data) {
                    Ok(Message::Events { events }) => {
                        for event in events {
                            on_event(WatchedEvent { topic: topic.clone(), publisher: message.source.map(|p| p.to_string()), event });
                            seen += 1;
                            if cfg.count.is_some_and(|n| seen >= n) {
                                return Ok(seen);
                            }
                        }
                    }
                    Ok(other) => tracing::debug!(kind = other.kind(), "not an events message"),
                    Err(e) => tracing::warn!(error = %e, "undecodable gossip message"),
                }
            }
        }
    }
}
