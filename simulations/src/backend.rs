//! The simulated peers' disks: [`passcom_node::memdisk::MemDisk`], a redb device in memory
//! that outlives the database opened over it, so a simulated crash can drop a peer's
//! `Database` and reopen the very same bytes (or a rolled-back copy of them).

/// One peer's disk, shared between its successive "incarnations" (the fuzz targets use the
/// same device).
pub use passcom_node::memdisk::MemDisk as SharedMemoryBackend;
