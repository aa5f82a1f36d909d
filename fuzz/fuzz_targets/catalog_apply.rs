//! Fuzz target: applying a remote catalog change (`Catalog::apply_remote`), the way a peer
//! applies the `catalog` entries of another airline's event.
//!
//! Two modes, chosen by the first byte:
//! - raw: the rest is split into byte strings handed over as Automerge changes, as a rogue
//!   peer could put them in an event;
//! - structured: the rest drives edits of rumos' own Automerge document with rumos' actor —
//!   what a rogue *airline* can sign and publish about its own flights, with any keys, types
//!   and values — and the resulting changes are applied to a replica.
//!
//! Either way, nothing may panic, and every flight the catalog then shows must be one a local
//! edit could have produced (`Flight::validate`), so that the rest of the node (seat maps,
//! seat requests, route search) never meets a flight with four billion rows.
#![no_main]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue};
use libfuzzer_sys::fuzz_target;
use passcom_crdt::{AirlineId, Catalog, actor_for};
use passcom_fuzz::{AIRLINES, split};

/// Field names of a flight in the document, plus a few the reader does not know.
const FIELDS: [&str; 12] = [
    "airline",
    "origin",
    "destination",
    "departure",
    "arrival",
    "rows",
    "letters",
    "fare_cents",
    "cancelled",
    "escrow",
    "name",
    "",
];

/// Reads bytes off the front of the input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn int(&mut self) -> i64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.byte();
        }
        i64::from_le_bytes(v)
    }
    fn text(&mut self) -> String {
        let n = (self.byte() % 16) as usize;
        let n = n.min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }
}

/// Edits rumos' document as the input says and returns the changes.
fn structured_changes(input: &[u8]) -> Vec<Vec<u8>> {
    let mut doc = AutoCommit::new().with_actor(actor_for(&AirlineId::new("rumos")));
    let mut b = Bytes(input);
    let Ok(flights) = doc.put_object(ROOT, "flights", ObjType::Map) else {
        return Vec::new();
    };
    let airports = doc.put_object(ROOT, "airports", ObjType::Map).ok();
    // At most 64 edits: enough to build a few whole flights, bounded per input.
    for _ in 0..64 {
        if b.0.is_empty() {
            break;
        }
        let op = b.byte();
        let key = format!("RU{}", b.byte() % 4);
        let Ok(obj) = (match doc.get(&flights, &key) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Ok(id),
            _ => doc.put_object(&flights, &key, ObjType::Map),
        }) else {
            continue;
        };
        let field = FIELDS[(op as usize >> 3) % FIELDS.len()];
        let value: ScalarValue = match op & 7 {
            0 => ScalarValue::Int(b.int()),
            1 => ScalarValue::Int(b.byte() as i64),
            2 => ScalarValue::Str(b.text().into()),
            3 => ScalarValue::Boolean(b.byte() & 1 == 1),
            4 => ScalarValue::F64(f64::from_bits(b.int() as u64)),
            5 => ScalarValue::Uint(b.int() as u64),
            6 => {
                let _ = doc.put_object(&obj, field, ObjType::List);
                continue;
            }
            _ => {
                if let Some(a) = &airports {
                    let iata = b.text();
                    if let Ok(o) = doc.put_object(a, &iata, ObjType::Map) {
                        let _ = doc.put(&o, field, ScalarValue::Int(b.int()));
                    }
                }
                continue;
            }
        };
        let _ = doc.put(&obj, field, value);
    }
    doc.get_changes(&[])
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    passcom_fuzz::allow_caught_panics();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let changes: Vec<Vec<u8>> = if mode & 1 == 0 {
        split(rest, 8).into_iter().map(<[u8]>::to_vec).collect()
    } else {
        structured_changes(rest)
    };
    let mut catalog = Catalog::new();
    // The document the changes claim to be for: usually rumos', sometimes another airline's
    // (then rumos' actor makes them foreign and they must be refused).
    let target = AirlineId::new(AIRLINES[(mode as usize >> 1) % AIRLINES.len()]);
    let applied = catalog.apply_remote(&target, &changes);
    if applied.is_ok() && target.as_str() != "rumos" && mode & 1 == 1 && !changes.is_empty() {
        panic!("{target}'s catalog accepted changes written by rumos");
    }
    for f in catalog.flights() {
        assert_eq!(f.airline, target, "a flight shown under another airline");
        if let Err(e) = f.validate() {
            panic!("the catalog shows an invalid flight: {e}: {f:?}");
        }
        // What the node does with a flight: count, list and place its seats.
        let capacity = f.capacity();
        let mut labels = 0u32;
        for label in f.seat_labels() {
            labels += 1;
            assert!(f.has_seat(&label), "{label} listed but not a seat");
            let _ = f.initial_holder(&label);
            let _ = f.seat_index(&label);
        }
        assert_eq!(labels, capacity, "seat labels and capacity disagree");
    }
    let _ = catalog.airports().count();
});
