//! The route catalog: airports and flights as Automerge documents, one per airline.
//!
//! Each airline writes only its own document, with an Automerge actor id derived from its name
//! ([`actor_for`]). A remote change is accepted into airline X's document only if its actor is
//! X's, so no peer can edit another airline's flights, and the check needs nothing but the
//! change itself. The network's route graph is the union of all documents ([`Catalog`]).
//! Whether the peer that sent a change really *is* X is the transport's job (signed messages).

use crate::ids::{AirlineId, FlightId, SeatId};
use crate::token::Millis;
use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// An airport of the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Airport {
    /// Three-letter IATA code, upper case (`SSA`).
    pub iata: String,
    /// The airport's name.
    pub name: String,
    /// The city it serves.
    pub city: String,
    /// The state (two letters in Brazil).
    pub state: String,
    /// Latitude in degrees, north positive.
    pub latitude: f64,
    /// Longitude in degrees, east positive.
    pub longitude: f64,
    /// IANA time zone in which travelers read the airport's times (`America/Manaus`); empty
    /// when the airline gave none (the API then shows UTC). Absent from documents written
    /// before it existed, hence the default.
    #[serde(default)]
    pub time_zone: String,
}

/// A scheduled flight of one airline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flight {
    /// Unique id, starting with the airline's code.
    pub id: FlightId,
    /// The operating airline; the only one that may edit the flight.
    pub airline: AirlineId,
    /// IATA code of the departure airport.
    pub origin: String,
    /// IATA code of the arrival airport.
    pub destination: String,
    /// Departure, ms since the Unix epoch (UTC).
    pub departure: Millis,
    /// Arrival, ms since the Unix epoch (UTC).
    pub arrival: Millis,
    /// Number of seat rows, numbered from 1.
    pub rows: u32,
    /// Seat letters of each row, such as `ABCDEF`.
    pub letters: String,
    /// Fare of one seat in cents (BRL).
    pub fare_cents: u64,
    /// A cancelled flight sells nothing and its tickets are cancelled.
    pub cancelled: bool,
    /// Seats handed to partners in advance (escrow), fixed when the flight is created: each
    /// share takes the next seats from the front of the cabin, in list order (rows added later
    /// go to the operating airline, so no seat ever changes its initial holder). A seat's token
    /// starts at its share's airline, so the hand-out costs no message and cannot be lost.
    #[serde(default)]
    pub escrow: Vec<EscrowShare>,
}

/// The flight-number prefix of an airline: the first two letters of its name in upper case
/// (`RU` for rumos, `GI` for giro, `BO` for boreal). Every flight id of the airline starts
/// with it ([`Flight::validate`]), so an id names its operator and no airline can define a
/// flight under another's code. Two airlines of one network must not share a code: the node
/// refuses to open with such a roster.
pub fn airline_code(airline: &AirlineId) -> String {
    airline
        .as_str()
        .chars()
        .take(2)
        .collect::<String>()
        .to_uppercase()
}

/// Seats of a flight handed to one partner at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowShare {
    /// The partner that initially holds the seats.
    pub airline: AirlineId,
    /// How many seats it holds.
    pub seats: u32,
}

impl Flight {
    /// Number of seats: rows × letters.
    pub fn capacity(&self) -> u32 {
        self.rows * self.letters.chars().count() as u32
    }

    /// Every seat label in row-major order (`1A`, `1B`, … `30F`).
    pub fn seat_labels(&self) -> impl Iterator<Item = String> + '_ {
        (1..=self.rows).flat_map(move |r| self.letters.chars().map(move |l| format!("{r}{l}")))
    }

    /// Whether `label` names a seat of this flight.
    pub fn has_seat(&self, label: &str) -> bool {
        let split = label
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(label.len());
        let (row, letter) = label.split_at(split);
        let row_ok =
            row.parse::<u32>().is_ok_and(|r| r >= 1 && r <= self.rows) && !row.starts_with('0');
        row_ok && letter.chars().count() == 1 && self.letters.contains(letter)
    }

    /// The peer that holds `label`'s token before any change: the partner whose escrow share
    /// covers the seat, else the operating airline.
    pub fn initial_holder(&self, label: &str) -> &AirlineId {
        let Some(index) = self.seat_index(label) else {
            return &self.airline;
        };
        let mut start = 0;
        for share in &self.escrow {
            let end = start + share.seats;
            if index >= start && index < end {
                return &share.airline;
            }
            start = end;
        }
        &self.airline
    }

    /// Row-major index of a seat label (`1A` is 0), or `None` if the flight has no such seat.
    pub fn seat_index(&self, label: &str) -> Option<u32> {
        if !self.has_seat(label) {
            return None;
        }
        let split = label.find(|c: char| !c.is_ascii_digit())?;
        let row: u32 = label[..split].parse().ok()?;
        let col = self.letters.find(&label[split..])? as u32;
        Some((row - 1) * self.letters.len() as u32 + col)
    }

    /// The escrow shares of `count` seats each for every partner, in the given order, capped
    /// so that the operating airline keeps at least as many seats as it hands out in total.
    pub fn escrow_for(capacity: u32, share: f64, partners: &[AirlineId]) -> Vec<EscrowShare> {
        let each = ((capacity as f64) * share.clamp(0.0, 1.0)).floor() as u32;
        let each = each.min(capacity / (partners.len() as u32 + 1).max(1));
        if each == 0 {
            return Vec::new();
        }
        partners
            .iter()
            .map(|p| EscrowShare {
                airline: p.clone(),
                seats: each,
            })
            .collect()
    }

    /// The seat id of `label` on this flight.
    pub fn seat(&self, label: &str) -> SeatId {
        SeatId::new(self.id.clone(), label)
    }

    /// Checks the flight's own fields: an id that starts with its airline's code
    /// ([`airline_code`]), known shape, times in order, at least one seat.
    ///
    /// Errors: [`CatalogError::InvalidFlight`] saying what to fix.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let bad = |why: &str| {
            Err(CatalogError::InvalidFlight {
                id: self.id.clone(),
                why: why.to_owned(),
            })
        };
        if self.id.0.is_empty() || self.id.0.len() > 64 {
            return bad("the id must have 1 to 64 characters");
        }
        let code = airline_code(&self.airline);
        if code.is_empty() || !self.id.0.starts_with(&code) {
            return Err(CatalogError::InvalidFlight {
                id: self.id.clone(),
                why: format!(
                    "the id must start with {code:?}, the code of its airline {}",
                    self.airline
                ),
            });
        }
        if self.origin == self.destination {
            return bad("origin and destination must differ");
        }
        if self.arrival <= self.departure {
            return bad("arrival must come after departure");
        }
        if self.rows == 0 || self.rows > 200 || self.letters.is_empty() || self.letters.len() > 12 {
            return bad("a flight needs 1 to 200 rows of 1 to 12 seat letters");
        }
        if !self.letters.chars().all(|c| c.is_ascii_uppercase()) {
            return bad("seat letters must be upper-case A to Z");
        }
        let escrowed: u64 = self.escrow.iter().map(|s| u64::from(s.seats)).sum();
        if escrowed > u64::from(self.capacity())
            || self.escrow.iter().any(|s| s.airline == self.airline)
        {
            return bad("escrow shares must go to partners and fit in the cabin");
        }
        Ok(())
    }
}

impl Flight {
    /// Checks that `next` may replace this flight, as its operator publishes it: the same
    /// airline; seats only added as new rows (the letters, the escrow shares and the rows
    /// already there never change, so no token ever loses its seat or its initial holder);
    /// a cancelled flight stays cancelled.
    ///
    /// Errors: [`CatalogError::ForeignFlight`] for another airline, else
    /// [`CatalogError::InvalidFlight`] saying what may change.
    pub fn check_change(&self, next: &Flight) -> Result<(), CatalogError> {
        if next.airline != self.airline {
            return Err(CatalogError::ForeignFlight {
                flight: self.id.clone(),
                owner: self.airline.clone(),
                editor: next.airline.clone(),
            });
        }
        let bad = |why: &str| {
            Err(CatalogError::InvalidFlight {
                id: self.id.clone(),
                why: why.to_owned(),
            })
        };
        if next.letters != self.letters || next.escrow != self.escrow || next.rows < self.rows {
            return bad(
                "seats can be added as new rows, but the seat letters, the escrow shares and existing rows cannot change",
            );
        }
        if self.cancelled && !next.cancelled {
            return bad("a cancelled flight cannot be reinstated; add a new flight");
        }
        Ok(())
    }
}

/// Why a catalog change was refused.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum CatalogError {
    /// A change to airline `document`'s catalog was written by another actor.
    #[error(
        "a change to {document}'s catalog was written by another airline; only {document} may edit its flights"
    )]
    ForeignChange {
        /// Whose document it targeted.
        document: AirlineId,
    },
    /// A local edit names a flight of another airline.
    #[error("flight {flight} belongs to {owner}; {editor} may edit only its own flights")]
    ForeignFlight {
        /// The flight.
        flight: FlightId,
        /// Its operating airline.
        owner: AirlineId,
        /// Who tried.
        editor: AirlineId,
    },
    /// A flight's fields do not make sense.
    #[error("flight {id} is invalid: {why}")]
    InvalidFlight {
        /// The flight.
        id: FlightId,
        /// What to fix.
        why: String,
    },
    /// Bytes that do not decode as an Automerge document or change.
    #[error("catalog data does not decode: {0}")]
    Decode(String),
}

fn automerge_err(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Decode(e.to_string())
}

/// The Automerge actor id every change of `airline`'s catalog must carry.
pub fn actor_for(airline: &AirlineId) -> ActorId {
    ActorId::from(format!("passcom-airline:{airline}").into_bytes())
}

/// One airline's catalog document.
#[derive(Clone, Debug)]
pub struct AirlineCatalog {
    airline: AirlineId,
    doc: AutoCommit,
}

impl AirlineCatalog {
    /// An empty replica of `airline`'s document.
    pub fn new(airline: AirlineId) -> Self {
        let doc = AutoCommit::new().with_actor(actor_for(&airline));
        Self { airline, doc }
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
        Ok(Self { airline, doc })
    }

    /// The airline whose document this is.
    pub fn airline(&self) -> &AirlineId {
        &self.airline
    }

    /// The whole document, compacted, for the store.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The document's current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The encoded changes made after `heads` (all changes for an empty slice).
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<Vec<u8>> {
        self.doc
            .get_changes(heads)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    /// Applies changes received from another peer. Every change must be by this airline's
    /// actor, else nothing is applied and [`CatalogError::ForeignChange`] is returned.
    /// Re-applying a known change is a no-op, so deliveries may repeat.
    pub fn apply_remote(&mut self, changes: &[Vec<u8>]) -> Result<(), CatalogError> {
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
        // the peer down. Apply to a copy, catch a panic, and keep the copy only on success:
        // the document is never left half-applied.
        let mut trial = self.doc.clone();
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            trial.apply_changes(decoded).map(|()| trial)
        }));
        match applied {
            Ok(Ok(doc)) => {
                self.doc = doc;
                Ok(())
            }
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
                .doc
                .put_object(ROOT, key, ObjType::Map)
                .map_err(automerge_err),
        }
    }

    fn child_map(&mut self, parent: &ObjId, key: &str) -> Result<ObjId, CatalogError> {
        match self.doc.get(parent, key).map_err(automerge_err)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => self
                .doc
                .put_object(parent, key, ObjType::Map)
                .map_err(automerge_err),
        }
    }

    /// Commits the open transaction and returns the changes made since `before` (the heads
    /// taken before the edit began: AutoCommit closes its transaction when asked for heads).
    fn commit(&mut self, before: &[ChangeHash]) -> Vec<Vec<u8>> {
        self.doc.commit();
        self.changes_since(before)
    }

    /// Adds or updates airports in this airline's document; returns the encoded change.
    pub fn put_airports(&mut self, airports: &[Airport]) -> Result<Vec<Vec<u8>>, CatalogError> {
        let before = self.doc.get_heads();
        let root = self.map("airports")?;
        for a in airports {
            let obj = self.child_map(&root, &a.iata)?;
            let d = &mut self.doc;
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
        let before = self.doc.get_heads();
        let root = self.map("flights")?;
        for f in flights {
            let obj = self.child_map(&root, f.id.as_str())?;
            let d = &mut self.doc;
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

    fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.doc.get(obj, key).ok()?? {
            (Value::Scalar(s), _) => Some(s.into_owned()),
            _ => None,
        }
    }

    fn string(&self, obj: &ObjId, key: &str) -> String {
        match self.scalar(obj, key) {
            Some(ScalarValue::Str(s)) => s.to_string(),
            _ => String::new(),
        }
    }

    fn int(&self, obj: &ObjId, key: &str) -> i64 {
        match self.scalar(obj, key) {
            Some(ScalarValue::Int(i)) => i,
            Some(ScalarValue::Uint(u)) => u as i64,
            Some(ScalarValue::F64(f)) => f as i64,
            _ => 0,
        }
    }

    fn float(&self, obj: &ObjId, key: &str) -> f64 {
        match self.scalar(obj, key) {
            Some(ScalarValue::F64(f)) => f,
            Some(ScalarValue::Int(i)) => i as f64,
            _ => 0.0,
        }
    }

    fn entries(&self, key: &str) -> Vec<(String, ObjId)> {
        let Ok(Some((Value::Object(ObjType::Map), root))) = self.doc.get(ROOT, key) else {
            return Vec::new();
        };
        self.doc
            .keys(&root)
            .filter_map(|k| match self.doc.get(&root, k.as_str()) {
                Ok(Some((Value::Object(ObjType::Map), id))) => Some((k, id)),
                _ => None,
            })
            .collect()
    }

    /// The airports in this document, by IATA code.
    pub fn airports(&self) -> Vec<Airport> {
        self.entries("airports")
            .into_iter()
            .map(|(iata, o)| Airport {
                name: self.string(&o, "name"),
                city: self.string(&o, "city"),
                state: self.string(&o, "state"),
                latitude: self.float(&o, "latitude"),
                longitude: self.float(&o, "longitude"),
                time_zone: self.string(&o, "time_zone"),
                iata,
            })
            .collect()
    }

    /// The flights in this document, by id. A flight whose stored airline is not this
    /// document's is skipped: no airline can publish flights under another's name.
    pub fn flights(&self) -> Vec<Flight> {
        self.raw_flights()
            .into_iter()
            .filter(|f| f.airline == self.airline)
            // A remote document can hold anything its airline signed; a flight no local edit
            // could have written (no seats, 10^9 rows, escrow beyond the cabin, an id of
            // another airline's code) is not shown, so nothing downstream meets it (found by
            // the `catalog_apply` fuzz target).
            .filter(|f| f.validate().is_ok())
            .collect()
    }

    /// Every flight entry of the document as stored, checked or not.
    fn raw_flights(&self) -> Vec<Flight> {
        self.entries("flights")
            .into_iter()
            .map(|(id, o)| Flight {
                id: FlightId(id),
                airline: AirlineId(self.string(&o, "airline")),
                origin: self.string(&o, "origin"),
                destination: self.string(&o, "destination"),
                departure: self.int(&o, "departure"),
                arrival: self.int(&o, "arrival"),
                rows: self.int(&o, "rows").clamp(0, u32::MAX as i64) as u32,
                letters: self.string(&o, "letters"),
                fare_cents: self.int(&o, "fare_cents").max(0) as u64,
                cancelled: matches!(
                    self.scalar(&o, "cancelled"),
                    Some(ScalarValue::Boolean(true))
                ),
                escrow: parse_escrow(&self.string(&o, "escrow")),
            })
            .collect()
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

/// The network's catalog: every airline's document and the union view of their airports and
/// flights, refreshed after each change.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    docs: BTreeMap<AirlineId, AirlineCatalog>,
    flights: BTreeMap<FlightId, Flight>,
    airports: BTreeMap<String, Airport>,
    /// Each airline's part of the view, so a change to one document refreshes only its part.
    flights_of: BTreeMap<AirlineId, Vec<FlightId>>,
    airports_of: BTreeMap<AirlineId, Vec<Airport>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document of `airline`, created empty if unknown.
    pub fn doc_mut(&mut self, airline: &AirlineId) -> &mut AirlineCatalog {
        self.docs
            .entry(airline.clone())
            .or_insert_with(|| AirlineCatalog::new(airline.clone()))
    }

    /// The airlines that have a document here.
    pub fn airlines(&self) -> impl Iterator<Item = &AirlineId> {
        self.docs.keys()
    }

    /// Installs a document, replacing any previous one, and refreshes the view. Returns the
    /// previous document, so that a caller can put it back ([`Catalog::restore`]) when the
    /// event that carried the change turns out to be refused.
    pub fn insert_doc(&mut self, doc: AirlineCatalog) -> Option<AirlineCatalog> {
        let airline = doc.airline().clone();
        let previous = self.docs.insert(airline.clone(), doc);
        self.refresh(&airline);
        previous
    }

    /// Puts back `airline`'s document as it was before [`Catalog::insert_doc`] replaced it
    /// (`None`: it had none), and refreshes the view.
    pub fn restore(&mut self, airline: &AirlineId, previous: Option<AirlineCatalog>) {
        match previous {
            Some(doc) => {
                self.docs.insert(airline.clone(), doc);
            }
            None => {
                self.docs.remove(airline);
                self.airports_of.remove(airline);
            }
        }
        self.refresh(airline);
        self.rebuild_airports();
    }

    /// Checks remote changes to `airline`'s document *without applying them*: returns the
    /// document as it would be after them, to install with [`Catalog::insert_doc`] once the
    /// whole event that carries them is accepted.
    ///
    /// Besides the actor check of [`AirlineCatalog::apply_remote`], every flight entry the
    /// changes add or alter must be the airline's own ([`Flight::validate`], whose id rule
    /// ties the id to the airline's code), must be a change its operator may make
    /// ([`Flight::check_change`]), and must not be a flight another airline already defines:
    /// one airline's document can never define, change or hide another's flight.
    ///
    /// Errors: [`CatalogError::ForeignChange`], [`CatalogError::ForeignFlight`],
    /// [`CatalogError::InvalidFlight`] or [`CatalogError::Decode`]; nothing is changed then.
    pub fn prepare_remote(
        &self,
        airline: &AirlineId,
        changes: &[Vec<u8>],
    ) -> Result<AirlineCatalog, CatalogError> {
        let current = self.docs.get(airline);
        let mut trial = current
            .cloned()
            .unwrap_or_else(|| AirlineCatalog::new(airline.clone()));
        let before: BTreeMap<FlightId, Flight> = current
            .map(|d| d.raw_flights())
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f.id.clone(), f))
            .collect();
        trial.apply_remote(changes)?;
        for f in trial.raw_flights() {
            let old = before.get(&f.id);
            if old == Some(&f) {
                continue; // untouched by these changes
            }
            if &f.airline != airline {
                return Err(CatalogError::ForeignFlight {
                    flight: f.id.clone(),
                    owner: f.airline.clone(),
                    editor: airline.clone(),
                });
            }
            f.validate()?;
            if let Some(old) = old.filter(|o| o.validate().is_ok()) {
                old.check_change(&f)?;
            }
            if let Some(other) = self.flights.get(&f.id)
                && &other.airline != airline
            {
                return Err(CatalogError::ForeignFlight {
                    flight: f.id.clone(),
                    owner: other.airline.clone(),
                    editor: airline.clone(),
                });
            }
        }
        Ok(trial)
    }

    /// Rebuilds `airline`'s part of the union view from its document. Airports are merged by
    /// IATA code (the first airline in name order that lists one wins; all carry the same
    /// reference data).
    pub fn refresh(&mut self, airline: &AirlineId) {
        for id in self.flights_of.remove(airline).unwrap_or_default() {
            self.flights.remove(&id);
        }
        let Some(doc) = self.docs.get(airline) else {
            return;
        };
        // An id another airline's document already shows stays that airline's: a document
        // can never replace or hide a flight of another (two airlines of one code could
        // otherwise shadow each other's flights).
        let flights: Vec<Flight> = doc
            .flights()
            .into_iter()
            .filter(|f| {
                self.flights
                    .get(&f.id)
                    .is_none_or(|other| &other.airline == airline)
            })
            .collect();
        self.flights_of.insert(
            airline.clone(),
            flights.iter().map(|f| f.id.clone()).collect(),
        );
        for f in flights {
            self.flights.insert(f.id.clone(), f);
        }
        self.airports_of.insert(airline.clone(), doc.airports());
        self.rebuild_airports();
    }

    fn rebuild_airports(&mut self) {
        self.airports.clear();
        for list in self.airports_of.values() {
            for a in list {
                self.airports
                    .entry(a.iata.clone())
                    .or_insert_with(|| a.clone());
            }
        }
    }

    /// Local edit: `airline` adds or updates its own flights. Returns the change to broadcast.
    pub fn put_flights(
        &mut self,
        airline: &AirlineId,
        flights: &[Flight],
    ) -> Result<Vec<Vec<u8>>, CatalogError> {
        for f in flights {
            if let Some(other) = self.flights.get(&f.id)
                && &other.airline != airline
            {
                return Err(CatalogError::ForeignFlight {
                    flight: f.id.clone(),
                    owner: other.airline.clone(),
                    editor: airline.clone(),
                });
            }
        }
        let changes = self.doc_mut(airline).put_flights(flights)?;
        // The document now holds exactly these values: update the view without re-reading it.
        let ids = self.flights_of.entry(airline.clone()).or_default();
        for f in flights {
            if self.flights.insert(f.id.clone(), f.clone()).is_none() {
                ids.push(f.id.clone());
            }
        }
        Ok(changes)
    }

    /// Local edit: `airline` lists airports it serves. Returns the change to broadcast.
    pub fn put_airports(
        &mut self,
        airline: &AirlineId,
        airports: &[Airport],
    ) -> Result<Vec<Vec<u8>>, CatalogError> {
        let changes = self.doc_mut(airline).put_airports(airports)?;
        let mine = self.airports_of.entry(airline.clone()).or_default();
        for a in airports {
            match mine.iter_mut().find(|m| m.iata == a.iata) {
                Some(m) => *m = a.clone(),
                None => mine.push(a.clone()),
            }
        }
        self.rebuild_airports();
        Ok(changes)
    }

    /// Applies remote changes to `airline`'s document after [`Catalog::prepare_remote`]'s
    /// checks; nothing is applied when they fail.
    pub fn apply_remote(
        &mut self,
        airline: &AirlineId,
        changes: &[Vec<u8>],
    ) -> Result<(), CatalogError> {
        let doc = self.prepare_remote(airline, changes)?;
        self.insert_doc(doc);
        Ok(())
    }

    /// A flight by id.
    pub fn flight(&self, id: &FlightId) -> Option<&Flight> {
        self.flights.get(id)
    }

    /// Every flight, by id.
    pub fn flights(&self) -> impl Iterator<Item = &Flight> {
        self.flights.values()
    }

    /// An airport by IATA code.
    pub fn airport(&self, iata: &str) -> Option<&Airport> {
        self.airports.get(iata)
    }

    /// Every airport, by IATA code.
    pub fn airports(&self) -> impl Iterator<Item = &Airport> {
        self.airports.values()
    }

    /// Saves every document, by airline, for the store.
    pub fn save_all(&mut self) -> BTreeMap<AirlineId, Vec<u8>> {
        self.docs
            .iter_mut()
            .map(|(a, d)| (a.clone(), d.save()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(airline: &str, id: &str) -> Flight {
        Flight {
            id: FlightId::new(id),
            airline: AirlineId::new(airline),
            origin: "SSA".into(),
            destination: "BSB".into(),
            departure: 1_000_000,
            arrival: 1_000_000 + 7_200_000,
            rows: 30,
            letters: "ABCDEF".into(),
            fare_cents: 45_000,
            cancelled: false,
            escrow: Vec::new(),
        }
    }

    #[test]
    fn a_change_to_a_foreign_airlines_flight_is_refused() {
        let rumos = AirlineId::new("rumos");
        let giro = AirlineId::new("giro");
        let mut at_giro = Catalog::new();
        // giro writes a flight under rumos's name in its own document: refused locally…
        assert!(matches!(
            at_giro.put_flights(&giro, &[flight("rumos", "RU1")]),
            Err(CatalogError::ForeignFlight { .. })
        ));
        // …and a change giro made to its own doc, delivered as if it were rumos's, is refused.
        let changes = at_giro
            .put_flights(&giro, &[flight("giro", "GI1")])
            .unwrap();
        let mut at_rumos = Catalog::new();
        assert_eq!(
            at_rumos.apply_remote(&rumos, &changes),
            Err(CatalogError::ForeignChange {
                document: rumos.clone()
            })
        );
        assert!(at_rumos.flights().next().is_none());
        at_rumos.apply_remote(&giro, &changes).unwrap();
        assert_eq!(
            at_rumos.flight(&FlightId::new("GI1")).unwrap().airline,
            giro
        );
    }

    #[test]
    fn a_flight_id_must_start_with_its_airlines_code() {
        assert_eq!(airline_code(&AirlineId::new("rumos")), "RU");
        flight("rumos", "RU1").validate().unwrap();
        assert!(matches!(
            flight("mallory", "RU1").validate(),
            Err(CatalogError::InvalidFlight { .. })
        ));
        let mut at_rumos = Catalog::new();
        assert!(
            at_rumos
                .put_flights(&AirlineId::new("mallory"), &[flight("mallory", "RU1")])
                .is_err()
        );
    }

    #[test]
    fn no_document_can_define_change_or_hide_another_airlines_flight() {
        let (rumos, mallory, rubber) = (
            AirlineId::new("rumos"),
            AirlineId::new("mallory"),
            AirlineId::new("rubber"),
        );
        let mut catalog = Catalog::new();
        let real = flight("rumos", "RU1");
        let ch = AirlineCatalog::new(rumos.clone())
            .put_flights(std::slice::from_ref(&real))
            .unwrap();
        catalog.apply_remote(&rumos, &ch).unwrap();
        // mallory writes rumos' id into its own document, 200 rows and no escrow.
        let mut shadow = flight("mallory", "RU1");
        shadow.rows = 200;
        let forged = AirlineCatalog::new(mallory.clone())
            .write_flights_unchecked(&[shadow])
            .unwrap();
        assert!(matches!(
            catalog.prepare_remote(&mallory, &forged),
            Err(CatalogError::InvalidFlight { .. })
        ));
        // rubber shares rumos' code, so its RU1 is well-formed, but RU1 is rumos'.
        let mut twin = flight("rubber", "RU1");
        twin.rows = 200;
        let same_code = AirlineCatalog::new(rubber.clone())
            .write_flights_unchecked(&[twin])
            .unwrap();
        assert!(matches!(
            catalog.prepare_remote(&rubber, &same_code),
            Err(CatalogError::ForeignFlight { .. })
        ));
        // Even installed by force, rubber's document neither replaces nor hides rumos' flight.
        let mut doc = AirlineCatalog::new(rubber.clone());
        doc.apply_remote(&same_code).unwrap();
        catalog.insert_doc(doc);
        assert_eq!(catalog.flight(&real.id), Some(&real));
        catalog.restore(&rubber, None);
        assert_eq!(catalog.flight(&real.id), Some(&real));
        // rumos itself may not take rows away from its flight, remotely either.
        let mut doc = AirlineCatalog::new(rumos.clone());
        doc.apply_remote(&ch).unwrap();
        let mut smaller = real.clone();
        smaller.rows = 2;
        let shrink = doc.write_flights_unchecked(&[smaller]).unwrap();
        assert!(matches!(
            catalog.prepare_remote(&rumos, &shrink),
            Err(CatalogError::InvalidFlight { .. })
        ));
        assert_eq!(catalog.flight(&real.id), Some(&real), "nothing was applied");
    }

    #[test]
    fn two_airlines_editing_concurrently_converge() {
        let (rumos, giro) = (AirlineId::new("rumos"), AirlineId::new("giro"));
        let mut a = Catalog::new();
        let mut b = Catalog::new();
        let ca = a
            .put_flights(&rumos, &[flight("rumos", "RU1"), flight("rumos", "RU2")])
            .unwrap();
        let cb = b.put_flights(&giro, &[flight("giro", "GI1")]).unwrap();
        let mut cancelled = flight("rumos", "RU2");
        cancelled.cancelled = true;
        let ca2 = a.put_flights(&rumos, &[cancelled]).unwrap();
        // b receives rumos's changes out of order and twice; a receives giro's.
        b.apply_remote(&rumos, &ca2).unwrap();
        b.apply_remote(&rumos, &ca).unwrap();
        b.apply_remote(&rumos, &ca).unwrap();
        a.apply_remote(&giro, &cb).unwrap();
        let fa: Vec<_> = a.flights().cloned().collect();
        let fb: Vec<_> = b.flights().cloned().collect();
        assert_eq!(fa, fb);
        assert_eq!(fa.len(), 3);
        assert!(b.flight(&FlightId::new("RU2")).unwrap().cancelled);
    }

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

    #[test]
    fn seat_labels_are_checked() {
        let f = flight("rumos", "RU1");
        assert_eq!(f.capacity(), 180);
        assert!(f.has_seat("14C") && f.has_seat("30F") && f.has_seat("1A"));
        assert!(
            !f.has_seat("31A") && !f.has_seat("0A") && !f.has_seat("14G") && !f.has_seat("C14")
        );
        assert_eq!(f.seat_labels().count(), 180);
    }

    #[test]
    fn escrow_shares_take_seats_from_the_front() {
        let mut f = flight("rumos", "RU1");
        f.escrow = Flight::escrow_for(
            180,
            0.2,
            &[AirlineId::new("giro"), AirlineId::new("boreal")],
        );
        assert_eq!(f.escrow[0].seats, 36);
        assert_eq!(f.initial_holder("1A").as_str(), "giro");
        assert_eq!(f.initial_holder("6F").as_str(), "giro"); // index 35
        assert_eq!(f.initial_holder("7A").as_str(), "boreal");
        assert_eq!(f.initial_holder("12F").as_str(), "boreal"); // index 71
        assert_eq!(f.initial_holder("13A").as_str(), "rumos");
        let holders = f
            .seat_labels()
            .filter(|l| f.initial_holder(l).as_str() == "rumos")
            .count();
        assert_eq!(holders, 108);
        f.validate().unwrap();
    }
}
