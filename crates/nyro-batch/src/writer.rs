//! The writer thread: collects a batch from the queue, has the applier prepare it, appends
//! it with one `Log::append`, applies the sync policy, then answers.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use nyro_storage::{Location, Log, StorageError};

use crate::applier::{Applier, Unwritten, WriteError};
use crate::config::{BatchConfig, SyncPolicy};
use crate::handle::{Done, Message, Shared};
use crate::records::RecordBuf;

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

/// A request taken into the current batch: prepared, with its records in the batch, or
/// refused, with why.
type Pending<A> = Result<
    (<A as Applier>::Prepared, Range<usize>),
    (<A as Applier>::Request, <A as Applier>::Rejection),
>;

pub(crate) struct Worker<A: Applier> {
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
    pub(crate) fn new(
        log: Log,
        applier: A,
        rx: mpsc::Receiver<Message<A>>,
        config: BatchConfig,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            log: Some(log),
            applier,
            rx,
            config,
            shared,
            buf: RecordBuf::new(),
            oldest_unsynced: None,
            last_batch_requests: 0,
            last_fsync: Duration::ZERO,
        }
    }

    pub(crate) fn run(mut self) {
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
            Message::Write { request, sync } => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                let pending = self.prepare(request);
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

    fn prepare(&mut self, request: A::Request) -> Pending<A> {
        let mark = self.buf.mark();
        match self.applier.prepare(request, &mut self.buf) {
            Ok(prepared) => {
                let records = mark.records()..self.buf.len();
                // A request's records are one write: a crash keeps them all or none.
                self.buf.mark_write(records.clone());
                Ok((prepared, records))
            }
            Err(refused) => {
                self.buf.rollback(mark);
                Err(refused)
            }
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
                    match p {
                        Ok((prepared, range)) => self.applier.commit(prepared, &locations[range]),
                        Err((request, rejection)) => request.fail(WriteError::Rejected(rejection)),
                    }
                }
                self.applier.end_batch(true);
                for done in flushes {
                    let _ = done.send(Ok(()));
                }
            }
            Err(error) => {
                self.applier.end_batch(false);
                for p in pending {
                    match p {
                        Ok((prepared, _)) => prepared.fail(error.duplicate()),
                        Err((request, rejection)) => request.fail(WriteError::Rejected(rejection)),
                    }
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
