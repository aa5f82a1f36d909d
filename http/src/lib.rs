//! HTTP API and web page of a Passcom peer.
//!
//! Every peer serves, at its `--http` address, a JSON API for travelers and operators, a
//! Prometheus endpoint, an OpenAPI description and a self-contained web page (no build step,
//! no CDN: HTML, CSS and JS are embedded in the binary).
//!
//! # Map
//! - [`serve`]: the entry point `passcom peer` calls; [`router`] builds the same app for tests.
//! - [`backend`]: the [`Backend`] trait, what the API needs of a running peer, implemented for
//!   [`PeerHandle`].
//! - [`api`]: traveler endpoints (search, seat maps, accounts, carts, purchases, tickets) and
//!   their DTOs.
//! - [`admin`]: operator endpoints (status, flights, partition/heal, live events) and the
//!   operator token.
//! - [`accounts`]: accounts and sessions in `accounts.redb` (argon2id password hashes).
//! - [`problem`]: RFC 9457 problem documents, refusal → status mapping, and extractors whose
//!   rejections are problems, so bad input never yields a 5xx.
//! - [`metrics`]: the Prometheus text exposition.
//! - [`dates`]: `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM` in UTC.
//! - `web` (private): the embedded page and assets.
//!
//! # Architecture invariant
//! This crate makes no booking decision: every change goes through
//! [`passcom_node::Request`] to the node's state machine; the API only validates input,
//! authenticates, and maps replies to HTTP. Every wait on the node is bounded.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod backend;
pub mod dates;
pub mod metrics;
pub mod problem;
mod web;

pub use backend::Backend;
pub use problem::{ApiError, Problem};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passcom_net::PeerHandle;
use passcom_node::routes::RouteIndex;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi;

/// The largest request body accepted: 64 KiB (a catalog edit of a few hundred flights).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Settings of the API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The longest the API waits for the node to answer a request before answering 503.
    pub request_timeout: Duration,
    /// How long a cart keeps its seats, ms.
    pub hold_ms: i64,
}

impl ApiConfig {
    /// Defaults for a node whose purchases wait at most `purchase_timeout_ms`: the node's own
    /// deadline plus 3 s of margin, and 5-minute carts.
    pub fn new(purchase_timeout_ms: i64) -> Self {
        ApiConfig {
            request_timeout: Duration::from_millis(purchase_timeout_ms.max(0) as u64)
                + Duration::from_secs(3),
            hold_ms: 5 * 60_000,
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) accounts: accounts::Accounts,
    pub(crate) operator_token: String,
    pub(crate) metrics: metrics::Metrics,
    /// The route index and the (flight count, clock total) it was built for.
    pub(crate) routes: Mutex<Option<(usize, u64, Arc<RouteIndex>)>>,
    pub(crate) cfg: ApiConfig,
    pub(crate) airline: String,
}

/// The state as handlers receive it.
pub type Shared = Arc<AppState>;

/// Serves the API and the web page on `listener` until the returned future is dropped.
/// Accounts (`accounts.redb`) and the operator token (`operator.token`) live in `data_dir`.
///
/// Errors: the accounts database or the operator token cannot be opened or created, or the
/// listener fails.
pub async fn serve(
    handle: PeerHandle,
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
) -> std::io::Result<()> {
    let timeout = handle.read(|n| n.config().purchase_timeout_ms);
    let app = router(Arc::new(handle), &data_dir, ApiConfig::new(timeout))?;
    tracing::info!(addr = ?listener.local_addr().ok(), "HTTP API listening");
    axum::serve(listener, app).await
}

/// Builds the app over any [`Backend`], with its accounts and operator token in `data_dir`.
///
/// Errors: `accounts.redb` or `operator.token` cannot be opened or created.
pub fn router(
    backend: Arc<dyn Backend>,
    data_dir: &Path,
    cfg: ApiConfig,
) -> std::io::Result<Router> {
    let airline = backend::read(&*backend, |n| n.airline().to_string());
    let state = Arc::new(AppState {
        accounts: accounts::Accounts::open(data_dir, &airline)?,
        operator_token: admin::load_or_create_token(data_dir)?,
        metrics: metrics::Metrics::default(),
        routes: Mutex::new(None),
        cfg,
        airline,
        backend,
    });
    let app = Router::new()
        .route("/api/health", get(api::health))
        .route("/api/info", get(api::info))
        .route("/api/airports", get(api::airports))
        .route("/api/routes", get(api::routes))
        .route("/api/flights/{id}/seats", get(api::seats))
        .route("/api/accounts", post(api::create_account))
        .route("/api/sessions", post(api::login).delete(api::logout))
        .route("/api/holds", post(api::hold))
        .route("/api/holds/{id}", axum::routing::delete(api::release))
        .route("/api/purchases", post(api::purchase))
        .route("/api/purchases/{key}", get(api::purchase_status))
        .route("/api/tickets", get(api::tickets))
        .route("/api/tickets/{id}", axum::routing::delete(api::cancel))
        .route("/api/openapi.json", get(openapi))
        .route("/admin/status", get(admin::status))
        .route("/admin/tickets", get(admin::tickets))
        .route("/admin/flights", post(admin::put_flights))
        .route("/admin/partition", post(admin::partition))
        .route("/admin/heal", post(admin::heal))
        .route("/admin/events", get(admin::events))
        .route("/metrics", get(metrics_text))
        .merge(web::routes())
        .fallback(not_found)
        // Innermost first: the size limit's bare 413 is turned into a problem by the mapper,
        // and the metrics see every final status.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::map_response(problem::problem_fallback))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state);
    Ok(app)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see GET /api/openapi.json for the API")
}

/// Counts requests and their latency by route template (never by raw path, which would let
/// clients create unbounded label sets).
async fn track(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    s.metrics
        .observe_request(&method, &route, resp.status().as_u16(), start.elapsed());
    resp
}

/// Prometheus metrics: tickets, purchases refused by reason, request counts and latency.
#[utoipa::path(get, path = "/metrics", tag = "public",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics_text(State(s): State<Shared>) -> Response {
    let me = passcom_crdt::AirlineId::new(s.airline.clone());
    let gauges = backend::read(&*s.backend, |n| {
        use passcom_node::TicketStatus;
        let mine = n.tickets().values().filter(|t| t.seller == me);
        let (mut live, mut cancelled) = (0, 0);
        for t in mine {
            match t.status {
                TicketStatus::Live => live += 1,
                TicketStatus::Cancelled => cancelled += 1,
            }
        }
        metrics::NodeGauges {
            tickets_sold: live,
            tickets_cancelled: cancelled,
            tickets_known: n.tickets().len() as u64,
            holds: n.holds().len() as u64,
            outbox: n.outbox().len() as u64,
            pending: n
                .operations()
                .values()
                .filter(|o| matches!(o, passcom_node::Operation::Pending { .. }))
                .count() as u64,
            reachable: n.reachable().len() as u64,
            events_applied: n.clock().total(),
        }
    });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&gauges),
    )
        .into_response()
}

/// This API's OpenAPI 3 description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "public",
    responses((status = 200, description = "OpenAPI description", content_type = "application/json", body = Object)))]
pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what))
                    .build(),
            )
        };
        components.add_security_scheme(
            "session",
            bearer("Session token from POST /api/sessions (also accepted as the passcom_session cookie)"),
        );
        components.add_security_scheme(
            "operator",
            bearer("Operator token from operator.token in the data folder"),
        );
    }
}

/// The OpenAPI description of every operation.
#[derive(OpenApi)]
#[openapi(
    info(title = "Passcom peer API", description = "Search, hold and buy seats across airlines at any Passcom peer; operate the peer. Errors are application/problem+json (RFC 9457)."),
    paths(
        api::health, api::info, api::airports, api::routes, api::seats,
        api::create_account, api::login, api::logout,
        api::hold, api::release, api::purchase, api::purchase_status, api::tickets, api::cancel,
        admin::status, admin::tickets, admin::put_flights, admin::partition, admin::heal, admin::events,
        metrics_text, openapi, web::index, web::geojson,
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "public", description = "Health, identity, metrics, description"),
        (name = "search", description = "Airports, routes and seat maps"),
        (name = "accounts", description = "Traveler accounts and sessions (peer-local)"),
        (name = "purchases", description = "Carts, purchases and tickets of the logged-in traveler"),
        (name = "admin", description = "Operator endpoints (operator token)"),
        (name = "web", description = "The web page"),
    )
)]
pub struct ApiDoc;
