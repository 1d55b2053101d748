//! What the writer asks of the code that gives requests their meaning ([`Applier`]), how a
//! request is answered ([`Reply`]) and why it may not be ([`WriteError`]).

use std::sync::Arc;

use nyro_storage::{Location, StorageError};
use tokio::sync::oneshot;

use crate::records::RecordBuf;

/// Turns requests into log records and makes written ones visible. Runs on whichever
/// thread leads (a caller's or the writer thread), one leader at a time, so its state needs
/// no locks against other writers; it must be `Send` and keep nothing thread-local.
///
/// Per batch the writer calls [`prepare`](Applier::prepare) for each request in arrival
/// order, appends the batch, then either calls [`commit`](Applier::commit) for each prepared
/// request in order and `end_batch(true)`, or, if the write failed, `end_batch(false)` and
/// [`Unwritten::fail`] for each prepared request. A request refused by `prepare` is
/// answered (`fail` with [`WriteError::Rejected`]) once its batch is over.
///
/// Each request carries its own [`Reply`] (its answer's type is the request's business, not
/// the writer's): `commit` and `fail` send it.
pub trait Applier: Send + 'static {
    /// A write request, with the [`Reply`] it is answered through.
    type Request: Unwritten<Self::Rejection> + Send + 'static;
    /// A request with what `prepare` decided for it (its ids, its seqs, ...).
    type Prepared: Unwritten<Self::Rejection> + Send + 'static;
    /// Why a request was refused (e.g. a conflict); refusing one request does not affect
    /// the others of its batch.
    type Rejection: Send + 'static;

    /// Checks `request` against the state as it will be after every earlier request of this
    /// batch, and adds its records to `records`. On `Err` the records it added are taken
    /// back, and `prepare` must have taken back whatever else it assumed for the request.
    #[allow(clippy::type_complexity)] // the refused request and why, both handed back
    fn prepare(
        &mut self,
        request: Self::Request,
        records: &mut RecordBuf,
    ) -> Result<Self::Prepared, (Self::Request, Self::Rejection)>;

    /// The request's records are in the log at `locations`: make them visible and answer it.
    fn commit(&mut self, prepared: Self::Prepared, locations: &[Location]);

    /// The batch is over. `written` is false when the append (or its fdatasync) failed and
    /// nothing was committed: forget whatever `prepare` assumed.
    fn end_batch(&mut self, written: bool);
}

/// A request that was not written: it answers with why.
pub trait Unwritten<R> {
    /// Answers the request with `error`.
    fn fail(self, error: WriteError<R>);
}

/// Where one request's answer goes: an answer of type `T`, or why it was not written.
/// Made by [`WriterHandle::submit`](crate::WriterHandle::submit), which awaits it.
#[derive(Debug)]
pub struct Reply<T, R>(oneshot::Sender<Result<T, WriteError<R>>>);

impl<T, R> Reply<T, R> {
    pub(crate) fn new(sender: oneshot::Sender<Result<T, WriteError<R>>>) -> Self {
        Self(sender)
    }

    /// A reply and the receiver its answer arrives on, for a request that is answered
    /// outside the writer (a cluster node's proposals, which the replication layer answers).
    #[allow(clippy::type_complexity)] // the receiving end of exactly this reply
    pub fn channel() -> (Self, oneshot::Receiver<Result<T, WriteError<R>>>) {
        let (sender, receiver) = oneshot::channel();
        (Self(sender), receiver)
    }

    /// Answers the request. A caller that stopped waiting is not an error.
    pub fn send(self, answer: Result<T, WriteError<R>>) {
        let _ = self.0.send(answer);
    }
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
    /// or the writer panicked: the database takes no more writes until it is
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
