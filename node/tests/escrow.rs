//! Escrow shares that follow demand (`machine/escrow.rs`): the operating airline moves its
//! unsold seats ahead of need to the partner that sells them, keeps every partner's floor, and
//! never sells a seat twice while doing it.

mod common;

use common::*;
use passcom_crdt::{Flight, FlightId, TokenState};
use passcom_node::Config;
use std::collections::BTreeMap;

/// Unsold seats of `flight` per holder, as `at` sees them.
fn pools(c: &Cluster, at: &str, flight: &str) -> BTreeMap<String, u32> {
    let node = c.node(at);
    let f = node
        .catalog()
        .flight(&FlightId::new(flight))
        .unwrap()
        .clone();
    let mut out = BTreeMap::new();
    for (_, t) in node.seats_of(&f) {
        if !matches!(t.state, TokenState::Sold { .. }) {
            *out.entry(t.writer().to_string()).or_default() += 1;
        }
    }
    out
}

/// Three airlines whose partner refill is off (low water 0), so only the policy moves seats,
/// with rumos's 40-seat flight RU1 giving 4 seats to each partner.
fn cluster(adaptive: bool) -> Cluster {
    let names = ["boreal", "giro", "rumos"];
    let mut c = common::cluster(&names);
    for n in names {
        let mut cfg = Config::new(n);
        cfg.refill_low_water = 0;
        cfg.adaptive_escrow = adaptive;
        c.configs.insert(a(n), cfg);
        c.crash(n);
        c.open(n);
    }
    for n in names {
        c.connect(n);
    }
    let mut f = flight("rumos", "RU1", "SSA", "BSB", 10, 10, "ABCD");
    f.escrow = Flight::escrow_for(f.capacity(), 0.1, &[a("giro"), a("boreal")]);
    c.put("rumos", vec![f]);
    c.ticks(3, 1_000);
    c
}

/// giro sells its whole share; then rumos's ticks hand it more, ahead of its next buyers,
/// while boreal (no sales) keeps its share and rumos keeps seats of its own.
fn sell_out_giro_then_tick(adaptive: bool) -> Cluster {
    let mut c = cluster(adaptive);
    assert_eq!(pools(&c, "rumos", "RU1").get("giro"), Some(&4));
    for i in 0..4 {
        let id = c.buy("giro", &format!("g{i}"), &[("RU1", None)]);
        assert!(c.ticket(id).is_some(), "giro sells from its share");
    }
    c.ticks(10, 1_000);
    c
}

#[test]
fn seats_move_ahead_of_need_to_the_partner_that_sells_them() {
    let c = sell_out_giro_then_tick(true);
    let pools = pools(&c, "rumos", "RU1");
    let giro = pools.get("giro").copied().unwrap_or(0);
    assert!(giro >= 8, "giro got seats ahead of need: {pools:?}");
    assert_eq!(
        pools.get("boreal"),
        Some(&4),
        "boreal keeps its floor: {pools:?}"
    );
    assert!(
        pools.get("rumos").copied().unwrap_or(0) >= 4,
        "rumos keeps seats of its own: {pools:?}"
    );
    // Every peer agrees, and no seat is sold twice (live_seats asserts it).
    let seats = c.live_seats("rumos");
    assert_eq!(seats.len(), 4);
    for n in ["giro", "boreal"] {
        assert_eq!(c.live_seats(n), seats);
        assert_eq!(c.node(n).changed_tokens(), c.node("rumos").changed_tokens());
    }
    // giro now sells while cut off, from seats it never asked for.
    let mut c = c;
    c.partition("giro");
    let mut sold = 0;
    for i in 0..giro {
        let id = c.buy("giro", &format!("cut{i}"), &[("RU1", None)]);
        sold += u32::from(c.ticket(id).is_some());
    }
    assert_eq!(
        sold, giro,
        "every seat moved to giro sells while it is cut off"
    );
}

#[test]
fn with_fixed_shares_nothing_moves_until_asked() {
    let c = sell_out_giro_then_tick(false);
    let pools = pools(&c, "rumos", "RU1");
    assert_eq!(
        pools.get("giro"),
        None,
        "fixed shares: giro stays empty: {pools:?}"
    );
}

#[test]
fn nothing_moves_to_a_partner_that_is_cut_off() {
    let mut c = cluster(true);
    for i in 0..4 {
        let id = c.buy("giro", &format!("g{i}"), &[("RU1", None)]);
        assert!(c.ticket(id).is_some());
    }
    c.settle();
    assert_eq!(
        pools(&c, "rumos", "RU1").get("giro"),
        None,
        "rumos saw giro's sales"
    );
    c.partition("giro");
    c.ticks(10, 1_000);
    let pools = pools(&c, "rumos", "RU1");
    assert_eq!(
        pools.get("giro"),
        None,
        "no hand-over to a peer that cannot take it: {pools:?}"
    );
}
