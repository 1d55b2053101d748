//! The caller's side of the writer: [`BatchWriter::spawn`] starts the thread and returns a
//! [`WriterHandle`] to submit through and the [`WriterThread`] to join.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use nyro_storage::Log;
use tokio::sync::oneshot;

use crate::applier::{Applier, Reply, WriteError};
use crate::config::{BatchConfig, SyncPolicy};
use crate::leader::{Claim, Shared, Writer};
use crate::line::{Done, Entry, Message};
use crate::metrics::WriterMetrics;
use crate::writer::Worker;

/// A handle for submitting writes. Cheap to clone; when the last clone is dropped the writer
/// writes what is queued, fdatasyncs and stops.
pub struct WriterHandle<A: Applier> {
    writer: Arc<Writer<A>>,
}

impl<A: Applier> Clone for WriterHandle<A> {
    fn clone(&self) -> Self {
        self.writer.line.add_handle();
        Self {
            writer: Arc::clone(&self.writer),
        }
    }
}

impl<A: Applier> Drop for WriterHandle<A> {
    fn drop(&mut self) {
        self.writer.line.drop_handle();
    }
}

impl<A: Applier> std::fmt::Debug for WriterHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("queued", &self.shared().queued.load(Ordering::Relaxed))
            .field("poisoned", &self.shared().poisoned.get())
            .finish()
    }
}

impl<A: Applier> WriterHandle<A> {
    fn shared(&self) -> &Shared {
        &self.writer.shared
    }

    /// Queues the request that `request` makes from its [`Reply`], and waits until it is
    /// written (and fdatasync'ed, if the policy or `sync` says so) or refused. The request
    /// is made only once it is sure to be queued.
    ///
    /// If the writer is idle and the request needs no fdatasync, the caller writes it
    /// itself, on its own thread, within one poll of this future (the first, or the second
    /// when it yields once for company; see the crate's doc): the future then completes
    /// without waiting for anyone.
    pub async fn submit<T: Send + 'static>(
        &self,
        sync: bool,
        request: impl FnOnce(Reply<T, A::Rejection>) -> A::Request,
    ) -> Result<T, WriteError<A::Rejection>> {
        let shared = self.shared();
        if let Some(reason) = shared.poisoned.get() {
            return Err(WriteError::Poisoned {
                reason: reason.clone(),
            });
        }
        let capacity = shared.capacity;
        if shared.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(WriteError::QueueFull { capacity });
        }
        let (reply, answer) = oneshot::channel();
        let message = Message::Write {
            request: request(Reply::new(reply)),
            sync,
        };
        match self
            .writer
            .line
            .enter(message, !sync && self.writer.callers_lead)
        {
            Entry::Lead(message) => self.writer.lead(message),
            Entry::LeadSoon(message) => {
                let claim = Claim::new(&self.writer, message);
                tokio::task::yield_now().await;
                claim.lead();
            }
            Entry::Queued => {}
            Entry::Closed => {
                shared.queued.fetch_sub(1, Ordering::AcqRel);
                return Err(WriteError::Closed);
            }
        }
        answer.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Sends `message` (made from its answer channel) and awaits the answer.
    async fn control(
        &self,
        message: impl FnOnce(Done<A::Rejection>) -> Message<A>,
    ) -> Result<(), WriteError<A::Rejection>> {
        let (done, answer) = oneshot::channel();
        match self.writer.line.enter(message(done), false) {
            Entry::Closed => return Err(WriteError::Closed),
            // Never a lead: control messages are the thread's.
            Entry::Lead(_) | Entry::LeadSoon(_) | Entry::Queued => {}
        }
        answer.await.unwrap_or(Err(WriteError::Closed))
    }

    /// Waits until everything written so far is fdatasync'ed.
    pub async fn flush(&self) -> Result<(), WriteError<A::Rejection>> {
        self.control(Message::Flush).await
    }

    /// Seals the active segment after everything queued before this call, so that all data
    /// written so far lies in sealed segments (which compaction can rewrite).
    pub async fn seal(&self) -> Result<(), WriteError<A::Rejection>> {
        self.control(Message::Seal).await
    }

    /// Writes everything queued before this call, fdatasyncs, stops the writer and releases
    /// the log (its writer half). Requests submitted afterwards fail with `Closed`. The
    /// thread ends right after answering: [`WriterThread::join`] waits for that.
    pub async fn close(&self) -> Result<(), WriteError<A::Rejection>> {
        self.control(Message::Close).await
    }

    /// Why writes are refused for good, if they are.
    pub fn poisoned(&self) -> Option<&str> {
        self.shared().poisoned.get().map(String::as_str)
    }

    /// What the writer has done so far.
    pub fn metrics(&self) -> &Arc<WriterMetrics> {
        &self.shared().metrics
    }

    /// Requests queued and not yet taken by a leader.
    pub fn queued(&self) -> usize {
        self.shared().queued.load(Ordering::Relaxed)
    }
}

/// The writer thread (see the crate's doc for what it leads). It ends after answering
/// [`WriterHandle::close`], or once every handle is dropped (after writing and
/// fdatasyncing what was queued); by then the log and the applier are dropped. Dropping
/// this without joining detaches the thread.
#[derive(Debug)]
pub struct WriterThread(std::thread::JoinHandle<()>);

impl WriterThread {
    /// Waits until the thread has ended (close it, or drop every handle, first). Returns
    /// false if it panicked, or ended with the panic of an applier that a leading caller
    /// ran (its handles then report the writer poisoned).
    pub fn join(self) -> bool {
        self.0.join().is_ok()
    }

    /// True once the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

/// Starts writer threads.
pub struct BatchWriter;

impl BatchWriter {
    /// Starts the writer, which owns `log` and `applier` from now on (whoever leads uses
    /// them), and its thread. Returns the handle to submit through and the thread, to
    /// join once closed.
    pub fn spawn<A: Applier>(
        log: Log,
        applier: A,
        config: BatchConfig,
    ) -> std::io::Result<(WriterHandle<A>, WriterThread)> {
        let shared = Arc::new(Shared {
            metrics: Arc::new(WriterMetrics::default()),
            poisoned: OnceLock::new(),
            queued: AtomicUsize::new(0),
            capacity: config.queue_capacity.max(1),
        });
        let callers_lead = config.sync != SyncPolicy::Always;
        let worker = Worker::new(log, applier, config, Arc::clone(&shared));
        let writer = Arc::new(Writer::new(worker, shared, callers_lead));
        // A thread, not an async task: the fdatasyncs it does block, and must not stall the
        // runtime's worker threads. Callers still await their answers asynchronously.
        let thread = {
            let writer = Arc::clone(&writer);
            std::thread::Builder::new()
                .name("nyro-batch-writer".into())
                .spawn(move || writer.run())?
        };
        Ok((WriterHandle { writer }, WriterThread(thread)))
    }
}
