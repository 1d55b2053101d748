//! NyroDB through its embedded API (`nyro_core::Database`), with `batch.sync = "always"`:
//! every write is acknowledged after its batch's fdatasync.

use std::path::Path;

use anyhow::Result;
use nyro_core::{Config, Database, Document, SyncPolicy, WriteOptions};
use tokio::runtime::Runtime;

use crate::store::Store;

const COLLECTION: &str = "bench";

/// A database and the runtime its async calls are driven on from plain threads.
pub struct Nyro {
    runtime: Runtime,
    db: Database,
}

impl Nyro {
    /// Opens the database in `dir` with the default config but `sync = "always"`.
    pub fn open(dir: &Path) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut config = Config::default();
        config.storage.path = dir.to_path_buf();
        config.batch.sync = SyncPolicy::Always;
        let db = runtime.block_on(async {
            let db = Database::open(&config).await?;
            db.create_collection(COLLECTION, &[]).await?;
            anyhow::Ok(db)
        })?;
        Ok(Self { runtime, db })
    }
}

impl Store for Nyro {
    fn write_batch(&self, docs: Vec<(u64, Document)>) -> Result<()> {
        let docs = docs
            .into_iter()
            .map(|(id, mut doc)| {
                doc.id = Some(id);
                doc
            })
            .collect();
        self.runtime.block_on(
            self.db
                .replace_many(COLLECTION, docs, WriteOptions::default()),
        )?;
        Ok(())
    }

    fn put(&self, id: u64, doc: Document) -> Result<()> {
        self.runtime.block_on(
            self.db
                .replace(COLLECTION, id, doc, WriteOptions::default()),
        )?;
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Document>> {
        match self.db.get(COLLECTION, id) {
            Ok(doc) => Ok(Some(doc)),
            Err(nyro_core::DbError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn scan(&self, visit: &mut dyn FnMut(&Document)) -> Result<u64> {
        let mut count = 0;
        for doc in self.db.documents(COLLECTION)? {
            visit(&doc?);
            count += 1;
        }
        Ok(count)
    }

    fn compact(&mut self) -> Result<bool> {
        self.runtime.block_on(self.db.compact())?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        let Self { runtime, db } = *self;
        runtime.block_on(db.close())?;
        Ok(())
    }
}
