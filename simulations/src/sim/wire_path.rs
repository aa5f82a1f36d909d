//! The `wire` fault family: messages between simulated peers take the path real ones take
//! through `passcom_net::wire`. A message is split by `wire::chunk` (events and pages into
//! parts of about 4 MiB), each part is CBOR-encoded by `wire::encode`, held to the wire's
//! size limit (gossip's for a broadcast, request-response's for a direct message), and the
//! receivers get what `wire::decode` gives back.
//!
//! Direct messages ride libp2p's request-response CBOR codec in a real peer; the simulator
//! encodes them with `wire::encode` (CBOR of the same serde types) and holds them to the
//! codec's limit (`wire::MAX_DIRECT_BYTES`), so that no libp2p code runs here.

use super::*;
use passcom_net::wire;

impl Simulation {
    /// The parts `msg` travels as, each with its size. Without the wire family: `msg` whole,
    /// its size counted as postcard. With it: the wire's parts as decoded from their CBOR
    /// bytes, each with its encoded size. A part the wire could not carry (encoding or
    /// decoding fails, a part over the limit, or decoding gives another message back) is a
    /// violation: an honest message would be lost by every real peer.
    pub(super) fn on_the_wire(&mut self, msg: Message, direct: bool) -> Vec<(Message, u64)> {
        if !self.sched.faults.wire {
            let size = self.size(&msg);
            return vec![(msg, size)];
        }
        let parts = wire::chunk(msg);
        if parts.len() > 1 {
            self.metrics.faults.wire_split += 1;
        }
        let limit = if direct {
            usize::try_from(wire::MAX_DIRECT_BYTES).unwrap_or(usize::MAX)
        } else {
            wire::MAX_GOSSIP_BYTES
        };
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            match carry(&part, limit) {
                Ok((decoded, size)) => out.push((decoded, size)),
                Err(why) => {
                    let b = (
                        Invariant::HonestRejected,
                        format!("the wire cannot carry a {} message: {why}", part.kind()),
                    );
                    self.breach(b);
                    return Vec::new();
                }
            }
        }
        out
    }
}

/// Encodes `part`, checks its size against `limit` and decodes it again; the decoded message
/// and its encoded size, or why the wire would not carry it.
fn carry(part: &Message, limit: usize) -> Result<(Message, u64), String> {
    let bytes = wire::encode(part)?;
    if bytes.len() > limit {
        return Err(format!("{} bytes, over the limit of {limit}", bytes.len()));
    }
    let decoded = wire::decode(&bytes)?;
    if &decoded != part {
        return Err("decoding gave another message back".to_owned());
    }
    Ok((decoded, bytes.len() as u64))
}
