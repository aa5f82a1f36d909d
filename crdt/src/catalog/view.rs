//! The network's catalog: every airline's document and the union view of their airports and
//! flights, with the checks that span documents (no document may define, change or hide
//! another airline's flight).
//!
//! It reaches the documents only through [`AirlineCatalog`]'s methods; it must never write
//! Automerge maps itself.

use super::CatalogError;
use super::document::AirlineCatalog;
use super::flight::{Airport, Flight};
use crate::ids::{AirlineId, FlightId};
use std::collections::BTreeMap;

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
        let before: BTreeMap<&FlightId, &Flight> = current
            .map(|d| d.raw_flights())
            .unwrap_or_default()
            .iter()
            .map(|f| (&f.id, f))
            .collect();
        let trial = current
            .cloned()
            .unwrap_or_else(|| AirlineCatalog::new(airline.clone()))
            .applied(changes)?;
        for f in trial.raw_flights() {
            let old = before.get(&f.id).copied();
            if old == Some(f) {
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
                old.check_change(f)?;
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
    use crate::catalog::test_support::flight;

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
}
