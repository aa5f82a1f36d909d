//! What one schedule is: the options a user chose and the fault and workload parameters drawn
//! from its seed.

use crate::faults::{FaultPlan, FaultSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The escrow share used when none is given: each partner starts with 20 % of every flight.
pub const DEFAULT_ESCROW_SHARE: f64 = 0.2;

/// Sim time at which every schedule starts (ms since the Unix epoch, in 2027). Flights depart
/// days later, so none departs during a run.
pub const EPOCH_MS: i64 = 1_800_000_000_000;

/// The workload a run draws its schedules from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Tiny flights (2–4 per airline of 2–4 rows × `ABCD`) that sell out within a run, so
    /// every contention path is taken; travelers spread evenly over the peers. What CI runs.
    #[default]
    Stress,
    /// Flights as airlines fly them: 5–30 per airline of 20–34 rows × `ABCDEF` (120–204
    /// seats); demand uneven across peers (each peer's share of travelers drawn from a wide
    /// range) and drifting (every few seconds one peer's share is multiplied or divided by up
    /// to 3), and uneven across flights (a few hot ones).
    Realistic,
}

impl Profile {
    /// The profile's name, as `--profile` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Stress => "stress",
            Profile::Realistic => "realistic",
        }
    }
}

/// Options shared by every schedule of a run; the seed picks the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// Number of peers (3 to 50). The first three are rumos, giro and boreal.
    pub peers: usize,
    /// Simulation steps before the final heal. A step is one event of the simulation: a batch
    /// of inputs handled by one node, a client action or a fault.
    pub steps: u64,
    /// Share of each new flight handed to every partner in advance (0 = "ask the owner").
    pub escrow_share: f64,
    /// Whether operators move unsold seats to the partners that sell them
    /// (`Config::adaptive_escrow`); off: the shares stay as created.
    pub adaptive_escrow: bool,
    /// The fault families injected on top of the classic faults.
    pub faults: FaultSet,
    /// Extra airlines that attack the honest peers instead of selling (see
    /// `sim/rogue.rs`); 0 for none. With any, every peer signs and checks signatures.
    pub byzantine: usize,
    /// The workload's shape: tiny flights that sell out, or realistic ones.
    pub profile: Profile,
    /// A deliberate node bug to plant in every peer (tests of the checker).
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<passcom_node::PlantedBug>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            peers: 3,
            steps: 2_000,
            escrow_share: DEFAULT_ESCROW_SHARE,
            adaptive_escrow: false,
            faults: FaultSet::default(),
            byzantine: 0,
            profile: Profile::Stress,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

impl SimOptions {
    /// Options for `peers` peers, `steps` steps and `escrow_share`, with the default fault
    /// families and no bug planted.
    pub fn new(peers: usize, steps: u64, escrow_share: f64) -> Self {
        SimOptions {
            peers,
            steps,
            escrow_share,
            adaptive_escrow: false,
            faults: FaultSet::default(),
            byzantine: 0,
            profile: Profile::Stress,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// The name of the planted bug, as `--planted-bug` spells it, if any.
    pub fn planted_bug_name(&self) -> Option<&'static str> {
        #[cfg(feature = "planted-bugs")]
        return self.planted_bug.map(|b| match b {
            passcom_node::PlantedBug::NonHolderSells => "non-holder-sells",
            passcom_node::PlantedBug::MergeKeepsLower => "merge-keeps-lower",
            passcom_node::PlantedBug::TwinUnchecked => "twin-unchecked",
        });
        #[cfg(not(feature = "planted-bugs"))]
        None
    }

    /// The command that replays the schedule of `seed` alone, event for event.
    pub fn replay_command(&self, seed: u64) -> String {
        let mut cmd = format!(
            "passcom simulate --peers {} --steps {} --seed {seed} --schedules 1 --escrow-share {}",
            self.peers, self.steps, self.escrow_share
        );
        if self.adaptive_escrow {
            cmd.push_str(" --escrow-policy adaptive");
        }
        if self.faults != FaultSet::default() {
            cmd.push_str(&format!(" --faults {}", self.faults));
        }
        if self.byzantine > 0 {
            cmd.push_str(&format!(" --byzantine {}", self.byzantine));
        }
        if self.profile != Profile::Stress {
            cmd.push_str(&format!(" --profile {}", self.profile.name()));
        }
        if let Some(bug) = self.planted_bug_name() {
            cmd.push_str(&format!(" --planted-bug {bug}"));
        }
        cmd
    }
}

/// The airline name of peer `index`: rumos, giro, boreal, then xaair, xbair … yaair …, so
/// that every airline of a network has its own flight-id code (XA, XB, …), as a node
/// requires of its roster.
pub fn airline_name(index: usize) -> String {
    match index {
        0 => "rumos".to_owned(),
        1 => "giro".to_owned(),
        2 => "boreal".to_owned(),
        n => {
            let i = n - 3;
            let first = char::from(b'x' + (i / 26 % 3) as u8);
            let second = char::from(b'a' + (i % 26) as u8);
            format!("{first}{second}air")
        }
    }
}

/// Fault and workload parameters of one schedule, all drawn from its seed so that a seed
/// names one run exactly. Printed with every violation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schedule {
    /// The seed everything else comes from.
    pub seed: u64,
    /// Shortest one-way latency of a message (ms).
    pub latency_min_ms: i64,
    /// Spread of the latency above the minimum (ms).
    pub latency_jitter_ms: i64,
    /// Whether the latency has a long tail (a few messages take ten times the spread).
    pub latency_long_tail: bool,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplication: f64,
    /// Probability that a message is held back so that later ones overtake it.
    pub reordering: f64,
    /// Probability that a step of the driver is a fault rather than a client action.
    pub fault_rate: f64,
    /// Whether peers crash (and restart) in this schedule.
    pub crashes: bool,
    /// Largest clock skew of a peer, either way (ms).
    pub max_skew_ms: i64,
    /// Mean time between two client actions (ms).
    pub action_gap_ms: i64,
    /// Weight of flash-sale purchases (all on one flight) among client actions, in percent.
    pub flash_sale_pct: u32,
    /// How long carts last (ms), so that expiries race checkouts.
    pub hold_ms: i64,
    /// Rows of each flight (seats = rows × the letters).
    pub rows: u32,
    /// Seat letters of every flight's rows.
    pub letters: String,
    /// The workload's shape (see [`Profile`]).
    pub profile: Profile,
    /// Flights per airline.
    pub flights_per_airline: u32,
    /// What the new fault families do in this schedule.
    pub faults: FaultPlan,
}

impl Schedule {
    /// Draws the parameters of `seed` with the default fault families.
    pub fn from_seed(seed: u64) -> Schedule {
        Schedule::draw(seed, FaultSet::default())
    }

    /// Draws the parameters of `seed`, injecting the fault families of `faults`. The classic
    /// parameters do not depend on `faults`.
    pub fn draw(seed: u64, faults: FaultSet) -> Schedule {
        Schedule::draw_for(seed, faults, Profile::Stress)
    }

    /// Draws the parameters of `seed` for `profile`: the stress profile's are those of
    /// [`Schedule::draw`]; the realistic one redraws the catalog's size and the flash sales
    /// from a generator of its own, so that the network and fault parameters of a seed are
    /// the same under both.
    pub fn draw_for(seed: u64, faults: FaultSet, profile: Profile) -> Schedule {
        // A generator of its own, so that adding a parameter here does not shift the run's
        // event stream any more than it must.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5c4e_d01e_0001);
        let calm = rng.random_bool(0.15);
        let mut s = Schedule {
            seed,
            latency_min_ms: rng.random_range(1..=20),
            latency_jitter_ms: rng.random_range(0..=150),
            latency_long_tail: rng.random_bool(0.3),
            loss: if calm || rng.random_bool(0.3) {
                0.0
            } else {
                rng.random_range(0.0..0.15)
            },
            duplication: if calm || rng.random_bool(0.4) {
                0.0
            } else {
                rng.random_range(0.0..0.1)
            },
            reordering: if calm {
                0.0
            } else {
                rng.random_range(0.0..0.2)
            },
            fault_rate: if calm {
                0.0
            } else {
                rng.random_range(0.02..0.15)
            },
            crashes: !calm && rng.random_bool(0.6),
            max_skew_ms: if rng.random_bool(0.5) {
                0
            } else {
                rng.random_range(1..=2_500)
            },
            action_gap_ms: rng.random_range(5..=120),
            flash_sale_pct: rng.random_range(0..=40),
            hold_ms: rng.random_range(100..=4_000),
            rows: rng.random_range(2..=4),
            letters: "ABCD".into(),
            profile,
            flights_per_airline: rng.random_range(2..=4),
            faults: FaultPlan::default(),
        };
        s.faults = FaultPlan::draw(seed, calm, faults);
        if profile == Profile::Realistic {
            let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x7ea1_1571_c000_0001);
            s.rows = r.random_range(20..=34);
            s.letters = "ABCDEF".into();
            s.flights_per_airline = r.random_range(5..=30);
            s.flash_sale_pct = r.random_range(0..=5);
        }
        s
    }
}
