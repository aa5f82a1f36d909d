//! Catch-up: what a partner lacks, and the pages that carry it.
//!
//! A page is fair across origins: every origin the asker lacks gets its share of the page
//! before any origin gets more. That is what makes catch-up always progress. The asker's
//! applied events form a causally closed cut; the first event beyond it in the responder's
//! own apply order depends only on events inside the cut, and it is necessarily the next
//! event of its origin — which every fair page carries. So every page applies at least one
//! event, whatever the origins' names and however their events depend on each other (a
//! page filled origin by origin could re-send the same undeliverable events forever).

use super::Node;
use crate::model::{Event, Message, Output, Presence};
use crate::store::StoreError;
use passcom_crdt::{AirlineId, Millis, VectorClock};

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
    /// answer is also the asker's proof that this peer is alive.
    pub(super) fn on_sync_request(
        &mut self,
        from: &AirlineId,
        clock: &VectorClock,
        nonce: Millis,
        incarnation: u64,
        now: Millis,
    ) {
        let restarted = self.is_new_process_of(from, incarnation);
        self.forget_events_disowned_by(from, clock.get(from), restarted);
        let presence = self.presence_for(from, incarnation, now);
        let (events, more) = self
            .events_missing_from(clock, self.cfg.max_events_per_sync)
            .unwrap_or_default();
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
            self.ask_sync(from);
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
        self.on_events(from, events, now);
        self.partner_holds_ours(from, asker_seq, !more);
        self.partner_presence(from, presence);
        if more {
            self.ask_sync(from);
        }
    }
}
