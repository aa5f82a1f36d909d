//! The simulated network's catalog: flights of every airline on a chain of airports, so that
//! trips of three legs on three airlines exist; small ones that sell out (stress profile) or
//! airline-sized ones (realistic profile), as the schedule says.

use crate::schedule::{EPOCH_MS, Schedule, airline_name};
use passcom_crdt::{AirlineId, Airport, Flight, FlightId};
use passcom_node::routes::{RouteIndex, RouteQuery};

/// The chain of airports: hop `h` of a trip flies `AIRPORTS[h]` → `AIRPORTS[h + 1]`.
const AIRPORTS: [(&str, &str, f64, f64); 4] = [
    ("SSA", "Salvador", -12.91, -38.33),
    ("BSB", "Brasília", -15.87, -47.92),
    ("GRU", "São Paulo", -23.43, -46.47),
    ("POA", "Porto Alegre", -29.99, -51.17),
];

/// First departure of the trips, ten days after the simulation starts, so that no flight
/// departs while a schedule runs.
const FIRST_DEPARTURE_MS: i64 = EPOCH_MS + 10 * 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The airlines, their flights and the three-airline itineraries over them.
#[derive(Clone, Debug)]
pub struct World {
    /// The airlines, in peer order.
    pub airlines: Vec<AirlineId>,
    /// The airports every airline lists.
    pub airports: Vec<Airport>,
    /// The flights as their airlines last published them, by peer then creation order.
    pub flights: Vec<Flight>,
    /// Trips of three legs flown by three different airlines (indexes into `flights`).
    pub itineraries: Vec<Vec<usize>>,
}

impl World {
    /// Builds the catalog of `peers` airlines with `sched`'s flight count and cabin size, each
    /// flight escrowing `escrow_share` of its seats to every partner.
    pub fn new(peers: usize, sched: &Schedule, escrow_share: f64) -> World {
        let airlines: Vec<AirlineId> = (0..peers)
            .map(|i| AirlineId::new(airline_name(i)))
            .collect();
        let airports = AIRPORTS
            .iter()
            .map(|&(iata, city, latitude, longitude)| Airport {
                iata: iata.to_owned(),
                name: format!("{city} airport"),
                city: city.to_owned(),
                state: String::new(),
                latitude,
                longitude,
                time_zone: String::new(),
            })
            .collect();
        let mut flights = Vec::new();
        for (k, airline) in airlines.iter().enumerate() {
            let partners: Vec<AirlineId> =
                airlines.iter().filter(|a| *a != airline).cloned().collect();
            let code = passcom_node::demo::airline_code(airline);
            for j in 0..sched.flights_per_airline as usize {
                // Airline k's flight j flies hop (k + j) mod 3, so every hop has flights of
                // several airlines; departures 3 h apart leave one hour to connect.
                let hop = (k + j) % 3;
                let departure =
                    FIRST_DEPARTURE_MS + hop as i64 * 3 * HOUR_MS + (j as i64) * 180_000;
                let capacity = sched.rows * sched.letters.len() as u32;
                flights.push(Flight {
                    id: FlightId::new(format!("{code}{k}{j}")),
                    airline: airline.clone(),
                    origin: AIRPORTS[hop].0.to_owned(),
                    destination: AIRPORTS[hop + 1].0.to_owned(),
                    departure,
                    arrival: departure + 2 * HOUR_MS,
                    rows: sched.rows,
                    letters: sched.letters.clone(),
                    fare_cents: 30_000 + 1_000 * (k as u64 % 7) + 500 * j as u64,
                    cancelled: false,
                    escrow: Flight::escrow_for(capacity, escrow_share, &partners),
                });
            }
        }
        let itineraries = three_airline_trips(&flights);
        World {
            airlines,
            airports,
            flights,
            itineraries,
        }
    }

    /// The flights of the peer at `index`.
    pub fn flights_of(&self, index: usize) -> Vec<Flight> {
        self.flights
            .iter()
            .filter(|f| f.airline == self.airlines[index])
            .cloned()
            .collect()
    }

    /// The position of flight `id` in `flights`.
    pub fn flight_index(&self, id: &FlightId) -> Option<usize> {
        self.flights.iter().position(|f| &f.id == id)
    }
}

/// The route search's SSA → POA trips whose three legs belong to three different airlines.
fn three_airline_trips(flights: &[Flight]) -> Vec<Vec<usize>> {
    let index = RouteIndex::build(flights);
    let mut query = RouteQuery::new(
        AIRPORTS[0].0,
        AIRPORTS[3].0,
        FIRST_DEPARTURE_MS - HOUR_MS,
        FIRST_DEPARTURE_MS + HOUR_MS,
    );
    query.max_legs = 3;
    query.limit = 64;
    index
        .search(&query)
        .into_iter()
        .filter(|it| {
            let mut airlines: Vec<&AirlineId> = it.legs.iter().map(|f| &f.airline).collect();
            airlines.sort();
            airlines.dedup();
            it.legs.len() == 3 && airlines.len() == 3
        })
        .map(|it| {
            it.legs
                .iter()
                .filter_map(|leg| flights.iter().position(|f| f.id == leg.id))
                .collect()
        })
        .collect()
}
