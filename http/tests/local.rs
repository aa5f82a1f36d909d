//! The API over a [`LocalBackend`]: one airline's node in this process, without any libp2p
//! peer, served on a real TCP listener and called over HTTP like any peer's API.

mod common;

use common::{Client, runtime, tomorrow, wait_until};
use passcom_http::{ApiConfig, Backend, LocalBackend};
use passcom_node::Config;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A running API over a local backend, kept alive with its runtime and data folder.
struct Local {
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    backend: Arc<LocalBackend>,
    url: String,
    admin_token: String,
}

/// Starts a local backend of `airline` in memory with the demo catalog and serves its API
/// with the default settings changed by `tweak`.
fn start_local(airline: &str, tweak: impl FnOnce(&mut ApiConfig)) -> Local {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let backend = rt.block_on(async {
        let b = LocalBackend::in_memory(Config::new(airline)).expect("the node opens");
        b.load_demo_catalog(2)
            .await
            .expect("the demo catalog is accepted");
        Arc::new(b)
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let timeout = passcom_http::backend::read(&*backend, |n| n.config().purchase_timeout_ms);
    let mut api = ApiConfig::new(timeout);
    tweak(&mut api);
    rt.spawn(passcom_http::serve_backend_until(
        backend.clone() as Arc<dyn Backend>,
        listener,
        dir.path().to_owned(),
        api,
        std::future::pending(),
    ));
    let client = Client::new(&url);
    wait_until("the API answers", Duration::from_secs(20), || {
        client.get("/api/health").status == 200
    });
    let admin_token = std::fs::read_to_string(dir.path().join("operator.token"))
        .unwrap()
        .trim()
        .to_owned();
    Local {
        _rt: rt,
        _dir: dir,
        backend,
        url,
        admin_token,
    }
}

/// The first flight of `local`'s airline tomorrow.
fn a_flight_tomorrow(local: &Local) -> String {
    let day = tomorrow();
    passcom_http::backend::read(&*local.backend, |n| {
        n.catalog()
            .flights()
            .find(|f| f.id.as_str().ends_with(&day))
            .expect("a flight tomorrow")
            .id
            .to_string()
    })
}

/// The status of `seat` in the seat map of `flight`.
fn seat_status(c: &Client, flight: &str, seat: &Value) -> Value {
    let map = c.get(&format!("/api/flights/{flight}/seats")).ok(200);
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == *seat)
        .unwrap_or_else(|| panic!("seat {seat} in the map of {flight}: {map}"))["status"]
        .clone()
}

#[test]
fn a_traveler_buys_lists_and_cancels_a_ticket_on_a_local_backend_without_libp2p() {
    let local = start_local("rumos", |_| {});
    let c = Client::new(&local.url);

    // The network report is that of a peer without a network.
    let admin = c.with_token(&local.admin_token);
    let status = admin.get("/admin/status").ok(200);
    assert_eq!(status["airline"], "rumos", "{status}");
    assert_eq!(local.backend.status().connected.len(), 0);
    admin
        .post("/admin/partition", &json!({"peers": []}))
        .problem(422);
    admin
        .post("/admin/dial", &json!({"address": "/ip4/127.0.0.1/tcp/1"}))
        .problem(422);

    // A route of rumos tomorrow, found by the search.
    let day = tomorrow();
    let (from, to) = passcom_http::backend::read(&*local.backend, |n| {
        let f = n
            .catalog()
            .flights()
            .find(|f| f.id.as_str().ends_with(&day))
            .expect("a rumos flight tomorrow")
            .clone();
        (f.origin, f.destination)
    });
    let routes = c
        .get(&format!(
            "/api/routes?from={from}&to={to}&date={day}&limit=20"
        ))
        .ok(200);
    let it = routes["itineraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|it| it["legs"].as_array().unwrap().len() == 1)
        .unwrap_or_else(|| panic!("a direct itinerary {from}→{to}: {routes}"))
        .clone();
    assert!(it["seats_available"].as_u64().unwrap() > 0, "{it}");
    let flight = it["legs"][0]["flight"].as_str().unwrap().to_owned();

    // A traveler signs up and buys a chosen seat.
    let dora = c.signup("dora");
    let map = c.get(&format!("/api/flights/{flight}/seats")).ok(200);
    let seat = map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "here")
        .unwrap_or_else(|| panic!("a seat sold here: {map}"))["seat"]
        .clone();
    let body = json!({"passenger": "Dora Dias", "legs": [{"flight": flight, "seat": seat}]});
    let ticket = dora
        .post_with("/api/purchases", &body, &[("Idempotency-Key", "dora-1")])
        .ok(201);
    assert_eq!(ticket["legs"][0]["seat"], seat, "{ticket}");
    assert_eq!(ticket["seller"], "rumos");
    assert_eq!(ticket["status"], "live");
    let id = ticket["id"].as_str().unwrap().to_owned();

    // The seat is sold in the seat map and in the node; the ticket is listed.
    assert_eq!(seat_status(&c, &flight, &seat), "sold");
    assert!(passcom_http::backend::read(&*local.backend, |n| {
        n.tickets().keys().any(|k| k.as_str() == id)
    }));
    let mine = dora.get("/api/tickets").ok(200);
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["id"], ticket["id"]);

    // Refusals: the seat again (409), an unknown flight (404), without a session (401).
    let eli = c.signup("eli");
    let taken = json!({"passenger": "Eli", "legs": [{"flight": flight, "seat": seat}]});
    assert_eq!(
        eli.post_with("/api/purchases", &taken, &[("Idempotency-Key", "e1")])
            .problem(409)["reason"],
        "seat_taken"
    );
    let nowhere = json!({"passenger": "Eli", "legs": [{"flight": "XX0-2000-01-01"}]});
    eli.post_with("/api/purchases", &nowhere, &[("Idempotency-Key", "e2")])
        .problem(404);
    c.post_with("/api/purchases", &body, &[("Idempotency-Key", "x")])
        .problem(401);

    // Cancellation puts the seat back on sale; a second one is a conflict.
    eli.delete(&format!("/api/tickets/{id}")).problem(404);
    let cancelled = dora.delete(&format!("/api/tickets/{id}")).ok(200);
    assert_eq!(cancelled["status"], "cancelled");
    dora.delete(&format!("/api/tickets/{id}")).problem(409);
    assert_eq!(seat_status(&c, &flight, &seat), "here");

    // The node wrote one event per transaction, reported with the clock.
    let clock = local.backend.status().clock;
    assert!(clock.get(&"rumos".into()) >= 4, "{clock:?}");
}

#[test]
fn a_cart_lapses_on_a_local_backend_because_its_timers_fire() {
    let local = start_local("giro", |api| api.hold_ms = 500);
    let c = Client::new(&local.url);
    let flight = a_flight_tomorrow(&local);
    let dora = c.signup("dora");
    let hold = dora
        .post("/api/holds", &json!({"legs": [{"flight": flight}]}))
        .ok(201);
    let seat = hold["seats"][0]["seat"].clone();
    assert!(seat.is_string(), "a held seat: {hold}");
    assert_eq!(seat_status(&c, &flight, &seat), "held");
    // Nobody calls the API meanwhile: only the backend's timer task can release the seat.
    wait_until(
        "the lapsed cart's seat is back on sale",
        Duration::from_secs(10),
        || passcom_http::backend::read(&*local.backend, |n| n.holds().is_empty()),
    );
    assert_eq!(seat_status(&c, &flight, &seat), "here");
}
