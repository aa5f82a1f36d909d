//! Fuzz target: an active node handling what its peers send (`Node::handle` with
//! `Input::Message`), as a rogue peer or a rogue airline could send it, interleaved with its
//! own sales, ticks and clock steps.
//!
//! The input is a [`Script`] (decoded with `arbitrary`): a sequence of operations, mostly
//! events taken from a real recorded exchange with fuzzer-chosen edits (a token's holder,
//! version or seat, a ticket's seat or seller, the sequence number, the catalog bytes) and a
//! fuzzer-chosen signer, so that mutations reach the token, ticket and catalog checks instead
//! of dying in CBOR decoding; `Op::Raw` keeps the raw-bytes path (any CBOR as a message).
//!
//! The node is giro's, started from one of two states built once per process and copied per
//! input (`passcom_fuzz::Start`, `Node::fork`): a fresh giro that applied rumos' and boreal's recorded
//! events, or giro's own database at the end of the exchange (its own sales, holds and
//! hand-overs in it). Signatures are required or not as the input says (off, edited events
//! whose signatures no longer match reach the deeper checks).
//!
//! Nothing may panic; after every step no flight shows more live legs than seats, no
//! reply comes without a request; and at the end an event once in the log has not changed, and
//! the node's own log holds only events it wrote (numbered without gaps, signed by its key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passcom_fuzz::script::{Adopted, Player, Pool, Script};
use passcom_fuzz::{Start, T0, VICTIM, config, exchange};
use std::sync::OnceLock;

/// The time every input starts at.
const NOW: i64 = T0 + 10_000;

/// The recorded exchange, and giro's starting nodes: (fresh with the others' events, its own
/// database at the end) × (signatures not required, required).
struct Fixture {
    pool: Pool,
    starts: Vec<(Start, Adopted)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ex = exchange();
        let pool = Pool::new(&ex);
        let mut starts = Vec::new();
        for state in [&ex.victim_others, &ex.victim_end] {
            for signatures in [false, true] {
                let start = Start::new(state, config(VICTIM, signatures), NOW);
                let baseline = Player::baseline(start.fork(), &pool, signatures);
                start.check_recycle(NOW);
                starts.push((start, baseline));
            }
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
    let (start, baseline) =
        &fx.starts[(script.state as usize % 2) * 2 + script.signatures as usize];
    let mut player = Player::new(start.fork(), &fx.pool, NOW, script.signatures, baseline);
    player.play_all(&script.ops);
    start.recycle(player.node);
}
