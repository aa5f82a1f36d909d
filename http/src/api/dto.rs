//! The API's wire types (DTOs) and their conversion from the node's types. The node's types
//! never appear on the wire as-is, so the API stays stable while the node evolves, and the CLI
//! client deserializes exactly these types.

use crate::dates::{format_instant, format_local, zone, zone_name};
use crate::problem::Problem;
use passcom_crdt::{Catalog, Flight, Millis};
use passcom_node::{SeatCounts, Ticket, TicketStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which peer this is.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct InfoDto {
    /// The airline running this peer (`rumos`, `giro`, `boreal`, …).
    pub airline: String,
    /// Its brand colour, a CSS hex colour.
    pub color: String,
    /// The peer's current time, ms since the epoch.
    pub now: Millis,
    /// How long a cart keeps its seats, ms.
    pub hold_ms: i64,
}

/// An airport of the network.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AirportDto {
    /// IATA code (`SSA`).
    pub iata: String,
    /// Airport name.
    pub name: String,
    /// City served.
    pub city: String,
    /// State.
    pub state: String,
    /// Latitude, degrees north.
    pub latitude: f64,
    /// Longitude, degrees east.
    pub longitude: f64,
    /// IANA time zone in which its times are local (`America/Manaus`); `UTC` when the
    /// catalog gives none or one unknown to this peer.
    pub time_zone: String,
}

/// Route search parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoutesParams {
    /// IATA code of the departure airport (`SSA`).
    #[param(pattern = "^[A-Za-z]{3}$")]
    pub from: String,
    /// IATA code of the arrival airport (`MAO`).
    #[param(pattern = "^[A-Za-z]{3}$")]
    pub to: String,
    /// Date of the first departure, `YYYY-MM-DD`, in the departure airport's local time
    /// (flights leaving from that local midnight to the next); today there when absent.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub date: Option<String>,
    /// Most legs per itinerary, 1 to 5 (default 3).
    #[param(minimum = 1, maximum = 5)]
    pub max_legs: Option<usize>,
    /// `price` (default), `duration` or `legs`.
    #[param(pattern = "^(price|duration|legs)$")]
    pub sort: Option<String>,
    /// Most itineraries returned, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// Seats of a flight by where they are, as seen from this peer.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct SeatsDto {
    /// Sellable here now, with no round trip.
    pub here: u32,
    /// Sellable at partner peers (moved here on purchase if they are reachable).
    pub partners: u32,
    /// Being handed over between peers.
    pub moving: u32,
    /// In carts.
    pub held: u32,
    /// Sold.
    pub sold: u32,
    /// Total seats.
    pub capacity: u32,
}

impl SeatsDto {
    fn new(c: &SeatCounts, capacity: u32) -> Self {
        SeatsDto {
            here: c.here,
            partners: c.partners,
            moving: c.moving,
            held: c.held,
            sold: c.sold,
            capacity,
        }
    }
}

/// One flight of an itinerary, with its seat availability.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LegDto {
    /// Flight id (`RU1000-2026-12-01`).
    pub flight: String,
    /// Operating airline.
    pub airline: String,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Departure, ms since the epoch.
    pub departure: Millis,
    /// Arrival, ms since the epoch.
    pub arrival: Millis,
    /// Departure, `YYYY-MM-DDTHH:MMZ`.
    pub departure_utc: String,
    /// Arrival, `YYYY-MM-DDTHH:MMZ`.
    pub arrival_utc: String,
    /// Departure in the origin's local time, with the offset then in force
    /// (`2026-12-01T07:00-04:00`).
    pub departure_local: String,
    /// Arrival in the destination's local time, with the offset then in force.
    pub arrival_local: String,
    /// IANA time zone of the origin (`America/Manaus`; `UTC` when unknown).
    pub origin_time_zone: String,
    /// IANA time zone of the destination.
    pub destination_time_zone: String,
    /// Fare, cents (BRL).
    pub fare_cents: u64,
    /// Seat availability.
    pub seats: SeatsDto,
}

/// The time zone of an airport of the catalog (UTC when unknown).
pub(crate) fn airport_zone(catalog: &Catalog, iata: &str) -> jiff::tz::TimeZone {
    zone(catalog.airport(iata).map_or("", |a| a.time_zone.as_str()))
}

pub(crate) fn leg_dto(f: &Flight, counts: &SeatCounts, catalog: &Catalog) -> LegDto {
    let (from, to) = (
        airport_zone(catalog, &f.origin),
        airport_zone(catalog, &f.destination),
    );
    LegDto {
        flight: f.id.to_string(),
        airline: f.airline.to_string(),
        origin: f.origin.clone(),
        destination: f.destination.clone(),
        departure: f.departure,
        arrival: f.arrival,
        departure_utc: format_instant(f.departure),
        arrival_utc: format_instant(f.arrival),
        departure_local: format_local(f.departure, &from),
        arrival_local: format_local(f.arrival, &to),
        origin_time_zone: zone_name(&from),
        destination_time_zone: zone_name(&to),
        fare_cents: f.fare_cents,
        seats: SeatsDto::new(counts, f.capacity()),
    }
}

/// One way to travel.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ItineraryDto {
    /// Flights in travel order.
    pub legs: Vec<LegDto>,
    /// Airlines involved, in order of first appearance.
    pub airlines: Vec<String>,
    /// Total fare, cents.
    pub price_cents: u64,
    /// First departure, ms since the epoch.
    pub departure: Millis,
    /// Last arrival, ms since the epoch.
    pub arrival: Millis,
    /// First departure in its airport's local time (`2026-12-01T07:00-04:00`).
    pub departure_local: String,
    /// Last arrival in its airport's local time.
    pub arrival_local: String,
    /// Door-to-door duration, ms.
    pub duration_ms: i64,
    /// Fewest seats available on any leg, here or at partners.
    pub seats_available: u32,
}

/// The answer to a route search.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RoutesDto {
    /// Departure airport.
    pub from: String,
    /// Arrival airport.
    pub to: String,
    /// The searched date, local at the departure airport.
    pub date: String,
    /// The order used.
    pub sort: String,
    /// The itineraries, best first.
    pub itineraries: Vec<ItineraryDto>,
}

/// One seat of a seat map.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SeatDto {
    /// Label, row then letter (`14C`).
    pub seat: String,
    /// `here` (sellable at this peer), `partner`, `moving`, `held` or `sold`.
    pub status: String,
    /// The peer holding it, for `partner` and `held` seats; the receiver for `moving`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

/// A flight's seat map.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SeatMapDto {
    /// The flight.
    pub flight: LegDto,
    /// Rows, numbered from 1.
    pub rows: u32,
    /// Seat letters of each row.
    pub letters: String,
    /// Every seat in row-major order.
    pub seats: Vec<SeatDto>,
}

/// Name and password.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CredentialsBody {
    /// 3 to 32 characters among a-z, 0-9, `.`, `_`, `-`.
    #[schema(pattern = "^[a-z0-9._-]{3,32}$", min_length = 3, max_length = 32)]
    pub name: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// An account.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AccountDto {
    /// The name.
    pub name: String,
    /// The id written on its tickets (`ana@rumos`).
    pub account: String,
}

/// A session opened by login.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionDto {
    /// Bearer token; also set as the `passcom_session` cookie.
    pub token: String,
    /// The account name.
    pub name: String,
    /// The id written on its tickets.
    pub account: String,
    /// When the session lapses, ms since the epoch.
    pub expires: Millis,
}

/// The logged-in traveler, for the page's greeting.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MeDto {
    /// The account name as typed at signup (`ana`).
    pub name: String,
    /// The id written on the traveler's tickets (`ana@rumos`).
    pub account: String,
    /// When this session lapses, ms since the epoch.
    pub expires: Millis,
}

/// One leg of a hold or purchase.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LegBody {
    /// Flight id.
    pub flight: String,
    /// A chosen seat (`14C`); any seat when absent.
    #[serde(default)]
    pub seat: Option<String>,
}

/// What to do when a chosen seat is held by a partner airline that cannot be reached now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeatFallbackBody {
    /// Refuse with 503 `holder_unreachable`, listing the nearest seats sellable here.
    #[default]
    Exact,
    /// Take the nearest seat of the same flight that this peer can sell now, in the same
    /// purchase or hold.
    Nearest,
}

impl From<SeatFallbackBody> for passcom_node::SeatFallback {
    fn from(f: SeatFallbackBody) -> Self {
        match f {
            SeatFallbackBody::Exact => passcom_node::SeatFallback::Exact,
            SeatFallbackBody::Nearest => passcom_node::SeatFallback::Nearest,
        }
    }
}

/// Seats to put in a cart.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HoldBody {
    /// The legs, in travel order.
    #[schema(min_items = 1)]
    pub legs: Vec<LegBody>,
    /// When a chosen seat's holder cannot be reached: refuse (`exact`, the default) or take
    /// the nearest seat sellable here (`nearest`).
    #[serde(default)]
    pub seat_fallback: SeatFallbackBody,
}

/// A seat of a flight.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SeatRefDto {
    /// Flight id.
    pub flight: String,
    /// Seat label.
    pub seat: String,
}

/// A cart.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HoldDto {
    /// The cart's id, to pass as `hold_id` at checkout.
    pub hold_id: String,
    /// The seats held.
    pub seats: Vec<SeatRefDto>,
    /// When the hold lapses, ms since the epoch.
    pub expires: Millis,
    /// Time left, ms.
    pub expires_in_ms: i64,
}

/// A purchase. Send it with an `Idempotency-Key` header; a retry with the same key returns
/// the same result.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PurchaseBody {
    /// The passenger's name.
    pub passenger: String,
    /// The legs, in travel order (1 to 6).
    #[schema(min_items = 1)]
    pub legs: Vec<LegBody>,
    /// A cart whose seats to buy.
    #[serde(default)]
    pub hold_id: Option<String>,
    /// When a chosen seat's holder cannot be reached: refuse (`exact`, the default) or take
    /// the nearest seat sellable here (`nearest`).
    #[serde(default)]
    pub seat_fallback: SeatFallbackBody,
}

/// One leg of a ticket.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TicketLegDto {
    /// Flight id.
    pub flight: String,
    /// Seat label.
    pub seat: String,
    /// Fare paid, cents.
    pub fare_cents: u64,
    /// Operating airline, when the flight is in the catalog.
    pub airline: Option<String>,
    /// Departure airport.
    pub origin: Option<String>,
    /// Arrival airport.
    pub destination: Option<String>,
    /// Departure, `YYYY-MM-DDTHH:MMZ`.
    pub departure_utc: Option<String>,
    /// Arrival, `YYYY-MM-DDTHH:MMZ`.
    pub arrival_utc: Option<String>,
    /// Departure in the origin's local time (`2026-12-01T07:00-04:00`).
    pub departure_local: Option<String>,
    /// Arrival in the destination's local time.
    pub arrival_local: Option<String>,
}

/// A ticket.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TicketDto {
    /// Ticket id.
    pub id: String,
    /// Passenger name.
    pub passenger: String,
    /// Legs in travel order.
    pub legs: Vec<TicketLegDto>,
    /// Total price, cents.
    pub price_cents: u64,
    /// The airline that sold it (the only one that can cancel it).
    pub seller: String,
    /// When it was sold, ms since the epoch.
    pub created_at: Millis,
    /// `live` or `cancelled`.
    pub status: String,
}

pub(crate) fn ticket_dto(t: &Ticket, catalog: &Catalog) -> TicketDto {
    TicketDto {
        id: t.id.to_string(),
        passenger: t.passenger.clone(),
        legs: t
            .legs
            .iter()
            .map(|l| {
                let f = catalog.flight(&l.flight);
                TicketLegDto {
                    flight: l.flight.to_string(),
                    seat: l.seat.clone(),
                    fare_cents: l.fare_cents,
                    airline: f.as_ref().map(|f| f.airline.to_string()),
                    origin: f.as_ref().map(|f| f.origin.clone()),
                    destination: f.as_ref().map(|f| f.destination.clone()),
                    departure_utc: f.as_ref().map(|f| format_instant(f.departure)),
                    arrival_utc: f.as_ref().map(|f| format_instant(f.arrival)),
                    departure_local: f
                        .map(|f| format_local(f.departure, &airport_zone(catalog, &f.origin))),
                    arrival_local: f
                        .map(|f| format_local(f.arrival, &airport_zone(catalog, &f.destination))),
                }
            })
            .collect(),
        price_cents: t.price_cents,
        seller: t.seller.to_string(),
        created_at: t.created_at,
        status: match t.status {
            TicketStatus::Live => "live".into(),
            TicketStatus::Cancelled => "cancelled".into(),
        },
    }
}

/// Where a purchase stands.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PurchaseStatusDto {
    /// The idempotency key as sent.
    pub key: String,
    /// `pending`, `confirmed` or `refused`.
    pub status: String,
    /// The ticket, once confirmed.
    pub ticket: Option<TicketDto>,
    /// Why it was refused.
    pub problem: Option<Problem>,
}

/// An itinerary to save, by its flights.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WishBody {
    /// Flight ids in travel order (1 to 5), as a search returned them.
    #[schema(min_items = 1, max_items = 5)]
    pub flights: Vec<String>,
}

/// A saved itinerary, with its seats as they are now.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WishDto {
    /// Its id in the wishlist (the same for the same flights).
    pub id: String,
    /// Flight ids in travel order.
    pub flights: Vec<String>,
    /// When it was saved, ms since the epoch.
    pub saved_at: Millis,
    /// The itinerary with live seat counts; `null` once a flight has left, been cancelled
    /// or gone from the catalog (it can no longer be bought).
    pub itinerary: Option<ItineraryDto>,
}
