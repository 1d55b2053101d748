//! LMDB through heed: one database of id → document bytes. Every write transaction commits
//! with LMDB's default flags, which fsync the data file before `commit` returns.

use std::path::Path;

use anyhow::Result;
use heed::byteorder::BigEndian;
use heed::types::{Bytes, U64};
use heed::{Env, EnvOpenOptions};
use nyro_core::Document;

use crate::store::{Store, decode};

type Table = heed::Database<U64<BigEndian>, Bytes>;

/// The map LMDB reserves (address space, not disk): room for any size this benchmark runs.
const MAP_SIZE: usize = 256 << 30;

/// An LMDB environment and its one database.
pub struct Lmdb {
    env: Env,
    table: Table,
}

impl Lmdb {
    /// Opens or creates the environment in `dir`.
    #[allow(unsafe_code)]
    pub fn open(dir: &Path) -> Result<Self> {
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
        Ok(Self { env, table })
    }
}

impl Store for Lmdb {
    fn write_batch(&self, docs: Vec<(u64, Document)>) -> Result<()> {
        let mut tx = self.env.write_txn()?;
        for (id, doc) in docs {
            self.table.put(&mut tx, &id, &doc.to_stored_bytes()?)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn put(&self, id: u64, doc: Document) -> Result<()> {
        let bytes = doc.to_stored_bytes()?;
        let mut tx = self.env.write_txn()?;
        self.table.put(&mut tx, &id, &bytes)?;
        tx.commit()?;
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Document>> {
        let tx = self.env.read_txn()?;
        let value = self.table.get(&tx, &id)?;
        value.map(|v| decode(id, v)).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(&Document)) -> Result<u64> {
        let tx = self.env.read_txn()?;
        let mut count = 0;
        for entry in self.table.iter(&tx)? {
            let (id, bytes) = entry?;
            visit(&decode(id, bytes)?);
            count += 1;
        }
        Ok(count)
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
