//! Route search: every itinerary of a few legs between two airports whose connections a
//! traveler can make, over the union of all airlines' flights.
//!
//! Pure code: no I/O and no clock. The caller builds a [`RouteIndex`] from the catalog's
//! flights (rebuilding it after catalog changes) and asks it [`RouteIndex::search`] queries.
//!
//! Rules of an itinerary:
//! - its first leg leaves `from` within the query's departure window and its last leg lands at
//!   `to`, with at most `max_legs` legs;
//! - each connection (next departure − previous arrival) lasts at least [`MIN_CONNECTION_MS`]
//!   and at most [`MAX_CONNECTION_MS`];
//! - it never visits the same airport twice;
//! - cancelled flights take no part.
//!
//! The search is a depth-first walk over per-airport flight lists sorted by departure: the
//! flights that can follow a leg are found by binary search in the connection window, and a
//! reverse breadth-first pass over the airport graph first marks how many legs each airport
//! needs at least to reach the destination, so the walk never enters a dead end. Every valid
//! itinerary is found (sorting by price needs them all); only the best `limit` are cloned
//! into the answer.

use passcom_crdt::{Flight, Millis};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The shortest connection allowed: 45 minutes between a leg's arrival and the next departure.
pub const MIN_CONNECTION_MS: i64 = 45 * 60_000;

/// The longest connection allowed: 24 hours between a leg's arrival and the next departure.
pub const MAX_CONNECTION_MS: i64 = 24 * 3_600_000;

/// The number of legs a query allows when it does not say ([`RouteQuery::new`]).
pub const DEFAULT_MAX_LEGS: usize = 3;

/// The largest number of legs a search explores; a query asking for more is capped to this.
pub const MAX_LEGS: usize = 5;

/// The number of itineraries a query returns when it does not say ([`RouteQuery::new`]).
pub const DEFAULT_LIMIT: usize = 20;

/// How itineraries are ordered.
///
/// Every order breaks ties the same way, so equal queries give equal answers: first by a
/// secondary key (duration for [`SortBy::Price`], price for the others), then by departure,
/// then by the legs' flight ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// Cheapest first (total fare of all legs).
    #[default]
    Price,
    /// Shortest first (last arrival − first departure).
    Duration,
    /// Fewest legs first.
    Legs,
}

impl SortBy {
    /// The order's name as written in queries: `price`, `duration` or `legs`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Price => "price",
            SortBy::Duration => "duration",
            SortBy::Legs => "legs",
        }
    }
}

impl fmt::Display for SortBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sort order name that is none of `price`, `duration` or `legs`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown sort order {0:?}: expected one of price, duration or legs")]
pub struct ParseSortByError(pub String);

impl FromStr for SortBy {
    type Err = ParseSortByError;

    /// Parses `price`, `duration` or `legs` (case and surrounding spaces ignored).
    ///
    /// Errors: [`ParseSortByError`] naming the rejected text for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "price" => Ok(SortBy::Price),
            "duration" => Ok(SortBy::Duration),
            "legs" => Ok(SortBy::Legs),
            _ => Err(ParseSortByError(s.to_owned())),
        }
    }
}

fn default_max_legs() -> usize {
    DEFAULT_MAX_LEGS
}

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

/// A route search: from where to where, when the trip may start, and how to rank the answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteQuery {
    /// IATA code of the departure airport.
    pub from: String,
    /// IATA code of the arrival airport.
    pub to: String,
    /// The first leg departs at or after this instant (ms since the Unix epoch, UTC).
    pub earliest_departure: Millis,
    /// The first leg departs at or before this instant: with `earliest_departure`, the window
    /// for the trip's start, typically one day. Later legs may depart after it.
    pub latest_departure: Millis,
    /// The most legs an itinerary may have (1 means direct flights only); 0 finds nothing and
    /// values above [`MAX_LEGS`] count as [`MAX_LEGS`]. Defaults to [`DEFAULT_MAX_LEGS`].
    #[serde(default = "default_max_legs")]
    pub max_legs: usize,
    /// The order of the answer.
    #[serde(default)]
    pub sort: SortBy,
    /// The most itineraries returned (the best ones in `sort` order). Defaults to
    /// [`DEFAULT_LIMIT`].
    #[serde(default = "default_limit")]
    pub limit: usize,
}

impl RouteQuery {
    /// A query from `from` to `to` whose first leg departs within `[earliest, latest]`, with
    /// [`DEFAULT_MAX_LEGS`], [`SortBy::Price`] and [`DEFAULT_LIMIT`].
    pub fn new(
        from: impl Into<String>,
        to: impl Into<String>,
        earliest: Millis,
        latest: Millis,
    ) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            earliest_departure: earliest,
            latest_departure: latest,
            max_legs: DEFAULT_MAX_LEGS,
            sort: SortBy::Price,
            limit: DEFAULT_LIMIT,
        }
    }

    /// A query for trips starting on the UTC day that begins at `day_start` (the window is
    /// `[day_start, day_start + 24 h − 1 ms]`), with the same defaults as [`RouteQuery::new`].
    pub fn day(from: impl Into<String>, to: impl Into<String>, day_start: Millis) -> Self {
        Self::new(from, to, day_start, day_start + 86_400_000 - 1)
    }
}

/// One way to travel: consecutive legs and their totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Itinerary {
    /// The flights, in travel order.
    pub legs: Vec<Flight>,
    /// Sum of the legs' fares, in cents.
    pub price_cents: u64,
    /// Departure of the first leg.
    pub departure: Millis,
    /// Arrival of the last leg.
    pub arrival: Millis,
    /// `arrival − departure`, in ms, connections included.
    pub duration_ms: i64,
}

/// A flight as the search sees it: airports as small integers, index of the full flight.
#[derive(Clone, Copy, Debug)]
struct Edge {
    departure: Millis,
    arrival: Millis,
    fare: u64,
    destination: u32,
    /// Index into `RouteIndex::flights`, which is sorted by id, so it also ranks ids.
    flight: u32,
}

/// A found itinerary before its flights are cloned.
#[derive(Clone, Copy, Debug)]
struct Found {
    price: u64,
    departure: Millis,
    arrival: Millis,
    count: u8,
    legs: [u32; MAX_LEGS],
}

impl Found {
    fn duration(&self) -> i64 {
        self.arrival - self.departure
    }

    fn legs(&self) -> &[u32] {
        &self.legs[..usize::from(self.count)]
    }

    fn compare(&self, other: &Self, sort: SortBy) -> Ordering {
        let price = || self.price.cmp(&other.price);
        let duration = || self.duration().cmp(&other.duration());
        let primary = match sort {
            SortBy::Price => price().then_with(duration),
            SortBy::Duration => duration().then_with(price),
            SortBy::Legs => self.count.cmp(&other.count).then_with(price),
        };
        primary
            .then(self.departure.cmp(&other.departure))
            .then_with(|| self.legs().cmp(other.legs()))
    }
}

/// The flights of a catalog arranged for route search: by origin airport, sorted by
/// departure, cancelled flights left out.
///
/// Build it once per catalog version with [`RouteIndex::build`]; searches only read it.
#[derive(Clone, Debug, Default)]
pub struct RouteIndex {
    /// Live flights sorted by id; an [`Edge`]'s `flight` indexes this.
    flights: Vec<Flight>,
    /// IATA code → airport number.
    airports: HashMap<String, u32>,
    /// Per origin airport: its flights sorted by (departure, id).
    by_departure: Vec<Vec<Edge>>,
    /// Per origin airport: its flights sorted by (destination, departure, id).
    by_destination: Vec<Vec<Edge>>,
    /// Per airport: the distinct airports with at least one flight to it.
    sources: Vec<Vec<u32>>,
}

impl RouteIndex {
    /// Indexes `flights`. Cancelled flights are skipped, and so are flights that could not be
    /// flown (same origin and destination, or arrival not after departure). When two flights
    /// share an id, the first one given is kept.
    pub fn build<'a>(flights: impl IntoIterator<Item = &'a Flight>) -> Self {
        let mut live: Vec<Flight> = flights
            .into_iter()
            .filter(|f| !f.cancelled && f.origin != f.destination && f.arrival > f.departure)
            .cloned()
            .collect();
        // Stable sort: `dedup_by` then keeps the first of equal ids in input order.
        live.sort_by(|a, b| a.id.cmp(&b.id));
        live.dedup_by(|later, earlier| later.id == earlier.id);

        let mut airports: HashMap<String, u32> = HashMap::new();
        let mut by_departure: Vec<Vec<Edge>> = Vec::new();
        let mut number = |code: &str, lists: &mut Vec<Vec<Edge>>| -> u32 {
            if let Some(&n) = airports.get(code) {
                return n;
            }
            let n = lists.len() as u32;
            airports.insert(code.to_owned(), n);
            lists.push(Vec::new());
            n
        };
        for (i, f) in live.iter().enumerate() {
            let origin = number(&f.origin, &mut by_departure);
            let destination = number(&f.destination, &mut by_departure);
            by_departure[origin as usize].push(Edge {
                departure: f.departure,
                arrival: f.arrival,
                fare: f.fare_cents,
                destination,
                flight: i as u32,
            });
        }

        let mut by_destination = by_departure.clone();
        let mut sources: Vec<Vec<u32>> = vec![Vec::new(); by_departure.len()];
        for (origin, edges) in by_departure.iter_mut().enumerate() {
            edges.sort_unstable_by_key(|e| (e.departure, e.flight));
            for e in edges.iter() {
                sources[e.destination as usize].push(origin as u32);
            }
        }
        for edges in &mut by_destination {
            edges.sort_unstable_by_key(|e| (e.destination, e.departure, e.flight));
        }
        for s in &mut sources {
            s.sort_unstable();
            s.dedup();
        }
        Self {
            flights: live,
            airports,
            by_departure,
            by_destination,
            sources,
        }
    }

    /// Number of flights indexed (cancelled ones excluded).
    pub fn flight_count(&self) -> usize {
        self.flights.len()
    }

    /// Number of airports that some indexed flight leaves from or lands at.
    pub fn airport_count(&self) -> usize {
        self.by_departure.len()
    }

    /// Every itinerary matching `q` (see the module documentation for the rules), best first
    /// in `q.sort` order, at most `q.limit` of them.
    ///
    /// Returns an empty list when nothing matches, including when an airport is unknown, `from`
    /// equals `to`, the window is empty (`latest_departure < earliest_departure`), or
    /// `max_legs` or `limit` is 0. Never fails.
    pub fn search(&self, q: &RouteQuery) -> Vec<Itinerary> {
        let max_legs = q.max_legs.min(MAX_LEGS);
        if max_legs == 0 || q.limit == 0 || q.latest_departure < q.earliest_departure {
            return Vec::new();
        }
        let (Some(&from), Some(&to)) = (self.airports.get(&q.from), self.airports.get(&q.to))
        else {
            return Vec::new();
        };
        if from == to {
            return Vec::new();
        }
        let legs_needed = self.legs_needed(to, max_legs);
        if usize::from(legs_needed[from as usize]) > max_legs {
            return Vec::new();
        }

        let mut walk = Walk {
            index: self,
            to,
            max_legs,
            legs_needed,
            visited: [from; MAX_LEGS + 1],
            path: [0; MAX_LEGS],
            found: Vec::new(),
        };
        walk.extend(from, 0, q.earliest_departure, q.latest_departure, 0, 0);
        let mut found = walk.found;

        let order = |a: &Found, b: &Found| a.compare(b, q.sort);
        if found.len() > q.limit {
            found.select_nth_unstable_by(q.limit - 1, order);
            found.truncate(q.limit);
        }
        found.sort_unstable_by(order);
        found
            .iter()
            .map(|f| Itinerary {
                legs: f
                    .legs()
                    .iter()
                    .map(|&i| self.flights[i as usize].clone())
                    .collect(),
                price_cents: f.price,
                departure: f.departure,
                arrival: f.arrival,
                duration_ms: f.duration(),
            })
            .collect()
    }

    /// For every airport, the fewest legs that reach `to` ignoring times, or `u8::MAX` if more
    /// than `max_legs` are needed: a reverse breadth-first pass over the airport graph.
    fn legs_needed(&self, to: u32, max_legs: usize) -> Vec<u8> {
        let mut needed = vec![u8::MAX; self.by_departure.len()];
        needed[to as usize] = 0;
        let mut frontier = vec![to];
        for level in 1..=max_legs {
            let mut next = Vec::new();
            for &airport in &frontier {
                for &source in &self.sources[airport as usize] {
                    if needed[source as usize] == u8::MAX {
                        needed[source as usize] = level as u8;
                        next.push(source);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        needed
    }
}

/// The state of one search's depth-first walk.
struct Walk<'a> {
    index: &'a RouteIndex,
    to: u32,
    max_legs: usize,
    legs_needed: Vec<u8>,
    /// Airports of the current path: `visited[0]` is the origin, `visited[d]` the arrival of
    /// leg `d`.
    visited: [u32; MAX_LEGS + 1],
    /// Flights of the current path.
    path: [u32; MAX_LEGS],
    found: Vec<Found>,
}

impl Walk<'_> {
    /// Adds leg number `depth` (0-based) from airport `at`, departing within `[from, until]`,
    /// to a path whose legs so far cost `price` and whose first leg departed at `start`.
    fn extend(
        &mut self,
        at: u32,
        depth: usize,
        from: Millis,
        until: Millis,
        price: u64,
        start: Millis,
    ) {
        let index = self.index;
        let at = at as usize;

        // Legs that land at the destination end an itinerary.
        let direct = &index.by_destination[at];
        let first = direct.partition_point(|e| (e.destination, e.departure) < (self.to, from));
        for e in direct[first..]
            .iter()
            .take_while(|e| e.destination == self.to && e.departure <= until)
        {
            let mut legs = self.path;
            legs[depth] = e.flight;
            self.found.push(Found {
                price: price.saturating_add(e.fare),
                departure: if depth == 0 { e.departure } else { start },
                arrival: e.arrival,
                count: (depth + 1) as u8,
                legs,
            });
        }

        // Other legs continue only toward airports that can still reach the destination.
        let remaining_after = self.max_legs - depth - 1;
        if remaining_after == 0 {
            return;
        }
        let onward = &index.by_departure[at];
        let first = onward.partition_point(|e| e.departure < from);
        for e in onward[first..].iter().take_while(|e| e.departure <= until) {
            let next = e.destination;
            if next == self.to
                || usize::from(self.legs_needed[next as usize]) > remaining_after
                || self.visited[..=depth].contains(&next)
            {
                continue;
            }
            self.path[depth] = e.flight;
            self.visited[depth + 1] = next;
            let start = if depth == 0 { e.departure } else { start };
            self.extend(
                next,
                depth + 1,
                e.arrival.saturating_add(MIN_CONNECTION_MS),
                e.arrival.saturating_add(MAX_CONNECTION_MS),
                price.saturating_add(e.fare),
                start,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const T0: Millis = 1_796_083_200_000; // 2026-12-01T00:00Z
    const MIN: i64 = 60_000;

    fn flight(
        id: &str,
        origin: &str,
        destination: &str,
        dep_min: i64,
        arr_min: i64,
        fare: u64,
    ) -> Flight {
        Flight {
            arrival: T0 + arr_min * MIN,
            rows: 30,
            letters: "ABCDEF".into(),
            fare_cents: fare,
            ..crate::fixtures::flight("rumos", id, origin, destination, T0 + dep_min * MIN)
        }
    }

    /// A small network from A to D. Times are minutes after T0.
    fn network() -> Vec<Flight> {
        let mut cancelled = flight("F11", "A", "D", 20, 120, 10);
        cancelled.cancelled = true;
        vec![
            flight("F1", "A", "B", 0, 60, 100),
            flight("F2", "B", "D", 105, 165, 100), // exactly 45 min after F1
            flight("F3", "B", "D", 90, 150, 100),  // 30 min after F1: too short
            flight("F4", "A", "D", 30, 200, 500),  // direct
            flight("F5", "A", "C", 10, 70, 50),
            flight("F6", "C", "D", 70 + 25 * 60, 1630, 50), // 25 h after F5: too long
            flight("F7", "C", "B", 130, 190, 40),
            flight("F8", "B", "D", 300, 360, 60),
            flight("F9", "B", "A", 200, 260, 30), // back to A: a revisit
            flight("F10", "A", "D", 400, 500, 20), // outside the first-leg window
            cancelled,
            flight("F12", "C", "E", 120, 150, 10),
            flight("F13", "E", "B", 200, 230, 10),
            flight("F14", "C", "D", 70 + 24 * 60, 1600, 10), // exactly 24 h after F5
        ]
    }

    fn query(max_legs: usize, sort: SortBy) -> RouteQuery {
        RouteQuery {
            max_legs,
            sort,
            ..RouteQuery::new("A", "D", T0, T0 + 60 * MIN)
        }
    }

    fn ids(itineraries: &[Itinerary]) -> Vec<Vec<&str>> {
        itineraries
            .iter()
            .map(|i| i.legs.iter().map(|f| f.id.as_str()).collect())
            .collect()
    }

    fn id_set(itineraries: &[Itinerary]) -> BTreeSet<Vec<&str>> {
        ids(itineraries).into_iter().collect()
    }

    fn set(expected: &[&[&'static str]]) -> BTreeSet<Vec<&'static str>> {
        expected.iter().map(|legs| legs.to_vec()).collect()
    }

    #[test]
    fn finds_exactly_the_valid_itineraries() {
        let flights = network();
        let index = RouteIndex::build(&flights);
        assert_eq!(index.flight_count(), flights.len() - 1);
        assert_eq!(index.airport_count(), 5);
        let three = [
            &["F4"][..],
            &["F1", "F2"],
            &["F1", "F8"],
            &["F5", "F7", "F8"],
            &["F5", "F14"],
        ];
        assert_eq!(id_set(&index.search(&query(3, SortBy::Price))), set(&three));
        let mut four = three.to_vec();
        four.push(&["F5", "F12", "F13", "F8"]);
        assert_eq!(id_set(&index.search(&query(4, SortBy::Price))), set(&four));
        let two = [&["F4"][..], &["F1", "F2"], &["F1", "F8"], &["F5", "F14"]];
        assert_eq!(id_set(&index.search(&query(2, SortBy::Price))), set(&two));
        assert_eq!(
            id_set(&index.search(&query(1, SortBy::Price))),
            set(&[&["F4"]])
        );
        assert!(index.search(&query(0, SortBy::Price)).is_empty());
    }

    #[test]
    fn itineraries_respect_connections_revisits_and_totals() {
        let flights = network();
        let index = RouteIndex::build(&flights);
        let q = query(MAX_LEGS, SortBy::Price);
        let found = index.search(&q);
        assert!(!found.is_empty());
        for it in &found {
            let first = &it.legs[0];
            assert!(
                first.departure >= q.earliest_departure && first.departure <= q.latest_departure
            );
            assert_eq!(first.origin, "A");
            assert_eq!(it.legs.last().unwrap().destination, "D");
            let mut seen = BTreeSet::from([first.origin.as_str()]);
            for pair in it.legs.windows(2) {
                let gap = pair[1].departure - pair[0].arrival;
                assert!(
                    (MIN_CONNECTION_MS..=MAX_CONNECTION_MS).contains(&gap),
                    "{gap}"
                );
                assert_eq!(pair[0].destination, pair[1].origin);
            }
            for leg in &it.legs {
                assert!(
                    seen.insert(leg.destination.as_str()),
                    "revisits {}",
                    leg.destination
                );
                assert!(!leg.cancelled);
            }
            assert_eq!(
                it.price_cents,
                it.legs.iter().map(|f| f.fare_cents).sum::<u64>()
            );
            assert_eq!(it.departure, first.departure);
            assert_eq!(it.arrival, it.legs.last().unwrap().arrival);
            assert_eq!(it.duration_ms, it.arrival - it.departure);
        }
        // The 30-minute and 25-hour connections and the revisit through A are absent.
        let all = ids(&found);
        assert!(
            !all.iter()
                .any(|legs| legs.contains(&"F3") || legs.contains(&"F6"))
        );
        assert!(
            !all.iter()
                .any(|legs| legs.contains(&"F9") || legs.contains(&"F10"))
        );
    }

    #[test]
    fn sorts_by_price_duration_and_legs() {
        let index = RouteIndex::build(&network());
        let by_price = index.search(&query(3, SortBy::Price));
        assert_eq!(
            ids(&by_price),
            [
                &["F5", "F14"][..],
                &["F5", "F7", "F8"],
                &["F1", "F8"],
                &["F1", "F2"],
                &["F4"]
            ]
        );
        assert_eq!(
            by_price.iter().map(|i| i.price_cents).collect::<Vec<_>>(),
            [60, 150, 160, 200, 500]
        );
        let by_duration = index.search(&query(3, SortBy::Duration));
        assert_eq!(
            ids(&by_duration),
            [
                &["F1", "F2"][..],
                &["F4"],
                &["F5", "F7", "F8"],
                &["F1", "F8"],
                &["F5", "F14"]
            ]
        );
        let by_legs = index.search(&query(3, SortBy::Legs));
        assert_eq!(
            ids(&by_legs),
            [
                &["F4"][..],
                &["F5", "F14"],
                &["F1", "F8"],
                &["F1", "F2"],
                &["F5", "F7", "F8"]
            ]
        );
        let limited = index.search(&RouteQuery {
            limit: 2,
            ..query(3, SortBy::Price)
        });
        assert_eq!(ids(&limited), [&["F5", "F14"][..], &["F5", "F7", "F8"]]);
    }

    #[test]
    fn ties_break_by_departure_then_flight_ids() {
        let flights = vec![
            flight("X2", "A", "B", 10, 70, 100),
            flight("X1", "A", "B", 10, 70, 100),
            flight("X0", "A", "B", 20, 80, 100),
        ];
        let index = RouteIndex::build(&flights);
        let q = RouteQuery {
            max_legs: 1,
            ..RouteQuery::new("A", "B", T0, T0 + 60 * MIN)
        };
        assert_eq!(ids(&index.search(&q)), [&["X1"][..], &["X2"], &["X0"]]);
    }

    #[test]
    fn cancelled_flights_are_excluded() {
        let mut flights = network();
        let q = query(1, SortBy::Price);
        let index = RouteIndex::build(&flights);
        assert_eq!(id_set(&index.search(&q)), set(&[&["F4"]]));
        for f in &mut flights {
            f.cancelled = f.id.as_str() == "F4";
        }
        let index = RouteIndex::build(&flights);
        assert_eq!(id_set(&index.search(&q)), set(&[&["F11"]]));
    }

    #[test]
    fn degenerate_queries_find_nothing() {
        let index = RouteIndex::build(&network());
        let unknown = RouteQuery::new("A", "ZZZ", T0, T0 + 60 * MIN);
        assert!(index.search(&unknown).is_empty());
        assert!(
            index
                .search(&RouteQuery::new("A", "A", T0, T0 + 60 * MIN))
                .is_empty()
        );
        assert!(
            index
                .search(&RouteQuery::new("A", "D", T0 + 60 * MIN, T0))
                .is_empty()
        );
        assert!(
            index
                .search(&RouteQuery {
                    limit: 0,
                    ..query(3, SortBy::Price)
                })
                .is_empty()
        );
        assert!(
            RouteIndex::default()
                .search(&query(3, SortBy::Price))
                .is_empty()
        );
    }

    #[test]
    fn sort_orders_parse_and_serialize() {
        assert_eq!("price".parse::<SortBy>(), Ok(SortBy::Price));
        assert_eq!(" Duration ".parse::<SortBy>(), Ok(SortBy::Duration));
        assert_eq!("legs".parse::<SortBy>(), Ok(SortBy::Legs));
        let err = "cheapest".parse::<SortBy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown sort order \"cheapest\": expected one of price, duration or legs"
        );
        assert_eq!(
            serde_json::to_string(&SortBy::Duration).unwrap(),
            "\"duration\""
        );
        let q: RouteQuery = serde_json::from_str(
            r#"{"from":"A","to":"D","earliest_departure":0,"latest_departure":10}"#,
        )
        .unwrap();
        assert_eq!(
            (q.max_legs, q.sort, q.limit),
            (DEFAULT_MAX_LEGS, SortBy::Price, DEFAULT_LIMIT)
        );
    }
}
