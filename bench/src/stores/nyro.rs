//! NyroDB through its embedded API (`nyro_core::Database`), opened with `batch.sync =
//! "never"`: a durable write asks for its batch's fdatasync with `WriteOptions { sync: true }`
//! (answered after it, as `sync = "always"` would); a non-durable one answers once its bytes
//! are written to the log.
//!
//! Reads: in [`Mode::SameBytes`] every read builds an owned `Document`, as the key-value
//! stores do in that mode. In [`Mode::Native`] they go through NyroDB's fastest read API,
//! [`Nyro::read_best`] and [`Nyro::scan_best`]: `Database::get_with` and `Database::scan_with`,
//! which hand the closure a borrowed `DocumentView` of the stored bytes (nothing allocated
//! per document).

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Result;
use nyro_core::{Config, Database, DbError, Document, SyncPolicy, WriteOptions};
use tokio::runtime::Runtime;

use crate::record::{Mode, Record, Seen, document, seen, seen_view};
use crate::store::Store;

const COLLECTION: &str = "bench";

/// A database and the runtime its async calls are driven on from plain threads.
pub struct Nyro {
    runtime: Runtime,
    db: Database,
    mode: Mode,
    sync: bool,
}

impl Nyro {
    /// A runtime for the database's async calls (2 workers) and the default config with
    /// its files in `dir` but `sync = "never"`.
    pub fn runtime_and_config(dir: &Path) -> Result<(Runtime, Config)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut config = Config::default();
        config.storage.path = dir.to_path_buf();
        config.batch.sync = SyncPolicy::Never;
        Ok((runtime, config))
    }

    /// Opens the database in `dir` with the default config but `sync = "never"`.
    pub fn open(dir: &Path, mode: Mode) -> Result<Self> {
        let (runtime, config) = Self::runtime_and_config(dir)?;
        let db = runtime.block_on(async {
            let db = Database::open(&config).await?;
            db.create_collection(COLLECTION, &[]).await?;
            anyhow::Ok(db)
        })?;
        Ok(Self {
            runtime,
            db,
            mode,
            sync: true,
        })
    }

    /// Reads document `id` the fastest way NyroDB offers.
    fn read_best(&self, id: u64) -> Result<Option<Seen>> {
        match self.db.get_with(COLLECTION, id, |view| seen_view(&view)) {
            Ok(seen) => seen.map(Some),
            Err(DbError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Scans the collection the fastest way NyroDB offers.
    fn scan_best(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        let mut count = 0;
        let mut failed = None;
        self.db
            .scan_with(COLLECTION, None, |view| match seen_view(&view) {
                Ok(seen) => {
                    visit(seen);
                    count += 1;
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }

    /// Reads document `id` as an owned `Document`.
    fn read_owned(&self, id: u64) -> Result<Option<Seen>> {
        match self.db.get(COLLECTION, id) {
            Ok(doc) => Ok(Some(seen(id, &doc)?)),
            Err(DbError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Scans the collection as owned `Document`s.
    fn scan_owned(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        let mut count = 0;
        for doc in self.db.documents(COLLECTION)? {
            let doc = doc?;
            visit(seen(doc.id.unwrap_or_default(), &doc)?);
            count += 1;
        }
        Ok(count)
    }
}

impl Store for Nyro {
    fn write_batch(&self, records: Vec<(u64, Record)>) -> Result<()> {
        let docs: Vec<Document> = records
            .into_iter()
            .map(|(id, record)| {
                let mut doc = document(record);
                doc.id = Some(id);
                doc
            })
            .collect();
        let options = WriteOptions { sync: true };
        self.runtime
            .block_on(self.db.replace_many(COLLECTION, docs, options))?;
        Ok(())
    }

    fn put(&self, id: u64, record: Record) -> Result<()> {
        let options = WriteOptions { sync: self.sync };
        self.runtime
            .block_on(self.db.replace(COLLECTION, id, document(record), options))?;
        Ok(())
    }

    fn get(&self, id: u64) -> Result<Option<Seen>> {
        match self.mode {
            Mode::Native => self.read_best(id),
            Mode::SameBytes => self.read_owned(id),
        }
    }

    fn scan(&self, visit: &mut dyn FnMut(Seen)) -> Result<u64> {
        match self.mode {
            Mode::Native => self.scan_best(visit),
            Mode::SameBytes => self.scan_owned(visit),
        }
    }

    fn set_sync(&mut self, sync: bool) -> Result<()> {
        self.sync = sync;
        Ok(())
    }

    fn compact(&mut self) -> Result<bool> {
        self.runtime.block_on(self.db.compact())?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        let Self { runtime, db, .. } = *self;
        runtime.block_on(db.close())?;
        Ok(())
    }
}
