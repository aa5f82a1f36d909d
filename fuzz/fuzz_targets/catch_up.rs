//! Fuzz target: the recovery and catch-up paths. A node that lost its disk, or was restored
//! from an old backup, recovers its history from its partners' catch-up pages before it
//! sells; an active node takes pages after a partition. Both are fed pages (honest answers
//! to their probes and fuzzer-built ones), cut into parts delivered out of order, lost or
//! twice, and equivocating events (an origin's number written again with other content and
//! signed by that origin), with key records, probes, sales, ticks and clock steps between.
//!
//! The input is a [`Script`]; `state` picks giro as: recovering over an empty disk (a lost
//! disk), recovering over its database after its first sale (an old backup), recovering over
//! its whole database (a restart), or active over its whole database. Signatures are always
//! required, as in production: without them a forged event of the node's own origin is
//! legitimately adopted while it recovers.
//!
//! Nothing may panic; after every step no flight shows more live legs than seats and no reply
//! comes without a request; at the end every event the log held at the start or holds now
//! is the one first adopted for its origin and number (the node never adopts two different
//! events for one (origin, seq)), its own log is gap-free and signed by it, and every event in
//! the log is signed by its origin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passcom_crdt::AirlineId;
use passcom_fuzz::script::{Adopted, Player, Pool, Script};
use passcom_fuzz::{AIRLINES, Snapshot, Start, T0, VICTIM, config, exchange};
use std::sync::OnceLock;

/// The time every input starts at.
const NOW: i64 = T0 + 10_000;

/// The recorded exchange, and giro's four starting nodes (see the module documentation).
struct Fixture {
    pool: Pool,
    starts: Vec<(Start, Adopted)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ex = exchange();
        let pool = Pool::new(&ex);
        let empty = Snapshot::default();
        let mut starts = Vec::new();
        for (state, recovering) in [
            (&empty, true),
            (&ex.victim_early, true),
            (&ex.victim_end, true),
            (&ex.victim_end, false),
        ] {
            let mut cfg = config(VICTIM, true);
            cfg.recover_at_start = recovering;
            // After a lost disk the node knows its partners only from its configuration.
            cfg.partners = AIRLINES
                .iter()
                .filter(|a| **a != VICTIM)
                .map(|a| AirlineId::new(*a))
                .collect();
            let start = Start::new(state, cfg, NOW);
            let baseline = Player::baseline(start.fork(), &pool, true);
            start.check_recycle(NOW);
            starts.push((start, baseline));
        }
        eprintln!(
            "fixture: {} starting nodes, databases of {:?} bytes",
            starts.len(),
            starts.iter().map(|(s, _)| s.len()).collect::<Vec<_>>()
        );
        Fixture { pool, starts }
    })
}

fuzz_target!(|script: Script| passcom_fuzz::with_caught_panics(|| play(&script)));

/// Plays `script` against a copy of its starting node.
fn play(script: &Script) {
    let fx = fixture();
    let (start, baseline) = &fx.starts[script.state as usize % fx.starts.len()];
    let mut player = Player::new(start.fork(), &fx.pool, NOW, true, baseline);
    player.play_all(&script.ops);
    start.recycle(player.node);
}
