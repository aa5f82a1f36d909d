//! A redb storage backend in memory that outlives the database opened over it, so a simulated
//! crash can drop a peer's `Database` and re-open the very same bytes.

use redb::StorageBackend;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// The bytes of one peer's database, shared between successive "incarnations" of the peer.
///
/// Cloning gives another handle to the same bytes. redb sees a plain file-like device: what a
/// committed transaction wrote stays, and everything the peer held only in memory is gone when
/// the `Database` and the `Node` over it are dropped.
#[derive(Clone, Default)]
pub struct SharedMemoryBackend {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for SharedMemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The length only: the bytes themselves would flood any log.
        f.debug_struct("SharedMemoryBackend")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl SharedMemoryBackend {
    /// An empty device: redb formats it on first open.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a redb database over these bytes (creating it when empty).
    ///
    /// Errors: whatever redb reports when the bytes are not a database it can open.
    pub fn open_database(&self) -> Result<redb::Database, redb::DatabaseError> {
        redb::Database::builder().create_with_backend(self.clone())
    }

    /// A copy of the bytes as they are now: what a crash at this instant would leave.
    ///
    /// Taken between two batches of the peer, it holds exactly what the peer committed, so
    /// that [`SharedMemoryBackend::restore`] later rolls the disk back to this instant.
    pub fn snapshot(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Replaces the bytes by `bytes` (an earlier [`SharedMemoryBackend::snapshot`]): a disk
    /// rolled back to an older copy. Only while no database is open over the device, as a
    /// restore from a backup happens while the peer is down.
    pub fn restore(&self, bytes: &[u8]) {
        let mut held = self.lock();
        held.clear();
        held.extend_from_slice(bytes);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves bytes that are still a valid prefix of writes;
        // the simulation reports the panic itself, so reading through the poison is right.
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "offset out of range of the in-memory database",
    )
}

impl StorageBackend for SharedMemoryBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let src = bytes
            .get(start..start + out.len())
            .ok_or_else(out_of_range)?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let len = usize::try_from(len).map_err(|_| out_of_range())?;
        self.lock().resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Every write already landed in the shared bytes: nothing is buffered.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let dst = bytes
            .get_mut(start..start + data.len())
            .ok_or_else(out_of_range)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}
