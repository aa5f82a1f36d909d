//! The fixture keys of rumos, giro, boreal and zeta, derived once, and event signing with
//! them.
//!
//! It must never hold a key that is not derived from the fixture's fixed seeds: a crash must
//! reproduce from its input file alone.

use crate::AIRLINES;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use passcom_crdt::AirlineId;
use passcom_node::Event;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

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

/// At most this many signatures are remembered by [`sign`] and [`verifies`] each; the memory
/// is emptied when full.
const REMEMBERED: usize = 1 << 16;

/// Answers remembered by the question asked.
type Memory<K, V> = RefCell<HashMap<K, V>>;

thread_local! {
    /// Signatures made, by (key, signed bytes).
    static SIGNED: Memory<(usize, Vec<u8>), Vec<u8>> = RefCell::default();
    /// Verdicts, by (key, signed bytes, signature).
    static VERIFIED: Memory<(usize, Vec<u8>, Vec<u8>), bool> = RefCell::default();
}

/// Looks `key` up in `map`, or computes, remembers and returns its value. ed25519 signing and
/// verifying are pure functions of their inputs, so a remembered answer is exactly the one
/// computing it again would give: inputs stay reproducible, and the few recorded events that
/// every input edits, signs and checks again cost one hash lookup instead of a curve operation.
fn remember<K: Eq + Hash, V: Clone>(
    map: &'static std::thread::LocalKey<Memory<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    map.with_borrow_mut(|m| {
        if let Some(v) = m.get(&key) {
            return v.clone();
        }
        if m.len() >= REMEMBERED {
            m.clear();
        }
        let v = compute();
        m.insert(key, v.clone());
        v
    })
}

/// Fixture key `key`'s signature of `bytes`.
pub(super) fn signature(key: usize, bytes: Vec<u8>) -> Vec<u8> {
    let signed = bytes.clone();
    remember(&SIGNED, (key, bytes), || {
        signing_key(key).sign(&signed).to_bytes().to_vec()
    })
}

/// Signs `ev` with fixture key `key`.
pub(super) fn sign(ev: &mut Event, key: usize) {
    ev.signature = signature(key, ev.signed_bytes());
}

/// Whether `signature` is fixture key `key`'s signature of `bytes`.
pub(super) fn verifies(key: usize, bytes: Vec<u8>, signature: &[u8]) -> bool {
    remember(&VERIFIED, (key, bytes.clone(), signature.to_vec()), || {
        Signature::from_slice(signature)
            .is_ok_and(|sig| verifying_key(key).verify(&bytes, &sig).is_ok())
    })
}
