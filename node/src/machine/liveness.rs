//! The failure detector: which connected partners are really there.
//!
//! A connection can look up while packets silently stop (a cut cable, a firewall dropping
//! everything, a one-way loss). The transport notices such a cut only when TCP gives up,
//! minutes later, so the node keeps its own evidence: every tick it probes each connected
//! partner with a [`crate::Message::SyncRequest`], which is always answered by a
//! [`crate::Message::Page`] echoing the probe's nonce. A partner whose latest answered probe
//! is older than `Config::suspect_after_ms` is unreachable: seat requests stop going to it
//! and purchases that wait on it are answered at once. Because only a round trip counts, a
//! one-way cut ends the same way for the side that cannot be heard: its probes are never
//! answered. When answers resume, the partner is reachable again at once, without a new
//! connection, and catch-up with it starts in the same batch.

use super::Node;
use passcom_crdt::{AirlineId, Millis};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the failure detector knows of one partner, for the operator's status page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerHealth {
    /// The transport reports a connection.
    pub connected: bool,
    /// Connected and answering probes: the node counts on it.
    pub reachable: bool,
    /// When an answer of it last arrived (node time), if ever since start.
    pub last_heard: Option<Millis>,
}

impl Node {
    /// Every partner seen since start, with what the failure detector knows of it.
    pub fn health(&self) -> BTreeMap<AirlineId, PeerHealth> {
        let names: BTreeSet<&AirlineId> = self.connected.keys().chain(self.heard.keys()).collect();
        names
            .into_iter()
            .map(|a| {
                let h = PeerHealth {
                    connected: self.connected.contains_key(a),
                    reachable: self.reachable.contains(a),
                    last_heard: self.heard.get(a).copied(),
                };
                (a.clone(), h)
            })
            .collect()
    }

    /// Unsold seats of upcoming flights whose token is with a partner that cannot be reached
    /// now, by holder: what a peer gone for good takes out of sale until it returns.
    pub fn stranded_seats(&self, now: Millis) -> BTreeMap<AirlineId, u64> {
        let mut out: BTreeMap<AirlineId, u64> = BTreeMap::new();
        for f in self
            .catalog
            .flights()
            .filter(|f| !f.cancelled && f.departure > now)
        {
            for (_, t) in self.seats_of(f) {
                if let Some(h) = t.seller_now(now)
                    && h != &self.cfg.airline
                    && !self.reachable.contains(h)
                {
                    *out.entry(h.clone()).or_default() += 1;
                }
            }
        }
        out
    }

    pub(super) fn on_connected(&mut self, peer: AirlineId, now: Millis) {
        if peer == self.cfg.airline {
            return;
        }
        // A new connection is itself fresh evidence: count on the partner until it fails to
        // answer for `suspect_after_ms`.
        self.connected.insert(peer.clone(), now);
        self.ask_sync(&peer);
        self.tokens_arrived = true; // holders may be reachable now
    }

    pub(super) fn on_disconnected(&mut self, peer: &AirlineId) {
        self.connected.remove(peer);
        if self.reachable.remove(peer) {
            self.tokens_arrived = true; // purchases waiting on it are answered now
        }
    }

    /// `from` answered the probe we sent at `nonce`.
    pub(super) fn on_answer(&mut self, from: &AirlineId, nonce: Millis, now: Millis) {
        // A nonce from the future (a confused or lying partner) counts as now, no later.
        let nonce = nonce.min(now);
        let e = self.answered.entry(from.clone()).or_insert(nonce);
        *e = (*e).max(nonce);
        self.heard.insert(from.clone(), now);
    }

    /// Recomputes who is reachable at `now`. A partner that became unreachable lets the
    /// purchases waiting on it finish; one that came back is asked for what we lack.
    pub(super) fn refresh_reachable(&mut self, now: Millis) {
        let limit = self.cfg.suspect_after_ms;
        let fresh: BTreeSet<AirlineId> = self
            .connected
            .iter()
            .filter(|(a, since)| {
                let last = self
                    .answered
                    .get(*a)
                    .copied()
                    .unwrap_or(**since)
                    .max(**since);
                now - last <= limit
            })
            .map(|(a, _)| a.clone())
            .collect();
        if fresh == self.reachable {
            return;
        }
        let back: Vec<AirlineId> = fresh.difference(&self.reachable).cloned().collect();
        self.reachable = fresh;
        for peer in back {
            self.ask_sync(&peer);
        }
        self.tokens_arrived = true;
    }
}
