//! The states of a peer, recovery from partners, and equivocation.
//!
//! A peer is **recovering** after an open with `Config::recover_at_start`: its store may have
//! been lost, or restored from an old backup, and its partners may hold events of its own
//! that it no longer has. Writing a new event now could reuse a sequence number they hold —
//! two different events under one number, the door to a double sale. So a recovering peer
//! writes nothing: it takes its partners' pages, its own signed events included (they are
//! applied like any other, and its own tickets give their idempotency keys back), and becomes
//! **active** once every reachable partner has answered a page with nothing more to send. Its
//! numbering then resumes after the highest of its own events that any of them held.
//!
//! An **equivocation** is two different events with one origin and sequence number. Every
//! peer that sees both refuses the second, records the conflict, and applies nothing of it.
//! A peer that sees one of its *own* numbers written differently, or its own events beyond
//! its clock while active, is not the only process with its identity (a twin, or a copy
//! restored while this one ran): it is **halted** and sells nothing until its operator acts.

use super::Node;
use crate::model::{Event, Refusal};
use passcom_crdt::{AirlineId, Millis, TokenState, Transition};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many equivocations are kept for the status page (the count goes on).
const MAX_EQUIVOCATIONS: usize = 64;

/// Where a peer is in its life, internally.
#[derive(Clone, Debug)]
pub(super) enum Phase {
    Active,
    Recovering {
        since: Millis,
        /// The highest of our own events that a partner said it holds.
        own_seen: u64,
        /// Partners that answered with everything we lacked.
        caught_up: BTreeSet<AirlineId>,
        /// Per partner, how long it said it has heard this process and no other of our
        /// identity (see `twins.rs`).
        alone: BTreeMap<AirlineId, Millis>,
    },
    Halted(String),
}

impl Phase {
    pub(super) fn recovering(since: Millis) -> Phase {
        Phase::Recovering {
            since,
            own_seen: 0,
            caught_up: BTreeSet::new(),
            alone: BTreeMap::new(),
        }
    }

    pub(super) fn is_active(&self) -> bool {
        matches!(self, Phase::Active)
    }

    /// The refusal for a new operation in this phase, if it may not start one.
    pub(super) fn refusal(&self) -> Option<Refusal> {
        match self {
            Phase::Active => None,
            Phase::Recovering { .. } => Some(Refusal::Recovering),
            Phase::Halted(reason) => Some(Refusal::Halted {
                reason: reason.clone(),
            }),
        }
    }
}

/// Where a peer is in its life, as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PeerState {
    /// Selling.
    Active,
    /// Fetching its history from its partners; sells nothing yet.
    Recovering {
        /// Since when (node time).
        since: Millis,
        /// Partners that have sent everything this peer lacked.
        caught_up_with: Vec<AirlineId>,
        /// Partners it still waits for: known to it (connected, in its clock or configured),
        /// not declared gone, and not yet caught up with. An unreachable one keeps this peer
        /// recovering until it is reachable again or its operator declares it gone.
        waiting_for: Vec<AirlineId>,
        /// Per partner, how long it has heard this process and no other with its identity
        /// (ms): it sells once every partner it waits for says `Config::twin_wait_ms`.
        heard_alone_ms: BTreeMap<AirlineId, Millis>,
    },
    /// Stopped selling: another process writes under this peer's identity.
    Halted {
        /// What it found, and what to do.
        reason: String,
    },
}

/// Two different events seen under one origin and sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Equivocation {
    /// The origin that wrote both.
    pub origin: AirlineId,
    /// The sequence number written twice.
    pub seq: u64,
    /// The partner that delivered the second one.
    pub delivered_by: AirlineId,
}

impl Node {
    /// This peer's state: active, recovering or halted.
    pub fn state(&self) -> PeerState {
        match &self.phase {
            Phase::Active => PeerState::Active,
            Phase::Recovering {
                since,
                caught_up,
                alone,
                ..
            } => PeerState::Recovering {
                since: *since,
                caught_up_with: caught_up.iter().cloned().collect(),
                waiting_for: self
                    .partners_known()
                    .filter(|a| !caught_up.contains(*a))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                heard_alone_ms: alone.clone(),
            },
            Phase::Halted(reason) => PeerState::Halted {
                reason: reason.clone(),
            },
        }
    }

    /// Equivocations seen since start (the first 64), and how many in all.
    pub fn equivocations(&self) -> (&[Equivocation], u64) {
        (&self.equivocations, self.equivocation_count)
    }

    /// A page from `from` says it holds our own events up to `seq`, and whether it left
    /// nothing more to send (`done`). A partner counts as having caught us up only on a page
    /// that is done; one that says more takes it out again.
    pub(super) fn partner_holds_ours(&mut self, from: &AirlineId, seq: u64, done: bool) {
        if let Phase::Recovering {
            caught_up,
            own_seen,
            ..
        } = &mut self.phase
        {
            *own_seen = (*own_seen).max(seq);
            if done {
                caught_up.insert(from.clone());
            } else {
                caught_up.remove(from);
            }
        }
    }

    /// Becomes active once recovery is complete: every partner it knows of has caught us up
    /// (at least one), and none of our own events waits in the deferred queue. A partner it
    /// knows of is one it is connected to, one of its clock's origins (an airline whose events
    /// it holds, learned from its store or from the first page) or one in
    /// `Config::partners`, unless its operator declared it gone. Waiting for the reachable
    /// ones only is not enough: a partner that is down, or cut off, may be the only one that
    /// holds some of our own events, and numbering on from what the others hold would write
    /// its numbers a second time, differently — the door to a double sale.
    ///
    /// A peer with no partner reachable waits, even with a store that is not empty: nothing
    /// tells a store that survived a crash from one restored from an old backup (safety
    /// first; the operator asserts a new network with `fresh_network`).
    pub(super) fn maybe_finish_recovery(&mut self, now: Millis) {
        let Phase::Recovering {
            caught_up,
            own_seen,
            ..
        } = &self.phase
        else {
            return;
        };
        let me = &self.cfg.airline;
        if self.clock.get(me) < *own_seen || self.deferred.keys().any(|(o, _)| o == me) {
            return;
        }
        if caught_up.is_empty() || self.partners_known().any(|a| !caught_up.contains(a)) {
            return;
        }
        if !self.alone_long_enough(self.partners_known(), now) {
            return;
        }
        self.phase = Phase::Active;
        // Hand-overs to us that arrived while we could not write: take them now.
        let arriving: Vec<_> = self
            .tokens
            .iter()
            .filter(|(_, t)| matches!(&t.state, TokenState::InTransit { to, .. } if to == me))
            .map(|(s, _)| s.clone())
            .collect();
        for seat in arriving {
            let _ = self.write_token(&seat, &Transition::Receive, now);
        }
        self.cancel_tickets_of_cancelled_flights(now);
        self.tokens_arrived = true;
    }

    /// Every partner this peer knows of and has not been told is gone: connected ones, its
    /// clock's origins and the configured ones.
    fn partners_known(&self) -> impl Iterator<Item = &AirlineId> {
        let me = &self.cfg.airline;
        self.reachable
            .iter()
            .chain(self.clock.origins())
            .chain(self.cfg.partners.iter())
            .filter(move |a| *a != me && !self.cfg.gone_partners.contains(*a))
    }

    /// The operator says `airline` is gone for good: recovery stops waiting for it. What it
    /// alone held of this peer's events is lost; say it only of a partner that will never
    /// come back with its data.
    pub(super) fn partner_gone(&mut self, airline: AirlineId, now: Millis) {
        if airline != self.cfg.airline {
            self.cfg.gone_partners.insert(airline);
            self.maybe_finish_recovery(now);
        }
    }

    /// `origin` itself says it holds its own events up to `seq` (its probe's clock): any of
    /// its events numbered beyond that, waiting here for a predecessor, belongs to a history
    /// it no longer has (a lost disk, a restored backup), and the numbers will be written
    /// again by its recovered self. Drop them, so the old version never lands on top of the
    /// new one. It is always safe: the deferred queue is a cache, and an event dropped by a
    /// stale probe comes back through catch-up.
    ///
    /// When the probe comes from a process of `origin` this peer had not heard before
    /// (`restarted`), the events of *other* origins waiting here go too. One of them may
    /// wait for an event of `origin` that no store holds any more: written by `origin`
    /// before it lost its disk, sent to a partner that is gone for good, and built on by
    /// that partner. The restarted `origin` writes that number again, differently, and the
    /// waiting event would then meet a token state it never saw and be rejected, its honest
    /// origin blamed (seed 59802 of the default schedules). Nothing tells which waiting
    /// events hang on the lost ones, so all of them go; any that still has a holder comes
    /// back through catch-up, and a restarted partner probes before it writes anything new
    /// (it recovers first), so this happens before the new numbers can arrive.
    pub(super) fn forget_events_disowned_by(
        &mut self,
        origin: &AirlineId,
        seq: u64,
        restarted: bool,
    ) {
        if origin != &self.cfg.airline {
            self.deferred
                .retain(|(o, s)| if o == origin { *s <= seq } else { !restarted });
        }
    }

    /// Whether an event of our own origin beyond our clock may be applied: yes while
    /// recovering (it is our lost history); while active it means another process writes as
    /// us, and this one halts.
    pub(super) fn own_event_welcome(&mut self, ev: &Event) -> bool {
        match &self.phase {
            Phase::Recovering { .. } => true,
            Phase::Active => {
                let mine = self.clock.get(&self.cfg.airline);
                self.halt(format!(
                    "a partner holds event {} of {} while this peer wrote only up to {mine}: another process runs with this identity, or this store was restored while the peer ran; stop the other process, then restart this one (it recovers from its partners)",
                    ev.seq, self.cfg.airline
                ));
                false
            }
            Phase::Halted(_) => false,
        }
    }

    /// `ev` has a number we already applied: if our copy differs, it is a second version.
    pub(super) fn check_equivocation(&mut self, ev: &Event, from: &AirlineId) {
        let ours = match self.store.events(&ev.origin, ev.seq, ev.seq, 1) {
            Ok(mut v) => v.pop(),
            Err(_) => None,
        };
        if let Some(ours) = ours
            && !same_event(&ours, ev)
        {
            self.second_version(ev, from);
        }
    }

    /// A second, different event under a number we already have. Only one signed by its
    /// origin proves an equivocation; a forgery is rejected like any other, and one whose
    /// origin's key is unknown proves nothing and is dropped.
    pub(super) fn second_version(&mut self, ev: &Event, from: &AirlineId) {
        match self.check_signature(ev) {
            Ok(true) => self.note_equivocation(&ev.origin, ev.seq, from),
            Ok(false) => {}
            Err(reason) => self.reject(from, reason),
        }
    }

    /// Records an equivocation; one of our own halts this peer.
    pub(super) fn note_equivocation(&mut self, origin: &AirlineId, seq: u64, from: &AirlineId) {
        self.equivocation_count += 1;
        if self.equivocations.len() < MAX_EQUIVOCATIONS {
            self.equivocations.push(Equivocation {
                origin: origin.clone(),
                seq,
                delivered_by: from.clone(),
            });
        }
        if origin == &self.cfg.airline {
            self.halt(format!(
                "event {seq} of {origin} exists in two different versions: another process runs with this identity; stop it, then restart this peer"
            ));
        }
    }

    pub(super) fn halt(&mut self, reason: String) {
        if !matches!(self.phase, Phase::Halted(_)) {
            self.phase = Phase::Halted(reason);
        }
    }
}

/// Whether two events with the same origin and number are the same event. ed25519 signatures
/// are deterministic (RFC 8032), so two copies of one signed event carry the same signature and
/// comparing 64 bytes is enough: a copy of every event comes back from each partner, and
/// encoding both to compare them was most of the cost of a duplicate. Two different events
/// with equal signatures cannot both be valid: one is a forgery that copied the other's
/// signature, and treating it as a copy ignores it (an applied event was verified; a deferred
/// one is verified before it applies, and the catch-up brings the true one if it was not).
/// Unsigned events (signing off) are compared whole.
pub(super) fn same_event(a: &Event, b: &Event) -> bool {
    if !a.signature.is_empty() && !b.signature.is_empty() {
        return a.signature == b.signature;
    }
    a.signed_bytes() == b.signed_bytes()
}
