//! Twins: another process with this peer's identity, found before this one writes.
//!
//! Equivocation detection (`recovery.rs`) finds two processes of one identity only once both
//! have written under one number, and by then each partner keeps the version it saw first:
//! the network forks and a seat sold by both stays sold twice. So a process that starts
//! (recovering) must also learn, before it writes anything, whether another process of its
//! identity is alive. Its partners can tell: every process draws an *incarnation* when it
//! opens and puts it in each probe ([`crate::Message::SyncRequest`], every tick to every
//! connected partner), and each partner keeps, per airline, when it heard each incarnation
//! (the partner side here). Its answer ([`crate::Message::Page`]) carries a
//! [`Presence`]: another incarnation heard after the asker's appeared (a twin: the asker
//! halts), or how long the partner has heard the asker steadily and nobody else. A recovering
//! peer becomes active only when every partner it waits for has heard it alone for
//! `Config::twin_wait_ms`, and that much of its own time has passed.
//!
//! Why a crash restart is not taken for a twin: the old process's last probes may still
//! arrive after the new one's first (latency, a duplicate), but not later than
//! `suspect_after_ms` after it — a message that late counts as lost everywhere in the node.
//! So only another incarnation heard more than that after the asker's first probe counts.
//!
//! The limit: a twin that no partner hears (cut off from every partner the new process
//! reaches) is not found this way; once both write, equivocation detection halts the one that
//! sees its own number in a second version, and a fork can remain. Fencing that covers it
//! too needs a write lease from a majority, which would stop a peer cut off from it from
//! selling: see ARCHITECTURE.md.

use super::Node;
use super::recovery::Phase;
use crate::model::Presence;
use passcom_crdt::{AirlineId, Millis};
use std::collections::BTreeMap;

/// Incarnations remembered per airline: the oldest (least recently heard) goes first.
const MAX_INCARNATIONS: usize = 4;
/// Airlines whose incarnations are remembered: the least recently heard goes first.
const MAX_AIRLINES: usize = 1024;

/// When a partner heard one incarnation of an airline.
#[derive(Clone, Copy, Debug)]
struct Heard {
    incarnation: u64,
    /// First probe of it (our time).
    first: Millis,
    /// Latest probe of it.
    last: Millis,
    /// Start of the current run of probes without a gap over `suspect_after_ms`.
    run_start: Millis,
}

/// What this peer heard of each airline's incarnations (the partner side).
#[derive(Clone, Debug, Default)]
pub(super) struct Incarnations {
    by_airline: BTreeMap<AirlineId, Vec<Heard>>,
}

impl Incarnations {
    /// `airline`'s incarnation `incarnation` probed us at `now`; a gap over `gap` since its
    /// previous probe starts a new run.
    fn heard(&mut self, airline: &AirlineId, incarnation: u64, now: Millis, gap: Millis) {
        if !self.by_airline.contains_key(airline) && self.by_airline.len() >= MAX_AIRLINES {
            let stalest = self
                .by_airline
                .iter()
                .min_by_key(|(_, v)| v.iter().map(|h| h.last).max())
                .map(|(a, _)| a.clone());
            if let Some(a) = stalest {
                self.by_airline.remove(&a);
            }
        }
        let list = self.by_airline.entry(airline.clone()).or_default();
        if let Some(h) = list.iter_mut().find(|h| h.incarnation == incarnation) {
            if now - h.last > gap {
                h.run_start = now;
            }
            h.last = h.last.max(now);
            return;
        }
        if list.len() >= MAX_INCARNATIONS
            && let Some(i) = (0..list.len()).min_by_key(|&i| list[i].last)
        {
            list.swap_remove(i);
        }
        list.push(Heard {
            incarnation,
            first: now,
            last: now,
            run_start: now,
        });
    }

    /// Whether `incarnation` is a process of `airline` this peer has not heard before,
    /// while it heard another one: the airline restarted (or a twin appeared) since.
    fn is_new_process(&self, airline: &AirlineId, incarnation: u64) -> bool {
        self.by_airline.get(airline).is_some_and(|list| {
            !list.is_empty() && list.iter().all(|h| h.incarnation != incarnation)
        })
    }

    /// What to tell `airline`'s incarnation `incarnation` at `now`: another incarnation
    /// heard more than `grace` after its first probe, or how long it has been heard alone.
    fn presence(
        &self,
        airline: &AirlineId,
        incarnation: u64,
        now: Millis,
        grace: Millis,
    ) -> Presence {
        let none = Presence {
            incarnation,
            other: None,
            alone_ms: 0,
        };
        let Some(list) = self.by_airline.get(airline) else {
            return none;
        };
        let Some(me) = list.iter().find(|h| h.incarnation == incarnation) else {
            return none;
        };
        let other = list
            .iter()
            .filter(|h| h.incarnation != incarnation && h.last > me.first + grace)
            .max_by_key(|h| h.last)
            .map(|h| h.incarnation);
        Presence {
            incarnation,
            other,
            alone_ms: if other.is_some() {
                0
            } else {
                (now - me.run_start).max(0)
            },
        }
    }
}

/// Draws an incarnation from the airline and the time of opening, for callers that do not
/// draw one (FNV-1a; never 0, which means "not drawn").
pub(super) fn derive_incarnation(airline: &AirlineId, now: Millis) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in airline
        .as_str()
        .as_bytes()
        .iter()
        .chain(now.to_le_bytes().iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

impl Node {
    /// This process's incarnation (see [`Presence`]).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// A probe of `from`'s incarnation `incarnation` arrived: remember it, and say what we
    /// heard of `from`'s other processes in the answer.
    pub(super) fn presence_for(
        &mut self,
        from: &AirlineId,
        incarnation: u64,
        now: Millis,
    ) -> Presence {
        let gap = self.cfg.suspect_after_ms;
        self.incarnations.heard(from, incarnation, now, gap);
        self.incarnations.presence(from, incarnation, now, gap)
    }

    /// Whether a probe of `from`'s incarnation `incarnation` comes from a process of `from`
    /// this peer has not heard before, while it heard another one (see
    /// [`Node::forget_events_disowned_by`]).
    pub(super) fn is_new_process_of(&self, from: &AirlineId, incarnation: u64) -> bool {
        self.incarnations.is_new_process(from, incarnation)
    }

    /// A partner's answer says what it heard of our identity. While recovering, another
    /// process heard after ours started halts this one before it writes anything; otherwise
    /// the time it heard us alone counts toward `Config::twin_wait_ms`. An answer meant for
    /// another process of our identity proves that one exists: a recovering peer halts on it
    /// too (an active one leaves it to the newcomer, which halts on its own answers).
    pub(super) fn partner_presence(&mut self, from: &AirlineId, p: Presence) {
        if self.twin_check_off() {
            return;
        }
        let Phase::Recovering { alone, .. } = &mut self.phase else {
            return;
        };
        let twin = if p.incarnation != self.incarnation {
            Some((p.incarnation, "sent this process an answer meant for it"))
        } else {
            p.other.map(|o| (o, "heard it after this one started"))
        };
        match twin {
            Some((other, how)) => {
                let me = self.cfg.airline.clone();
                self.halt(format!(
                    "another process runs with the identity of {me} (incarnation {other:x}; this one is {:x}): {from} {how}; stop one of them, then restart this peer",
                    self.incarnation
                ));
            }
            None => {
                alone.insert(from.clone(), p.alone_ms);
            }
        }
    }

    /// Whether the planted bug `twin-unchecked` turns the twin check off (never, in a normal
    /// build): the one place it enters this module.
    fn twin_check_off(&self) -> bool {
        self.planted(super::PlantedBug::TwinUnchecked)
    }

    /// Whether no other process of our identity can be alive behind the partners we wait for:
    /// each heard us alone for `Config::twin_wait_ms`, and that long passed on our own clock.
    pub(super) fn alone_long_enough<'a>(
        &self,
        partners: impl Iterator<Item = &'a AirlineId>,
        now: Millis,
    ) -> bool {
        let wait = self.cfg.twin_wait_ms;
        let Phase::Recovering { since, alone, .. } = &self.phase else {
            return true;
        };
        if wait <= 0 || self.twin_check_off() {
            return true;
        }
        now - since >= wait
            && partners
                .into_iter()
                .all(|p| alone.get(p).is_some_and(|&ms| ms >= wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> AirlineId {
        AirlineId::from("giro")
    }

    #[test]
    fn a_restart_is_not_a_twin_though_the_old_process_s_last_probe_arrives_late() {
        let mut inc = Incarnations::default();
        inc.heard(&a(), 1, 1_000, 3_000);
        inc.heard(&a(), 2, 1_500, 3_000); // the restarted process
        inc.heard(&a(), 1, 1_900, 3_000); // a late copy of the old one's last probe
        for t in [2_000, 4_000, 6_000, 8_000] {
            inc.heard(&a(), 2, t, 3_000);
        }
        let p = inc.presence(&a(), 2, 8_000, 3_000);
        assert_eq!(p.other, None);
        assert_eq!(p.alone_ms, 6_500);
    }

    #[test]
    fn a_process_heard_after_the_newcomer_started_is_a_twin() {
        let mut inc = Incarnations::default();
        for t in (0..10_000).step_by(1_000) {
            inc.heard(&a(), 1, t, 3_000); // the original, every tick
        }
        inc.heard(&a(), 2, 4_000, 3_000);
        assert_eq!(inc.presence(&a(), 2, 9_500, 3_000).other, Some(1));
        // The original hears of the newcomer too (an active peer leaves the halt to it).
        assert_eq!(inc.presence(&a(), 1, 9_500, 3_000).other, Some(2));
    }

    #[test]
    fn a_gap_in_the_probes_starts_the_wait_again() {
        let mut inc = Incarnations::default();
        inc.heard(&a(), 7, 0, 3_000);
        inc.heard(&a(), 7, 1_000, 3_000);
        inc.heard(&a(), 7, 9_000, 3_000); // cut for 8 s: a twin behind the cut was not heard
        assert_eq!(inc.presence(&a(), 7, 10_000, 3_000).alone_ms, 1_000);
    }

    #[test]
    fn memory_is_bounded_per_airline() {
        let mut inc = Incarnations::default();
        for i in 0..100 {
            inc.heard(&a(), i, i as Millis, 3_000);
        }
        assert_eq!(inc.by_airline[&a()].len(), MAX_INCARNATIONS);
        assert!(inc.by_airline[&a()].iter().all(|h| h.incarnation >= 96));
    }
}
