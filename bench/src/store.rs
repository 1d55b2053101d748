//! The one interface every store is driven through, so that each workload runs the same
//! code against each of them.

use std::path::Path;

use anyhow::Result;

use crate::record::{Mode, Record, Seen};

/// A store holding records by `u64` id.
///
/// Key-value stores keep each record as the bytes [`Mode::encode`] gives, under its id as 8
/// big-endian bytes (so that key order is id order), and read them with [`Mode::read`].
/// NyroDB keeps each record as a document in either mode.
pub trait Store: Send + Sync {
    /// Writes `records` (id, record) as one atomic batch, durable when it returns.
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()>;

    /// Writes one record, creating or replacing it; durable when it returns unless
    /// [`Store::set_sync`] turned that off. Called from many threads.
    fn put(&self, id: u64, record: Record) -> Result<()>;

    /// What the record with `id` holds, read as the mode reads it.
    fn get(&self, id: u64) -> Result<Option<Seen>>;

    /// Reads every record in id order, passing each to `visit`; returns how many.
    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64>;

    /// Whether [`Store::put`] waits for stable storage from now on (it does after `open`):
    /// `false` gives the store's own non-durable write (its writes reach the OS, or only its
    /// own buffers, and a crash may lose the last of them). Batches stay durable.
    fn set_sync(&mut self, sync: bool) -> Result<()>;

    /// Reclaims the space of overwritten data, if the store offers a way; `false` if not.
    fn compact(&mut self) -> Result<bool>;

    /// Flushes and closes the store.
    fn close(self: Box<Self>) -> Result<()>;
}

/// The stores this benchmark knows, in the order tables list them.
pub const STORES: [&str; 6] = ["nyrodb", "redb", "fjall", "sled", "lmdb", "rocksdb"];

/// Opens (creating if needed) store `name` in `dir`, keeping records as `mode` says.
pub fn open(name: &str, dir: &Path, mode: Mode) -> Result<Box<dyn Store>> {
    use crate::stores;
    std::fs::create_dir_all(dir)?;
    Ok(match name {
        "nyrodb" => Box::new(stores::nyro::Nyro::open(dir, mode)?),
        "redb" => Box::new(stores::redb::Redb::open(dir, mode)?),
        "fjall" => Box::new(stores::fjall::Fjall::open(dir, mode)?),
        "sled" => Box::new(stores::sled::Sled::open(dir, mode)?),
        "lmdb" => Box::new(stores::lmdb::Lmdb::open(dir, mode)?),
        "rocksdb" => Box::new(stores::rocksdb::Rocks::open(dir, mode)?),
        other => anyhow::bail!(
            "unknown store {other:?}: choose one of {}",
            STORES.join(", ")
        ),
    })
}

/// The key under which key-value stores keep record `id`: big-endian, so that key order
/// is id order and a scan visits records as NyroDB's does.
pub fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// The id a key-value store's key holds.
pub fn id_of(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key of {} bytes, not 8", key.len()))?;
    Ok(u64::from_be_bytes(bytes))
}
