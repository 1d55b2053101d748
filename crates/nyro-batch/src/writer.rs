//! The worker a leader holds: collects a batch from the line, has the applier prepare it,
//! appends it with one `Log::append`, applies the sync policy, then answers.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nyro_storage::{Location, Log, StorageError};

use crate::applier::{Applier, Unwritten, WriteError};
use crate::config::{BatchConfig, SyncPolicy};
use crate::leader::Shared;
use crate::line::{Done, Line, Message};
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

/// Who leads the batch being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A caller, on its own thread: it takes only plain writes (no fdatasync, no control
    /// message) and never waits.
    Caller,
    /// The writer thread: it takes every message, and lingers before an fdatasync.
    Thread,
}

impl<A: Applier> Worker<A> {
    pub(crate) fn new(log: Log, applier: A, config: BatchConfig, shared: Arc<Shared>) -> Self {
        Self {
            log: Some(log),
            applier,
            config,
            shared,
            buf: RecordBuf::new(),
            oldest_unsynced: None,
            last_batch_requests: 0,
            last_fsync: Duration::ZERO,
        }
    }

    /// Writes one batch: `first`, then whatever `line` holds that the leader may take, up to
    /// `batch_size` records; appends it, syncs per policy, answers. True once `Close` was
    /// answered (the log is released and the line takes no more messages).
    pub(crate) fn lead_batch(&mut self, first: Message<A>, line: &Line<A>, role: Role) -> bool {
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
            next = match role {
                Role::Caller => line.next_if(Message::is_plain_write),
                Role::Thread => line
                    .next_if(|_| true)
                    .or_else(|| self.linger(&batch, &mut linger_until, line)),
            };
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
        let Some(done) = batch.close else {
            return false;
        };
        let result = self.sync_now();
        self.log = None; // releases the writer's hold on the data directory
        let rest = line.close();
        let _ = done.send(result.map_err(WriteError::from));
        self.shared.forget(rest);
        true
    }

    /// Requests (written, refused or failed) in the last batch.
    /// Whether the next append must seal a full segment first (an fdatasync, a new file):
    /// not a caller's job (see the crate's doc).
    pub(crate) fn must_seal(&self) -> bool {
        self.log.as_ref().is_some_and(Log::is_full)
    }

    pub(crate) fn last_batch_requests(&self) -> usize {
        self.last_batch_requests
    }

    /// Every handle is gone and the queue is written: make it durable and stop taking
    /// messages.
    pub(crate) fn stop(&mut self, line: &Line<A>) {
        let _ = self.sync_now();
        self.log = None;
        self.shared.forget(line.close());
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
    /// request) never waits. Only the thread leads such batches.
    fn linger(
        &mut self,
        batch: &Collected<A>,
        until: &mut Option<Instant>,
        line: &Line<A>,
    ) -> Option<Message<A>> {
        let syncs = batch.sync || self.config.sync == SyncPolicy::Always;
        if !syncs || batch.pending.len() >= self.last_batch_requests {
            return None;
        }
        let deadline = *until
            .get_or_insert_with(|| Instant::now() + self.last_fsync.min(self.config.batch_timeout));
        line.wait_next(deadline)
    }

    /// When the interval policy's fdatasync of what is written is due (`None`: nothing is
    /// waiting for one).
    pub(crate) fn sync_due(&self) -> Option<Instant> {
        match (self.config.sync, self.oldest_unsynced) {
            (SyncPolicy::Interval(interval), Some(oldest)) => Some(oldest + interval),
            _ => None,
        }
    }

    /// fdatasyncs if the interval policy's deadline has passed (the thread calls this
    /// whenever it leads: a busy writer may never go idle long enough to sleep until it).
    pub(crate) fn sync_if_due(&mut self) {
        if self.sync_due().is_some_and(|due| Instant::now() >= due) {
            let _ = self.sync_now();
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
            // drop the interval deadline (else the thread retries it forever, never taking
            // another message).
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
