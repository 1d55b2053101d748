//! [`Documents`]: a collection's documents in ascending id order, read lazily, for scans and
//! exports that must not hold a whole collection (or a whole page of it) in memory.

use std::sync::Arc;

use crate::catalog::Collection;
use crate::database::Database;
use crate::document::Document;
use crate::error::Result;

/// Ids taken from the primary index at a time by [`Documents`].
pub const DOCUMENTS_CHUNK: usize = 1024;

/// The iterator [`Database::documents`] returns: each document of a collection, ascending by
/// id, looked up and decoded when `next` reaches it (so a document deleted before then is
/// skipped, and one replaced before then comes in its new version). An error (a damaged
/// frame) is returned once, and the iteration goes on after it.
pub struct Documents<'db> {
    db: &'db Database,
    collection: Arc<Collection>,
    /// The ids of the current chunk, in order.
    chunk: std::vec::IntoIter<u64>,
    /// The last id taken from the index: the next chunk starts after it.
    after: Option<u64>,
    /// The index had no id after `after`.
    exhausted: bool,
}

impl<'db> Documents<'db> {
    pub(crate) fn new(db: &'db Database, collection: Arc<Collection>) -> Self {
        Self {
            db,
            collection,
            chunk: Vec::new().into_iter(),
            after: None,
            exhausted: false,
        }
    }

    /// The next id, fetching the next chunk from the index when needed.
    fn next_id(&mut self) -> Option<u64> {
        if let Some(id) = self.chunk.next() {
            return Some(id);
        }
        if self.exhausted {
            return None;
        }
        let chunk = self
            .collection
            .index
            .primary()
            .page_ids(self.after, DOCUMENTS_CHUNK);
        self.exhausted = chunk.len() < DOCUMENTS_CHUNK;
        self.after = chunk.last().copied().or(self.after);
        self.chunk = chunk.into_iter();
        self.chunk.next()
    }
}

impl Iterator for Documents<'_> {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Result<Document>> {
        loop {
            let id = self.next_id()?;
            // Deleted since the chunk was taken: skip it.
            let Some(location) = self.collection.index.primary().get(id) else {
                continue;
            };
            match self.db.read(&self.collection, id, location) {
                Ok(Some(doc)) => return Some(Ok(doc)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl std::fmt::Debug for Documents<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("collection", &self.collection.name)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
