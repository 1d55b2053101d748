//! LMDB through heed: one database of id → record bytes. A durable write transaction
//! commits with LMDB's default flags, which fsync the data file before `commit` returns; for
//! non-durable writes the environment's `MDB_NOSYNC` flag is set (commits reach the OS's
//! page cache only).

use std::path::Path;

use anyhow::Result;
use heed::byteorder::BigEndian;
use heed::types::{Bytes, U64};
use heed::{Env, EnvFlags, EnvOpenOptions, FlagSetMode};

use crate::record::{Mode, Record, Seen};
use crate::store::Store;

type Table = heed::Database<U64<BigEndian>, Bytes>;

/// The map LMDB reserves (address space, not disk): room for any size this benchmark runs.
const MAP_SIZE: usize = 256 << 30;

/// An LMDB environment and its one database.
pub struct Lmdb {
    env: Env,
    table: Table,
    mode: Mode,
}

impl Lmdb {
    /// Opens or creates the environment in `dir`.
    #[allow(unsafe_code)]
    pub fn open(dir: &Path, mode: Mode) -> Result<Self> {
        let mut options = EnvOpenOptions::new();
        options.map_size(MAP_SIZE).max_dbs(1);
        // SAFETY: heed marks `open` unsafe because LMDB forbids opening one environment
        // twice in a process and changing its files while they are mapped. This benchmark
        // opens each directory once per process (the previous `Lmdb` is closed first) and
        // nothing else touches its files.
        let env = unsafe { options.open(dir)? };
        let mut tx = env.write_txn()?;
        let table: Table = env.create_database(&mut tx, Some("bench"))?;
        tx.commit()?;
        Ok(Self { env, table, mode })
    }

    fn commit(&self, records: Vec<(u64, Record)>) -> Result<()> {
        let mut tx = self.env.write_txn()?;
        for (id, record) in records {
            self.table
                .put(&mut tx, &id, &self.mode.encode(id, record)?)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for Lmdb {
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()> {
        self.commit(records)
    }

    fn put(&self, id: u64, record: Record) -> Result<()> {
        self.commit(vec![(id, record)])
    }

    fn get(&self, id: u64) -> Result<Option<Seen>> {
        let tx = self.env.read_txn()?;
        let value = self.table.get(&tx, &id)?;
        value.map(|v| self.mode.read(id, v)).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        let tx = self.env.read_txn()?;
        let mut count = 0;
        for entry in self.table.iter(&tx)? {
            let (id, bytes) = entry?;
            visit(self.mode.read(id, bytes)?);
            count += 1;
        }
        Ok(count)
    }

    #[allow(unsafe_code)]
    fn set_sync(&mut self, sync: bool) -> Result<()> {
        let flag = if sync {
            FlagSetMode::Disable
        } else {
            FlagSetMode::Enable
        };
        // SAFETY: heed marks `set_flags` unsafe because `MDB_NOSYNC` lets a system crash
        // lose or damage the last commits: that is the non-durable write asked for, and the
        // run never relies on those commits surviving a crash. `&mut self` means no write
        // transaction of this environment is running while the flag changes.
        unsafe { self.env.set_flags(EnvFlags::NO_SYNC, flag)? };
        if sync {
            // Commits made without syncing become durable here, before durable ones follow.
            self.env.force_sync()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<bool> {
        // LMDB reuses freed pages for later writes but never shrinks its file in place
        // (`mdb_env_copy` with MDB_CP_COMPACT writes a compacted copy elsewhere).
        Ok(false)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.env.force_sync()?;
        self.env.prepare_for_closing().wait();
        Ok(())
    }
}
