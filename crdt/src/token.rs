//! Seat tokens: the right to sell one seat, held by exactly one peer at a time.
//!
//! A token is a small state-based CRDT. Every change raises `version` by one and may only be
//! written by the peer that [`Token::writer`] names for the current state, so the versions of a
//! token form a single chain. Replicas merge by keeping the higher version, which makes merge
//! commutative, associative and idempotent: deliveries may be lost, duplicated or reordered and
//! every replica still ends at the head of the chain.

use crate::ids::{AirlineId, TicketId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Milliseconds since the Unix epoch, UTC. Passed in by the caller: this crate reads no clock.
pub type Millis = i64;

/// Where a seat token is and who may act on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// The holder may sell it, hold it for a cart or hand it over.
    Available {
        /// The peer entitled to act on the token.
        holder: AirlineId,
    },
    /// In a traveler's cart at the holder until `expires`.
    Held {
        /// The peer entitled to act on the token.
        holder: AirlineId,
        /// The cart that holds it; only a sale naming this hold may take it before expiry.
        hold_id: String,
        /// When the hold lapses (ms since epoch, the holder's clock).
        expires: Millis,
    },
    /// Granted by `from` to `to`; only `to` may write the next version (its receipt).
    InTransit {
        /// The peer that handed the token over.
        from: AirlineId,
        /// The peer that will hold it once it acknowledges.
        to: AirlineId,
    },
    /// Sold by `seller` on `ticket`. Only the seller may refund it.
    Sold {
        /// The peer that sold the seat and keeps the ticket.
        seller: AirlineId,
        /// The ticket the seat is on.
        ticket: TicketId,
    },
}

/// A seat token: its state and the version that orders its changes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Token {
    /// Number of changes since the flight was created. Higher wins on merge.
    pub version: u64,
    /// The state after the latest change.
    pub state: TokenState,
}

/// A change a peer asks to make to a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Put an available (or expired-hold) seat in a cart until `expires`.
    Hold {
        /// The cart's identifier.
        hold_id: String,
        /// When the hold lapses.
        expires: Millis,
    },
    /// Take a seat out of the cart `hold_id` (also used when the hold expired).
    Release {
        /// The cart that held it.
        hold_id: String,
    },
    /// Sell the seat on `ticket`. A held seat needs the matching `hold_id` unless its hold expired.
    Sell {
        /// The ticket the seat goes on.
        ticket: TicketId,
        /// The cart the traveler checks out, if the seat was held.
        hold_id: Option<String>,
    },
    /// First step of a hand-over: the holder grants the token to `to`.
    Grant {
        /// The receiving peer.
        to: AirlineId,
    },
    /// Second step of a hand-over: the receiver takes the token.
    Receive,
    /// Cancel the sale: the seat is available again at the seller.
    Refund,
}

/// Why a token change was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TokenError {
    /// The actor is not the peer entitled to write the next version.
    #[error("{actor} is not the holder of this seat (it is {entitled})")]
    NotHolder {
        /// Who tried.
        actor: AirlineId,
        /// Who may write the next version.
        entitled: AirlineId,
    },
    /// The seat is on a ticket already.
    #[error("the seat is sold")]
    Sold,
    /// The seat is in another traveler's cart.
    #[error("the seat is held in another cart until {expires}")]
    HeldElsewhere {
        /// When that hold lapses.
        expires: Millis,
    },
    /// The hold named by the sale has lapsed.
    #[error("the hold expired at {expires}")]
    HoldExpired {
        /// When it lapsed.
        expires: Millis,
    },
    /// The token is being handed over; nobody may act until the receiver takes it.
    #[error("the seat is moving from {from} to {to}")]
    InTransit {
        /// The granting peer.
        from: AirlineId,
        /// The receiving peer.
        to: AirlineId,
    },
    /// The transition does not apply to the token's state (for example a refund of an unsold seat).
    #[error("cannot {op} a seat that is {state}")]
    Invalid {
        /// The transition's name.
        op: &'static str,
        /// The state's name.
        state: &'static str,
    },
    /// A remote update does not follow its claimed predecessor.
    #[error("update v{next} does not follow v{prev} by one legal step")]
    BrokenChain {
        /// Version of the predecessor.
        prev: u64,
        /// Version of the update.
        next: u64,
    },
}

impl TokenState {
    /// A short name of the state, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            TokenState::Available { .. } => "available",
            TokenState::Held { .. } => "held",
            TokenState::InTransit { .. } => "in transit",
            TokenState::Sold { .. } => "sold",
        }
    }
}

impl Transition {
    fn name(&self) -> &'static str {
        match self {
            Transition::Hold { .. } => "hold",
            Transition::Release { .. } => "release",
            Transition::Sell { .. } => "sell",
            Transition::Grant { .. } => "grant",
            Transition::Receive => "receive",
            Transition::Refund => "refund",
        }
    }
}

impl Token {
    /// The token of a seat of a freshly created flight: available at its operating airline.
    /// Tokens in this state need not be stored: an absent token means this.
    pub fn initial(operator: AirlineId) -> Token {
        Token {
            version: 0,
            state: TokenState::Available { holder: operator },
        }
    }

    /// The only peer allowed to write the next version: the holder, the seller of a sold seat,
    /// or the receiver of a token in transit. This is invariant 3 in one function.
    pub fn writer(&self) -> &AirlineId {
        match &self.state {
            TokenState::Available { holder } | TokenState::Held { holder, .. } => holder,
            TokenState::InTransit { to, .. } => to,
            TokenState::Sold { seller, .. } => seller,
        }
    }

    /// The peer that may sell the seat right now, given `now`: the holder of an available seat
    /// or of one whose hold has lapsed. `None` while sold or moving.
    pub fn seller_now(&self, now: Millis) -> Option<&AirlineId> {
        match &self.state {
            TokenState::Available { holder } => Some(holder),
            TokenState::Held {
                holder, expires, ..
            } if *expires <= now => Some(holder),
            _ => None,
        }
    }

    /// Applies `transition` on behalf of `actor` at time `now`.
    ///
    /// Returns the next version of the token, or why the change is refused: only
    /// [`Token::writer`] may change a token, a sold seat cannot be sold or held, a held seat only
    /// sells to its cart before the hold lapses, and nothing moves a token in transit but its
    /// receipt.
    pub fn apply(
        &self,
        actor: &AirlineId,
        transition: &Transition,
        now: Millis,
    ) -> Result<Token, TokenError> {
        let entitled = self.writer();
        if actor != entitled {
            return Err(TokenError::NotHolder {
                actor: actor.clone(),
                entitled: entitled.clone(),
            });
        }
        let invalid = || TokenError::Invalid {
            op: transition.name(),
            state: self.state.name(),
        };
        let state = match (&self.state, transition) {
            (TokenState::InTransit { to, .. }, Transition::Receive) => {
                TokenState::Available { holder: to.clone() }
            }
            (TokenState::InTransit { from, to }, _) => {
                return Err(TokenError::InTransit {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            (TokenState::Sold { .. }, Transition::Refund) => TokenState::Available {
                holder: actor.clone(),
            },
            (TokenState::Sold { .. }, _) => return Err(TokenError::Sold),
            (_, Transition::Receive | Transition::Refund) => return Err(invalid()),
            (
                TokenState::Held {
                    hold_id: held,
                    expires,
                    ..
                },
                t,
            ) if *expires > now => match t {
                Transition::Release { hold_id } if hold_id == held => TokenState::Available {
                    holder: actor.clone(),
                },
                Transition::Sell {
                    ticket,
                    hold_id: Some(h),
                } if h == held => TokenState::Sold {
                    seller: actor.clone(),
                    ticket: ticket.clone(),
                },
                _ => return Err(TokenError::HeldElsewhere { expires: *expires }),
            },
            // Available, or held with a lapsed hold: the holder's to use.
            (current, t) => match t {
                Transition::Hold { hold_id, expires } => TokenState::Held {
                    holder: actor.clone(),
                    hold_id: hold_id.clone(),
                    expires: *expires,
                },
                Transition::Release { hold_id } => match current {
                    TokenState::Held { hold_id: held, .. } if held == hold_id => {
                        TokenState::Available {
                            holder: actor.clone(),
                        }
                    }
                    _ => return Err(invalid()),
                },
                Transition::Sell { ticket, hold_id } => match (current, hold_id) {
                    (
                        TokenState::Held {
                            hold_id: held,
                            expires,
                            ..
                        },
                        Some(h),
                    ) if h == held => {
                        return Err(TokenError::HoldExpired { expires: *expires });
                    }
                    _ => TokenState::Sold {
                        seller: actor.clone(),
                        ticket: ticket.clone(),
                    },
                },
                Transition::Grant { to } => {
                    if to == actor {
                        return Err(invalid());
                    }
                    TokenState::InTransit {
                        from: actor.clone(),
                        to: to.clone(),
                    }
                }
                Transition::Receive | Transition::Refund => return Err(invalid()),
            },
        };
        Ok(Token {
            version: self.version + 1,
            state,
        })
    }

    /// Merges two replicas of the same token: the higher version wins. Two different states at
    /// one version cannot arise among honest peers (only one peer may write each version); should
    /// they meet anyway, the larger state wins so that every replica still picks the same one.
    pub fn merge(&self, other: &Token) -> Token {
        if (other.version, &other.state) > (self.version, &self.state) {
            other.clone()
        } else {
            self.clone()
        }
    }

    /// Checks that `next`, written by `author`, is a legal successor of `prev`: one version
    /// higher, written by the peer entitled to write after `prev`, and of a shape some
    /// transition produces. Used to validate updates received from other peers.
    ///
    /// Errors: [`TokenError::NotHolder`] when `author` had no right to write, and
    /// [`TokenError::BrokenChain`] when `next` cannot follow `prev`.
    pub fn check_successor(
        prev: &Token,
        next: &Token,
        author: &AirlineId,
    ) -> Result<(), TokenError> {
        let broken = || TokenError::BrokenChain {
            prev: prev.version,
            next: next.version,
        };
        if next.version != prev.version + 1 {
            return Err(broken());
        }
        let entitled = prev.writer();
        if author != entitled {
            return Err(TokenError::NotHolder {
                actor: author.clone(),
                entitled: entitled.clone(),
            });
        }
        let legal = match (&prev.state, &next.state) {
            (TokenState::InTransit { to, .. }, TokenState::Available { holder }) => holder == to,
            (TokenState::InTransit { .. }, _) => false,
            (TokenState::Sold { .. }, TokenState::Available { holder }) => holder == author,
            (TokenState::Sold { .. }, _) => false,
            (_, TokenState::Available { holder }) => holder == author,
            (_, TokenState::Held { holder, .. }) => holder == author,
            (_, TokenState::Sold { seller, .. }) => seller == author,
            (_, TokenState::InTransit { from, to }) => from == author && to != author,
        };
        if legal { Ok(()) } else { Err(broken()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> AirlineId {
        AirlineId::new(s)
    }

    #[test]
    fn only_the_holder_sells() {
        let t = Token::initial(a("rumos"));
        let sell = Transition::Sell {
            ticket: TicketId::new("giro-1"),
            hold_id: None,
        };
        assert!(matches!(
            t.apply(&a("giro"), &sell, 0),
            Err(TokenError::NotHolder { .. })
        ));
        let sold = t.apply(&a("rumos"), &sell, 0).unwrap();
        assert_eq!(sold.version, 1);
        assert_eq!(sold.apply(&a("rumos"), &sell, 0), Err(TokenError::Sold));
    }

    #[test]
    fn hand_over_takes_two_steps_and_nobody_sells_in_between() {
        let t = Token::initial(a("rumos"));
        let moving = t
            .apply(&a("rumos"), &Transition::Grant { to: a("giro") }, 0)
            .unwrap();
        let sell = Transition::Sell {
            ticket: TicketId::new("x"),
            hold_id: None,
        };
        assert!(moving.apply(&a("rumos"), &sell, 0).is_err());
        assert!(matches!(
            moving.apply(&a("giro"), &sell, 0),
            Err(TokenError::InTransit { .. })
        ));
        let landed = moving.apply(&a("giro"), &Transition::Receive, 0).unwrap();
        assert_eq!(
            landed,
            Token {
                version: 2,
                state: TokenState::Available { holder: a("giro") }
            }
        );
        Token::check_successor(&moving, &landed, &a("giro")).unwrap();
        assert!(Token::check_successor(&moving, &landed, &a("rumos")).is_err());
    }

    #[test]
    fn holds_sell_only_to_their_cart_until_they_lapse() {
        let t = Token::initial(a("rumos"));
        let held = t
            .apply(
                &a("rumos"),
                &Transition::Hold {
                    hold_id: "cart".into(),
                    expires: 100,
                },
                0,
            )
            .unwrap();
        let other = Transition::Sell {
            ticket: TicketId::new("x"),
            hold_id: None,
        };
        assert_eq!(
            held.apply(&a("rumos"), &other, 50),
            Err(TokenError::HeldElsewhere { expires: 100 })
        );
        let mine = Transition::Sell {
            ticket: TicketId::new("y"),
            hold_id: Some("cart".into()),
        };
        assert!(held.apply(&a("rumos"), &mine, 50).is_ok());
        assert_eq!(
            held.apply(&a("rumos"), &mine, 100),
            Err(TokenError::HoldExpired { expires: 100 })
        );
        assert!(held.apply(&a("rumos"), &other, 100).is_ok());
    }

    #[test]
    fn forged_successor_is_refused() {
        let t = Token::initial(a("rumos"));
        let forged = Token {
            version: 1,
            state: TokenState::Sold {
                seller: a("rogue"),
                ticket: TicketId::new("f"),
            },
        };
        assert!(matches!(
            Token::check_successor(&t, &forged, &a("rogue")),
            Err(TokenError::NotHolder { .. })
        ));
        let forged_by_owner_name = Token {
            version: 1,
            state: TokenState::Sold {
                seller: a("giro"),
                ticket: TicketId::new("f"),
            },
        };
        assert!(Token::check_successor(&t, &forged_by_owner_name, &a("rumos")).is_err());
    }
}
