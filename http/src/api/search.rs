//! Public handlers: health, peer info, airports, route search and seat maps.

use super::dto::*;
use crate::backend::read;
use crate::dates::{
    format_date, format_local, local_day, local_today, parse_date, zone, zone_name,
};
use crate::problem::{ApiError, ApiPath, ApiQuery, Problem};
use crate::{AppState, Shared};
use axum::extract::State;
use passcom_crdt::{Flight, FlightId, Millis};
use passcom_node::routes::{MAX_LEGS, RouteIndex, RouteQuery, SortBy};
use passcom_node::{Reply, Request, SeatStatus};
use std::sync::Arc;

/// The most itineraries one search returns.
const MAX_LIMIT: usize = 100;

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
pub(crate) fn itinerary_dto(n: &passcom_node::Node, legs: &[Flight], now: Millis) -> ItineraryDto {
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
