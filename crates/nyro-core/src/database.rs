//! [`Database`]: the supervisor and the thin API that the server, the CLI and embedding
//! programs use.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nyro_batch::{BatchConfig, BatchWriter, WriteError, WriterHandle, WriterMetrics};
use nyro_storage::{
    Log, LogIo, LogOptions, LogReader, NO_SUCH_SEGMENT, OsIo, RecoveryReport, SegmentInfo,
    StorageError,
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::apply::{CoreApplier, WriteOp, WriteOutcome, WriteRequest};
use crate::backup::{self, BackupManifest};
use crate::catalog::{Collection, normalize_indexes, validate_name};
use crate::compaction::{self, CompactSummary};
use crate::config::{Config, SyncPolicy};
use crate::document::{Document, Value, decode_fields};
use crate::error::{DbError, Result};
use crate::feed::ChangeStream;
use crate::indexing;
use crate::replay::replay;
use crate::scan::Documents;
use crate::scrub::{Scrub, ScrubProgress};
use crate::state::State;

/// Most records one page of `list` or `find` returns.
pub const MAX_PAGE: usize = 10_000;
/// Events a change-feed consumer may fall behind before it is cut off (and may resume).
pub const FEED_CAPACITY: usize = 65_536;

/// Per-write options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Answer only after the write's batch was fdatasync'ed, whatever `batch.sync` says.
    pub sync: bool,
}

/// Options beyond the config file, for embedding programs and tests.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The I/O seam for log writes (a `nyro_storage::FaultInjector` in fault tests).
    pub io: Arc<dyn LogIo>,
    /// How often the background maintenance (compaction when `compaction.auto`, hint files)
    /// wakes up; [`compaction::AUTO_INTERVAL`] by default.
    pub maintenance_interval: Duration,
    /// Bytes per second the background scrub reads the segments opened from their hints
    /// ([`crate::DEFAULT_SCRUB_RATE`] by default); `None` turns the scrub off.
    pub scrub_rate: Option<u64>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            io: Arc::new(OsIo),
            maintenance_interval: compaction::AUTO_INTERVAL,
            scrub_rate: Some(crate::DEFAULT_SCRUB_RATE),
        }
    }
}

/// An insert's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The document's id.
    pub id: u64,
    /// The write's sequence number.
    pub seq: u64,
}

/// A bulk insert's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertedMany {
    /// The ids, in the order of the documents.
    pub ids: Vec<u64>,
    /// The last document's sequence number (each document has its own, consecutive).
    pub seq: u64,
}

/// A replace's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    /// The document's id.
    pub id: u64,
    /// The write's sequence number.
    pub seq: u64,
    /// True if no document had that id before.
    pub created: bool,
}

/// Whether `create_collection` created the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// It is new.
    Created,
    /// It existed with the same indexes; nothing changed.
    Existed,
}

/// A collection, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Its name.
    pub name: String,
    /// Documents in it.
    pub count: u64,
    /// Its indexed fields, sorted.
    pub indexes: Vec<String>,
}

/// One page of documents in ascending id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The documents, each with its id.
    pub records: Vec<Document>,
    /// The `after` for the next page; `None` when no document follows.
    pub next: Option<u64>,
}

/// An index's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStats {
    /// The indexed field.
    pub field: String,
    /// Distinct values indexed.
    pub distinct_values: u64,
}

/// A collection's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionStats {
    /// Its name.
    pub name: String,
    /// Documents in it.
    pub count: u64,
    /// Its secondary indexes.
    pub indexes: Vec<IndexStats>,
}

/// What `stats` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Per collection.
    pub collections: Vec<CollectionStats>,
    /// Segment files.
    pub segments: usize,
    /// Bytes in segment files.
    pub disk_bytes: u64,
    /// Bytes of frames holding live data.
    pub live_bytes: u64,
    /// Bytes of frames no longer live (replaced, deleted, dropped).
    pub dead_bytes: u64,
    /// Highest committed sequence number.
    pub last_seq: u64,
    /// Batches written since open.
    pub batches: u64,
    /// Records written since open.
    pub records_written: u64,
    /// fdatasyncs since open.
    pub fsyncs: u64,
    /// Operations in flight.
    pub in_flight_ops: usize,
    /// Time since open.
    pub uptime: Duration,
    /// Why writes are refused, if they are.
    pub poisoned: Option<String>,
}

struct Inner {
    reader: LogReader,
    writer: WriterHandle<CoreApplier>,
    ops: Semaphore,
    max_ops: usize,
    opened: Instant,
    recovery: RecoveryReport,
    /// One compaction at a time (on demand or in the background).
    compaction: tokio::sync::Mutex<()>,
    /// The background maintenance (compaction if `compaction.auto`, hint files). `close`
    /// stops it and waits for it; dropping the database stops it at its next wake-up.
    maintenance: std::sync::Mutex<Option<compaction::Background>>,
    /// The background scrub of the segments opened from hints; stopped by `close` or drop.
    scrub: std::sync::Mutex<Scrub>,
    /// Last, so that it is dropped after `writer` (fields drop in declaration order).
    state: StateGuard,
}

/// The highest sequence number in the sealed segments `sealed`: that of the last record of
/// the last segment in log order that holds one.
fn last_sealed_seq(reader: &LogReader, sealed: &[SegmentInfo]) -> Result<u64> {
    let mut by_position: Vec<&SegmentInfo> = sealed.iter().collect();
    by_position.sort_by_key(|s| (s.position, s.id));
    for segment in by_position.iter().rev() {
        let mut highest = 0;
        for frame in reader.iter_segment(segment.id) {
            highest = highest.max(frame?.header().seq);
        }
        if highest > 0 {
            return Ok(highest);
        }
    }
    Ok(0)
}

/// Longest `close` or the drop of the last clone waits for the writer thread to let go of
/// the data directory.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// The shared state, which the writer thread's applier holds too. The writer thread answers
/// `close` (and stops after the last handle is dropped) *before* it drops its applier, and
/// with it the applier's hold on the log reader, which holds the directory lock. Waiting
/// here until that hold is gone makes the directory free to reopen as soon as `close`
/// returns or the last clone is dropped, as documented on [`Database`].
struct StateGuard(Arc<State>);

impl StateGuard {
    /// True once the writer thread dropped its applier (and, before it, the log).
    fn released(&self) -> bool {
        Arc::strong_count(&self.0) == 1
    }
}

impl std::ops::Deref for StateGuard {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        // `writer` was dropped just before: the writer thread writes what is queued,
        // fdatasyncs and stops. This blocks for that long at most (it needs nothing from us).
        let started = Instant::now();
        while !self.released() {
            if started.elapsed() > RELEASE_WAIT {
                tracing::warn!("the writer thread has not stopped; dropping the database anyway");
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl compaction::CompactionTarget for Inner {
    fn pass(
        &self,
        runtime: &tokio::runtime::Runtime,
        min_dead_ratio: Option<f64>,
    ) -> Result<(CompactSummary, usize)> {
        runtime.block_on(async {
            let _one_at_a_time = self.compaction.lock().await;
            let summary = match min_dead_ratio {
                Some(ratio) => compaction::run(&self.state.0, &self.writer, ratio).await?,
                None => CompactSummary::default(),
            };
            Ok((summary, self.write_missing_hints()?))
        })
    }
}

impl Inner {
    /// Writes a hint file for every sealed segment that has none; returns how many.
    fn write_missing_hints(&self) -> Result<usize> {
        let mut written = 0;
        for segment in self.reader.segments() {
            if segment.active || self.reader.has_hint_file(segment.id) {
                continue;
            }
            let catalog = self.state.catalog.load();
            self.reader.write_hint(segment.id, |header, payload, out| {
                crate::replay::hint_body(&catalog, header, payload, out)
            })?;
            written += 1;
        }
        Ok(written)
    }
}

/// An open database. Cheap to clone; every clone is the same database. The data directory
/// stays locked until [`Database::close`] (or the last clone is dropped).
///
/// Dropping without `close` loses nothing that was acknowledged under `sync = "always"` (it
/// was fdatasync'ed before the answer); the writer still writes and syncs what was queued,
/// and dropping the last clone blocks until it has (so the directory can be reopened at once).
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dir", &self.inner.reader.dir())
            .finish()
    }
}

pub(crate) fn write_error(error: WriteError<DbError>) -> DbError {
    match error {
        WriteError::Rejected(e) => e,
        WriteError::Failed(e) => DbError::WriteFailed(e),
        WriteError::Poisoned { reason } => DbError::Unavailable { reason },
        WriteError::QueueFull { capacity } => DbError::Overloaded { limit: capacity },
        WriteError::Closed => DbError::Closed,
    }
}

fn check_limit(limit: usize) -> Result<()> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(DbError::invalid(format!(
            "limit must be from 1 to {MAX_PAGE}, got {limit}"
        )))
    }
}

impl Database {
    /// Opens the database `config` describes: recovers the log, rebuilds every index,
    /// starts the writer, and creates the configured collections that are missing.
    pub async fn open(config: &Config) -> Result<Self> {
        Self::open_with(config, OpenOptions::default()).await
    }

    /// [`Database::open`] with options beyond the config file.
    pub async fn open_with(config: &Config, options: OpenOptions) -> Result<Self> {
        // A config loaded from a file was checked already; one built in code may not be.
        config.validate("the configuration given to Database::open")?;
        let (maintenance_interval, scrub_rate) = (options.maintenance_interval, options.scrub_rate);
        let log = Log::open(
            &config.storage.path,
            LogOptions {
                segment_size: config.segment_size_bytes(),
                io: options.io,
            },
        )?;
        let recovery = log.recovery().clone();
        if let Some(torn) = &recovery.torn_tail {
            tracing::warn!(path = %torn.path.display(), dropped_bytes = torn.dropped_bytes,
                "recovered from a crash: dropped a torn tail");
        }
        let reader = log.reader().clone();
        let replayed = replay(&reader)?;
        let state = Arc::new(State::new(
            reader.clone(),
            replayed.catalog,
            replayed.last_seq,
            FEED_CAPACITY,
        ));
        let sync = match config.batch.sync {
            SyncPolicy::Always => nyro_batch::SyncPolicy::Always,
            SyncPolicy::Interval => nyro_batch::SyncPolicy::Interval(config.sync_interval()),
            SyncPolicy::Never => nyro_batch::SyncPolicy::Never,
        };
        let max_ops = config.server.max_concurrent_ops;
        let writer = BatchWriter::spawn(
            log,
            CoreApplier::new(Arc::clone(&state), replayed.counters),
            BatchConfig {
                batch_size: config.batch.batch_size,
                sync,
                batch_timeout: config.batch_timeout(),
                // Guarded by the semaphore too; the queue can never hold more than this.
                queue_capacity: max_ops,
            },
        )
        .map_err(|source| {
            DbError::Storage(nyro_storage::StorageError::Io {
                op: "start the writer thread for",
                path: config.storage.path.clone(),
                source,
            })
        })?;
        tracing::info!(path = %config.storage.path.display(), frames = replayed.frames,
            segments = recovery.segments, last_seq = replayed.last_seq, "database open");
        let reader_for_scrub = reader.clone();
        let auto_ratio = config
            .compaction
            .auto
            .then_some(config.compaction.min_dead_ratio);
        let db = Self {
            inner: Arc::new_cyclic(|weak| Inner {
                reader,
                writer,
                ops: Semaphore::new(max_ops),
                max_ops,
                opened: Instant::now(),
                compaction: tokio::sync::Mutex::new(()),
                maintenance: std::sync::Mutex::new(
                    compaction::spawn_background(weak.clone(), auto_ratio, maintenance_interval)
                        .inspect_err(
                            |e| tracing::warn!(error = %e, "cannot start background maintenance"),
                        )
                        .ok(),
                ),
                recovery,
                scrub: std::sync::Mutex::new(Scrub::spawn(
                    reader_for_scrub,
                    Arc::clone(&state.damage),
                    replayed.hinted,
                    scrub_rate,
                )),
                state: StateGuard(state),
            }),
        };
        for collection in &config.collections {
            db.create_collection(&collection.name, &collection.indexes)
                .await?;
        }
        Ok(db)
    }

    /// Writes hint files for every sealed segment that has none, now (the background
    /// maintenance does it every few seconds). Returns how many it wrote. Hints let the next
    /// open rebuild the indexes without reading the sealed segments' payloads.
    pub async fn write_hints(&self) -> Result<usize> {
        let _one_at_a_time = self.inner.compaction.lock().await;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.write_missing_hints())
            .await
            .map_err(|e| DbError::Internal {
                message: format!("writing hints failed: {e}"),
            })?
    }

    /// What opening found in the log (frames, a torn tail cut off, ...).
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Writes everything queued, fdatasyncs and stops the writer. Later writes fail with
    /// [`DbError::Closed`]. The directory lock is released when the last clone is dropped.
    pub async fn close(self) -> Result<()> {
        // First the background maintenance: stop it and wait for a pass it may be running,
        // so that it holds nothing of the database (its directory lock) once we return.
        let maintenance = self
            .inner
            .maintenance
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        if let Some(maintenance) = maintenance {
            let joined = tokio::task::spawn_blocking(move || maintenance.stop_and_join()).await;
            if let Err(e) = joined {
                tracing::warn!(error = %e, "the maintenance thread did not stop cleanly");
            }
        }
        // Then the scrub (it stops within a chunk): it holds the log, and the directory lock.
        if let Ok(mut scrub) = self.inner.scrub.lock() {
            scrub.stop();
        }
        let result = self.inner.writer.close().await.map_err(write_error);
        // The writer answered; wait until its thread has let go of the directory too.
        let started = Instant::now();
        // That takes microseconds (it only drops the log and the applier): yield meanwhile
        // (no timer: the runtime may have none), and only block if it takes unusually long.
        while !self.inner.state.released() && started.elapsed() < RELEASE_WAIT {
            if started.elapsed() < Duration::from_millis(10) {
                tokio::task::yield_now().await;
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        result
    }

    /// Rewrites every sealed segment that holds dead records (replaced, deleted or dropped
    /// documents), after sealing the active segment if it holds some too. Reads and writes
    /// go on meanwhile; the writer is held only for the switch of the index.
    pub async fn compact(&self) -> Result<CompactSummary> {
        let _one_at_a_time = self.inner.compaction.lock().await;
        let active_dead = self
            .inner
            .reader
            .segments()
            .iter()
            .any(|s| s.active && s.dead_bytes > 0);
        if active_dead {
            self.inner.writer.seal().await.map_err(write_error)?;
        }
        compaction::run(&self.inner.state.0, &self.inner.writer, 0.0).await
    }

    /// Writes a consistent backup into `dir` (created; refused if it exists and is not
    /// empty) while reads and writes go on: every write acknowledged before this call is in
    /// it, and no half-written one. Seals the active segment (so that everything written so
    /// far lies in sealed, immutable segments), hard-links (or, across filesystems, copies)
    /// every sealed segment into `dir`, and writes `MANIFEST.json` with each file's size and
    /// CRC-32C. Compaction and hint writing wait meanwhile. Restore it with
    /// [`crate::restore`].
    pub async fn backup(&self, dir: &Path) -> Result<BackupManifest> {
        let _no_compaction = self.inner.compaction.lock().await;
        // Answered after every write queued before it: all of them are in sealed segments.
        self.inner.writer.seal().await.map_err(write_error)?;
        let mut sealed = self.sealed_segments().await?;
        sealed.sort_by_key(|s| s.id);
        let inner = Arc::clone(&self.inner);
        let dir = dir.to_path_buf();
        let started = Instant::now();
        let manifest = tokio::task::spawn_blocking(move || {
            // A backup never carries damage silently: it refuses, as a read would.
            let ids: Vec<u32> = sealed.iter().map(|s| s.id).collect();
            crate::scrub::check_now(&inner.reader, &inner.state.damage, &ids)?;
            let last_seq = last_sealed_seq(&inner.reader, &sealed)?;
            backup::write_backup(&dir, &sealed, last_seq)
        })
        .await
        .map_err(|e| DbError::Internal {
            message: format!("the backup task failed: {e}"),
        })??;
        tracing::info!(
            files = manifest.files.len(),
            bytes = manifest.bytes(),
            last_seq = manifest.last_seq,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "backup written"
        );
        Ok(manifest)
    }

    /// The segments before the active one in log order: sealed, complete and immutable
    /// (compaction must be held off by the caller). The log publishes its table and its
    /// active segment together, so one look suffices.
    async fn sealed_segments(&self) -> Result<Vec<SegmentInfo>> {
        Ok(self.inner.reader.sealed_segments())
    }

    /// Waits until every acknowledged write is fdatasync'ed.
    pub async fn flush(&self) -> Result<()> {
        self.inner.writer.flush().await.map_err(write_error)
    }

    fn permit(&self) -> Result<SemaphorePermit<'_>> {
        self.inner
            .ops
            .try_acquire()
            .map_err(|_| DbError::Overloaded {
                limit: self.inner.max_ops,
            })
    }

    async fn write(&self, op: WriteOp, options: WriteOptions) -> Result<WriteOutcome> {
        let _permit = self.permit()?;
        self.inner
            .writer
            .submit(WriteRequest::new(op), options.sync)
            .await
            .map_err(write_error)
    }

    /// Creates a collection with indexes on the given top-level fields. Creating one that
    /// exists with the same indexes changes nothing; with other indexes it is a conflict.
    pub async fn create_collection(&self, name: &str, indexes: &[String]) -> Result<Created> {
        validate_name(name)?;
        let indexes = normalize_indexes(name, indexes)?;
        let op = WriteOp::CreateCollection {
            name: name.to_string(),
            indexes,
        };
        match self.write(op, WriteOptions::default()).await? {
            WriteOutcome::CollectionCreated { created: true } => Ok(Created::Created),
            _ => Ok(Created::Existed),
        }
    }

    /// Drops a collection and every document in it.
    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let op = WriteOp::DropCollection {
            name: name.to_string(),
        };
        self.write(op, WriteOptions::default()).await.map(drop)
    }

    /// Every collection, sorted by name.
    pub fn collections(&self) -> Vec<CollectionInfo> {
        self.inner
            .state
            .catalog
            .load()
            .sorted()
            .iter()
            .map(|c| CollectionInfo {
                name: c.name.to_string(),
                count: c.index.len() as u64,
                indexes: c.indexes.clone(),
            })
            .collect()
    }

    /// Inserts a document, with the id it carries or the next one of the collection.
    /// Creates the collection if it is missing.
    pub async fn insert(
        &self,
        collection: &str,
        doc: Document,
        options: WriteOptions,
    ) -> Result<Inserted> {
        let InsertedMany { ids, seq } = self.insert_many(collection, vec![doc], options).await?;
        Ok(Inserted { id: ids[0], seq })
    }

    /// Inserts documents all or nothing: if one is refused, none is written. Each gets its
    /// own sequence number and change event.
    pub async fn insert_many(
        &self,
        collection: &str,
        docs: Vec<Document>,
        options: WriteOptions,
    ) -> Result<InsertedMany> {
        validate_name(collection)?;
        if docs.is_empty() {
            return Err(DbError::invalid(
                "nothing to insert: the list of documents is empty",
            ));
        }
        for (index, doc) in docs.iter().enumerate() {
            doc.validate()
                .map_err(|e| DbError::invalid(format!("element {index}: {e}")))?;
        }
        let op = WriteOp::Insert {
            collection: collection.to_string(),
            docs,
        };
        match self.write(op, options).await? {
            WriteOutcome::Inserted { ids, last_seq } => Ok(InsertedMany { ids, seq: last_seq }),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the document with `id`, or creates it. Creates the collection if missing.
    pub async fn replace(
        &self,
        collection: &str,
        id: u64,
        mut doc: Document,
        options: WriteOptions,
    ) -> Result<Replaced> {
        if doc.id.is_some_and(|given| given != id) {
            return Err(DbError::invalid(format!(
                "the document's _id {} differs from the id {id} it is written to",
                doc.id.unwrap_or_default()
            )));
        }
        doc.id = Some(id);
        let mut replaced = self.replace_many(collection, vec![doc], options).await?;
        replaced.pop().ok_or_else(|| DbError::Internal {
            message: "a replace of one document answered for none".to_string(),
        })
    }

    /// Replaces or creates every document, each at the id it carries, all or nothing: if
    /// one is refused, none is written. They are written in order, so a later document
    /// with the same id replaces an earlier one; each gets its own sequence number and
    /// change event. Creates the collection if missing. Answers one [`Replaced`] per
    /// document, in order.
    pub async fn replace_many(
        &self,
        collection: &str,
        docs: Vec<Document>,
        options: WriteOptions,
    ) -> Result<Vec<Replaced>> {
        validate_name(collection)?;
        if docs.is_empty() {
            return Err(DbError::invalid(
                "nothing to replace: the list of documents is empty",
            ));
        }
        let several = docs.len() > 1;
        for (index, doc) in docs.iter().enumerate() {
            let element = |e: DbError| {
                if several {
                    DbError::invalid(format!("element {index}: {e}"))
                } else {
                    e
                }
            };
            doc.validate().map_err(element)?;
            if doc.id.is_none() {
                return Err(element(DbError::invalid(
                    "a replaced document needs its _id",
                )));
            }
        }
        let op = WriteOp::Replace {
            collection: collection.to_string(),
            docs,
        };
        match self.write(op, options).await? {
            WriteOutcome::Replaced(replaced) => Ok(replaced
                .into_iter()
                .map(|(id, seq, created)| Replaced { id, seq, created })
                .collect()),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a document (a tombstone in the log). Returns its sequence number.
    pub async fn delete(&self, collection: &str, id: u64, options: WriteOptions) -> Result<u64> {
        validate_name(collection)?;
        let op = WriteOp::Delete {
            collection: collection.to_string(),
            id,
        };
        match self.write(op, options).await? {
            WriteOutcome::Deleted { seq } => Ok(seq),
            other => Err(unexpected(other)),
        }
    }

    /// The document with `id`.
    pub fn get(&self, collection: &str, id: u64) -> Result<Document> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        // Borrow the collection from the catalog guard: no shared reference count to bump.
        let catalog = self.inner.state.catalog.load();
        let c = catalog
            .by_name(collection)
            .ok_or_else(|| DbError::CollectionNotFound {
                collection: collection.to_string(),
            })?;
        let location = c.index.primary().get(id).ok_or_else(|| DbError::NotFound {
            collection: collection.to_string(),
            id,
        })?;
        self.read(c, id, location)?
            .ok_or_else(|| DbError::NotFound {
                collection: collection.to_string(),
                id,
            })
    }

    /// Reads document `id` of `collection` at `location`. `None` if it was deleted
    /// meanwhile. A location whose segment compaction just retired is looked up again: the
    /// index points at the copy by then.
    pub(crate) fn read(
        &self,
        collection: &Collection,
        id: u64,
        mut location: nyro_storage::Location,
    ) -> Result<Option<Document>> {
        let mut tries = 0;
        loop {
            match self
                .inner
                .reader
                .read_with(location, |_, payload| decode_fields(payload))
            {
                Ok(fields) => {
                    return Ok(Some(Document {
                        id: Some(id),
                        fields: fields?,
                    }));
                }
                Err(StorageError::BadLocation { reason, .. })
                    if reason == NO_SUCH_SEGMENT && tries < 3 =>
                {
                    tries += 1;
                    match collection.index.primary().get(id) {
                        Some(moved) => location = moved,
                        None => return Ok(None),
                    }
                }
                Err(e) => {
                    let damage = &self.inner.state.damage;
                    return Err(damage.read_error(&self.inner.reader, e, &collection.name, id));
                }
            }
        }
    }

    fn page(
        &self,
        collection: &Collection,
        hits: Vec<(u64, nyro_storage::Location)>,
        limit: usize,
    ) -> Result<Page> {
        let more = hits.len() > limit;
        let records = hits
            .into_iter()
            .take(limit)
            .filter_map(|(id, location)| self.read(collection, id, location).transpose())
            .collect::<Result<Vec<_>>>()?;
        let next = if more {
            records.last().and_then(|d| d.id)
        } else {
            None
        };
        Ok(Page { records, next })
    }

    /// Documents in ascending id order, after `after` (exclusive), at most `limit`.
    pub fn list(&self, collection: &str, after: Option<u64>, limit: usize) -> Result<Page> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        check_limit(limit)?;
        let c = self.inner.state.collection(collection)?;
        self.page(&c, c.index.primary().page(after, limit + 1), limit)
    }

    /// Every document of `collection` in ascending id order, read lazily: the ids are taken
    /// from the primary index [`crate::DOCUMENTS_CHUNK`] at a time, so memory stays bounded
    /// whatever the collection's size. For exporting or scanning a whole collection (a
    /// `list` page would hold a whole page of documents at once). Each document is looked
    /// up when reached: one deleted before is skipped, one replaced before comes in its new
    /// version, one inserted behind the scan's position is not seen; none is seen twice.
    /// Holds no permit of `max_concurrent_ops` between calls to `next`.
    pub fn documents(&self, collection: &str) -> Result<Documents<'_>> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        Ok(Documents::new(
            self,
            self.inner.state.collection(collection)?,
        ))
    }

    /// Documents whose indexed fields equal every given value, in ascending id order.
    pub fn find(
        &self,
        collection: &str,
        conditions: &[(String, Value)],
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        check_limit(limit)?;
        let c = self.inner.state.collection(collection)?;
        let hits = indexing::find(&c, conditions, after, limit + 1)?;
        self.page(&c, hits, limit)
    }

    /// The change feed, for one collection or all: with `since`, first every change in the
    /// log after that seq, then live changes; without, live changes only.
    pub fn subscribe(&self, collection: Option<&str>, since: Option<u64>) -> Result<ChangeStream> {
        let name = match collection {
            Some(name) => {
                validate_name(name)?;
                Some(Arc::clone(&self.inner.state.collection(name)?.name))
            }
            None => None,
        };
        // Subscribe before reading last_seq: every change after it reaches the receiver.
        let live = self.inner.state.changes.subscribe();
        let until = self.inner.state.last_seq.load(Ordering::Acquire);
        // Nothing to replay when `since` is already the last seq (a client resuming from
        // where it is): skip the scan of the log.
        let frames = since.filter(|&since| since < until).map(|_| {
            let reader = &self.inner.reader;
            let damage = Arc::clone(&self.inner.state.damage);
            (reader.iter(), reader.oldest_format_version() < 2, damage)
        });
        // Changes at or before the floor may have been compacted away: a replay from before
        // it could miss some, and says so instead.
        let floor = self.inner.reader.history_floor();
        let incomplete = since.is_some_and(|since| since < floor);
        Ok(ChangeStream::new(
            live,
            frames,
            since.unwrap_or(until),
            until,
            name,
            FEED_CAPACITY,
            incomplete.then_some(floor),
        ))
    }

    /// Damaged frames found since open, by reads and by the background scrub: while any is
    /// known, the database is degraded (it serves what is intact; reads of a damaged record
    /// fail with [`DbError::Corrupt`]).
    pub fn damage(&self) -> crate::Damage {
        self.inner.state.damage.snapshot()
    }

    /// How far the background scrub of the segments opened from hints has come.
    pub fn scrub_progress(&self) -> ScrubProgress {
        self.inner
            .scrub
            .lock()
            .map(|scrub| scrub.progress())
            .unwrap_or_default()
    }

    /// Why writes are refused for good, if they are (the writer's failure, or the log's:
    /// compaction's fdatasync of the active segment can poison it too).
    pub fn poisoned(&self) -> Option<String> {
        let poisoned = self.inner.writer.poisoned();
        poisoned
            .or_else(|| self.inner.reader.poisoned())
            .map(str::to_string)
    }

    /// The writer's counters and histograms (for `/metrics`).
    pub fn writer_metrics(&self) -> &WriterMetrics {
        self.inner.writer.metrics()
    }

    /// Sizes and counters.
    pub fn stats(&self) -> Stats {
        let segments = self.inner.reader.segments();
        let disk_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
        let dead_bytes: u64 = segments.iter().map(|s| s.dead_bytes).sum();
        let metrics = self.inner.writer.metrics();
        let collections = self
            .inner
            .state
            .catalog
            .load()
            .sorted()
            .iter()
            .map(|c| CollectionStats {
                name: c.name.to_string(),
                count: c.index.len() as u64,
                indexes: indexing::stats(c),
            })
            .collect();
        Stats {
            collections,
            segments: segments.len(),
            disk_bytes,
            live_bytes: disk_bytes.saturating_sub(dead_bytes),
            dead_bytes,
            last_seq: self.inner.state.last_seq.load(Ordering::Acquire),
            batches: metrics.batches.load(Ordering::Relaxed),
            records_written: metrics.records.load(Ordering::Relaxed),
            fsyncs: metrics.fsyncs.load(Ordering::Relaxed),
            in_flight_ops: self.inner.max_ops - self.inner.ops.available_permits(),
            uptime: self.inner.opened.elapsed(),
            poisoned: self.poisoned(),
        }
    }
}

fn unexpected(outcome: WriteOutcome) -> DbError {
    DbError::Internal {
        message: format!("unexpected write outcome {outcome:?}"),
    }
}
