//! Copying a node: the fuzz targets build a node's state once (a whole network exchange:
//! signature checks, Automerge merges, commits) and start every input from a copy of it,
//! which [`Node::open`] cannot give cheaply since it reloads every catalog document through
//! Automerge.

use super::Node;
use crate::store::{Batch, Store};

impl Node {
    /// A copy of this node over `store`, for a test harness that starts many runs from one
    /// prepared state.
    ///
    /// `store` must hold exactly what this node's store holds (a copy of its database's bytes,
    /// taken between two batches): the copy keeps the in-memory state that must always equal
    /// the store (catalog, tokens, tickets, clock, operations, holds, outbox, roster) without
    /// reading it back, and a store that differs breaks that invariant. Everything else is
    /// copied too — the phase, connections, liveness, equivocations, time — so the copy behaves
    /// as this node would.
    ///
    /// Returns `None` when this node holds events waiting for their predecessors (the
    /// deferred queue is not copied), or is mid-batch; a node just opened holds none.
    pub fn fork(&self, store: Store) -> Option<Node> {
        let idle = self.batch.is_empty()
            && self.out.is_empty()
            && self.local_tokens.is_empty()
            && self.local_tickets.is_empty()
            && self.local_catalog.is_empty();
        if !idle || self.deferred.keys().next().is_some() {
            return None;
        }
        Some(Node {
            cfg: self.cfg.clone(),
            store,
            signer: self.signer.clone(),
            roster: self.roster.clone(),
            key_records: self.key_records.clone(),
            catalog: self.catalog.clone(),
            tokens: self.tokens.clone(),
            tickets: self.tickets.clone(),
            clock: self.clock.clone(),
            operations: self.operations.clone(),
            holds: self.holds.clone(),
            outbox: self.outbox.clone(),
            connected: self.connected.clone(),
            answered: self.answered.clone(),
            heard: self.heard.clone(),
            reachable: self.reachable.clone(),
            phase: self.phase.clone(),
            batch_no: self.batch_no,
            input_no: None,
            incarnation: self.incarnation,
            incarnations: self.incarnations.clone(),
            equivocations: self.equivocations.clone(),
            equivocation_count: self.equivocation_count,
            time_offset: self.time_offset,
            last_now: self.last_now,
            deferred: Default::default(),
            waiters: self.waiters.clone(),
            pending: self.pending.clone(),
            requested: self.requested.clone(),
            demand: self.demand.clone(),
            batch: Batch::default(),
            local_tokens: Vec::new(),
            local_tickets: Vec::new(),
            local_catalog: Vec::new(),
            dirty_docs: self.dirty_docs.clone(),
            direct: self.direct.clone(),
            sync_asked: self.sync_asked.clone(),
            out: Vec::new(),
            tickets_in_batch: self.tickets_in_batch,
            tokens_arrived: self.tokens_arrived,
            stale: self.stale,
        })
    }

    /// The store, the rest of the node dropped: a harness that made this node with
    /// [`Node::fork`] rolls the store back (a redb savepoint) and forks again over it.
    pub fn into_store(self) -> Store {
        self.store
    }
}
