//! The operator's hand on the network: partition and heal (airlines cut off and let back),
//! dial (an address kept among the re-dialled ones) and hang-up (a peer kept out both ways).
//!
//! Addresses and peer ids travel as text to `passcom_net`, which parses them: it must never
//! hold a libp2p type.

use super::{Operator, StatusDto, short_status};
use crate::Shared;
use crate::problem::{ApiError, ApiJson, ApiJsonOrEmpty, Problem};
use axum::extract::State;
use passcom_crdt::AirlineId;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

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
        (status = 422, description = "Bad airline name, or a peer without a network", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The peer did not obey in time or has shut down", body = Problem, content_type = "application/problem+json"),
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
        .map_err(net_problem)?;
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

/// Undoes a partition with the named airlines (all when the list is empty or absent).
#[utoipa::path(post, path = "/admin/heal", tag = "admin", security(("operator" = [])), request_body = PeersBody,
    responses(
        (status = 200, description = "Healed; the new status", body = StatusDto),
        (status = 401, description = "No operator token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad airline name, or a peer without a network", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The peer did not obey in time or has shut down", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn heal(
    State(s): State<Shared>,
    op: Operator,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<PeersBody>,
) -> Result<axum::Json<StatusDto>, ApiError> {
    let peers = peer_list(&s, body)?;
    s.backend.heal(peers).await.map_err(net_problem)?;
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
fn net_problem(e: passcom_node::NetError) -> ApiError {
    use passcom_node::NetError as E;
    match e {
        E::Invalid(d) => ApiError::unprocessable(d),
        E::Unknown(d) => ApiError::not_found(d),
        E::Unreachable(d) => ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "unreachable",
            "Peer unreachable",
            d,
        ),
        E::Unavailable(d) | E::Other(d) => ApiError::unavailable(d, 1),
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
