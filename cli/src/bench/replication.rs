//! The `replication` scenario: what replication costs per ticket as the network grows, from
//! the simulator at 5 and at 50 peers (issue #15, target 7: at most 15× the 5-peer figures).

use super::{Figure, Reference, Scenario, Sizes};
use passcom_simulations::{
    DEFAULT_ESCROW_SHARE, FaultSet, SimOptions, Summary, report::default_threads, run_many,
};
use std::path::Path;

/// The most that 50 peers may cost per ticket, as a multiple of 5 peers' cost (the target).
const TARGET_GROWTH: f64 = 15.0;
/// Simulation steps per peer in both networks.
const STEPS_PER_PEER: u64 = 400;

/// Runs the same seeds at 5 and at 50 simulated peers with the classic faults only
/// (partitions and crashes: the wider families would measure recovery, not replication) and
/// compares the messages and bytes each network spends per ticket sold. Each network gets
/// [`STEPS_PER_PEER`] steps per peer: a step is one peer's batch, a client action or a fault,
/// so at 50 peers 2,000 steps would be spent before the catalog reached every peer.
///
/// Inputs: `sizes` picks how many schedules (1 quick, 2 full).
/// Result: the 50-peer messages per ticket, with the 5-peer figure as the reference and
/// their ratio; `met` when both messages and bytes grow at most 15×.
/// Errors: a schedule that found a violation, or a run that sold no ticket (no ratio).
pub fn replication(sizes: Sizes, _dir: &Path) -> Result<Scenario, String> {
    let schedules = sizes.pick(1u64, 2);
    let run = |peers: usize| -> Result<Summary, String> {
        let steps = STEPS_PER_PEER * peers as u64;
        let mut opts = SimOptions::new(peers, steps, DEFAULT_ESCROW_SHARE);
        opts.faults = FaultSet::classic();
        let outcomes = run_many(&opts, 1, schedules, default_threads(), false, &|_| {});
        let summary = Summary::of(&outcomes);
        if summary.violations > 0 {
            return Err(format!(
                "{} of the {peers}-peer schedules found a violation",
                summary.violations
            ));
        }
        if summary.tickets == 0 {
            return Err(format!("the {peers}-peer schedules sold no ticket"));
        }
        Ok(summary)
    };
    let small = run(5)?;
    let large = run(50)?;
    let messages = large.messages_per_ticket / small.messages_per_ticket;
    let bytes = large.bytes_per_ticket / small.bytes_per_ticket;
    let figure = |s: &Summary| Figure {
        value: Some(s.messages_per_ticket),
        unit: Some("messages/ticket".into()),
        ..Figure::default()
    };
    Ok(Scenario {
        description: format!(
            "{schedules} simulated schedule(s) (seeds from 1, classic faults, {STEPS_PER_PEER} \
             steps per peer) at 50 peers, against the same seeds at 5 peers"
        ),
        measured: figure(&large),
        reference: Some(Reference {
            name: "the same schedules at 5 peers".into(),
            figure: figure(&small),
        }),
        ratio: Some(messages),
        ratio_of: Some(
            "messages per ticket at 50 peers / at 5 peers (lower is better; linear growth is \
             10×)"
                .into(),
        ),
        target: "50 peers ≤ 15× the messages and bytes per ticket of 5 peers".into(),
        met: Some(messages <= TARGET_GROWTH && bytes <= TARGET_GROWTH),
        notes: format!(
            "50 peers: {:.0} messages and {:.0} bytes per ticket, {} tickets of {} attempts; \
             5 peers: {:.1} messages and {:.0} bytes per ticket, {} tickets of {} attempts; \
             bytes grow {bytes:.0}×",
            large.messages_per_ticket,
            large.bytes_per_ticket,
            large.tickets,
            large.attempts,
            small.messages_per_ticket,
            small.bytes_per_ticket,
            small.tickets,
            small.attempts,
        ),
    })
}
