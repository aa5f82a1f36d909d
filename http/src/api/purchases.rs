//! Carts (holds), purchases and their status, tickets and cancellation.

use super::Traveler;
use super::dto::*;
use crate::Shared;
use crate::backend::read;
use crate::problem::{ApiError, ApiJson, ApiPath, Problem};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use passcom_crdt::{FlightId, Millis, TicketId};
use passcom_node::{HoldRequest, LegRequest, Operation, PurchaseRequest, Reply, Request};
use rand::RngCore;

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
        seat_fallback: b.seat_fallback.into(),
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
        Reply::Refused(r) => Err(refusal_with_nearest(&s, &r)),
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

/// The problem for a refused purchase or hold; a chosen seat whose holder cannot be reached
/// lists the nearest seats of its flight this peer can sell now.
fn refusal_with_nearest(s: &Shared, r: &passcom_node::Refusal) -> ApiError {
    let e = ApiError::from_refusal(r);
    let passcom_node::Refusal::HolderUnreachable { seat, .. } = r else {
        return e;
    };
    let now = s.backend.now();
    let nearest = read(&*s.backend, |n| {
        n.catalog()
            .flight(&seat.flight)
            .map(|f| n.nearest_sellable(f, &seat.seat, now, 3))
            .unwrap_or_default()
    });
    e.with_nearest(nearest)
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
        seat_fallback: b.seat_fallback.into(),
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
            Err(refusal_with_nearest(&s, &r))
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
