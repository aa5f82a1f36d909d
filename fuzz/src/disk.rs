//! A redb device in memory whose bytes can be copied out and back, so that a fuzz target
//! builds the state it fuzzes from once and starts every input from a copy of it.
//!
//! redb's own `InMemoryBackend` cannot be read back; this one hands out its bytes
//! ([`MemDisk::bytes`]) once the database over it is closed, and [`MemDisk::from_bytes`] makes
//! a fresh device from such a copy. A copy of a cleanly closed database opens without repair.

use redb::StorageBackend;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The bytes of one database. Clones share the bytes (so the fixture keeps a handle while
/// redb owns another).
#[derive(Clone, Default)]
pub struct MemDisk {
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Set by [`MemDisk::fail_writes`]: every write fails from then on.
    failing: Arc<AtomicBool>,
}

impl std::fmt::Debug for MemDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemDisk")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl MemDisk {
    /// A device holding a copy of `bytes` (from [`MemDisk::bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        MemDisk {
            bytes: Arc::new(Mutex::new(bytes.to_vec())),
            failing: Arc::default(),
        }
    }

    /// A copy of the bytes as they are now. Taken after the database over the device was
    /// dropped, it holds a cleanly closed database.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Opens (or, on an empty device, creates) a redb database over this device.
    ///
    /// Errors: redb's, when the bytes are not a database it can open.
    pub fn open(&self) -> Result<redb::Database, redb::DatabaseError> {
        redb::Database::builder().create_with_backend(self.clone())
    }

    /// Makes every further write fail. A database that then fails a commit closes without
    /// writing anything (redb skips its close-time commit after an I/O error): a fuzz target
    /// throwing a database away this way saves that commit, which costs more than an input.
    pub fn fail_writes(&self) {
        self.failing.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // Nothing panics while holding the lock; reading through a poison is harmless here.
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
