//! Bootstrap addresses kept dialled: those given at start and those an operator's dial
//! reached, re-dialled after drops with bounded exponential backoff.
//!
//! It must never dial a peer that is cut off, hung up on or refused as an impostor, nor its
//! own address.

use super::{BACKOFF_MAX, BACKOFF_MIN, Boot, Driver, MAX_BOOTSTRAP};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

impl Driver {
    /// Adds `addr`, where `peer` answered, to the bootstrap addresses unless it is there
    /// already or [`MAX_BOOTSTRAP`] are kept.
    pub(super) fn keep_dialling(&mut self, addr: Multiaddr, peer: PeerId) {
        if self.bootstrap.iter().any(|b| b.addr == addr) {
            return;
        }
        if self.bootstrap.len() >= MAX_BOOTSTRAP {
            tracing::warn!(%addr, "not re-dialled after drops: {MAX_BOOTSTRAP} addresses are already");
            return;
        }
        self.bootstrap.push(Boot {
            addr,
            peer: Some(peer),
            dialing: None,
            next_try: Instant::now(),
            backoff: BACKOFF_MIN,
            is_self: false,
        });
    }

    /// Re-dials bootstrap peers that are not connected, with bounded exponential backoff.
    pub(super) fn maintain(&mut self) {
        // Callers that gave up waiting (their request timed out) leave a closed sender.
        self.waiting.retain(|_, tx| !tx.is_closed());
        self.dials.retain(|_, (_, tx)| !tx.is_closed());
        if self.cut_all {
            return;
        }
        let now = Instant::now();
        for i in 0..self.bootstrap.len() {
            let b = &self.bootstrap[i];
            if b.is_self || b.dialing.is_some() || now < b.next_try {
                continue;
            }
            if let Some(p) = b.peer
                && (self.swarm.is_connected(&p)
                    || self.cut_blocked.contains(&p)
                    || self.hung_up.contains(&p)
                    || self.impostors.contains(&p))
            {
                continue;
            }
            let addr = b.addr.clone();
            let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
            let id = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => self.bootstrap[i].dialing = Some(id),
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "cannot dial bootstrap peer");
                    self.backoff(i);
                }
            }
        }
    }

    pub(super) fn backoff(&mut self, i: usize) {
        let b = &mut self.bootstrap[i];
        b.dialing = None;
        b.next_try = Instant::now() + b.backoff;
        b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
    }
}
