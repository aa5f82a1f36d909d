//! The route catalog: airports and flights as Automerge documents, one per airline.
//!
//! Each airline writes only its own document, with an Automerge actor id derived from its name
//! ([`actor_for`]). A remote change is accepted into airline X's document only if its actor is
//! X's, so no peer can edit another airline's flights, and the check needs nothing but the
//! change itself. The network's route graph is the union of all documents ([`Catalog`]).
//! Whether the peer that sent a change really *is* X is the transport's job (signed messages).
//!
//! The parts, each in its own file:
//! - `flight`: the values — [`Flight`], [`Airport`], [`EscrowShare`] — and the rules a flight
//!   obeys on its own ([`Flight::validate`], [`Flight::check_change`], [`airline_code`]);
//! - `document`: one airline's Automerge document ([`AirlineCatalog`]): the actor check, the
//!   reads and writes of its maps, save and load;
//! - `view`: the network's [`Catalog`], every document and the union view refreshed from them,
//!   with the checks across documents ([`Catalog::prepare_remote`]).
//!
//! This file owns only [`CatalogError`], shared by the three. Like the whole crate, the
//! catalog never does I/O or reads a clock.

mod document;
mod flight;
mod view;

pub use document::{AirlineCatalog, actor_for};
pub use flight::{Airport, EscrowShare, Flight, airline_code};
pub use view::Catalog;

use crate::ids::{AirlineId, FlightId};
use thiserror::Error;

/// Why a catalog change was refused.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum CatalogError {
    /// A change to airline `document`'s catalog was written by another actor.
    #[error(
        "a change to {document}'s catalog was written by another airline; only {document} may edit its flights"
    )]
    ForeignChange {
        /// Whose document it targeted.
        document: AirlineId,
    },
    /// A local edit names a flight of another airline.
    #[error("flight {flight} belongs to {owner}; {editor} may edit only its own flights")]
    ForeignFlight {
        /// The flight.
        flight: FlightId,
        /// Its operating airline.
        owner: AirlineId,
        /// Who tried.
        editor: AirlineId,
    },
    /// A flight's fields do not make sense.
    #[error("flight {id} is invalid: {why}")]
    InvalidFlight {
        /// The flight.
        id: FlightId,
        /// What to fix.
        why: String,
    },
    /// Bytes that do not decode as an Automerge document or change.
    #[error("catalog data does not decode: {0}")]
    Decode(String),
}

/// What the tests of every part build catalogs from.
#[cfg(test)]
mod test_support {
    use super::Flight;
    use crate::ids::{AirlineId, FlightId};

    /// A valid flight of `airline` under `id`: SSA to BSB, 30 rows of `ABCDEF`, no escrow.
    pub(super) fn flight(airline: &str, id: &str) -> Flight {
        Flight {
            id: FlightId::new(id),
            airline: AirlineId::new(airline),
            origin: "SSA".into(),
            destination: "BSB".into(),
            departure: 1_000_000,
            arrival: 1_000_000 + 7_200_000,
            rows: 30,
            letters: "ABCDEF".into(),
            fare_cents: 45_000,
            cancelled: false,
            escrow: Vec::new(),
        }
    }
}
