//! Replicated data types of Passcom. No I/O, no clock, no thread RNG: time is an argument.
//!
//! - [`token`]: seat tokens, the right to sell one seat, with a version-ordered merge and the
//!   two-step hand-over.
//! - [`vclock`]: vector clocks over per-origin event numbers, to find what a peer lacks.
//! - [`catalog`]: airports and flights as one Automerge document per airline.
//!
//! Two replicas of a token converge whatever the order of delivery:
//!
//! ```
//! use passcom_crdt::{AirlineId, TicketId, Token, Transition};
//! let (rumos, giro) = (AirlineId::new("rumos"), AirlineId::new("giro"));
//! let t0 = Token::initial(rumos.clone());
//! let granted = t0.apply(&rumos, &Transition::Grant { to: giro.clone() }, 0).unwrap();
//! let landed = granted.apply(&giro, &Transition::Receive, 0).unwrap();
//! let sold = landed
//!     .apply(&giro, &Transition::Sell { ticket: TicketId::new("giro-1"), hold_id: None }, 0)
//!     .unwrap();
//! // Deliveries in any order and any number of times end at the same state.
//! assert_eq!(t0.merge(&sold).merge(&granted), granted.merge(&sold).merge(&sold));
//! ```

pub mod catalog;
pub mod ids;
pub mod token;
pub mod vclock;

pub use catalog::{
    AirlineCatalog, Airport, Catalog, CatalogError, EscrowShare, Flight, actor_for, airline_code,
};
pub use ids::{AirlineId, FlightId, SeatId, TicketId};
pub use token::{Millis, Token, TokenError, TokenState, Transition};
pub use vclock::{Causality, VectorClock};
