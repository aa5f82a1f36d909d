//! Swarm and behaviour events turned into node inputs: listen addresses, connections opened
//! and closed, identify (who a peer is, and its key for the node), gossip and direct messages,
//! mDNS discoveries.
//!
//! It decides only transport matters: what decodes, which peer is which airline, whom to
//! refuse while cut off or for claiming an airline another key holds. Whether an event or a
//! message is legitimate is the node's verdict, reported to gossipsub by `outputs`; it must
//! never make it here.

use super::{BACKOFF_MIN, Driver, Gathered, MAX_ADDRS_PER_PEER};
use crate::{NetError, lock, now_ms, wire};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::metrics::Recorder;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, mdns, request_response};
use passcom_node::{Input, Message, Output};
use serde_json::json;

impl Driver {
    pub(super) fn on_swarm_event(
        &mut self,
        ev: SwarmEvent<crate::behaviour::BehaviourEvent>,
        g: &mut Gathered,
    ) {
        self.metrics.record(&ev);
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(airline = %self.airline, %address, "listening");
                self.listen.push(address);
                self.update_shared();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen.retain(|a| a != &address);
                self.update_shared();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let Some(i) = self
                    .bootstrap
                    .iter()
                    .position(|b| b.dialing == Some(connection_id))
                {
                    let b = &mut self.bootstrap[i];
                    b.dialing = None;
                    b.peer = Some(peer_id);
                    b.backoff = BACKOFF_MIN;
                }
                let cut = self.cut_all
                    || self
                        .airline_of
                        .get(&peer_id)
                        .is_some_and(|a| self.is_cut(a));
                let dial = match self.dials.remove(&connection_id) {
                    Some((addr, tx)) if !cut && !self.hung_up.contains(&peer_id) => {
                        self.keep_dialling(addr, peer_id);
                        Some(tx)
                    }
                    other => other.map(|(_, tx)| tx),
                };
                if cut || self.impostors.contains(&peer_id) || self.hung_up.contains(&peer_id) {
                    // Inbound from a peer we are cut off from: refuse it at once.
                    let _ = self.swarm.close_connection(connection_id);
                    if let Some(tx) = dial {
                        let _ = tx.send(Err(NetError::Invalid(format!(
                            "{peer_id} is cut off by partition or refused; heal it instead"
                        ))));
                    }
                    return;
                }
                if let Some(tx) = dial {
                    let _ = tx.send(Ok(peer_id.to_string()));
                }
                if let ConnectedPoint::Dialer { address, .. } = endpoint {
                    self.remember_addr(peer_id, address);
                }
                self.update_shared();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.non_airlines.remove(&peer_id);
                if let Some(airline) = self.airline_of.get(&peer_id).cloned()
                    && self.peer_of.get(&airline) == Some(&peer_id)
                {
                    self.peer_of.remove(&airline);
                    tracing::info!(airline = %self.airline, peer = %airline, "disconnected");
                    self.emit(
                        "disconnected",
                        json!({ "airline": airline, "peer_id": peer_id.to_string() }),
                    );
                    g.inputs.push(Input::Disconnected(airline));
                }
                self.update_shared();
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((_, tx)) = self.dials.remove(&connection_id) {
                    let e = match &error {
                        DialError::LocalPeerId { .. } => NetError::Invalid(
                            "that address is this peer's own; dial another peer".into(),
                        ),
                        DialError::Denied { .. } => NetError::Invalid(
                            "the peer there is cut off by partition; heal it instead".into(),
                        ),
                        other => NetError::Unreachable(format!("the dial failed: {other}")),
                    };
                    let _ = tx.send(Err(e));
                }
                if let Some(i) = self
                    .bootstrap
                    .iter()
                    .position(|b| b.dialing == Some(connection_id))
                {
                    if matches!(error, DialError::LocalPeerId { .. }) {
                        self.bootstrap[i].is_self = true;
                    }
                    tracing::debug!(addr = %self.bootstrap[i].addr, %error, "bootstrap dial failed");
                    self.backoff(i);
                }
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour_event(b, g),
            _ => {}
        }
    }

    fn remember_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        let list = self.addrs.entry(peer).or_default();
        if !list.contains(&addr) {
            if list.len() >= MAX_ADDRS_PER_PEER {
                list.remove(0);
            }
            list.push(addr);
        }
    }

    fn on_behaviour_event(&mut self, ev: crate::behaviour::BehaviourEvent, g: &mut Gathered) {
        use crate::behaviour::BehaviourEvent as B;
        match &ev {
            B::Identify(e) => self.metrics.record(e),
            B::Gossip(e) => self.metrics.record(e),
            _ => {}
        }
        match ev {
            B::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identified(peer_id, info, g)
            }
            B::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message, g),
            B::Direct(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let _ = self.swarm.behaviour_mut().direct.send_response(channel, ());
                        match self.airline_of.get(&peer).cloned() {
                            Some(from)
                                if self.peer_of.get(&from) == Some(&peer)
                                    && !self.is_cut(&from) =>
                            {
                                self.emit("message", json!({ "from": from, "kind": request.kind(), "via": "direct" }));
                                g.direct.push((g.inputs.len(), from.clone(), peer));
                                g.inputs.push(Input::Message { from, msg: request });
                            }
                            _ => {
                                tracing::debug!(%peer, "direct message from an unidentified peer; dropped")
                            }
                        }
                    }
                    request_response::Message::Response { .. } => {}
                }
            }
            B::Direct(request_response::Event::OutboundFailure { peer, error, .. }) => {
                tracing::debug!(%peer, %error, "direct message failed; the node retries");
            }
            B::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.remember_addr(peer, addr.clone());
                    if self.cut_all
                        || self.cut_blocked.contains(&peer)
                        || self.hung_up.contains(&peer)
                        || self.impostors.contains(&peer)
                    {
                        continue;
                    }
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            _ => {}
        }
    }

    /// Identify told us who the remote is: map its peer id to its airline, give the node its
    /// key, and tell the node it is reachable — or refuse it.
    fn on_identified(&mut self, peer: PeerId, info: identify::Info, g: &mut Gathered) {
        for a in info.listen_addrs.iter().take(MAX_ADDRS_PER_PEER) {
            if !a
                .iter()
                .any(|p| matches!(p, libp2p::multiaddr::Protocol::Ip4(ip) if ip.is_unspecified()))
            {
                self.remember_addr(peer, a.clone());
            }
        }
        if info.public_key.to_peer_id() != peer {
            tracing::warn!(%peer, "identify key does not match the peer id; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let airline = match wire::parse_agent(&info.agent_version) {
            wire::Agent::Airline(a) => a,
            wire::Agent::Watcher | wire::Agent::Other => {
                self.non_airlines.insert(peer);
                self.update_shared();
                return;
            }
        };
        if let Some(known) = self.airline_of.get(&peer) {
            if known != &airline {
                tracing::warn!(%peer, %known, claimed = %airline, "a peer changed its airline; disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            if self.peer_of.get(&airline) == Some(&peer) {
                return; // periodic re-identification
            }
        }
        let Some(key) = crate::identity::ed25519_public(&info.public_key) else {
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        };
        // The key goes to the node in a batch of its own, so that we can tell right away
        // whether this peer claims an airline that another key holds (or our own).
        let (outputs, bound) = {
            let mut guard = lock(&self.node);
            let Some(node) = guard.as_mut() else { return };
            let outputs = node.handle(
                Input::PeerKey {
                    airline: airline.clone(),
                    key,
                },
                now_ms(),
            );
            // Whether the node now binds this airline to this key. Asking the roster rather
            // than reading `Rejected` outputs matters: learning a key also re-checks events
            // deferred for it, whose rejections the node attributes to this airline although
            // anyone may have sent them.
            let bound = node.roster().get(&airline) == Some(&key);
            (outputs, bound)
        };
        let impostor = airline == self.airline || !bound;
        let rest: Vec<Output> = outputs
            .into_iter()
            .filter(|o| !matches!(o, Output::Rejected { from, .. } if from == &airline && impostor))
            .collect();
        self.perform(rest, &mut Gathered::default());
        if impostor {
            tracing::warn!(%peer, claimed = %airline, "refusing a peer that claims an airline another key holds");
            self.emit("rejected", json!({ "from": airline, "peer_id": peer.to_string(), "reason": format!("a second key claims to be {airline}") }));
            self.impostors.insert(peer);
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            return;
        }
        self.airline_of.insert(peer, airline.clone());
        if self.is_cut(&airline) {
            self.block_for_cut(peer);
            return;
        }
        if let Some(old) = self.peer_of.insert(airline.clone(), peer)
            && old != peer
        {
            // Same key, so same peer id: cannot differ. Kept for safety.
            let _ = self.swarm.disconnect_peer_id(old);
        }
        tracing::info!(airline = %self.airline, peer = %airline, "connected");
        self.emit(
            "connected",
            json!({ "airline": airline, "peer_id": peer.to_string() }),
        );
        g.inputs.push(Input::Connected(airline));
        self.update_shared();
    }

    fn on_gossip(
        &mut self,
        source: PeerId,
        id: MessageId,
        message: gossipsub::Message,
        g: &mut Gathered,
    ) {
        let verdict = |d: &mut Self, v| {
            d.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&id, &source, v);
        };
        let msg = match wire::decode(&message.data) {
            Ok(m @ Message::Events { .. }) => m,
            Ok(other) => {
                tracing::warn!(%source, kind = other.kind(), "only events travel on gossip; rejected");
                return verdict(self, MessageAcceptance::Reject);
            }
            Err(e) => {
                tracing::warn!(%source, error = %e, "undecodable gossip; rejected");
                return verdict(self, MessageAcceptance::Reject);
            }
        };
        let Some(author) = message.source else {
            return verdict(self, MessageAcceptance::Reject); // unsigned: impossible in Strict mode
        };
        let Some(airline) = self.airline_of.get(&author).cloned() else {
            // A watcher or other non-airline authored it: never entitled to publish events.
            if self.non_airlines.contains(&author) {
                return verdict(self, MessageAcceptance::Reject);
            }
            // An airline not identified yet: let catch-up bring its events instead.
            return verdict(self, MessageAcceptance::Ignore);
        };
        if self.is_cut(&airline) || self.airline_of.get(&source).is_some_and(|a| self.is_cut(a)) {
            return verdict(self, MessageAcceptance::Ignore);
        }
        self.emit(
            "message",
            json!({ "from": airline, "kind": msg.kind(), "via": "gossip" }),
        );
        g.gossip.push((g.inputs.len(), id, source));
        g.inputs.push(Input::Message { from: airline, msg });
    }
}
