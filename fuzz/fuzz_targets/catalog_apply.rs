//! Fuzz target: applying a remote catalog change (`Catalog::apply_remote`), the way a peer
//! applies the `catalog` entries of another airline's event.
//!
//! Two modes, chosen by bit 0 of the first byte:
//! - raw: the rest is split into byte strings handed over as Automerge changes, as a rogue
//!   peer could put them in an event;
//! - structured: the rest describes up to 16 operations of one change to rumos' own Automerge
//!   document, by rumos' actor — what a rogue *airline* can sign and publish about its own
//!   flights, with any keys, types and values, and with predecessors and a change header that
//!   Automerge's own API would never write (bits 4–5 of the first byte) — and the change is
//!   applied to a replica. It is encoded directly (`ExpandedChange`) rather than made by
//!   editing a copy of the document: the edits were half of each input's time.
//!
//! Bit 3 picks the replica: an empty catalog, or the catalog of a real exchange (every
//! fixture airline's flights and airports), built once per process and cloned per input; the
//! structured change then continues rumos' real document, so they change existing flights and
//! reach `Flight::check_change` (seats may only be added) and the cross-airline checks.
//!
//! Either way, nothing may panic, and every flight the catalog then shows must be one a local
//! edit could have produced (`Flight::validate`), so that the rest of the node (seat maps,
//! seat requests, route search) never meets a flight with four billion rows; on the prepared
//! catalog, no flight of another airline may change, and no flight may lose seats.
#![no_main]

use automerge::legacy::{Key, ObjectId, Op, OpId, OpType};
use automerge::{
    AutoCommit, Change, ChangeHash, ExpandedChange, ObjType, ROOT, ReadDoc, ScalarValue,
};
use libfuzzer_sys::fuzz_target;
use passcom_crdt::{AirlineCatalog, AirlineId, Catalog, Flight, FlightId, actor_for};
use passcom_fuzz::{AIRLINES, events_of, record_exchange, split};
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::OnceLock;

/// The catalog of a real exchange, built once: every airline's document, what a change
/// continuing rumos' needs, and the flights they show.
struct Prepared {
    catalog: Catalog,
    base: Base,
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
            base: Base::of(&mut rumos),
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

/// What a structured input needs of rumos' document to write changes that continue it: the
/// header of the next change and the ids of the objects and values it may overwrite. Read
/// once, so that an input costs no Automerge edit at all: its change is encoded directly
/// (`ExpandedChange`), which also lets it carry what Automerge's own API never writes (a
/// missing or wrong predecessor, a repeated sequence number, overlapping op ids), all of it
/// within what a rogue airline can sign.
#[derive(Default)]
struct Base {
    deps: Vec<ChangeHash>,
    /// The sequence number of rumos' last change (0: none).
    seq: u64,
    /// The largest op counter in the document (0: none).
    max_op: u64,
    flights: Option<OpId>,
    airports: Option<OpId>,
    /// Per fixture flight RU0..RU3: its object, and the ops holding each field of `FIELDS`.
    objects: [Option<(OpId, Vec<Vec<OpId>>)>; 4],
    /// The ops holding each airport entry, by IATA code.
    airport_entries: BTreeMap<String, Vec<OpId>>,
}

/// The legacy op id of an Automerge object or value id (`None` for the root).
fn op_id(id: &automerge::ObjId) -> Option<OpId> {
    match id {
        automerge::ObjId::Root => None,
        automerge::ObjId::Id(counter, actor, _) => Some(OpId(*counter, actor.clone())),
    }
}

/// The ops holding `key` of `obj` in `doc` (several when concurrent writes conflict).
fn holders(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Vec<OpId> {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, id)| op_id(id))
        .collect()
}

impl Base {
    /// The base of rumos' recorded document.
    fn of(doc: &mut AutoCommit) -> Self {
        let mine = actor_for(&AirlineId::new("rumos"));
        let changes = doc.get_changes(&[]);
        let seq = changes
            .iter()
            .filter(|c| c.actor_id() == &mine)
            .map(|c| c.seq())
            .max()
            .unwrap_or(0);
        let max_op = changes.iter().map(|c| c.max_op()).max().unwrap_or(0);
        let map = |doc: &AutoCommit, obj: &automerge::ObjId, key: &str| match doc.get(obj, key) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        };
        let flights = map(doc, &ROOT, "flights");
        let airports = map(doc, &ROOT, "airports");
        let mut objects: [Option<(OpId, Vec<Vec<OpId>>)>; 4] = Default::default();
        if let Some(f) = &flights {
            for (n, slot) in objects.iter_mut().enumerate() {
                if let Some(obj) = map(doc, f, &format!("RU{n}")) {
                    let fields = FIELDS.iter().map(|k| holders(doc, &obj, k)).collect();
                    *slot = op_id(&obj).map(|id| (id, fields));
                }
            }
        }
        let airport_entries = airports
            .as_ref()
            .map(|a| {
                doc.keys(a)
                    .map(|k| {
                        let ids = holders(doc, a, &k);
                        (k, ids)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            deps: doc.get_heads(),
            seq,
            max_op,
            flights: flights.as_ref().and_then(op_id),
            airports: airports.as_ref().and_then(op_id),
            objects,
            airport_entries,
        }
    }
}

/// Builds the change a structured input describes (see the module documentation): up to
/// `MAX_EDITS` operations on rumos' document, continuing `base` (the recorded document, or an
/// empty one), with the header perturbed as bits 4–5 of `mode` say.
fn structured_changes(mode: u8, input: &[u8], base: &Base) -> Vec<Vec<u8>> {
    let actor = actor_for(&AirlineId::new("rumos"));
    let start_op = base.max_op + 1;
    let mut ops: Vec<Op> = Vec::new();
    // The id the next op gets.
    let next = |ops: &Vec<Op>| OpId(start_op + ops.len() as u64, actor.clone());
    let map_key = |k: &str| Key::Map(k.into());
    let make = |ops: &mut Vec<Op>, obj: ObjectId, key: &str, ty: ObjType, pred: Vec<OpId>| {
        let id = OpId(start_op + ops.len() as u64, actor.clone());
        ops.push(Op {
            action: OpType::Make(ty),
            obj,
            key: Key::Map(key.into()),
            pred: pred.into(),
            insert: false,
        });
        id
    };
    let flights = match &base.flights {
        Some(id) => id.clone(),
        None => make(
            &mut ops,
            ObjectId::Root,
            "flights",
            ObjType::Map,
            Vec::new(),
        ),
    };
    let airports = match &base.airports {
        Some(id) => id.clone(),
        None => make(
            &mut ops,
            ObjectId::Root,
            "airports",
            ObjType::Map,
            Vec::new(),
        ),
    };
    // The fixture flights as this change leaves them: object, and the holders of each field.
    let mut objects = base.objects.clone();
    let mut b = Bytes(input);
    for _ in 0..MAX_EDITS {
        if b.0.is_empty() {
            break;
        }
        let op = b.byte();
        let sel = b.byte();
        // RU1 is the recorded flight: on the prepared document, its edits change it.
        let n = (sel % 4) as usize;
        let (obj, fields) = match &mut objects[n] {
            Some(o) => o,
            slot => {
                let key = format!("RU{n}");
                let id = make(
                    &mut ops,
                    ObjectId::Id(flights.clone()),
                    &key,
                    ObjType::Map,
                    Vec::new(),
                );
                slot.insert((id, vec![Vec::new(); FIELDS.len()]))
            }
        };
        let f = (op as usize >> 3) % FIELDS.len();
        // Bits 2–3 of the selector: the op replaces what holds the field now (what an honest
        // writer does), or claims no predecessor (a conflicting value), or claims the object
        // itself as its predecessor (an op that does not exist at that key).
        let pred = match (sel >> 2) & 3 {
            0 | 1 => std::mem::take(&mut fields[f]),
            2 => Vec::new(),
            _ => vec![obj.clone()],
        };
        let action = match op & 7 {
            0 => OpType::Put(ScalarValue::Int(b.int())),
            1 => OpType::Put(ScalarValue::Int(b.byte() as i64)),
            2 => OpType::Put(ScalarValue::Str(b.text().into())),
            3 => OpType::Put(ScalarValue::Boolean(b.byte() & 1 == 1)),
            4 => OpType::Put(ScalarValue::F64(f64::from_bits(b.int() as u64))),
            5 => OpType::Put(ScalarValue::Uint(b.int() as u64)),
            6 => OpType::Make(ObjType::List),
            _ => {
                // An airport entry (a map) with one field.
                let iata = b.text();
                let pred = base.airport_entries.get(&iata).cloned().unwrap_or_default();
                let entry = make(
                    &mut ops,
                    ObjectId::Id(airports.clone()),
                    &iata,
                    ObjType::Map,
                    pred,
                );
                ops.push(Op {
                    action: OpType::Put(ScalarValue::Int(b.int())),
                    obj: ObjectId::Id(entry),
                    key: map_key(FIELDS[f]),
                    pred: Vec::new().into(),
                    insert: false,
                });
                continue;
            }
        };
        fields[f] = vec![next(&ops)];
        ops.push(Op {
            action,
            obj: ObjectId::Id(obj.clone()),
            key: map_key(FIELDS[f]),
            pred: pred.into(),
            insert: false,
        });
    }
    if ops.is_empty() {
        return Vec::new();
    }
    // Bits 4–5 of the mode: an honest header, or one a rogue could sign: no dependencies, the
    // sequence number of the last change again, or op ids that overlap the document's.
    let (mut deps, mut seq, mut start) = (base.deps.clone(), base.seq + 1, start_op);
    match (mode >> 4) & 3 {
        0 => {}
        1 => deps.clear(),
        2 => seq = base.seq.max(1),
        _ => start = start_op.saturating_sub(3).max(1),
    }
    let change = ExpandedChange {
        operations: ops,
        actor_id: actor,
        hash: None,
        seq,
        start_op: NonZeroU64::new(start).expect("at least 1"),
        time: 0,
        message: None,
        deps,
        extra_bytes: Vec::new(),
        author: None,
    };
    vec![Change::from(change).raw_bytes().to_vec()]
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
        static EMPTY: OnceLock<Base> = OnceLock::new();
        let base = match prep {
            Some(p) => &p.base,
            None => EMPTY.get_or_init(Base::default),
        };
        structured_changes(mode, rest, base)
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
