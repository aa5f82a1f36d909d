//! Vector clocks over per-origin event numbers: how peers tell what the other side lacks.
//!
//! Every local change is an event numbered 1, 2, 3… by the peer where it originated. A clock
//! holds, per origin, the highest event number applied *without gaps*, so "everything up to n"
//! is exactly what it claims and the difference of two clocks is a set of ranges to send.

use crate::ids::AirlineId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// How two clocks relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    /// Both saw exactly the same events.
    Equal,
    /// The left clock saw a strict subset of the right's events.
    Before,
    /// The left clock saw a strict superset of the right's events.
    After,
    /// Each saw events the other did not.
    Concurrent,
}

/// Highest contiguous event number applied, per origin. Absent origins count as 0.
///
/// The map is private and nothing lowers an entry: a clock only moves forward
/// ([`VectorClock::observe`], [`VectorClock::merge`]), so no caller can make a peer forget
/// that it applied (or wrote) an event and number a second one the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VectorClock(BTreeMap<AirlineId, u64>);

impl FromIterator<(AirlineId, u64)> for VectorClock {
    /// A clock from (origin, highest event) pairs; a repeated origin keeps its highest.
    fn from_iter<I: IntoIterator<Item = (AirlineId, u64)>>(iter: I) -> Self {
        let mut c = VectorClock::new();
        for (origin, seq) in iter {
            c.observe(&origin, seq);
        }
        c
    }
}

impl VectorClock {
    /// An empty clock: no event of any origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous event of `origin` (0 when none).
    pub fn get(&self, origin: &AirlineId) -> u64 {
        self.0.get(origin).copied().unwrap_or(0)
    }

    /// Every (origin, highest event) entry, in name order (entries at 0 included).
    pub fn iter(&self) -> impl Iterator<Item = (&AirlineId, u64)> {
        self.0.iter().map(|(o, s)| (o, *s))
    }

    /// Every origin with at least one event here, in name order.
    pub fn origins(&self) -> impl Iterator<Item = &AirlineId> {
        self.0.iter().filter(|(_, s)| **s > 0).map(|(o, _)| o)
    }

    /// Records that every event of `origin` up to `seq` is applied. Never lowers the entry.
    pub fn observe(&mut self, origin: &AirlineId, seq: u64) {
        let e = self.0.entry(origin.clone()).or_insert(0);
        *e = (*e).max(seq);
    }

    /// Point-wise maximum with `other`; the result has seen what either saw.
    pub fn merge(&mut self, other: &VectorClock) {
        for (origin, &seq) in &other.0 {
            self.observe(origin, seq);
        }
    }

    /// Compares this clock (left) with `other` (right).
    pub fn compare(&self, other: &VectorClock) -> Causality {
        let (mut less, mut more) = (false, false);
        for origin in self.0.keys().chain(other.0.keys()) {
            let (l, r) = (self.get(origin), other.get(origin));
            less |= l < r;
            more |= l > r;
        }
        match (less, more) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    /// The events this clock has and `other` lacks, as one range per origin, in origin order.
    pub fn missing_from(&self, other: &VectorClock) -> Vec<(AirlineId, RangeInclusive<u64>)> {
        self.0
            .iter()
            .filter(|&(origin, &seq)| seq > other.get(origin))
            .map(|(origin, &seq)| (origin.clone(), other.get(origin) + 1..=seq))
            .collect()
    }

    /// Total number of events counted by the clock.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(entries: &[(&str, u64)]) -> VectorClock {
        entries
            .iter()
            .map(|(o, s)| (AirlineId::new(*o), *s))
            .collect()
    }

    #[test]
    fn compares_and_lists_what_the_other_lacks() {
        let a = clock(&[("rumos", 3), ("giro", 1)]);
        let b = clock(&[("rumos", 1), ("giro", 1), ("boreal", 2)]);
        assert_eq!(a.compare(&b), Causality::Concurrent);
        assert_eq!(a.compare(&a.clone()), Causality::Equal);
        let mut c = a.clone();
        c.merge(&b);
        assert_eq!(a.compare(&c), Causality::Before);
        assert_eq!(c.compare(&b), Causality::After);
        assert_eq!(a.missing_from(&b), vec![(AirlineId::new("rumos"), 2..=3)]);
        assert_eq!(b.missing_from(&a), vec![(AirlineId::new("boreal"), 1..=2)]);
        assert!(c.missing_from(&c).is_empty());
    }

    #[test]
    fn absent_origin_equals_zero() {
        assert_eq!(
            clock(&[("rumos", 0)]).compare(&VectorClock::new()),
            Causality::Equal
        );
    }
}
