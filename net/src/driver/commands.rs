//! The operator's commands: partition and heal (cut airlines off and let them back), dial (an
//! address kept among the re-dialled ones) and hang-up (a peer blocked both ways until a dial
//! or a heal names it).
//!
//! An operator's order changes who is cut off or hung up on here and only here (`swarm` then
//! keeps those peers out as they come back). It must never feed the node: a command changes
//! which peers are reachable, and the node learns that from connection events.

use super::{BACKOFF_MIN, Driver};
use crate::{Command, ConnectedPeer, NetError, wire};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use passcom_crdt::AirlineId;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::Instant;

impl Driver {
    pub(super) fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Partition(peers, ack) => {
                if peers.is_empty() {
                    self.cut_all = true;
                } else {
                    self.cut.extend(peers.iter().cloned());
                }
                let doomed: Vec<PeerId> = self
                    .swarm
                    .connected_peers()
                    .copied()
                    .filter(|p| {
                        self.cut_all || self.airline_of.get(p).is_some_and(|a| self.cut.contains(a))
                    })
                    .collect();
                for p in doomed {
                    self.block_for_cut(p);
                }
                // Known peers of cut airlines that are not connected now must not get in either.
                let known: Vec<PeerId> = self
                    .airline_of
                    .iter()
                    .filter(|(_, a)| self.is_cut(a))
                    .map(|(p, _)| *p)
                    .collect();
                for p in known {
                    self.block_for_cut(p);
                }
                self.emit("partition", json!({ "peers": peers, "all": self.cut_all }));
                self.update_shared();
                let _ = ack.send(());
            }
            Command::Heal(peers, ack) => {
                if peers.is_empty() {
                    self.cut_all = false;
                    self.cut.clear();
                } else {
                    for p in &peers {
                        self.cut.remove(p);
                    }
                }
                // A heal also ends hang-ups of the airlines it names (all when none).
                let released: Vec<PeerId> = self
                    .hung_up
                    .iter()
                    .copied()
                    .filter(|p| {
                        peers.is_empty()
                            || self.airline_of.get(p).is_some_and(|a| peers.contains(a))
                    })
                    .collect();
                for p in released {
                    self.hung_up.remove(&p);
                    if !self.cut_blocked.contains(&p) {
                        self.let_back_in(p);
                    }
                }
                let freed: Vec<PeerId> = self
                    .cut_blocked
                    .iter()
                    .copied()
                    .filter(|p| {
                        self.airline_of.get(p).is_none_or(|a| !self.is_cut(a)) && !self.cut_all
                    })
                    .collect();
                for p in freed {
                    self.cut_blocked.remove(&p);
                    if !self.hung_up.contains(&p) {
                        self.let_back_in(p);
                    }
                }
                for b in &mut self.bootstrap {
                    b.next_try = Instant::now();
                    b.backoff = BACKOFF_MIN;
                }
                self.maintain();
                self.emit("heal", json!({ "peers": peers }));
                self.update_shared();
                let _ = ack.send(());
            }
            Command::Dial(addr, reply) => self.dial(addr, reply),
            Command::Hangup(who, reply) => {
                let r = self.hangup(&who);
                let _ = reply.send(r);
            }
            Command::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }

    /// Unblocks `p` and re-dials it at the addresses it was seen at.
    fn let_back_in(&mut self, p: PeerId) {
        if self.impostors.contains(&p) {
            return;
        }
        self.swarm.behaviour_mut().blocked.unblock_peer(p);
        if let Some(addrs) = self.addrs.get(&p).cloned() {
            let opts = DialOpts::peer_id(p)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            let _ = self.swarm.dial(opts);
        }
    }

    /// An operator's dial: lets a hung-up peer at `addr` back in, dials, and once connected
    /// keeps the address among the bootstrap ones (re-dialled after drops). Answered on
    /// `reply` when the connection is up or the dial failed (a failed dial leaves nothing).
    fn dial(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<String, NetError>>) {
        let named = addr.iter().find_map(|p| match p {
            Protocol::P2p(id) => Some(id),
            _ => None,
        });
        let bare = without_peer_id(&addr);
        if named == Some(*self.swarm.local_peer_id())
            || self.listen.iter().any(|a| without_peer_id(a) == bare)
        {
            let _ = reply.send(Err(NetError::Invalid(format!(
                "{addr} is this peer's own address; dial another peer"
            ))));
            return;
        }
        if self.cut_all {
            let _ = reply.send(Err(NetError::Invalid(
                "this peer is cut off from everyone by partition; heal it first".into(),
            )));
            return;
        }
        let back: Vec<PeerId> = self
            .hung_up
            .iter()
            .copied()
            .filter(|p| {
                named == Some(*p)
                    || self
                        .addrs
                        .get(p)
                        .is_some_and(|l| l.iter().any(|a| without_peer_id(a) == bare))
            })
            .collect();
        for p in back {
            self.hung_up.remove(&p);
            if !self.cut_blocked.contains(&p) {
                self.swarm.behaviour_mut().blocked.unblock_peer(p);
            }
        }
        if let Some(p) = named {
            if self.cut_blocked.contains(&p) {
                let who = self
                    .airline_of
                    .get(&p)
                    .map_or(p.to_string(), |a| a.to_string());
                let _ = reply.send(Err(NetError::Invalid(format!(
                    "{who} is cut off by partition; heal it instead"
                ))));
                return;
            }
            if self.swarm.is_connected(&p) {
                self.keep_dialling(addr, p);
                self.update_shared();
                let _ = reply.send(Ok(p.to_string()));
                return;
            }
        }
        let opts = match named {
            Some(p) => DialOpts::peer_id(p).addresses(vec![addr.clone()]).build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, (addr, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(NetError::Unreachable(format!(
                    "cannot dial {addr}: {e}"
                ))));
            }
        }
        self.update_shared();
    }

    /// An operator's hang-up: disconnects the peer named by `who` (airline or peer id) and
    /// blocks it both ways until a dial names it or a heal.
    fn hangup(&mut self, who: &str) -> Result<ConnectedPeer, NetError> {
        let who = who.trim();
        let (peer, airline) = if let Ok(p) = who.parse::<PeerId>() {
            if p == *self.swarm.local_peer_id() {
                return Err(NetError::Invalid(format!(
                    "{who} is this peer itself; name another peer"
                )));
            }
            let seen = self.swarm.is_connected(&p)
                || self.airline_of.contains_key(&p)
                || self.addrs.contains_key(&p);
            if !seen {
                return Err(NetError::Unknown(format!(
                    "peer {p} is not connected and was not seen since start; see `passcom status`"
                )));
            }
            (p, self.airline_of.get(&p).cloned())
        } else if wire::valid_airline_name(who) {
            let airline = AirlineId::new(who);
            let peer = self.peer_of.get(&airline).copied().or_else(|| {
                self.airline_of
                    .iter()
                    .find(|(_, a)| **a == airline)
                    .map(|(p, _)| *p)
            });
            match peer {
                Some(p) => (p, Some(airline)),
                None if airline == self.airline => {
                    return Err(NetError::Invalid(format!(
                        "{who} is this peer itself; name another airline"
                    )));
                }
                None => {
                    return Err(NetError::Unknown(format!(
                        "no peer of airline {who} was seen since start; see `passcom status`"
                    )));
                }
            }
        } else {
            return Err(NetError::Invalid(format!(
                "{who:?} is neither an airline name (a-z, 0-9, - and _) nor a libp2p peer id"
            )));
        };
        if peer == *self.swarm.local_peer_id() || airline.as_ref() == Some(&self.airline) {
            return Err(NetError::Invalid(format!(
                "{who} is this peer itself; name another peer"
            )));
        }
        self.hung_up.insert(peer);
        // Blocking closes the peer's connections and refuses new ones in both directions.
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.emit(
            "hangup",
            json!({ "airline": airline, "peer_id": peer.to_string() }),
        );
        self.update_shared();
        Ok(ConnectedPeer {
            airline,
            peer_id: peer.to_string(),
        })
    }

    pub(super) fn block_for_cut(&mut self, p: PeerId) {
        self.cut_blocked.insert(p);
        // Blocking closes the peer's connections and refuses new ones in both directions.
        self.swarm.behaviour_mut().blocked.block_peer(p);
    }
}

/// `addr` without its trailing `/p2p/<peer-id>`, to compare addresses with and without it.
fn without_peer_id(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}
