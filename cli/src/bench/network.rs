//! Scenarios over real peers: libp2p on loopback, the HTTP API, many concurrent clients.

use super::{Figure, Reference, Scenario, Sizes};
use passcom_crdt::{AirlineId, Flight, FlightId};
use passcom_net::{PeerConfig, PeerHandle};
use passcom_node::demo::DAY_MS;
use passcom_node::{Reply, Request};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A running peer with its HTTP address.
struct Peer {
    handle: PeerHandle,
    http: std::net::SocketAddr,
    listen: String,
}

async fn start_peer(
    dir: &Path,
    airline: &str,
    bootstrap: &[String],
    escrow: f64,
) -> Result<Peer, String> {
    let mut cfg = PeerConfig::new(airline, dir.join(airline));
    cfg.escrow_share = escrow;
    cfg.node.tick_ms = 500;
    cfg.bootstrap = bootstrap.iter().filter_map(|a| a.parse().ok()).collect();
    let handle = passcom_net::start(cfg).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let http = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(passcom_http::serve(
        handle.clone(),
        listener,
        dir.join(airline),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    let listen = loop {
        if let Some(a) = handle.status().listen.first() {
            break format!("{a}/p2p/{}", handle.status().peer_id);
        }
        if Instant::now() > deadline {
            return Err(format!("{airline} did not start listening"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(Peer {
        handle,
        http,
        listen,
    })
}

/// A TCP relay on loopback that forwards each connection to `target` and delays every chunk,
/// in each direction, by `one_way`: a WAN round trip of twice that between two peers on one
/// machine (this kernel has no `netem` qdisc). Runs until the runtime stops.
///
/// Errors: the relay's port could not be bound.
async fn delaying_relay(
    target: std::net::SocketAddr,
    one_way: Duration,
) -> Result<std::net::SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::join!(delayed_copy(ri, wo, one_way), delayed_copy(ro, wi, one_way));
            });
        }
    });
    Ok(addr)
}

/// Copies `from` to `to`, writing each chunk `delay` after it was read, in order: a link of
/// that latency and (nearly) unbounded bandwidth.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx
                .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// The TCP port of a peer's listen multiaddr (`/ip4/127.0.0.1/tcp/PORT/p2p/…`).
fn tcp_port(listen: &str) -> Option<u16> {
    let mut parts = listen.split('/');
    parts.find(|p| *p == "tcp")?;
    parts.next()?.parse().ok()
}

/// Two airlines whose only link is a [`delaying_relay`] of `one_way` each way: the second
/// dials the first through it, and waits until both count the other reachable.
async fn network_over_wan(
    dir: &Path,
    airlines: [&str; 2],
    escrow: f64,
    one_way: Duration,
) -> Result<Vec<Peer>, String> {
    let first = start_peer(dir, airlines[0], &[], escrow).await?;
    let port = tcp_port(&first.listen).ok_or("no TCP port in the first peer's address")?;
    let relay = delaying_relay(std::net::SocketAddr::from(([127, 0, 0, 1], port)), one_way).await?;
    let peer_id = first
        .listen
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let through = format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer_id}", relay.port());
    let second = start_peer(dir, airlines[1], &[through], escrow).await?;
    let peers = vec![first, second];
    wait(
        Duration::from_secs(30),
        "peers to connect over the relay",
        || {
            peers
                .iter()
                .all(|p| p.handle.read(|n| n.reachable().len()) == 1)
        },
    )
    .await?;
    Ok(peers)
}

/// Starts airlines in order, each dialing the ones before it, and waits until all connect.
async fn network(dir: &Path, airlines: &[&str], escrow: f64) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::new();
    for a in airlines {
        let boot: Vec<String> = peers.iter().map(|p| p.listen.clone()).collect();
        peers.push(start_peer(dir, a, &boot, escrow).await?);
    }
    wait(Duration::from_secs(30), "peers to connect", || {
        peers
            .iter()
            .all(|p| p.handle.read(|n| n.reachable().len()) == airlines.len() - 1)
    })
    .await?;
    Ok(peers)
}

async fn wait(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn bench_flights(airline: &str, n: usize, escrow: f64, partners: &[&str]) -> Vec<Flight> {
    let code = &airline[..2].to_uppercase();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    (0..n)
        .map(|i| {
            let dep = now + 2 * DAY_MS + i as i64 * 60_000;
            let (o, d) = match airline {
                "rumos" => ("GRU", "BSB"),
                "giro" => ("BSB", "REC"),
                _ => ("REC", "MAO"),
            };
            let (dep, arr) = match airline {
                "rumos" => (dep, dep + 2 * 3_600_000),
                "giro" => (dep + 3 * 3_600_000, dep + 5 * 3_600_000),
                _ => (dep + 6 * 3_600_000, dep + 9 * 3_600_000),
            };
            let f = Flight {
                arrival: arr,
                rows: 30,
                letters: "ABCDEF".into(),
                fare_cents: 39_900,
                ..passcom_node::fixtures::flight(airline, &format!("{code}B{i:04}"), o, d, dep)
            };
            passcom_node::fixtures::with_escrow(f, escrow, partners)
        })
        .collect()
}

async fn put_flights(peer: &Peer, flights: Vec<Flight>) -> Result<(), String> {
    let airports = passcom_node::demo::demo_airports();
    for req in [Request::PutAirports(airports), Request::PutFlights(flights)] {
        match peer.handle.request(req).await {
            Reply::Done => {}
            other => return Err(format!("catalog refused: {other:?}")),
        }
    }
    Ok(())
}

/// A minimal HTTP/1.1 keep-alive client: enough to drive the API at full speed without
/// pulling a client library into the benchmark's measurements.
struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    async fn connect(addr: std::net::SocketAddr) -> Result<Http, String> {
        let s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Http {
            stream: BufReader::new(s),
        })
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, String), String> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.stream
                .read_line(&mut line)
                .await
                .map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0u8; len];
        self.stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

async fn session(addr: std::net::SocketAddr, name: &str) -> Result<String, String> {
    let mut c = Http::connect(addr).await?;
    let cred = format!(r#"{{"name":"{name}","password":"benchmark password 1"}}"#);
    c.call("POST", "/api/accounts", &[], &cred).await?;
    let (status, body) = c.call("POST", "/api/sessions", &[], &cred).await?;
    if status != 201 && status != 200 {
        return Err(format!("login answered {status}: {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    Ok(v["token"].as_str().ok_or("no token")?.to_owned())
}

/// Runs `total` purchases from `clients` concurrent keep-alive connections; each purchase is
/// the legs `legs(i)`. Returns the latencies, the wall time and how many were confirmed.
async fn hammer(
    addr: std::net::SocketAddr,
    token: &str,
    tag: &str,
    clients: usize,
    total: usize,
    legs: impl Fn(usize) -> String + Send + Sync + 'static,
) -> Result<(Vec<Duration>, Duration, usize), String> {
    let legs = std::sync::Arc::new(legs);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (legs, next, token, tag) =
            (legs.clone(), next.clone(), token.to_owned(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut http = Http::connect(addr).await?;
            let mut lat = Vec::new();
            let mut ok = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = format!(r#"{{"passenger":"Bench {c}","legs":{}}}"#, legs(i));
                let key = format!("{tag}-{i}");
                let auth = format!("Bearer {token}");
                let t = Instant::now();
                let (status, resp) = http
                    .call(
                        "POST",
                        "/api/purchases",
                        &[("Authorization", &auth), ("Idempotency-Key", &key)],
                        &body,
                    )
                    .await?;
                lat.push(t.elapsed());
                ok += usize::from(status == 201 || status == 200);
                if status != 201
                    && status != 200
                    && std::env::var_os("PASSCOM_BENCH_DEBUG").is_some()
                {
                    eprintln!("purchase {i}: {status} {resp}");
                }
            }
            Ok::<_, String>((lat, ok))
        }));
    }
    let mut all = Vec::new();
    let mut ok = 0;
    for t in tasks {
        let (lat, n) = t.await.map_err(|e| e.to_string())??;
        all.extend(lat);
        ok += n;
    }
    Ok((all, started.elapsed(), ok))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// One-leg purchases through HTTP at one peer, seat held locally, many concurrent clients,
/// against a raw redb loop committing the same rows with the same group size.
pub fn http_purchase(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let total = sizes.pick(3_000, 30_000);
    let clients = 64;
    let rt = runtime()?;
    let (mut lat, wall, ok, groups) = rt.block_on(async {
        let peers = network(dir, &["rumos"], 0.0).await?;
        let p = &peers[0];
        let flights = bench_flights("rumos", total / 180 + 1, 0.0, &[]);
        let ids: Vec<String> = flights.iter().map(|f| f.id.to_string()).collect();
        put_flights(p, flights).await?;
        let token = session(p.http, "bench").await?;
        let before = p.handle.read(|n| n.clock().get(&AirlineId::new("rumos")));
        let (lat, wall, ok) = hammer(p.http, &token, "one", clients, total, move |i| {
            format!(r#"[{{"flight":"{}"}}]"#, ids[i / 180])
        })
        .await?;
        let groups = p.handle.read(|n| n.clock().get(&AirlineId::new("rumos"))) - before;
        p.handle.shutdown().await;
        Ok::<_, String>((lat, wall, ok, groups))
    })?;
    if ok != total {
        return Err(format!("only {ok} of {total} purchases confirmed"));
    }
    let measured = Figure::from_latencies(&mut lat, total, wall);
    let group = (total as f64 / groups.max(1) as f64).round().max(1.0) as usize;
    let raw = super::local::raw_redb_loop(dir, total, group)?;
    let ratio = measured.throughput_per_s.unwrap_or(0.0) / raw.throughput_per_s.unwrap_or(1.0);
    // Issue #15's target (the first plan's was 20,000 tickets/s with p99 ≤ 5 ms).
    let met = measured.throughput_per_s.unwrap_or(0.0) >= 10_000.0
        && ratio >= 0.5
        && measured.p99_ms.unwrap_or(f64::MAX) <= 10.0;
    Ok(Scenario {
        description: format!(
            "{total} one-leg purchases through HTTP at one peer, {clients} concurrent clients, durable"
        ),
        measured,
        reference: Some(Reference {
            name: format!("raw redb loop, same rows, groups of {group} (the node's average)"),
            figure: raw,
        }),
        ratio: Some(ratio),
        ratio_of: Some("HTTP throughput / raw redb throughput".into()),
        target: "≥ 10,000 tickets/s, ≥ 50 % of the raw loop, p99 ≤ 10 ms (issue #15)".into(),
        met: Some(met),
        notes: format!("{groups} group commits for {total} tickets"),
    })
}

/// Purchases at a partner (giro) of the operator's (rumos) flights: with escrow shares
/// against escrow share 0, where every sale first asks the owner for the seat.
pub fn partner_purchase(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    partner_scenario(sizes, dir, None)
}

/// The same purchases at a partner with a 20 ms round trip between the two peers (a delaying
/// relay): what escrow is for, since asking the owner now costs a WAN round trip.
pub fn partner_purchase_wan(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    partner_scenario(sizes, dir, Some(Duration::from_millis(10)))
}

/// Purchases of the operator's flights at a partner, escrow 0.2 against escrow 0, over
/// loopback or, with `one_way`, over a relay that delays each direction by it.
fn partner_scenario(
    sizes: Sizes,
    dir: &Path,
    one_way: Option<Duration>,
) -> Result<Scenario, String> {
    let total = sizes.pick(600, 3_000);
    let clients = 16;
    let rt = runtime()?;
    let run = |escrow: f64, sub: &str| -> Result<Figure, String> {
        let dir = dir.join(sub);
        rt.block_on(async {
            let peers = match one_way {
                Some(d) => network_over_wan(&dir, ["rumos", "giro"], escrow, d).await?,
                None => network(&dir, &["rumos", "giro"], escrow).await?,
            };
            // Enough flights that the partner's shares cover the run when escrow is on.
            let per_flight = ((180.0 * escrow).floor() as usize).max(1);
            let n = if escrow > 0.0 {
                total / per_flight + 1
            } else {
                total / 180 + 1
            };
            let flights = bench_flights("rumos", n, escrow, &["giro"]);
            let ids: Vec<String> = flights.iter().map(|f| f.id.to_string()).collect();
            put_flights(&peers[0], flights).await?;
            wait(Duration::from_secs(30), "giro to learn the flights", || {
                peers[1].handle.read(|n| n.catalog().flights().count()) >= ids.len()
            })
            .await?;
            let token = session(peers[1].http, "bench").await?;
            let per = if escrow > 0.0 { per_flight } else { 180 };
            let (mut lat, wall, ok) =
                hammer(peers[1].http, &token, "partner", clients, total, move |i| {
                    format!(r#"[{{"flight":"{}"}}]"#, ids[(i / per).min(ids.len() - 1)])
                })
                .await?;
            for p in &peers {
                p.handle.shutdown().await;
            }
            if ok < total * 9 / 10 {
                return Err(format!(
                    "escrow {escrow}: only {ok} of {total} purchases confirmed"
                ));
            }
            Ok(Figure::from_latencies(&mut lat, total, wall))
        })
    };
    let with = run(0.2, "escrow")?;
    let without = run(0.0, "ask-owner")?;
    let tput = with.throughput_per_s.unwrap_or(0.0) / without.throughput_per_s.unwrap_or(1.0);
    let p50 = without.p50_ms.unwrap_or(0.0) / with.p50_ms.unwrap_or(1.0).max(1e-6);
    let link = match one_way {
        Some(d) => format!(
            ", the peers linked by a relay that delays each direction {} ms (round trip {} ms)",
            d.as_millis(),
            2 * d.as_millis()
        ),
        None => ", on loopback".into(),
    };
    Ok(Scenario {
        description: format!(
            "{total} purchases of the operator's flights at a partner, {clients} clients, escrow share 0.2{link}"
        ),
        measured: with,
        reference: Some(Reference {
            name: "escrow share 0: every sale asks the owner first".into(),
            figure: without,
        }),
        ratio: Some(tput),
        ratio_of: Some(format!(
            "throughput with escrow / without (p50 {p50:.1}× lower)"
        )),
        target: "≥ 5× throughput, ≥ 10× lower p50".into(),
        met: Some(tput >= 5.0 && p50 >= 10.0),
        notes: String::new(),
    })
}

/// A three-leg itinerary of three airlines, against a one-leg purchase, at the same peer.
pub fn three_leg(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let total = sizes.pick(300, 2_000);
    let clients = 8;
    let rt = runtime()?;
    let (one, three) = rt.block_on(async {
        let peers = network(dir, &["rumos", "giro", "boreal"], 0.2).await?;
        let n = total / 36 + 2;
        let partners = ["rumos", "giro", "boreal"];
        let mut ids = Vec::new();
        for (i, a) in partners.iter().enumerate() {
            let others: Vec<&str> = partners.iter().copied().filter(|p| p != a).collect();
            let fs = bench_flights(a, n, 0.2, &others);
            ids.push(fs.iter().map(|f| f.id.to_string()).collect::<Vec<_>>());
            put_flights(&peers[i], fs).await?;
        }
        wait(
            Duration::from_secs(60),
            "every peer to learn every flight",
            || {
                peers
                    .iter()
                    .all(|p| p.handle.read(|n| n.catalog().flights().count()) >= 3 * n)
            },
        )
        .await?;
        let token = session(peers[0].http, "bench").await?;
        // One leg: rumos's own flights (seats held locally by rumos).
        let own = ids[0].clone();
        let (mut l1, w1, _) = hammer(peers[0].http, &token, "one", clients, total, move |i| {
            format!(r#"[{{"flight":"{}"}}]"#, own[i / 100])
        })
        .await?;
        // Three legs: rumos + giro + boreal, giro's and boreal's seats from rumos's escrow.
        let (g, b, r) = (ids[1].clone(), ids[2].clone(), ids[0].clone());
        let (mut l3, w3, ok) = hammer(peers[0].http, &token, "three", clients, total, move |i| {
            let f = i / 36;
            format!(
                r#"[{{"flight":"{}"}},{{"flight":"{}"}},{{"flight":"{}"}}]"#,
                r[n - 1 - f.min(n - 1)],
                g[f],
                b[f]
            )
        })
        .await?;
        for p in &peers {
            p.handle.shutdown().await;
        }
        if ok < total * 9 / 10 {
            return Err(format!("only {ok} of {total} itineraries confirmed"));
        }
        Ok::<_, String>((
            Figure::from_latencies(&mut l1, total, w1),
            Figure::from_latencies(&mut l3, total, w3),
        ))
    })?;
    let ratio = three.p50_ms.unwrap_or(0.0) / one.p50_ms.unwrap_or(1.0).max(1e-6);
    Ok(Scenario {
        description: format!(
            "{total} three-leg itineraries (rumos + giro + boreal) bought at rumos, {clients} clients"
        ),
        measured: three,
        reference: Some(Reference {
            name: "one-leg purchases at the same peer".into(),
            figure: one,
        }),
        ratio: Some(ratio),
        ratio_of: Some("three-leg p50 / one-leg p50".into()),
        target: "same order of latency (one local commit)".into(),
        met: Some(ratio < 10.0),
        notes: String::new(),
    })
}

/// An event published at one peer, seen at the two others, over libp2p on loopback; against
/// a loopback TCP round trip.
pub fn propagation(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let samples = sizes.pick(100, 1_000);
    let rt = runtime()?;
    let (mut lat, rtt) = rt.block_on(async {
        let peers = network(dir, &["rumos", "giro", "boreal"], 0.0).await?;
        put_flights(
            &peers[0],
            bench_flights("rumos", samples / 180 + 1, 0.0, &[]),
        )
        .await?;
        let me = AirlineId::new("rumos");
        let mut lat = Vec::new();
        for i in 0..samples {
            let target = peers[0].handle.read(|n| n.clock().get(&me)) + 1;
            let t = Instant::now();
            let req = Request::Purchase(passcom_node::PurchaseRequest {
                key: format!("p{i}"),
                passenger: "P".into(),
                account: None,
                legs: vec![passcom_node::LegRequest {
                    flight: FlightId::new(format!("RUB{:04}", i / 180)),
                    seat: None,
                }],
                hold_id: None,
                seat_fallback: Default::default(),
            });
            let Reply::Ticket(_) = peers[0].handle.request(req).await else {
                return Err("purchase refused".into());
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if peers[1..]
                    .iter()
                    .all(|p| p.handle.read(|n| n.clock().get(&me)) >= target)
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err("an event did not arrive in 5 s".into());
                }
                tokio::task::yield_now().await;
            }
            lat.push(t.elapsed());
        }
        for p in &peers {
            p.handle.shutdown().await;
        }
        // Reference: a small message there and back over loopback TCP.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut b = [0u8; 64];
                while s.read_exact(&mut b).await.is_ok() {
                    if s.write_all(&b).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut rtt = Vec::new();
        let mut b = [1u8; 64];
        for _ in 0..samples {
            let t = Instant::now();
            s.write_all(&b).await.map_err(|e| e.to_string())?;
            s.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            rtt.push(t.elapsed());
        }
        Ok::<_, String>((lat, rtt))
    })?;
    let n = lat.len();
    let measured = Figure::from_latencies(&mut lat, n, Duration::from_secs(1));
    let mut rtt = rtt;
    let reference = Figure::from_latencies(&mut rtt, n, Duration::from_secs(1));
    let ratio = measured.p50_ms.unwrap_or(0.0) / reference.p50_ms.unwrap_or(1.0).max(1e-6);
    // Issue #15's target (the first plan's was p50 ≤ 5 ms, p99 ≤ 25 ms).
    let met =
        measured.p50_ms.unwrap_or(f64::MAX) <= 1.0 && measured.p99_ms.unwrap_or(f64::MAX) <= 5.0;
    Ok(Scenario {
        description: format!(
            "{n} purchases at rumos, each timed until both other peers applied its event"
        ),
        measured: Figure {
            throughput_per_s: None,
            ..measured
        },
        reference: Some(Reference {
            name: "loopback TCP round trip, 64 bytes".into(),
            figure: Figure {
                throughput_per_s: None,
                ..reference
            },
        }),
        ratio: Some(ratio),
        ratio_of: Some("event p50 / loopback round-trip p50".into()),
        target: "p50 ≤ 1 ms, p99 ≤ 5 ms".into(),
        met: Some(met),
        notes: "includes the purchase's own commit at rumos".into(),
    })
}

/// A peer that missed N events catches up from a real partner: two `passcom_net` peers on
/// loopback (TCP, noise, yamux, CBOR request-response), every signature verified, next to
/// the time loopback TCP takes to carry the same CBOR bytes.
pub fn catch_up_network(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let n_events = sizes.pick(20_000usize, 100_000);
    let rt = runtime()?;
    let me = AirlineId::new("rumos");
    let flights = bench_flights("rumos", n_events.div_ceil(180), 0.0, &[]);
    // rumos starts alone, takes its catalog and stops.
    let base = rt.block_on(async {
        let p = start_peer(dir, "rumos", &[], 0.0).await?;
        put_flights(&p, flights.clone()).await?;
        let base = p.handle.read(|n| n.clock().get(&me));
        p.handle.shutdown().await;
        Ok::<_, String>(base)
    })?;
    // Its history grows by N sales signed with its identity key, written straight to its store.
    let rumos_dir = dir.join("rumos");
    let (_, secret) =
        passcom_net::identity::load_or_create(&rumos_dir).map_err(|e| e.to_string())?;
    let mut store =
        passcom_node::Store::open(&rumos_dir.join("passcom.redb")).map_err(|e| e.to_string())?;
    let last =
        passcom_node::demo::append_sales(&mut store, &me, &secret, &flights, base, n_events)?;
    // The bytes the wire carries for those events: their CBOR, in the wire's chunks.
    let events = store
        .events(&me, base + 1, last, usize::MAX)
        .map_err(|e| e.to_string())?;
    let wire_bytes: usize = passcom_net::wire::chunk(passcom_node::Message::Page {
        events,
        more: false,
        nonce: 0,
        asker_seq: 0,
        presence: passcom_node::Presence::default(),
    })
    .iter()
    .map(|m| passcom_net::wire::encode(m).map(|b| b.len()).unwrap_or(0))
    .sum();
    drop(store);
    // rumos restarts; giro starts empty, dials it and catches up.
    let (took, connected, cpu) = rt.block_on(async {
        let rumos = start_peer(dir, "rumos", &[], 0.0).await?;
        let target = rumos.handle.read(|n| n.clock().get(&me));
        let cpu = super::cpu_seconds();
        let t = Instant::now();
        let giro = start_peer(dir, "giro", std::slice::from_ref(&rumos.listen), 0.0).await?;
        let mut connected = None;
        wait(Duration::from_secs(300), "giro to catch up", || {
            if connected.is_none() && giro.handle.read(|n| n.reachable().contains(&me)) {
                connected = Some(t.elapsed());
            }
            giro.handle.read(|n| n.clock().get(&me)) >= target
        })
        .await?;
        let took = t.elapsed();
        let cpu = super::cpu_seconds() - cpu;
        giro.handle.shutdown().await;
        rumos.handle.shutdown().await;
        Ok::<_, String>((took, connected.unwrap_or(took), cpu))
    })?;
    let bw = super::local::loopback_bandwidth();
    let wire_s = wire_bytes as f64 / bw;
    let secs = took.as_secs_f64();
    Ok(Scenario {
        description: format!(
            "a peer started empty catches up {n_events} missed events from a real partner over libp2p on loopback (signed, verified)"
        ),
        measured: Figure::value(secs, "s"),
        reference: Some(Reference {
            name: format!(
                "the same {:.1} MB of CBOR over loopback TCP at {:.0} MB/s",
                wire_bytes as f64 / 1e6,
                bw / 1e6
            ),
            figure: Figure::value(wire_s, "s"),
        }),
        ratio: Some(wire_s / secs),
        ratio_of: Some("loopback transfer time / catch-up time".into()),
        target: "≤ 2 s for 100,000 events".into(),
        met: Some(secs <= 2.0).filter(|_| !sizes.quick),
        notes: format!(
            "timed from giro's start: connected and identified after {:.0} ms; {cpu:.2} s of CPU (both peers, every thread)",
            connected.as_secs_f64() * 1e3
        ),
    })
}
