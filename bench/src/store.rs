//! The one interface every store is driven through, so that each workload runs the same
//! code against each of them.

use std::path::Path;

use anyhow::Result;
use nyro_core::Document;

/// A store holding documents by `u64` id, every write durable when it returns.
///
/// Key-value stores keep each document as the bytes [`Document::to_stored_bytes`] gives
/// (the bytes NyroDB's log holds) under its id as 8 big-endian bytes, and decode them again
/// on every read, so all stores encode and decode the same documents the same way.
pub trait Store: Send + Sync {
    /// Writes `docs` (id, document) as one atomic, durable batch.
    fn write_batch(&self, docs: Vec<(u64, Document)>) -> Result<()>;

    /// Writes one document, creating or replacing it, durably. Called from many threads.
    fn put(&self, id: u64, doc: Document) -> Result<()>;

    /// The document with `id`, decoded.
    fn get(&self, id: u64) -> Result<Option<Document>>;

    /// Decodes every document in id order, passing each to `visit`; returns how many.
    fn scan(&self, visit: &mut dyn FnMut(&Document)) -> Result<u64>;

    /// Reclaims the space of overwritten data, if the store offers a way; `false` if not.
    fn compact(&mut self) -> Result<bool>;

    /// Flushes and closes the store.
    fn close(self: Box<Self>) -> Result<()>;
}

/// The stores this benchmark knows, in the order tables list them.
pub const STORES: [&str; 5] = ["nyrodb", "redb", "fjall", "sled", "lmdb"];

/// Opens (creating if needed) store `name` in `dir`.
pub fn open(name: &str, dir: &Path) -> Result<Box<dyn Store>> {
    use crate::stores;
    std::fs::create_dir_all(dir)?;
    Ok(match name {
        "nyrodb" => Box::new(stores::nyro::Nyro::open(dir)?),
        "redb" => Box::new(stores::redb::Redb::open(dir)?),
        "fjall" => Box::new(stores::fjall::Fjall::open(dir)?),
        "sled" => Box::new(stores::sled::Sled::open(dir)?),
        "lmdb" => Box::new(stores::lmdb::Lmdb::open(dir)?),
        other => anyhow::bail!(
            "unknown store {other:?}: choose one of {}",
            STORES.join(", ")
        ),
    })
}

/// The key under which key-value stores keep document `id`: big-endian, so that key order
/// is id order and a scan visits documents as NyroDB's does.
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

/// Decodes a document a key-value store returned.
pub fn decode(id: u64, bytes: &[u8]) -> Result<Document> {
    Ok(Document::from_stored_bytes(Some(id), bytes)?)
}
