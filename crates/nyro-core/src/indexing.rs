//! The one place the core talks to nyro-index: documents to index keys (for each indexed
//! path a set of keys, [`crate::query::keys`]), puts and deletes with the old document's
//! keys, and equality queries.
//!
//! The index does not remember which keys each record was indexed under (that would cost
//! memory per record); a replace or delete passes the old document's keys, read back from
//! the log through a [`DocumentView`] of the stored payload. A write reads them in its
//! `prepare` ([`stored_keys`]), before anything is appended, so that a damaged old version
//! refuses the write instead of leaving the indexes half-updated; the commit reads only a
//! version its own batch appended. Collections without secondary indexes skip that read.

use std::sync::Arc;

use nyro_index::{IndexError, IndexKey};
use nyro_storage::{Location, LogReader};
use smallvec::SmallVec;

use crate::catalog::{Collection, IndexedPaths};
use crate::damage::DamageLog;
use crate::document::{Document, Value, encode_fields};
use crate::error::{DbError, Result};
use crate::query::keys::{index_keys, key_of_value};
use crate::scan::read_stored;
use crate::types::IndexStats;
use crate::view::DocumentView;

/// A document's keys for one path.
type Keys = SmallVec<[IndexKey; 4]>;

/// The keys of a stored document under one path: what an index build puts in the index.
pub(crate) fn path_keys(path: &crate::query::Path, id: u64, payload: &[u8]) -> Result<Keys> {
    let mut keys = Keys::new();
    index_keys(&DocumentView::new(id, payload)?, path, &mut keys);
    Ok(keys)
}

/// The keys a document is indexed under: for each indexed path of its collection when they
/// were read, the set [`index_keys`] gives, with those paths: an index added or dropped
/// between a write's `prepare` and its commit is matched by name. Empty for a document not
/// stored or a collection without secondary index.
#[derive(Debug, Default)]
pub(crate) struct StoredKeys {
    indexed: Arc<IndexedPaths>,
    keys: Vec<Keys>,
}

impl StoredKeys {
    /// The keys of a document's view under each of `indexed`.
    fn of_view(indexed: Arc<IndexedPaths>, view: &DocumentView<'_>) -> Self {
        let keys = indexed
            .paths()
            .iter()
            .map(|path| {
                let mut keys = Keys::new();
                index_keys(view, path, &mut keys);
                keys
            })
            .collect();
        Self { indexed, keys }
    }

    /// The keys of the stored payload of document `id` (checked whole as a view is).
    fn of_payload(indexed: Arc<IndexedPaths>, id: u64, payload: &[u8]) -> Result<Self> {
        Ok(Self::of_view(indexed, &DocumentView::new(id, payload)?))
    }

    /// The keys of a document about to be indexed (encoded to read it as stored).
    fn of_document(indexed: Arc<IndexedPaths>, doc: &Document) -> Result<Self> {
        if indexed.is_empty() {
            return Ok(Self::default());
        }
        let mut payload = Vec::new();
        encode_fields(&doc.fields, &mut payload)?;
        Self::of_payload(indexed, doc.id.unwrap_or_default(), &payload)
    }

    /// The keys for each of `current` (the collection's indexed paths now), as the index
    /// takes them: none for a path added since they were read.
    fn with_paths<'a>(
        &'a self,
        current: &'a IndexedPaths,
    ) -> impl Iterator<Item = (&'a str, &'a [IndexKey])> {
        current.iter().map(move |name| {
            let keys = match self.indexed.iter().position(|n| n == name) {
                Some(i) => self.keys.get(i).map_or(&[][..], |keys| &keys[..]),
                None => &[][..],
            };
            (name.as_str(), keys)
        })
    }
}

/// The index keys of the document stored at `id` now, for a write's `prepare` to take it
/// out of the secondary indexes at commit; `None` if `id` is not stored. Call only for a
/// collection with secondary indexes. A damaged frame is recorded in `damage` and answered
/// as [`DbError::Corrupt`].
pub(crate) fn stored_keys(
    collection: &Collection,
    reader: &LogReader,
    damage: &DamageLog,
    id: u64,
) -> Result<Option<StoredKeys>> {
    let Some(location) = collection.index.primary().get(id) else {
        return Ok(None);
    };
    let indexed = collection.indexes();
    read_stored(reader, damage, collection, id, location, |payload| {
        StoredKeys::of_payload(Arc::clone(&indexed), id, payload)
    })
}

/// The index keys of the document stored at `id`, for a commit whose `prepare` could not
/// read them (the version is one the same batch appended) and for replay. Empty when the
/// collection has no secondary index (then nothing is read) or `id` is not stored.
fn old_keys(collection: &Collection, reader: &LogReader, id: u64) -> Result<StoredKeys> {
    let indexed = collection.indexes();
    if indexed.is_empty() {
        return Ok(StoredKeys::default());
    }
    let Some(location) = collection.index.primary().get(id) else {
        return Ok(StoredKeys::default());
    };
    reader.read_with(location, |_, payload| {
        StoredKeys::of_payload(indexed, id, payload)
    })?
}

fn index_error(collection: &Collection, id: u64, e: IndexError) -> DbError {
    DbError::Internal {
        message: format!(
            "index of collection {:?} out of step at _id {id}: {e}",
            collection.name
        ),
    }
}

/// Indexes `doc` (which has its id) at `location`. `old` holds the keys of the version it
/// replaces as the write's `prepare` read them; `None` reads them here (a version the same
/// batch appended, or none). Returns the location it replaces.
pub(crate) fn put(
    collection: &Collection,
    reader: &LogReader,
    doc: &Document,
    location: Location,
    old: Option<StoredKeys>,
) -> Result<Option<Location>> {
    let id = doc.id.unwrap_or_default();
    let old = old.map_or_else(|| old_keys(collection, reader, id), Ok)?;
    let indexed = collection.indexes();
    let new = StoredKeys::of_document(Arc::clone(&indexed), doc)?;
    collection
        .index
        .apply_put(
            id,
            location,
            old.with_paths(&indexed),
            new.with_paths(&indexed),
        )
        .map_err(|e| index_error(collection, id, e))
}

/// Indexes a document that is known to be new (an insert: its id was assigned or checked
/// absent by the writer's leader, which no other write can overtake), skipping the lookup
/// of old keys.
pub(crate) fn insert_new(
    collection: &Collection,
    doc: &Document,
    location: Location,
) -> Result<()> {
    let id = doc.id.unwrap_or_default();
    let indexed = collection.indexes();
    let new = StoredKeys::of_document(Arc::clone(&indexed), doc)?;
    let previous = collection
        .index
        .apply_put(id, location, [], new.with_paths(&indexed))
        .map_err(|e| index_error(collection, id, e))?;
    debug_assert!(previous.is_none(), "insert_new of an id that exists");
    Ok(())
}

/// Indexes the stored document `payload` of `id` at `location` (a replicated write or a
/// snapshot's). Returns the location it replaces.
pub(crate) fn put_stored(
    collection: &Collection,
    reader: &LogReader,
    id: u64,
    payload: &[u8],
    location: Location,
) -> Result<Option<Location>> {
    let old = old_keys(collection, reader, id)?;
    let indexed = collection.indexes();
    let new = if indexed.is_empty() {
        StoredKeys::default()
    } else {
        StoredKeys::of_payload(Arc::clone(&indexed), id, payload)?
    };
    collection
        .index
        .apply_put(
            id,
            location,
            old.with_paths(&indexed),
            new.with_paths(&indexed),
        )
        .map_err(|e| index_error(collection, id, e))
}

/// Removes `id` from the indexes; `old` as for [`put`]. Returns the location it had.
pub(crate) fn delete(
    collection: &Collection,
    reader: &LogReader,
    id: u64,
    old: Option<StoredKeys>,
) -> Result<Option<Location>> {
    let old = old.map_or_else(|| old_keys(collection, reader, id), Ok)?;
    let indexed = collection.indexes();
    collection
        .index
        .apply_delete(id, old.with_paths(&indexed))
        .map_err(|e| index_error(collection, id, e))
}

/// Ids and locations of the documents matching every condition, ascending, after `after`.
pub(crate) fn find(
    collection: &Collection,
    conditions: &[(String, Value)],
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, Location)>> {
    let mut query = Vec::with_capacity(conditions.len());
    for (field, value) in conditions {
        // An array's index keys are its elements, and objects are the query engine's to
        // compare: this lookup takes scalars only, as `_query` always has.
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            return Err(DbError::invalid(format!(
                "field {field:?}: equality queries take a string, number, boolean or null, not \
                 an array or object"
            )));
        }
        query.push((field.as_str(), key_of_value(value)));
    }
    let ids = collection
        .index
        .find(&query, after, limit)
        .map_err(|e| match e {
            IndexError::NotIndexed { field } => DbError::NotIndexed {
                collection: collection.name.to_string(),
                field,
            },
            IndexError::NotReady { field } => DbError::IndexNotReady {
                collection: collection.name.to_string(),
                field,
            },
            other => DbError::invalid(other.to_string()),
        })?;
    // A document deleted between the lookup and here is simply left out.
    Ok(ids
        .into_iter()
        .filter_map(|id| collection.index.primary().get(id).map(|l| (id, l)))
        .collect())
}

/// Reports the frame of every document of a dropped collection as dead.
pub(crate) fn mark_all_dead(collection: &Collection, reader: &LogReader) {
    for (_, location) in collection.index.primary().iter() {
        reader.mark_dead(location);
    }
}

/// Sizes of the collection's secondary indexes.
pub(crate) fn stats(collection: &Collection) -> Vec<IndexStats> {
    collection
        .indexes()
        .iter()
        .map(|field| IndexStats {
            field: field.clone(),
            distinct_values: collection
                .index
                .field_stats(field)
                .map_or(0, |(distinct, _)| distinct as u64),
        })
        .collect()
}
