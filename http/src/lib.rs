//! HTTP API and web page of a Passcom peer.
//!
//! Every peer serves, at its `--http` address, a JSON API for travelers and operators, a
//! Prometheus endpoint, an OpenAPI description and a self-contained web page (no build step,
//! no CDN: HTML, CSS and JS are embedded in the binary).
//!
//! # Map
//! - [`serve`]: serves until dropped; [`serve_until`] (what `passcom peer` calls) stops
//!   accepting on a shutdown signal and drains in-flight requests for a bounded time;
//!   [`router`] builds the same app for tests. Every request is logged through tower-http's
//!   `TraceLayer` (target `tower_http::trace`, level INFO; choose with `RUST_LOG`).
//! - [`backend`]: the [`Backend`] trait, what the API needs of a running peer (node types only,
//!   no libp2p type), implemented for [`PeerHandle`] and for [`LocalBackend`], one node in
//!   this process without a network ([`serve_backend_until`] serves the API over any backend).
//! - [`api`]: traveler endpoints (search, seat maps, accounts, carts, purchases, tickets) and
//!   their DTOs.
//! - [`admin`]: operator endpoints (status, flights, partition/heal, dial/hangup, live events)
//!   and the operator token.
//! - [`accounts`]: accounts, sessions and wishlists in `accounts.redb` (argon2id password hashes,
//!   SHA-256 of session tokens).
//! - [`limit`]: login throttling by client address and by account name.
//! - [`secret`]: token generation, hashing and constant-time comparison.
//! - [`problem`]: RFC 9457 problem documents, refusal → status mapping, and extractors whose
//!   rejections are problems, so bad input never yields a 5xx.
//! - [`metrics`]: the Prometheus exposition (`prometheus-client`): the API's registry and the
//!   peer's libp2p registry.
//! - [`dates`]: `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM` in UTC, and instants in an airport's
//!   local time (its IANA zone, through `jiff`'s bundled tz database).
//! - `web` (private): the embedded page and assets.
//!
//! # Architecture invariant
//! This crate makes no booking decision: every change goes through
//! [`passcom_node::Request`] to the node's state machine; the API only validates input,
//! authenticates, and maps replies to HTTP. Every wait on the node is bounded.
//!
//! # Hardening of the boundary (see `http/SECURITY-section.md`)
//! Bodies over [`BODY_LIMIT`] get 413; a request not answered within
//! [`ApiConfig::handler_timeout`] gets 503 (slow bodies included); failed logins are throttled
//! per client address and per name ([`limit`]); at most [`ApiConfig::hashing_slots`] argon2
//! computations run at once; tokens are compared in constant time and sessions stored hashed.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod backend;
pub mod dates;
pub mod limit;
mod links;
use links::Links;
pub mod metrics;
pub mod problem;
pub mod secret;
mod web;

pub use backend::{Backend, LocalBackend};
pub use problem::{ApiError, Problem};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passcom_net::PeerHandle;
use passcom_node::routes::RouteIndex;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_http::LatencyUnit;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;

/// The largest request body accepted: 64 KiB (a catalog edit of a few hundred flights).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Settings of the API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The longest the API waits for the node to answer a request before answering 503.
    pub request_timeout: Duration,
    /// The longest any request may take, from the end of its headers to its response
    /// headers, before it is answered 503: covers slow clients (a body trickled byte by
    /// byte) and anything else that would otherwise hold a task forever. Longer than
    /// `request_timeout`, so a slow purchase gets its own, more precise answer first.
    pub handler_timeout: Duration,
    /// How long a cart keeps its seats, ms.
    pub hold_ms: i64,
    /// How long a session lasts after login, ms.
    pub session_ttl_ms: i64,
    /// Login throttling.
    pub login_limits: limit::LoginLimits,
    /// How many argon2 hashes (signup, login) may run at once. Each takes ~19 MiB and a core
    /// for tens of ms, so an unbounded number would let a flood of logins exhaust memory.
    pub hashing_slots: usize,
    /// How long a signup or login waits for a hashing slot before it is answered 503.
    pub hashing_wait: Duration,
}

impl ApiConfig {
    /// Defaults for a node whose purchases wait at most `purchase_timeout_ms`: the node's own
    /// deadline plus 3 s of margin, 2 s more for the whole request, 5-minute carts, 12-hour
    /// sessions, [`limit::LoginLimits::default`], and two hashing slots per core.
    pub fn new(purchase_timeout_ms: i64) -> Self {
        let request_timeout =
            Duration::from_millis(purchase_timeout_ms.max(0) as u64) + Duration::from_secs(3);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ApiConfig {
            request_timeout,
            handler_timeout: request_timeout + Duration::from_secs(2),
            hold_ms: 5 * 60_000,
            session_ttl_ms: accounts::SESSION_TTL_MS,
            login_limits: limit::LoginLimits::default(),
            hashing_slots: 2 * cores,
            hashing_wait: Duration::from_secs(5),
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
    pub(crate) logins: limit::LoginLimiter,
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
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
    serve_with(handle, listener, data_dir, ApiConfig::new(timeout)).await
}

/// [`serve`] with explicit settings (tests shorten sessions, limits and timeouts).
///
/// Errors: as [`serve`].
pub async fn serve_with(
    handle: PeerHandle,
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    cfg: ApiConfig,
) -> std::io::Result<()> {
    serve_until(handle, listener, data_dir, cfg, std::future::pending()).await
}

/// Serves like [`serve_with`] until `shutdown` resolves, then shuts down gracefully: stops
/// accepting connections, closes idle keep-alive connections, lets in-flight requests finish,
/// and returns once they have, or after at most [`ApiConfig::handler_timeout`] (the longest
/// any request may take to be answered; open event streams are cut then).
///
/// Errors: as [`serve`].
pub async fn serve_until(
    handle: PeerHandle,
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    cfg: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_backend_until(Arc::new(handle), listener, data_dir, cfg, shutdown).await
}

/// [`serve_until`] over any [`Backend`] (for example a [`LocalBackend`], one node without a
/// network): serves the API on `listener` with the accounts and operator token in `data_dir`
/// until `shutdown` resolves, then drains in-flight requests for at most
/// [`ApiConfig::handler_timeout`].
///
/// Errors: as [`serve`].
pub async fn serve_backend_until(
    backend: Arc<dyn Backend>,
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    cfg: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = cfg.handler_timeout;
    let app = router(backend, &data_dir, cfg)?;
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "HTTP API listening");
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!(
            ?addr,
            drain_s = drain.as_secs_f64(),
            "HTTP API stopping: draining in-flight requests"
        );
        let _ = stopping_tx.send(());
    };
    // The client's address reaches the handlers (login throttling) through ConnectInfo.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .into_future();
    let deadline = async move {
        if stopping_rx.await.is_err() {
            // The signal future was dropped without firing: the server ended on its own.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        r = server => {
            tracing::info!(?addr, "HTTP API stopped");
            r
        }
        () = deadline => {
            tracing::warn!(?addr, "HTTP API stopped: connections still open after the drain were closed");
            Ok(())
        }
    }
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
        accounts: accounts::Accounts::open(data_dir, &airline)?
            .with_session_ttl(cfg.session_ttl_ms),
        operator_token: admin::load_or_create_token(data_dir)?,
        metrics: metrics::Metrics::default(),
        routes: Mutex::new(None),
        logins: limit::LoginLimiter::new(cfg.login_limits.clone()),
        hashing: Arc::new(tokio::sync::Semaphore::new(cfg.hashing_slots.max(1))),
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
        .route("/api/me", get(api::me))
        .route("/api/wishlist", get(api::wishlist).post(api::add_wish))
        .route(
            "/api/wishlist/{id}",
            axum::routing::delete(api::remove_wish),
        )
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
        .route("/admin/dial", post(admin::dial))
        .route("/admin/hangup", post(admin::hangup))
        .route("/admin/events", get(admin::events))
        .route("/metrics", get(metrics_text))
        .merge(web::routes())
        .fallback(not_found)
        // Innermost first: the size limit's bare 413 is turned into a problem by the mapper,
        // the deadline covers reading the body, and the metrics see every final status.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn(drain_oversized))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::map_response(problem::problem_fallback))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        // Outermost: one span and one "finished processing request" line per request, at INFO
        // (target tower_http::trace), with method, URI, status and latency.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .with_state(state);
    Ok(app)
}

/// Bodies up to this size are read and dropped before an oversized request is refused.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Reads and drops a body that is over [`BODY_LIMIT`] (up to [`DRAIN_LIMIT`], for at most 5 s)
/// before the size limit refuses it. Refusing on the `Content-Length` alone closes the
/// connection while the client is still sending, and the kernel's reset can then destroy the
/// 413 before the client reads it: the client would see a broken connection, not the reason.
async fn drain_oversized(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > BODY_LIMIT as u64 && n <= DRAIN_LIMIT => {
            let (parts, body) = req.into_parts();
            let drain = axum::body::to_bytes(body, DRAIN_LIMIT as usize);
            let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
            // The declared length still tells the limit layer to answer 413.
            next.run(Request::from_parts(parts, axum::body::Body::empty()))
                .await
        }
        _ => next.run(req).await,
    }
}

/// Answers 503 with `Retry-After` when a request is not answered within
/// [`ApiConfig::handler_timeout`]. Dropping the handler's future cancels it; work already
/// handed to the node finishes there (a purchase is then found under its idempotency key).
/// Streams (the SSE event stream) are not cut: their response is answered at once, and only
/// the time to the response headers is bounded.
async fn deadline(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let limit = s.cfg.handler_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::unavailable(
            format!(
                "the request was not answered within {} s (a body sent too slowly, or a busy peer); retry",
                limit.as_secs_f64()
            ),
            problem::RETRY_AFTER_S,
        )
        .into_response(),
    }
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

/// Prometheus metrics (OpenMetrics text): tickets, purchases refused by reason, request counts
/// and latency (`passcom_*`), and the peer's libp2p metrics: connections, bandwidth, identify,
/// gossipsub mesh and peer scores (`libp2p_*`).
#[utoipa::path(get, path = "/metrics", tag = "public",
    responses((status = 200, description = "OpenMetrics text 1.0.0", content_type = "application/openmetrics-text", body = String)))]
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
            sessions_stored: 0,
        }
    });
    // A redb read transaction: microseconds, no fsync, so fine on the async thread.
    let gauges = metrics::NodeGauges {
        sessions_stored: s.accounts.stored_sessions().unwrap_or(0),
        ..gauges
    };
    let libp2p = s.backend.net_metrics();
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        s.metrics.render(&gauges, libp2p),
    )
        .into_response()
}

/// This API's OpenAPI 3 description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "public",
    responses((status = 200, description = "OpenAPI description", content_type = "application/json", body = Object)))]
pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Documents the error answers that every operation of a kind can give because of the layers
/// and extractors they share, so that each handler's annotation lists only its own outcomes
/// and the document still matches what clients can receive (checked by
/// `scripts/schemathesis`):
/// - every operation: 503 (the request deadline, [`ApiConfig::handler_timeout`]);
/// - with a JSON body: 400 (malformed), 413 (over [`BODY_LIMIT`]), 415 (not JSON), 422
///   (wrong fields);
/// - with path or query parameters: 400 (a parameter that does not parse);
/// - with a security requirement: 401 (none or lapsed), and 403 for the operator token.
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    problem::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let add = |op: &mut Operation, status: &str, what: &str| {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| problem(what).into());
        };
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                add(
                    op,
                    "503",
                    "Not answered in time (or the peer is busy); retry after Retry-After seconds",
                );
                if op.request_body.is_some() {
                    add(op, "400", "The body is not valid JSON");
                    add(op, "413", "The body is over 64 KiB");
                    add(op, "415", "The body is not sent as application/json");
                    add(
                        op,
                        "422",
                        "The JSON body lacks a field or has one of the wrong type",
                    );
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(op, "400", "A parameter does not parse");
                }
                let schemes: Vec<String> = op
                    .security
                    .iter()
                    .flatten()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                    .flatten()
                    .collect();
                if !schemes.is_empty() {
                    add(op, "401", "No credentials, or a lapsed session");
                }
                if schemes.iter().any(|s| s == "operator") {
                    add(op, "403", "Wrong operator token");
                }
            }
        }
    }
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
        api::create_account, api::login, api::me, api::logout,
        api::wishlist, api::add_wish, api::remove_wish,
        api::hold, api::release, api::purchase, api::purchase_status, api::tickets, api::cancel,
        admin::status, admin::tickets, admin::put_flights, admin::partition, admin::heal, admin::dial, admin::hangup, admin::events,
        metrics_text, openapi, web::index, web::geojson,
    ),
    modifiers(&SecurityAddon, &CommonResponses, &Links),
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
