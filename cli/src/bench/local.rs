//! Scenarios that run the node in-process: group-commit purchases against a raw redb loop,
//! route search on a synthetic catalog, a peer with a million seat tokens, and catch-up.

use super::{Figure, Reference, Scenario, Sizes};
use passcom_crdt::{AirlineId, Flight, FlightId, SeatId, TicketId, Token, TokenState};
use passcom_node::cluster::Cluster;
use passcom_node::demo::{DAY_MS, synthetic_catalog};
use passcom_node::fixtures::{self, T0};
use passcom_node::routes::{RouteIndex, RouteQuery};
use passcom_node::*;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The benchmark's flights: 30 rows of six seats from SSA to BSB a month ahead, departures a
/// minute apart, repeating every thousand flights.
fn flight(airline: &str, i: usize) -> Flight {
    let id = format!("{}{i:05}", &airline[..2].to_uppercase());
    let departure = T0 + 30 * DAY_MS + (i as i64 % 1000) * 60_000;
    Flight {
        rows: 30,
        letters: "ABCDEF".into(),
        fare_cents: 49_900,
        ..fixtures::flight(airline, &id, "SSA", "BSB", departure)
    }
}

fn open_node(cfg: Config, path: &Path) -> Result<Node, String> {
    let store = Store::open(path).map_err(|e| e.to_string())?;
    Node::open(cfg, store, T0)
        .map(|(n, _)| n)
        .map_err(|e| e.to_string())
}

fn ask(node: &mut Node, req: Request) -> Reply {
    let out = node.handle(Input::Request(0, req), T0);
    out.into_iter()
        .find_map(|o| {
            if let Output::Reply(_, r) = o {
                Some(r)
            } else {
                None
            }
        })
        .unwrap_or(Reply::Done)
}

fn put_catalog(node: &mut Node, airline: &str, flights: usize) -> Result<Vec<Flight>, String> {
    let airports = passcom_node::demo::demo_airports();
    if ask(node, Request::PutAirports(airports)) != Reply::Done {
        return Err("airports refused".into());
    }
    let fs: Vec<Flight> = (0..flights).map(|i| flight(airline, i)).collect();
    for chunk in fs.chunks(1000) {
        match ask(node, Request::PutFlights(chunk.to_vec())) {
            Reply::Done => {}
            other => return Err(format!("flights refused: {other:?}")),
        }
    }
    Ok(fs)
}

/// Purchases committed by the node in groups, against a raw redb loop writing the same records
/// with the same grouping on the same disk.
pub fn purchase_vs_raw_redb(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let total = sizes.pick(4_096, 32_768);
    let group = 64;
    let mut node = open_node(Config::new("rumos"), &dir.join("node.redb"))?;
    put_catalog(&mut node, "rumos", total / 180 + 1)?;
    let flights: Vec<FlightId> = (0..total / 180 + 1)
        .map(|i| flight("rumos", i).id)
        .collect();
    let mut lat = Vec::new();
    let started = Instant::now();
    for g in 0..total / group {
        let inputs = (0..group)
            .map(|j| {
                let n = g * group + j;
                Input::Request(
                    n as u64,
                    Request::Purchase(PurchaseRequest {
                        key: format!("k{n}"),
                        passenger: "Bench Traveler".into(),
                        account: Some("bench".into()),
                        legs: vec![LegRequest {
                            flight: flights[n / 180].clone(),
                            seat: None,
                        }],
                        hold_id: None,
                        seat_fallback: Default::default(),
                    }),
                )
            })
            .collect();
        let t = Instant::now();
        let out = node.handle_batch(inputs, T0);
        let took = t.elapsed();
        let sold = out
            .iter()
            .filter(|o| matches!(o, Output::Reply(_, Reply::Ticket(_))))
            .count();
        if sold != group {
            return Err(format!("expected {group} tickets in a group, got {sold}"));
        }
        lat.extend(std::iter::repeat_n(took, group));
    }
    let measured = Figure::from_latencies(&mut lat, total, started.elapsed());

    let raw = raw_redb_loop(dir, total, group)?;
    let ratio = measured.throughput_per_s.unwrap_or(0.0) / raw.throughput_per_s.unwrap_or(1.0);
    Ok(Scenario {
        description: format!(
            "{total} one-leg purchases decided and committed by the node in groups of {group} (in-process, durable)"
        ),
        measured,
        reference: Some(Reference {
            name: "raw redb loop, same rows, same groups".into(),
            figure: raw,
        }),
        ratio: Some(ratio),
        ratio_of: Some("node throughput / raw redb throughput".into()),
        target: "≥ 50 % of the raw loop".into(),
        met: Some(ratio >= 0.5),
        notes: "group latency counts for every purchase of the group".into(),
    })
}

/// The reference for purchase throughput: the rows a sale writes (token, ticket, purchase
/// record, and one event per group), encoded the same way, one redb write transaction per group
/// of `group`, on the disk of `dir`.
pub fn raw_redb_loop(dir: &Path, total: usize, group: usize) -> Result<Figure, String> {
    let flights: Vec<FlightId> = (0..total / 180 + 1)
        .map(|i| flight("rumos", i).id)
        .collect();
    let db = redb::Database::create(dir.join("raw.redb")).map_err(|e| e.to_string())?;
    const TOKENS: redb::TableDefinition<(&str, &str), &[u8]> = redb::TableDefinition::new("tokens");
    const TICKETS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("tickets");
    const OPS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("operations");
    const EVENTS: redb::TableDefinition<(&str, u64), &[u8]> = redb::TableDefinition::new("events");
    let mut raw_lat = Vec::new();
    let started = Instant::now();
    for g in 0..total.div_ceil(group) {
        let t = Instant::now();
        let tx = db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut tokens = tx.open_table(TOKENS).map_err(|e| e.to_string())?;
            let mut tickets = tx.open_table(TICKETS).map_err(|e| e.to_string())?;
            let mut ops = tx.open_table(OPS).map_err(|e| e.to_string())?;
            let mut events = tx.open_table(EVENTS).map_err(|e| e.to_string())?;
            let mut ev_tokens = Vec::new();
            let mut ev_tickets = Vec::new();
            for j in 0..group {
                let n = g * group + j;
                if n >= total {
                    break;
                }
                let id = TicketId::new(format!("rumos-{g}-{j}"));
                let seat = format!(
                    "{}{}",
                    n % 180 / 6 + 1,
                    ["A", "B", "C", "D", "E", "F"][n % 6]
                );
                let token = Token {
                    version: 1,
                    state: TokenState::Sold {
                        seller: AirlineId::new("rumos"),
                        ticket: id.clone(),
                    },
                };
                let ticket = Ticket {
                    id: id.clone(),
                    passenger: "Bench Traveler".into(),
                    account: Some("bench".into()),
                    legs: vec![TicketLeg {
                        flight: flights[n / 180].clone(),
                        seat: seat.clone(),
                        fare_cents: 49_900,
                    }],
                    price_cents: 49_900,
                    seller: AirlineId::new("rumos"),
                    created_at: T0,
                    status: TicketStatus::Live,
                    key: None,
                };
                let tb = postcard::to_stdvec(&token).expect("encodes");
                tokens
                    .insert((flights[n / 180].as_str(), seat.as_str()), tb.as_slice())
                    .map_err(|e| e.to_string())?;
                let kb = postcard::to_stdvec(&ticket).expect("encodes");
                tickets
                    .insert(id.as_str(), kb.as_slice())
                    .map_err(|e| e.to_string())?;
                let ob = postcard::to_stdvec(&Operation::Confirmed(id.clone())).expect("encodes");
                ops.insert(format!("k{n}").as_str(), ob.as_slice())
                    .map_err(|e| e.to_string())?;
                ev_tokens.push(TokenUpdate {
                    seat: SeatId::new(flights[n / 180].clone(), seat),
                    prev: Token::initial(AirlineId::new("rumos")),
                    next: token,
                });
                ev_tickets.push(ticket);
            }
            let ev = Event {
                origin: AirlineId::new("rumos"),
                seq: g as u64 + 1,
                tokens: ev_tokens,
                tickets: ev_tickets,
                catalog: vec![],
                signature: vec![],
            };
            let eb = postcard::to_stdvec(&ev).expect("encodes");
            events
                .insert(("rumos", g as u64 + 1), eb.as_slice())
                .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        raw_lat.extend(std::iter::repeat_n(t.elapsed(), group));
    }
    Ok(Figure::from_latencies(
        &mut raw_lat,
        total,
        started.elapsed(),
    ))
}

/// Route search on a synthetic catalog of 1,000 airports and 50,000 flights.
pub fn route_search(sizes: Sizes, _dir: &Path) -> Result<Scenario, String> {
    let day0 = T0 - T0 % DAY_MS;
    let (airports, flights) = synthetic_catalog(42, 1_000, 50_000, day0, 7);
    let t = Instant::now();
    let index = RouteIndex::build(&flights);
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let queries = sizes.pick(300, 3_000);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut lat = Vec::with_capacity(queries);
    let mut found = 0usize;
    let started = Instant::now();
    for _ in 0..queries {
        let a = &airports[rng.random_range(0..airports.len())].iata;
        let b = &airports[rng.random_range(0..airports.len())].iata;
        let day = day0 + rng.random_range(0..7) * DAY_MS;
        let q = RouteQuery::day(a.clone(), b.clone(), day);
        let t = Instant::now();
        found += index.search(&q).len();
        lat.push(t.elapsed());
    }
    let measured = Figure::from_latencies(&mut lat, queries, started.elapsed());
    let met = measured.p99_ms.map(|p| p <= 10.0);
    Ok(Scenario {
        description: format!(
            "{queries} searches of ≤ 3 legs between random airports, 1,000 airports / 50,000 flights"
        ),
        measured,
        reference: None,
        ratio: None,
        ratio_of: None,
        target: "p99 ≤ 10 ms".into(),
        met,
        notes: format!("index built in {build_ms:.0} ms; {found} itineraries found in all"),
    })
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Child process: opens the peer in `dir`, serves one seat map and one purchase, prints JSON.
pub fn child_open(dir: &Path) -> Result<ExitCode, String> {
    let airline = std::fs::read_to_string(dir.join("airline")).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut node = open_node(Config::new(airline.trim()), &dir.join("node.redb"))?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let f = node
        .catalog()
        .flights()
        .next()
        .cloned()
        .ok_or("no flight")?;
    let counts = node.seat_counts(&f, T0);
    let reply = ask(
        &mut node,
        Request::Purchase(PurchaseRequest {
            key: "child".into(),
            passenger: "P".into(),
            account: None,
            legs: vec![LegRequest {
                flight: f.id.clone(),
                seat: None,
            }],
            hold_id: None,
            seat_fallback: Default::default(),
        }),
    );
    let serve_ms = t.elapsed().as_secs_f64() * 1e3;
    let tokens = node.changed_tokens().len();
    println!(
        "{}",
        serde_json::json!({
            "open_ms": open_ms, "serve_ms": serve_ms, "rss_mb": rss_kb("VmHWM:") as f64 / 1024.0,
            "sold": matches!(reply, Reply::Ticket(_)), "here": counts.here, "changed_tokens": tokens,
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn run_child(dir: &Path) -> Result<serde_json::Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .args(["bench", "--child-open"])
        .arg(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// A peer holding a million seat tokens: open time, first answer, memory. Measured twice: with
/// every token at its initial holder (stored as nothing) and with every token changed (stored).
pub fn million_tokens(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let seats = sizes.pick(200_000usize, 1_000_000);
    let nflights = seats.div_ceil(180);
    std::fs::write(dir.join("airline"), "rumos").map_err(|e| e.to_string())?;
    let mut node = open_node(Config::new("rumos"), &dir.join("node.redb"))?;
    let flights = put_catalog(&mut node, "rumos", nflights)?;
    drop(node);
    let initial = run_child(dir)?;
    // Now every token changed: handed to a partner and back would be two writes; one write
    // (a hold that lapsed long ago) is enough to make each token a stored row. The node's bulk
    // loader writes it before the child opens the store.
    let mut store = Store::open(&dir.join("node.redb")).map_err(|e| e.to_string())?;
    passcom_node::demo::store_lapsed_holds(&mut store, &AirlineId::new("rumos"), &flights)?;
    drop(store);
    let changed = run_child(dir)?;
    let get = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let (rss, open, serve) = (
        get(&initial, "rss_mb"),
        get(&initial, "open_ms"),
        get(&initial, "serve_ms"),
    );
    Ok(Scenario {
        description: format!(
            "a peer holding {seats} seat tokens of {nflights} flights (its own, never moved), opened from its redb file"
        ),
        measured: Figure {
            value: Some(rss),
            unit: Some("MB peak RSS".into()),
            ..Figure::default()
        },
        reference: Some(Reference {
            name: "the same peer after every one of those tokens changed once (all stored)".into(),
            figure: Figure::value(get(&changed, "rss_mb"), "MB peak RSS"),
        }),
        ratio: None,
        ratio_of: None,
        target: "≤ 150 MB RSS, open and serving ≤ 1 s".into(),
        met: Some(rss <= 150.0 && serve <= 1_000.0).filter(|_| !sizes.quick),
        notes: format!(
            "held: open {open:.0} ms, first purchase answered at {serve:.0} ms; all changed: open {:.0} ms, served at {:.0} ms",
            get(&changed, "open_ms"),
            get(&changed, "serve_ms")
        ),
    })
}

/// Loopback TCP bandwidth in bytes/s: one thread writes 128 MiB, another reads it.
pub(super) fn loopback_bandwidth() -> f64 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let total: usize = 128 << 20;
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < total {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    });
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let buf = vec![7u8; 1 << 16];
    let t = Instant::now();
    for _ in 0..total / buf.len() {
        s.write_all(&buf).expect("write");
    }
    drop(s);
    reader.join().expect("reader");
    total as f64 / t.elapsed().as_secs_f64()
}

/// A peer that missed N events catches up through the vector-clock exchange (in-process
/// delivery: the node's work and the bytes, without the transport).
pub fn catch_up(sizes: Sizes, dir: &Path) -> Result<Scenario, String> {
    let n_events = sizes.pick(20_000usize, 100_000);
    let key = [9u8; 32];
    let mut cfg = Config::new("rumos");
    cfg.signing_key = Some(key);
    let mut rumos = open_node(cfg.clone(), &dir.join("rumos.redb"))?;
    let flights = put_catalog(&mut rumos, "rumos", n_events.div_ceil(180))?;
    let me = AirlineId::new("rumos");
    let base = rumos.clock().get(&me);
    drop(rumos);
    // Append N signed events, each the sale of one seat, straight into rumos's store.
    let mut store = Store::open(&dir.join("rumos.redb")).map_err(|e| e.to_string())?;
    passcom_node::demo::append_sales(&mut store, &me, &key, &flights, base, n_events)?;
    drop(store);
    let rumos = open_node(cfg, &dir.join("rumos.redb"))?;
    let mut gcfg = Config::new("giro");
    gcfg.require_signatures = true;
    gcfg.roster.insert(me.clone(), public_key(&key));
    let giro = open_node(gcfg, &dir.join("giro.redb"))?;
    let target = rumos.clock().clone();
    // The two nodes joined by the in-process network the node tests use; a rejection is not
    // this benchmark's business (the tests catch those), so it is kept, not fatal.
    let mut net = Cluster::on_disk(dir.to_path_buf(), &[]);
    net.strict = false;
    net.nodes.insert(me.clone(), rumos);
    net.nodes.insert(AirlineId::new("giro"), giro);
    let mut bytes = 0usize;
    let mut messages = 0usize;
    // Only the nodes' work is timed: counting the bytes (encoding every message) is not.
    let mut took = Duration::ZERO;
    let cpu = super::cpu_seconds();
    let t = Instant::now();
    net.input(&AirlineId::new("giro"), Input::Connected(me.clone()));
    took += t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while let Some(env) = net.queue.front() {
        if Instant::now() > deadline {
            return Err("catch-up did not finish in 300 s".into());
        }
        bytes += postcard::to_stdvec(&env.msg).map(|v| v.len()).unwrap_or(0);
        messages += 1;
        let t = Instant::now();
        net.step();
        took += t.elapsed();
    }
    let cpu = super::cpu_seconds() - cpu;
    let giro = net.node("giro");
    if giro.clock() != &target {
        return Err(format!(
            "giro stopped at {:?}, rumos is at {:?}",
            giro.clock(),
            target
        ));
    }
    let bw = loopback_bandwidth();
    let wire_s = bytes as f64 / bw;
    let secs = took.as_secs_f64();
    Ok(Scenario {
        description: format!(
            "a peer that missed {n_events} events catches up from one that has them (signed, verified)"
        ),
        measured: Figure::value(secs, "s"),
        reference: Some(Reference {
            name: format!(
                "{:.1} MB over loopback at {:.0} MB/s",
                bytes as f64 / 1e6,
                bw / 1e6
            ),
            figure: Figure::value(wire_s, "s"),
        }),
        ratio: Some(wire_s / secs),
        ratio_of: Some("loopback transfer time / catch-up time".into()),
        target: "≤ 1 s for 100,000 events".into(),
        met: Some(secs <= 1.0).filter(|_| !sizes.quick),
        notes: format!(
            "{messages} messages; in-process delivery, so this is the nodes' work plus the bytes; {cpu:.2} s of CPU (both nodes, every thread)"
        ),
    })
}

/// The ed25519 public key of a secret key, through libp2p so that the bench needs no direct
/// dependency on the crypto crate.
fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    let kp = libp2p::identity::Keypair::ed25519_from_bytes(*secret).expect("32-byte key");
    let pk = kp.public().try_into_ed25519().expect("ed25519");
    pk.to_bytes()
}

/// The simulator's speed: three-peer schedules of 2,000 steps on every core.
pub fn simulator(sizes: Sizes, _dir: &Path) -> Result<Scenario, String> {
    use passcom_simulations::{SimOptions, report::default_threads, report::run_many};
    let schedules = sizes.pick(100u64, 1_000);
    let opts = SimOptions::default();
    let started = Instant::now();
    let outcomes = run_many(&opts, 1, schedules, default_threads(), false, &|_| {});
    let secs = started.elapsed().as_secs_f64();
    let violations = outcomes.iter().filter(|o| o.violation.is_some()).count();
    if violations > 0 {
        return Err(format!("{violations} schedules found a violation"));
    }
    let per_1000 = secs * 1_000.0 / schedules as f64;
    Ok(Scenario {
        description: format!(
            "{schedules} three-peer schedules of 2,000 steps, seeds from 1, every core"
        ),
        measured: Figure {
            value: Some(secs),
            unit: Some("s".into()),
            ..Figure::default()
        },
        reference: None,
        ratio: None,
        ratio_of: None,
        target: "1,000 schedules ≤ 30 s".into(),
        met: Some(per_1000 <= 30.0),
        notes: format!("{per_1000:.1} s per 1,000 schedules; 0 violations"),
    })
}
