//! Flights and airports for tests, fuzz targets and benchmarks, from one place: a test states
//! only what its scenario is about (rows, escrow, departure) and takes the rest from here, and
//! a change to [`Flight`] or [`Airport`] is made once.
//!
//! Not the demo catalog ([`crate::demo`]): that is a feature of the product, the demo
//! network's timetable, and may change for its users' sake; nothing here does.
//!
//! ```
//! use passcom_node::fixtures::{self, T0, HOUR_MS};
//! use passcom_crdt::Flight;
//!
//! // A 30-row flight leaving a day after T0, a fifth of its seats at giro from the start.
//! let f = Flight {
//!     rows: 30,
//!     ..fixtures::flight("rumos", "RU1", "SSA", "BSB", T0 + 24 * HOUR_MS)
//! };
//! let f = fixtures::with_escrow(f, 0.2, &["giro"]);
//! assert_eq!(f.capacity(), 60);
//! ```

use passcom_crdt::{AirlineId, Airport, Flight, FlightId, Millis};

/// A fixed "now" (2027-01-15) late enough that every fixture flight lies in the future of a
/// test that starts its nodes at it.
pub const T0: Millis = 1_800_000_000_000;

/// One hour in milliseconds.
pub const HOUR_MS: Millis = 3_600_000;

/// An airport named by its code: `"{iata} airport"` in city `iata`, state `XX`, at 0°, 0°,
/// with no time zone (its times show in UTC).
pub fn airport(iata: &str) -> Airport {
    Airport {
        iata: iata.to_owned(),
        name: format!("{iata} airport"),
        city: iata.to_owned(),
        state: "XX".into(),
        latitude: 0.0,
        longitude: 0.0,
        time_zone: String::new(),
    }
}

/// [`airport`] of each code, in order.
pub fn airports(codes: &[&str]) -> Vec<Airport> {
    codes.iter().map(|c| airport(c)).collect()
}

/// A flight of `airline` with id `id` from `origin` to `destination`, leaving at `departure`
/// and landing two hours later: 2 rows of `AB`, fare 100.00, nothing in escrow, not cancelled.
/// A test changes what it is about with struct update syntax
/// (`Flight { rows: 30, ..fixtures::flight(…) }`).
pub fn flight(
    airline: &str,
    id: &str,
    origin: &str,
    destination: &str,
    departure: Millis,
) -> Flight {
    Flight {
        id: FlightId::new(id),
        airline: AirlineId::new(airline),
        origin: origin.into(),
        destination: destination.into(),
        departure,
        arrival: departure + 2 * HOUR_MS,
        rows: 2,
        letters: "AB".into(),
        fare_cents: 10_000,
        cancelled: false,
        escrow: Vec::new(),
    }
}

/// `f` with `share` of its seats in escrow at each of `partners`, handed out as
/// [`Flight::escrow_for`] does (front rows first).
pub fn with_escrow(mut f: Flight, share: f64, partners: &[&str]) -> Flight {
    let partners: Vec<AirlineId> = partners.iter().map(|p| AirlineId::new(*p)).collect();
    f.escrow = Flight::escrow_for(f.capacity(), share, &partners);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_flight_passes_the_catalog_checks() {
        let f = with_escrow(flight("rumos", "RU1", "SSA", "BSB", T0), 0.25, &["giro"]);
        assert!(f.validate().is_ok(), "{:?}", f.validate());
        assert_eq!(f.capacity(), 4);
    }
}
