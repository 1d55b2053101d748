//! fjall: one keyspace of id → document bytes. Every write is a write batch committed with
//! `PersistMode::SyncData` (its journal fdatasync'ed before `commit` returns).

use std::path::Path;

use anyhow::Result;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use nyro_core::Document;

use crate::store::{Store, decode, id_of, key};

/// A fjall database and its one keyspace.
pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
}

impl Fjall {
    /// Opens or creates the database in `dir` with fjall's defaults (LZ4 block compression
    /// included).
    pub fn open(dir: &Path) -> Result<Self> {
        let db = Database::builder(dir).open()?;
        let keyspace = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(Self { db, keyspace })
    }
}

impl Store for Fjall {
    fn write_batch(&self, docs: Vec<(u64, Document)>) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncData));
        for (id, doc) in docs {
            batch.insert(&self.keyspace, key(id), doc.to_stored_bytes()?);
        }
        batch.commit()?;
        Ok(())
    }

    fn put(&self, id: u64, doc: Document) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncData));
        batch.insert(&self.keyspace, key(id), doc.to_stored_bytes()?);
        batch.commit()?;
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Document>> {
        let value = self.keyspace.get(key(id))?;
        value.map(|v| decode(id, &v)).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(&Document)) -> Result<u64> {
        let mut count = 0;
        for guard in self.keyspace.iter() {
            let (k, v) = guard.into_inner()?;
            visit(&decode(id_of(&k)?, &v)?);
            count += 1;
        }
        Ok(count)
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
