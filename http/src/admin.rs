//! The operator API: status, catalog edits, partitions, dial and hang-up, and the live event
//! stream, behind the operator token created in the data folder at first start.

use crate::Shared;
use crate::api::SeatsDto;
use crate::backend::read;
use crate::dates::{format_instant, parse_instant};
use crate::problem::{ApiError, ApiJson, ApiJsonOrEmpty, ApiQuery, Problem};
use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::Stream;
use passcom_crdt::{AirlineId, EscrowShare, Flight, FlightId, Millis};
use passcom_node::{Operation, Reply, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

/// File name of the operator token in the data folder.
pub const TOKEN_FILE: &str = "operator.token";

/// Reads the operator token from `data_dir`, creating it (256 random bits, hex, mode 0600)
/// at first start.
///
/// Errors: the folder or the file cannot be read or written.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    }
    let token = crate::secret::random_token()?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts.open(&path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
    })?;
    f.write_all(format!("{token}\n").as_bytes())?;
    f.sync_all()?;
    Ok(token)
}

/// Proof that the request carries the operator token (`Authorization: Bearer <token>`).
pub struct Operator;

impl FromRequestParts<Shared> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            None => Err(ApiError::unauthorized(format!(
                "send the operator token as 'Authorization: Bearer <token>'; it is in {TOKEN_FILE} in the peer's data folder"
            ))),
            // Constant time, so the token cannot be guessed byte by byte from response times.
            Some(t) if crate::secret::same_secret(t, &s.operator_token) => Ok(Operator),
            Some(_) => Err(ApiError::forbidden(format!(
                "wrong operator token; use the one in {TOKEN_FILE} in the peer's data folder"
            ))),
        }
    }
}

/// A peer this one is connected to.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConnectedDto {
    /// Its airline, once identified.
    pub airline: Option<String>,
    /// Its libp2p peer id.
    pub peer_id: String,
}

/// Seats of one flight by where they are: the escrow pool as this peer sees it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PoolDto {
    /// Flight id.
    pub flight: String,
    /// Operating airline.
    pub airline: String,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Departure, `YYYY-MM-DDTHH:MMZ`.
    pub departure_utc: String,
    /// Seats by where they are.
    pub seats: SeatsDto,
}

/// A hand-over granted and not yet taken by its receiver.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HandoverDto {
    /// Flight id.
    pub flight: String,
    /// Seat label.
    pub seat: String,
    /// The receiving airline.
    pub to: String,
    /// When it was granted, ms since the epoch.
    pub since: Millis,
}

/// What the failure detector knows of one partner.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PeerHealthDto {
    /// The partner's airline.
    pub airline: String,
    /// The transport reports a connection.
    pub connected: bool,
    /// Connected and answering probes: this peer counts on it.
    pub reachable: bool,
    /// Milliseconds since an answer of it last arrived; absent if none since start.
    pub last_heard_ms_ago: Option<i64>,
}

/// Two different events seen under one origin and sequence number.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EquivocationDto {
    /// The origin that wrote both.
    pub origin: String,
    /// The sequence number written twice.
    pub seq: u64,
    /// The partner that delivered the second one (refused).
    pub delivered_by: String,
}

/// The peer's state for operators.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct StatusDto {
    /// `active` (selling), `recovering` (fetching its history from partners before it sells)
    /// or `halted` (another process writes under its identity).
    pub state: String,
    /// Why it is halted, or which partners have caught it up while recovering.
    pub state_detail: Option<String>,
    /// Every partner seen since start, as the failure detector sees it.
    pub peers: Vec<PeerHealthDto>,
    /// Whether the roster is closed (`passcom peer --roster FILE`): only its airlines and keys
    /// belong to the network. When open, the first key heard for an airline wins.
    pub roster_closed: bool,
    /// The key bound to each airline, as the peer id that holds it.
    pub roster: BTreeMap<String, String>,
    /// Equivocations seen since start (two events under one number), in all.
    pub equivocations: u64,
    /// The first equivocations seen.
    pub equivocation_list: Vec<EquivocationDto>,
    /// Unsold seats of upcoming flights held by partners unreachable now, by holder.
    pub stranded_seats: BTreeMap<String, u64>,
    /// This peer's airline.
    pub airline: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Addresses it listens on.
    pub listen: Vec<String>,
    /// Connected peers.
    pub connected: Vec<ConnectedDto>,
    /// Airlines it is cut off from by `partition`.
    pub partitioned: Vec<String>,
    /// Whether `partition` with no list cut it off from everyone.
    pub cut_off_from_all: bool,
    /// Peers hung up on by `POST /admin/hangup`, kept out until dialled again or healed.
    #[serde(default)]
    pub hung_up: Vec<ConnectedDto>,
    /// The vector clock: highest event applied per origin.
    pub clock: BTreeMap<String, u64>,
    /// Escrow pools of upcoming flights (the first `flights` by departure).
    pub pools: Vec<PoolDto>,
    /// Pending hand-overs (outbox).
    pub handovers: Vec<HandoverDto>,
    /// Open carts.
    pub holds: usize,
    /// Purchases waiting for seats.
    pub pending_purchases: usize,
    /// Tickets known, from every seller.
    pub tickets_known: usize,
}

/// Options of `GET /admin/status`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusParams {
    /// How many upcoming flights' pools to list (default 50, at most 1000).
    #[param(maximum = 1000)]
    pub flights: Option<usize>,
    /// Only flights of this airline.
    pub airline: Option<String>,
}

/// Every ticket this peer knows, sold by any airline, in id order: what an operator (or the
/// compose chaos test) compares across peers to check that no ticket was lost.
#[utoipa::path(get, path = "/admin/tickets", tag = "admin", security(("operator" = [])),
    responses(
        (status = 200, description = "Every ticket known here", body = [crate::api::TicketDto]),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn tickets(
    State(s): State<Shared>,
    _op: Operator,
) -> axum::Json<Vec<crate::api::TicketDto>> {
    axum::Json(read(&*s.backend, |n| {
        n.tickets()
            .values()
            .map(|t| crate::api::ticket_dto(t, n.catalog()))
            .collect()
    }))
}

/// The peer's status: network, vector clock, escrow pools, pending hand-overs.
#[utoipa::path(get, path = "/admin/status", tag = "admin", security(("operator" = [])), params(StatusParams),
    responses(
        (status = 200, description = "Status", body = StatusDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "flights over 1000", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(
    State(s): State<Shared>,
    _op: Operator,
    ApiQuery(p): ApiQuery<StatusParams>,
) -> Result<axum::Json<StatusDto>, ApiError> {
    let limit = p.flights.unwrap_or(50);
    if limit > 1000 {
        return Err(ApiError::unprocessable("flights must be at most 1000"));
    }
    let net = s.backend.status();
    let now = s.backend.now();
    let (
        state,
        state_detail,
        peers,
        equivocations,
        equivocation_list,
        stranded_seats,
        roster,
        roster_closed,
    ) = read(&*s.backend, |n| {
        let (state, detail) = match n.state() {
            passcom_node::PeerState::Active => ("active", None),
            passcom_node::PeerState::Recovering { caught_up_with, .. } => (
                "recovering",
                Some(format!(
                    "caught up by: {}",
                    caught_up_with
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
            passcom_node::PeerState::Halted { reason } => ("halted", Some(reason)),
        };
        let peers = n
            .health()
            .into_iter()
            .map(|(a, h)| PeerHealthDto {
                airline: a.to_string(),
                connected: h.connected,
                reachable: h.reachable,
                last_heard_ms_ago: h.last_heard.map(|t| (now - t).max(0)),
            })
            .collect::<Vec<_>>();
        let (list, count) = n.equivocations();
        let list = list
            .iter()
            .map(|e| EquivocationDto {
                origin: e.origin.to_string(),
                seq: e.seq,
                delivered_by: e.delivered_by.to_string(),
            })
            .collect::<Vec<_>>();
        let stranded = n
            .stranded_seats(now)
            .into_iter()
            .map(|(a, c)| (a.to_string(), c))
            .collect::<BTreeMap<_, _>>();
        let roster = n
            .roster()
            .iter()
            .map(|(a, k)| {
                let id = passcom_net::identity::peer_id_of_key(k).unwrap_or_default();
                (a.to_string(), id)
            })
            .collect::<BTreeMap<_, _>>();
        let closed = n.config().roster_closed;
        (
            state.to_owned(),
            detail,
            peers,
            count,
            list,
            stranded,
            roster,
            closed,
        )
    });
    let (pools, handovers, holds, pending, tickets_known) = read(&*s.backend, |n| {
        let mut upcoming: Vec<&Flight> = n
            .catalog()
            .flights()
            .filter(|f| !f.cancelled && f.departure > now)
            .filter(|f| p.airline.as_deref().is_none_or(|a| f.airline.as_str() == a))
            .collect();
        upcoming.sort_by(|a, b| a.departure.cmp(&b.departure).then_with(|| a.id.cmp(&b.id)));
        let pools: Vec<PoolDto> = upcoming
            .into_iter()
            .take(limit)
            .map(|f| PoolDto {
                flight: f.id.to_string(),
                airline: f.airline.to_string(),
                origin: f.origin.clone(),
                destination: f.destination.clone(),
                departure_utc: format_instant(f.departure),
                seats: SeatsDto {
                    capacity: f.capacity(),
                    ..seats_dto(&n.seat_counts(f, now))
                },
            })
            .collect();
        let handovers: Vec<HandoverDto> = n
            .outbox()
            .iter()
            .map(|(seat, e)| HandoverDto {
                flight: seat.flight.to_string(),
                seat: seat.seat.clone(),
                to: e.to.to_string(),
                since: e.since,
            })
            .collect();
        let pending = n
            .operations()
            .values()
            .filter(|o| matches!(o, Operation::Pending { .. }))
            .count();
        (
            pools,
            handovers,
            n.holds().len(),
            pending,
            n.tickets().len(),
        )
    });
    Ok(axum::Json(StatusDto {
        state,
        state_detail,
        peers,
        roster_closed,
        roster,
        equivocations,
        equivocation_list,
        stranded_seats,
        airline: net.airline.to_string(),
        peer_id: net.peer_id,
        listen: net.listen,
        connected: net
            .connected
            .into_iter()
            .map(|c| ConnectedDto {
                airline: c.airline.map(|a| a.to_string()),
                peer_id: c.peer_id,
            })
            .collect(),
        partitioned: net.partitioned.into_iter().map(|a| a.to_string()).collect(),
        cut_off_from_all: net.cut_off_from_all,
        hung_up: net
            .hung_up
            .into_iter()
            .map(|c| ConnectedDto {
                airline: c.airline.map(|a| a.to_string()),
                peer_id: c.peer_id,
            })
            .collect(),
        clock: net.clock.iter().map(|(a, v)| (a.to_string(), v)).collect(),
        pools,
        handovers,
        holds,
        pending_purchases: pending,
        tickets_known,
    }))
}

fn seats_dto(c: &passcom_node::SeatCounts) -> SeatsDto {
    SeatsDto {
        here: c.here,
        partners: c.partners,
        moving: c.moving,
        held: c.held,
        sold: c.sold,
        capacity: 0,
    }
}

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

/// Airlines to partition from or heal with.
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct PeersBody {
    /// Airline names; empty means every peer.
    #[serde(default)]
    pub peers: Vec<String>,
}

fn peer_list(s: &Shared, body: PeersBody) -> Result<Vec<AirlineId>, ApiError> {
    let peers = body.peers;
    let mut out = Vec::new();
    for p in peers {
        let p = p.trim().to_owned();
        let ok = !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(ApiError::unprocessable(format!(
                "{p:?} is not an airline name (a-z, 0-9, - and _)"
            )));
        }
        if p == s.airline {
            return Err(ApiError::unprocessable(format!(
                "{p} is this peer itself; name other airlines"
            )));
        }
        out.push(AirlineId::new(p));
    }
    Ok(out)
}

/// Cuts this peer off from the named airlines (all when the list is empty or absent).
#[utoipa::path(post, path = "/admin/partition", tag = "admin", security(("operator" = [])), request_body = PeersBody,
    responses(
        (status = 200, description = "Cut off; the new status", body = StatusDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad airline name", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn partition(
    State(s): State<Shared>,
    op: Operator,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<PeersBody>,
) -> Result<axum::Json<StatusDto>, ApiError> {
    let peers = peer_list(&s, body)?;
    s.backend
        .partition(peers.clone())
        .await
        .map_err(|e| ApiError::unavailable(e.to_string(), 1))?;
    // Connections close asynchronously: wait a little (bounded) so the status answered shows
    // the cut, rather than peers that are about to drop.
    for _ in 0..40 {
        let st = s.backend.status();
        let still = st.connected.iter().any(|c| {
            c.airline
                .as_ref()
                .is_some_and(|a| peers.is_empty() || peers.contains(a))
        });
        if !still {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    short_status(s, op).await
}

/// The status answered after a partition or a heal: network and clock, no pools.
async fn short_status(s: Shared, op: Operator) -> Result<axum::Json<StatusDto>, ApiError> {
    let params = StatusParams {
        flights: Some(0),
        airline: None,
    };
    status(State(s), op, ApiQuery(params)).await
}

/// Undoes a partition with the named airlines (all when the list is empty or absent).
#[utoipa::path(post, path = "/admin/heal", tag = "admin", security(("operator" = [])), request_body = PeersBody,
    responses(
        (status = 200, description = "Healed; the new status", body = StatusDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad airline name", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn heal(
    State(s): State<Shared>,
    op: Operator,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<PeersBody>,
) -> Result<axum::Json<StatusDto>, ApiError> {
    let peers = peer_list(&s, body)?;
    s.backend
        .heal(peers)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string(), 1))?;
    short_status(s, op).await
}

/// An address to dial.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DialBody {
    /// A libp2p multiaddr with a TCP port: `/ip4/10.0.0.7/tcp/7000`, `/dns4/giro/tcp/7000`,
    /// optionally ending in `/p2p/<peer-id>`.
    pub address: String,
}

/// A peer to hang up on.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HangupBody {
    /// An airline name (`giro`) or a libp2p peer id (`12D3KooW…`).
    pub peer: String,
}

/// What a dial or a hang-up did.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LinkDto {
    /// The peer dialled or hung up on.
    pub peer_id: String,
    /// Its airline, once identified (a dial answers before identification may be done).
    pub airline: Option<String>,
    /// The new status: network and clock, no pools.
    pub status: StatusDto,
}

/// Maps a network refusal to a problem: what the operator named makes no sense here (422), is
/// not known (404), did not answer (502); anything else is the peer being unavailable.
fn net_problem(e: passcom_net::NetError) -> ApiError {
    use passcom_net::NetError as E;
    match e {
        E::Invalid(d) => ApiError::unprocessable(d),
        E::Unknown(d) => ApiError::not_found(d),
        E::Unreachable(d) => ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "unreachable",
            "Peer unreachable",
            d,
        ),
        E::Other(d) => ApiError::unavailable(d, 1),
    }
}

/// Dials a peer at an address and keeps re-dialling it after drops (the operator's "add
/// connection"); lets back in a peer hung up on at that address. Answers once connected, or
/// when the dial failed (at most 10 s).
#[utoipa::path(post, path = "/admin/dial", tag = "admin", security(("operator" = [])), request_body = DialBody,
    responses(
        (status = 200, description = "Connected; the peer and the new status", body = LinkDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a multiaddr with a TCP port, this peer's own address, or a peer cut off by partition", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The dial failed or did not connect within 10 s", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn dial(
    State(s): State<Shared>,
    op: Operator,
    ApiJson(b): ApiJson<DialBody>,
) -> Result<axum::Json<LinkDto>, ApiError> {
    let peer_id = s.backend.dial(b.address).await.map_err(net_problem)?;
    // Identification follows the connection by a round trip: wait a little (bounded) so the
    // answer can name the airline.
    let mut airline = None;
    for _ in 0..40 {
        airline = s
            .backend
            .status()
            .connected
            .into_iter()
            .find(|c| c.peer_id == peer_id)
            .and_then(|c| c.airline);
        if airline.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let axum::Json(status) = short_status(s, op).await?;
    Ok(axum::Json(LinkDto {
        peer_id,
        airline: airline.map(|a| a.to_string()),
        status,
    }))
}

/// Disconnects a peer, named by airline or peer id, and keeps it out in both directions until
/// `POST /admin/dial` names its address (or peer id) or `POST /admin/heal` names its airline
/// (or all): its own re-dials are refused meanwhile (the operator's "remove connection").
#[utoipa::path(post, path = "/admin/hangup", tag = "admin", security(("operator" = [])), request_body = HangupBody,
    responses(
        (status = 200, description = "Hung up; the peer and the new status", body = LinkDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No peer of that airline, or with that id, seen since start", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither an airline name nor a peer id, or this peer itself", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn hangup(
    State(s): State<Shared>,
    op: Operator,
    ApiJson(b): ApiJson<HangupBody>,
) -> Result<axum::Json<LinkDto>, ApiError> {
    let who = b.peer.trim().to_owned();
    if who.is_empty() {
        return Err(ApiError::unprocessable(
            "name the peer to hang up on: an airline (giro) or a peer id (12D3KooW…)",
        ));
    }
    let gone = s.backend.hangup(who).await.map_err(net_problem)?;
    // Connections close asynchronously: wait a little (bounded), as for a partition.
    for _ in 0..40 {
        if !s
            .backend
            .status()
            .connected
            .iter()
            .any(|c| c.peer_id == gone.peer_id)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let axum::Json(status) = short_status(s, op).await?;
    Ok(axum::Json(LinkDto {
        peer_id: gone.peer_id,
        airline: gone.airline.map(|a| a.to_string()),
        status,
    }))
}

/// The live event stream (Server-Sent Events): each event's `event:` is its kind
/// (`event`, `message`, `connected`, `disconnected`, `rejected`, …) and its data the details
/// as JSON. A slow reader that misses events gets a `lagged` event saying how many.
#[utoipa::path(get, path = "/admin/events", tag = "admin", security(("operator" = [])),
    responses(
        (status = 200, description = "Event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(s): State<Shared>,
    _op: Operator,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.backend.events();
    let hello = Event::default()
        .event("hello")
        .data(format!("{{\"airline\":\"{}\"}}", s.airline));
    let first = futures::stream::once(async move { Ok(hello) });
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(ev) => {
                let data = serde_json::to_string(&ev.detail).unwrap_or_else(|_| "null".into());
                Event::default().event(ev.kind).data(data)
            }
            // A slow reader is told how much it missed rather than silently skipped ahead.
            Err(RecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(format!("{{\"missed\":{n}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(futures::StreamExt::chain(first, rest))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_token(dir.path()).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
