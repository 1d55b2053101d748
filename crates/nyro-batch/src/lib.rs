//! # nyro-batch: NyroDB's group-commit writer
//!
//! One writer thread owns the [`nyro_storage::Log`]. Callers [`WriterHandle::submit`] write
//! requests into a bounded queue and await their own answer (each request carries its
//! [`Reply`], so its answer has the request's own type). The writer takes everything
//! that is queued (up to `batch_size` records), appends it with **one** `Log::append` (one
//! `write` syscall), applies the [`SyncPolicy`], and only then answers each request.
//!
//! What a request means is not this crate's business: an [`Applier`] (the database core)
//! turns each request into log records ([`Applier::prepare`]), and makes a written batch
//! visible and answers it ([`Applier::commit`], or [`Unwritten::fail`] when it was not
//! written). Both run on the writer thread, which makes it the one place where writes are
//! ordered: a request is checked against the state *plus every earlier request of the same
//! batch*, and nothing becomes visible before its bytes are in the log.
//!
//! Main types: [`BatchWriter`] (spawns the thread), [`WriterHandle`] (submit, close),
//! [`WriterThread`] (join it once closed), [`Applier`] and [`Reply`], [`SyncPolicy`],
//! [`WriteError`], [`WriterMetrics`].
//!
//! Invariants:
//! - A request is answered only after its batch was written, and under [`SyncPolicy::Always`]
//!   (or when any request of the batch asked for `sync`) only after it was fdatasync'ed.
//! - The thread ends after answering `close`, or once every handle is dropped (after
//!   writing and fdatasyncing what was queued); [`WriterThread::join`] waits for that, so
//!   its owner never polls for the log to be released.
//! - A failed write fails exactly the requests of its batch; the log cuts the partial bytes
//!   back, [`Applier::end_batch`]`(false)` forgets what `prepare` assumed, and later batches
//!   may succeed.
//! - A failed fdatasync poisons the writer: every later request is refused with the reason.
//!   Nothing is retried.
//! - Natural group commit: requests that arrive while a batch is written or synced form the
//!   next batch, so an idle writer writes a lone request at once. Only a batch that will be
//!   fdatasync'ed, and has fewer requests than the previous one, lingers for company: at
//!   most one fdatasync's duration and never longer than `batch_timeout`.

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
