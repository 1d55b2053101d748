//! Errors of the replication layer, and openraft's storage errors made from ours.

use openraft::{ErrorSubject, ErrorVerb, StorageIOError};

use crate::types::{NodeId, StorageError};

/// A result of a storage call, as openraft wants it.
pub(crate) type StoreResult<T> = Result<T, StorageError>;

/// A storage error about `subject` (what was being read or written), from any error.
pub(crate) fn io_error(
    subject: ErrorSubject<NodeId>,
    error: impl std::error::Error + 'static,
) -> StorageError {
    StorageIOError::new(subject, ErrorVerb::Write, openraft::AnyError::new(&error)).into()
}

/// What can go wrong starting or running a cluster node.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] nyro_core::DbError),
    /// The node's Raft state on disk could not be read or written.
    #[error("the Raft state of {dir}: {source}")]
    State {
        /// The data directory.
        dir: String,
        /// Why.
        #[source]
        source: nyro_storage::StorageError,
    },
    /// openraft refused the configuration or failed to start.
    #[error("starting Raft failed: {0}")]
    Start(String),
    /// No leader is known or the quorum is lost; the request may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// A membership request is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// A membership request names a node that is not a member.
    #[error("{0}")]
    NotFound(String),
}
