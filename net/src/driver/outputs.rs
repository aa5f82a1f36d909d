//! One batch through the node, and its outputs performed: messages sent on the connection of
//! their airline or published on gossip, timers set, replies handed back, and the verdict on
//! every gossip message of the batch reported to gossipsub.
//!
//! It carries out the node's decisions as they are; it must never choose what to send, drop
//! an output the node gave, or touch the block list (cuts and hang-ups are `commands`').

use super::{Driver, Gathered};
use crate::{lock, now_ms, wire};
use libp2p::gossipsub::MessageAcceptance;
use passcom_crdt::{AirlineId, Millis};
use passcom_node::{Message, Output};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

impl Driver {
    /// Feeds one batch to the node and performs its outputs.
    pub(super) fn run_batch(&mut self, mut g: Gathered) {
        for (id, tx) in g.replies.drain(..) {
            self.waiting.insert(id, tx);
        }
        let inputs = std::mem::take(&mut g.inputs);
        // The commit inside blocks on the disk: let the runtime move this worker's other
        // tasks (HTTP connections) elsewhere meanwhile.
        let outputs = crate::blocking(|| {
            let mut guard = lock(&self.node);
            guard.as_mut().map(|node| {
                let out = node.handle_batch(inputs, now_ms());
                // The roster only grows when a key is first bound: copy it only then.
                let grew = node.roster_len() != self.keys_bound.len();
                let roster = grew.then(|| (node.roster(), node.config().roster_closed));
                (out, roster)
            })
        });
        let Some((outputs, roster)) = outputs else {
            return;
        };
        if let Some((roster, closed)) = roster {
            self.log_new_keys(&roster, closed);
        }
        self.perform(outputs, &mut g);
    }

    /// Logs every airline key the roster bound since the last batch. On an open roster the
    /// first key heard for an airline wins for good, so an operator must see which key that
    /// was (a warning, also shown by `/admin/status`); a closed roster (`--roster`) only
    /// binds the keys it lists.
    fn log_new_keys(&mut self, roster: &BTreeMap<AirlineId, [u8; 32]>, closed: bool) {
        for (airline, key) in roster {
            if self.keys_bound.insert(airline.clone()) && *airline != self.airline {
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                if closed {
                    tracing::info!(%airline, key = %hex, "roster: key of {airline} (closed roster)");
                } else {
                    tracing::warn!(
                        %airline,
                        key = %hex,
                        "roster: {airline} is now bound to the first key heard for it (open roster: first key wins; pass --roster FILE to name the keys yourself)"
                    );
                }
            }
        }
    }

    /// Performs the node's outputs in order, then reports the verdict on every gossip message
    /// of the batch: Reject for a message the node rejected (by its index in the batch), else
    /// Accept — an honest message batched with a bad one of the same author is not penalised.
    /// A direct message the node rejected drops its sender's connection.
    pub(super) fn perform(&mut self, outputs: Vec<Output>, g: &mut Gathered) {
        let mut rejected: BTreeSet<usize> = BTreeSet::new();
        for out in outputs {
            match out {
                Output::Send { to, msg } => self.send(&to, msg),
                Output::Broadcast(msg) => self.broadcast(msg),
                Output::SetTimer { at, timer } => {
                    let at = instant_of(at);
                    // One pending instance per timer: keep the earlier.
                    match self.timer_at.get(&timer) {
                        Some(old) if *old <= at => {}
                        old => {
                            if let Some(old) = old {
                                self.timers.remove(&(*old, timer.clone()));
                            }
                            self.timer_at.insert(timer.clone(), at);
                            self.timers.insert((at, timer));
                        }
                    }
                }
                Output::Reply(id, reply) => {
                    if let Some(tx) = self.waiting.remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
                Output::Rejected {
                    from,
                    reason,
                    message,
                } => {
                    tracing::warn!(%from, %reason, ?message, "rejected a message");
                    self.emit("rejected", json!({ "from": from, "reason": reason }));
                    // Content from an earlier batch (`None`) was judged with its message then.
                    rejected.extend(message);
                }
            }
        }
        for (i, id, source) in g.gossip.drain(..) {
            let verdict = if rejected.contains(&i) {
                MessageAcceptance::Reject
            } else {
                MessageAcceptance::Accept
            };
            self.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&id, &source, verdict);
        }
        for (i, airline, peer) in g.direct.drain(..) {
            if rejected.contains(&i) {
                // A direct message cannot be scored like gossip: drop the link instead.
                tracing::warn!(%airline, %peer, "disconnecting a peer that sent a rejected message");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// Sends a message to the peer of `to` if it is connected; otherwise drops it (the node
    /// retries at its next tick, so the transport needs no queue of its own).
    fn send(&mut self, to: &AirlineId, msg: Message) {
        if self.is_cut(to) {
            return;
        }
        let Some(peer) = self.peer_of.get(to).copied() else {
            tracing::debug!(%to, kind = msg.kind(), "not connected; dropped");
            return;
        };
        for part in wire::chunk(msg) {
            self.swarm.behaviour_mut().direct.send_request(&peer, part);
        }
    }

    fn broadcast(&mut self, msg: Message) {
        if let Message::Events { events } = &msg {
            for ev in events {
                self.emit(
                    "event",
                    json!({
                        "origin": ev.origin, "seq": ev.seq, "tokens": ev.tokens.len(),
                        "tickets": ev.tickets.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                        "catalog_changes": ev.catalog.len(),
                    }),
                );
            }
        }
        for part in wire::chunk(msg) {
            let bytes = match wire::encode(&part) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a broadcast");
                    continue;
                }
            };
            // Publishing fails when no peer is subscribed (alone, or cut off): the node's
            // vector-clock exchange delivers the events once peers are back.
            if let Err(e) = self
                .swarm
                .behaviour_mut()
                .gossip
                .publish(self.topic.clone(), bytes)
            {
                tracing::debug!(error = %e, "gossip publish failed; catch-up will deliver");
            }
        }
    }
}

/// The monotonic instant of a wall-clock time in ms (now if it is past), read once, when the
/// timer is set.
fn instant_of(at: Millis) -> Instant {
    let delta = (at - now_ms()).max(0) as u64;
    Instant::now() + Duration::from_millis(delta)
}
