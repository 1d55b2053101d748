//! Who writes: a caller that finds the writer idle leads its own batch on its own thread
//! ([`Writer::lead`]); the writer thread ([`Writer::run`]) leads what callers may not.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::applier::Applier;
use crate::line::{Line, Message, Next, PanicPayload, Turn, lock};
use crate::metrics::WriterMetrics;
use crate::writer::{Role, Worker};

/// Most batches a caller leads in a row (its own and those of requests that queued
/// meanwhile) before it hands over to the thread: going on saves waking the thread (which,
/// on a busy machine, may wait long for a core while everyone queues behind it), the bound
/// keeps one caller from writing for everyone else forever.
const CALLER_BATCHES: u64 = 8;

/// A caller's leadership that begins after one yield (see `Entry::LeadSoon`). Dropped
/// before it began (its future cancelled at the yield), it hands its message to the thread,
/// so nothing is left in line with nobody to write it.
pub(crate) struct Claim<'a, A: Applier> {
    writer: &'a Writer<A>,
    message: Option<Message<A>>,
}

impl<'a, A: Applier> Claim<'a, A> {
    pub(crate) fn new(writer: &'a Writer<A>, message: Message<A>) -> Self {
        Self {
            writer,
            message: Some(message),
        }
    }

    /// Leads now (see [`Writer::lead`]).
    pub(crate) fn lead(mut self) {
        if let Some(message) = self.message.take() {
            self.writer.lead(message);
        }
    }
}

impl<A: Applier> Drop for Claim<'_, A> {
    fn drop(&mut self) {
        if let Some(message) = self.message.take() {
            self.writer.line.abandon(message);
        }
    }
}

/// What the handles, the leaders and the worker share.
pub(crate) struct Shared {
    pub(crate) metrics: Arc<WriterMetrics>,
    pub(crate) poisoned: OnceLock<String>,
    /// Requests queued and not yet taken by a leader.
    pub(crate) queued: AtomicUsize,
    pub(crate) capacity: usize,
}

impl Shared {
    /// Drops messages the writer will never take (it stopped): their callers are answered
    /// `Closed` by their dropped replies.
    pub(crate) fn forget<A: Applier>(&self, messages: VecDeque<Message<A>>) {
        let writes = messages
            .iter()
            .filter(|m| matches!(m, Message::Write { .. }))
            .count();
        self.queued.fetch_sub(writes, Ordering::AcqRel);
    }

    /// Marks the writer poisoned because an applier (or the writer) panicked.
    fn panicked(&self) {
        let _ = self.poisoned.set("the writer thread panicked".into());
    }
}

/// The writer: the line of queued messages, and the worker whoever leads holds.
pub(crate) struct Writer<A: Applier> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) line: Line<A>,
    /// `None` once the writer stopped (closed, every handle gone, or a panic).
    worker: Mutex<Option<Worker<A>>>,
    /// Whether a caller may lead a plain write: not under `SyncPolicy::Always`, where every
    /// batch is fdatasync'ed (the thread does that, see the crate's doc).
    pub(crate) callers_lead: bool,
}

impl<A: Applier> Writer<A> {
    pub(crate) fn new(worker: Worker<A>, shared: Arc<Shared>, callers_lead: bool) -> Self {
        Self {
            shared,
            line: Line::new(),
            worker: Mutex::new(Some(worker)),
            callers_lead,
        }
    }

    /// A caller leads: writes `first` and whatever plain writes queue up meanwhile as one
    /// batch, on the caller's thread; goes on with the next batch while plain writes are
    /// queued, at most [`CALLER_BATCHES`] in all; then stops leading (handing over to the
    /// thread if more is queued), or hands its batch to the thread at once when the next
    /// append must seal a full segment. Synchronous: a caller's future cannot be dropped
    /// half-way through.
    pub(crate) fn lead(&self, first: Message<A>) {
        let mut guard = lock(&self.worker);
        let Some(worker) = guard.as_mut() else {
            return; // unreachable: the line is closed before the worker goes
        };
        let led = catch_unwind(AssertUnwindSafe(|| {
            let mut next = Some(first);
            let mut batches = 0;
            while let Some(first) = next {
                if worker.must_seal() {
                    // Sealing fdatasyncs: the thread's work. It takes the message back
                    // from the head of the line, and the leadership with it.
                    self.line.abandon(first);
                    break;
                }
                worker.lead_batch(first, &self.line, Role::Caller);
                batches += 1;
                let alone = batches == 1 && worker.last_batch_requests() == 1;
                next = self
                    .line
                    .caller_next(worker.sync_due(), batches < CALLER_BATCHES, alone);
            }
            batches
        }));
        match led {
            Ok(batches) => {
                self.shared
                    .metrics
                    .caller_batches
                    .fetch_add(batches, Ordering::Relaxed);
            }
            Err(payload) => self.died(guard, Some(payload)),
        }
    }

    /// The writer thread: leads when handed over (messages that need it queued), when an
    /// interval fdatasync is due, and to stop; sleeps otherwise.
    pub(crate) fn run(&self) {
        loop {
            match self.line.thread_wait() {
                Turn::Lead => {}
                Turn::Stopped => return,
                // A caller's applier panicked: end this thread the same way, so that
                // `WriterThread::join` reports it.
                Turn::Died(payload) => resume_unwind(payload),
            }
            let mut guard = lock(&self.worker);
            let Some(worker) = guard.as_mut() else {
                return;
            };
            let led = catch_unwind(AssertUnwindSafe(|| {
                loop {
                    worker.sync_if_due();
                    match self.line.thread_next(worker.sync_due()) {
                        Next::Message(first) => {
                            if worker.lead_batch(first, &self.line, Role::Thread) {
                                return true;
                            }
                        }
                        Next::Idle => return false,
                        Next::Stop => {
                            worker.stop(&self.line);
                            return true;
                        }
                    }
                }
            }));
            match led {
                Ok(false) => {}
                Ok(true) => {
                    *guard = None; // drops the applier on this thread, as before
                    return;
                }
                Err(payload) => {
                    self.died(guard, None);
                    resume_unwind(payload);
                }
            }
        }
    }

    /// A leader's applier panicked: the writer is poisoned, the worker (with whatever the
    /// applier half did) is dropped, which releases the log, and every queued message is
    /// answered `Closed`. A caller's panic is handed to the thread to rethrow.
    fn died(
        &self,
        mut guard: std::sync::MutexGuard<'_, Option<Worker<A>>>,
        payload: Option<PanicPayload>,
    ) {
        self.shared.panicked();
        *guard = None;
        drop(guard);
        let rest = self.line.died(payload);
        self.shared.forget(rest);
    }
}
