//! The HTTP boundary under hostile clients, against real peers (libp2p on 127.0.0.1, demo
//! catalog, the API served by `passcom_http::serve_with` with `ConnectInfo`): oversized and
//! endless bodies, slow clients, password guessing, stolen database files, expired sessions,
//! and travelers reaching for each other's carts, purchases and tickets.

mod common;

use common::{Client, Net, start_peer, wait_until};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A peer with the default settings, shared by the tests that do not change them.
fn default_peer() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(|| start_peer("rumos", |_| {}))
}

/// A raw HTTP/1.1 exchange: writes `head`, then `body` (write errors are ignored: the server
/// may answer and close before reading it all), and reads the answer (at most 15 s).
/// Returns the status, the content type and the body.
fn raw(url: &str, head: &str, body: &[u8]) -> (u16, String, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Reads until the headers and the announced body are in (the server may keep the
    // connection open), or the peer closes, or the read times out.
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some((h, b)) = text.split_once("\r\n\r\n") {
            let len = h
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if b.len() >= len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (h, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = h
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let ctype = h
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, ctype, b.to_owned())
}

/// A rumos flight of the demo catalog that leaves in more than two hours.
fn upcoming_flight(net: &Net) -> String {
    let peer = &net.peers[0];
    let now = peer.handle.now();
    peer.handle.read(|n| {
        n.catalog()
            .flights()
            .filter(|f| f.airline.as_str() == "rumos" && f.departure > now + 2 * 3_600_000)
            .min_by_key(|f| f.departure)
            .expect("an upcoming rumos flight")
            .id
            .to_string()
    })
}

#[test]
fn oversized_bodies_get_413_problems() {
    let net = default_peer();
    let peer = &net.peers[0];
    let c = Client::new(&peer.url);
    let me = c.signup("big-body").token.unwrap();
    let op = peer.admin_token.as_str();
    let huge = vec![b' '; 100 * 1024];
    // With a Content-Length over the limit: refused before the body is read, on every kind
    // of endpoint (public, traveler, operator, optional body). A fresh client each time: the
    // server closes a connection whose body it did not read.
    for (path, token) in [
        ("/api/accounts", None),
        ("/api/sessions", None),
        ("/api/holds", Some(me.as_str())),
        ("/api/purchases", Some(&me)),
        ("/admin/flights", Some(op)),
        ("/admin/partition", Some(op)),
    ] {
        let mut fresh = Client::new(&peer.url);
        fresh.token = token.map(str::to_owned);
        fresh.post_raw(path, &huge, "application/json").problem(413);
    }

    // Without a length (chunked): cut off once 64 KiB have arrived.
    let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
    let body = format!("{}0\r\n\r\n", chunk.repeat(10));
    for path in ["/api/accounts", "/admin/partition"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            peer.admin_token
        );
        let (status, ctype, detail) = raw(&peer.url, &head, body.as_bytes());
        assert_eq!(status, 413, "{path}: {detail}");
        assert_eq!(ctype, "application/problem+json", "{path}");
        assert!(detail.contains("64 KiB"), "{detail}");
    }

    // Just under the limit is read, and judged on its content.
    let long = "x".repeat(60 * 1024);
    c.post(
        "/api/accounts",
        &json!({"name": "under-limit", "password": long}),
    )
    .problem(422);
}

#[test]
fn slow_clients_are_answered_503_not_held_forever() {
    let net = start_peer("rumos", |cfg| cfg.handler_timeout = Duration::from_secs(1));
    let url = &net.peers[0].url;
    // A body announced at 100 bytes of which only one arrives (slowloris).
    let head = "POST /api/accounts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    let start = Instant::now();
    let (status, ctype, body) = raw(url, head, b"{");
    let took = start.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(ctype, "application/problem+json");
    assert!(body.contains("retry"), "{body}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "answered after the 1 s deadline, promptly: {took:?}"
    );
    // Ordinary requests are unaffected.
    let c = Client::new(url);
    assert_eq!(c.get("/api/health").status, 200);
    c.signup("quick");
}

#[test]
fn failed_logins_are_throttled_per_address_and_per_name() {
    let window = Duration::from_secs(10);
    let net = start_peer("rumos", |cfg| {
        cfg.login_limits.per_name = 3;
        cfg.login_limits.per_ip = 5;
        cfg.login_limits.window = window;
    });
    let c = Client::new(&net.peers[0].url);
    let good = json!({"name": "ana", "password": "correct horse battery"});
    let bad = json!({"name": "ana", "password": "wrong password"});
    c.post("/api/accounts", &good).ok(201);
    c.post(
        "/api/accounts",
        &json!({"name": "bia", "password": "correct horse battery"}),
    )
    .ok(201);
    let start = Instant::now();
    for _ in 0..3 {
        c.post("/api/sessions", &bad).problem(401);
    }
    // ana is throttled: a wrong guess and even the right password are refused, with a wait.
    for body in [&bad, &good] {
        let r = c.post("/api/sessions", body);
        let p = r.problem(429);
        assert_eq!(p["type"], "urn:passcom:problem:too-many-requests");
        let wait: u64 = r.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=window.as_secs()).contains(&wait), "Retry-After {wait}");
    }
    // Two more failures from this address, on another name, reach the address limit (5).
    let bia_bad = json!({"name": "bia", "password": "wrong password"});
    c.post("/api/sessions", &bia_bad).problem(401);
    c.post("/api/sessions", &bia_bad).problem(401);
    c.post(
        "/api/sessions",
        &json!({"name": "bia", "password": "correct horse battery"}),
    )
    .problem(429);
    c.post(
        "/api/sessions",
        &json!({"name": "someone-else", "password": "whatever123"}),
    )
    .problem(429);
    assert!(
        start.elapsed() < window,
        "the steps above ran within one window; the machine is too slow for this test"
    );
    // Once the window ends, the right password works again.
    wait_until(
        "the throttling window ends",
        window + Duration::from_secs(10),
        || c.post("/api/sessions", &good).status == 201,
    );
}

#[test]
fn expired_sessions_are_refused_and_purged() {
    let net = start_peer("rumos", |cfg| cfg.session_ttl_ms = 1_500);
    let c = Client::new(&net.peers[0].url);
    let creds = json!({"name": "eva", "password": "correct horse battery"});
    c.post("/api/accounts", &creds).ok(201);
    let login = c.post("/api/sessions", &creds);
    let token = login.ok(201)["token"].as_str().unwrap().to_owned();
    let cookie = login.set_cookie.clone().unwrap();
    assert!(
        cookie.ends_with("Max-Age=1"),
        "the cookie lives as long as the session: {cookie}"
    );
    let eva = c.with_token(&token);
    eva.get("/api/tickets").ok(200);
    let stored = |c: &Client| {
        let m = c.get("/metrics").body;
        m.lines()
            .find_map(|l| l.strip_prefix("passcom_sessions_stored "))
            .map(|v| v.parse::<u64>().unwrap())
            .expect("the sessions gauge")
    };
    assert_eq!(stored(&c), 1);
    wait_until("the session lapses", Duration::from_secs(10), || {
        eva.get("/api/tickets").status == 401
    });
    eva.get("/api/tickets").problem(401);
    assert_eq!(stored(&c), 0, "the lapsed session was purged");
}

#[test]
fn tokens_are_stored_hashed_and_checked_exactly() {
    let net = default_peer();
    let peer = &net.peers[0];
    let c = Client::new(&peer.url);
    let me = c.signup("hashed");
    let token = me.token.clone().unwrap();
    // The database file holds no session token in clear: a copy of it opens no session.
    let file = std::fs::read(peer.data.join("accounts.redb")).unwrap();
    assert!(!file.windows(64).any(|w| w == token.as_bytes()));
    me.get("/api/tickets").ok(200);
    // Near misses of a valid session token are refused.
    let mut flipped = token.clone().into_bytes();
    flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    for t in [&token[..63], &format!("{token}0"), &flipped] {
        c.with_token(t).get("/api/tickets").problem(401);
    }
    // The same for the operator token (compared in constant time).
    let op = &peer.admin_token;
    c.with_token(op).get("/admin/status?flights=0").ok(200);
    let mut wrong = op.clone().into_bytes();
    wrong[0] = if wrong[0] == b'a' { b'b' } else { b'a' };
    for t in [
        String::from_utf8(wrong).unwrap(),
        op[..63].to_owned(),
        format!("{op}0"),
        token.clone(),
    ] {
        c.with_token(&t).get("/admin/status").problem(403);
    }
    // A traveler's session is no operator token, and the operator token no session.
    c.with_token(op).get("/api/tickets").problem(401);
}

#[test]
fn travelers_cannot_reach_each_others_carts_purchases_or_tickets() {
    let net = default_peer();
    let c = Client::new(&net.peers[0].url);
    let ana = c.signup("ana-owner");
    let bia = c.signup("bia-rogue");
    let flight = upcoming_flight(net);
    let legs = json!([{"flight": flight}]);

    // Carts: bia can neither empty nor buy ana's.
    let hold = ana.post("/api/holds", &json!({"legs": legs})).ok(201);
    let hold_id = hold["hold_id"].as_str().unwrap();
    bia.delete(&format!("/api/holds/{hold_id}")).problem(404);
    let steal = json!({"passenger": "Bia", "legs": legs, "hold_id": hold_id});
    let p = bia
        .post_with("/api/purchases", &steal, &[("Idempotency-Key", "steal-1")])
        .problem(404);
    assert_eq!(p["reason"], "unknown_hold");

    // ana buys her cart.
    let buy = json!({"passenger": "Ana", "legs": legs, "hold_id": hold_id});
    let ticket = ana
        .post_with("/api/purchases", &buy, &[("Idempotency-Key", "trip")])
        .ok(201);
    let id = ticket["id"].as_str().unwrap().to_owned();

    // GET /api/purchases/{key} of another account: bia's "trip" is not ana's.
    bia.get("/api/purchases/trip").problem(404);
    assert_eq!(
        ana.get("/api/purchases/trip").ok(200)["ticket"]["id"],
        ticket["id"]
    );
    // The same key sent by bia is a purchase of bia's, never ana's ticket.
    let own = json!({"passenger": "Bia", "legs": legs});
    let r = bia.post_with("/api/purchases", &own, &[("Idempotency-Key", "trip")]);
    if r.status == 201 {
        assert_ne!(r.json()["id"], ticket["id"]);
    }

    // GET /api/tickets lists only one's own.
    let listed = |cl: &Client| -> Vec<String> {
        cl.get("/api/tickets")
            .ok(200)
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed(&ana), vec![id.clone()]);
    assert!(!listed(&bia).contains(&id));

    // DELETE /api/tickets/{id} of another account: unknown to bia, and the ticket stays live.
    bia.delete(&format!("/api/tickets/{id}")).problem(404);
    let still: Value = ana.get("/api/tickets").ok(200);
    assert_eq!(still[0]["status"], "live");

    // Without a session none of it is reachable.
    for path in ["/api/tickets", "/api/purchases/trip"] {
        c.get(path).problem(401);
    }
    c.delete(&format!("/api/tickets/{id}")).problem(401);
    c.delete(&format!("/api/holds/{hold_id}")).problem(401);
}
