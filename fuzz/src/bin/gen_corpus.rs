//! Writes the seed corpora of the fuzz targets into `fuzz/seeds/<target>/` from a real,
//! deterministic exchange between three in-memory nodes (`passcom_fuzz::record_exchange`).
//!
//! Usage: `cargo run --manifest-path fuzz/Cargo.toml --features gen --bin gen_corpus [SEEDS_DIR]`.
//! Files are
//! named by content, so running it again adds nothing new; regression inputs saved by hand
//! (`regression-*`) are left alone.
//!
//! The node targets (`node_message`, `catch_up`) read `arbitrary` scripts, a format with no
//! encoder: their seeds are small inputs kept from a fuzzing run (`cargo fuzz cmin`), and they
//! need none to start, since every script they decode is already well-formed.

use passcom_fuzz::{join, record_exchange};
use passcom_node::Message;
use std::path::{Path, PathBuf};

/// Largest seed kept: libFuzzer mutates small inputs best, and the repository stays small.
const MAX_SEED: usize = 4096;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> usize {
    if bytes.len() > MAX_SEED {
        return 0;
    }
    std::fs::create_dir_all(dir).expect("the seeds folder can be created");
    // FNV-1a: a stable content name without another dependency.
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    std::fs::write(dir.join(format!("{name}-{hash:016x}")), bytes).expect("a seed is written");
    1
}

fn cbor(msg: &Message) -> Vec<u8> {
    passcom_net::wire::encode(msg).expect("a message encodes")
}

fn main() {
    let root: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let record = record_exchange();
    let mut counts = std::collections::BTreeMap::new();
    let mut add = |target: &str, name: &str, bytes: Vec<u8>| {
        *counts.entry(target.to_owned()).or_insert(0) += write(&root.join(target), name, &bytes);
    };
    for r in &record {
        let kind = r.msg.kind();
        let bytes = cbor(&r.msg);
        // Both decoders read the same CBOR shapes (see docs/wire.md).
        add("gossip_decode", kind, bytes.clone());
        add("direct_decode", kind, bytes.clone());
        if let Message::Events { events } | Message::Page { events, .. } = &r.msg {
            for ev in events.iter().filter(|e| !e.catalog.is_empty()) {
                // Raw mode (even first byte): the changes as the event carried them.
                let mut raw = vec![0u8];
                raw.extend(join(&ev.catalog));
                add("catalog_apply", "changes", raw);
            }
        }
    }
    // Structured mode of catalog_apply: a few edits that build a flight field by field.
    let mut edits = vec![1u8];
    for (field, value) in [(0u8, b"rumos".as_slice()), (1, b"GRU"), (2, b"GIG")] {
        edits.extend([(field << 3) | 2, 1, value.len() as u8]);
        edits.extend_from_slice(value);
    }
    for (field, v) in [(3u8, 1_000i64), (4, 5_000), (5, 3), (7, 100)] {
        edits.extend([field << 3, 1]);
        edits.extend(v.to_le_bytes());
    }
    edits.extend([(6 << 3) | 2, 1, 4]);
    edits.extend_from_slice(b"ABCD");
    add("catalog_apply", "structured", edits);
    for (target, n) in counts {
        println!("{target}: {n} seeds");
    }
}
