//! The queue of events that arrived before they could be applied, with a room per origin.
//!
//! An event waits here while its predecessors (or its origin's key) are missing. Every origin
//! has a room of its own, bounded in events and in bytes, so no origin can fill another's: a
//! flood of one origin's events, real or invented, evicts only that origin's own. Inside a
//! room the lowest sequence numbers are kept (they apply first; what is dropped comes back
//! with the next catch-up). Events of an origin whose key is not known yet are unverified:
//! their rooms are small, there are few of them, and they are dropped after
//! [`UNVERIFIED_TTL_MS`], so nothing is kept unverified for ever.

use crate::model::Event;
use passcom_crdt::{AirlineId, Millis};
use std::collections::BTreeMap;

/// Events one unverified origin may have waiting.
pub const UNVERIFIED_PER_ORIGIN: usize = 256;
/// Origins with unverified events waiting, at most: invented origins cost one room each.
pub const UNVERIFIED_ORIGINS: usize = 16;
/// How long an unverified event may wait for its origin's key.
pub const UNVERIFIED_TTL_MS: Millis = 60_000;
/// Bytes of events one origin may have waiting.
pub const BYTES_PER_ORIGIN: usize = 64 << 20;

/// An event that arrived before it could be applied, and who sent it (to blame if it fails).
pub(super) struct Deferred {
    pub from: AirlineId,
    pub event: Event,
    pub verified: bool,
    pub size: usize,
    pub arrived: Millis,
    /// The batch and input that brought it (see `Node::message_tag`).
    pub tag: Option<(u64, usize)>,
}

#[derive(Default)]
struct Room {
    count: usize,
    bytes: usize,
    unverified: usize,
}

/// Deferred events by (origin, seq), with each origin's usage.
#[derive(Default)]
pub(super) struct DeferredQueue {
    events: BTreeMap<(AirlineId, u64), Deferred>,
    rooms: BTreeMap<AirlineId, Room>,
}

impl DeferredQueue {
    pub fn contains_key(&self, key: &(AirlineId, u64)) -> bool {
        self.events.contains_key(key)
    }

    pub fn get(&self, key: &(AirlineId, u64)) -> Option<&Deferred> {
        self.events.get(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &(AirlineId, u64)> {
        self.events.keys()
    }

    /// Takes an event out.
    pub fn remove(&mut self, key: &(AirlineId, u64)) -> Option<Deferred> {
        let d = self.events.remove(key)?;
        if let Some(room) = self.rooms.get_mut(&key.0) {
            room.count -= 1;
            room.bytes -= d.size;
            if !d.verified {
                room.unverified -= 1;
            }
            if room.count == 0 {
                self.rooms.remove(&key.0);
            }
        }
        Some(d)
    }

    /// Puts back an event taken out with [`DeferredQueue::remove`], its room unchanged in size.
    pub fn put_back(&mut self, key: (AirlineId, u64), d: Deferred) {
        let room = self.rooms.entry(key.0.clone()).or_default();
        room.count += 1;
        room.bytes += d.size;
        if !d.verified {
            room.unverified += 1;
        }
        self.events.insert(key, d);
    }

    /// Keeps only the events `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&(AirlineId, u64)) -> bool) {
        let gone: Vec<(AirlineId, u64)> =
            self.events.keys().filter(|k| !keep(k)).cloned().collect();
        for k in gone {
            self.remove(&k);
        }
    }

    /// Offers an event to its origin's room (at most `max_per_origin` events). When the room
    /// is full, the event is kept only if an event of the same origin with a higher sequence
    /// number can make way for it. Returns whether it was kept.
    pub fn offer(&mut self, d: Deferred, max_per_origin: usize) -> bool {
        let origin = d.event.origin.clone();
        let seq = d.event.seq;
        if !d.verified
            && self.rooms.get(&origin).is_none_or(|r| r.unverified == 0)
            && self.rooms.values().filter(|r| r.unverified > 0).count() >= UNVERIFIED_ORIGINS
        {
            return false; // no room for one more origin nobody can vouch for
        }
        loop {
            let room = self.rooms.get(&origin);
            let count = room.map_or(0, |r| r.count);
            let bytes = room.map_or(0, |r| r.bytes);
            let unverified = room.map_or(0, |r| r.unverified);
            let full = count >= max_per_origin
                || bytes + d.size > BYTES_PER_ORIGIN
                || (!d.verified && unverified >= UNVERIFIED_PER_ORIGIN);
            if !full {
                break;
            }
            // Evict this origin's highest event, if it comes after the one offered.
            let highest = self
                .events
                .range((origin.clone(), 0)..=(origin.clone(), u64::MAX))
                .next_back()
                .map(|(k, _)| k.clone());
            match highest {
                Some(k) if k.1 > seq => {
                    self.remove(&k);
                }
                _ => return false,
            }
        }
        self.put_back((origin, seq), d);
        true
    }

    /// Drops unverified events that waited longer than [`UNVERIFIED_TTL_MS`].
    pub fn expire_unverified(&mut self, now: Millis) {
        let old: Vec<(AirlineId, u64)> = self
            .events
            .iter()
            .filter(|(_, d)| !d.verified && now - d.arrived > UNVERIFIED_TTL_MS)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            self.remove(&k);
        }
    }
}
