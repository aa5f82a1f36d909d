//! Property tests of seat tokens: the merge laws, and "at most one peer may act on a token"
//! over random transitions, hand-overs, and lossy, duplicating, reordering deliveries.
//!
//! proptest prints the failing case and persists its seed; `PROPTEST_CASES` sets the count.

use passcom_crdt::{AirlineId, Causality, TicketId, Token, TokenState, Transition, VectorClock};
use proptest::prelude::*;
use std::collections::BTreeMap;

const PEERS: [&str; 3] = ["boreal", "giro", "rumos"];

fn peer(i: usize) -> AirlineId {
    AirlineId::new(PEERS[i % PEERS.len()])
}

fn any_state() -> impl Strategy<Value = TokenState> {
    prop_oneof![
        (0..3usize).prop_map(|h| TokenState::Available { holder: peer(h) }),
        (0..3usize, 0..3u8, 0..100i64).prop_map(|(h, c, e)| TokenState::Held {
            holder: peer(h),
            hold_id: format!("cart{c}"),
            expires: e
        }),
        (0..3usize, 1..3usize).prop_map(|(f, d)| TokenState::InTransit {
            from: peer(f),
            to: peer(f + d)
        }),
        (0..3usize, 0..3u8).prop_map(|(s, t)| TokenState::Sold {
            seller: peer(s),
            ticket: TicketId::new(format!("t{t}"))
        }),
    ]
}

fn any_token() -> impl Strategy<Value = Token> {
    (0..6u64, any_state()).prop_map(|(version, state)| Token { version, state })
}

proptest! {
    #[test]
    fn merge_is_commutative_associative_and_idempotent(a in any_token(), b in any_token(), c in any_token()) {
        prop_assert_eq!(a.merge(&b), b.merge(&a));
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(a.merge(&a), a.clone());
        let m = a.merge(&b);
        prop_assert!(m.version >= a.version && m.version >= b.version);
    }

    #[test]
    fn vector_clock_merge_is_a_join(
        x in proptest::collection::btree_map(0..3usize, 0..10u64, 0..3),
        y in proptest::collection::btree_map(0..3usize, 0..10u64, 0..3),
    ) {
        let clock = |m: &BTreeMap<usize, u64>| m.iter().map(|(k, v)| (peer(*k), *v)).collect::<VectorClock>();
        let (a, b) = (clock(&x), clock(&y));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        prop_assert_eq!(ab.compare(&ba), Causality::Equal);
        prop_assert!(matches!(a.compare(&ab), Causality::Before | Causality::Equal));
        // What b lacks of a, once sent, makes b catch up with a.
        let mut b2 = b.clone();
        for (origin, range) in a.missing_from(&b) {
            b2.observe(&origin, *range.end());
        }
        prop_assert!(matches!(a.compare(&b2), Causality::Before | Causality::Equal));
    }
}

/// One step of the random run.
#[derive(Clone, Debug)]
enum Step {
    /// Peer `actor` tries an operation on its own replica.
    Act { actor: usize, op: u8, arg: usize },
    /// Deliver the update at `index` (mod pool size) to `to`; keep a copy when `duplicate`.
    Deliver {
        index: usize,
        to: usize,
        duplicate: bool,
    },
    /// Lose the update at `index`.
    Lose { index: usize },
    /// Time passes.
    Wait,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 0..6u8, 0..3usize).prop_map(|(actor, op, arg)| Step::Act { actor, op, arg }),
        6 => (any::<usize>(), 0..3usize, any::<bool>()).prop_map(|(index, to, duplicate)| Step::Deliver { index, to, duplicate }),
        1 => any::<usize>().prop_map(|index| Step::Lose { index }),
        1 => Just(Step::Wait),
    ]
}

/// An update in flight: written by `author` from `prev` to `next`.
#[derive(Clone, Debug)]
struct Update {
    author: AirlineId,
    prev: Token,
    next: Token,
}

/// What a receiving replica does with an update, as the node does it: apply only a checked
/// successor of its own state; skip what it has; leave gaps for later.
fn receive(local: &mut Token, u: &Update) -> bool {
    if local.version >= u.next.version {
        assert!(
            local.version > u.next.version || *local == u.next,
            "two states at one version: {local:?} vs {:?}",
            u.next
        );
        return true;
    }
    if local.version < u.prev.version {
        return false; // a gap: keep the update for later
    }
    assert_eq!(
        *local, u.prev,
        "an honest update's predecessor is the replica's state"
    );
    Token::check_successor(&u.prev, &u.next, &u.author)
        .expect("honest updates are legal successors");
    *local = u.next.clone();
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn at_most_one_peer_may_act_on_a_token(steps in proptest::collection::vec(step(), 1..200)) {
        let mut replicas: Vec<Token> = (0..3).map(|_| Token::initial(peer(2))).collect();
        let mut pool: Vec<Update> = Vec::new();
        let mut written: BTreeMap<u64, TokenState> = BTreeMap::new();
        let mut now = 0i64;
        for s in steps {
            match s {
                Step::Act { actor, op, arg } => {
                    let t = match op {
                        0 => Transition::Sell { ticket: TicketId::new(format!("{}-{now}", peer(actor))), hold_id: None },
                        1 => Transition::Grant { to: peer(arg) },
                        2 => Transition::Receive,
                        3 => Transition::Refund,
                        4 => Transition::Hold { hold_id: format!("c{arg}"), expires: now + 3 },
                        _ => Transition::Release { hold_id: format!("c{arg}") },
                    };
                    if let Ok(next) = replicas[actor].apply(&peer(actor), &t, now) {
                        let prev = replicas[actor].clone();
                        // A version is written once, by one peer: the single chain of custody.
                        if let Some(existing) = written.insert(next.version, next.state.clone()) {
                            prop_assert_eq!(existing, next.state.clone(), "version {} written twice", next.version);
                        }
                        replicas[actor] = next.clone();
                        pool.push(Update { author: peer(actor), prev, next });
                    }
                }
                Step::Deliver { index, to, duplicate } if !pool.is_empty() => {
                    let i = index % pool.len();
                    let u = if duplicate { pool[i].clone() } else { pool.remove(i) };
                    if !receive(&mut replicas[to], &u) && !duplicate {
                        pool.push(u);
                    }
                }
                Step::Lose { index } if !pool.is_empty() => {
                    let i = index % pool.len();
                    pool.remove(i);
                }
                _ => now += 1,
            }
            // Invariant 3: at most one peer may sell or hand over the token right now.
            let actors = (0..3).filter(|&i| replicas[i].seller_now(now) == Some(&peer(i))).count();
            prop_assert!(actors <= 1, "{actors} peers may act: {replicas:?}");
        }
        // Anti-entropy: every written version eventually reaches every replica.
        let chain: Vec<Update> = {
            let mut prev = Token::initial(peer(2));
            written.iter().map(|(v, st)| {
                let next = Token { version: *v, state: st.clone() };
                let author = prev.writer().clone();
                let u = Update { author, prev: prev.clone(), next: next.clone() };
                prev = next;
                u
            }).collect()
        };
        for r in replicas.iter_mut() {
            for u in &chain {
                receive(r, u);
            }
        }
        prop_assert!(replicas.windows(2).all(|w| w[0] == w[1]), "replicas diverged: {replicas:?}");
    }
}
