//! Deterministic partition simulations of Passcom peers, hunting for a double sale.
//!
//! A seeded discrete-event simulator runs N [`passcom_node::Node`] state machines, each over
//! its own redb store on an in-memory device that survives simulated crashes, through a
//! simulated network that loses, duplicates, delays and reorders messages, partitions and
//! flaps, while travelers buy, hold, retry and cancel and airlines edit their flights. A
//! checker tests the seven invariants of DESIGN.md as the run goes and once more after the
//! final heal. The same seed replays the same run, event for event.
//!
//! - [`schedule`]: the options ([`SimOptions`]) and the parameters drawn from a seed
//!   ([`Schedule`]).
//! - [`sim`]: the simulator itself; [`run_schedule`] runs one seed.
//! - [`checker`]: the invariants.
//! - [`faults`]: the fault families beyond partitions and short crashes, and their counts.
//! - [`report`]: [`run_many`] runs schedules on every core; [`Summary`] sums them up.
//! - [`world`]: the small catalog that makes seats scarce.
//! - [`backend`]: the crash-surviving in-memory redb device.
//! - [`plot`]: the SVG chart.
//!
//! ```
//! use passcom_simulations::{SimOptions, run_schedule};
//! let opts = SimOptions { steps: 200, ..SimOptions::default() };
//! let outcome = run_schedule(&opts, 7);
//! assert!(outcome.violation.is_none(), "{}", opts.replay_command(7));
//! assert_eq!(outcome.trace_hash, run_schedule(&opts, 7).trace_hash);
//! ```

pub mod backend;
pub mod checker;
pub mod faults;
pub mod plot;
pub mod report;
pub mod schedule;
pub mod sim;
pub mod world;

pub use checker::{Checker, Invariant};
pub use faults::{FaultCounts, FaultFamily, FaultPlan, FaultSet, FaultSummary};
pub use report::{Summary, run_many};
pub use schedule::{DEFAULT_ESCROW_SHARE, Profile, Schedule, SimOptions, airline_name};
pub use sim::rogue::RogueCounts;
pub use sim::{Metrics, Outcome, Violation, run_schedule};
