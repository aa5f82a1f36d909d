//! A flight and an airport as values, and the rules a flight obeys on its own: the shape of its
//! fields, its id tied to its airline's code, its seats and their initial holders (escrow), and
//! which changes its operator may publish.
//!
//! Plain data: it must never touch an Automerge document (that is `document`'s) nor look at
//! other airlines' flights (that is `view`'s).

use super::CatalogError;
use crate::ids::{AirlineId, FlightId, SeatId};
use crate::token::Millis;
use serde::{Deserialize, Serialize};

/// An airport of the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Airport {
    /// Three-letter IATA code, upper case (`SSA`).
    pub iata: String,
    /// The airport's name.
    pub name: String,
    /// The city it serves.
    pub city: String,
    /// The state (two letters in Brazil).
    pub state: String,
    /// Latitude in degrees, north positive.
    pub latitude: f64,
    /// Longitude in degrees, east positive.
    pub longitude: f64,
    /// IANA time zone in which travelers read the airport's times (`America/Manaus`); empty
    /// when the airline gave none (the API then shows UTC). Absent from documents written
    /// before it existed, hence the default.
    #[serde(default)]
    pub time_zone: String,
}

/// A scheduled flight of one airline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flight {
    /// Unique id, starting with the airline's code.
    pub id: FlightId,
    /// The operating airline; the only one that may edit the flight.
    pub airline: AirlineId,
    /// IATA code of the departure airport.
    pub origin: String,
    /// IATA code of the arrival airport.
    pub destination: String,
    /// Departure, ms since the Unix epoch (UTC).
    pub departure: Millis,
    /// Arrival, ms since the Unix epoch (UTC).
    pub arrival: Millis,
    /// Number of seat rows, numbered from 1.
    pub rows: u32,
    /// Seat letters of each row, such as `ABCDEF`.
    pub letters: String,
    /// Fare of one seat in cents (BRL).
    pub fare_cents: u64,
    /// A cancelled flight sells nothing and its tickets are cancelled.
    pub cancelled: bool,
    /// Seats handed to partners in advance (escrow), fixed when the flight is created: each
    /// share takes the next seats from the front of the cabin, in list order (rows added later
    /// go to the operating airline, so no seat ever changes its initial holder). A seat's token
    /// starts at its share's airline, so the hand-out costs no message and cannot be lost.
    #[serde(default)]
    pub escrow: Vec<EscrowShare>,
}

/// The flight-number prefix of an airline: the first two letters of its name in upper case
/// (`RU` for rumos, `GI` for giro, `BO` for boreal). Every flight id of the airline starts
/// with it ([`Flight::validate`]), so an id names its operator and no airline can define a
/// flight under another's code. Two airlines of one network must not share a code: the node
/// refuses to open with such a roster.
pub fn airline_code(airline: &AirlineId) -> String {
    airline
        .as_str()
        .chars()
        .take(2)
        .collect::<String>()
        .to_uppercase()
}

/// Seats of a flight handed to one partner at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowShare {
    /// The partner that initially holds the seats.
    pub airline: AirlineId,
    /// How many seats it holds.
    pub seats: u32,
}

impl Flight {
    /// Number of seats: rows × letters.
    pub fn capacity(&self) -> u32 {
        self.rows * self.letters.chars().count() as u32
    }

    /// Every seat label in row-major order (`1A`, `1B`, … `30F`).
    pub fn seat_labels(&self) -> impl Iterator<Item = String> + '_ {
        (1..=self.rows).flat_map(move |r| self.letters.chars().map(move |l| format!("{r}{l}")))
    }

    /// Whether `label` names a seat of this flight.
    pub fn has_seat(&self, label: &str) -> bool {
        let split = label
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(label.len());
        let (row, letter) = label.split_at(split);
        let row_ok =
            row.parse::<u32>().is_ok_and(|r| r >= 1 && r <= self.rows) && !row.starts_with('0');
        row_ok && letter.chars().count() == 1 && self.letters.contains(letter)
    }

    /// The peer that holds `label`'s token before any change: the partner whose escrow share
    /// covers the seat, else the operating airline.
    pub fn initial_holder(&self, label: &str) -> &AirlineId {
        match self.seat_index(label) {
            Some(index) => self.initial_holder_at(index),
            None => &self.airline,
        }
    }

    /// The peer that holds the token of the seat at `index` (row-major, as
    /// [`Flight::seat_index`] counts) before any change; the operating airline past the end.
    pub fn initial_holder_at(&self, index: u32) -> &AirlineId {
        let mut start = 0;
        for share in &self.escrow {
            let end = start + share.seats;
            if index >= start && index < end {
                return &share.airline;
            }
            start = end;
        }
        &self.airline
    }

    /// Row-major index of a seat label (`1A` is 0), or `None` if the flight has no such seat.
    pub fn seat_index(&self, label: &str) -> Option<u32> {
        // One pass over the label (the purchase path calls this for every changed seat).
        let split = label.find(|c: char| !c.is_ascii_digit())?;
        let (row, letter) = label.split_at(split);
        if row.starts_with('0') {
            return None;
        }
        let row: u32 = row.parse().ok().filter(|r| *r >= 1 && *r <= self.rows)?;
        let mut chars = letter.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return None;
        };
        let col = self.letters.chars().position(|l| l == c)? as u32;
        Some((row - 1) * self.letters.chars().count() as u32 + col)
    }

    /// The escrow shares of `count` seats each for every partner, in the given order, capped
    /// so that the operating airline keeps at least as many seats as it hands out in total.
    pub fn escrow_for(capacity: u32, share: f64, partners: &[AirlineId]) -> Vec<EscrowShare> {
        let each = ((capacity as f64) * share.clamp(0.0, 1.0)).floor() as u32;
        let each = each.min(capacity / (partners.len() as u32 + 1).max(1));
        if each == 0 {
            return Vec::new();
        }
        partners
            .iter()
            .map(|p| EscrowShare {
                airline: p.clone(),
                seats: each,
            })
            .collect()
    }

    /// The label of the seat at `index` (row-major, the inverse of [`Flight::seat_index`]),
    /// or `None` past the last seat.
    pub fn label_at(&self, index: u32) -> Option<String> {
        let width = self.letters.chars().count() as u32;
        if width == 0 || index >= self.capacity() {
            return None;
        }
        let letter = self.letters.chars().nth((index % width) as usize)?;
        Some(format!("{}{letter}", index / width + 1))
    }

    /// The seat id of `label` on this flight.
    pub fn seat(&self, label: &str) -> SeatId {
        SeatId::new(self.id.clone(), label)
    }

    /// Checks the flight's own fields: an id that starts with its airline's code
    /// ([`airline_code`]), known shape, times in order, at least one seat.
    ///
    /// Errors: [`CatalogError::InvalidFlight`] saying what to fix.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let bad = |why: &str| {
            Err(CatalogError::InvalidFlight {
                id: self.id.clone(),
                why: why.to_owned(),
            })
        };
        if self.id.0.is_empty() || self.id.0.len() > 64 {
            return bad("the id must have 1 to 64 characters");
        }
        let code = airline_code(&self.airline);
        if code.is_empty() || !self.id.0.starts_with(&code) {
            return Err(CatalogError::InvalidFlight {
                id: self.id.clone(),
                why: format!(
                    "the id must start with {code:?}, the code of its airline {}",
                    self.airline
                ),
            });
        }
        if self.origin == self.destination {
            return bad("origin and destination must differ");
        }
        if self.arrival <= self.departure {
            return bad("arrival must come after departure");
        }
        if self.rows == 0 || self.rows > 200 || self.letters.is_empty() || self.letters.len() > 12 {
            return bad("a flight needs 1 to 200 rows of 1 to 12 seat letters");
        }
        if !self.letters.chars().all(|c| c.is_ascii_uppercase()) {
            return bad("seat letters must be upper-case A to Z");
        }
        let escrowed: u64 = self.escrow.iter().map(|s| u64::from(s.seats)).sum();
        if escrowed > u64::from(self.capacity())
            || self.escrow.iter().any(|s| s.airline == self.airline)
        {
            return bad("escrow shares must go to partners and fit in the cabin");
        }
        Ok(())
    }
}

impl Flight {
    /// Checks that `next` may replace this flight, as its operator publishes it: the same
    /// airline; seats only added as new rows (the letters, the escrow shares and the rows
    /// already there never change, so no token ever loses its seat or its initial holder);
    /// a cancelled flight stays cancelled.
    ///
    /// Errors: [`CatalogError::ForeignFlight`] for another airline, else
    /// [`CatalogError::InvalidFlight`] saying what may change.
    pub fn check_change(&self, next: &Flight) -> Result<(), CatalogError> {
        if next.airline != self.airline {
            return Err(CatalogError::ForeignFlight {
                flight: self.id.clone(),
                owner: self.airline.clone(),
                editor: next.airline.clone(),
            });
        }
        let bad = |why: &str| {
            Err(CatalogError::InvalidFlight {
                id: self.id.clone(),
                why: why.to_owned(),
            })
        };
        if next.letters != self.letters || next.escrow != self.escrow || next.rows < self.rows {
            return bad(
                "seats can be added as new rows, but the seat letters, the escrow shares and existing rows cannot change",
            );
        }
        if self.cancelled && !next.cancelled {
            return bad("a cancelled flight cannot be reinstated; add a new flight");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::catalog::test_support::flight;

    #[test]
    fn a_flight_id_must_start_with_its_airlines_code() {
        assert_eq!(airline_code(&AirlineId::new("rumos")), "RU");
        flight("rumos", "RU1").validate().unwrap();
        assert!(matches!(
            flight("mallory", "RU1").validate(),
            Err(CatalogError::InvalidFlight { .. })
        ));
        let mut at_rumos = Catalog::new();
        assert!(
            at_rumos
                .put_flights(&AirlineId::new("mallory"), &[flight("mallory", "RU1")])
                .is_err()
        );
    }

    #[test]
    fn seat_labels_are_checked() {
        let f = flight("rumos", "RU1");
        assert_eq!(f.capacity(), 180);
        assert!(f.has_seat("14C") && f.has_seat("30F") && f.has_seat("1A"));
        assert!(
            !f.has_seat("31A") && !f.has_seat("0A") && !f.has_seat("14G") && !f.has_seat("C14")
        );
        assert_eq!(f.seat_labels().count(), 180);
    }

    #[test]
    fn label_at_is_the_inverse_of_seat_index_in_seat_order() {
        let f = flight("rumos", "RU1");
        for (i, label) in f.seat_labels().enumerate() {
            assert_eq!(f.label_at(i as u32).as_deref(), Some(label.as_str()));
            assert_eq!(f.seat_index(&label), Some(i as u32));
        }
        assert_eq!(f.label_at(f.capacity()), None);
        for bad in [
            "", "A", "0A", "01A", "31A", "14G", "14AB", "C14", "14", "١A",
        ] {
            assert_eq!(f.seat_index(bad), None, "{bad}");
            assert!(!f.has_seat(bad), "{bad}");
        }
    }

    #[test]
    fn escrow_shares_take_seats_from_the_front() {
        let mut f = flight("rumos", "RU1");
        f.escrow = Flight::escrow_for(
            180,
            0.2,
            &[AirlineId::new("giro"), AirlineId::new("boreal")],
        );
        assert_eq!(f.escrow[0].seats, 36);
        assert_eq!(f.initial_holder("1A").as_str(), "giro");
        assert_eq!(f.initial_holder("6F").as_str(), "giro"); // index 35
        assert_eq!(f.initial_holder("7A").as_str(), "boreal");
        assert_eq!(f.initial_holder("12F").as_str(), "boreal"); // index 71
        assert_eq!(f.initial_holder("13A").as_str(), "rumos");
        let holders = f
            .seat_labels()
            .filter(|l| f.initial_holder(l).as_str() == "rumos")
            .count();
        assert_eq!(holders, 108);
        f.validate().unwrap();
    }
}
