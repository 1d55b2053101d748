//! redb: one table of id → document bytes. Every write transaction commits with redb's
//! default `Durability::Immediate` (fsync before `commit` returns).

use std::path::Path;

use anyhow::Result;
use nyro_core::Document;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::store::{Store, decode};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("bench");

/// A redb database file.
pub struct Redb {
    db: Database,
}

impl Redb {
    /// Opens or creates `dir/bench.redb` with the default cache (1 GiB).
    pub fn open(dir: &Path) -> Result<Self> {
        let db = Database::create(dir.join("bench.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(Self { db })
    }
}

impl Store for Redb {
    fn write_batch(&self, docs: Vec<(u64, Document)>) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(TABLE)?;
            for (id, doc) in docs {
                table.insert(id, doc.to_stored_bytes()?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn put(&self, id: u64, doc: Document) -> Result<()> {
        let bytes = doc.to_stored_bytes()?;
        let tx = self.db.begin_write()?;
        tx.open_table(TABLE)?.insert(id, bytes.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Document>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let value = table.get(id)?;
        value.map(|v| decode(id, v.value())).transpose()
    }

    fn scan(&self, visit: &mut dyn FnMut(&Document)) -> Result<u64> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let mut count = 0;
        for entry in table.iter()? {
            let (id, bytes) = entry?;
            visit(&decode(id.value(), bytes.value())?);
            count += 1;
        }
        Ok(count)
    }

    fn compact(&mut self) -> Result<bool> {
        // Compaction can stop early (a read transaction open, say); repeat while it works.
        while self.db.compact()? {}
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
