//! The fixture keys of rumos, giro, boreal and zeta, derived once, and event signing with
//! them.
//!
//! It must never hold a key that is not derived from the fixture's fixed seeds: a crash must
//! reproduce from its input file alone.

use crate::AIRLINES;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use passcom_crdt::AirlineId;
use passcom_node::Event;

/// The fixture keys of rumos, giro, boreal and zeta, derived once: deriving a public key is a
/// scalar multiplication, far too slow to repeat per input under coverage instrumentation.
fn keys() -> &'static [(SigningKey, VerifyingKey); 4] {
    static KEYS: std::sync::OnceLock<[(SigningKey, VerifyingKey); 4]> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        std::array::from_fn(|i| {
            let k = crate::signing_key(i);
            let v = k.verifying_key();
            (k, v)
        })
    })
}

pub(super) fn signing_key(i: usize) -> &'static SigningKey {
    &keys()[i].0
}

pub(super) fn verifying_key(i: usize) -> &'static VerifyingKey {
    &keys()[i].1
}

pub(super) fn key_of(airline: &AirlineId) -> Option<usize> {
    AIRLINES
        .iter()
        .position(|a| *a == airline.as_str())
        .or((airline.as_str() == "zeta").then_some(3))
}

pub(super) fn sign(ev: &mut Event, key: usize) {
    ev.signature = signing_key(key)
        .sign(&ev.signed_bytes())
        .to_bytes()
        .to_vec();
}
