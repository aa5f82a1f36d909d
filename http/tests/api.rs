//! Every endpoint of the API, with good and bad input, against a real three-airline network
//! (libp2p on 127.0.0.1, demo catalog). Travelers use rumos; the partition scenario uses
//! boreal and giro so the other scenarios can run alongside it.

mod common;

use common::{Client, Net, start_network, tomorrow, wait_until};
use serde_json::{Value, json};
use std::io::BufRead;
use std::sync::OnceLock;
use std::time::Duration;

fn net() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(|| start_network(&["rumos", "giro", "boreal"]))
}

fn rumos() -> Client {
    Client::new(&net().peer("rumos").url)
}

/// The cheapest itinerary of tomorrow from `from` to `to` that combines two or more airlines.
fn multi_airline_itinerary(c: &Client, from: &str, to: &str) -> Value {
    let r = c
        .get(&format!(
            "/api/routes?from={from}&to={to}&date={}&limit=100",
            tomorrow()
        ))
        .ok(200);
    r["itineraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|it| {
            it["airlines"].as_array().unwrap().len() >= 2
                && it["seats_available"].as_u64().unwrap() > 0
        })
        .unwrap_or_else(|| panic!("no multi-airline itinerary {from}→{to}: {r}"))
        .clone()
}

fn legs_of(it: &Value) -> Vec<Value> {
    it["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"flight": l["flight"]}))
        .collect()
}

#[test]
fn public_endpoints_page_and_description() {
    let c = rumos();
    let h = c.get("/api/health");
    assert_eq!((h.status, h.body.as_str()), (200, "ok"));
    let info = c.get("/api/info").ok(200);
    assert_eq!(info["airline"], "rumos");
    assert_eq!(info["color"], "#c62828");

    let airports = c.get("/api/airports").ok(200);
    let airports = airports.as_array().unwrap();
    assert_eq!(airports.len(), 27);
    assert!(
        airports
            .iter()
            .any(|a| a["iata"] == "SSA" && a["latitude"].as_f64().unwrap() < 0.0)
    );
    let zone_of = |code: &str| {
        let a = airports.iter().find(|a| a["iata"] == code).unwrap();
        a["time_zone"].as_str().unwrap().to_owned()
    };
    assert_eq!(zone_of("MAO"), "America/Manaus");
    assert_eq!(zone_of("SSA"), "America/Bahia");

    let page = c.get("/");
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("id=\"search-form\""));
    for asset in ["/assets/app.js", "/assets/app.css"] {
        let r = c.get(asset);
        assert_eq!(r.status, 200, "{asset}");
        assert!(r.body.len() > 500, "{asset} is embedded");
    }
    let outline = c.get("/assets/brazil.geojson").ok(200);
    assert_eq!(outline["geometry"]["type"], "Polygon");

    // The description lists every operation the router serves.
    let doc = c.get("/api/openapi.json").ok(200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/health", "get"),
        ("/api/info", "get"),
        ("/api/airports", "get"),
        ("/api/routes", "get"),
        ("/api/flights/{id}/seats", "get"),
        ("/api/accounts", "post"),
        ("/api/sessions", "post"),
        ("/api/sessions", "delete"),
        ("/api/me", "get"),
        ("/api/wishlist", "get"),
        ("/api/wishlist", "post"),
        ("/api/wishlist/{id}", "delete"),
        ("/api/holds", "post"),
        ("/api/holds/{id}", "delete"),
        ("/api/purchases", "post"),
        ("/api/purchases/{key}", "get"),
        ("/api/tickets", "get"),
        ("/api/tickets/{id}", "delete"),
        ("/api/openapi.json", "get"),
        ("/admin/status", "get"),
        ("/admin/tickets", "get"),
        ("/admin/flights", "post"),
        ("/admin/partition", "post"),
        ("/admin/heal", "post"),
        ("/admin/dial", "post"),
        ("/admin/hangup", "post"),
        ("/admin/events", "get"),
        ("/metrics", "get"),
        ("/", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is described"
        );
    }
    assert!(doc["components"]["securitySchemes"]["session"].is_object());

    // Unknown endpoints and methods are problems too.
    c.get("/api/nothing-here").problem(404);
    c.put_empty("/api/health").problem(405);
}

#[test]
fn search_and_seat_maps() {
    let c = rumos();
    let date = tomorrow();
    let r = c
        .get(&format!(
            "/api/routes?from=ssa&to=MAO&date={date}&max_legs=3&sort=duration"
        ))
        .ok(200);
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str(), r["sort"].as_str()),
        (Some("SSA"), Some("MAO"), Some("duration"))
    );
    let its = r["itineraries"].as_array().unwrap();
    assert!(!its.is_empty(), "SSA→MAO has routes: {r}");
    let durations: Vec<i64> = its
        .iter()
        .map(|i| i["duration_ms"].as_i64().unwrap())
        .collect();
    assert!(
        durations.windows(2).all(|w| w[0] <= w[1]),
        "sorted by duration"
    );
    for it in its {
        let legs = it["legs"].as_array().unwrap();
        assert!((1..=3).contains(&legs.len()));
        assert_eq!(legs[0]["origin"], "SSA");
        assert_eq!(legs[legs.len() - 1]["destination"], "MAO");
        let fares: u64 = legs.iter().map(|l| l["fare_cents"].as_u64().unwrap()).sum();
        assert_eq!(it["price_cents"].as_u64().unwrap(), fares);
        for l in legs {
            let s = &l["seats"];
            assert!(s["capacity"].as_u64().unwrap() > 0);
            assert!(l["departure_utc"].as_str().unwrap().starts_with(&date[..4]));
        }
    }
    let by_price = c
        .get(&format!(
            "/api/routes?from=SSA&to=MAO&date={date}&sort=price"
        ))
        .ok(200);
    let prices: Vec<u64> = by_price["itineraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["price_cents"].as_u64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "sorted by price");
    let it = multi_airline_itinerary(&c, "POA", "MAO");
    assert!(it["airlines"].as_array().unwrap().len() >= 2);

    // A seat map shows where each seat is, from rumos' point of view. (Demo flights carry
    // escrow; the flight another scenario adds has none, so skip it.)
    let flight = it["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["flight"].as_str().unwrap().to_owned())
        .find(|f| !f.starts_with("RU9999"))
        .unwrap();
    let map = c.get(&format!("/api/flights/{flight}/seats")).ok(200);
    let seats = map["seats"].as_array().unwrap();
    assert_eq!(
        seats.len() as u64,
        map["rows"].as_u64().unwrap() * map["letters"].as_str().unwrap().len() as u64
    );
    assert_eq!(seats[0]["seat"], "1A");
    let statuses: std::collections::BTreeSet<&str> = seats
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| ["here", "partner", "moving", "held", "sold"].contains(s))
    );
    assert!(
        statuses.contains("partner") && statuses.contains("here"),
        "escrow splits the cabin: {statuses:?}"
    );

    // Bad input: each a 4xx problem that says what to fix.
    c.get("/api/routes?to=MAO").problem(400);
    c.get("/api/routes?from=SS1&to=MAO").problem(400);
    c.get("/api/routes?from=XXX&to=MAO").problem(404);
    c.get("/api/routes?from=SSA&to=SSA").problem(422);
    c.get("/api/routes?from=SSA&to=MAO&date=2001-01-01")
        .problem(422);
    c.get("/api/routes?from=SSA&to=MAO&date=tomorrow")
        .problem(400);
    c.get("/api/routes?from=SSA&to=MAO&max_legs=9").problem(422);
    c.get("/api/routes?from=SSA&to=MAO&max_legs=-1")
        .problem(400);
    c.get("/api/routes?from=SSA&to=MAO&sort=cheapest")
        .problem(422);
    c.get("/api/flights/XX0-2000-01-01/seats").problem(404);
}

/// The local time at `zone` of a UTC instant `YYYY-MM-DDTHH:MMZ`, for the zones of Brazil
/// (no summer time since 2019): `(wall clock, offset)`.
fn brazil_local(utc: &str, zone: &str) -> (String, String) {
    let hours = match zone {
        "America/Manaus"
        | "America/Porto_Velho"
        | "America/Boa_Vista"
        | "America/Cuiaba"
        | "America/Campo_Grande" => 4,
        "America/Rio_Branco" => 5,
        _ => 3,
    };
    let at = passcom_http::dates::parse_instant(utc).unwrap() - hours * 3_600_000;
    let wall = passcom_http::dates::format_instant(at);
    (wall[..16].to_owned(), format!("-0{hours}:00"))
}

#[test]
fn times_are_given_in_each_airports_local_time_beside_utc() {
    let c = rumos();
    let date = tomorrow();
    let r = c
        .get(&format!(
            "/api/routes?from=MAO&to=POA&date={date}&max_legs=3"
        ))
        .ok(200);
    let its = r["itineraries"].as_array().unwrap();
    assert!(!its.is_empty(), "MAO→POA has routes: {r}");
    for it in its {
        let legs = it["legs"].as_array().unwrap();
        // A Manaus departure is in Manaus time (UTC-4), not UTC.
        assert_eq!(legs[0]["origin_time_zone"], "America/Manaus");
        let (wall, offset) =
            brazil_local(legs[0]["departure_utc"].as_str().unwrap(), "America/Manaus");
        assert_eq!(
            legs[0]["departure_local"].as_str().unwrap(),
            format!("{wall}{offset}")
        );
        assert_eq!(it["departure_local"], legs[0]["departure_local"]);
        assert_eq!(it["arrival_local"], legs[legs.len() - 1]["arrival_local"]);
        // The searched date is Manaus' date of the first departure.
        assert_eq!(&wall[..10], date);
        for l in legs {
            for (utc, local, zone) in [
                ("departure_utc", "departure_local", "origin_time_zone"),
                ("arrival_utc", "arrival_local", "destination_time_zone"),
            ] {
                let (wall, offset) =
                    brazil_local(l[utc].as_str().unwrap(), l[zone].as_str().unwrap());
                assert_eq!(l[local].as_str().unwrap(), format!("{wall}{offset}"), "{l}");
            }
        }
    }
    // The seat map's flight carries the same local times.
    let leg = &its[0]["legs"][0];
    let flight = leg["flight"].as_str().unwrap();
    let m = c.get(&format!("/api/flights/{flight}/seats")).ok(200);
    assert_eq!(m["flight"]["departure_local"], leg["departure_local"]);
    assert_eq!(m["flight"]["arrival_local"], leg["arrival_local"]);
}

#[test]
fn a_traveler_saves_itineraries_to_a_wishlist_with_live_seat_counts() {
    let c = rumos();
    let it = multi_airline_itinerary(&c, "POA", "FOR");
    let flights: Vec<Value> = it["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["flight"].clone())
        .collect();
    c.get("/api/wishlist").problem(401);
    c.post("/api/wishlist", &json!({"flights": flights}))
        .problem(401);
    let fabi = c.signup("fabi");
    assert_eq!(fabi.get("/api/wishlist").ok(200), json!([]));
    fabi.post("/api/wishlist", &json!({"flights": []}))
        .problem(422);
    fabi.post("/api/wishlist", &json!({"flights": ["XX0-2000-01-01"]}))
        .problem(404);
    let w = fabi
        .post("/api/wishlist", &json!({"flights": flights}))
        .ok(201);
    let id = w["id"].as_str().unwrap().to_owned();
    assert_eq!(w["itinerary"]["price_cents"], it["price_cents"]);
    // Saving it again keeps one.
    assert_eq!(
        fabi.post("/api/wishlist", &json!({"flights": flights}))
            .ok(200)["id"],
        id.as_str()
    );
    // Each traveler has a list of their own.
    let gil = c.signup("gil");
    assert_eq!(gil.get("/api/wishlist").ok(200), json!([]));
    gil.delete(&format!("/api/wishlist/{id}")).problem(404);

    // The list shows seats as they are now: a purchase on the first leg takes one.
    let before = fabi.get("/api/wishlist").ok(200)[0]["itinerary"]["legs"][0]["seats"].clone();
    let legs = legs_of(&it);
    gil.post_with(
        "/api/purchases",
        &json!({"passenger": "Gil", "legs": legs}),
        &[("Idempotency-Key", "wish-1")],
    )
    .ok(201);
    let after = fabi.get("/api/wishlist").ok(200)[0]["itinerary"]["legs"][0]["seats"].clone();
    assert_eq!(
        after["sold"].as_u64().unwrap(),
        before["sold"].as_u64().unwrap() + 1,
        "{before} then {after}"
    );

    assert_eq!(fabi.delete(&format!("/api/wishlist/{id}")).status, 204);
    assert_eq!(fabi.get("/api/wishlist").ok(200), json!([]));
    fabi.delete(&format!("/api/wishlist/{id}")).problem(404);
}

#[test]
fn accounts_sessions_and_bad_bodies() {
    let c = rumos();
    let creds = json!({"name": "carla", "password": "correct horse battery"});
    let a = c.post("/api/accounts", &creds).ok(201);
    assert_eq!(a["account"], "carla@rumos");
    c.post("/api/accounts", &creds).problem(409);
    c.post(
        "/api/accounts",
        &json!({"name": "Carla!", "password": "correct horse battery"}),
    )
    .problem(422);
    c.post(
        "/api/accounts",
        &json!({"name": "carla2", "password": "short"}),
    )
    .problem(422);
    c.post("/api/accounts", &json!({"name": "carla3"}))
        .problem(422);
    c.post_raw("/api/accounts", b"{\"name\": ", "application/json")
        .problem(400);
    c.post_raw(
        "/api/accounts",
        b"name=carla",
        "application/x-www-form-urlencoded",
    )
    .problem(415);
    let huge = vec![b'x'; 100 * 1024];
    c.post_raw("/api/accounts", &huge, "application/json")
        .problem(413);

    c.post(
        "/api/sessions",
        &json!({"name": "carla", "password": "wrong password!"}),
    )
    .problem(401);
    c.post(
        "/api/sessions",
        &json!({"name": "nobody", "password": "whatever123"}),
    )
    .problem(401);
    let login = c.post("/api/sessions", &creds);
    let s = login.ok(201);
    let token = s["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    let cookie = login.set_cookie.expect("a session cookie");
    assert!(cookie.starts_with("passcom_session=") && cookie.contains("HttpOnly"));

    // The cookie works as well as the bearer token.
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        c.get_with("/api/tickets", &[("Cookie", &cookie_pair)])
            .ok(200),
        json!([])
    );
    let me = c.with_token(token);
    assert_eq!(me.get("/api/tickets").ok(200), json!([]));
    // "me" names the traveler of the session, by token or by cookie, and nobody without one.
    let who = me.get("/api/me").ok(200);
    assert_eq!(
        (who["name"].as_str(), who["account"].as_str()),
        (Some("carla"), Some("carla@rumos"))
    );
    assert_eq!(
        c.get_with("/api/me", &[("Cookie", &cookie_pair)]).ok(200)["name"],
        "carla"
    );
    c.get("/api/me").problem(401);
    c.get("/api/tickets").problem(401);
    c.with_token("not-a-token").get("/api/tickets").problem(401);

    assert_eq!(me.delete("/api/sessions").status, 204);
    me.get("/api/tickets").problem(401);
    me.get("/api/me").problem(401);
    me.delete("/api/sessions").problem(401);
}

#[test]
fn holding_buying_and_cancelling() {
    let c = rumos();
    let dora = c.signup("dora");
    let eli = c.signup("eli");
    let it = multi_airline_itinerary(&c, "POA", "FOR");
    let legs = legs_of(&it);

    // Carts.
    c.post("/api/holds", &json!({"legs": legs})).problem(401);
    dora.post("/api/holds", &json!({"legs": []})).problem(422);
    dora.post(
        "/api/holds",
        &json!({"legs": [{"flight": "XX0-2000-01-01"}]}),
    )
    .problem(404);
    let hold = dora.post("/api/holds", &json!({"legs": legs})).ok(201);
    let hold_id = hold["hold_id"].as_str().unwrap().to_owned();
    assert_eq!(hold["seats"].as_array().unwrap().len(), legs.len());
    assert!(hold["expires_in_ms"].as_i64().unwrap() > 60_000);
    eli.delete(&format!("/api/holds/{hold_id}")).problem(404);
    assert_eq!(dora.delete(&format!("/api/holds/{hold_id}")).status, 204);
    dora.delete(&format!("/api/holds/{hold_id}")).problem(404);

    // Checkout of a cart with a chosen seat: the ticket has exactly the held seats.
    let first = it["legs"][0]["flight"].as_str().unwrap();
    let map = c.get(&format!("/api/flights/{first}/seats")).ok(200);
    let seat = map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "here")
        .unwrap()["seat"]
        .clone();
    let mut chosen = legs.clone();
    chosen[0]["seat"] = seat.clone();
    let hold = dora.post("/api/holds", &json!({"legs": chosen})).ok(201);
    let after = c.get(&format!("/api/flights/{first}/seats")).ok(200);
    let st = after["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == seat)
        .unwrap()["status"]
        .clone();
    assert_eq!(st, "held");
    let body = json!({"passenger": "Dora Dias", "legs": chosen, "hold_id": hold["hold_id"]});
    dora.post("/api/purchases", &body).problem(400); // no Idempotency-Key
    let key = [("Idempotency-Key", "dora-trip-1")];
    let ticket = dora.post_with("/api/purchases", &body, &key).ok(201);
    assert_eq!(ticket["legs"][0]["seat"], seat);
    assert_eq!(ticket["seller"], "rumos");
    assert_eq!(ticket["status"], "live");
    let airlines: std::collections::BTreeSet<&str> = ticket["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["airline"].as_str().unwrap())
        .collect();
    assert!(airlines.len() >= 2, "a multi-airline ticket: {ticket}");

    // The same key gives the same ticket; the key is scoped to the account.
    let again = dora.post_with("/api/purchases", &body, &key).ok(201);
    assert_eq!(again["id"], ticket["id"]);
    let status = dora.get("/api/purchases/dora-trip-1").ok(200);
    assert_eq!(
        (status["status"].as_str(), status["ticket"]["id"].as_str()),
        (Some("confirmed"), ticket["id"].as_str())
    );
    eli.get("/api/purchases/dora-trip-1").problem(404);
    let other = json!({"passenger": "Dora Dias", "legs": [legs[0]]});
    assert_eq!(
        dora.post_with("/api/purchases", &other, &key).problem(422)["reason"],
        "key_reused"
    );

    // The seat is sold: buying it again is a conflict, unknown flights are 404.
    let taken = json!({"passenger": "Eli", "legs": [{"flight": first, "seat": seat}]});
    assert_eq!(
        eli.post_with("/api/purchases", &taken, &[("Idempotency-Key", "e1")])
            .problem(409)["reason"],
        "seat_taken"
    );
    let nowhere = json!({"passenger": "Eli", "legs": [{"flight": "XX0-2000-01-01"}]});
    eli.post_with("/api/purchases", &nowhere, &[("Idempotency-Key", "e2")])
        .problem(404);
    let bad_seat = json!({"passenger": "Eli", "legs": [{"flight": first, "seat": "99Z"}]});
    eli.post_with("/api/purchases", &bad_seat, &[("Idempotency-Key", "e3")])
        .problem(422);
    eli.post_with(
        "/api/purchases",
        &json!({"legs": legs}),
        &[("Idempotency-Key", "e4")],
    )
    .problem(422);
    let gone = dora.post_with(
        "/api/purchases",
        &json!({"passenger": "D", "legs": legs, "hold_id": "h-none"}),
        &[("Idempotency-Key", "d9")],
    );
    gone.problem(404);

    // Tickets: each traveler sees and cancels only their own.
    let mine = dora.get("/api/tickets").ok(200);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], ticket["id"]);
    assert_eq!(eli.get("/api/tickets").ok(200), json!([]));
    let id = ticket["id"].as_str().unwrap();
    eli.delete(&format!("/api/tickets/{id}")).problem(404);
    let cancelled = dora.delete(&format!("/api/tickets/{id}")).ok(200);
    assert_eq!(cancelled["status"], "cancelled");
    dora.delete(&format!("/api/tickets/{id}")).problem(409);
    dora.delete("/api/tickets/rumos-0-0").problem(404);
    let back = c.get(&format!("/api/flights/{first}/seats")).ok(200);
    let st = back["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == seat)
        .unwrap()["status"]
        .clone();
    assert_eq!(st, "here", "a cancelled seat is back on sale");

    // A ticket bought at rumos reaches giro (replication), where dora has no account.
    let giro = Client::new(&net().peer("giro").url);
    wait_until("the ticket reaches giro", Duration::from_secs(20), || {
        net()
            .peer("giro")
            .handle
            .read(|n| n.tickets().keys().any(|k| k.as_str() == id))
    });
    giro.get("/api/tickets").problem(401);

    // Metrics count what happened.
    let m = c.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("application/openmetrics-text"));
    for needle in [
        "passcom_tickets_sold ",
        "passcom_purchases_confirmed_total ",
        "passcom_purchases_refused_total{reason=\"seat_taken\"} ",
        "passcom_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/purchases\"}",
    ] {
        assert!(
            m.body.contains(needle),
            "metrics lack {needle}:\n{}",
            m.body
        );
    }
}

#[test]
fn operator_endpoints() {
    let peer = net().peer("rumos");
    let anon = Client::new(&peer.url);
    let op = anon.with_token(&peer.admin_token);
    anon.get("/admin/status").problem(401);
    anon.with_token("0000").get("/admin/status").problem(403);
    anon.get("/admin/tickets").problem(401);
    assert!(op.get("/admin/tickets").ok(200).is_array());
    let st = op.get("/admin/status?flights=10").ok(200);
    assert_eq!(st["airline"], "rumos");
    assert!(st["peer_id"].as_str().unwrap().starts_with("12D3"));
    assert!(st["clock"]["rumos"].as_u64().unwrap() >= 1);
    assert_eq!(st["pools"].as_array().unwrap().len(), 10);
    assert!(st["handovers"].is_array());
    wait_until("rumos sees both partners", Duration::from_secs(30), || {
        op.get("/admin/status?flights=0").ok(200)["connected"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    });
    op.get("/admin/status?flights=5000").problem(422);

    // A new flight of rumos, found by search at once.
    let date = tomorrow();
    let flight = json!({"flights": [{
        "id": format!("RU9999-{date}"), "origin": "POA", "destination": "BVB",
        "departure": format!("{date}T10:00"), "arrival": format!("{date}T15:30"),
        "rows": 10, "letters": "ABCD", "fare_cents": 99990
    }]});
    anon.post("/admin/flights", &flight).problem(401);
    assert_eq!(op.post("/admin/flights", &flight).ok(200)["written"], 1);
    let r = anon
        .get(&format!(
            "/api/routes?from=POA&to=BVB&date={date}&max_legs=1"
        ))
        .ok(200);
    assert!(
        r["itineraries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["legs"][0]["flight"] == format!("RU9999-{date}"))
    );
    let mut bad = flight.clone();
    bad["flights"][0]["origin"] = json!("XYZ");
    op.post("/admin/flights", &bad).problem(422);
    let mut past = flight.clone();
    past["flights"][0]["id"] = json!("RU9998-2001-01-01");
    past["flights"][0]["departure"] = json!("2001-01-01T10:00");
    past["flights"][0]["arrival"] = json!("2001-01-01T12:00");
    op.post("/admin/flights", &past).problem(422);
    let mut foreign = flight.clone();
    foreign["flights"][0]["rows"] = json!(0);
    op.post("/admin/flights", &foreign).problem(422);
    op.post("/admin/flights", &json!({"flights": []}))
        .problem(422);
    op.post("/admin/flights", &json!({"flight": 1}))
        .problem(422);

    // The live stream starts with a hello, then carries the node's events.
    let events_url = format!("{}/admin/events", peer.url);
    let token = peer.admin_token.clone();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .get(&events_url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the stream starts");
    assert_eq!(first, "event: hello");
    let mut f2 = flight.clone();
    f2["flights"][0]["rows"] = json!(12); // adding rows is allowed: an event follows
    op.post("/admin/flights", &f2).ok(200);
    let mut saw_event = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        if line.starts_with("event: ") && line != "event: hello" {
            saw_event = true;
            break;
        }
    }
    assert!(saw_event, "a live event follows a catalog change");
}

/// `/metrics` of a peer connected to two others shows Passcom's numbers beside libp2p's:
/// connections, identify, gossipsub mesh and peer scores, all of this peer's own.
#[test]
fn metrics_show_passcom_and_libp2p_numbers_of_a_connected_peer() {
    let peer = net().peer("giro");
    let c = Client::new(&peer.url);
    let op = c.with_token(&peer.admin_token);
    wait_until("giro sees both partners", Duration::from_secs(30), || {
        op.get("/admin/status?flights=0").ok(200)["connected"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    });
    // The sum over the series whose line starts with `prefix` (None when there is none).
    let value = |body: &str, prefix: &str| -> Option<f64> {
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .reduce(|a, b| a + b)
    };
    // Gossipsub grafts its mesh at a heartbeat (0.7 s) after the subscriptions are known.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let m = c.get("/metrics");
        assert_eq!(m.status, 200);
        assert!(
            m.content_type.starts_with("application/openmetrics-text"),
            "{}",
            m.content_type
        );
        if value(&m.body, "libp2p_gossipsub_mesh_peer_counts{").is_some_and(|n| n >= 1.0) {
            break m.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "giro's gossip mesh has no peer after 30 s:\n{}",
            m.body
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        value(&body, "passcom_peers_reachable ").is_some(),
        "a Passcom gauge:\n{body}"
    );
    assert!(
        value(&body, "passcom_http_requests_total{").is_some(),
        "a Passcom counter:\n{body}"
    );
    for name in [
        "libp2p_swarm_connections_established_total{",
        "libp2p_identify_received_total",
        "libp2p_gossipsub_score_per_mesh_bucket{",
        "libp2p_bandwidth_bytes_total{",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(name)),
            "libp2p metric {name} missing:\n{body}"
        );
    }
    assert_eq!(body.matches("# EOF").count(), 1, "one exposition");
    assert!(body.ends_with("# EOF\n"));
}

/// Dial and hang-up refuse what they cannot act on, with a problem saying why, and change
/// nothing (the working scenario runs in `cli/tests/cli.rs` and `net/tests/network.rs`).
#[test]
fn dial_and_hangup_refuse_bad_input() {
    let peer = net().peer("rumos");
    let anon = Client::new(&peer.url);
    let op = anon.with_token(&peer.admin_token);
    anon.post("/admin/dial", &json!({"address": "/ip4/127.0.0.1/tcp/1"}))
        .problem(401);
    anon.post("/admin/hangup", &json!({"peer": "giro"}))
        .problem(401);
    for bad in ["not an address", "/ip4/127.0.0.1", "/tcp/7000", ""] {
        let p = op
            .post("/admin/dial", &json!({"address": bad}))
            .problem(422);
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("/ip4/127.0.0.1/tcp/7001"),
            "{p}"
        );
    }
    let own = op.get("/admin/status?flights=0").ok(200)["listen"][0]
        .as_str()
        .unwrap()
        .to_owned();
    op.post("/admin/dial", &json!({"address": own}))
        .problem(422);
    // Nobody listens on port 1: the dial fails at once, and is not kept.
    let p = op
        .post("/admin/dial", &json!({"address": "/ip4/127.0.0.1/tcp/1"}))
        .problem(502);
    assert!(p["detail"].as_str().unwrap().contains("dial"), "{p}");
    op.post("/admin/dial", &json!({"adress": "typo"}))
        .problem(422);
    let p = op
        .post("/admin/hangup", &json!({"peer": "nobody"}))
        .problem(404);
    assert!(p["detail"].as_str().unwrap().contains("nobody"), "{p}");
    op.post("/admin/hangup", &json!({"peer": "rumos"}))
        .problem(422);
    op.post("/admin/hangup", &json!({"peer": "Not A Name!"}))
        .problem(422);
    op.post("/admin/hangup", &json!({"peer": " "})).problem(422);
    let st = op.get("/admin/status?flights=0").ok(200);
    assert!(st["hung_up"].as_array().unwrap().is_empty(), "{st}");
}

#[test]
fn partition_makes_unreachable_seats_503_then_heal() {
    let boreal = net().peer("boreal");
    let op = Client::new(&boreal.url).with_token(&boreal.admin_token);
    op.post("/admin/partition", &json!({"peers": ["Not A Name"]}))
        .problem(422);
    op.post("/admin/partition", &json!({"peers": ["boreal"]}))
        .problem(422);
    op.post_raw("/admin/partition", b"{\"peers\": [", "application/json")
        .problem(400);
    let st = op
        .post("/admin/partition", &json!({"peers": ["giro"]}))
        .ok(200);
    assert_eq!(st["partitioned"], json!(["giro"]));
    let connected = st["connected"].as_array().unwrap();
    assert!(
        !connected.iter().any(|c| c["airline"] == "giro"),
        "the answer shows the cut: {st}"
    );

    // A seat of a giro flight that giro itself holds cannot be bought at boreal now.
    let c = Client::new(&boreal.url);
    let fan = c.signup("fabio");
    let r = c
        .get(&format!(
            "/api/routes?from=REC&to=SSA&date={}&max_legs=1",
            tomorrow()
        ))
        .ok(200);
    let flight = r["itineraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["legs"][0]["airline"] == "giro")
        .expect("giro flies REC→SSA")["legs"][0]["flight"]
        .as_str()
        .unwrap()
        .to_owned();
    let map = c.get(&format!("/api/flights/{flight}/seats")).ok(200);
    let seat = map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s["status"] == "partner" && s["holder"] == "giro")
        .expect("a seat giro holds")["seat"]
        .clone();
    let body = json!({"passenger": "Fabio", "legs": [{"flight": flight, "seat": seat}]});
    let mut n = 0;
    let mut refusal = json!(null);
    wait_until(
        "boreal notices giro is gone",
        Duration::from_secs(15),
        || {
            n += 1;
            let r = fan.post_with(
                "/api/purchases",
                &body,
                &[("Idempotency-Key", &format!("p{n}"))],
            );
            refusal = r.json();
            r.status == 503
                && r.retry_after.is_some()
                && r.json()["reason"] == "holder_unreachable"
                && r.json()["detail"].as_str().unwrap().contains("retry")
        },
    );
    // Not a dead end: the refusal lists the nearest seats boreal sells itself, and the same
    // purchase with `"seat_fallback": "nearest"` takes the first of them.
    let nearest = refusal["nearest"].as_array().cloned().unwrap_or_default();
    assert!(!nearest.is_empty(), "{refusal}");
    let fallback = json!({"passenger": "Fabio", "legs": [{"flight": flight, "seat": seat}],
        "seat_fallback": "nearest"});
    let t = fan
        .post_with("/api/purchases", &fallback, &[("Idempotency-Key", "fb")])
        .ok(201);
    assert_eq!(t["legs"][0]["seat"], nearest[0], "{t}");
    fan.post_with(
        "/api/purchases",
        &json!({"passenger": "Fabio", "legs": [{"flight": flight}], "seat_fallback": "maybe"}),
        &[("Idempotency-Key", "fb-bad")],
    )
    .problem(422);

    let st = op.post("/admin/heal", &json!({"peers": []})).ok(200);
    assert_eq!(st["partitioned"], json!([]));
    // Healed: the seat moves from giro to boreal and the purchase goes through.
    wait_until(
        "the purchase succeeds after the heal",
        Duration::from_secs(30),
        || {
            n += 1;
            fan.post_with(
                "/api/purchases",
                &body,
                &[("Idempotency-Key", &format!("p{n}"))],
            )
            .status
                == 201
        },
    );
    let op_no_body = Client::new(&boreal.url).with_token(&boreal.admin_token);
    let r = op_no_body.post_raw("/admin/heal", b"", "application/json");
    assert_eq!(r.status, 200, "an empty body heals all: {}", r.body);
}
