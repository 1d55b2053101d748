//! The writer thread and its handle.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nyro_storage::{Location, Log, StorageError};
use tokio::sync::oneshot;

use crate::metrics::WriterMetrics;
use crate::records::RecordBuf;

/// When an acknowledged write is on stable storage (CONTRACT.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Each batch is fdatasync'ed before any of its requests is answered. Nothing
    /// acknowledged is lost, kill -9 or power cut included.
    Always,
    /// Answered after the write; fdatasync'ed at most this long after the oldest write not
    /// yet synced was acknowledged. A process crash loses nothing (the bytes are in the
    /// kernel); a power cut loses at most the interval.
    Interval(Duration),
    /// Never fdatasync'ed except when sealing a segment, on request and at close. A power
    /// cut loses whatever the operating system had not flushed.
    Never,
}

/// How the writer batches and syncs.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Records after which a batch takes no more requests; more queued requests wait for
    /// the next batch. A request is never split, so the request that reaches the limit may
    /// take the batch past it (a single request larger than this is still written whole).
    pub batch_size: usize,
    /// When written data is fdatasync'ed.
    pub sync: SyncPolicy,
    /// Longest a request may wait for company in a batch that will be fdatasync'ed (the
    /// writer waits at most one fdatasync's duration, and never when the previous batch had
    /// a single request). Batches that are not synced never wait.
    pub batch_timeout: Duration,
    /// Most write requests queued at once; past it `submit` fails with
    /// [`WriteError::QueueFull`] instead of queueing without bound.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
            batch_timeout: Duration::from_millis(100),
            queue_capacity: 100_000,
        }
    }
}

/// Turns requests into log records and makes written ones visible. Runs on the writer
/// thread only, so its state needs no locks against other writers.
///
/// Per batch the writer calls [`prepare`](Applier::prepare) for each request in arrival
/// order, appends the batch, then either calls [`commit`](Applier::commit) for each prepared
/// request in order and `end_batch(true)`, or, if the write failed, only `end_batch(false)`.
pub trait Applier: Send + 'static {
    /// A write request.
    type Request: Send + 'static;
    /// The answer to a written request.
    type Response: Send + 'static;
    /// Why a request was refused (e.g. a conflict); refusing one request does not affect
    /// the others of its batch.
    type Rejection: Send + 'static;

    /// Checks `request` against the state as it will be after every earlier request of this
    /// batch, and adds its records to `records`. On `Err` the records it added are taken back.
    fn prepare(
        &mut self,
        request: &mut Self::Request,
        records: &mut RecordBuf,
    ) -> Result<(), Self::Rejection>;

    /// The request's records are in the log at `locations`: make them visible.
    fn commit(&mut self, request: Self::Request, locations: &[Location]) -> Self::Response;

    /// The batch is over. `written` is false when the append (or its fdatasync) failed and
    /// nothing was committed: forget whatever `prepare` assumed.
    fn end_batch(&mut self, written: bool);
}

/// Why a write request was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<R> {
    /// The applier refused the request.
    #[error("request refused")]
    Rejected(R),
    /// Writing the batch failed (e.g. disk full); nothing of it was kept. Later writes may
    /// succeed once the cause is gone.
    #[error("write failed: {0}")]
    Failed(Arc<StorageError>),
    /// An fdatasync failed earlier (or now), or the log could not cut a failed write back,
    /// or the writer thread panicked: the database takes no more writes until it is
    /// restarted. Reads go on.
    #[error("writes are refused until restart: {reason}; reads go on")]
    Poisoned {
        /// What failed.
        reason: String,
    },
    /// The queue is full; try again later.
    #[error("the write queue is full ({capacity} requests); retry later")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The writer has stopped (closed, or its thread died).
    #[error("the writer has stopped; the database is closed")]
    Closed,
}

type Reply<A> =
    oneshot::Sender<Result<<A as Applier>::Response, WriteError<<A as Applier>::Rejection>>>;
type Done<R> = oneshot::Sender<Result<(), WriteError<R>>>;

enum Message<A: Applier> {
    Write {
        request: A::Request,
        sync: bool,
        reply: Reply<A>,
    },
    /// fdatasync everything written so far, then answer.
    Flush(Done<A::Rejection>),
    /// Seal the active segment (and start a new one), then answer.
    Seal(Done<A::Rejection>),
    /// Write everything queued before this, fdatasync, release the log, then answer.
    Close(Done<A::Rejection>),
}

struct Shared {
    metrics: Arc<WriterMetrics>,
    poisoned: OnceLock<String>,
    queued: AtomicUsize,
    capacity: usize,
}

/// A handle for submitting writes. Cheap to clone; when the last clone is dropped the writer
/// writes what is queued, fdatasyncs and stops.
pub struct WriterHandle<A: Applier> {
    tx: mpsc::Sender<Message<A>>,
    shared: Arc<Shared>,
}

impl<A: Applier> Clone for WriterHandle<A> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Applier> std::fmt::Debug for WriterHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("queued", &self.shared.queued.load(Ordering::Relaxed))
            .field("poisoned", &self.shared.poisoned.get())
            .finish()
    }
}

impl<A: Applier> WriterHandle<A> {
    /// Queues `request` and waits until it is written (and fdatasync'ed, if the policy or
    /// `sync` says so) or refused.
    pub async fn submit(
        &self,
        request: A::Request,
        sync: bool,
    ) -> Result<A::Response, WriteError<A::Rejection>> {
        if let Some(reason) = self.shared.poisoned.get() {
            return Err(WriteError::Poisoned {
                reason: reason.clone(),
            });
        }
        let capacity = self.shared.capacity;
        if self.shared.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(WriteError::QueueFull { capacity });
        }
        let (reply, answer) = oneshot::channel();
        let message = Message::Write {
            request,
            sync,
            reply,
        };
        if self.tx.send(message).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(WriteError::Closed);
        }
        answer.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Waits until everything written so far is fdatasync'ed.
    pub async fn flush(&self) -> Result<(), WriteError<A::Rejection>> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Message::Flush(done))
            .map_err(|_| WriteError::Closed)?;
        answer.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Seals the active segment after everything queued before this call, so that all data
    /// written so far lies in sealed segments (which compaction can rewrite).
    pub async fn seal(&self) -> Result<(), WriteError<A::Rejection>> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Message::Seal(done))
            .map_err(|_| WriteError::Closed)?;
        answer.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Writes everything queued before this call, fdatasyncs, stops the writer and releases
    /// the log (its writer half). Requests submitted afterwards fail with `Closed`.
    pub async fn close(&self) -> Result<(), WriteError<A::Rejection>> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Message::Close(done))
            .map_err(|_| WriteError::Closed)?;
        answer.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Why writes are refused for good, if they are.
    pub fn poisoned(&self) -> Option<&str> {
        self.shared.poisoned.get().map(String::as_str)
    }

    /// What the writer has done so far.
    pub fn metrics(&self) -> &Arc<WriterMetrics> {
        &self.shared.metrics
    }

    /// Requests queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }
}

/// Starts writer threads.
pub struct BatchWriter;

impl BatchWriter {
    /// Starts the writer thread, which owns `log` and `applier` from now on.
    pub fn spawn<A: Applier>(
        log: Log,
        applier: A,
        config: BatchConfig,
    ) -> std::io::Result<WriterHandle<A>> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            metrics: Arc::new(WriterMetrics::default()),
            poisoned: OnceLock::new(),
            queued: AtomicUsize::new(0),
            capacity: config.queue_capacity.max(1),
        });
        let worker = Worker {
            log: Some(log),
            applier,
            rx,
            config,
            shared: Arc::clone(&shared),
            buf: RecordBuf::new(),
            oldest_unsynced: None,
            last_batch_requests: 0,
            last_fsync: Duration::ZERO,
        };
        // A thread, not an async task: write and fdatasync block, and must not stall the
        // runtime's worker threads. Callers still await their answers asynchronously.
        std::thread::Builder::new()
            .name("nyro-batch-writer".into())
            .spawn(move || worker.run())?;
        Ok(WriterHandle { tx, shared })
    }
}

/// What one batch collected from the queue.
struct Collected<A: Applier> {
    pending: Vec<Pending<A>>,
    /// `flush` calls to answer once the batch is synced.
    flushes: Vec<Done<A::Rejection>>,
    /// Some request (or flush) asked for an fdatasync.
    sync: bool,
    /// `seal` calls, answered after the batch is written and the segment sealed.
    seals: Vec<Done<A::Rejection>>,
    close: Option<Done<A::Rejection>>,
}

impl<A: Applier> Default for Collected<A> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            flushes: Vec::new(),
            sync: false,
            seals: Vec::new(),
            close: None,
        }
    }
}

/// A request taken into the current batch.
struct Pending<A: Applier> {
    request: A::Request,
    reply: Reply<A>,
    /// The request's records in the batch, or why it was refused.
    prepared: Result<Range<usize>, A::Rejection>,
}

struct Worker<A: Applier> {
    /// `None` once closed.
    log: Option<Log>,
    applier: A,
    rx: mpsc::Receiver<Message<A>>,
    config: BatchConfig,
    shared: Arc<Shared>,
    buf: RecordBuf,
    /// Under `Interval`: when the oldest acknowledged but unsynced write was answered.
    oldest_unsynced: Option<Instant>,
    /// Requests in the previous batch: how many writers are likely to come back.
    last_batch_requests: usize,
    /// How long the last fdatasync took: the most a batch lingers for company.
    last_fsync: Duration,
}

/// Marks the writer poisoned if its thread unwinds (a bug), so callers learn why.
struct PanicGuard(Arc<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.poisoned.set("the writer thread panicked".into());
        }
    }
}

impl<A: Applier> Worker<A> {
    fn run(mut self) {
        let _guard = PanicGuard(Arc::clone(&self.shared));
        while let Some(first) = self.next_message() {
            let mut batch = Collected::default();
            let mut next = Some(first);
            let mut linger_until = None;
            while let Some(message) = next.take() {
                if self.take(message, &mut batch) {
                    break; // Close: nothing after it belongs to this database any more
                }
                if self.buf.len() >= self.config.batch_size {
                    break;
                }
                next = self.rx.try_recv().ok();
                if next.is_none() {
                    next = self.linger(&batch, &mut linger_until);
                }
            }
            self.last_batch_requests = batch.pending.len();
            self.write_batch(batch.pending, batch.flushes, batch.sync);
            for done in batch.seals {
                let result = match self.log.as_mut() {
                    Some(log) => log.seal().map_err(|e| self.failure(e).duplicate()),
                    None => Err(WriteError::Closed),
                };
                let _ = done.send(result);
            }
            if let Some(done) = batch.close {
                let result = self.sync_now();
                self.log = None; // releases the writer's hold on the data directory
                let _ = done.send(result.map_err(WriteError::from));
                return;
            }
        }
        // Every handle is gone: make what was written durable before stopping.
        let _ = self.sync_now();
    }

    /// Adds a message to the batch being collected; true for `Close`.
    fn take(&mut self, message: Message<A>, batch: &mut Collected<A>) -> bool {
        match message {
            Message::Write {
                request,
                sync,
                reply,
            } => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                let pending = self.prepare(request, reply);
                batch.pending.push(pending);
                batch.sync |= sync;
            }
            Message::Flush(done) => {
                batch.flushes.push(done);
                batch.sync = true;
            }
            Message::Close(done) => {
                batch.close = Some(done);
                return true;
            }
            Message::Seal(done) => batch.seals.push(done),
        }
        false
    }

    /// When the queue runs dry before a batch that will be fdatasync'ed has as many requests
    /// as the previous one, waits briefly for the rest: writers answered by the previous
    /// fdatasync are about to send their next request, and without the wait they would miss
    /// this batch and wait a whole extra fdatasync. The wait is bounded by the last
    /// fdatasync's duration and by `batch_timeout`; a lone writer (previous batch of one
    /// request) never waits.
    fn linger(&mut self, batch: &Collected<A>, until: &mut Option<Instant>) -> Option<Message<A>> {
        let syncs = batch.sync || self.config.sync == SyncPolicy::Always;
        if !syncs || batch.pending.len() >= self.last_batch_requests {
            return None;
        }
        let deadline = *until
            .get_or_insert_with(|| Instant::now() + self.last_fsync.min(self.config.batch_timeout));
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        self.rx.recv_timeout(deadline - now).ok()
    }

    /// Waits for the next message, fdatasyncing when the interval policy's deadline comes.
    /// `None` when every handle is gone.
    fn next_message(&mut self) -> Option<Message<A>> {
        loop {
            let deadline = match (self.config.sync, self.oldest_unsynced) {
                (SyncPolicy::Interval(interval), Some(oldest)) => oldest + interval,
                _ => return self.rx.recv().ok(),
            };
            let now = Instant::now();
            if now >= deadline {
                let _ = self.sync_now();
                continue;
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(message) => return Some(message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn prepare(&mut self, mut request: A::Request, reply: Reply<A>) -> Pending<A> {
        let start = self.buf.len();
        let prepared = match self.applier.prepare(&mut request, &mut self.buf) {
            Ok(()) => {
                // A request's records are one write: a crash keeps them all or none.
                self.buf.mark_write(start..self.buf.len());
                Ok(start..self.buf.len())
            }
            Err(rejection) => {
                self.buf.truncate(start);
                Err(rejection)
            }
        };
        Pending {
            request,
            reply,
            prepared,
        }
    }

    fn write_batch(
        &mut self,
        pending: Vec<Pending<A>>,
        flushes: Vec<Done<A::Rejection>>,
        sync: bool,
    ) {
        let result = self.append_and_sync(sync);
        self.buf.clear();
        match result {
            Ok(locations) => {
                for p in pending {
                    let answer = match p.prepared {
                        Ok(range) => Ok(self.applier.commit(p.request, &locations[range])),
                        Err(rejection) => Err(WriteError::Rejected(rejection)),
                    };
                    let _ = p.reply.send(answer);
                }
                self.applier.end_batch(true);
                for done in flushes {
                    let _ = done.send(Ok(()));
                }
            }
            Err(error) => {
                self.applier.end_batch(false);
                for p in pending {
                    let answer = match p.prepared {
                        Ok(_) => Err(error.duplicate()),
                        Err(rejection) => Err(WriteError::Rejected(rejection)),
                    };
                    let _ = p.reply.send(answer);
                }
                for done in flushes {
                    let _ = done.send(Err(error.duplicate()));
                }
            }
        }
        // A busy writer may never idle long enough to reach its deadline in next_message.
        if let (SyncPolicy::Interval(interval), Some(oldest)) =
            (self.config.sync, self.oldest_unsynced)
            && oldest.elapsed() >= interval
        {
            let _ = self.sync_now();
        }
    }

    /// Appends the batch; fdatasyncs it if the policy or a request asks for that.
    fn append_and_sync(&mut self, sync_requested: bool) -> Result<Vec<Location>, BatchFailure> {
        let log = self.log.as_mut().ok_or(BatchFailure::Closed)?;
        let locations = if self.buf.is_empty() {
            Vec::new()
        } else {
            let records = self.buf.records();
            match log.append(&records) {
                Ok(locations) => {
                    let metrics = &self.shared.metrics;
                    metrics.batches.fetch_add(1, Ordering::Relaxed);
                    metrics
                        .records
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                    metrics.batch_records.observe(records.len() as u64);
                    locations
                }
                Err(e) => {
                    self.shared
                        .metrics
                        .failed_batches
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(self.failure(e));
                }
            }
        };
        if sync_requested || self.config.sync == SyncPolicy::Always {
            self.sync_now()?;
        } else if !locations.is_empty() && matches!(self.config.sync, SyncPolicy::Interval(_)) {
            self.oldest_unsynced.get_or_insert_with(Instant::now);
        }
        Ok(locations)
    }

    /// fdatasyncs everything written so far (a no-op when nothing is new).
    fn sync_now(&mut self) -> Result<(), BatchFailure> {
        let log = self.log.as_mut().ok_or(BatchFailure::Closed)?;
        let needed = log.unsynced_bytes() > 0;
        let started = Instant::now();
        if let Err(e) = log.sync() {
            // A failed fdatasync poisons the log: there is nothing left to sync later, so
            // drop the interval deadline (else `next_message` retries it forever, never
            // taking another message).
            self.oldest_unsynced = None;
            return Err(self.failure(e));
        }
        self.oldest_unsynced = None;
        if needed {
            self.last_fsync = started.elapsed();
            let metrics = &self.shared.metrics;
            metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
            metrics
                .fsync_micros
                .observe(started.elapsed().as_micros() as u64);
        }
        Ok(())
    }

    fn failure(&self, error: StorageError) -> BatchFailure {
        match error {
            StorageError::Poisoned { reason } => {
                let _ = self.shared.poisoned.set(reason.clone());
                BatchFailure::Poisoned(reason)
            }
            other => BatchFailure::Failed(Arc::new(other)),
        }
    }
}

/// A batch's failure, copied to each of its requests.
enum BatchFailure {
    Failed(Arc<StorageError>),
    Poisoned(String),
    Closed,
}

impl BatchFailure {
    fn duplicate<R>(&self) -> WriteError<R> {
        match self {
            Self::Failed(e) => WriteError::Failed(Arc::clone(e)),
            Self::Poisoned(reason) => WriteError::Poisoned {
                reason: reason.clone(),
            },
            Self::Closed => WriteError::Closed,
        }
    }
}

impl<R> From<BatchFailure> for WriteError<R> {
    fn from(failure: BatchFailure) -> Self {
        failure.duplicate()
    }
}
