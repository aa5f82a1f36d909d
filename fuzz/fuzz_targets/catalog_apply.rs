//! Fuzz target: applying a remote catalog change (`Catalog::apply_remote`), the way a peer
//! applies the `catalog` entries of another airline's event.
//!
//! Two modes, chosen by bit 0 of the first byte:
//! - raw: the rest is split into byte strings handed over as Automerge changes, as a rogue
//!   peer could put them in an event;
//! - structured: the rest drives edits of rumos' own Automerge document with rumos' actor —
//!   what a rogue *airline* can sign and publish about its own flights, with any keys, types
//!   and values — and the resulting changes are applied to a replica.
//!
//! Bit 3 picks the replica: an empty catalog, or the catalog of a real exchange (every
//! fixture airline's flights and airports), built once per process and cloned per input; the
//! structured edits then continue rumos' real document, so they change existing flights and
//! reach `Flight::check_change` (seats may only be added) and the cross-airline checks.
//!
//! Either way, nothing may panic, and every flight the catalog then shows must be one a local
//! edit could have produced (`Flight::validate`), so that the rest of the node (seat maps,
//! seat requests, route search) never meets a flight with four billion rows; on the prepared
//! catalog, no flight of another airline may change, and no flight may lose seats.
#![no_main]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ObjType, ROOT, ReadDoc, ScalarValue};
use libfuzzer_sys::fuzz_target;
use passcom_crdt::{AirlineCatalog, AirlineId, Catalog, Flight, FlightId, actor_for};
use passcom_fuzz::{AIRLINES, events_of, record_exchange, split};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The catalog of a real exchange, built once: every airline's document, rumos' as an
/// Automerge document to edit further, and the flights they show.
struct Prepared {
    catalog: Catalog,
    rumos: AutoCommit,
    flights: BTreeMap<FlightId, Flight>,
}

fn prepared() -> &'static Prepared {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let record = record_exchange();
        let mut docs = Vec::new();
        let mut rumos = AutoCommit::new().with_actor(actor_for(&AirlineId::new("rumos")));
        for a in AIRLINES {
            let airline = AirlineId::new(a);
            let changes: Vec<Vec<u8>> = events_of(&record, a)
                .into_iter()
                .flat_map(|e| e.catalog)
                .collect();
            let mut doc = AirlineCatalog::new(airline.clone());
            doc.apply_remote(&changes)
                .expect("the recorded changes apply");
            if a == "rumos" {
                let decoded = changes
                    .iter()
                    .map(|c| Change::try_from(c.as_slice()).expect("a recorded change"));
                rumos
                    .apply_changes(decoded)
                    .expect("rumos' recorded changes apply");
            }
            docs.push(doc);
        }
        let mut catalog = Catalog::new();
        for d in docs {
            catalog.insert_doc(d);
        }
        let flights = catalog
            .flights()
            .map(|f| (f.id.clone(), f.clone()))
            .collect();
        Prepared {
            catalog,
            rumos,
            flights,
        }
    })
}

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

/// Edits per structured input.
const MAX_EDITS: usize = 16;

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

/// Edits rumos' document (a new one, or a copy of `base`) as the input says and returns the
/// changes made.
fn structured_changes(input: &[u8], base: Option<&AutoCommit>) -> Vec<Vec<u8>> {
    let mut doc = match base {
        Some(d) => d.clone(),
        None => AutoCommit::new().with_actor(actor_for(&AirlineId::new("rumos"))),
    };
    let before = doc.get_heads();
    let mut b = Bytes(input);
    let existing = |doc: &AutoCommit, key: &str| match doc.get(ROOT, key) {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    };
    let flights = match existing(&doc, "flights") {
        Some(id) => id,
        None => match doc.put_object(ROOT, "flights", ObjType::Map) {
            Ok(id) => id,
            Err(_) => return Vec::new(),
        },
    };
    let airports =
        existing(&doc, "airports").or_else(|| doc.put_object(ROOT, "airports", ObjType::Map).ok());
    // At most 16 edits: a whole new flight (ten fields) or a handful of edits to the recorded
    // one. Each edit is an Automerge operation that costs tens of microseconds here and again
    // when the replica applies it; at 64 an input took over a millisecond.
    let mut objs: [Option<automerge::ObjId>; 4] = Default::default();
    for _ in 0..MAX_EDITS {
        if b.0.is_empty() {
            break;
        }
        let op = b.byte();
        // RU1 is the recorded flight: on the prepared document, its edits change it.
        let n = (b.byte() % 4) as usize;
        // Looked up (or made) once per input: no edit below writes the `flights` map, so a
        // second lookup would find the same object, at the cost of an Automerge seek.
        let obj = match &objs[n] {
            Some(id) => id.clone(),
            None => {
                let key = format!("RU{n}");
                let Ok(id) = (match doc.get(&flights, &key) {
                    Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Ok(id),
                    _ => doc.put_object(&flights, &key, ObjType::Map),
                }) else {
                    continue;
                };
                objs[n] = Some(id.clone());
                id
            }
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
    doc.get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

fuzz_target!(|data: &[u8]| passcom_fuzz::with_caught_panics(|| check(data)));

/// Applies the changes `data` makes and checks the catalog (see the module documentation).
fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let prep = (mode & 8 != 0).then(prepared);
    let changes: Vec<Vec<u8>> = if mode & 1 == 0 {
        split(rest, 8).into_iter().map(<[u8]>::to_vec).collect()
    } else {
        structured_changes(rest, prep.map(|p| &p.rumos))
    };
    // A clone, not a reload: the documents and the view built from them are copied.
    let mut catalog = prep.map(|p| p.catalog.clone()).unwrap_or_default();
    // The document the changes claim to be for: usually rumos', sometimes another airline's
    // (then rumos' actor makes them foreign and they must be refused).
    let target = AirlineId::new(AIRLINES[(mode as usize >> 1) % AIRLINES.len()]);
    let applied = catalog.apply_remote(&target, &changes);
    if applied.is_ok() && target.as_str() != "rumos" && mode & 1 == 1 && !changes.is_empty() {
        panic!("{target}'s catalog accepted changes written by rumos");
    }
    for f in catalog.flights() {
        match prep.and_then(|p| p.flights.get(&f.id)) {
            Some(before) if before.airline != target => {
                assert_eq!(
                    f, before,
                    "a change to {target}'s document altered another's flight"
                );
            }
            Some(before) => {
                assert_eq!(f.airline, target, "a flight shown under another airline");
                assert!(
                    f.capacity() >= before.capacity(),
                    "{} lost seats: {} then {}",
                    f.id,
                    before.capacity(),
                    f.capacity()
                );
            }
            None => assert_eq!(f.airline, target, "a flight shown under another airline"),
        }
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
    if let Some(p) = prep {
        // A change to one document never hides another airline's flight.
        for (id, f) in &p.flights {
            if f.airline != target {
                assert!(
                    catalog.flight(id).is_some(),
                    "{id} of {} vanished",
                    f.airline
                );
            }
        }
    }
    let _ = catalog.airports().count();
}
