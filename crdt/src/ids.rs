//! Identifiers shared by every replicated type.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string as this identifier.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// An airline's name (`rumos`, `giro`, `boreal`): the authority that operates flights and
    /// runs one peer.
    AirlineId
);
string_id!(
    /// A flight's identifier, unique across the network because it starts with the operating
    /// airline's code (for example `RU1234-2026-12-01`).
    FlightId
);
string_id!(
    /// A ticket's identifier, unique because it starts with the selling airline's name.
    TicketId
);

/// One seat of one flight: the unit a seat token stands for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeatId {
    /// The flight the seat belongs to.
    pub flight: FlightId,
    /// The seat label, row then letter, such as `14C`.
    pub seat: String,
}

impl SeatId {
    /// Builds a seat id from a flight and a seat label.
    pub fn new(flight: impl Into<FlightId>, seat: impl Into<String>) -> Self {
        Self {
            flight: flight.into(),
            seat: seat.into(),
        }
    }
}

impl From<String> for FlightId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.flight, self.seat)
    }
}
