//! # nyro-batch: NyroDB's group-commit writer
//!
//! Callers [`WriterHandle::submit`] write requests and await their own answer (each request
//! carries its [`Reply`], so its answer has the request's own type). Whoever writes a batch
//! takes the requests in line (up to `batch_size` records), appends them with **one**
//! `Log::append` (one `write` syscall), applies the [`SyncPolicy`], and only then answers
//! each request.
//!
//! ## Leaders and followers
//!
//! Group commit as RocksDB's write thread and LevelDB's writer queue do it: the caller that
//! finds the writer idle becomes the **leader** and writes its own request itself, on its
//! own thread, within one poll of its `submit` future (the first; see below for the one
//! yield it may make before), taking into the same batch whatever plain writes queue up
//! meanwhile (they are taken one at a time, after each `prepare`). Its own answer is then ready without any wake-up: a lone write pays no thread
//! hand-off. Callers that arrive while a batch is being written queue and wait (they are
//! **followers**: they pay a wake-up only because there is a batch to join). When its batch
//! is written the leader goes on with the next one while plain writes are queued, at most
//! eight batches in all, then hands leadership to the writer thread if anything is still
//! queued, else leaves the writer idle.
//!
//! Callers that are tokio tasks share a few worker threads, and a leader writes inside its
//! poll, so the other tasks of its worker cannot submit while it writes: without help,
//! many producers on two workers would each write alone (one `write` per record). So once
//! requests have queued behind a leader (callers arrive together), the next caller that
//! finds the writer idle takes the leadership but yields once (`tokio::task::yield_now`)
//! before writing, and the tasks that run meanwhile join its batch; a leader that then
//! writes alone turns this off again, so a lone writer never yields. A leader dropped at
//! that yield hands its request to the writer thread.
//!
//! One mutex guards the queue and the leadership together (`line.rs`), so that "idle, I
//! lead" and "someone leads, I queue" are decided in one step: a request is never queued
//! with nobody about to write it, and there is one leader at a time. The leader holds the
//! worker (the log, the [`Applier`], the batch buffer) behind a second mutex that only the
//! leader ever takes; there is no `unsafe`.
//!
//! **What a caller never does**: an fdatasync. A `write` into the page cache takes
//! microseconds, fine on a tokio worker thread; an fdatasync blocks for milliseconds, which
//! would stall every task of that worker (or the whole of a current-thread runtime).
//! So a caller leads only a request that needs none: not under [`SyncPolicy::Always`], not
//! with `sync` asked, never a control message. Those are queued for the **writer thread**,
//! which also keeps what callers cannot do: the `Interval` policy's timed fdatasync (a
//! leader tells it the deadline when it leaves data unsynced; when the deadline comes while
//! a caller leads, the caller hands over after its batch), lingering for company before an
//! fdatasync, `flush`, `seal`, `close`, and the final fdatasync once every handle is
//! dropped. A durable write thus pays the two hand-offs it paid before, next to an
//! fdatasync a hundred times longer; `tokio::task::block_in_place` was not taken, as it
//! hands the worker's other tasks to a new thread (a hand-off too) and panics on a
//! current-thread runtime. Nor does a caller seal a full segment (an fdatasync and a new
//! file, once per `segment_size` bytes): a leader that finds the segment full hands its
//! batch, and the leadership, to the thread.
//!
//! Leading is synchronous, with no `.await` while leading (the one yield above comes
//! before the batch is begun): a caller's future cannot be dropped half-way through a
//! batch. A follower whose future is dropped leaves its request
//! in line; it is written, and its answer dropped.
//!
//! What a request means is not this crate's business: an [`Applier`] (the database core)
//! turns each request into log records ([`Applier::prepare`]), and makes a written batch
//! visible and answers it ([`Applier::commit`], or [`Unwritten::fail`] when it was not
//! written). Both run on whichever thread leads, one leader at a time, which makes the
//! leader the one place where writes are ordered: a request is checked against the state
//! *plus every earlier request of the same batch*, and nothing becomes visible before its
//! bytes are in the log.
//!
//! Main types: [`BatchWriter`] (spawns the thread), [`WriterHandle`] (submit, close),
//! [`WriterThread`] (join it once closed), [`Applier`] and [`Reply`], [`SyncPolicy`],
//! [`WriteError`], [`WriterMetrics`].
//!
//! Invariants:
//! - A request is answered only after its batch was written, and under [`SyncPolicy::Always`]
//!   (or when any request of the batch asked for `sync`) only after it was fdatasync'ed.
//!   Non-durable requests are answered right after their bytes are in the log.
//! - The writer stops after answering `close`, or once every handle is dropped (after
//!   writing and fdatasyncing what was queued); [`WriterThread::join`] waits for that, so
//!   its owner never polls for the log to be released.
//! - A failed write fails exactly the requests of its batch; the log cuts the partial bytes
//!   back, [`Applier::end_batch`]`(false)` forgets what `prepare` assumed, and later batches
//!   may succeed.
//! - A failed fdatasync poisons the writer: every later request is refused with the reason.
//!   Nothing is retried.
//! - A panic in the applier, on the thread or in a leading caller, poisons the writer: the
//!   panic is caught, the worker (applier and log) dropped, every request of the batch and
//!   of the queue answered `Closed`; the caller's own task does not panic, and the thread
//!   ends with the panic, so that [`WriterThread::join`] reports it.
//! - The queue is bounded: past `queue_capacity` waiting requests, `submit` fails with
//!   [`WriteError::QueueFull`].
//! - Natural group commit: requests that arrive while a batch is written or synced form the
//!   next batch, so an idle writer writes a lone request at once. Only a batch that will be
//!   fdatasync'ed (so, one the thread leads), and has fewer requests than the previous one,
//!   lingers for company: at most one fdatasync's duration and never longer than
//!   `batch_timeout`.
//! - [`WriterMetrics`] count every batch, whoever led it (`caller_batches`: those led by
//!   callers).

mod applier;
mod config;
mod handle;
mod leader;
mod line;
mod metrics;
mod records;
mod writer;

pub use applier::{Applier, Reply, Unwritten, WriteError};
pub use config::{BatchConfig, SyncPolicy};
pub use handle::{BatchWriter, WriterHandle, WriterThread};
pub use metrics::{Histogram, WriterMetrics};
pub use records::{ChunkId, Mark, OutOfChunk, RecordBuf};
