//! fjall: one keyspace of id → record bytes. A durable write is a write batch committed with
//! `PersistMode::SyncData` (its journal fdatasync'ed before `commit` returns); a
//! non-durable one is committed without a persist mode (the journal is written, not synced).

use std::path::Path;

use anyhow::Result;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::record::{Mode, Record, Seen};
use crate::store::{Store, id_of, key};

/// A fjall database and its one keyspace.
pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
    mode: Mode,
    sync: bool,
}

impl Fjall {
    /// Opens or creates the database in `dir` with fjall's defaults (LZ4 block compression
    /// included).
    pub fn open(dir: &Path, mode: Mode) -> Result<Self> {
        let db = Database::builder(dir).open()?;
        let keyspace = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(Self {
            db,
            keyspace,
            mode,
            sync: true,
        })
    }

    fn commit(&self, records: Vec<(u64, Record)>, sync: bool) -> Result<()> {
        let persist = sync.then_some(PersistMode::SyncData);
        let mut batch = self.db.batch().durability(persist);
        for (id, record) in records {
            batch.insert(&self.keyspace, key(id), self.mode.encode(id, record)?);
        }
        batch.commit()?;
        Ok(())
    }
}

impl Store for Fjall {
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()> {
        self.commit(records, true)
    }

    fn put(&self, id: u64, record: Record) -> Result<()> {
        self.commit(vec![(id, record)], self.sync)
    }

    fn get(&self, id: u64) -> Result<Option<Seen>> {
        let value = self.keyspace.get(key(id))?;
        value.map(|v| self.mode.read(id, &v)).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        let mut count = 0;
        for guard in self.keyspace.iter() {
            let (k, v) = guard.into_inner()?;
            visit(self.mode.read(id_of(&k)?, &v)?);
            count += 1;
        }
        Ok(count)
    }

    fn set_sync(&mut self, sync: bool) -> Result<()> {
        self.sync = sync;
        Ok(())
    }

    fn compact(&mut self) -> Result<bool> {
        self.keyspace.major_compact()?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}
