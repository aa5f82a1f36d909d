//! What the node's integration tests share beyond [`passcom_node::cluster`]: a cluster over
//! real redb files in a temporary folder, and the test flights.

#![allow(dead_code)]

use passcom_crdt::{AirlineId, Airport, Flight};

pub use passcom_node::cluster::{AIRPORTS, Cluster};
pub use passcom_node::fixtures::{self, HOUR_MS, T0};

pub fn a(s: &str) -> AirlineId {
    AirlineId::new(s)
}

/// Nodes `names` over redb files in a fresh temporary folder (removed with the cluster),
/// connected and settled.
pub fn cluster(names: &[&str]) -> Cluster {
    Cluster::on_disk(tempfile::tempdir().unwrap(), names)
}

/// The four airports of the test flights ([`Cluster::put`] publishes them).
pub fn airports() -> Vec<Airport> {
    fixtures::airports(&AIRPORTS)
}

/// A test flight ([`fixtures::flight`]) leaving `dep_h` hours after [`T0`], with `rows` rows
/// of `letters`.
pub fn flight(
    airline: &str,
    id: &str,
    from: &str,
    to: &str,
    dep_h: i64,
    rows: u32,
    letters: &str,
) -> Flight {
    Flight {
        rows,
        letters: letters.into(),
        ..fixtures::flight(airline, id, from, to, T0 + dep_h * HOUR_MS)
    }
}
