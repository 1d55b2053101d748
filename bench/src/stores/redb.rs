//! redb: one table of id → record bytes. A durable write transaction commits with redb's
//! default `Durability::Immediate` (fsync before `commit` returns); a non-durable one with
//! `Durability::None` (persisted by a later durable commit, or lost in a crash).

use std::path::Path;

use anyhow::Result;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::record::{Mode, Record, Seen};
use crate::store::Store;

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("bench");

/// A redb database file.
pub struct Redb {
    db: Database,
    mode: Mode,
    sync: bool,
}

impl Redb {
    /// Opens or creates `dir/bench.redb` with the default cache (1 GiB).
    pub fn open(dir: &Path, mode: Mode) -> Result<Self> {
        let db = Database::create(dir.join("bench.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(Self {
            db,
            mode,
            sync: true,
        })
    }

    fn commit(&self, records: Vec<(u64, Record)>, sync: bool) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        if !sync {
            tx.set_durability(Durability::None)?;
        }
        {
            let mut table = tx.open_table(TABLE)?;
            for (id, record) in records {
                table.insert(id, self.mode.encode(id, record)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for Redb {
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()> {
        self.commit(records, true)
    }

    fn put(&self, id: u64, record: Record) -> Result<()> {
        self.commit(vec![(id, record)], self.sync)
    }

    fn get(&self, id: u64) -> Result<Option<Seen>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let value = table.get(id)?;
        value.map(|v| self.mode.read(id, v.value())).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let mut count = 0;
        for entry in table.iter()? {
            let (id, bytes) = entry?;
            visit(self.mode.read(id.value(), bytes.value())?);
            count += 1;
        }
        Ok(count)
    }

    fn set_sync(&mut self, sync: bool) -> Result<()> {
        self.sync = sync;
        Ok(())
    }

    fn compact(&mut self) -> Result<bool> {
        // Compaction can stop early (a read transaction open, say); repeat while it works.
        while self.db.compact()? {}
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        // A last durable commit, so that non-durable commits before it are persisted too.
        self.db.begin_write()?.commit()?;
        Ok(())
    }
}
