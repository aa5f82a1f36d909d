//! Errors as RFC 9457 problem details (`application/problem+json`), and extractors whose
//! rejections become problems too, so that bad input never yields a bare text body or a 5xx.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use passcom_node::Refusal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error body (RFC 9457): what went wrong and what to do about it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, such as `urn:passcom:problem:sold-out`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened in this case, and what to fix or do next.
    pub detail: String,
    /// For refused purchases, holds and cancellations: the node's reason (`sold_out`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `holder_unreachable`: the seats of that flight this peer can sell now, nearest to
    /// the chosen one first (send the purchase again with one of them, or with
    /// `"seat_fallback": "nearest"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nearest: Vec<String>,
}

/// An error answered as a problem document. Handlers return `Result<_, ApiError>`.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    reason: Option<String>,
    retry_after_s: Option<u64>,
    /// Boxed: an error travels in every handler's `Result`, and is rarely this one.
    nearest: Option<Box<[String]>>,
}

impl ApiError {
    /// A problem with this status, kind (`slug`), summary and detail.
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: detail.into(),
            reason: None,
            retry_after_s: None,
            nearest: None,
        }
    }
    /// 400: the request is malformed (syntax, missing parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Malformed request",
            detail,
        )
    }
    /// 401: no valid session or operator token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }
    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }
    /// 404: no such airport, flight, ticket, hold or route.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
    /// 409: the request conflicts with the current state (name taken, seat taken…).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }
    /// 422: well-formed but not acceptable (date in the past, unknown airport in a body…).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid request",
            detail,
        )
    }
    /// 503 with `Retry-After`: try again later.
    pub fn unavailable(detail: impl Into<String>, retry_after_s: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            detail,
        );
        e.retry_after_s = Some(retry_after_s);
        e
    }
    /// 429 with `Retry-After`: too many attempts; wait that many seconds.
    pub fn too_many(detail: impl Into<String>, retry_after_s: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many attempts",
            detail,
        );
        e.retry_after_s = Some(retry_after_s.max(1));
        e
    }
    /// 500: a bug or an I/O failure of this peer. Never used for bad input.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }

    /// This error, listing `seats` as the nearest ones sellable instead (see
    /// [`Problem::nearest`]).
    pub fn with_nearest(mut self, seats: Vec<String>) -> Self {
        self.nearest = (!seats.is_empty()).then(|| seats.into_boxed_slice());
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Maps a refusal of the node to the status a client can act on: 404 for what does not
    /// exist, 409 for conflicts with the current state, 410 for what is gone for good, 422
    /// for invalid requests, 503 (with `Retry-After`) when retrying later may succeed.
    pub fn from_refusal(r: &Refusal) -> Self {
        let (status, slug, title) = match r {
            Refusal::UnknownFlight { .. } => {
                (StatusCode::NOT_FOUND, "unknown-flight", "Unknown flight")
            }
            Refusal::UnknownTicket { .. } => {
                (StatusCode::NOT_FOUND, "unknown-ticket", "Unknown ticket")
            }
            Refusal::UnknownHold { .. } => (
                StatusCode::NOT_FOUND,
                "unknown-hold",
                "Unknown or expired hold",
            ),
            Refusal::FlightCancelled { .. } => {
                (StatusCode::GONE, "flight-cancelled", "Flight cancelled")
            }
            Refusal::Departed { .. } => (StatusCode::GONE, "departed", "Flight departed"),
            Refusal::SoldOut { .. } => (StatusCode::CONFLICT, "sold-out", "Sold out"),
            Refusal::SeatTaken { .. } => (StatusCode::CONFLICT, "seat-taken", "Seat taken"),
            Refusal::NotSeller { .. } => (
                StatusCode::CONFLICT,
                "not-seller",
                "Sold by another airline",
            ),
            Refusal::AlreadyCancelled { .. } => (
                StatusCode::CONFLICT,
                "already-cancelled",
                "Already cancelled",
            ),
            Refusal::NotYours => (
                StatusCode::FORBIDDEN,
                "not-yours",
                "Belongs to another account",
            ),
            Refusal::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            ),
            Refusal::KeyReused { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "key-reused",
                "Idempotency key reused",
            ),
            Refusal::HolderUnreachable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "holder-unreachable",
                "Seat holder unreachable",
            ),
            Refusal::Timeout { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Seats did not arrive in time",
            ),
            Refusal::Storage(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                "Peer storage failure",
            ),
            Refusal::Recovering => (
                StatusCode::SERVICE_UNAVAILABLE,
                "recovering",
                "Peer recovering its history",
            ),
            Refusal::Halted { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "halted",
                "Peer stopped selling",
            ),
        };
        let mut e = Self::new(status, slug, title, r.to_string());
        e.reason = Some(refusal_reason(r));
        if r.is_transient() {
            e.retry_after_s = Some(RETRY_AFTER_S);
        }
        e
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:passcom:problem:{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            reason: self.reason.clone(),
            nearest: self
                .nearest
                .as_deref()
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
        }
    }
}

/// Seconds a client should wait before retrying a transient refusal: a few anti-entropy
/// ticks, long enough for a healed link to reconnect.
pub const RETRY_AFTER_S: u64 = 5;

/// A stable snake_case name of a refusal (`sold_out`, `holder_unreachable`, …), for the
/// problem's `reason` field and the metrics' labels.
pub fn refusal_reason(r: &Refusal) -> String {
    r.code().to_owned()
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after_s {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // Marks the response so the fallback mapper leaves it alone.
        resp.extensions_mut().insert(IsProblem);
        resp
    }
}

/// Set on responses that already carry a problem document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IsProblem;

/// Turns error responses produced outside the handlers (unknown route, wrong method, body
/// over the size limit, timeouts) into problem documents, so clients see one error format.
pub(crate) async fn problem_fallback(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp.extensions().get::<IsProblem>().is_some()
    {
        return resp;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => {
            "no such endpoint; see GET /api/openapi.json for the API".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            "this endpoint does not take that method; see GET /api/openapi.json".to_owned()
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!(
                "the request body is over {} KiB; send a smaller body",
                crate::BODY_LIMIT / 1024
            )
        }
        StatusCode::REQUEST_TIMEOUT => "the request took too long; retry".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut e = ApiError::new(status, "http", "Request not served", detail);
    e.title = status.canonical_reason().unwrap_or("Error");
    let mut out = e.into_response();
    for (k, v) in resp.headers() {
        if k == header::ALLOW || k == header::RETRY_AFTER {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// A JSON body whose rejections are problems that say what to fix.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let text = rej.body_text();
    match &rej {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            "Unsupported media type",
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(format!(
            "the body is not valid JSON ({text}); fix its syntax"
        )),
        JsonRejection::JsonDataError(_) => ApiError::unprocessable(format!(
            "the JSON body does not have the expected fields ({text}); see GET /api/openapi.json"
        )),
        _ if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Payload too large",
            format!(
                "the request body is over {} KiB; send a smaller body",
                crate::BODY_LIMIT / 1024
            ),
        ),
        _ => ApiError::bad_request(format!("the body could not be read ({text})")),
    }
}

/// A JSON body that may also be absent (empty), which counts as `T::default()`.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rej| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too-large",
                        "Payload too large",
                        format!(
                            "the request body is over {} KiB; send a smaller body",
                            crate::BODY_LIMIT / 1024
                        ),
                    )
                } else {
                    ApiError::bad_request(format!(
                        "the body could not be read ({})",
                        rej.body_text()
                    ))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(ApiJsonOrEmpty(v)),
            Err(e) if e.is_data() => Err(ApiError::unprocessable(format!(
                "the JSON body does not have the expected fields ({e}); see GET /api/openapi.json"
            ))),
            Err(e) => Err(ApiError::bad_request(format!(
                "the body is not valid JSON ({e}); fix its syntax"
            ))),
        }
    }
}

/// Query parameters whose rejections are problems naming the bad parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(query_rejection(rej)),
        }
    }
}

fn query_rejection(rej: QueryRejection) -> ApiError {
    let text = rej.body_text();
    let text = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    ApiError::bad_request(format!(
        "bad query parameters: {text}; see GET /api/openapi.json"
    ))
}

/// Path parameters whose rejections are problems.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rej) => Err(path_rejection(rej)),
        }
    }
}

fn path_rejection(rej: PathRejection) -> ApiError {
    ApiError::bad_request(format!("bad path parameter: {}", rej.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use passcom_crdt::{AirlineId, FlightId, SeatId};

    #[test]
    fn refusals_map_to_actionable_statuses() {
        let f = FlightId::new("RU1-2026-12-01");
        let seat = SeatId::new(f.clone(), "1A");
        let cases = [
            (Refusal::UnknownFlight { flight: f.clone() }, 404),
            (Refusal::SoldOut { flight: f.clone() }, 409),
            (Refusal::Departed { flight: f.clone() }, 410),
            (Refusal::Invalid("x".into()), 422),
            (
                Refusal::HolderUnreachable {
                    seat,
                    holder: AirlineId::new("giro"),
                },
                503,
            ),
            (Refusal::Timeout { flight: f }, 503),
        ];
        for (r, status) in cases {
            let e = ApiError::from_refusal(&r);
            assert_eq!(e.status().as_u16(), status, "{r:?}");
            assert_eq!(e.retry_after_s.is_some(), status == 503);
            assert!(!e.problem().detail.is_empty());
        }
        assert_eq!(refusal_reason(&Refusal::NotYours), "not_yours");
    }
}
