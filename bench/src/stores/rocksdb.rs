//! RocksDB (Debian's librocksdb, linked through the `rocksdb` crate): one column family of
//! id → record bytes. A durable write is a `WriteBatch` written with `sync = true` (the WAL
//! fsynced before the write returns; concurrent writers share syncs in RocksDB's write
//! group); a non-durable one is written with `sync = false` (the WAL reaches the OS only).
//!
//! Set for point lookups, as a user of RocksDB would: a full-key bloom filter of 10 bits per
//! key, a hash index in each data block (RocksDB's data block hash index, which finds a key
//! in its block without the binary search and linear scan), a 1 GiB LRU block cache (the cache redb and sled get by default), the index and
//! filter blocks kept in memory outside the cache (RocksDB's default), and gets through
//! `get_pinned_opt`, which hands out the value in the block cache without copying it, with
//! one `ReadOptions` per thread (`get_pinned` would build and free one per call).
//! Otherwise RocksDB's defaults: level compaction, 64 MiB memtables, Snappy block
//! compression.

use std::path::Path;

use anyhow::Result;
use rocksdb::{
    BlockBasedOptions, Cache, DB, DataBlockIndexType, Options, ReadOptions, WriteBatch,
    WriteOptions,
};

use crate::record::{Mode, Record, Seen};
use crate::store::{Store, id_of, key};

/// The block cache's size.
const BLOCK_CACHE: usize = 1 << 30;

thread_local! {
    /// The options of this thread's gets (`ReadOptions` may not be shared between threads).
    static READ: ReadOptions = ReadOptions::default();
}

/// A RocksDB database.
pub struct Rocks {
    db: DB,
    mode: Mode,
    sync: bool,
}

impl Rocks {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, mode: Mode) -> Result<Self> {
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_data_block_index_type(DataBlockIndexType::BinaryAndHash);
        table.set_block_cache(&Cache::new_lru_cache(BLOCK_CACHE)?);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.increase_parallelism(2);
        options.set_block_based_table_factory(&table);
        Ok(Self {
            db: DB::open(&options, dir)?,
            mode,
            sync: true,
        })
    }

    fn write(&self, records: Vec<(u64, Record)>, sync: bool) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (id, record) in records {
            batch.put(key(id), self.mode.encode(id, record)?);
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }
}

impl Store for Rocks {
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()> {
        self.write(records, true)
    }

    fn put(&self, id: u64, record: Record) -> Result<()> {
        self.write(vec![(id, record)], self.sync)
    }

    fn get(&self, id: u64) -> Result<Option<Seen>> {
        READ.with(|options| {
            let value = self.db.get_pinned_opt(key(id), options)?;
            value.map(|v| self.mode.read(id, &v)).transpose()
        })
    }

    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        // The raw iterator lends each key and value in place; `iterator()` would copy both.
        let mut iter = self.db.raw_iterator();
        iter.seek_to_first();
        let mut count = 0;
        while let (Some(k), Some(v)) = (iter.key(), iter.value()) {
            visit(self.mode.read(id_of(k)?, v)?);
            count += 1;
            iter.next();
        }
        iter.status()?;
        Ok(count)
    }

    fn set_sync(&mut self, sync: bool) -> Result<()> {
        if sync && !self.sync {
            // Writes made without syncing become durable here, before durable ones follow.
            self.db.flush_wal(true)?;
        }
        self.sync = sync;
        Ok(())
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
