//! What an operator reads: the peer's status (state, partners' health, roster, network,
//! clock, escrow pools, hand-overs) and every ticket the peer knows.
//!
//! Read-only: it must never submit a request to the node or change the network.

use super::Operator;
use crate::Shared;
use crate::api::SeatsDto;
use crate::backend::read;
use crate::dates::format_instant;
use crate::problem::{ApiError, ApiQuery, Problem};
use axum::extract::State;
use passcom_crdt::{Flight, Millis};
use passcom_node::Operation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

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
    /// Why it is halted, or which partners have caught it up while recovering and how long
    /// each has heard it alone (no other process of its identity).
    pub state_detail: Option<String>,
    /// This process's incarnation (hex): drawn at start and sent in its probes, so that a
    /// halt for "another process with this identity" can name both.
    pub incarnation: String,
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
        incarnation,
    ) = read(&*s.backend, |n| {
        let (state, detail) = match n.state() {
            passcom_node::PeerState::Active => ("active", None),
            passcom_node::PeerState::Recovering {
                caught_up_with,
                waiting_for,
                heard_alone_ms,
                ..
            } => (
                "recovering",
                Some(format!(
                    "waiting for: {}; caught up by: {}; heard alone (no other process of this identity; {} ms needed) by: {}",
                    waiting_for
                        .iter()
                        .map(|a| if n.reachable().contains(a) {
                            a.to_string()
                        } else {
                            format!(
                                "{a} (unreachable: declare it gone only if it never comes back)"
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    caught_up_with
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    n.config().twin_wait_ms,
                    heard_alone_ms
                        .iter()
                        .map(|(a, ms)| format!("{a} {ms} ms"))
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
            format!("{:x}", n.incarnation()),
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
        incarnation,
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

/// The status answered after a partition or a heal: network and clock, no pools.
pub(super) async fn short_status(
    s: Shared,
    op: Operator,
) -> Result<axum::Json<StatusDto>, ApiError> {
    let params = StatusParams {
        flights: Some(0),
        airline: None,
    };
    status(State(s), op, ApiQuery(params)).await
}
