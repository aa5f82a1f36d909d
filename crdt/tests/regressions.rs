//! Inputs that once crashed the catalog code, replayed as plain tests.

use passcom_crdt::{AirlineCatalog, AirlineId};

/// The change inside the fuzz seed `regression-automerge-decode-overflow`: Automerge 0.12
/// panicked while *decoding* it (an integer overflow in an object id), outside the guard that
/// caught panics while applying, so a signed hostile catalog change took a peer down. It must
/// be refused with an error, and leave the document as it was.
#[test]
fn a_change_that_automerge_cannot_decode_is_refused_not_a_crash() {
    let seed =
        include_bytes!("../../fuzz/seeds/catalog_apply/regression-automerge-decode-overflow");
    let magic = [0x85, 0x6f, 0x4a, 0x83];
    let start = seed
        .windows(4)
        .position(|w| w == magic)
        .expect("the seed holds an Automerge change");
    let mut doc = AirlineCatalog::new(AirlineId::new("rumos"));
    let before = doc.save();
    let result = doc.apply_remote(&[seed[start..].to_vec()]);
    assert!(result.is_err(), "a malformed change was accepted");
    assert_eq!(doc.save(), before, "the document changed");
}
