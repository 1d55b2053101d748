//! sled 0.34 (its last stable release): one tree of id → record bytes. A durable write is
//! applied, then `flush()`ed (sled's way to make writes durable: it fsyncs its log); a
//! non-durable one is only applied (sled flushes its log in the background).

use std::path::Path;

use anyhow::Result;

use crate::record::{Mode, Record, Seen};
use crate::store::{Store, id_of, key};

/// A sled database.
pub struct Sled {
    db: sled::Db,
    mode: Mode,
    sync: bool,
}

impl Sled {
    /// Opens or creates the database in `dir` with sled's defaults (1 GiB cache).
    pub fn open(dir: &Path, mode: Mode) -> Result<Self> {
        Ok(Self {
            db: sled::open(dir)?,
            mode,
            sync: true,
        })
    }
}

impl Store for Sled {
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (id, record) in records {
            batch.insert(&key(id), self.mode.encode(id, record)?);
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    fn put(&self, id: u64, record: Record) -> Result<()> {
        self.db.insert(key(id), self.mode.encode(id, record)?)?;
        if self.sync {
            self.db.flush()?;
        }
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Seen>> {
        let value = self.db.get(key(id))?;
        value.map(|v| self.mode.read(id, &v)).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        let mut count = 0;
        for entry in self.db.iter() {
            let (k, v) = entry?;
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
        Ok(false)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
