//! Keys that travel with the events that need them.
//!
//! With an open roster a peer learns an airline's key when the airline identifies itself on a
//! direct connection ([`crate::Input::PeerKey`]). A peer that never meets some airline directly
//! would never learn its key, and would keep that airline's events unverified. So every peer
//! signs a [`KeyRecord`] of its own key, and sends, just before each catch-up page that
//! carries events, the records of the page's origins and its own ([`Message::Keys`]); an
//! empty page, the answer to every tick's probe, goes alone. A record is checked against the key
//! it names; it binds the name only where the name has no key yet, as a direct identify would
//! (first key wins), and never with a closed roster. A record signed by another key than the
//! one it names is a forgery: its sender is rejected.

use super::Node;
use crate::model::{Event, KeyRecord, MAX_KEY_RECORDS, Message, Output};
use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use passcom_crdt::{AirlineId, Millis};
use std::collections::{BTreeMap, BTreeSet};

impl Node {
    /// Signs this peer's own key record (nothing without a signing key).
    pub(super) fn sign_own_key_record(&mut self) {
        let Some(signer) = &self.signer else {
            return;
        };
        let mut record = KeyRecord {
            airline: self.cfg.airline.clone(),
            key: signer.verifying_key().to_bytes().to_vec(),
            signature: Vec::new(),
        };
        record.signature = signer.sign(&record.signed_bytes()).to_bytes().to_vec();
        self.key_records.insert(self.cfg.airline.clone(), record);
    }

    /// Sends `to` the records of the origins of `events` that this peer can vouch for, and
    /// its own, ahead of the page that carries the events.
    pub(super) fn send_key_records(&mut self, to: &AirlineId, events: &[Event]) {
        let origins: BTreeSet<&AirlineId> = events
            .iter()
            .map(|e| &e.origin)
            .chain(std::iter::once(&self.cfg.airline))
            .collect();
        let records: Vec<KeyRecord> = origins
            .into_iter()
            .filter_map(|o| self.key_records.get(o).cloned())
            .take(MAX_KEY_RECORDS)
            .collect();
        if !records.is_empty() {
            self.out.push(Output::Send {
                to: to.clone(),
                msg: Message::Keys { records },
            });
        }
    }

    /// Key records from `from`: learns the keys of airlines that have none here yet (open
    /// roster), keeps the records that match the roster to relay them, and rejects `from` for
    /// a record whose signature is not by the key it names.
    pub(super) fn on_key_records(
        &mut self,
        from: &AirlineId,
        records: Vec<KeyRecord>,
        now: Millis,
    ) {
        let mut learned = false;
        let mut kept = false;
        for record in records.into_iter().take(MAX_KEY_RECORDS) {
            // Every catch-up page comes after the same few records, so most records are copies
            // of one this node already holds. A held record was verified when it was kept (or
            // is our own, signed here, or was loaded from our own store, which keeps only
            // verified ones), and the roster binds its name to its key for good (a roster entry
            // is never replaced). So a byte-identical copy (same airline, key and signature)
            // would pass the check below and change nothing: it is skipped unchecked. Anything
            // that differs in a single byte is not held and is checked in full.
            if self.key_records.get(&record.airline) == Some(&record) {
                continue;
            }
            let key = <[u8; 32]>::try_from(record.key.as_slice())
                .ok()
                .and_then(|k| VerifyingKey::from_bytes(&k).ok());
            let valid = key.is_some_and(|k| {
                Signature::from_slice(&record.signature)
                    .is_ok_and(|sig| k.verify(&record.signed_bytes(), &sig).is_ok())
            });
            let Some(key) = key.filter(|_| valid) else {
                self.reject(
                    from,
                    format!(
                        "the key record of {} is not signed by its key",
                        record.airline
                    ),
                );
                return;
            };
            if record.airline == self.cfg.airline {
                continue; // our own key is ours to state
            }
            match self.roster.get(&record.airline) {
                Some(k) if *k == key => {
                    if !self.key_records.contains_key(&record.airline) {
                        self.key_records.insert(record.airline.clone(), record);
                        kept = true;
                    }
                }
                Some(_) => {} // another key holds the name here: first key wins
                None if self.cfg.roster_closed => {}
                None => {
                    self.roster.insert(record.airline.clone(), key);
                    self.key_records.insert(record.airline.clone(), record);
                    learned = true;
                }
            }
        }
        if learned || kept {
            // Kept durably, so a restarted peer still vouches for the airlines it never met.
            let others: BTreeMap<&AirlineId, &KeyRecord> = self
                .key_records
                .iter()
                .filter(|(a, _)| **a != self.cfg.airline)
                .collect();
            self.batch.meta(
                "key_records",
                postcard::to_stdvec(&others).unwrap_or_default(),
            );
        }
        if learned {
            self.batch.meta(
                "roster",
                postcard::to_stdvec(&self.roster()).unwrap_or_default(),
            );
            self.drain_deferred(now);
        }
    }
}
