//! This airline's catalog edits: flights added or changed by the operator, checked against
//! the catalog's airports and the clock, then submitted to the node (the change replicates to
//! every peer).
//!
//! It edits only this peer's own airline's flights; it must never write another airline's.

use super::Operator;
use crate::Shared;
use crate::backend::read;
use crate::dates::{format_instant, parse_instant};
use crate::problem::{ApiError, ApiJson, Problem};
use axum::extract::State;
use passcom_crdt::{AirlineId, EscrowShare, Flight, FlightId};
use passcom_node::{Reply, Request};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One flight to add or change. The airline is this peer's own.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FlightBody {
    /// Unique id, starting with the airline's code (`RU9000-2026-12-24`).
    pub id: String,
    /// Departure airport (IATA).
    pub origin: String,
    /// Arrival airport (IATA).
    pub destination: String,
    /// Departure: `YYYY-MM-DDTHH:MM` UTC, or ms since the epoch as a string.
    pub departure: String,
    /// Arrival, same format.
    pub arrival: String,
    /// Seat rows (1 to 200).
    pub rows: u32,
    /// Seat letters of each row (`ABCDEF`).
    pub letters: String,
    /// Fare of one seat, cents.
    pub fare_cents: u64,
    /// Cancels the flight and its tickets.
    #[serde(default)]
    pub cancelled: bool,
    /// Seats handed to partners at creation: `{"airline": "giro", "seats": 18}`.
    #[serde(default)]
    pub escrow: Vec<EscrowBody>,
}

/// Seats of a new flight handed to one partner.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EscrowBody {
    /// The partner airline.
    pub airline: String,
    /// How many seats.
    pub seats: u32,
}

/// Flights to add or change.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FlightsBody {
    /// The flights (1 to 500).
    pub flights: Vec<FlightBody>,
}

/// What a catalog edit did.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FlightsDto {
    /// How many flights were written.
    pub written: usize,
    /// Their ids.
    pub ids: Vec<String>,
}

/// Adds or changes this airline's own flights (the change replicates to every peer).
#[utoipa::path(post, path = "/admin/flights", tag = "admin", security(("operator" = [])), request_body = FlightsBody,
    responses(
        (status = 200, description = "Written", body = FlightsDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid flight (unknown airport, past date, another airline's flight…)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_flights(
    State(s): State<Shared>,
    _op: Operator,
    ApiJson(b): ApiJson<FlightsBody>,
) -> Result<axum::Json<FlightsDto>, ApiError> {
    if b.flights.is_empty() || b.flights.len() > 500 {
        return Err(ApiError::unprocessable("send 1 to 500 flights"));
    }
    let now = s.backend.now();
    let me = AirlineId::new(s.airline.clone());
    let mut flights = Vec::new();
    for fb in b.flights {
        let id = fb.id.trim().to_owned();
        let at = |what: &str, v: &str| {
            parse_instant(v)
                .map_err(|e| ApiError::unprocessable(format!("flight {id}: {what}: {e}")))
        };
        let departure = at("departure", &fb.departure)?;
        let arrival = at("arrival", &fb.arrival)?;
        let (origin, destination) = (
            fb.origin.trim().to_ascii_uppercase(),
            fb.destination.trim().to_ascii_uppercase(),
        );
        for code in [&origin, &destination] {
            if !read(&*s.backend, |n| n.catalog().airport(code).is_some()) {
                return Err(ApiError::unprocessable(format!(
                    "flight {id}: airport {code} is not in the catalog; see GET /api/airports"
                )));
            }
        }
        let existing = read(&*s.backend, |n| {
            n.catalog().flight(&FlightId::new(id.clone())).cloned()
        });
        if departure <= now && existing.as_ref().is_none_or(|f| f.departure != departure) {
            return Err(ApiError::unprocessable(format!(
                "flight {id}: departure {} is in the past",
                format_instant(departure)
            )));
        }
        let flight = Flight {
            id: FlightId::new(id.clone()),
            airline: me.clone(),
            origin,
            destination,
            departure,
            arrival,
            rows: fb.rows,
            letters: fb.letters.trim().to_owned(),
            fare_cents: fb.fare_cents,
            cancelled: fb.cancelled,
            // The escrow of an existing flight is fixed at creation: keep it when not given.
            escrow: if fb.escrow.is_empty() {
                existing.map(|f| f.escrow).unwrap_or_default()
            } else {
                fb.escrow
                    .into_iter()
                    .map(|e| EscrowShare {
                        airline: AirlineId::new(e.airline),
                        seats: e.seats,
                    })
                    .collect()
            },
        };
        flight
            .validate()
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        flights.push(flight);
    }
    let ids = flights.iter().map(|f| f.id.to_string()).collect::<Vec<_>>();
    match s.submit(Request::PutFlights(flights)).await? {
        Reply::Done => Ok(axum::Json(FlightsDto {
            written: ids.len(),
            ids,
        })),
        Reply::Refused(r) => Err(ApiError::from_refusal(&r)),
        other => Err(ApiError::internal(format!(
            "unexpected reply to a catalog edit: {other:?}"
        ))),
    }
}
