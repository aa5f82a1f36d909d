//! A redb device in memory whose bytes outlive the database opened over it and can be copied
//! out and back: the simulator crashes a peer (drops its `Database`) and reopens the very same
//! bytes, or rolls them back to an earlier copy (a restored backup); the fuzz targets build
//! the state they fuzz from once and start every input from a copy of it.
//!
//! redb's own `InMemoryBackend` can neither be reopened nor read back, hence this device.

use redb::StorageBackend;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The bytes of one database. Clones are handles to the same bytes, so a harness keeps one
/// while redb owns another; what a committed transaction wrote stays when the `Database` and
/// the `Node` over it are dropped, and everything held only in memory is gone.
#[derive(Clone, Default)]
pub struct MemDisk {
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Set by [`MemDisk::fail_writes`]: every write fails from then on.
    failing: Arc<AtomicBool>,
}

impl std::fmt::Debug for MemDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The length only: the bytes themselves would flood any log.
        f.debug_struct("MemDisk")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl MemDisk {
    /// An empty device: redb formats it on first open.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new device holding a copy of `bytes` (an earlier [`MemDisk::snapshot`]).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        MemDisk {
            bytes: Arc::new(Mutex::new(bytes.to_vec())),
            failing: Arc::default(),
        }
    }

    /// Opens a redb database over these bytes (creating it when empty).
    ///
    /// Errors: whatever redb reports when the bytes are not a database it can open.
    pub fn open_database(&self) -> Result<redb::Database, redb::DatabaseError> {
        redb::Database::builder().create_with_backend(self.clone())
    }

    /// A copy of the bytes as they are now: what a crash at this instant would leave. Taken
    /// between two batches of a peer it holds exactly what the peer committed; taken after
    /// the database was dropped, a cleanly closed database.
    pub fn snapshot(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Replaces the bytes by `bytes` (an earlier [`MemDisk::snapshot`]): a disk rolled back to
    /// an older copy. Only while no database is open over the device, as a restore from a
    /// backup happens while the peer is down.
    pub fn restore(&self, bytes: &[u8]) {
        let mut held = self.lock();
        held.clear();
        held.extend_from_slice(bytes);
    }

    /// Makes every further write fail. A database that then fails a commit closes without
    /// writing anything (redb skips its close-time commit after an I/O error): a harness that
    /// throws a database away this way saves that commit.
    pub fn fail_writes(&self) {
        self.failing.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // Nothing panics while holding the lock, and the bytes are always a valid prefix of
        // writes: reading through a poison is harmless.
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "offset beyond the in-memory device",
    )
}

impl StorageBackend for MemDisk {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start.checked_add(out.len()).ok_or_else(out_of_range)?;
        out.copy_from_slice(bytes.get(start..end).ok_or_else(out_of_range)?);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let len = usize::try_from(len).map_err(|_| out_of_range())?;
        self.lock().resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Writes land in the vector at once: nothing is buffered.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(io::Error::other("the device was told to fail writes"));
        }
        let mut bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start.checked_add(data.len()).ok_or_else(out_of_range)?;
        bytes
            .get_mut(start..end)
            .ok_or_else(out_of_range)?
            .copy_from_slice(data);
        Ok(())
    }
}
