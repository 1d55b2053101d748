//! The core's one error type. The server maps each variant to an HTTP status in one place.

use std::sync::Arc;

use nyro_batch::WriteError;
use nyro_storage::StorageError;

/// What can go wrong in a database operation. Messages name the collection, id or field
/// concerned and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A collection name breaks the naming rule.
    #[error(
        "invalid collection name {name:?}: use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The request is well-formed but not acceptable (wrong shape, too deep, bad id, ...).
    #[error("{}{message}", element_prefix(*.element))]
    Invalid {
        /// What is wrong and how to fix it.
        message: String,
        /// Which document of a request of several is concerned (counting from 0).
        element: Option<usize>,
    },
    /// No such collection.
    #[error("collection {collection:?} does not exist")]
    CollectionNotFound {
        /// The collection.
        collection: String,
    },
    /// No such document.
    #[error("no document with _id {id} in collection {collection:?}")]
    NotFound {
        /// The collection.
        collection: String,
        /// The id.
        id: u64,
    },
    /// A document's `_id` exists already in the collection, or appears twice in the
    /// request (`first` names the earlier element). Nothing of the request was written.
    #[error("{}", conflict_message(.collection, *.id, *.element, *.first))]
    Conflict {
        /// The collection.
        collection: String,
        /// The id given.
        id: u64,
        /// Which document of a request of several gives it (counting from 0).
        element: Option<usize>,
        /// The earlier document of the same request that gives the same id, if any.
        first: Option<usize>,
    },
    /// The collection has assigned every id up to `u64::MAX`: a document without `_id`
    /// cannot get one (a conflict with the collection's state, like an `_id` that exists).
    #[error(
        "collection {collection:?} has assigned every id up to 18446744073709551615; give \
         `_id` explicitly"
    )]
    IdsExhausted {
        /// The collection.
        collection: String,
    },
    /// The collection exists with other indexes than those requested.
    #[error("collection {collection:?} exists with indexes {indexes:?}, not {requested:?}")]
    CollectionExists {
        /// The collection.
        collection: String,
        /// Its indexes.
        indexes: Vec<String>,
        /// The indexes requested.
        requested: Vec<String>,
    },
    /// An index on this path exists already (ready or being built).
    #[error(
        "collection {collection:?} has an index on {path:?} already; drop it first to build it \
         again"
    )]
    IndexExists {
        /// The collection.
        collection: String,
        /// The path.
        path: String,
    },
    /// No index on this path.
    #[error("collection {collection:?} has no index on {path:?}")]
    IndexNotFound {
        /// The collection.
        collection: String,
        /// The path.
        path: String,
    },
    /// A query needs an index on a path the collection does not index (a sort, or the
    /// equality lookup of `Database::find`).
    #[error(
        "path {field:?} is not indexed in collection {collection:?}; sort by _id or by an \
         indexed path, or add the index (POST /v1/collections/{collection}/_indexes)"
    )]
    NotIndexed {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
    },
    /// A query names a path whose index is still being built (added online): it serves
    /// queries once built.
    #[error(
        "the index on {field:?} of collection {collection:?} is still being built from the \
         stored documents; query by it once it is ready (listed in the collection's indexes)"
    )]
    IndexNotReady {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
    },
    /// Every permit of `max_concurrent_ops` is taken (or the write queue is full); nothing
    /// of the operation was done. Retry shortly.
    #[error("the database is at its limit of {limit} concurrent operations; retry shortly")]
    Overloaded {
        /// The limit that was hit.
        limit: usize,
    },
    /// A cluster node could not get the write or read confirmed by a quorum in time (no
    /// leader, the quorum lost, leadership changed under it). The message says whether the
    /// write may still be applied; the client retries.
    #[error("{cause}")]
    NoQuorum {
        /// What happened, for the client (names no file).
        cause: String,
    },
    /// Writes are refused until restart (an fdatasync failed). Reads go on.
    #[error(
        "the database refuses writes until it is restarted because an fdatasync failed: \
         {cause}"
    )]
    Unavailable {
        /// What failed (it names the file: for logs and operators, not for remote clients).
        cause: String,
    },
    /// Writing failed (e.g. the disk is full); nothing of the write was kept.
    #[error("the write failed and nothing of it was kept: {0}")]
    WriteFailed(Arc<StorageError>),
    /// The database is closed.
    #[error("the database is closed")]
    Closed,
    /// An internal inconsistency (a bug): the in-memory state disagrees with itself or with
    /// the log. Nothing the caller did wrong; restarting rebuilds the state from the log.
    #[error("internal error: {message}; restarting rebuilds the indexes from the log")]
    Internal {
        /// What disagreed.
        message: String,
    },
    /// The configuration is not acceptable (a value out of range, a bad collection, ...).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The log could not be opened or read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored frame fails its checks (its checksum, or its length field): media damage that
    /// open did not see, because the segment was opened from its hint file. Nothing of the
    /// frame was returned. The damage is counted in [`crate::Database::damage`]; `path` is
    /// for the server's log, never for a client.
    #[error(
        "stored data is damaged: the frame of {} in {path} at offset {offset} fails its \
         checks ({defect}); run `nyrodb verify` to list every damaged place and \
         `nyrodb repair` to keep what is intact",
        crate::damage::what(.collection.as_deref(), *.id)
    )]
    Corrupt {
        /// The collection read, when the read was of one.
        collection: Option<String>,
        /// The document read, when the read was of one.
        id: Option<u64>,
        /// The segment's file number.
        segment: u32,
        /// Byte offset of the damaged frame in the segment file.
        offset: u64,
        /// The segment file.
        path: std::path::PathBuf,
        /// What is wrong with the frame.
        defect: String,
    },
    /// A backup fails its manifest's checks (a file missing, cut short or changed).
    #[error("the backup is damaged: {path}: {reason}; nothing was restored (use another backup)")]
    DamagedBackup {
        /// The file concerned.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl DbError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            element: None,
        }
    }

    /// This error, said of element `index` of a request of several documents.
    pub(crate) fn at_element(self, index: usize) -> Self {
        match self {
            Self::Invalid {
                message,
                element: None,
            } => Self::Invalid {
                message,
                element: Some(index),
            },
            other => other,
        }
    }

    /// Which document of a request of several the error concerns, if it concerns one.
    pub fn element(&self) -> Option<usize> {
        match self {
            Self::Invalid { element, .. } | Self::Conflict { element, .. } => *element,
            _ => None,
        }
    }
}

fn element_prefix(element: Option<usize>) -> String {
    element.map_or_else(String::new, |index| format!("element {index}: "))
}

fn conflict_message(
    collection: &str,
    id: u64,
    element: Option<usize>,
    first: Option<usize>,
) -> String {
    match (first, element) {
        (Some(first), Some(element)) => format!(
            "_id {id} appears twice in the request (elements {first} and {element}); nothing \
             was written"
        ),
        _ => format!(
            "a document with _id {id} already exists in collection {collection:?}{}; nothing \
             was written",
            element.map_or_else(String::new, |index| format!(" (element {index})"))
        ),
    }
}

impl From<WriteError<DbError>> for DbError {
    fn from(error: WriteError<DbError>) -> Self {
        match error {
            WriteError::Rejected(e) => e,
            WriteError::Failed(e) => DbError::WriteFailed(e),
            WriteError::Poisoned { reason } => DbError::Unavailable { cause: reason },
            WriteError::QueueFull { capacity } => DbError::Overloaded { limit: capacity },
            WriteError::Closed => DbError::Closed,
        }
    }
}

impl From<nyro_storage::codec::CodecError> for DbError {
    fn from(e: nyro_storage::codec::CodecError) -> Self {
        Self::Storage(StorageError::Codec(e))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
