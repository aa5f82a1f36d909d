//! Events from peers: signatures checked in batches, events queued until their predecessors
//! are here, then validated and applied whole, or refused with their sender named.

use super::*;

impl Node {
    pub(super) fn on_events(&mut self, from: &AirlineId, events: Vec<Event>, now: Millis) {
        let mut gap = false;
        // The signatures of every event that may be kept are checked together, in batches
        // (see `verify`); the verdicts are those `check_signature` would give one by one.
        let fresh: Vec<bool> = events
            .iter()
            .map(|ev| {
                ev.seq > self.clock.get(&ev.origin)
                    && !self.deferred.contains_key(&(ev.origin.clone(), ev.seq))
            })
            .collect();
        let mut verdicts = self.check_signatures(&events, &fresh);
        for (i, ev) in events.into_iter().enumerate() {
            let have = self.clock.get(&ev.origin);
            // The planted bug: a duplicate or catch-up copy of an applied event is merged again,
            // and its older token versions win over the newer ones already here.
            if ev.seq <= have && self.planted(PlantedBug::MergeKeepsLower) {
                for u in &ev.tokens {
                    if self
                        .tokens
                        .get(&u.seat)
                        .is_some_and(|t| t.version > u.next.version)
                    {
                        self.install_token(&u.seat, &u.next, now);
                    }
                }
            }
            if ev.seq <= have {
                self.check_equivocation(&ev, from);
                continue;
            }
            if let Some(d) = self.deferred.get(&(ev.origin.clone(), ev.seq)) {
                if !recovery::same_event(&d.event, &ev) {
                    self.second_version(&ev, from);
                }
                continue;
            }
            // Check the signature before keeping anything, so forged events are rejected (and
            // their sender penalised) at once instead of filling the queue.
            let verdict = verdicts[i]
                .take()
                .unwrap_or_else(|| self.check_signature(&ev));
            let verified = match verdict {
                Ok(v) => v,
                Err(reason) => {
                    self.reject(from, reason);
                    continue;
                }
            };
            if ev.origin == self.cfg.airline && !self.own_event_welcome(&ev) {
                continue;
            }
            if ev.seq > have + 1 {
                gap = true;
            }
            let kept = self.deferred.offer(
                deferred::Deferred {
                    from: from.clone(),
                    size: ev.signed_bytes().len() + ev.signature.len(),
                    event: ev,
                    verified,
                    arrived: now,
                    tag: self.message_tag(),
                },
                self.cfg.max_deferred,
            );
            if !kept {
                gap = true;
            }
        }
        self.drain_deferred(now);
        if gap {
            self.ask_sync(from);
        }
    }

    /// Checks an event's signature against its origin's key: `Ok(true)` when valid,
    /// `Ok(false)` when the key is not known yet (or signatures are not required), and the
    /// reason to reject it otherwise.
    pub(super) fn check_signature(&self, ev: &Event) -> Result<bool, String> {
        let origin = &ev.origin;
        if origin == &self.cfg.airline {
            // Our own history coming back from partners (after a lost disk, say) is taken only
            // with our own signature: nobody else can write as us.
            let ok = match &self.signer {
                Some(key) => Signature::from_slice(&ev.signature)
                    .is_ok_and(|sig| key.verifying_key().verify(&ev.signed_bytes(), &sig).is_ok()),
                None => !self.cfg.require_signatures,
            };
            return if ok {
                Ok(true)
            } else {
                Err(format!("event {} of {origin} claims to be ours", ev.seq))
            };
        }
        if !self.cfg.require_signatures {
            return Ok(true);
        }
        let Some(key) = self.roster.get(origin) else {
            if self.cfg.roster_closed {
                return Err(format!("{origin} is not in the network roster"));
            }
            return Ok(false); // kept until we learn its key
        };
        let ok = Signature::from_slice(&ev.signature)
            .is_ok_and(|sig| key.verify(&ev.signed_bytes(), &sig).is_ok());
        if ok {
            Ok(true)
        } else {
            Err(format!(
                "event {} of {origin} has no valid signature",
                ev.seq
            ))
        }
    }

    /// Applies every deferred event whose predecessors are all here, until none applies.
    pub(super) fn drain_deferred(&mut self, now: Millis) {
        loop {
            let mut progressed = false;
            let keys: Vec<(AirlineId, u64)> = self.deferred.keys().cloned().collect();
            for key in keys {
                let have = self.clock.get(&key.0);
                if key.1 <= have {
                    self.deferred.remove(&key);
                    continue;
                }
                if key.1 != have + 1 {
                    continue;
                }
                let mut d = self.deferred.remove(&key).expect("listed");
                if !d.verified {
                    match self.check_signature(&d.event) {
                        Ok(true) => d.verified = true,
                        Ok(false) => {
                            self.deferred.put_back(key, d);
                            continue;
                        }
                        Err(reason) => {
                            self.out.push(Output::Rejected {
                                from: d.from,
                                reason,
                                message: self.tagged_message(d.tag),
                            });
                            continue;
                        }
                    }
                }
                match self.apply_remote_event(&d.event, now) {
                    Applied::Yes => progressed = true,
                    Applied::NotYet => {
                        self.deferred.put_back(key, d);
                    }
                    Applied::Rejected(reason) => {
                        self.out.push(Output::Rejected {
                            from: d.from,
                            reason,
                            message: self.tagged_message(d.tag),
                        });
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Validates a remote event against the local state and applies it whole, or not at all:
    /// a refused event leaves no catalog change, token or ticket behind. Its signature was
    /// checked when it was queued ([`Node::check_signature`]); what it carries is checked by
    /// [`passcom_crdt::Catalog::prepare_remote`] and [`Node::check_event`].
    pub(super) fn apply_remote_event(&mut self, ev: &Event, now: Millis) -> Applied {
        let origin = &ev.origin;
        // The catalog first, as it would be after the event: the event may sell seats of a
        // flight it creates, so its tokens are checked against the new document. The old
        // document is put back if anything in the event is refused or must wait.
        let previous_doc = if ev.catalog.is_empty() {
            None
        } else {
            match self.catalog.prepare_remote(origin, &ev.catalog) {
                Ok(doc) => Some(self.catalog.insert_doc(doc)),
                Err(e) => {
                    return Applied::Rejected(format!("catalog change from {origin} refused: {e}"));
                }
            }
        };
        let updates = match self.check_event(ev) {
            Ok(updates) => updates,
            Err(unfit) => {
                if let Some(previous) = previous_doc {
                    self.catalog.restore(origin, previous);
                }
                return match unfit {
                    remote::Unfit::NotYet => Applied::NotYet,
                    remote::Unfit::Rejected(reason) => Applied::Rejected(reason),
                };
            }
        };
        if previous_doc.is_some() {
            self.dirty_docs.insert(origin.clone());
        }
        for u in updates {
            self.install_token(&u.seat, &u.next, now);
            if matches!(&u.next.state, TokenState::InTransit { to, .. } if to == &self.cfg.airline)
            {
                // Step 2 of the hand-over: take the token, durably, in this same batch.
                let _ = self.write_token(&u.seat, &Transition::Receive, now);
            }
            self.tokens_arrived = true;
        }
        for t in &ev.tickets {
            let merged = match self.tickets.get(&t.id) {
                Some(old) => old.merge(t),
                None => {
                    self.note_sale(t, now);
                    t.clone()
                }
            };
            self.tickets.insert(t.id.clone(), merged.clone());
            self.batch.ticket(merged);
            if origin == &self.cfg.airline
                && let Some(key) = &t.key
                && !matches!(self.operations.get(key), Some(Operation::Confirmed(_)))
            {
                // Our own sale, recovered from a partner: a retry of its key gets this ticket.
                self.record(key, Operation::Confirmed(t.id.clone()));
            }
        }
        self.clock.observe(origin, ev.seq);
        self.batch.clock(origin.clone(), ev.seq);
        self.batch.event(ev.clone());
        if !ev.catalog.is_empty() {
            self.cancel_tickets_of_cancelled_flights(now);
            // Tokens of flights we had not heard of may now be checkable.
            self.tokens_arrived = true;
        }
        Applied::Yes
    }
}

pub(super) enum Applied {
    Yes,
    NotYet,
    Rejected(String),
}
