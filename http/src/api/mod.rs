//! The traveler API: search, seat maps, accounts and sessions, carts, purchases, tickets.
//! One module per resource; the DTOs in [`dto`], which the CLI client deserializes into.

use crate::Shared;
use crate::accounts::{AccountError, Session};
use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};

mod accounts;
pub mod dto;
mod purchases;
mod search;

pub use accounts::*;
pub use dto::*;
pub use purchases::*;
pub use search::*;

/// Name of the session cookie set at login.
pub const SESSION_COOKIE: &str = "passcom_session";

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
        // A live session is a read (no thread hand-over on every request); only a lapsed one
        // goes to a blocking thread, which deletes it.
        let r = match accounts.peek_session(&token, now) {
            Ok(Some(session)) => Ok(session),
            Ok(None) => tokio::task::spawn_blocking(move || accounts.session(&token, now))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?,
            Err(e) => Err(e),
        };
        match r {
            Ok(session) => Ok(Traveler(session)),
            Err(AccountError::NoSession) => Err(ApiError::unauthorized(
                "the session is unknown or expired; log in again",
            )),
            Err(e) => Err(account_error(e)),
        }
    }
}

pub(super) fn account_error(e: AccountError) -> ApiError {
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
