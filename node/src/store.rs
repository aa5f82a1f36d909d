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
use std::sync::Arc;
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

/// The peer's database, as a handle: redb, or (for harnesses) plain tables in memory
/// ([`Store::to_memory`]). Open it ([`Store::open`], [`Store::from_database`]) and give it to
/// [`crate::Node::open`]. Reading or writing its tables is the node's business; outside this
/// crate only the event log can be read ([`Store::events`]).
pub struct Store {
    backend: Backend,
    path: String,
    /// The file behind the database, when there is one: after an I/O error redb refuses every
    /// further transaction, so the store reopens the file to recover (disk space may have
    /// returned).
    file: Option<std::path::PathBuf>,
    /// Set after a failed commit until the file is reopened.
    broken: bool,
}

/// Where a store keeps its tables.
enum Backend {
    /// A redb database: a file, or a redb device such as [`crate::memdisk::MemDisk`].
    Redb(Database),
    /// Plain maps ([`Store::to_memory`]): no redb, so a harness that starts thousands of runs
    /// from one prepared state copies it in microseconds instead of opening a database.
    Memory(Tables),
}

/// A stored value. Shared, so that copying an in-memory store copies no bytes.
type Value = Arc<[u8]>;

/// The tables of a store, as raw rows: the keys redb would hold and the encoded values (the
/// same postcard bytes), so an in-memory store runs the same encoding and decoding as redb.
#[derive(Clone, Default)]
struct Tables {
    meta: BTreeMap<String, Value>,
    tokens: BTreeMap<(String, String), Value>,
    tickets: BTreeMap<String, Value>,
    events: BTreeMap<(String, u64), Value>,
    clock: BTreeMap<String, u64>,
    catalog: BTreeMap<String, Value>,
    operations: BTreeMap<String, Value>,
    holds: BTreeMap<String, Value>,
    outbox: BTreeMap<(String, String), Value>,
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
            backend: Backend::Redb(db),
            path,
            file: None,
            broken: false,
        };
        store.init()?;
        Ok(store)
    }

    /// A copy of everything this store holds, as plain tables in memory with no redb behind
    /// them, for harnesses that start many runs from one prepared state (the fuzz targets):
    /// a node opened over the copy, or [`crate::Node::fork`]ed onto it, behaves as over the
    /// original, and commits to the copy change nothing else. Copying a store made this way
    /// again shares its bytes, so it costs about one map entry per row; nothing is durable.
    ///
    /// Errors: the database cannot be read ([`StoreError::Redb`]).
    pub fn to_memory(&self) -> Result<Store, StoreError> {
        let tables = match &self.backend {
            Backend::Memory(t) => t.clone(),
            Backend::Redb(db) => self.read_rows(db, true)?,
        };
        Ok(Store {
            backend: Backend::Memory(tables),
            path: self.path.clone(),
            file: None,
            broken: false,
        })
    }

    /// The redb database, for test harnesses that roll it back between runs (savepoints);
    /// `None` for a store made by [`Store::to_memory`]. Its tables belong to the node:
    /// writing them from outside bypasses every check the node makes and every event it logs.
    pub fn database(&self) -> Option<&Database> {
        match &self.backend {
            Backend::Redb(db) => Some(db),
            Backend::Memory(_) => None,
        }
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

    /// Checks the format version, writing it into a new database, and creates the tables.
    fn init(&self) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Redb(db) => db,
            // Only made by `to_memory`, from a store that passed this check.
            Backend::Memory(_) => return Ok(()),
        };
        let tx = db.begin_write().map_err(|e| self.err(e))?;
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
                Some(bytes) => self.check_format(bytes)?,
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

    /// Refuses a stored format version other than this build's.
    fn check_format(&self, bytes: Vec<u8>) -> Result<(), StoreError> {
        let found = bytes.try_into().map(u64::from_le_bytes).unwrap_or(u64::MAX);
        if found != FORMAT_VERSION {
            return Err(StoreError::Format {
                path: self.path.clone(),
                found,
                expected: FORMAT_VERSION,
            });
        }
        Ok(())
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
        let read;
        let t = match &self.backend {
            Backend::Memory(t) => t,
            Backend::Redb(db) => {
                read = self.read_rows(db, false)?;
                &read
            }
        };
        let mut snap = Snapshot {
            airline: t
                .meta
                .get("airline")
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            ..Snapshot::default()
        };
        if let Some(v) = t.meta.get("roster") {
            snap.roster = self.decode("roster", v)?;
        }
        if let Some(v) = t.meta.get("key_records") {
            snap.key_records = self.decode("key records", v)?;
        }
        for ((flight, seat), v) in &t.tokens {
            snap.tokens.insert(
                SeatId::new(flight.as_str(), seat.as_str()),
                self.decode("token", v)?,
            );
        }
        for (id, v) in &t.tickets {
            snap.tickets
                .insert(TicketId::new(id.as_str()), self.decode("ticket", v)?);
        }
        for (origin, seq) in &t.clock {
            snap.clock.observe(&AirlineId::new(origin.as_str()), *seq);
        }
        for (airline, v) in &t.catalog {
            snap.catalog
                .insert(AirlineId::new(airline.as_str()), v.to_vec());
        }
        for (key, v) in &t.operations {
            snap.operations
                .insert(key.clone(), self.decode("purchase record", v)?);
        }
        for (id, v) in &t.holds {
            snap.holds.insert(id.clone(), self.decode("hold", v)?);
        }
        for ((flight, seat), v) in &t.outbox {
            snap.outbox.insert(
                SeatId::new(flight.as_str(), seat.as_str()),
                self.decode("outbox entry", v)?,
            );
        }
        Ok(snap)
    }

    /// Every row of `db` but the events, which only [`Store::events`] reads one range at a
    /// time: what [`Store::load`] decodes. With `events`, every row (for [`Store::to_memory`]).
    fn read_rows(&self, db: &Database, events: bool) -> Result<Tables, StoreError> {
        fn rows<K, V, T>(
            store: &Store,
            tx: &redb::ReadTransaction,
            def: TableDefinition<K, V>,
            mut put: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> T,
        ) -> Result<(), StoreError>
        where
            K: redb::Key + 'static,
            V: redb::Value + 'static,
        {
            let table = tx.open_table(def).map_err(|e| store.err(e))?;
            for row in table.iter().map_err(|e| store.err(e))? {
                let (k, v) = row.map_err(|e| store.err(e))?;
                put(k.value(), v.value());
            }
            Ok(())
        }
        let tx = db.begin_read().map_err(|e| self.err(e))?;
        let mut t = Tables::default();
        rows(self, &tx, META, |k, v| t.meta.insert(k.into(), v.into()))?;
        rows(self, &tx, TOKENS, |(f, s), v| {
            t.tokens.insert((f.into(), s.into()), v.into())
        })?;
        rows(self, &tx, TICKETS, |k, v| {
            t.tickets.insert(k.into(), v.into())
        })?;
        if events {
            rows(self, &tx, EVENTS, |(o, n), v| {
                t.events.insert((o.into(), n), v.into())
            })?;
        }
        rows(self, &tx, CLOCK, |k, v| t.clock.insert(k.into(), v))?;
        rows(self, &tx, CATALOG, |k, v| {
            t.catalog.insert(k.into(), v.into())
        })?;
        rows(self, &tx, OPERATIONS, |k, v| {
            t.operations.insert(k.into(), v.into())
        })?;
        rows(self, &tx, HOLDS, |k, v| t.holds.insert(k.into(), v.into()))?;
        rows(self, &tx, OUTBOX, |(f, s), v| {
            t.outbox.insert((f.into(), s.into()), v.into())
        })?;
        Ok(t)
    }

    /// Events of `origin` with sequence numbers in `from..=to`, at most `limit` of them.
    pub fn events(
        &self,
        origin: &AirlineId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let mut out = Vec::new();
        // An empty range (a map's `range` would panic on it), or nothing wanted.
        if from > to || limit == 0 {
            return Ok(out);
        }
        let db = match &self.backend {
            Backend::Redb(db) => db,
            Backend::Memory(t) => {
                let range = (origin.as_str().to_owned(), from)..=(origin.as_str().to_owned(), to);
                for v in t.events.range(range).map(|(_, v)| v).take(limit) {
                    out.push(self.decode("event", v)?);
                }
                return Ok(out);
            }
        };
        let tx = db.begin_read().map_err(|e| self.err(e))?;
        let table = tx.open_table(EVENTS).map_err(|e| self.err(e))?;
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

    /// The encoded rows of `origin`'s events numbered `from..=to`, as (number, bytes), on a
    /// store made by [`Store::to_memory`]; `None` on a redb store. For a harness that checks a
    /// copy's log against the log it was copied with: a row the copy never rewrote is the
    /// very allocation it was copied with (`Arc::ptr_eq`), so only the rows it wrote need
    /// decoding ([`Store::events`]).
    pub fn event_rows(
        &self,
        origin: &AirlineId,
        from: u64,
        to: u64,
    ) -> Option<Vec<(u64, Arc<[u8]>)>> {
        let Backend::Memory(t) = &self.backend else {
            return None;
        };
        if from > to {
            return Some(Vec::new());
        }
        let range = (origin.as_str().to_owned(), from)..=(origin.as_str().to_owned(), to);
        Some(
            t.events
                .range(range)
                .map(|((_, seq), v)| (*seq, v.clone()))
                .collect(),
        )
    }

    /// Commits `batch` as one durable write transaction. On error nothing of it is written,
    /// and the next call first reopens the file (see [`Store::recover`]).
    pub(crate) fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.recover()?;
        let db = match &mut self.backend {
            Backend::Redb(db) => db,
            Backend::Memory(t) => {
                t.write(&batch);
                return Ok(());
            }
        };
        let result = write(db, &batch).map_err(|e| self.err(e));
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
        drop(std::mem::replace(
            &mut self.backend,
            Backend::Redb(stand_in),
        ));
        let db = Database::create(&file).map_err(|e| self.err(e));
        self.backend = Backend::Redb(db?);
        self.broken = false;
        Ok(())
    }
}

impl Tables {
    /// What [`write`] does to redb, done to the maps: the same keys, the same encoded values.
    fn write(&mut self, batch: &Batch) {
        fn put<K: Ord>(table: &mut BTreeMap<K, Value>, key: K, value: Option<Vec<u8>>) {
            match value {
                Some(v) => table.insert(key, v.into()),
                None => table.remove(&key),
            };
        }
        let seat_key = |s: &SeatId| (s.flight.as_str().to_owned(), s.seat.as_str().to_owned());
        for (k, v) in &batch.meta {
            put(&mut self.meta, k.clone(), Some(v.clone()));
        }
        for (seat, token) in &batch.tokens {
            put(&mut self.tokens, seat_key(seat), Some(encode(token)));
        }
        for (id, ticket) in &batch.tickets {
            put(&mut self.tickets, id.as_str().into(), Some(encode(ticket)));
        }
        for ev in &batch.events {
            put(
                &mut self.events,
                (ev.origin.as_str().into(), ev.seq),
                Some(encode(ev)),
            );
        }
        for (origin, seq) in &batch.clock {
            self.clock.insert(origin.as_str().into(), *seq);
        }
        for (airline, bytes) in &batch.catalog {
            put(
                &mut self.catalog,
                airline.as_str().into(),
                Some(bytes.clone()),
            );
        }
        for (key, op) in &batch.operations {
            put(&mut self.operations, key.clone(), op.as_ref().map(encode));
        }
        for (id, hold) in &batch.holds {
            put(&mut self.holds, id.clone(), hold.as_ref().map(encode));
        }
        for (seat, entry) in &batch.outbox {
            put(&mut self.outbox, seat_key(seat), entry.as_ref().map(encode));
        }
    }
}

/// Writes `batch` to `db` in one durable transaction.
fn write(db: &Database, batch: &Batch) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    // Only the tables the batch writes are opened: most batches touch two or three of the
    // nine, and opening a table (a lookup in redb's table tree, then its root written back
    // at commit) was a sixth of a commit's cost. Every table exists from the store's
    // creation on, so a table left unopened here is simply left as it was.
    {
        if !batch.meta.is_empty() {
            let mut t = tx.open_table(META)?;
            for (k, v) in &batch.meta {
                t.insert(k.as_str(), v.as_slice())?;
            }
        }
        if !batch.tokens.is_empty() {
            let mut t = tx.open_table(TOKENS)?;
            for (seat, token) in &batch.tokens {
                t.insert(
                    (seat.flight.as_str(), seat.seat.as_str()),
                    encode(token).as_slice(),
                )?;
            }
        }
        if !batch.tickets.is_empty() {
            let mut t = tx.open_table(TICKETS)?;
            for (id, ticket) in &batch.tickets {
                t.insert(id.as_str(), encode(ticket).as_slice())?;
            }
        }
        if !batch.events.is_empty() {
            let mut t = tx.open_table(EVENTS)?;
            for ev in &batch.events {
                t.insert((ev.origin.as_str(), ev.seq), encode(ev).as_slice())?;
            }
        }
        if !batch.clock.is_empty() {
            let mut t = tx.open_table(CLOCK)?;
            for (origin, seq) in &batch.clock {
                t.insert(origin.as_str(), *seq)?;
            }
        }
        if !batch.catalog.is_empty() {
            let mut t = tx.open_table(CATALOG)?;
            for (airline, bytes) in &batch.catalog {
                t.insert(airline.as_str(), bytes.as_slice())?;
            }
        }
        if !batch.operations.is_empty() {
            let mut t = tx.open_table(OPERATIONS)?;
            for (key, op) in &batch.operations {
                match op {
                    Some(op) => drop(t.insert(key.as_str(), encode(op).as_slice())?),
                    None => drop(t.remove(key.as_str())?),
                }
            }
        }
        if !batch.holds.is_empty() {
            let mut t = tx.open_table(HOLDS)?;
            for (id, hold) in &batch.holds {
                match hold {
                    Some(h) => drop(t.insert(id.as_str(), encode(h).as_slice())?),
                    None => drop(t.remove(id.as_str())?),
                }
            }
        }
        if !batch.outbox.is_empty() {
            let mut t = tx.open_table(OUTBOX)?;
            for (seat, entry) in &batch.outbox {
                let key = (seat.flight.as_str(), seat.seat.as_str());
                match entry {
                    Some(e) => drop(t.insert(key, encode(e).as_slice())?),
                    None => drop(t.remove(key)?),
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}
