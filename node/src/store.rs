//! The durable store: one redb database per peer.
//!
//! The node keeps its working state in memory and writes every change through a [`Batch`],
//! committed as ONE redb write transaction per [`crate::Node::handle_batch`] call. That is the
//! group commit: purchases that arrive together share one fsync. Values are postcard-encoded;
//! the format version is stored under `meta/format` and checked at open.
//!
//! The module is private to the crate: outside it a [`Store`] is a handle that a caller opens
//! and hands to [`crate::Node::open`], and only the node (plus the bulk loaders of
//! [`crate::demo`] that benchmarks use to build large stores before a peer opens them) reads
//! or writes its tables. So every write a running peer makes passes through the node's checks.

use crate::model::{Event, Hold, HoldRequest, PurchaseRequest, Refusal, Ticket};
use passcom_crdt::{AirlineId, Millis, SeatId, TicketId, Token, VectorClock};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// Version of the storage format written by this build (2: tickets carry their idempotency key).
pub(crate) const FORMAT_VERSION: u64 = 2;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TOKENS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tokens");
const TICKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("tickets");
const EVENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("events");
const CLOCK: TableDefinition<&str, u64> = TableDefinition::new("clock");
const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("catalog");
const OPERATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("operations");
const HOLDS: TableDefinition<&str, &[u8]> = TableDefinition::new("holds");
const OUTBOX: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("outbox");

/// A storage failure, naming what to do about it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// redb failed (I/O error, disk full, corruption).
    #[error("database {path}: {source}")]
    Redb {
        /// The database file, or `<memory>`.
        path: String,
        /// The underlying error.
        source: Box<redb::Error>,
    },
    /// The file holds data this build cannot read.
    #[error(
        "database {path} has storage format {found}, this build reads {expected}; use a matching passcom build or a new data folder"
    )]
    Format {
        /// The database file.
        path: String,
        /// Found version.
        found: u64,
        /// Supported version.
        expected: u64,
    },
    /// The file belongs to another airline.
    #[error(
        "database {path} belongs to airline {found}, not {expected}; point --data at {expected}'s folder"
    )]
    WrongAirline {
        /// The database file.
        path: String,
        /// The airline stored in it.
        found: String,
        /// The airline asked for.
        expected: String,
    },
    /// A stored value does not decode.
    #[error(
        "database {path}: a stored {what} does not decode ({why}); the file is damaged, restore it from a backup or start from a new data folder to resync from peers"
    )]
    Corrupt {
        /// The database file.
        path: String,
        /// Which kind of record.
        what: &'static str,
        /// The decoder's message.
        why: String,
    },
}

/// A durable record of a purchase or hold, keyed by its idempotency key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Operation {
    /// Recorded, waiting for seats to arrive; ends by `deadline`.
    Pending {
        /// What was asked.
        op: PendingOp,
        /// When it is refused if still pending.
        deadline: Millis,
    },
    /// The purchase confirmed this ticket.
    Confirmed(TicketId),
    /// The hold was placed.
    Held(String),
    /// Refused.
    Refused(Refusal),
}

/// What a pending operation will do once its seats are here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PendingOp {
    /// Sell the seats.
    Purchase(PurchaseRequest),
    /// Hold the seats.
    Hold(HoldRequest),
}

/// A hand-over not yet acknowledged: the receiver and when it was granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The receiving peer.
    pub to: AirlineId,
    /// When the grant was written.
    pub since: Millis,
}

/// Everything the store holds, read at open.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The airline recorded at creation, if any.
    pub(crate) airline: Option<String>,
    /// Verifying keys learned from peers, by airline.
    pub(crate) roster: BTreeMap<AirlineId, [u8; 32]>,
    /// Signed key records of other airlines, kept to relay them after a restart.
    pub(crate) key_records: BTreeMap<AirlineId, crate::model::KeyRecord>,
    /// Tokens that ever changed (absent ones are at their initial state).
    pub(crate) tokens: BTreeMap<SeatId, Token>,
    /// Every ticket known, by id.
    pub(crate) tickets: BTreeMap<TicketId, Ticket>,
    /// The vector clock.
    pub(crate) clock: VectorClock,
    /// Saved catalog documents by airline.
    pub(crate) catalog: BTreeMap<AirlineId, Vec<u8>>,
    /// Purchases and holds by key.
    pub(crate) operations: BTreeMap<String, Operation>,
    /// Carts by id.
    pub(crate) holds: BTreeMap<String, Hold>,
    /// Hand-overs awaiting their receipt.
    pub(crate) outbox: BTreeMap<SeatId, OutboxEntry>,
}

/// Writes gathered during one `handle_batch`, committed together.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    meta: BTreeMap<String, Vec<u8>>,
    tokens: BTreeMap<SeatId, Token>,
    tickets: BTreeMap<TicketId, Ticket>,
    events: Vec<Event>,
    clock: BTreeMap<AirlineId, u64>,
    catalog: BTreeMap<AirlineId, Vec<u8>>,
    operations: BTreeMap<String, Option<Operation>>,
    holds: BTreeMap<String, Option<Hold>>,
    outbox: BTreeMap<SeatId, Option<OutboxEntry>>,
}

impl Batch {
    /// Whether nothing is to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.meta.is_empty()
            && self.tokens.is_empty()
            && self.tickets.is_empty()
            && self.events.is_empty()
            && self.clock.is_empty()
            && self.catalog.is_empty()
            && self.operations.is_empty()
            && self.holds.is_empty()
            && self.outbox.is_empty()
    }
    /// Writes a token.
    pub(crate) fn token(&mut self, seat: SeatId, token: Token) {
        self.tokens.insert(seat, token);
    }
    /// Writes a ticket.
    pub(crate) fn ticket(&mut self, ticket: Ticket) {
        self.tickets.insert(ticket.id.clone(), ticket);
    }
    /// Appends an event to the log.
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push(event);
    }
    /// Sets the clock entry of `origin`.
    pub(crate) fn clock(&mut self, origin: AirlineId, seq: u64) {
        self.clock.insert(origin, seq);
    }
    /// Replaces a saved catalog document.
    pub(crate) fn catalog(&mut self, airline: AirlineId, bytes: Vec<u8>) {
        self.catalog.insert(airline, bytes);
    }
    /// Writes an operation record.
    pub(crate) fn operation(&mut self, key: String, op: Operation) {
        self.operations.insert(key, Some(op));
    }
    /// Deletes an operation record (its answer was not final).
    pub(crate) fn forget_operation(&mut self, key: String) {
        self.operations.insert(key, None);
    }
    /// Writes (`Some`) or deletes (`None`) a hold.
    pub(crate) fn hold(&mut self, hold_id: String, hold: Option<Hold>) {
        self.holds.insert(hold_id, hold);
    }
    /// Writes (`Some`) or deletes (`None`) an outbox entry.
    pub(crate) fn outbox(&mut self, seat: SeatId, entry: Option<OutboxEntry>) {
        self.outbox.insert(seat, entry);
    }
    /// Writes a metadata value.
    pub(crate) fn meta(&mut self, key: &str, value: Vec<u8>) {
        self.meta.insert(key.to_owned(), value);
    }
}

/// The peer's redb database, as a handle: open it ([`Store::open`], [`Store::from_database`])
/// and give it to [`crate::Node::open`]. Reading or writing its tables is the node's business;
/// outside this crate only the event log can be read ([`Store::events`]).
pub struct Store {
    db: Database,
    path: String,
    /// The file behind `db`, when there is one: after an I/O error redb refuses every further
    /// transaction, so the store reopens the file to recover (disk space may have returned).
    file: Option<std::path::PathBuf>,
    /// Set after a failed commit until the file is reopened.
    broken: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("postcard encodes every node type")
}

impl Store {
    /// Opens (creating if absent) the database file at `path`.
    ///
    /// Errors: a damaged or foreign file gives [`StoreError::Redb`] or [`StoreError::Format`]
    /// naming the file; the file is never reset silently.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let db = Database::create(path).map_err(|e| StoreError::Redb {
            path: name.clone(),
            source: Box::new(e.into()),
        })?;
        let mut store = Store::from_database(db, name)?;
        store.file = Some(path.to_owned());
        Ok(store)
    }

    /// Wraps an already open database (for example on an in-memory backend) named `path` in
    /// messages.
    pub fn from_database(db: Database, path: String) -> Result<Store, StoreError> {
        let store = Store {
            db,
            path,
            file: None,
            broken: false,
        };
        store.init()?;
        Ok(store)
    }

    /// The redb database underneath, for harnesses that manage its device (the fuzz targets
    /// make theirs fail one empty commit before dropping it). Its tables belong to the node:
    /// writing them from outside bypasses every check the node makes and every event it logs.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The file name used in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Redb {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    fn corrupt(&self, what: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
            why: e.to_string(),
        }
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| self.err(e))?;
            let found = meta
                .get("format")
                .map_err(|e| self.err(e))?
                .map(|v| v.value().to_vec());
            match found {
                None => {
                    meta.insert("format", FORMAT_VERSION.to_le_bytes().as_slice())
                        .map_err(|e| self.err(e))?;
                }
                Some(bytes) => {
                    let found = bytes.try_into().map(u64::from_le_bytes).unwrap_or(u64::MAX);
                    if found != FORMAT_VERSION {
                        return Err(StoreError::Format {
                            path: self.path.clone(),
                            found,
                            expected: FORMAT_VERSION,
                        });
                    }
                }
            }
            tx.open_table(TOKENS).map_err(|e| self.err(e))?;
            tx.open_table(TICKETS).map_err(|e| self.err(e))?;
            tx.open_table(EVENTS).map_err(|e| self.err(e))?;
            tx.open_table(CLOCK).map_err(|e| self.err(e))?;
            tx.open_table(CATALOG).map_err(|e| self.err(e))?;
            tx.open_table(OPERATIONS).map_err(|e| self.err(e))?;
            tx.open_table(HOLDS).map_err(|e| self.err(e))?;
            tx.open_table(OUTBOX).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn decode<T: DeserializeOwned>(
        &self,
        what: &'static str,
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        postcard::from_bytes(bytes).map_err(|e| self.corrupt(what, e))
    }

    /// Reads everything the node keeps in memory.
    pub(crate) fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.recover()?;
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let mut snap = Snapshot::default();
        let meta = tx.open_table(META).map_err(|e| self.err(e))?;
        snap.airline = meta
            .get("airline")
            .map_err(|e| self.err(e))?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned());
        if let Some(v) = meta.get("roster").map_err(|e| self.err(e))? {
            snap.roster = self.decode("roster", v.value())?;
        }
        if let Some(v) = meta.get("key_records").map_err(|e| self.err(e))? {
            snap.key_records = self.decode("key records", v.value())?;
        }
        for row in tx
            .open_table(TOKENS)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let (flight, seat) = k.value();
            snap.tokens
                .insert(SeatId::new(flight, seat), self.decode("token", v.value())?);
        }
        for row in tx
            .open_table(TICKETS)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            snap.tickets
                .insert(TicketId::new(k.value()), self.decode("ticket", v.value())?);
        }
        for row in tx
            .open_table(CLOCK)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            snap.clock.observe(&AirlineId::new(k.value()), v.value());
        }
        for row in tx
            .open_table(CATALOG)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            snap.catalog
                .insert(AirlineId::new(k.value()), v.value().to_vec());
        }
        for row in tx
            .open_table(OPERATIONS)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            snap.operations.insert(
                k.value().to_owned(),
                self.decode("purchase record", v.value())?,
            );
        }
        for row in tx
            .open_table(HOLDS)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            snap.holds
                .insert(k.value().to_owned(), self.decode("hold", v.value())?);
        }
        for row in tx
            .open_table(OUTBOX)
            .map_err(|e| self.err(e))?
            .iter()
            .map_err(|e| self.err(e))?
        {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let (flight, seat) = k.value();
            snap.outbox.insert(
                SeatId::new(flight, seat),
                self.decode("outbox entry", v.value())?,
            );
        }
        Ok(snap)
    }

    /// Events of `origin` with sequence numbers in `from..=to`, at most `limit` of them.
    pub fn events(
        &self,
        origin: &AirlineId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = tx.open_table(EVENTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in table
            .range((origin.as_str(), from)..=(origin.as_str(), to))
            .map_err(|e| self.err(e))?
        {
            let (_, v) = row.map_err(|e| self.err(e))?;
            out.push(self.decode("event", v.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Commits `batch` as one durable write transaction. On error nothing of it is written,
    /// and the next call first reopens the file (see [`Store::recover`]).
    pub(crate) fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.recover()?;
        let result = self.write(&batch);
        if result.is_err() {
            self.broken = self.file.is_some();
        }
        result
    }

    /// After a failed commit, reopens the database file so writes can resume once the cause
    /// (a full disk, say) is gone. A no-op when the store is healthy.
    ///
    /// Errors: the file still cannot be opened; the store stays broken and refuses writes.
    pub(crate) fn recover(&mut self) -> Result<(), StoreError> {
        let Some(file) = self.file.clone().filter(|_| self.broken) else {
            return Ok(());
        };
        // redb allows one open handle per file: release ours before opening it again. The
        // stand-in is never written, because `broken` stays set until the file is back.
        let stand_in = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| self.err(e))?;
        drop(std::mem::replace(&mut self.db, stand_in));
        let db = Database::create(&file).map_err(|e| self.err(e));
        self.db = db?;
        self.broken = false;
        Ok(())
    }

    fn write(&self, batch: &Batch) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(META).map_err(|e| self.err(e))?;
            for (k, v) in &batch.meta {
                t.insert(k.as_str(), v.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(TOKENS).map_err(|e| self.err(e))?;
            for (seat, token) in &batch.tokens {
                t.insert(
                    (seat.flight.as_str(), seat.seat.as_str()),
                    encode(token).as_slice(),
                )
                .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(TICKETS).map_err(|e| self.err(e))?;
            for (id, ticket) in &batch.tickets {
                t.insert(id.as_str(), encode(ticket).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(EVENTS).map_err(|e| self.err(e))?;
            for ev in &batch.events {
                t.insert((ev.origin.as_str(), ev.seq), encode(ev).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(CLOCK).map_err(|e| self.err(e))?;
            for (origin, seq) in &batch.clock {
                t.insert(origin.as_str(), *seq).map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(CATALOG).map_err(|e| self.err(e))?;
            for (airline, bytes) in &batch.catalog {
                t.insert(airline.as_str(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(OPERATIONS).map_err(|e| self.err(e))?;
            for (key, op) in &batch.operations {
                match op {
                    Some(op) => t.insert(key.as_str(), encode(op).as_slice()).map(drop),
                    None => t.remove(key.as_str()).map(drop),
                }
                .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(HOLDS).map_err(|e| self.err(e))?;
            for (id, hold) in &batch.holds {
                match hold {
                    Some(h) => t.insert(id.as_str(), encode(h).as_slice()).map(drop),
                    None => t.remove(id.as_str()).map(drop),
                }
                .map_err(|e| self.err(e))?;
            }
            let mut t = tx.open_table(OUTBOX).map_err(|e| self.err(e))?;
            for (seat, entry) in &batch.outbox {
                let key = (seat.flight.as_str(), seat.seat.as_str());
                match entry {
                    Some(e) => t.insert(key, encode(e).as_slice()).map(drop),
                    None => t.remove(key).map(drop),
                }
                .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }
}
