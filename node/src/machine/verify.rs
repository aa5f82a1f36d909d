//! Signature checks of many events at once.
//!
//! A catch-up page brings hundreds of events, and checking their ed25519 signatures one by one
//! was most of a catch-up's time. Here the signatures of a list are checked together with
//! ed25519's batch equation (one multi-scalar multiplication per group instead of one double
//! scalar multiplication per signature), groups spread over the machine's cores when the list
//! is long. A group that fails is checked again one signature at a time, so a forged event is
//! rejected alone and the honest events around it are still taken: batching changes the cost,
//! never the verdict of an honest event, and never lets a forged one through (the batch
//! equation holds for a forged signature only with probability about 2⁻¹²⁸).
//!
//! Batch randomness is derived from the inputs (ed25519-dalek's transcript), so the verdicts
//! are a pure function of the events: the simulator replays them exactly.

use super::Node;
use crate::model::Event;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Signatures checked together in one batch equation. Larger groups cost a little less per
/// signature but more to re-check one by one when a forged event spoils the group.
const GROUP: usize = 128;

/// Below this many signatures the list is checked on the calling thread only: starting a
/// thread costs more than the work it would take.
const PARALLEL_FROM: usize = 2 * GROUP;

/// One event's signature, ready for the curve: what it signs, the signature, and the key it
/// must verify under.
struct Pending {
    index: usize,
    bytes: Vec<u8>,
    signature: Signature,
    key: VerifyingKey,
}

impl Node {
    /// The verdict of [`Node::check_signature`] for every event of `events` whose `wanted`
    /// flag is set (`None` for the others), computed with batch verification. A verdict is
    /// `Ok(true)` for a valid signature, `Ok(false)` when the origin's key is not known yet
    /// (or signatures are not required), and the reason to reject the event otherwise —
    /// exactly what `check_signature` answers for the same event.
    pub(super) fn check_signatures(
        &self,
        events: &[Event],
        wanted: &[bool],
    ) -> Vec<Option<Result<bool, String>>> {
        let mut verdicts: Vec<Option<Result<bool, String>>> = vec![None; events.len()];
        let mut pending = Vec::new();
        for (index, ev) in events.iter().enumerate() {
            if !wanted.get(index).copied().unwrap_or(false) {
                continue;
            }
            match self.key_for(ev) {
                KeyFor::Verdict(v) => verdicts[index] = Some(v),
                KeyFor::Key(key) => match Signature::from_slice(&ev.signature) {
                    Ok(signature) => pending.push(Pending {
                        index,
                        bytes: ev.signed_bytes(),
                        signature,
                        key,
                    }),
                    Err(_) => verdicts[index] = Some(Err(bad_signature(ev, &self.cfg.airline))),
                },
            }
        }
        for (index, ok) in verify_all(&pending) {
            let ev = &events[index];
            verdicts[index] = Some(if ok {
                Ok(true)
            } else {
                Err(bad_signature(ev, &self.cfg.airline))
            });
        }
        verdicts
    }

    /// Which key `ev` must be signed with, or its verdict when no signature check is needed
    /// (the same rules as [`Node::check_signature`]).
    fn key_for(&self, ev: &Event) -> KeyFor {
        if ev.origin == self.cfg.airline {
            return match &self.signer {
                Some(key) => KeyFor::Key(key.verifying_key()),
                None if !self.cfg.require_signatures => KeyFor::Verdict(Ok(true)),
                None => KeyFor::Verdict(Err(bad_signature(ev, &self.cfg.airline))),
            };
        }
        if !self.cfg.require_signatures {
            return KeyFor::Verdict(Ok(true));
        }
        match self.roster.get(&ev.origin) {
            Some(key) => KeyFor::Key(*key),
            None if self.cfg.roster_closed => {
                KeyFor::Verdict(Err(format!("{} is not in the network roster", ev.origin)))
            }
            None => KeyFor::Verdict(Ok(false)),
        }
    }
}

enum KeyFor {
    Key(VerifyingKey),
    Verdict(Result<bool, String>),
}

/// The reason given for an event whose signature does not verify (the words of
/// [`Node::check_signature`]).
fn bad_signature(ev: &Event, me: &passcom_crdt::AirlineId) -> String {
    if &ev.origin == me {
        format!("event {} of {} claims to be ours", ev.seq, ev.origin)
    } else {
        format!("event {} of {} has no valid signature", ev.seq, ev.origin)
    }
}

/// Verifies every pending signature: (index, valid) for each. Long lists are cut into groups
/// verified on up to `available_parallelism` threads.
fn verify_all(pending: &[Pending]) -> Vec<(usize, bool)> {
    let threads = if pending.len() >= PARALLEL_FROM {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(pending.len() / GROUP)
            .max(1)
    } else {
        1
    };
    if threads == 1 {
        return pending.chunks(GROUP).flat_map(verify_group).collect();
    }
    // Contiguous shares, one per thread, each verified group by group.
    let share = pending.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = pending
            .chunks(share)
            .skip(1)
            .map(|part| {
                s.spawn(move || {
                    part.chunks(GROUP)
                        .flat_map(verify_group)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out: Vec<(usize, bool)> = pending[..share.min(pending.len())]
            .chunks(GROUP)
            .flat_map(verify_group)
            .collect();
        for h in handles {
            // A panic inside the curve code would be a bug there; treat the share as unverified
            // rather than take the node down with
            // it: the caller checks those events one by one.
            if let Ok(v) = h.join() {
                out.extend(v);
            }
        }
        out
    })
}

/// One batch equation for the group; if it fails, every signature alone, so that only the
/// bad ones are reported bad.
fn verify_group(group: &[Pending]) -> Vec<(usize, bool)> {
    if group.len() > 1 {
        let msgs: Vec<&[u8]> = group.iter().map(|p| p.bytes.as_slice()).collect();
        let sigs: Vec<Signature> = group.iter().map(|p| p.signature).collect();
        let keys: Vec<VerifyingKey> = group.iter().map(|p| p.key).collect();
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            return group.iter().map(|p| (p.index, true)).collect();
        }
    }
    group
        .iter()
        .map(|p| (p.index, p.key.verify(&p.bytes, &p.signature).is_ok()))
        .collect()
}
