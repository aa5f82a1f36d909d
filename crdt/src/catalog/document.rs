//! One airline's catalog as an Automerge document: the actor check on every change it loads or
//! applies, the writes of airports and flights into its maps, and the reads back into values.
//!
//! It knows one document only: it must never look at another airline's document or at the
//! union view, nor apply the rules that compare flights (what a change may alter, ids another
//! airline holds): those are `view`'s.

use super::CatalogError;
use super::flight::{Airport, EscrowShare, Flight};
use crate::ids::{AirlineId, FlightId};
use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
    ValueRef,
};
use std::sync::{Arc, OnceLock};

fn automerge_err(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Decode(e.to_string())
}

/// The Automerge actor id every change of `airline`'s catalog must carry.
pub fn actor_for(airline: &AirlineId) -> ActorId {
    ActorId::from(format!("passcom-airline:{airline}").into_bytes())
}

/// One airline's catalog document.
///
/// A clone shares the document and what was read from it; the first write to either copy
/// copies the document then (`Arc::make_mut`). A node is copied with its catalog
/// ([`Catalog`](super::Catalog) clones every document), and most copies never write most
/// documents: the fuzz targets copy a node per input, and copying the Automerge documents and
/// dropping them again was about a tenth of their time.
#[derive(Clone, Debug)]
pub struct AirlineCatalog {
    airline: AirlineId,
    doc: Arc<AutoCommit>,
    /// The document read back into values, computed on first use after each change and
    /// shared with the clones: reading a flight back is a dozen Automerge lookups, and a
    /// remote change was read three times (before, after, and into the union view), the
    /// largest cost of applying a catalog-carrying event.
    read: OnceLock<Arc<Read>>,
}

/// What [`AirlineCatalog`] reads back from its document.
#[derive(Clone, Debug)]
struct Read {
    /// Every flight entry as stored, checked or not.
    raw_flights: Vec<Flight>,
    airports: Vec<Airport>,
}

impl AirlineCatalog {
    /// An empty replica of `airline`'s document.
    pub fn new(airline: AirlineId) -> Self {
        let doc = AutoCommit::new().with_actor(actor_for(&airline));
        Self {
            airline,
            doc: Arc::new(doc),
            read: OnceLock::new(),
        }
    }

    /// Loads a replica saved by [`AirlineCatalog::save`]. Refuses a document holding changes by
    /// any actor but the airline's.
    pub fn load(airline: AirlineId, bytes: &[u8]) -> Result<Self, CatalogError> {
        let mut doc = AutoCommit::load(bytes).map_err(automerge_err)?;
        let expected = actor_for(&airline);
        if doc
            .get_changes(&[])
            .iter()
            .any(|c| c.actor_id() != &expected)
        {
            return Err(CatalogError::ForeignChange { document: airline });
        }
        doc.set_actor(expected);
        Ok(Self {
            airline,
            doc: Arc::new(doc),
            read: OnceLock::new(),
        })
    }

    /// The document, to write: copied first when a clone still shares it.
    fn doc_mut(&mut self) -> &mut AutoCommit {
        Arc::make_mut(&mut self.doc)
    }

    /// The airline whose document this is.
    pub fn airline(&self) -> &AirlineId {
        &self.airline
    }

    /// The whole document, compacted, for the store.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc_mut().save()
    }

    /// The document's current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc_mut().get_heads()
    }

    /// The encoded changes made after `heads` (all changes for an empty slice).
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<Vec<u8>> {
        self.doc_mut()
            .get_changes(heads)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    /// Applies changes received from another peer. Every change must be by this airline's
    /// actor, else nothing is applied and [`CatalogError::ForeignChange`] is returned.
    /// Re-applying a known change is a no-op, so deliveries may repeat.
    pub fn apply_remote(&mut self, changes: &[Vec<u8>]) -> Result<(), CatalogError> {
        *self = self.clone().applied(changes)?;
        Ok(())
    }

    /// [`AirlineCatalog::apply_remote`] on a document the caller gives up: the document after
    /// the changes, or the error (the document is then dropped, never left half-applied).
    /// For a trial copy, it saves copying the document a second time.
    pub(super) fn applied(self, changes: &[Vec<u8>]) -> Result<Self, CatalogError> {
        let expected = actor_for(&self.airline);
        let mut decoded = Vec::with_capacity(changes.len());
        for bytes in changes {
            // Decoding panics too on some malformed changes (an integer overflow in an object
            // id, found by the catalog_apply fuzz target): caught like applying, below.
            let change = std::panic::catch_unwind(|| Change::try_from(bytes.as_slice()))
                .map_err(|_| {
                    CatalogError::Decode(
                        "the change is malformed (Automerge could not decode it)".into(),
                    )
                })?
                .map_err(automerge_err)?;
            if change.actor_id() != &expected {
                return Err(CatalogError::ForeignChange {
                    document: self.airline.clone(),
                });
            }
            decoded.push(change);
        }
        // automerge 0.12 panics on some malformed changes ("Obj … Missing from Index", found
        // by the catalog_apply fuzz target), which would let a signed but hostile change take
        // the peer down. The panic is caught and the document, maybe half-applied, dropped.
        // A document a clone shares is copied here, the trial copy `Catalog::prepare_remote`
        // needs.
        let mut doc = Arc::unwrap_or_clone(self.doc);
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            doc.apply_changes(decoded).map(|()| doc)
        }));
        match applied {
            Ok(Ok(doc)) => Ok(Self {
                airline: self.airline,
                doc: Arc::new(doc),
                read: OnceLock::new(),
            }),
            Ok(Err(e)) => Err(automerge_err(e)),
            Err(_) => Err(CatalogError::Decode(
                "the change is malformed (Automerge could not apply it)".into(),
            )),
        }
    }

    fn map(&mut self, key: &str) -> Result<ObjId, CatalogError> {
        match self.doc.get(ROOT, key).map_err(automerge_err)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => self
                .doc_mut()
                .put_object(ROOT, key, ObjType::Map)
                .map_err(automerge_err),
        }
    }

    fn child_map(&mut self, parent: &ObjId, key: &str) -> Result<ObjId, CatalogError> {
        match self.doc.get(parent, key).map_err(automerge_err)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => self
                .doc_mut()
                .put_object(parent, key, ObjType::Map)
                .map_err(automerge_err),
        }
    }

    /// Commits the open transaction and returns the changes made since `before` (the heads
    /// taken before the edit began: AutoCommit closes its transaction when asked for heads).
    fn commit(&mut self, before: &[ChangeHash]) -> Vec<Vec<u8>> {
        self.doc_mut().commit();
        self.changes_since(before)
    }

    /// Adds or updates airports in this airline's document; returns the encoded change.
    pub fn put_airports(&mut self, airports: &[Airport]) -> Result<Vec<Vec<u8>>, CatalogError> {
        self.read = OnceLock::new();
        let before = self.doc_mut().get_heads();
        let root = self.map("airports")?;
        for a in airports {
            let obj = self.child_map(&root, &a.iata)?;
            let d = self.doc_mut();
            d.put(&obj, "name", a.name.as_str())
                .map_err(automerge_err)?;
            d.put(&obj, "city", a.city.as_str())
                .map_err(automerge_err)?;
            d.put(&obj, "state", a.state.as_str())
                .map_err(automerge_err)?;
            d.put(&obj, "latitude", a.latitude).map_err(automerge_err)?;
            d.put(&obj, "longitude", a.longitude)
                .map_err(automerge_err)?;
            d.put(&obj, "time_zone", a.time_zone.as_str())
                .map_err(automerge_err)?;
        }
        Ok(self.commit(&before))
    }

    /// Adds or updates flights of this airline; returns the encoded change to broadcast.
    ///
    /// Errors: [`CatalogError::ForeignFlight`] when a flight names another airline, and
    /// [`CatalogError::InvalidFlight`] when its fields do not make sense. Nothing is written then.
    pub fn put_flights(&mut self, flights: &[Flight]) -> Result<Vec<Vec<u8>>, CatalogError> {
        for f in flights {
            if f.airline != self.airline {
                return Err(CatalogError::ForeignFlight {
                    flight: f.id.clone(),
                    owner: f.airline.clone(),
                    editor: self.airline.clone(),
                });
            }
            f.validate()?;
        }
        self.write_flights_unchecked(flights)
    }

    /// Writes flights into this document with no check at all, as a rogue or buggy peer can
    /// with Automerge directly (a flight under another airline's code, rows taken away).
    /// Exists so that tests can show every peer refusing such changes; an honest peer writes
    /// only through [`AirlineCatalog::put_flights`].
    ///
    /// Errors: [`CatalogError::Decode`] if Automerge fails.
    #[doc(hidden)]
    pub fn write_flights_unchecked(
        &mut self,
        flights: &[Flight],
    ) -> Result<Vec<Vec<u8>>, CatalogError> {
        self.read = OnceLock::new();
        let before = self.doc_mut().get_heads();
        let root = self.map("flights")?;
        for f in flights {
            let obj = self.child_map(&root, f.id.as_str())?;
            let d = self.doc_mut();
            let put = |d: &mut AutoCommit, k: &str, v: ScalarValue| {
                d.put(&obj, k, v).map_err(automerge_err)
            };
            put(d, "airline", f.airline.as_str().into())?;
            put(d, "origin", f.origin.as_str().into())?;
            put(d, "destination", f.destination.as_str().into())?;
            put(d, "departure", ScalarValue::Int(f.departure))?;
            put(d, "arrival", ScalarValue::Int(f.arrival))?;
            put(d, "rows", ScalarValue::Uint(f.rows.into()))?;
            put(d, "letters", f.letters.as_str().into())?;
            put(d, "fare_cents", ScalarValue::Uint(f.fare_cents))?;
            put(d, "cancelled", ScalarValue::Boolean(f.cancelled))?;
            let escrow: Vec<String> = f
                .escrow
                .iter()
                .map(|s| format!("{}:{}", s.airline, s.seats))
                .collect();
            put(d, "escrow", escrow.join(",").as_str().into())?;
        }
        Ok(self.commit(&before))
    }

    /// The scalar fields of the map `obj`, sorted by key, each with the value `get` would
    /// return (the winner among conflicting writes). One pass over the map: a `get` per field
    /// seeks through the op set each time, and reading airports and flights back that way was
    /// the largest cost of applying a remote change.
    fn fields(&self, obj: &ObjId) -> Fields {
        Fields(
            self.doc
                .map_range(obj, ..)
                .filter_map(|item| match item.value {
                    ValueRef::Scalar(s) => Some((item.key.into_owned(), s.into())),
                    ValueRef::Object(_) => None,
                })
                .collect::<Vec<_>>(),
        )
        .sorted()
    }

    /// The maps under the root's map `key` (airports or flights), by key.
    fn entries(&self, key: &str) -> Vec<(String, ObjId)> {
        let Ok(Some((Value::Object(ObjType::Map), root))) = self.doc.get(ROOT, key) else {
            return Vec::new();
        };
        self.doc
            .map_range(&root, ..)
            .filter(|item| matches!(item.value, ValueRef::Object(ObjType::Map)))
            .map(|item| {
                let id = item.id();
                (item.key.into_owned(), id)
            })
            .collect()
    }

    /// The document read back into values (see the `read` field).
    fn read(&self) -> &Read {
        self.read.get_or_init(|| {
            Arc::new(Read {
                raw_flights: self.read_flights(),
                airports: self.read_airports(),
            })
        })
    }

    /// The airports in this document, by IATA code.
    pub fn airports(&self) -> Vec<Airport> {
        self.read().airports.clone()
    }

    fn read_airports(&self) -> Vec<Airport> {
        self.entries("airports")
            .into_iter()
            .map(|(iata, o)| {
                let f = self.fields(&o);
                Airport {
                    name: f.string("name"),
                    city: f.string("city"),
                    state: f.string("state"),
                    latitude: f.float("latitude"),
                    longitude: f.float("longitude"),
                    time_zone: f.string("time_zone"),
                    iata,
                }
            })
            .collect()
    }

    /// The flights in this document, by id. A flight whose stored airline is not this
    /// document's is skipped: no airline can publish flights under another's name.
    pub fn flights(&self) -> Vec<Flight> {
        self.raw_flights()
            .iter()
            .filter(|f| f.airline == self.airline)
            // A remote document can hold anything its airline signed; a flight no local edit
            // could have written (no seats, 10^9 rows, escrow beyond the cabin, an id of
            // another airline's code) is not shown, so nothing downstream meets it (found by
            // the `catalog_apply` fuzz target).
            .filter(|f| f.validate().is_ok())
            .cloned()
            .collect()
    }

    /// Every flight entry of the document as stored, checked or not.
    pub(super) fn raw_flights(&self) -> &[Flight] {
        &self.read().raw_flights
    }

    fn read_flights(&self) -> Vec<Flight> {
        self.entries("flights")
            .into_iter()
            .map(|(id, o)| {
                let f = self.fields(&o);
                Flight {
                    id: FlightId(id),
                    airline: AirlineId(f.string("airline")),
                    origin: f.string("origin"),
                    destination: f.string("destination"),
                    departure: f.int("departure"),
                    arrival: f.int("arrival"),
                    rows: f.int("rows").clamp(0, u32::MAX as i64) as u32,
                    letters: f.string("letters"),
                    fare_cents: f.int("fare_cents").max(0) as u64,
                    cancelled: matches!(f.get("cancelled"), Some(ScalarValue::Boolean(true))),
                    escrow: parse_escrow(&f.string("escrow")),
                }
            })
            .collect()
    }
}

/// The scalar fields of one map of the document, sorted by key ([`AirlineCatalog::fields`]),
/// read as the catalog's types: a field missing or of another type reads as empty or zero.
struct Fields(Vec<(String, ScalarValue)>);

impl Fields {
    /// Sorted by key, for [`Fields::get`] (Automerge lists a map's keys in order already; this
    /// does not rely on it).
    fn sorted(mut self) -> Self {
        self.0.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self
    }

    fn get(&self, key: &str) -> Option<&ScalarValue> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(&self.0[i].1)
    }

    fn string(&self, key: &str) -> String {
        match self.get(key) {
            Some(ScalarValue::Str(s)) => s.to_string(),
            _ => String::new(),
        }
    }

    fn int(&self, key: &str) -> i64 {
        match self.get(key) {
            Some(ScalarValue::Int(i)) => *i,
            Some(ScalarValue::Uint(u)) => *u as i64,
            Some(ScalarValue::F64(f)) => *f as i64,
            _ => 0,
        }
    }

    fn float(&self, key: &str) -> f64 {
        match self.get(key) {
            Some(ScalarValue::F64(f)) => *f,
            Some(ScalarValue::Int(i)) => *i as f64,
            _ => 0.0,
        }
    }
}

fn parse_escrow(s: &str) -> Vec<EscrowShare> {
    s.split(',')
        .filter_map(|part| {
            let (airline, seats) = part.split_once(':')?;
            Some(EscrowShare {
                airline: AirlineId::new(airline),
                seats: seats.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_support::flight;

    #[test]
    fn save_and_load_round_trip() {
        let rumos = AirlineId::new("rumos");
        let mut doc = AirlineCatalog::new(rumos.clone());
        doc.put_flights(&[flight("rumos", "RU1")]).unwrap();
        let bytes = doc.save();
        let loaded = AirlineCatalog::load(rumos, &bytes).unwrap();
        assert_eq!(loaded.flights(), doc.flights());
        assert!(AirlineCatalog::load(AirlineId::new("giro"), &bytes).is_err());
    }

    /// The reader as it was before [`AirlineCatalog::fields`]: one `get` per field.
    fn flights_read_field_by_field(doc: &AirlineCatalog) -> Vec<Flight> {
        let scalar = |o: &ObjId, k: &str| match doc.doc.get(o, k).ok()?? {
            (Value::Scalar(s), _) => Some(s.into_owned()),
            _ => None,
        };
        let string = |o: &ObjId, k: &str| match scalar(o, k) {
            Some(ScalarValue::Str(s)) => s.to_string(),
            _ => String::new(),
        };
        let int = |o: &ObjId, k: &str| match scalar(o, k) {
            Some(ScalarValue::Int(i)) => i,
            Some(ScalarValue::Uint(u)) => u as i64,
            Some(ScalarValue::F64(f)) => f as i64,
            _ => 0,
        };
        let Ok(Some((Value::Object(ObjType::Map), root))) = doc.doc.get(ROOT, "flights") else {
            return Vec::new();
        };
        doc.doc
            .keys(&root)
            .filter_map(|k| match doc.doc.get(&root, k.as_str()) {
                Ok(Some((Value::Object(ObjType::Map), id))) => Some((k, id)),
                _ => None,
            })
            .map(|(id, o)| Flight {
                id: FlightId(id),
                airline: AirlineId(string(&o, "airline")),
                origin: string(&o, "origin"),
                destination: string(&o, "destination"),
                departure: int(&o, "departure"),
                arrival: int(&o, "arrival"),
                rows: int(&o, "rows").clamp(0, u32::MAX as i64) as u32,
                letters: string(&o, "letters"),
                fare_cents: int(&o, "fare_cents").max(0) as u64,
                cancelled: matches!(scalar(&o, "cancelled"), Some(ScalarValue::Boolean(true))),
                escrow: parse_escrow(&string(&o, "escrow")),
            })
            .collect()
    }

    #[test]
    fn one_pass_over_a_map_reads_what_a_get_per_field_reads_conflicts_included() {
        let rumos = AirlineId::new("rumos");
        let mut doc = AirlineCatalog::new(rumos.clone());
        doc.put_flights(&[flight("rumos", "RU1"), flight("rumos", "RU2")])
            .unwrap();
        // Two replicas under other actors write the same fields concurrently (a conflict
        // `get` settles by its rule), a field as an object, a counter, a key the reader does
        // not know, and a flight entry that is not a map.
        let mut a = doc.doc_mut().fork().with_actor(ActorId::from(&b"a"[..]));
        let mut b = doc.doc_mut().fork().with_actor(ActorId::from(&b"b"[..]));
        let Some((_, flights)) = a.get(ROOT, "flights").unwrap() else {
            panic!("no flights map")
        };
        let Some((_, ru1)) = a.get(&flights, "RU1").unwrap() else {
            panic!("no RU1")
        };
        a.put(&ru1, "rows", ScalarValue::Uint(40)).unwrap();
        b.put(&ru1, "rows", ScalarValue::Int(7)).unwrap();
        a.put(&ru1, "letters", "AB").unwrap();
        b.put_object(&ru1, "letters", ObjType::List).unwrap();
        a.put(&ru1, "fare_cents", ScalarValue::counter(5)).unwrap();
        b.put(&ru1, "cancelled", true).unwrap();
        b.put(&ru1, "zz", 1).unwrap();
        a.put(&flights, "RU3", "not a map").unwrap();
        a.merge(&mut b).unwrap();
        doc.doc = Arc::new(a);
        doc.read = OnceLock::new();
        assert_eq!(doc.raw_flights(), flights_read_field_by_field(&doc));
        assert_eq!(doc.raw_flights().len(), 2);
    }
}
