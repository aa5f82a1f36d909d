//! The traveler API: search, seat maps, accounts and sessions, carts, purchases, tickets.
//! The HTTP DTOs live here: the node's types never appear on the wire as-is, so the API can
//! stay stable while the node evolves.

use crate::accounts::{AccountError, Session};
use crate::backend::read;
use crate::dates::{
    format_date, format_instant, format_local, local_day, local_today, parse_date, zone, zone_name,
};
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::{AppState, Shared};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use passcom_crdt::{Catalog, Flight, FlightId, Millis, TicketId};
use passcom_node::routes::{MAX_LEGS, RouteIndex, RouteQuery, SortBy};
use passcom_node::{
    HoldRequest, LegRequest, Operation, PurchaseRequest, Reply, Request, SeatCounts, SeatStatus,
    Ticket, TicketStatus,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};

/// Name of the session cookie set at login.
pub const SESSION_COOKIE: &str = "passcom_session";

/// The most itineraries one search returns.
const MAX_LIMIT: usize = 100;

// ---------------------------------------------------------------------------------------------
// DTOs

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
fn airport_zone(catalog: &Catalog, iata: &str) -> jiff::tz::TimeZone {
    zone(catalog.airport(iata).map_or("", |a| a.time_zone.as_str()))
}

fn leg_dto(f: &Flight, counts: &SeatCounts, catalog: &Catalog) -> LegDto {
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
#[derive(Deserialize, ToSchema)]
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

/// Seats to put in a cart.
#[derive(Deserialize, ToSchema)]
pub struct HoldBody {
    /// The legs, in travel order.
    #[schema(min_items = 1)]
    pub legs: Vec<LegBody>,
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
#[derive(Deserialize, ToSchema)]
pub struct PurchaseBody {
    /// The passenger's name.
    pub passenger: String,
    /// The legs, in travel order (1 to 6).
    #[schema(min_items = 1)]
    pub legs: Vec<LegBody>,
    /// A cart whose seats to buy.
    #[serde(default)]
    pub hold_id: Option<String>,
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

// ---------------------------------------------------------------------------------------------
// Authentication

/// The logged-in traveler of a request: from `Authorization: Bearer <token>` or the
/// `passcom_session` cookie. Rejects with 401 otherwise.
pub struct Traveler(pub Session);

/// The session token a request carries, if any.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<Shared> for Traveler {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, ApiError> {
        let Some(token) = session_token(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "log in first (POST /api/sessions) and send the token as 'Authorization: Bearer <token>'",
            ));
        };
        let (accounts, now) = (s.accounts.clone(), s.backend.now());
        let r = tokio::task::spawn_blocking(move || accounts.session(&token, now))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        match r {
            Ok(session) => Ok(Traveler(session)),
            Err(AccountError::NoSession) => Err(ApiError::unauthorized(
                "the session is unknown or expired; log in again",
            )),
            Err(e) => Err(account_error(e)),
        }
    }
}

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::Invalid(m) => ApiError::unprocessable(m),
        AccountError::Taken(_) => ApiError::conflict(e.to_string()),
        AccountError::BadCredentials | AccountError::NoSession => {
            ApiError::unauthorized(e.to_string())
        }
        AccountError::Storage(m) => {
            ApiError::unavailable(format!("accounts database failed ({m}); retry later"), 5)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers: public

/// Liveness probe for Docker healthchecks.
#[utoipa::path(get, path = "/api/health", tag = "public",
    responses((status = 200, description = "The peer serves requests", body = String, example = "ok")))]
pub async fn health() -> &'static str {
    "ok"
}

/// Brand colour of the demo airlines; others get a neutral slate.
pub fn airline_color(airline: &str) -> &'static str {
    match airline {
        "rumos" => "#c62828",
        "giro" => "#2e7d32",
        "boreal" => "#1565c0",
        _ => "#455a64",
    }
}

/// The airline this peer runs, for the web page's branding.
#[utoipa::path(get, path = "/api/info", tag = "public",
    responses((status = 200, description = "Which airline this peer is", body = InfoDto)))]
pub async fn info(State(s): State<Shared>) -> axum::Json<InfoDto> {
    axum::Json(InfoDto {
        color: airline_color(&s.airline).to_owned(),
        airline: s.airline.clone(),
        now: s.backend.now(),
        hold_ms: s.cfg.hold_ms,
    })
}

/// Every airport of the network, by IATA code.
#[utoipa::path(get, path = "/api/airports", tag = "search",
    responses((status = 200, description = "Airports by IATA code", body = Vec<AirportDto>)))]
pub async fn airports(State(s): State<Shared>) -> axum::Json<Vec<AirportDto>> {
    let mut list: Vec<AirportDto> = read(&*s.backend, |n| {
        n.catalog()
            .airports()
            .map(|a| AirportDto {
                iata: a.iata.clone(),
                name: a.name.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                latitude: a.latitude,
                longitude: a.longitude,
                time_zone: zone_name(&zone(&a.time_zone)),
            })
            .collect()
    });
    list.sort_by(|a, b| a.iata.cmp(&b.iata));
    list.dedup_by(|a, b| a.iata == b.iata);
    axum::Json(list)
}

impl AppState {
    /// The route index of the current catalog, rebuilt only when the catalog may have changed
    /// (its flight count or the vector clock moved).
    fn route_index(&self) -> Arc<RouteIndex> {
        let (count, clock) = read(&*self.backend, |n| {
            (n.catalog().flights().count(), n.clock().total())
        });
        let mut cache = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((c, k, idx)) = &*cache
            && *c == count
            && *k == clock
        {
            return idx.clone();
        }
        let idx = Arc::new(read(&*self.backend, |n| {
            RouteIndex::build(n.catalog().flights())
        }));
        *cache = Some((count, clock, idx.clone()));
        idx
    }

    /// Submits a request with a bounded wait: a peer that does not answer in time gives 503.
    pub(crate) async fn submit(&self, req: Request) -> Result<Reply, ApiError> {
        match tokio::time::timeout(self.cfg.request_timeout, self.backend.request(req)).await {
            Ok(r) => Ok(r),
            Err(_) => Err(ApiError::unavailable(
                "the peer did not answer in time; retry (a purchase with the same Idempotency-Key)",
                crate::problem::RETRY_AFTER_S,
            )),
        }
    }
}

fn check_airport(s: &AppState, code: &str, what: &str) -> Result<String, ApiError> {
    let code = code.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ApiError::bad_request(format!(
            "{what} must be a three-letter IATA code such as SSA; see GET /api/airports"
        )));
    }
    if !read(&*s.backend, |n| n.catalog().airport(&code).is_some()) {
        return Err(ApiError::not_found(format!(
            "airport {code} is not served by the network; see GET /api/airports"
        )));
    }
    Ok(code)
}

/// Every itinerary from one airport to another on a date, with legs, airlines, times,
/// price and the seats available on each leg.
#[utoipa::path(get, path = "/api/routes", tag = "search", params(RoutesParams),
    responses(
        (status = 200, description = "Itineraries, best first", body = RoutesDto),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown airport", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Date in the past or bad option", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn routes(
    State(s): State<Shared>,
    ApiQuery(p): ApiQuery<RoutesParams>,
) -> Result<axum::Json<RoutesDto>, ApiError> {
    let from = check_airport(&s, &p.from, "from")?;
    let to = check_airport(&s, &p.to, "to")?;
    if from == to {
        return Err(ApiError::unprocessable(
            "from and to are the same airport; choose two different airports",
        ));
    }
    let now = s.backend.now();
    // Travelers count days where they leave from: the searched date is the origin's.
    let tz = read(&*s.backend, |n| airport_zone(n.catalog(), &from));
    let today = local_today(now, &tz);
    let day = match &p.date {
        Some(d) => parse_date(d).map_err(ApiError::bad_request)?,
        None => today,
    };
    if day < today {
        return Err(ApiError::unprocessable(format!(
            "{} is in the past; search from today ({}) on",
            format_date(day),
            format_date(today)
        )));
    }
    let max_legs = p.max_legs.unwrap_or(3);
    if !(1..=MAX_LEGS).contains(&max_legs) {
        return Err(ApiError::unprocessable(format!(
            "max_legs must be 1 to {MAX_LEGS}"
        )));
    }
    let sort: SortBy = match &p.sort {
        Some(x) => x
            .parse()
            .map_err(|e: passcom_node::routes::ParseSortByError| {
                ApiError::unprocessable(e.to_string())
            })?,
        None => SortBy::Price,
    };
    let limit = p.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::unprocessable(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    // Flights that leave within a minute cannot be bought any more: leave them out.
    let (day_start, day_end) = local_day(day, &tz);
    let earliest = day_start.max(now + 60_000);
    let query = RouteQuery {
        max_legs,
        sort,
        limit,
        ..RouteQuery::new(from.clone(), to.clone(), earliest, day_end - 1)
    };
    let found = s.route_index().search(&query);
    let itineraries = read(&*s.backend, |n| {
        found
            .iter()
            .map(|it| itinerary_dto(n, &it.legs, now))
            .collect()
    });
    Ok(axum::Json(RoutesDto {
        from,
        to,
        date: format_date(day),
        sort: sort.to_string(),
        itineraries,
    }))
}

/// An itinerary of `legs` (in travel order, at least one) with each leg's seats as seen
/// now: what a search returns, and what a wishlist shows of a saved trip.
fn itinerary_dto(n: &passcom_node::Node, legs: &[Flight], now: Millis) -> ItineraryDto {
    let dtos: Vec<LegDto> = legs
        .iter()
        .map(|f| leg_dto(f, &n.seat_counts(f, now), n.catalog()))
        .collect();
    let mut airlines: Vec<String> = Vec::new();
    for l in &dtos {
        if !airlines.contains(&l.airline) {
            airlines.push(l.airline.clone());
        }
    }
    let (departure, arrival) = (
        legs.first().map_or(0, |f| f.departure),
        legs.last().map_or(0, |f| f.arrival),
    );
    let origin = legs.first().map_or("", |f| f.origin.as_str());
    let destination = legs.last().map_or("", |f| f.destination.as_str());
    ItineraryDto {
        departure_local: format_local(departure, &airport_zone(n.catalog(), origin)),
        arrival_local: format_local(arrival, &airport_zone(n.catalog(), destination)),
        seats_available: dtos
            .iter()
            .map(|l| l.seats.here + l.seats.partners)
            .min()
            .unwrap_or(0),
        legs: dtos,
        airlines,
        price_cents: legs.iter().map(|f| f.fare_cents).sum(),
        departure,
        arrival,
        duration_ms: arrival - departure,
    }
}

/// The seat map of a flight: every seat sold, available here, available at a partner,
/// moving between peers, or in a cart.
#[utoipa::path(get, path = "/api/flights/{id}/seats", tag = "search",
    params(("id" = String, Path, description = "Flight id, such as RU1000-2026-12-01")),
    responses(
        (status = 200, description = "Seat map", body = SeatMapDto),
        (status = 404, description = "Unknown flight", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn seats(
    State(s): State<Shared>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<SeatMapDto>, ApiError> {
    let now = s.backend.now();
    let id = FlightId::new(id);
    let map = read(&*s.backend, |n| {
        let f = n.catalog().flight(&id)?.clone();
        let seats = n.seat_map(&f, now);
        let leg = leg_dto(&f, &n.seat_counts(&f, now), n.catalog());
        Some((f, seats, leg))
    });
    let Some((f, seats, leg)) = map else {
        return Err(ApiError::not_found(format!(
            "flight {id} does not exist; search routes again"
        )));
    };
    let seats = seats
        .into_iter()
        .map(|(seat, st)| {
            let (status, holder) = match st {
                SeatStatus::Here => ("here", None),
                SeatStatus::Partner { holder } => ("partner", Some(holder.to_string())),
                SeatStatus::Moving { to, .. } => ("moving", Some(to.to_string())),
                SeatStatus::Held { holder } => ("held", Some(holder.to_string())),
                SeatStatus::Sold => ("sold", None),
            };
            SeatDto {
                seat,
                status: status.to_owned(),
                holder,
            }
        })
        .collect();
    Ok(axum::Json(SeatMapDto {
        flight: leg,
        rows: f.rows,
        letters: f.letters.clone(),
        seats,
    }))
}

// ---------------------------------------------------------------------------------------------
// Handlers: accounts and sessions

/// The address of the client, when the server was started with `ConnectInfo` (as
/// [`crate::serve`] does); `None` otherwise, so the router also works without it.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Deliberately not X-Forwarded-For: any client can write that header, and trusting it
        // would let an attacker pick a fresh "address" for every guess.
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

impl AppState {
    /// Runs `f` (an argon2 computation) on the blocking pool once one of the bounded hashing
    /// slots is free; waits at most [`crate::ApiConfig::hashing_wait`], then answers 503.
    async fn hash_bounded<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let busy = || {
            ApiError::unavailable(
                "the peer is busy checking passwords; retry in a few seconds",
                crate::problem::RETRY_AFTER_S,
            )
        };
        let permit =
            tokio::time::timeout(self.cfg.hashing_wait, self.hashing.clone().acquire_owned())
                .await
                .map_err(|_| busy())?
                .map_err(|_| busy())?;
        // The permit moves into the blocking task: if this request is dropped (deadline,
        // client gone), the slot stays taken until the hash is actually done.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// Creates a traveler account at this peer.
#[utoipa::path(post, path = "/api/accounts", tag = "accounts", request_body = CredentialsBody,
    responses(
        (status = 201, description = "Account created", body = AccountDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Name or password does not meet the rules", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_account(
    State(s): State<Shared>,
    ApiJson(b): ApiJson<CredentialsBody>,
) -> Result<(StatusCode, axum::Json<AccountDto>), ApiError> {
    let (accounts, now) = (s.accounts.clone(), s.backend.now());
    let name = b.name.clone();
    s.hash_bounded(move || accounts.create(&b.name, &b.password, now))
        .await?
        .map_err(account_error)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AccountDto {
            account: s.accounts.account_id(&name),
            name,
        }),
    ))
}

/// Logs in: returns a session token and sets it as an HttpOnly cookie. Failed logins are
/// throttled per client address and per name: past the limit, 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/sessions", tag = "accounts", request_body = CredentialsBody,
    responses(
        (status = 201, description = "Session opened", body = SessionDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong name or password", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Body without name or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins from this address or for this name; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(s): State<Shared>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<CredentialsBody>,
) -> Result<Response, ApiError> {
    // Checked before the password, so a throttled guess learns nothing, right or wrong.
    if let Err(wait) = s.logins.check(ip, &b.name, Instant::now()) {
        return Err(ApiError::too_many(
            "too many failed logins from this address or for this name; wait, then try again",
            wait.as_secs_f64().ceil() as u64,
        ));
    }
    let (accounts, now) = (s.accounts.clone(), s.backend.now());
    let name = b.name.clone();
    let outcome = s
        .hash_bounded(move || accounts.login(&b.name, &b.password, now))
        .await?;
    match &outcome {
        Ok(_) => s.logins.succeeded(&name),
        Err(AccountError::BadCredentials) => s.logins.failed(ip, &name, Instant::now()),
        Err(_) => {}
    }
    let (token, session) = outcome.map_err(account_error)?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        s.accounts.session_ttl_ms() / 1000
    );
    let body = SessionDto {
        token,
        name: session.name,
        account: session.account,
        expires: session.expires,
    };
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Who is logged in with this session (token or cookie): the page greets the traveler by
/// name and learns whether its HttpOnly cookie is still good.
#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("session" = [])),
    responses(
        (status = 200, description = "The logged-in traveler", body = MeDto),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(Traveler(t): Traveler) -> axum::Json<MeDto> {
    axum::Json(MeDto {
        name: t.name,
        account: t.account,
        expires: t.expires,
    })
}

/// Logs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/sessions", tag = "accounts", security(("session" = [])),
    responses(
        (status = 204, description = "Session ended"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(s): State<Shared>,
    headers: HeaderMap,
    _t: Traveler,
) -> Result<Response, ApiError> {
    let token = session_token(&headers).unwrap_or_default();
    let accounts = s.accounts.clone();
    tokio::task::spawn_blocking(move || accounts.logout(&token))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(account_error)?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("passcom_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Handlers: carts, purchases, tickets

fn legs(body: &[LegBody]) -> Result<Vec<LegRequest>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::unprocessable(
            "legs is empty; give at least one {\"flight\": ...}",
        ));
    }
    Ok(body
        .iter()
        .map(|l| LegRequest {
            flight: FlightId::new(l.flight.trim()),
            seat: l
                .seat
                .as_ref()
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty()),
        })
        .collect())
}

fn random_id(prefix: &str) -> String {
    let mut raw = [0u8; 12];
    rand::rng().fill_bytes(&mut raw);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// Puts seats in a cart for a few minutes, so that checkout cannot lose them.
#[utoipa::path(post, path = "/api/holds", tag = "purchases", request_body = HoldBody, security(("session" = [])),
    responses(
        (status = 201, description = "Seats held", body = HoldDto),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown flight", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Seat taken or sold out", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Flight departed or cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A seat's holder is unreachable; retry later", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn hold(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    ApiJson(b): ApiJson<HoldBody>,
) -> Result<(StatusCode, axum::Json<HoldDto>), ApiError> {
    let now = s.backend.now();
    let req = HoldRequest {
        hold_id: random_id("h-"),
        account: Some(t.account),
        legs: legs(&b.legs)?,
        expires: now + s.cfg.hold_ms,
    };
    match s.submit(Request::Hold(req)).await? {
        Reply::Held(h) => Ok((
            StatusCode::CREATED,
            axum::Json(HoldDto {
                expires_in_ms: h.expires - s.backend.now(),
                hold_id: h.hold_id,
                seats: h
                    .seats
                    .into_iter()
                    .map(|x| SeatRefDto {
                        flight: x.flight.to_string(),
                        seat: x.seat,
                    })
                    .collect(),
                expires: h.expires,
            }),
        )),
        Reply::Refused(r) => Err(ApiError::from_refusal(&r)),
        other => Err(ApiError::internal(format!(
            "unexpected reply to a hold: {other:?}"
        ))),
    }
}

/// Empties a cart: its seats go back on sale.
#[utoipa::path(delete, path = "/api/holds/{id}", tag = "purchases", security(("session" = [])),
    params(("id" = String, Path, description = "The cart's id")),
    responses(
        (status = 204, description = "Released"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cart of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let mine = read(&*s.backend, |n| {
        n.holds()
            .get(&id)
            .is_some_and(|h| h.account.as_deref() == Some(&t.account))
    });
    if !mine {
        return Err(ApiError::not_found(format!(
            "you have no hold {id}; it may have expired"
        )));
    }
    match s.submit(Request::ReleaseHold { hold_id: id }).await? {
        Reply::Done => Ok(StatusCode::NO_CONTENT),
        Reply::Refused(r) => Err(ApiError::from_refusal(&r)),
        other => Err(ApiError::internal(format!(
            "unexpected reply to a release: {other:?}"
        ))),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Err(ApiError::bad_request(
            "send an Idempotency-Key header (any unique string, such as a UUID) so that a retry cannot buy twice",
        ));
    };
    let k = v
        .to_str()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header must be printable ASCII"))?
        .trim();
    if k.is_empty() || k.len() > 64 {
        return Err(ApiError::bad_request(
            "the Idempotency-Key header must have 1 to 64 characters",
        ));
    }
    Ok(k.to_owned())
}

/// Buys an itinerary, all legs or none. The same `Idempotency-Key` (per account) always
/// yields the same result; a purchase whose seats are held by an unreachable peer is refused
/// with 503 and `Retry-After` after a bounded wait.
#[utoipa::path(post, path = "/api/purchases", tag = "purchases", request_body = PurchaseBody, security(("session" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 64, description = "Unique per purchase (1 to 64 printable ASCII characters); a retry with the same key returns the same result")),
    responses(
        (status = 201, description = "Ticket confirmed (or confirmed earlier under this key)", body = TicketDto),
        (status = 400, description = "Missing Idempotency-Key or malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown flight or hold", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Seat taken or sold out", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Flight departed or cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request or key reused for another purchase", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A seat's holder is unreachable; retry later with the same key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn purchase(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    headers: HeaderMap,
    ApiJson(b): ApiJson<PurchaseBody>,
) -> Result<(StatusCode, axum::Json<TicketDto>), ApiError> {
    let key = idempotency_key(&headers)?;
    // The node takes any live hold id; a cart is its owner's alone, so another account's is
    // answered as unknown. A hold that no longer exists passes on: a retry of a purchase that
    // consumed its hold must still get its recorded result from the node.
    if let Some(h) = b.hold_id.as_deref().filter(|h| !h.is_empty()) {
        let foreign = read(&*s.backend, |n| {
            n.holds()
                .get(h)
                .is_some_and(|hold| hold.account.as_deref() != Some(&t.account))
        });
        if foreign {
            // The same answer as for a hold that does not exist, so ids cannot be probed.
            return Err(ApiError::from_refusal(
                &passcom_node::Refusal::UnknownHold {
                    hold_id: h.to_owned(),
                },
            ));
        }
    }
    let req = PurchaseRequest {
        key: format!("{}:{key}", t.account),
        passenger: b.passenger,
        account: Some(t.account),
        legs: legs(&b.legs)?,
        hold_id: b.hold_id.filter(|h| !h.is_empty()),
    };
    let reply = s.submit(Request::Purchase(req)).await;
    match reply {
        Ok(Reply::Ticket(ticket)) => {
            s.metrics.observe_purchase(None);
            let dto = read(&*s.backend, |n| ticket_dto(&ticket, n.catalog()));
            Ok((StatusCode::CREATED, axum::Json(dto)))
        }
        Ok(Reply::Refused(r)) => {
            s.metrics
                .observe_purchase(Some(&crate::problem::refusal_reason(&r)));
            Err(ApiError::from_refusal(&r))
        }
        Ok(other) => Err(ApiError::internal(format!(
            "unexpected reply to a purchase: {other:?}"
        ))),
        Err(e) => {
            s.metrics.observe_purchase(Some("no_answer"));
            Err(e)
        }
    }
}

/// Where a purchase stands, by the `Idempotency-Key` it was sent with.
#[utoipa::path(get, path = "/api/purchases/{key}", tag = "purchases", security(("session" = [])),
    params(("key" = String, Path, description = "The Idempotency-Key of the purchase")),
    responses(
        (status = 200, description = "Pending, confirmed or refused", body = PurchaseStatusDto),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No purchase of yours with this key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn purchase_status(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    ApiPath(key): ApiPath<String>,
) -> Result<axum::Json<PurchaseStatusDto>, ApiError> {
    let scoped = format!("{}:{key}", t.account);
    let found = read(&*s.backend, |n| {
        n.operation(&scoped).cloned().map(|op| match op {
            Operation::Confirmed(id) => {
                let ticket = n.tickets().get(&id).map(|tk| ticket_dto(tk, n.catalog()));
                ("confirmed", ticket, None)
            }
            Operation::Refused(r) => ("refused", None, Some(ApiError::from_refusal(&r).problem())),
            Operation::Pending { .. } => ("pending", None, None),
            Operation::Held(_) => ("pending", None, None),
        })
    });
    let Some((status, ticket, problem)) = found else {
        return Err(ApiError::not_found(format!(
            "you made no purchase with the key {key}"
        )));
    };
    Ok(axum::Json(PurchaseStatusDto {
        key,
        status: status.to_owned(),
        ticket,
        problem,
    }))
}

/// The logged-in traveler's tickets, newest first.
#[utoipa::path(get, path = "/api/tickets", tag = "purchases", security(("session" = [])),
    responses(
        (status = 200, description = "Your tickets", body = Vec<TicketDto>),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn tickets(State(s): State<Shared>, Traveler(t): Traveler) -> axum::Json<Vec<TicketDto>> {
    let mut list: Vec<(Millis, TicketDto)> = read(&*s.backend, |n| {
        n.tickets()
            .values()
            .filter(|tk| tk.account.as_deref() == Some(&t.account))
            .map(|tk| (tk.created_at, ticket_dto(tk, n.catalog())))
            .collect()
    });
    list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    axum::Json(list.into_iter().map(|(_, d)| d).collect())
}

/// Cancels one of the traveler's tickets; its seats go back on sale.
#[utoipa::path(delete, path = "/api/tickets/{id}", tag = "purchases", security(("session" = [])),
    params(("id" = String, Path, description = "Ticket id")),
    responses(
        (status = 200, description = "Cancelled", body = TicketDto),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled, or sold by another airline's peer", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<TicketDto>, ApiError> {
    let id = TicketId::new(id);
    // Someone else's ticket is answered as unknown: its existence is none of the caller's business.
    let mine = read(&*s.backend, |n| {
        n.tickets()
            .get(&id)
            .is_some_and(|tk| tk.account.as_deref() == Some(&t.account))
    });
    if !mine {
        return Err(ApiError::not_found(format!(
            "you have no ticket {id}; see GET /api/tickets"
        )));
    }
    match s
        .submit(Request::Cancel {
            ticket: id,
            account: Some(t.account),
        })
        .await?
    {
        Reply::Ticket(tk) => Ok(axum::Json(read(&*s.backend, |n| {
            ticket_dto(&tk, n.catalog())
        }))),
        Reply::Refused(r) => Err(ApiError::from_refusal(&r)),
        other => Err(ApiError::internal(format!(
            "unexpected reply to a cancel: {other:?}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers: wishlist

/// An itinerary to save, by its flights.
#[derive(Deserialize, ToSchema)]
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

fn wish_dto(n: &passcom_node::Node, w: crate::accounts::Wish, now: Millis) -> WishDto {
    let legs: Option<Vec<Flight>> = w
        .flights
        .iter()
        .map(|id| {
            n.catalog()
                .flight(&FlightId::new(id.as_str()))
                .filter(|f| !f.cancelled && f.departure > now)
                .cloned()
        })
        .collect();
    WishDto {
        itinerary: legs
            .filter(|l| !l.is_empty())
            .map(|l| itinerary_dto(n, &l, now)),
        id: w.id,
        flights: w.flights,
        saved_at: w.saved_at,
    }
}

/// The logged-in traveler's wishlist, oldest first, each with its live seat counts.
#[utoipa::path(get, path = "/api/wishlist", tag = "accounts", security(("session" = [])),
    responses(
        (status = 200, description = "Saved itineraries", body = Vec<WishDto>),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn wishlist(
    State(s): State<Shared>,
    Traveler(t): Traveler,
) -> Result<axum::Json<Vec<WishDto>>, ApiError> {
    let accounts = s.accounts.clone();
    let wishes = tokio::task::spawn_blocking(move || accounts.wishes(&t.name))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(account_error)?;
    let now = s.backend.now();
    Ok(axum::Json(read(&*s.backend, |n| {
        wishes.into_iter().map(|w| wish_dto(n, w, now)).collect()
    })))
}

/// Saves an itinerary to the logged-in traveler's wishlist (kept with the account at this
/// peer). Saving the same flights again changes nothing and answers 200.
#[utoipa::path(post, path = "/api/wishlist", tag = "accounts", request_body = WishBody, security(("session" = [])),
    responses(
        (status = 201, description = "Saved", body = WishDto),
        (status = 200, description = "Already saved", body = WishDto),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No flights, too many, or the wishlist is full", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_wish(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    ApiJson(b): ApiJson<WishBody>,
) -> Result<(StatusCode, axum::Json<WishDto>), ApiError> {
    let flights: Vec<String> = b.flights.iter().map(|f| f.trim().to_owned()).collect();
    if flights.is_empty() || flights.len() > MAX_LEGS {
        return Err(ApiError::unprocessable(format!(
            "flights must list 1 to {MAX_LEGS} flight ids, in travel order"
        )));
    }
    let unknown = read(&*s.backend, |n| {
        flights
            .iter()
            .find(|id| n.catalog().flight(&FlightId::new(id.as_str())).is_none())
            .cloned()
    });
    if let Some(id) = unknown {
        return Err(ApiError::not_found(format!(
            "flight {id} does not exist; search routes again"
        )));
    }
    let (accounts, now) = (s.accounts.clone(), s.backend.now());
    let (wish, new) =
        tokio::task::spawn_blocking(move || accounts.add_wish(&t.name, &flights, now))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(account_error)?;
    let dto = read(&*s.backend, |n| wish_dto(n, wish, now));
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(dto)))
}

/// Removes an itinerary from the logged-in traveler's wishlist.
#[utoipa::path(delete, path = "/api/wishlist/{id}", tag = "accounts", security(("session" = [])),
    params(("id" = String, Path, description = "The wish's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not in your wishlist", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_wish(
    State(s): State<Shared>,
    Traveler(t): Traveler,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let accounts = s.accounts.clone();
    let wid = id.clone();
    let found = tokio::task::spawn_blocking(move || accounts.remove_wish(&t.name, &wid))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(account_error)?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "your wishlist has no {id}; see GET /api/wishlist"
        )))
    }
}
