//! `passcom simulate`: deterministic partition simulations that hunt for a double sale.
//!
//! Parses the options, runs the schedules on every core through `passcom_simulations`, shows
//! a progress bar on a terminal, and prints a summary (or one JSON object). Any violation
//! prints its seed, the schedule's parameters and the command that replays it, and makes the
//! exit code non-zero.

use passcom_simulations::report::{Progress, default_threads};
use passcom_simulations::{
    DEFAULT_ESCROW_SHARE, FaultSet, Outcome, Profile, SimOptions, Summary, run_many,
};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `passcom simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Number of peers (airlines rumos, giro, boreal, xaair, xbair…), 3 to 50.
    #[arg(long, default_value_t = 3)]
    peers: usize,
    /// Number of schedules, with seeds SEED, SEED+1, …
    #[arg(long, default_value_t = 100)]
    schedules: u64,
    /// Steps per schedule before the final heal (a step is a batch handled by one peer, a
    /// client action or a fault).
    #[arg(long, default_value_t = 2_000)]
    steps: u64,
    /// Seed of the first schedule.
    #[arg(long, env = "PASSCOM_SEED", default_value_t = 1)]
    seed: u64,
    /// Share of every flight each partner holds in escrow from the start (0 = ask the owner).
    #[arg(long, default_value_t = DEFAULT_ESCROW_SHARE)]
    escrow_share: f64,
    /// How operators move escrow seats: `adaptive` (ahead of need, to the partners that sell)
    /// or `fixed` (shares stay as created), as `passcom peer --escrow-policy`.
    #[arg(long, value_enum, default_value_t = crate::peer::EscrowPolicy::Fixed)]
    escrow_policy: crate::peer::EscrowPolicy,
    /// The workload: `stress` (tiny flights that sell out, travelers spread evenly: what CI
    /// runs) or `realistic` (5–30 flights of 120–204 seats per airline, demand uneven across
    /// peers and drifting, a few hot flights).
    #[arg(long, value_enum, default_value_t = ProfileArg::Stress)]
    profile: ProfileArg,
    /// Also run every seed with fixed shares (when the policy is adaptive) and with escrow
    /// share 0 (the "ask the owner" baseline), and compare.
    #[arg(long)]
    compare_escrow: bool,
    /// Plant a node bug; needs a build with `--features planted-bugs`.
    #[arg(long, value_enum, value_name = "NAME")]
    planted_bug: Option<PlantedBugArg>,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of availability and convergence per schedule to this file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Worker threads (default: every core). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Run every schedule even after one fails (default: stop after the lowest failing seed).
    #[arg(long)]
    keep_going: bool,
    /// Fault families on top of partitions and short crashes: all, classic (none), default,
    /// or a comma list of silent-cuts, clock-steps, long-outages, disk-loss, rollback,
    /// never-return, signatures, small-pages, wire, twins, rogue (`rogue` is `--byzantine 1`).
    /// The default is every family but rogue.
    #[arg(long, default_value = "default")]
    faults: String,
    /// Extra airlines that attack instead of selling, with valid keys of their own: shadow
    /// flights, foreign edits, forged tickets and cancellations, foreign-namespace ids,
    /// replays, forged predecessors, floods, impersonation. Every peer then signs.
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
}

/// The workloads `--profile` picks (`passcom_simulations::Profile`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileArg {
    /// Tiny flights that sell out; travelers spread evenly over the peers.
    Stress,
    /// Airline-sized flights; demand uneven across peers and drifting.
    Realistic,
}

/// The node bugs `--planted-bug` can plant (`passcom_node::PlantedBug`, by name).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBugArg {
    /// A peer sells seats whose token another peer holds.
    NonHolderSells,
    /// Merging keeps the lower version: a stale update rolls a token back.
    MergeKeepsLower,
    /// A recovering peer ignores what its partners heard of other processes with its
    /// identity: a twin sells beside the original (caught with `--faults twins`).
    TwinUnchecked,
}

impl PlantedBugArg {
    /// The bug's name, as `passcom_node::PlantedBug` parses it.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBugArg::NonHolderSells => "non-holder-sells",
            PlantedBugArg::MergeKeepsLower => "merge-keeps-lower",
            PlantedBugArg::TwinUnchecked => "twin-unchecked",
        }
    }
}

/// Runs the simulations `args` asks for.
///
/// Returns success when no schedule broke an invariant, failure otherwise.
/// Errors: invalid options, an unknown or unavailable planted bug, an unwritable plot file.
pub fn run(args: SimulateArgs) -> Result<ExitCode, String> {
    if !(3..=50).contains(&args.peers) {
        return Err(format!("--peers must be 3 to 50, not {}", args.peers));
    }
    if !(0.0..=1.0).contains(&args.escrow_share) {
        return Err(format!(
            "--escrow-share must be between 0 and 1, not {}",
            args.escrow_share
        ));
    }
    if args.schedules == 0 || args.steps == 0 {
        return Err("--schedules and --steps must be at least 1".into());
    }
    let mut opts = SimOptions::new(args.peers, args.steps, args.escrow_share);
    // `rogue` in the fault list is another spelling of `--byzantine 1` (one rogue airline).
    let mut families: Vec<&str> = args.faults.split(',').map(str::trim).collect();
    let rogue_family = families.contains(&"rogue");
    families.retain(|f| *f != "rogue");
    let families = if families.is_empty() {
        "default".to_owned()
    } else {
        families.join(",")
    };
    opts.faults = FaultSet::parse(&families)?;
    opts.byzantine = if rogue_family {
        args.byzantine.max(1)
    } else {
        args.byzantine
    };
    if let Some(bug) = args.planted_bug {
        plant(&mut opts, bug.name())?;
    }
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    opts.adaptive_escrow = args.escrow_policy == crate::peer::EscrowPolicy::Adaptive;
    opts.profile = match args.profile {
        ProfileArg::Stress => Profile::Stress,
        ProfileArg::Realistic => Profile::Realistic,
    };
    let fixed_too = args.compare_escrow && opts.adaptive_escrow;
    let runs = 1 + u64::from(args.compare_escrow) + u64::from(fixed_too);
    let bar = if args.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(args.schedules * runs)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} schedules {msg} [{elapsed_precise}, eta {eta}]",
        )
        .expect("valid template"),
    );
    let started = Instant::now();
    let progress = Progress::default();
    let on_done = |o: &Outcome| {
        let (_, failed) = progress.record(o);
        bar.inc(1);
        if failed > 0 {
            bar.set_message(format!("({failed} failed)"));
        }
    };
    let stop = !args.keep_going;
    let main = run_many(&opts, args.seed, args.schedules, threads, stop, &on_done);
    let fixed = fixed_too.then(|| {
        let fixed = SimOptions {
            adaptive_escrow: false,
            ..opts.clone()
        };
        (
            fixed.clone(),
            run_many(&fixed, args.seed, args.schedules, threads, stop, &on_done),
        )
    });
    let baseline = args.compare_escrow.then(|| {
        let zero = SimOptions {
            escrow_share: 0.0,
            adaptive_escrow: false,
            ..opts.clone()
        };
        (
            zero.clone(),
            run_many(&zero, args.seed, args.schedules, threads, stop, &on_done),
        )
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let summary = Summary::of(&main);
    let base_summary = baseline.as_ref().map(|(_, o)| Summary::of(o));
    let fixed_summary = fixed.as_ref().map(|(_, o)| Summary::of(o));
    let policy = if opts.adaptive_escrow {
        "adaptive"
    } else {
        "fixed"
    };
    if let Some(path) = &args.plot {
        let mut series = vec![passcom_simulations::plot::Series {
            label: format!("escrow {} {policy}", opts.escrow_share),
            outcomes: &main,
        }];
        if let Some((_, outcomes)) = &fixed {
            series.push(passcom_simulations::plot::Series {
                label: format!("escrow {} fixed", opts.escrow_share),
                outcomes,
            });
        }
        if let Some((_, outcomes)) = &baseline {
            series.push(passcom_simulations::plot::Series {
                label: "escrow 0 (ask the owner)".into(),
                outcomes,
            });
        }
        passcom_simulations::plot::write_svg(path, &series)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let failures: Vec<(&SimOptions, &Outcome)> = main
        .iter()
        .map(|o| (&opts, o))
        .chain(
            fixed
                .iter()
                .chain(baseline.iter())
                .flat_map(|(other, outs)| outs.iter().map(move |o| (other, o))),
        )
        .filter(|(_, o)| o.violation.is_some())
        .collect();

    if args.json {
        let mut obj = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
        let failure = failures.first().map(|(o, out)| failure_json(o, out));
        if let Some(map) = obj.as_object_mut() {
            map.insert("peers".into(), args.peers.into());
            map.insert("steps_per_schedule".into(), args.steps.into());
            map.insert("first_seed".into(), args.seed.into());
            map.insert("escrow_share".into(), args.escrow_share.into());
            map.insert("escrow_policy".into(), policy.into());
            map.insert("profile".into(), opts.profile.name().into());
            map.insert("planted_bug".into(), opts.planted_bug_name().into());
            map.insert("fault_families".into(), opts.faults.to_string().into());
            map.insert("elapsed_ms".into(), (elapsed.as_millis() as u64).into());
            map.insert("failure".into(), failure.unwrap_or(serde_json::Value::Null));
            // Every failing seed of the run (with `--keep-going`, all of them): what a long
            // run records, where `failure` details only the first.
            let mut seeds: Vec<u64> = failures.iter().map(|(_, o)| o.seed).collect();
            seeds.sort_unstable();
            seeds.dedup();
            map.insert("failing_seeds".into(), seeds.into());
            if let Some(f) = &fixed_summary {
                map.insert(
                    "baseline_fixed".into(),
                    serde_json::to_value(f).map_err(|e| e.to_string())?,
                );
            }
            if let Some(b) = &base_summary {
                map.insert(
                    "baseline_escrow_0".into(),
                    serde_json::to_value(b).map_err(|e| e.to_string())?,
                );
            }
        }
        println!("{obj}");
    } else {
        println!(
            "passcom simulate: {} peers, {} steps, {} profile, seeds {}..={}, {} threads, {:.1} s",
            args.peers,
            args.steps,
            opts.profile.name(),
            args.seed,
            args.seed + args.schedules - 1,
            threads,
            elapsed.as_secs_f64()
        );
        print_summary(
            &format!("escrow share {}, {policy} shares", opts.escrow_share),
            &summary,
        );
        if let Some(f) = &fixed_summary {
            print_summary(
                &format!("escrow share {}, fixed shares", opts.escrow_share),
                f,
            );
        }
        if let Some(b) = &base_summary {
            print_summary("escrow share 0 (ask the owner, baseline)", b);
        }
        for (o, out) in failures.iter().take(1) {
            print_failure(o, out);
        }
        if let Some(path) = &args.plot {
            println!("chart written to {}", path.display());
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(feature = "planted-bugs")]
fn plant(opts: &mut SimOptions, name: &str) -> Result<(), String> {
    opts.planted_bug = Some(name.parse()?);
    Ok(())
}

#[cfg(not(feature = "planted-bugs"))]
fn plant(_opts: &mut SimOptions, name: &str) -> Result<(), String> {
    Err(format!(
        "--planted-bug {name} needs a build with the planted bugs: cargo run -p passcom --features planted-bugs -- simulate --planted-bug {name}"
    ))
}

fn print_summary(title: &str, s: &Summary) {
    println!("{title}:");
    println!(
        "  schedules            {} ({} steps, {} crashes, {} network faults)",
        s.schedules, s.steps, s.crashes, s.network_faults
    );
    println!("  violations           {}", s.violations);
    if !s.rogue_attempts.is_empty() {
        let tried: Vec<String> = s
            .rogue_attempts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!(
            "  rogue airlines       {} attacks ({}); {} rejections; {} accepted",
            s.rogue_attempts.values().sum::<u64>(),
            tried.join(", "),
            s.rogue_rejected,
            s.rogue_accepted
        );
    }
    println!(
        "  availability         {:.1} % of {} purchases with a seat somewhere; {:.1} % of {} while partitioned",
        100.0 * s.availability,
        s.attempts,
        100.0 * s.availability_partitioned,
        s.attempts_partitioned
    );
    let kinds: Vec<String> = s
        .availability_by_kind
        .iter()
        .map(|(k, v)| {
            let p = s
                .availability_partitioned_by_kind
                .get(k)
                .copied()
                .unwrap_or(0.0);
            format!("{k} {:.1} % ({:.1} % partitioned)", 100.0 * v, 100.0 * p)
        })
        .collect();
    println!("  by kind              {}", kinds.join(", "));
    println!(
        "  stranded seats       {} (unsold at the end on flights whose buyers were refused for an unreachable holder)",
        s.stranded_seats
    );
    println!(
        "  hand-overs           {:.2} per ticket (seats put in transit to another peer)",
        s.handovers_per_ticket
    );
    println!(
        "  convergence          p50 {} ms, p99 {} ms, max {} ms after the final heal",
        s.convergence_ms_p50, s.convergence_ms_p99, s.convergence_ms_max
    );
    let f = &s.faults;
    println!(
        "  new faults           {} silent cuts, {} clock steps, {} long outages, {} disk losses, {} rollbacks, {} never returned ({} for good); {} signed, {} small-page schedules; backlog after a crash up to {} events",
        f.silent_cuts,
        f.clock_steps,
        f.long_outages,
        f.disk_losses,
        f.rollbacks,
        f.never_return,
        f.gone_for_good,
        f.signed_schedules,
        f.small_page_schedules,
        f.max_restart_backlog
    );
    println!(
        "  silent-cut detection {} ends detected (p50 {} ms, p99 {} ms), {} undetected, {} confounded, {} cuts unnoticed; back p50 {} ms, p99 {} ms",
        f.detected_ends,
        f.detection_ms_p50,
        f.detection_ms_p99,
        f.undetected_ends,
        f.confounded_ends,
        f.unnoticed_cuts,
        f.reconnect_ms_p50,
        f.reconnect_ms_p99
    );
    let reasons: Vec<String> = s.refusals.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!(
        "  refusals             {}",
        if reasons.is_empty() {
            "none".to_owned()
        } else {
            reasons.join(", ")
        }
    );
    println!(
        "  per ticket           {:.1} messages, {:.0} bytes ({} tickets)",
        s.messages_per_ticket, s.bytes_per_ticket, s.tickets
    );
}

fn print_failure(opts: &SimOptions, o: &Outcome) {
    let v = o.violation.as_ref().expect("a failure has a violation");
    println!();
    println!("VIOLATION in seed {}: {v}", o.seed);
    println!(
        "  schedule: {}",
        serde_json::to_string(&o.schedule).unwrap_or_default()
    );
    println!("  replay:   {}", opts.replay_command(o.seed));
}

fn failure_json(opts: &SimOptions, o: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "seed": o.seed,
        "violation": o.violation,
        "schedule": o.schedule,
        "escrow_share": opts.escrow_share,
        "replay": opts.replay_command(o.seed),
    })
}
