//! Catch-up of a long backlog between two real libp2p peers on 127.0.0.1: CBOR pages over
//! request-response, every signature verified.

mod common;

use common::*;
use passcom_crdt::AirlineId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_missed_thousands_of_events_catches_up_from_a_real_partner() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    // 20,000 in a release build; a debug build (scripts/test) verifies and commits about ten
    // times slower, and a smaller backlog still spans several pages.
    let n: usize = if cfg!(debug_assertions) {
        5_000
    } else {
        20_000
    };
    let rumos_dir = dir.path().join("rumos");
    let me = AirlineId::new("rumos");
    // rumos takes its catalog, stops, and its history grows by n signed sales.
    let flights: Vec<_> = (0..n.div_ceil(180) as u32)
        .map(|i| small_flight("rumos", i, 45, 0.0, &[]))
        .collect();
    let rumos = start("rumos", &rumos_dir, vec![]).await;
    put_flights(&rumos, flights.clone()).await;
    let base = rumos.read(|n| n.clock().get(&me));
    rumos.shutdown().await;
    let (_, secret) = passcom_net::identity::load_or_create(&rumos_dir).unwrap();
    let mut store = passcom_node::Store::open(&rumos_dir.join("passcom.redb")).unwrap();
    let last =
        passcom_node::demo::append_sales(&mut store, &me, &secret, &flights, base, n).unwrap();
    drop(store);

    // rumos is back; giro starts empty and catches up from it.
    let rumos = start("rumos", &rumos_dir, vec![]).await;
    assert_eq!(rumos.read(|n| n.clock().get(&me)), last);
    let giro = start("giro", &dir.path().join("giro"), vec![addr(&rumos).await]).await;
    wait_for(120, "giro to catch up with rumos", || {
        giro.read(|n| n.clock().get(&me)) == last
    })
    .await;
    let s = wait_converged(30, &[&rumos, &giro]).await;
    assert_eq!(s.tickets.len(), n);
    assert_eq!(check_no_double_sale(&s), n);
    for h in [&rumos, &giro] {
        h.shutdown().await;
    }
}
