//! The web page: HTML, CSS and JS embedded in the binary, so a peer serves it offline with no
//! build step. The page talks only to this peer's API.

use crate::Shared;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_CSS: &str = include_str!("../static/app.css");
const APP_JS: &str = include_str!("../static/app.js");
const BRAZIL_GEOJSON: &str = include_str!("../../node/data/brazil-outline.geojson");

/// Everything loads from this peer: no CDN, no tiles, no inline script.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'";

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route(
            "/assets/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }),
        )
        .route(
            "/assets/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    APP_JS,
                )
            }),
        )
        .route("/assets/brazil.geojson", get(geojson))
}

/// The web page: search, seat maps, cart, checkout, tickets, and the operator view.
#[utoipa::path(get, path = "/", tag = "web",
    responses((status = 200, description = "The web page", content_type = "text/html", body = String)))]
pub(crate) async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        INDEX_HTML,
    )
}

/// Brazil's outline (Natural Earth, public domain) for the page's map.
#[utoipa::path(get, path = "/assets/brazil.geojson", tag = "web",
    responses((status = 200, description = "GeoJSON Feature of Brazil's outline", content_type = "application/geo+json", body = Object)))]
pub(crate) async fn geojson() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        BRAZIL_GEOJSON,
    )
}
