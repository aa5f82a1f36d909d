//! Catch-up: what a partner lacks, and the pages that carry it.
//!
//! A page is fair across origins: every origin the asker lacks gets its share of the page
//! before any origin gets more. That is what makes catch-up always progress. The asker's
//! applied events form a causally closed cut; the first event beyond it in the responder's
//! own apply order depends only on events inside the cut, and it is necessarily the next
//! event of its origin — which every fair page carries. So every page applies at least one
//! event, whatever the origins' names and however their events depend on each other (a
//! page filled origin by origin could re-send the same undeliverable events forever).
//!
//! Every connected partner is probed each tick (the failure detector), but an active peer
//! asks one partner at a time for the events themselves ([`Fetch`]); the others answer
//! whether they hold any. When every partner answered with everything the asker lacked, a
//! network of `n` peers sent each missing event `n - 1` times: at 50 simulated peers, pages
//! were 94 MB of a schedule's 98 MB. A recovering peer still asks every partner for its
//! events: it must hear from each, and it sells nothing until it has.

use super::Node;
use crate::model::{Event, Message, Output, Presence};
use crate::store::StoreError;
use passcom_crdt::{AirlineId, Millis, VectorClock};
use std::collections::BTreeSet;
use std::ops::Bound;

/// Whom an active peer fetches missing events from.
#[derive(Clone, Debug, Default)]
pub(super) struct Fetch {
    /// The partner asked for events, and when it was last asked. It stays the one while its
    /// pages say `more`; a page that leaves nothing more, a disconnection or
    /// `suspect_after_ms` without an answer ends its turn.
    from: Option<(AirlineId, Millis)>,
    /// A request for events to `from` is unanswered: asking again before its page arrives
    /// would bring the same events twice.
    in_flight: bool,
    /// Partners whose latest answer said they hold events this peer lacks, in turn order.
    ahead: BTreeSet<AirlineId>,
    /// The partner whose turn it was last, so turns go round the partners that are ahead.
    last: Option<AirlineId>,
}

impl Node {
    /// The events of the log that `clock` lacks, at most `limit`, shared fairly between the
    /// origins it lacks (each gets `limit / origins` first; what one does not use goes to the
    /// others). Returns the events and whether more remain beyond them.
    ///
    /// Errors: the store cannot be read.
    pub fn events_missing_from(
        &self,
        clock: &VectorClock,
        limit: usize,
    ) -> Result<(Vec<Event>, bool), StoreError> {
        let missing = self.clock.missing_from(clock);
        if missing.is_empty() || limit == 0 {
            return Ok((Vec::new(), !missing.is_empty()));
        }
        let lacking: u64 = missing.iter().map(|(_, r)| r.end() - r.start() + 1).sum();
        let share = (limit / missing.len()).max(1);
        let mut taken: Vec<Vec<Event>> = Vec::with_capacity(missing.len());
        let mut total = 0;
        for (origin, range) in &missing {
            let want = share.min(limit - total);
            let evs = self
                .store
                .events(origin, *range.start(), *range.end(), want)?;
            total += evs.len();
            taken.push(evs);
            if total >= limit {
                break;
            }
        }
        // Second pass: the room an origin with a short backlog left goes to the others.
        for (i, (origin, range)) in missing.iter().enumerate() {
            if total >= limit || i >= taken.len() {
                break;
            }
            let got = taken[i].len() as u64;
            let from = range.start() + got;
            if from > *range.end() {
                continue;
            }
            let evs = self
                .store
                .events(origin, from, *range.end(), limit - total)?;
            total += evs.len();
            taken[i].extend(evs);
        }
        let more = (total as u64) < lacking;
        Ok((taken.into_iter().flatten().collect(), more))
    }

    /// Answers a probe and catch-up request: always, even with nothing to send, because the
    /// answer is also the asker's proof that this peer is alive. Events go only to an asker
    /// that wants them (`events`); the others learn whether this peer holds any they lack.
    pub(super) fn on_sync_request(
        &mut self,
        from: &AirlineId,
        clock: &VectorClock,
        nonce: Millis,
        incarnation: u64,
        events: bool,
        now: Millis,
    ) {
        self.forget_events_disowned_by(from, clock.get(from));
        let presence = self.presence_for(from, incarnation, now);
        let (events, more) = if events {
            self.events_missing_from(clock, self.cfg.max_events_per_sync)
                .unwrap_or_default()
        } else {
            (Vec::new(), !self.clock.missing_from(clock).is_empty())
        };
        // The records vouch for the page's events; an empty page (the steady state: the probe
        // of every partner on every tick) needs none, and sending ours anyway doubled the
        // messages between peers that already agree.
        if !events.is_empty() {
            self.send_key_records(from, &events);
        }
        self.out.push(Output::Send {
            to: from.clone(),
            msg: Message::Page {
                events,
                more,
                nonce,
                asker_seq: self.clock.get(from),
                presence,
            },
        });
        if !clock.missing_from(&self.clock).is_empty() {
            self.note_ahead(from, now);
        }
    }

    /// The tick's probes: every connected partner, reachable or not (so that one that comes
    /// back is noticed without a new connection), asking one of them for the events we lack
    /// (every one while recovering).
    pub(super) fn probe_partners(&mut self, now: Millis) {
        let recovering = !self.phase.is_active();
        let over = match &self.fetch.from {
            Some((p, at)) => {
                !self.connected.contains_key(p) || now - at > self.cfg.suspect_after_ms
            }
            None => true,
        };
        if over {
            self.next_fetch(now);
        }
        let peers: Vec<AirlineId> = self.connected.keys().cloned().collect();
        for peer in peers {
            let fetching =
                !self.fetch.in_flight && self.fetch.from.as_ref().is_some_and(|(p, _)| p == &peer);
            self.ask_sync(&peer, recovering || fetching);
            if fetching {
                self.fetch.in_flight = true;
            }
        }
    }

    /// `peer` holds events we lack: remember it, and ask it for them now unless another
    /// partner's turn is under way (a recovering peer asks at once: it waits for every one).
    pub(super) fn note_ahead(&mut self, peer: &AirlineId, now: Millis) {
        self.fetch.ahead.insert(peer.clone());
        if !self.phase.is_active() {
            return self.ask_sync(peer, true);
        }
        let busy = self.fetch.from.as_ref().is_some_and(|(p, at)| {
            (p != peer || self.fetch.in_flight)
                && self.connected.contains_key(p)
                && now - at <= self.cfg.suspect_after_ms
        });
        if !busy {
            self.fetch_from(peer.clone(), now);
        }
    }

    fn fetch_from(&mut self, peer: AirlineId, now: Millis) {
        self.ask_sync(&peer, true);
        self.fetch.in_flight = true;
        self.fetch.last = Some(peer.clone());
        self.fetch.from = Some((peer, now));
    }

    /// Gives the turn to the next partner known to be ahead (reachable ones first), if any.
    fn next_fetch(&mut self, now: Millis) {
        self.fetch.from = None;
        self.fetch.in_flight = false;
        let after = match &self.fetch.last {
            Some(l) => self
                .fetch
                .ahead
                .range::<AirlineId, _>((Bound::Excluded(l), Bound::Unbounded)),
            None => self.fetch.ahead.range::<AirlineId, _>(..),
        };
        let order: Vec<&AirlineId> = after.chain(self.fetch.ahead.iter()).collect();
        let pick = order
            .iter()
            .find(|a| self.reachable.contains(**a))
            .or_else(|| order.iter().find(|a| self.connected.contains_key(**a)))
            .map(|a| (*a).clone());
        if let Some(peer) = pick {
            self.fetch_from(peer, now);
        }
    }

    /// Puts the batch's final clock into every [`Message::SyncRequest`] it sends. A request
    /// is asked for while the batch runs (a page said `more` after its first part, say), but
    /// it leaves only after the commit: by then the batch may have applied the other parts
    /// of that page, and asking with the earlier clock would have them sent again.
    pub(super) fn refresh_sync_clocks(&mut self) {
        for o in &mut self.out {
            if let Output::Send {
                msg: Message::SyncRequest { clock, .. },
                ..
            } = o
            {
                clock.clone_from(&self.clock);
            }
        }
    }

    /// A page of catch-up arrived: it proves its sender alive, its events are applied (or
    /// deferred until their predecessors arrive), and if the sender has more we ask at once
    /// rather than at the next tick, so a long backlog moves a page per round trip. What it
    /// heard of our identity counts toward recovery (see `twins.rs`).
    #[allow(clippy::too_many_arguments)] // the fields of one message
    pub(super) fn on_page(
        &mut self,
        from: &AirlineId,
        events: Vec<Event>,
        more: bool,
        nonce: Millis,
        asker_seq: u64,
        presence: Presence,
        now: Millis,
    ) {
        self.on_answer(from, nonce, now);
        let carried = !events.is_empty();
        self.on_events(from, events, now);
        self.partner_holds_ours(from, asker_seq, !more);
        self.partner_presence(from, presence);
        let turn = self.fetch.from.as_ref().is_some_and(|(p, _)| p == from);
        if turn && (carried || !more) {
            // The answer to our request for events (an answer to a mere probe carries none
            // and says `more`).
            self.fetch.in_flight = false;
        }
        if more && (carried || !self.phase.is_active()) {
            // It sends what we lack: go on with it at once, a page per round trip.
            self.fetch.ahead.insert(from.clone());
            self.fetch_from(from.clone(), now);
        } else if more {
            self.note_ahead(from, now);
        } else {
            self.fetch.ahead.remove(from);
            if turn {
                self.next_fetch(now);
            }
        }
    }
}
