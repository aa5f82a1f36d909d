//! Deliberate bugs, the one hook through which they enter the node.
//!
//! The simulator plants a bug in every peer to show that its checker fails when an invariant
//! breaks (`passcom simulate --planted-bug NAME`, builds with the `planted-bugs` feature). The
//! rest of the node asks [`Node::planted`] and never looks at the feature or the
//! configuration itself; in a normal build the hook is a constant `false`, so every branch it
//! guards compiles away.

use super::Node;
use passcom_crdt::{Token, TokenState, Transition};

/// Bugs the simulator plants to show that its checker fails when an invariant breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// A peer sells seats whose token another peer holds.
    NonHolderSells,
    /// Merging keeps the lower version: a stale update rolls a token back.
    MergeKeepsLower,
    /// A recovering peer ignores what its partners heard of other processes with its
    /// identity: a twin sells beside the original.
    TwinUnchecked,
}

impl std::str::FromStr for PlantedBug {
    type Err = String;
    /// Parses the names `passcom simulate --planted-bug` takes.
    ///
    /// Errors: the list of names, when `s` is none of them.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "non-holder-sells" => Ok(PlantedBug::NonHolderSells),
            "merge-keeps-lower" => Ok(PlantedBug::MergeKeepsLower),
            "twin-unchecked" => Ok(PlantedBug::TwinUnchecked),
            _ => Err(format!(
                "unknown planted bug {s:?}: expected non-holder-sells, merge-keeps-lower or twin-unchecked"
            )),
        }
    }
}

impl Node {
    /// Whether `bug` is planted in this peer: only in builds with the `planted-bugs` feature,
    /// and only when the configuration asks for it.
    #[inline]
    pub(super) fn planted(&self, bug: PlantedBug) -> bool {
        #[cfg(feature = "planted-bugs")]
        return self.cfg.planted_bug == Some(bug);
        #[cfg(not(feature = "planted-bugs"))]
        {
            let _ = bug;
            false
        }
    }

    /// The token a peer with `non-holder-sells` planted writes for `t` over `prev`, a token it
    /// does not hold: sold or held by itself, as if it were the holder. `None` for any other
    /// transition, or when the bug is not planted.
    pub(super) fn non_holder_write(&self, prev: &Token, t: &Transition) -> Option<Token> {
        if !self.planted(PlantedBug::NonHolderSells) || prev.writer() == &self.cfg.airline {
            return None;
        }
        let state = match t {
            Transition::Sell { ticket, .. } => TokenState::Sold {
                seller: self.cfg.airline.clone(),
                ticket: ticket.clone(),
            },
            Transition::Hold { hold_id, expires } => TokenState::Held {
                holder: self.cfg.airline.clone(),
                hold_id: hold_id.clone(),
                expires: *expires,
            },
            _ => return None,
        };
        Some(Token {
            version: prev.version + 1,
            state,
        })
    }
}
