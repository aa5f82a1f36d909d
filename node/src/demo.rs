//! The demo network's data: Brazil's 27 state capitals, a daily schedule for each of the three
//! demo airlines, and a seeded synthetic catalog for benchmarks.
//!
//! Everything here is deterministic: the same arguments always give the same airports and
//! flights, so every peer of the demo network (and every simulation) agrees on them.
//!
//! The three airlines split the country, so that many trips need flights of two or three of
//! them: `boreal` flies the North and the Centre-West from Manaus, Belém and Brasília, `giro`
//! the Northeast from Recife, Salvador and Fortaleza, and `rumos` the Southeast and the South
//! from São Paulo, Brasília and Rio de Janeiro. Their networks meet at a few shared airports
//! (Brasília above all). Any capital reaches any other in at most three legs.

use passcom_crdt::{AirlineId, Airport, Flight, FlightId, Millis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The airlines of the default demo network, in the order their peers are usually started.
pub const DEMO_AIRLINES: [&str; 3] = ["rumos", "giro", "boreal"];

/// The capitals' airports, embedded at build time (see `data/README.md` for the source).
const CAPITALS_CSV: &str = include_str!("../data/capitals.csv");

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

const MINUTE_MS: i64 = 60_000;

/// First departure of the demo day, in minutes after midnight UTC (06:00 in Brasília).
const FIRST_DEPARTURE_MIN: i64 = 9 * 60;

/// Length of the span in which demo departures are spread, in minutes (until 23:00 UTC).
const DEPARTURE_SPAN_MIN: i64 = 14 * 60;

/// A route an airline flies in both directions, `per_day` times a day each way.
type Route = (&'static str, &'static str, u32);

/// rumos: the Southeast and the South, hubs GRU, BSB and GIG.
const RUMOS_ROUTES: &[Route] = &[
    ("GRU", "GIG", 4),
    ("GRU", "BSB", 3),
    ("GRU", "CNF", 3),
    ("GRU", "POA", 3),
    ("GRU", "CWB", 3),
    ("GRU", "FLN", 2),
    ("GRU", "VIX", 2),
    ("GRU", "CGR", 2),
    ("GRU", "GYN", 2),
    ("GRU", "SSA", 2),
    ("GRU", "REC", 1),
    ("BSB", "GIG", 2),
    ("BSB", "CNF", 2),
    ("BSB", "CGB", 2),
    ("BSB", "POA", 1),
    ("BSB", "CWB", 1),
    ("BSB", "FLN", 1),
    ("GIG", "CNF", 1),
    ("GIG", "POA", 1),
    ("GIG", "VIX", 1),
    ("CWB", "POA", 1),
];

/// giro: the Northeast, hubs REC, SSA and FOR.
const GIRO_ROUTES: &[Route] = &[
    ("REC", "SSA", 3),
    ("REC", "FOR", 3),
    ("SSA", "FOR", 2),
    ("REC", "NAT", 2),
    ("REC", "JPA", 2),
    ("REC", "MCZ", 2),
    ("REC", "AJU", 1),
    ("REC", "THE", 1),
    ("REC", "BSB", 1),
    ("REC", "GIG", 1),
    ("SSA", "AJU", 2),
    ("SSA", "MCZ", 1),
    ("SSA", "VIX", 1),
    ("SSA", "CNF", 1),
    ("SSA", "GIG", 2),
    ("SSA", "BSB", 2),
    ("FOR", "SLZ", 2),
    ("FOR", "THE", 2),
    ("FOR", "NAT", 1),
    ("FOR", "JPA", 1),
    ("FOR", "BEL", 1),
    ("FOR", "BSB", 1),
];

/// boreal: the North and the Centre-West, hubs MAO, BEL and BSB.
const BOREAL_ROUTES: &[Route] = &[
    ("MAO", "BEL", 3),
    ("MAO", "BSB", 3),
    ("BEL", "BSB", 3),
    ("MAO", "RBR", 1),
    ("MAO", "PVH", 2),
    ("MAO", "BVB", 2),
    ("MAO", "CGB", 1),
    ("MAO", "MCP", 1),
    ("BEL", "MCP", 2),
    ("BEL", "SLZ", 2),
    ("BEL", "PMW", 1),
    ("BEL", "THE", 1),
    ("BEL", "FOR", 1),
    ("BSB", "PMW", 2),
    ("BSB", "RBR", 1),
    ("BSB", "PVH", 1),
    ("BSB", "BVB", 1),
    ("BSB", "MCP", 1),
    ("BSB", "CGB", 2),
    ("BSB", "GYN", 2),
    ("BSB", "GRU", 2),
    ("BSB", "CGR", 1),
];

/// The demo routes of `airline` and its hubs, or `None` for an airline outside the demo.
fn network_of(airline: &str) -> Option<(&'static [Route], [&'static str; 3], u64)> {
    // The last field is the airline's fare level in percent.
    match airline {
        "rumos" => Some((RUMOS_ROUTES, ["GRU", "BSB", "GIG"], 100)),
        "giro" => Some((GIRO_ROUTES, ["REC", "SSA", "FOR"], 95)),
        "boreal" => Some((BOREAL_ROUTES, ["MAO", "BEL", "BSB"], 110)),
        _ => None,
    }
}

/// The airports of Brazil's 27 state capitals: real IATA codes, names, coordinates and IANA
/// time zones, parsed from the embedded `data/capitals.csv` (header
/// `iata,airport,city,state,latitude,longitude,time_zone`), in the file's order (by state name).
///
/// Never fails: the file is part of the build and checked by this module's tests.
pub fn demo_airports() -> Vec<Airport> {
    CAPITALS_CSV
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.trim().split(',').collect();
            assert_eq!(fields.len(), 7, "capitals.csv: bad line {line:?}");
            let degrees = |s: &str| -> f64 {
                s.parse()
                    .unwrap_or_else(|_| panic!("capitals.csv: bad coordinate in {line:?}"))
            };
            Airport {
                iata: fields[0].to_owned(),
                name: fields[1].to_owned(),
                city: fields[2].to_owned(),
                state: fields[3].to_owned(),
                latitude: degrees(fields[4]),
                longitude: degrees(fields[5]),
                time_zone: fields[6].to_owned(),
            }
        })
        .collect()
}

/// The flight-number prefix of an airline (defined with the flight-id rule in `crdt`).
pub use passcom_crdt::airline_code;

/// Great-circle distance between two airports in kilometres (haversine, Earth radius 6,371 km).
pub fn distance_km(a: &Airport, b: &Airport) -> f64 {
    let (la1, lo1) = (a.latitude.to_radians(), a.longitude.to_radians());
    let (la2, lo2) = (b.latitude.to_radians(), b.longitude.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371.0 * h.sqrt().clamp(0.0, 1.0).asin()
}

/// Scheduled block time for a distance: cruise at about 800 km/h plus 30 minutes for taxi,
/// climb and descent, rounded up to 5 minutes. In milliseconds.
pub fn block_time_ms(km: f64) -> i64 {
    let minutes = (km.max(0.0) / 800.0 * 60.0 + 30.0).ceil() as i64;
    (minutes + 4) / 5 * 5 * MINUTE_MS
}

/// A fare for a distance at `level` percent of the base price: R$ 89 plus R$ 0.38 per km,
/// ending in 90 cents.
fn fare_cents(km: f64, level: u64) -> u64 {
    let base = 8_900 + (km.max(0.0) * 38.0) as u64;
    (base * level / 100) / 100 * 100 + 90
}

/// The UTC calendar date of an instant as `YYYY-MM-DD` (proleptic Gregorian calendar).
pub fn utc_date(at: Millis) -> String {
    // Count days from 0000-03-01 so that leap days end each 4-, 100- and 400-year cycle.
    let days = at.div_euclid(DAY_MS) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A small deterministic hash, to spread departure times without randomness.
fn mix(values: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for v in values {
        h = (h ^ v).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
    }
    h
}

/// The demo schedule of `airline` for `days` days starting at `first_day` (midnight UTC of
/// the first day).
///
/// Each day the airline flies the same routes (50 to 80 flights a day, both directions), with
/// departures between 09:00 and 23:00 UTC (06:00–20:00 in Brasília) in 5-minute steps, block
/// times from the great-circle distance and fares from the distance. Trunk routes (between two
/// of the airline's hubs, or flown at least twice a day) use 30 rows of `ABCDEF`, the others 25
/// rows of `ABCD`. Flight ids are the airline's code, a flight number that is the same every
/// day, and the departure's UTC date: `RU1000-2026-12-01`.
///
/// Every flight carries `Flight::escrow_for(capacity, escrow_share, partners)`, with the
/// airline itself removed from `partners`. Every flight passes [`Flight::validate`].
///
/// Returns no flights for an airline that is not one of [`DEMO_AIRLINES`].
pub fn demo_flights(
    airline: &AirlineId,
    first_day: Millis,
    days: u32,
    escrow_share: f64,
    partners: &[AirlineId],
) -> Vec<Flight> {
    let Some((routes, hubs, level)) = network_of(airline.as_str()) else {
        return Vec::new();
    };
    let airports = demo_airports();
    let find = |code: &str| {
        airports
            .iter()
            .find(|a| a.iata == code)
            .unwrap_or_else(|| panic!("demo route names unknown airport {code}"))
    };
    let partners: Vec<AirlineId> = partners.iter().filter(|p| *p != airline).cloned().collect();
    let code = airline_code(airline);
    let salt = mix(&airline.as_str().bytes().map(u64::from).collect::<Vec<_>>());

    let mut flights = Vec::new();
    for day in 0..i64::from(days) {
        let midnight = first_day + day * DAY_MS;
        let date = utc_date(midnight + FIRST_DEPARTURE_MIN * MINUTE_MS);
        for (r, &(a, b, per_day)) in routes.iter().enumerate() {
            let km = distance_km(find(a), find(b));
            let block = block_time_ms(km);
            let trunk = (hubs.contains(&a) && hubs.contains(&b)) || per_day >= 2;
            let (rows, letters) = if trunk { (30, "ABCDEF") } else { (25, "ABCD") };
            let capacity = rows * letters.len() as u32;
            let slot_min = DEPARTURE_SPAN_MIN / i64::from(per_day);
            for (direction, (origin, destination)) in [(a, b), (b, a)].into_iter().enumerate() {
                for slot in 0..per_day {
                    let jitter = mix(&[salt, r as u64, direction as u64, u64::from(slot)])
                        % (slot_min / 5) as u64;
                    let minute =
                        FIRST_DEPARTURE_MIN + i64::from(slot) * slot_min + jitter as i64 * 5;
                    let departure = midnight + minute * MINUTE_MS;
                    // Early-morning and evening departures cost 15% more.
                    let peak = !(11 * 60..20 * 60).contains(&minute);
                    let level = if peak { level * 115 / 100 } else { level };
                    let number = 1000 + 10 * r + 2 * slot as usize + direction;
                    flights.push(Flight {
                        id: FlightId::new(format!("{code}{number}-{date}")),
                        airline: airline.clone(),
                        origin: origin.to_owned(),
                        destination: destination.to_owned(),
                        departure,
                        arrival: departure + block,
                        rows,
                        letters: letters.to_owned(),
                        fare_cents: fare_cents(km, level),
                        cancelled: false,
                        escrow: Flight::escrow_for(capacity, escrow_share, &partners),
                    });
                }
            }
        }
    }
    flights
}

/// A large seeded catalog for benchmarks: `airports` airports and exactly `flights` flights
/// spread over `days` days from `first_day` (a `days` of 0 counts as 1).
///
/// Airports get unique synthetic codes of three upper-case letters (four beyond 17,576
/// airports), names such as `Synthetic AAB`, and random coordinates over Brazil. The network
/// is hub-and-spoke: one airport in 50 is a hub; 60% of flights link a spoke and its home hub,
/// 30% link two hubs and 10% link two random airports, so that most pairs connect in three
/// legs. Flights go round-robin to `rumos`, `giro` and `boreal`, depart in 5-minute steps, take
/// their block time from the distance, have 30 rows of `ABCDEF`, no escrow, and ids such as
/// `RU17-2026-12-01` (unique: the number is the flight's index).
///
/// The same `seed` and sizes always give the same catalog (ChaCha8 seeded with `seed`). With
/// fewer than 2 airports no flight can exist and the flight list is empty.
pub fn synthetic_catalog(
    seed: u64,
    airports: usize,
    flights: usize,
    first_day: Millis,
    days: u32,
) -> (Vec<Airport>, Vec<Flight>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ports: Vec<Airport> = (0..airports)
        .map(|i| {
            let iata = synthetic_code(i);
            Airport {
                name: format!("Synthetic {iata}"),
                city: format!("City {iata}"),
                state: "XX".to_owned(),
                latitude: rng.random_range(-33.0..5.0),
                longitude: rng.random_range(-73.0..-35.0),
                time_zone: "America/Sao_Paulo".to_owned(),
                iata,
            }
        })
        .collect();
    if airports < 2 {
        return (ports, Vec::new());
    }

    let hub_count = (airports / 50).max(2).min(airports);
    let home_hub: Vec<usize> = (0..airports)
        .map(|_| rng.random_range(0..hub_count))
        .collect();
    let airlines: Vec<AirlineId> = DEMO_AIRLINES.iter().map(|a| AirlineId::new(*a)).collect();
    let codes: Vec<String> = airlines.iter().map(airline_code).collect();
    let days = i64::from(days.max(1));

    let mut out = Vec::with_capacity(flights);
    for i in 0..flights {
        let kind: f64 = rng.random();
        let (origin, destination) = if kind < 0.60 && airports > hub_count {
            let spoke = rng.random_range(hub_count..airports);
            let hub = home_hub[spoke];
            if rng.random_bool(0.5) {
                (spoke, hub)
            } else {
                (hub, spoke)
            }
        } else if kind < 0.90 {
            let a = rng.random_range(0..hub_count);
            let b = (a + rng.random_range(1..hub_count)) % hub_count;
            (a, b)
        } else {
            let a = rng.random_range(0..airports);
            let b = (a + rng.random_range(1..airports)) % airports;
            (a, b)
        };
        let km = distance_km(&ports[origin], &ports[destination]);
        let day = rng.random_range(0..days);
        let minute = 5 * rng.random_range(60..288_i64); // 05:00 to 23:55 UTC
        let departure = first_day + day * DAY_MS + minute * MINUTE_MS;
        let airline = i % airlines.len();
        out.push(Flight {
            id: FlightId::new(format!("{}{i}-{}", codes[airline], utc_date(departure))),
            airline: airlines[airline].clone(),
            origin: ports[origin].iata.clone(),
            destination: ports[destination].iata.clone(),
            departure,
            arrival: departure + block_time_ms(km),
            rows: 30,
            letters: "ABCDEF".to_owned(),
            fare_cents: fare_cents(km, 100),
            cancelled: false,
            escrow: Vec::new(),
        });
    }
    (ports, out)
}

/// The `i`-th synthetic airport code: three letters for the first 17,576, scattered over the
/// alphabet by a stride coprime with 26³; four letters after that.
fn synthetic_code(i: usize) -> String {
    const THREE: usize = 26 * 26 * 26;
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    if i < THREE {
        let n = (i * 7_919) % THREE;
        [n / 676, n / 26, n].into_iter().map(letter).collect()
    } else {
        let n = i - THREE;
        [n / 17_576, n / 676, n / 26, n]
            .into_iter()
            .map(letter)
            .collect()
    }
}

/// Writes a backlog straight into `store`: `n` signed events of `airline`, numbered from
/// `after + 1`, each the sale of one seat of `flights` (in order, seats its airline holds at
/// first) with its ticket, as if the airline had sold them one by one. Benchmarks and tests
/// of catch-up use it to give a peer a long history without selling it through the node.
/// Returns the last sequence number written.
///
/// Errors: the flights have fewer than `n` seats held by `airline`; the store cannot be
/// written.
pub fn append_sales(
    store: &mut crate::Store,
    airline: &AirlineId,
    signing_key: &[u8; 32],
    flights: &[Flight],
    after: u64,
    n: usize,
) -> Result<u64, String> {
    use crate::model::{Event, Ticket, TicketLeg, TicketStatus, TokenUpdate};
    use ed25519_dalek::Signer;
    use passcom_crdt::{TicketId, Token, TokenState};
    let key = ed25519_dalek::SigningKey::from_bytes(signing_key);
    let seats: Vec<(&Flight, String)> = flights
        .iter()
        .flat_map(|f| f.seat_labels().map(move |l| (f, l)))
        .filter(|(f, l)| f.initial_holder(l) == airline)
        .take(n)
        .collect();
    if seats.len() < n {
        return Err(format!(
            "the flights have {} seats of {airline}, {n} wanted",
            seats.len()
        ));
    }
    for (i, part) in seats.chunks(5_000).enumerate() {
        let mut b = crate::store::Batch::default();
        for (j, (f, label)) in part.iter().enumerate() {
            let seq = after + 1 + (i * 5_000 + j) as u64;
            let id = TicketId::new(format!("{airline}-{seq}-1"));
            let seat = f.seat(label);
            let next = Token {
                version: 1,
                state: TokenState::Sold {
                    seller: airline.clone(),
                    ticket: id.clone(),
                },
            };
            let ticket = Ticket {
                id,
                passenger: format!("Passenger {seq}"),
                account: None,
                legs: vec![TicketLeg {
                    flight: f.id.clone(),
                    seat: label.clone(),
                    fare_cents: f.fare_cents,
                }],
                price_cents: f.fare_cents,
                seller: airline.clone(),
                created_at: f.departure - 7 * DAY_MS,
                status: TicketStatus::Live,
                key: None,
            };
            let mut ev = Event {
                origin: airline.clone(),
                seq,
                tokens: vec![TokenUpdate {
                    seat: seat.clone(),
                    prev: Token::initial(airline.clone()),
                    next: next.clone(),
                }],
                tickets: vec![ticket.clone()],
                catalog: vec![],
                signature: vec![],
            };
            ev.signature = key.sign(&ev.signed_bytes()).to_bytes().to_vec();
            b.token(seat, next);
            b.ticket(ticket);
            b.event(ev);
            b.clock(airline.clone(), seq);
        }
        store.commit(b).map_err(|e| e.to_string())?;
    }
    Ok(after + n as u64)
}

/// Writes every seat token of `flights` straight into `store` as changed once: a cart of
/// `holder` that lapsed long ago (version 1, `Held` with expiry 0), so that each token is a
/// stored row, as on a peer where every seat has moved. The million-token benchmark uses it to
/// measure the open time and memory of a peer whose tokens are all stored, without holding a
/// million seats through the node first. Nothing is logged as an event, so no partner ever
/// hears of these writes: use it only on a store that no peer is running over yet.
/// Returns the number of tokens written.
///
/// Errors: the store cannot be written (nothing of the failed group of 500 flights is).
pub fn store_lapsed_holds(
    store: &mut crate::Store,
    holder: &AirlineId,
    flights: &[Flight],
) -> Result<usize, String> {
    use passcom_crdt::{Token, TokenState};
    let mut written = 0;
    // Groups of 500 flights (90,000 seats of a 180-seat flight) keep one transaction's
    // memory bounded.
    for chunk in flights.chunks(500) {
        let mut b = crate::store::Batch::default();
        for f in chunk {
            for label in f.seat_labels() {
                let held = TokenState::Held {
                    holder: holder.clone(),
                    hold_id: "old".into(),
                    expires: 0,
                };
                b.token(
                    f.seat(&label),
                    Token {
                        version: 1,
                        state: held,
                    },
                );
                written += 1;
            }
        }
        store.commit(b).map_err(|e| e.to_string())?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{MAX_CONNECTION_MS, MIN_CONNECTION_MS, RouteIndex, RouteQuery, SortBy};
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    const FIRST_DAY: Millis = 1_796_083_200_000; // 2026-12-01T00:00Z

    fn airlines() -> Vec<AirlineId> {
        DEMO_AIRLINES.iter().map(|a| AirlineId::new(*a)).collect()
    }

    fn demo_network(days: u32) -> Vec<Flight> {
        let all = airlines();
        all.iter()
            .flat_map(|a| demo_flights(a, FIRST_DAY, days, 0.1, &all))
            .collect()
    }

    #[test]
    fn the_demo_has_the_27_capitals() {
        let airports = demo_airports();
        assert_eq!(airports.len(), 27);
        let codes: BTreeSet<&str> = airports.iter().map(|a| a.iata.as_str()).collect();
        assert_eq!(codes.len(), 27);
        let states: BTreeSet<&str> = airports.iter().map(|a| a.state.as_str()).collect();
        assert_eq!(states.len(), 27);
        for a in &airports {
            assert!(a.iata.len() == 3 && a.iata.chars().all(|c| c.is_ascii_uppercase()));
            assert!((-34.0..6.0).contains(&a.latitude) && (-74.0..-34.0).contains(&a.longitude));
            assert!(!a.name.is_empty() && !a.city.is_empty());
            assert!(
                a.time_zone.starts_with("America/"),
                "{}: {}",
                a.iata,
                a.time_zone
            );
        }
        let zone = |code: &str| {
            let a = airports.iter().find(|a| a.iata == code).unwrap();
            a.time_zone.as_str()
        };
        assert_eq!(zone("MAO"), "America/Manaus");
        assert_eq!(zone("RBR"), "America/Rio_Branco");
        assert_eq!(zone("BSB"), "America/Sao_Paulo");
        let gru = airports.iter().find(|a| a.iata == "GRU").unwrap();
        assert_eq!((gru.city.as_str(), gru.state.as_str()), ("São Paulo", "SP"));
    }

    #[test]
    fn distances_and_dates_are_right() {
        let airports = demo_airports();
        let at = |c: &str| airports.iter().find(|a| a.iata == c).unwrap().clone();
        let km = distance_km(&at("GRU"), &at("GIG"));
        assert!((330.0..350.0).contains(&km), "{km}");
        let km = distance_km(&at("POA"), &at("BVB"));
        assert!((3_700.0..3_900.0).contains(&km), "{km}");
        assert_eq!(block_time_ms(0.0), 30 * MINUTE_MS);
        assert_eq!(block_time_ms(800.0), 90 * MINUTE_MS);
        assert_eq!(utc_date(FIRST_DAY), "2026-12-01");
        assert_eq!(utc_date(FIRST_DAY - 1), "2026-11-30");
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(FIRST_DAY + 31 * DAY_MS), "2027-01-01");
    }

    #[test]
    fn each_airline_flies_dozens_of_valid_flights_a_day() {
        let all = airlines();
        let airports = demo_airports();
        let known: BTreeSet<&str> = airports.iter().map(|a| a.iata.as_str()).collect();
        let mut ids = HashSet::new();
        let mut served = BTreeSet::new();
        for airline in &all {
            let flights = demo_flights(airline, FIRST_DAY, 3, 0.1, &all);
            let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
            for f in &flights {
                f.validate().unwrap();
                assert_eq!(&f.airline, airline);
                assert!(
                    known.contains(f.origin.as_str()) && known.contains(f.destination.as_str())
                );
                let date = utc_date(f.departure);
                assert!(f.id.as_str().ends_with(&date), "{}", f.id);
                assert!(f.id.as_str().starts_with(&airline_code(airline)));
                assert_eq!((f.departure / MINUTE_MS) % 5, 0);
                assert!(f.departure >= FIRST_DAY && f.departure < FIRST_DAY + 3 * DAY_MS);
                assert!(ids.insert(f.id.clone()), "duplicate id {}", f.id);
                assert_eq!(f.escrow.len(), 2);
                assert!(
                    f.escrow
                        .iter()
                        .all(|s| s.airline != *airline && s.seats > 0)
                );
                assert!(f.capacity() == 180 || f.capacity() == 100);
                served.insert(f.origin.clone());
                *per_day.entry(date).or_default() += 1;
            }
            assert_eq!(per_day.len(), 3);
            for (date, n) in per_day {
                assert!(
                    (36..=120).contains(&n),
                    "{airline} flies {n} flights on {date}"
                );
            }
        }
        assert_eq!(served.len(), 27, "every capital is served");
        assert!(demo_flights(&AirlineId::new("nobody"), FIRST_DAY, 3, 0.1, &all).is_empty());
        let no_escrow = demo_flights(&all[0], FIRST_DAY, 1, 0.0, &all);
        assert!(no_escrow.iter().all(|f| f.escrow.is_empty()));
    }

    #[test]
    fn the_demo_is_deterministic() {
        assert_eq!(demo_network(2), demo_network(2));
    }

    #[test]
    fn airlines_need_each_other() {
        let flights = demo_network(3);
        let index = RouteIndex::build(&flights);
        let q = RouteQuery {
            limit: 1000,
            ..RouteQuery::day("RBR", "MCZ", FIRST_DAY)
        };
        let found = index.search(&q);
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|it| it.legs.len() >= 2),
            "no direct RBR→MCZ flight"
        );
        let cross = found.iter().filter(|it| {
            it.legs
                .iter()
                .map(|f| f.airline.as_str())
                .collect::<BTreeSet<_>>()
                .len()
                >= 2
        });
        assert!(cross.count() > 0, "RBR→MCZ combines airlines");

        // Every capital reaches every other on the first day within three legs, and many
        // pairs have no direct flight.
        let airports = demo_airports();
        let mut without_direct = 0;
        for a in &airports {
            for b in &airports {
                if a.iata == b.iata {
                    continue;
                }
                let q = RouteQuery::day(a.iata.clone(), b.iata.clone(), FIRST_DAY);
                let found = index.search(&RouteQuery {
                    sort: SortBy::Legs,
                    ..q
                });
                assert!(!found.is_empty(), "no route {} → {}", a.iata, b.iata);
                if found[0].legs.len() > 1 {
                    without_direct += 1;
                }
            }
        }
        assert!(
            without_direct > 27 * 26 / 2,
            "{without_direct} pairs without direct flight"
        );
    }

    #[test]
    fn synthetic_catalogs_have_exact_sizes_and_are_deterministic() {
        let (airports, flights) = synthetic_catalog(7, 1_000, 50_000, FIRST_DAY, 7);
        assert_eq!((airports.len(), flights.len()), (1_000, 50_000));
        let codes: HashSet<&str> = airports.iter().map(|a| a.iata.as_str()).collect();
        assert_eq!(codes.len(), 1_000);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase()))
        );
        let ids: HashSet<&str> = flights.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids.len(), 50_000);
        for f in &flights {
            f.validate().unwrap();
            assert!(codes.contains(f.origin.as_str()) && codes.contains(f.destination.as_str()));
            assert!(f.departure >= FIRST_DAY && f.departure < FIRST_DAY + 7 * DAY_MS);
        }
        let per_airline = |name: &str| {
            flights
                .iter()
                .filter(|f| f.airline.as_str() == name)
                .count()
        };
        assert_eq!(per_airline("rumos"), 16_667);
        assert_eq!(per_airline("giro"), 16_667);
        assert_eq!(per_airline("boreal"), 16_666);

        let again = synthetic_catalog(7, 1_000, 50_000, FIRST_DAY, 7);
        assert_eq!(again, (airports.clone(), flights.clone()));
        let other = synthetic_catalog(8, 1_000, 50_000, FIRST_DAY, 7);
        assert_ne!(other.1, flights);

        // Routes exist between spokes, and every one found obeys the rules.
        let index = RouteIndex::build(&flights);
        let mut with_routes = 0;
        for pair in airports[100..].chunks(2).take(50) {
            let q = RouteQuery::day(
                pair[0].iata.clone(),
                pair[1].iata.clone(),
                FIRST_DAY + DAY_MS,
            );
            let found = index.search(&RouteQuery { limit: 50, ..q });
            with_routes += usize::from(!found.is_empty());
            for it in &found {
                let mut seen = BTreeSet::from([it.legs[0].origin.as_str()]);
                for pair in it.legs.windows(2) {
                    let gap = pair[1].departure - pair[0].arrival;
                    assert!((MIN_CONNECTION_MS..=MAX_CONNECTION_MS).contains(&gap));
                }
                assert!(it.legs.iter().all(|f| seen.insert(f.destination.as_str())));
            }
        }
        assert!(
            with_routes >= 40,
            "only {with_routes} of 50 spoke pairs connect"
        );

        assert_eq!(synthetic_catalog(1, 1, 10, FIRST_DAY, 1).1.len(), 0);
        let (small, few) = synthetic_catalog(1, 3, 10, FIRST_DAY, 0);
        assert_eq!((small.len(), few.len()), (3, 10));
        assert!(few.iter().all(|f| f.validate().is_ok()));
    }

    #[test]
    fn synthetic_codes_are_unique() {
        let codes: HashSet<String> = (0..20_000).map(synthetic_code).collect();
        assert_eq!(codes.len(), 20_000);
        assert_eq!(synthetic_code(17_576).len(), 4);
    }
}
