//! The leader's proposals: the database's writes (insert, replace, delete, create and drop
//! collection) queue here instead of going to the writer; the replication layer takes
//! them in batches ([`QueuedWrites::next`]), prepares each batch against the applied state
//! (`Database::prepare_proposal`: conflicts, ids, seqs, exactly as a standalone write is
//! prepared), proposes its records as one Raft entry and answers it once the entry is
//! applied ([`PreparedProposal::answer`]).

use nyro_batch::{Unwritten, WriteError};
use tokio::sync::mpsc;

use super::entry::WriteRecord;
use crate::error::DbError;
use crate::write::{Prepared, Queued};

/// A write waiting to be proposed, and whether its caller asked for an fdatasync.
pub(crate) type Waiting = (Queued, bool);

/// The sending side, held by the database.
#[derive(Debug)]
pub(crate) struct ProposalQueue(mpsc::UnboundedSender<Waiting>);

impl ProposalQueue {
    /// A queue and its receiving end.
    pub(crate) fn new() -> (Self, QueuedWrites) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), QueuedWrites(rx))
    }

    /// Queues `write`; hands it back if nobody takes proposals any more.
    pub(crate) fn send(&self, write: Waiting) -> Result<(), Waiting> {
        self.0.send(write).map_err(|e| e.0)
    }
}

/// The receiving side, held by the replication layer. The queue is bounded by the
/// database's `max_concurrent_ops` permits, like the writer's.
#[derive(Debug)]
pub struct QueuedWrites(mpsc::UnboundedReceiver<Waiting>);

/// A batch of queued writes, taken together.
pub struct Batch(pub(crate) Vec<Waiting>);

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({} writes)", self.0.len())
    }
}

impl QueuedWrites {
    /// Waits for a write, then takes it and every write queued behind it, up to `most`.
    /// `None` once the database is closed.
    pub async fn next(&mut self, most: usize) -> Option<Batch> {
        let mut batch = Vec::new();
        let received = self.0.recv_many(&mut batch, most.max(1)).await;
        (received > 0).then_some(Batch(batch))
    }
}

impl Batch {
    /// Answers every write of the batch with 503 `unavailable` and `cause` (no leader,
    /// shutting down, ...).
    pub fn fail(self, cause: &str) {
        for (queued, _) in self.0 {
            queued.fail(WriteError::Rejected(unavailable(cause)));
        }
    }
}

/// A prepared batch: the records of its accepted writes, for one Raft entry, and their
/// answers once that entry is applied.
pub struct PreparedProposal {
    /// The index of the last applied entry that carried writes when it was prepared.
    pub after: u64,
    /// The records, in order.
    pub records: Vec<WriteRecord>,
    /// Whether a write of the batch asked to be fdatasync'ed.
    pub sync: bool,
    pub(crate) prepared: Vec<Prepared>,
    /// The writes of the batch `prepare` refused (a conflict, a missing id), answered
    /// with the proposal: a refusal may rest on an earlier write of the same batch, which
    /// is a fact only once the entry is applied. (Answered at once, a create refused for
    /// an id the batch inserts told its client the id existed while a read still found
    /// nothing; the chaos harness of issue 16 caught that.)
    pub(crate) refused: Vec<(Queued, DbError)>,
}

impl std::fmt::Debug for PreparedProposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedProposal")
            .field("after", &self.after)
            .field("records", &self.records.len())
            .field("writes", &self.prepared.len())
            .finish()
    }
}

impl PreparedProposal {
    /// Answers every write of the proposal: with its answer if the entry was applied
    /// (`Ok(true)`); with 503 `unavailable` if it was void (`Ok(false)`) or its fate is
    /// unknown (`Err(cause)`: it may or may not be applied later, and a client retries
    /// with a given `_id` or a PUT).
    ///
    /// The refused writes get their refusal if the entry was applied, else 503 too (what
    /// they were judged against may not exist).
    pub fn answer(self, outcome: Result<bool, String>) {
        let not_applied = |outcome: &Result<bool, String>| match outcome {
            Ok(true) => None,
            Ok(false) => Some(unavailable(
                "leadership changed while the write was in flight and it was not applied; \
                 retry it",
            )),
            Err(cause) => Some(unavailable(cause)),
        };
        for prepared in self.prepared {
            match not_applied(&outcome) {
                None => prepared.answer(),
                Some(error) => prepared.refuse(error),
            }
        }
        for (queued, refusal) in self.refused {
            let error = not_applied(&outcome).unwrap_or(refusal);
            queued.fail(WriteError::Rejected(error));
        }
    }
}

fn unavailable(cause: &str) -> DbError {
    DbError::NoQuorum {
        cause: cause.to_string(),
    }
}
