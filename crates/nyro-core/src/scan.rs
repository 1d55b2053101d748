//! Reading documents from the log: [`read_document`] (one, at the location the index gives)
//! and [`Documents`], a collection's documents in ascending id order, read lazily, for
//! scans and exports that must not hold a whole collection (or a whole page of it) in
//! memory.

use std::sync::Arc;

use nyro_storage::{Location, LogReader, NO_SUCH_SEGMENT, ReadSnapshot, StorageError};

use crate::catalog::Collection;
use crate::damage::DamageLog;
use crate::document::Document;
use crate::error::Result;
use crate::view::DocumentView;

/// Reads document `id` of `collection` at `location`. `None` if it was deleted meanwhile. A
/// location whose segment compaction just retired is looked up again: the index points at
/// the copy by then. A damaged frame is recorded in `damage` and answered as
/// [`DbError::Corrupt`](crate::DbError::Corrupt).
pub(crate) fn read_document(
    reader: &LogReader,
    damage: &DamageLog,
    collection: &Collection,
    id: u64,
    location: Location,
) -> Result<Option<Document>> {
    read_stored(reader, damage, collection, id, location, |payload| {
        Ok(DocumentView::new(id, payload)?.to_document())
    })
}

/// What `decode` makes of the stored payload of document `id` of `collection` at
/// `location`, as [`read_document`] reads it (a retired segment looked up again, damage
/// recorded and answered as [`DbError::Corrupt`](crate::DbError::Corrupt)). `None` if the
/// document was deleted meanwhile.
pub(crate) fn read_stored<T>(
    reader: &LogReader,
    damage: &DamageLog,
    collection: &Collection,
    id: u64,
    location: Location,
    decode: impl FnMut(&[u8]) -> Result<T>,
) -> Result<Option<T>> {
    read_stored_in(reader, None, damage, collection, id, location, decode)
}

/// [`read_stored`], reading first against `snapshot` (taken after `location` was taken
/// from the index) when one is given: a scan reads a chunk of documents against one load
/// of the segment table. A location the snapshot does not hold is looked up again and
/// read against the current table, as [`read_stored`] does.
pub(crate) fn read_stored_in<T>(
    reader: &LogReader,
    mut snapshot: Option<&mut ReadSnapshot>,
    damage: &DamageLog,
    collection: &Collection,
    id: u64,
    mut location: Location,
    mut decode: impl FnMut(&[u8]) -> Result<T>,
) -> Result<Option<T>> {
    let mut tries = 0;
    loop {
        let read = match snapshot.as_deref_mut().filter(|_| tries == 0) {
            Some(snapshot) => snapshot.read_with(location, |_, payload| decode(payload)),
            None => reader.read_with(location, |_, payload| decode(payload)),
        };
        match read {
            Ok(value) => return value.map(Some),
            Err(StorageError::BadLocation { reason, .. })
                if reason == NO_SUCH_SEGMENT && tries < 3 =>
            {
                tries += 1;
                match collection.index.primary().get(id) {
                    Some(moved) => location = moved,
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(damage.read_error(reader, e, &collection.name, id)),
        }
    }
}

/// Ids taken from the primary index at a time by [`Documents`].
pub const DOCUMENTS_CHUNK: usize = 1024;

/// The iterator [`Database::documents`](crate::Database::documents) returns: each document of a collection, ascending by
/// id, looked up and decoded when `next` reaches it (so a document deleted before then is
/// skipped, and one replaced before then comes in its new version). An error (a damaged
/// frame) is returned once, and the iteration goes on after it.
pub struct Documents<'db> {
    reader: &'db LogReader,
    damage: &'db DamageLog,
    collection: Arc<Collection>,
    /// The ids of the current chunk, in order.
    chunk: std::vec::IntoIter<u64>,
    /// The last id taken from the index: the next chunk starts after it.
    after: Option<u64>,
    /// The index had no id after `after`.
    exhausted: bool,
}

impl<'db> Documents<'db> {
    pub(crate) fn new(
        reader: &'db LogReader,
        damage: &'db DamageLog,
        collection: Arc<Collection>,
    ) -> Self {
        Self {
            reader,
            damage,
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
            match read_document(self.reader, self.damage, &self.collection, id, location) {
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
