//! sled 0.34 (its last stable release): one tree of id → document bytes. Every write is
//! applied, then `flush()`ed (sled's way to make writes durable: it fsyncs its log).

use std::path::Path;

use anyhow::Result;
use nyro_core::Document;

use crate::store::{Store, decode, id_of, key};

/// A sled database.
pub struct Sled {
    db: sled::Db,
}

impl Sled {
    /// Opens or creates the database in `dir` with sled's defaults (1 GiB cache).
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self {
            db: sled::open(dir)?,
        })
    }
}

impl Store for Sled {
    fn write_batch(&self, docs: Vec<(u64, Document)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (id, doc) in docs {
            batch.insert(&key(id), doc.to_stored_bytes()?);
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    fn put(&self, id: u64, doc: Document) -> Result<()> {
        self.db.insert(key(id), doc.to_stored_bytes()?)?;
        self.db.flush()?;
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Document>> {
        let value = self.db.get(key(id))?;
        value.map(|v| decode(id, &v)).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(&Document)) -> Result<u64> {
        let mut count = 0;
        for entry in self.db.iter() {
            let (k, v) = entry?;
            visit(&decode(id_of(&k)?, &v)?);
            count += 1;
        }
        Ok(count)
    }

    fn compact(&mut self) -> Result<bool> {
        Ok(false)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
