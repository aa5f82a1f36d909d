//! `passcom bench`: every figure next to its reference, measured in the same run.
//!
//! Each scenario returns a [`Scenario`]: what was measured, the reference it is compared with,
//! the ratio, and the target from the benchmark issue. Nothing here asserts speed; the output
//! is the report (BENCHMARKS.md is regenerated from a full run).

mod local;
mod network;
mod replication;

use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `passcom bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Smaller runs (the whole bench in under 3 minutes), for CI.
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of every ratio to this file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write the report as Markdown to this file (BENCHMARKS.md is made this way).
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// Run only the scenarios whose name contains this text.
    #[arg(long)]
    pub only: Option<String>,
    /// Internal: open the peer in DIR, print its open time and memory, exit.
    #[arg(long, hide = true, value_name = "DIR")]
    pub child_open: Option<PathBuf>,
}

/// A measured figure: a rate, latency percentiles, or a single value with its unit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figure {
    /// Operations per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_per_s: Option<f64>,
    /// Median latency in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 99th-percentile latency in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// A single value (time, memory, bytes), with `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Unit of `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Figure {
    /// A figure from per-operation latencies over a run that took `wall`.
    pub fn from_latencies(lat: &mut [Duration], ops: usize, wall: Duration) -> Figure {
        lat.sort_unstable();
        let pct = |p: f64| {
            if lat.is_empty() {
                return None;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            Some(lat[i].as_secs_f64() * 1e3)
        };
        Figure {
            throughput_per_s: Some(ops as f64 / wall.as_secs_f64().max(1e-9)),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            ..Figure::default()
        }
    }

    /// A single value.
    pub fn value(v: f64, unit: &str) -> Figure {
        Figure {
            value: Some(v),
            unit: Some(unit.to_owned()),
            ..Figure::default()
        }
    }
}

/// One scenario's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    /// What was measured.
    pub description: String,
    /// The measurement.
    pub measured: Figure,
    /// What it is compared with, measured in the same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// measured / reference, in the sense that makes "higher is better" (see `ratio_of`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// What the ratio is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_of: Option<String>,
    /// The target from the benchmark issue.
    pub target: String,
    /// Whether the target was met, when it can be judged from the figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    /// What limits the figure, or how it was measured.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

/// A reference measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    /// What the reference is.
    pub name: String,
    /// Its figure.
    pub figure: Figure,
}

/// Sizes of a run: quick for CI, full for BENCHMARKS.md.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Whether this is the quick run.
    pub quick: bool,
}

impl Sizes {
    /// `full` when a full run, else `quick`.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// CPU time this process has used so far (user + system, all threads), in seconds. Printed
/// beside wall-clock figures: on a machine shared with other work the wall clock counts their
/// time too, the CPU time does not.
pub fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, after the command name in parentheses, are utime
    // and stime in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Measures the time of one small write + fsync on the disk of `dir`, median of 50.
pub fn fsync_ms(dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut times = Vec::new();
    for i in 0..50u32 {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("probe file");
        let t = Instant::now();
        f.write_all(&i.to_le_bytes()).expect("probe write");
        f.sync_all().expect("probe fsync");
        times.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64() * 1e3
}

type Runner = fn(Sizes, &std::path::Path) -> Result<Scenario, String>;

fn scenarios() -> Vec<(&'static str, Runner)> {
    vec![
        ("http_purchase", network::http_purchase),
        ("partner_purchase", network::partner_purchase),
        ("partner_purchase_wan", network::partner_purchase_wan),
        ("three_leg", network::three_leg),
        ("propagation", network::propagation),
        ("local_purchase", local::purchase_vs_raw_redb),
        ("route_search", local::route_search),
        ("million_tokens", local::million_tokens),
        ("catch_up", local::catch_up),
        ("catch_up_network", network::catch_up_network),
        ("simulator", local::simulator),
        ("replication", replication::replication),
    ]
}

/// Runs the benchmark and prints the report.
pub fn run(args: BenchArgs) -> Result<ExitCode, String> {
    if let Some(dir) = args.child_open {
        return local::child_open(&dir);
    }
    let sizes = Sizes { quick: args.quick };
    let work = tempfile::Builder::new()
        .prefix("passcom-bench")
        .tempdir_in(".")
        .map_err(|e| e.to_string())?;
    let fsync = fsync_ms(work.path());
    let chosen: Vec<_> = scenarios()
        .into_iter()
        .filter(|(n, _)| args.only.as_deref().is_none_or(|o| n.contains(o)))
        .collect();
    let bar = if args.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(chosen.len() as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let mut results = serde_json::Map::new();
    for (name, runner) in chosen {
        bar.set_message(name);
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let scenario = runner(sizes, &dir).map_err(|e| format!("scenario {name}: {e}"))?;
        let _ = std::fs::remove_dir_all(&dir);
        if !args.json {
            bar.suspend(|| print_scenario(name, &scenario, started.elapsed()));
        }
        results.insert(
            name.to_owned(),
            serde_json::to_value(&scenario).expect("serializable"),
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = serde_json::json!({
        "quick": args.quick,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "fsync_ms": fsync },
        "scenarios": results,
    });
    if let Some(path) = &args.plot {
        plot(path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        let md = markdown(&report, &args);
        std::fs::write(path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializable")
        );
    } else {
        println!(
            "machine: {} cores, fsync {fsync:.2} ms",
            report["machine"]["cores"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What limits each scenario's figure, from profiling it (perf record -g on the release build).
fn limits(name: &str) -> &'static str {
    match name {
        "http_purchase" => {
            "Two cores carry the HTTP parsing, JSON, session checks, the node and the fsync. \
             The node commits whatever requests are queued when it turns (group commit), so the \
             group size is what the HTTP side delivers between two commits; with 64 clients on \
             2 cores that is about a dozen, and the throughput equals the raw redb loop's at \
             that group size when the disk is slow (fsync-bound) and falls below it when the \
             disk is fast (CPU-bound: allocation ~20 %, seat-label formatting ~5 %, no single \
             hot spot; glibc malloc and free are about a fifth of all samples, the kernel's \
             scheduling and TCP about a third). Every read of the node by a handler went \
             through tokio's block_in_place, a thread hand-over per call; it now takes a free \
             lock at once (paired runs beside two fuzzers: 6,767/s against 6,325/s on \
             average). The driver's own hand-over per batch costs nothing measurable (a direct \
             call gave the same figures). Next steps: fewer allocations per request in the API \
             and the node, fewer wake-ups between the HTTP tasks and the driver."
        }
        "partner_purchase" => {
            "With escrow the partner sells from its own pool with one local commit; without it \
             every sale waits for a grant from the owner (a request-response round trip plus \
             the owner's commit and the partner's receipt commit). On loopback with a fast disk \
             that round trip is only a few ms, so the ratio is modest here; it grows with real \
             network latency, and escrow keeps selling when the owner is unreachable (see the \
             simulations' availability while partitioned)."
        }
        "partner_purchase_wan" => {
            "The same two runs with a 20 ms round trip between the peers, from a TCP relay the \
             benchmark starts (each chunk written 10 ms after it is read, both ways; this \
             kernel has no netem). With escrow a sale never crosses the link, so its latency is \
             the loopback figure; without it every sale waits at least one WAN round trip for \
             its grant, and 16 clients can keep only 16 such round trips in flight."
        }
        "three_leg" => {
            "A three-airline itinerary is still one local commit over tokens the seller holds: \
             its latency is the one-leg latency plus the work of three legs."
        }
        "propagation" => {
            "Includes the purchase's own durable commit at the origin, the gossip hop and the \
             receivers' signature check and commit; gossipsub's heartbeat does not delay \
             publishing to mesh peers."
        }
        "local_purchase" => {
            "The node's own work per sale (seat picking, token and ticket writes, the event) on \
             top of the same redb rows. Seat picking walks the flight's seats by index and \
             builds a label only for the seat it takes; the commit (redb and its fsync) is \
             now the larger part, then picking (parsing the labels of the flight's changed \
             seats) and the sale's allocations."
        }
        "million_tokens" => {
            "A token that never changed costs nothing (it is derived from the flight record), \
             so a peer holding a million seats opens in the time to load its catalog. Changed \
             tokens are kept in memory as well as on disk: about 400 bytes each with their keys, \
             which is what the all-changed figure shows; reading them from redb on demand would \
             bound memory by a cache."
        }
        "catch_up" => {
            "Profiled with perf (20,000 events): about half of the nodes' CPU is ed25519 \
             verification, now batched (groups of 128 in one multi-scalar multiplication, \
             about twice as fast per signature as one by one, spread over both cores); a \
             quarter is the asker's redb commit of a page (events, tokens, tickets, each \
             encoded by postcard); the rest is decoding the responder's pages from redb, \
             cloning and applying events, and allocation. Next steps: one multi-scalar \
             term per origin key instead of one per signature (a page's events share their \
             origin's key), and moving events instead of cloning them into the commit."
        }
        "catch_up_network" => {
            "The in-process work plus CBOR encoding at the responder and decoding at the \
             asker, noise and yamux: the bytes themselves take milliseconds on loopback. A \
             page is requested only after the previous one is applied and committed, so the \
             responder's page building and the asker's verification do not overlap yet \
             (pipelining would ask for the next page before applying this one)."
        }
        "route_search" => "Pruned depth-first search over departure-sorted flights per airport.",
        "simulator" => {
            "About three quarters of the time is inside `Node::handle_batch`: redb commits on the \
             in-memory backend and Automerge catalog work; schedules run in parallel on every \
             core, each on one thread."
        }
        "replication" => {
            "Every peer probes every connected partner each tick and answers each probe with a \
             page, and every event is published to every peer, so the simulated network's \
             messages grow with the square of its size; at 50 peers the 2,000 steps are mostly \
             spent delivering them, so few tickets are sold and each carries the fixed cost of \
             the escrow grants and the catalog's first sync. Next steps: clocks or digests only \
             when they changed, and relaying events along a gossip mesh instead of to everyone."
        }
        _ => "",
    }
}

fn markdown(report: &serde_json::Value, args: &BenchArgs) -> String {
    let mut md = String::new();
    md.push_str("# Passcom benchmarks\n\n");
    md.push_str("Regenerate this file with:\n\n```sh\ncargo build --release -p passcom\n");
    md.push_str(&format!(
        "target/release/passcom bench{} --markdown BENCHMARKS.md --plot docs/bench.svg\n```\n\n",
        if args.quick { " --quick" } else { "" }
    ));
    md.push_str(&format!(
        "Machine: {} cores; disk fsync {:.2} ms (median of 50 small writes, measured by the run).\n\n",
        report["machine"]["cores"], report["machine"]["fsync_ms"].as_f64().unwrap_or(0.0)
    ));
    md.push_str("Every figure is measured next to its reference in the same run. Benchmarks report; no test asserts speed.\n\n");
    md.push_str(
        "| scenario | measured | reference | ratio | target | met |\n|---|---|---|---|---|---|\n",
    );
    let empty = serde_json::Map::new();
    let scenarios = report["scenarios"].as_object().unwrap_or(&empty);
    for (name, s) in scenarios {
        let fig = |v: &serde_json::Value| -> String {
            let f: Figure = Figure {
                throughput_per_s: v["throughput_per_s"].as_f64(),
                p50_ms: v["p50_ms"].as_f64(),
                p99_ms: v["p99_ms"].as_f64(),
                value: v["value"].as_f64(),
                unit: v["unit"].as_str().map(str::to_owned),
            };
            fmt_fig(&f)
        };
        let reference = if s["reference"].is_null() {
            "—".to_owned()
        } else {
            format!(
                "{}: {}",
                s["reference"]["name"].as_str().unwrap_or(""),
                fig(&s["reference"]["figure"])
            )
        };
        let ratio = match (s["ratio"].as_f64(), s["ratio_of"].as_str()) {
            (Some(r), Some(of)) => format!("{r:.2} ({of})"),
            _ => "—".to_owned(),
        };
        let met = match s["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "see notes",
        };
        md.push_str(&format!(
            "| `{name}` | {} | {reference} | {ratio} | {} | {met} |\n",
            fig(&s["measured"]),
            s["target"].as_str().unwrap_or("")
        ));
    }
    md.push_str("\n![ratios](docs/bench.svg)\n\n## Scenarios, and what limits each figure\n\n");
    for (name, s) in scenarios {
        md.push_str(&format!(
            "### `{name}`\n\n{}.",
            s["description"].as_str().unwrap_or("")
        ));
        if let Some(n) = s["notes"].as_str() {
            md.push_str(&format!(" {n}."));
        }
        md.push_str(&format!("\n\n{}\n\n", limits(name)));
    }
    md
}

fn fmt_fig(f: &Figure) -> String {
    let mut parts = Vec::new();
    if let Some(t) = f.throughput_per_s {
        parts.push(format!("{t:.0}/s"));
    }
    if let Some(p) = f.p50_ms {
        parts.push(format!("p50 {p:.3} ms"));
    }
    if let Some(p) = f.p99_ms {
        parts.push(format!("p99 {p:.3} ms"));
    }
    if let (Some(v), Some(u)) = (f.value, &f.unit) {
        parts.push(format!("{v:.2} {u}"));
    }
    parts.join(", ")
}

fn print_scenario(name: &str, s: &Scenario, took: Duration) {
    println!("{name} ({:.1} s): {}", took.as_secs_f64(), s.description);
    println!("  measured:  {}", fmt_fig(&s.measured));
    if let Some(r) = &s.reference {
        println!("  reference: {} — {}", r.name, fmt_fig(&r.figure));
    }
    if let (Some(r), Some(of)) = (s.ratio, &s.ratio_of) {
        println!("  ratio:     {r:.2} ({of})");
    }
    let verdict = match s.met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "see notes",
    };
    println!("  target:    {} — {verdict}", s.target);
    if !s.notes.is_empty() {
        println!("  notes:     {}", s.notes);
    }
}

/// Bar chart of every scenario's ratio (log scale would hide the story; ratios are shown as is).
fn plot(path: &std::path::Path, report: &serde_json::Value) -> Result<(), String> {
    use plotters::prelude::*;
    let mut bars: Vec<(String, f64)> = Vec::new();
    if let Some(map) = report["scenarios"].as_object() {
        for (name, s) in map {
            if let Some(r) = s["ratio"].as_f64() {
                bars.push((name.clone(), r));
            }
        }
    }
    let max = bars.iter().map(|b| b.1).fold(1.0f64, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 120 + 40 * bars.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "passcom bench: ratio to the reference (1 = same)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(160)
        .build_cartesian_2d(0.0..max, 0..bars.len().max(1))
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&|i| names.get(*i).cloned().unwrap_or_default())
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .map(|(i, (_, r))| Rectangle::new([(0.0, i), (*r, i + 1)], BLUE.mix(0.6).filled())),
        )
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
