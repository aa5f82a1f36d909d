//! Accounts, sessions, "me" and the wishlist.

use super::dto::*;
use super::search::itinerary_dto;
use super::{SESSION_COOKIE, Traveler, account_error, session_token};
use crate::accounts::AccountError;
use crate::backend::read;
use crate::problem::{ApiError, ApiJson, ApiPath, Problem};
use crate::{AppState, Shared};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use passcom_crdt::{Flight, FlightId, Millis};
use passcom_node::routes::MAX_LEGS;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

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
