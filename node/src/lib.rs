//! The Passcom airline peer: its state machine, durable store and purchase engine.
//!
//! - [`machine`]: [`Node`], the state machine. `handle_batch(inputs, now) -> outputs`; it
//!   reads no clock, opens no socket and spawns nothing, so libp2p and the simulator drive the
//!   same code. Its one I/O is storage: the caller opens a [`Store`] (a redb file, or any redb
//!   device such as [`memdisk::MemDisk`]) and hands it to [`Node::open`]; every batch is then
//!   committed to it, durably, inside `handle_batch` before any output is returned, so an
//!   output never announces what a crash could lose.
//! - [`model`]: events, tickets, wire messages, inputs, outputs and refusals.
//! - `store` (private): the redb database — tables, group commit, format version. Callers
//!   see only [`Store`], a handle they open and hand to [`Node::open`].
//! - [`memdisk`]: a redb device in memory that can be reopened, copied and rolled back
//!   (the simulator's disks and the fuzz targets' prepared states).
//! - [`routes`]: route search over the catalog (pure).
//! - [`demo`]: the demo catalog of Brazil's 27 capitals and a seeded synthetic generator.
//! - [`cluster`]: several nodes in one process joined by an in-order queue, with cuts,
//!   ticks and reply bookkeeping: the node tests', fuzz fixtures' and catch-up bench's network.
//! - [`fixtures`]: flights and airports for tests, fuzz targets and benchmarks (not the demo
//!   catalog, which is the product's).
//! - [`peer_status`]: what a running peer reports of its network side ([`PeerStatus`],
//!   [`ConnectedPeer`], [`LiveEvent`]) and [`NetError`]: plain data shared by the libp2p
//!   driver and the HTTP API.

mod bytes;
pub mod cluster;
pub mod demo;
pub mod fixtures;
pub mod machine;
pub mod memdisk;
pub mod model;
pub mod peer_status;
pub mod routes;
mod store;

pub use machine::{
    Config, Equivocation, Node, OpenError, PeerHealth, PeerState, PlantedBug, SeatStatus,
};
pub use model::*;
pub use peer_status::{ConnectedPeer, LiveEvent, NetError, PeerStatus};
pub use store::{Operation, OutboxEntry, PendingOp, Store, StoreError};
