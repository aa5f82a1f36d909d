//! The live event stream (Server-Sent Events) of what the peer's transport sees: events,
//! messages, connections, rejections.
//!
//! It only relays the peer's broadcast of live events; it must never block the peer on a slow
//! reader (a reader that falls behind is told how much it missed).

use super::Operator;
use crate::Shared;
use crate::problem::Problem;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

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
