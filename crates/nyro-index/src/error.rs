//! `IndexError`: what can go wrong when querying or updating a collection's indexes.

use thiserror::Error;

/// An error from [`crate::CollectionIndexes`]. Each leaves the indexes unchanged.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum IndexError {
    /// A query or an update names a path that the collection does not index.
    #[error("path `{field}` is not indexed: declare it in the collection's indexes to query by it")]
    NotIndexed {
        /// The path.
        field: String,
    },
    /// A query names a field whose index is still being built (added while the collection
    /// held records): it serves queries once its build is over.
    #[error("the index on field `{field}` is still being built: query by it once it is ready")]
    NotReady {
        /// The field.
        field: String,
    },
    /// A build step for an index that is ready (its build is over, or it never had one).
    #[error("the index on field `{field}` is not being built")]
    NotBuilding {
        /// The field.
        field: String,
    },
    /// A path is given twice: in the declared paths of a collection, or in the keys of
    /// one document.
    #[error("path `{field}` is given more than once: give each indexed path at most once")]
    DuplicateField {
        /// The field.
        field: String,
    },
    /// An update claims that a record was indexed under a key of a path (its old document's
    /// value), but it is not: the caller's old keys do not describe what was indexed, and
    /// applying the update would leave the secondary index wrong.
    #[error(
        "record {id} is not indexed under a given old key of path `{field}`: pass the \
         keys of the document the index last saw for this record"
    )]
    StaleOldKey {
        /// The path.
        field: String,
        /// The record id.
        id: u64,
    },
    /// A bulk build was given records that are not in strictly ascending id order.
    #[error("record {id} is out of order in a bulk build: give each id once, in ascending order")]
    NotAscending {
        /// The first id that is not above the one before it.
        id: u64,
    },
}
