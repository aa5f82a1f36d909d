//! Structure-aware inputs for the node targets: a fuzzer-chosen sequence of operations
//! ([`Op`]) decoded with `arbitrary`, played against one node, with the checks every step must
//! pass ([`Player`]).
//!
//! Raw bytes mostly die in CBOR decoding; here the fuzzer picks *which* recorded event to
//! send, *who* sends it and *what* to change in it (a token's holder or version, a ticket's
//! seat, the sequence number, the signer), so its mutations reach the token, ticket, catalog,
//! catch-up and recovery checks. Events are re-signed with their origin's fixture key unless
//! the input says otherwise: that is what a rogue airline can publish about itself.
//!
//! The parts:
//! - `input`: what the fuzzer decodes — [`Script`], its steps ([`Op`]) and what they name
//!   ([`Who`], [`EventOp`], [`Edit`], [`Sign`], [`Parts`]…);
//! - `pool`: what inputs are built from ([`Pool`]): the recorded exchange, events edited and
//!   re-signed, pages cut into parts;
//! - `player`: the node fed step by step and the checks after each ([`Player`]);
//! - `keys`: the fixture keys, derived once.

mod input;
mod keys;
mod player;
mod pool;

pub use input::{Edit, EventOp, Nonce, Op, Parts, Script, Seen, Sign, State, Who};
pub use player::{Adopted, Player};
pub use pool::Pool;

/// At most this many operations per input: each may be a redb commit.
pub const MAX_OPS: usize = 24;
/// At most this many events built per message.
const MAX_EVENTS: usize = 6;
/// At most this many edits per event.
const MAX_EDITS: usize = 6;
