//! The one place the core talks to nyro-index: documents to index keys, puts and deletes
//! with the old document's keys, and equality queries.
//!
//! The index does not remember which keys each record was indexed under (that would cost
//! memory per record); a replace or delete passes the old document's keys, read back from
//! the log, decoding only the indexed fields (`fields::scalars`). A write reads them in its
//! `prepare` ([`stored_keys`]), before anything is appended, so that a damaged old version
//! refuses the write instead of leaving the indexes half-updated; the commit reads only a
//! version its own batch appended. Collections without secondary indexes skip that read.

use std::sync::Arc;

use nyro_index::{IndexError, IndexKey};
use nyro_storage::{Location, LogReader};

use crate::catalog::Collection;
use crate::damage::DamageLog;
use crate::document::{Document, Value};
use crate::error::{DbError, Result};
use crate::fields::scalars;
use crate::scan::read_stored;
use crate::types::IndexStats;

/// The index key of a value, if it is a scalar.
pub(crate) fn key_of(value: &Value) -> Option<IndexKey> {
    Some(match value {
        Value::Null => IndexKey::null(),
        Value::Bool(b) => IndexKey::from(*b),
        Value::Int(i) => IndexKey::from(*i),
        Value::UInt(u) => IndexKey::from(*u),
        Value::Float(f) => IndexKey::from(*f),
        Value::String(s) => IndexKey::from(s.as_str()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// `(field, key)` for every one of `fields`, from a document's fields (the last occurrence
/// of a repeated name wins, as in `Document::get`).
fn doc_keys<'a>(
    fields: &'a [String],
    doc: &'a [(String, Value)],
) -> impl Iterator<Item = (&'a str, Option<IndexKey>)> + 'a {
    fields.iter().map(move |field| {
        let value = doc.iter().rev().find(|(k, _)| k == field).map(|(_, v)| v);
        (field.as_str(), value.and_then(key_of))
    })
}

/// `(field, key)` for every one of `fields`, read from a stored payload without decoding
/// the rest of the document.
fn payload_keys<'a>(
    fields: &'a [String],
    payload: &[u8],
) -> Result<impl Iterator<Item = (&'a str, Option<IndexKey>)> + 'a> {
    let values = scalars(payload, fields)?;
    Ok(fields
        .iter()
        .zip(values)
        .map(|(field, value)| (field.as_str(), value.as_ref().and_then(key_of))))
}

/// The key of a stored document under the one path of `paths`, read as a write reads it
/// ([`payload_keys`]): what an index build puts in the index.
pub(crate) fn path_key(paths: &[String], payload: &[u8]) -> Result<Option<IndexKey>> {
    Ok(payload_keys(paths, payload)?
        .next()
        .and_then(|(_, key)| key))
}

/// The keys a stored document is indexed under: one per indexed field of its collection
/// when they were read (`None`: the document lacks the field or its value is not a
/// scalar), with those fields: an index added or dropped between a write's `prepare` and
/// its commit is matched by name. Empty for a document not stored or a collection without
/// secondary index.
#[derive(Debug, Default)]
pub(crate) struct StoredKeys {
    fields: Arc<Vec<String>>,
    keys: Vec<Option<IndexKey>>,
}

impl StoredKeys {
    /// Reads them from a stored payload without decoding the rest of the document.
    fn of_payload(fields: Arc<Vec<String>>, payload: &[u8]) -> Result<Self> {
        let keys = payload_keys(&fields, payload)?
            .map(|(_, key)| key)
            .collect();
        Ok(Self { fields, keys })
    }

    /// The key of the document for each of `current` (the collection's indexed fields now),
    /// as the index takes them: `None` for a field added since they were read.
    fn with_fields(self, current: &[String]) -> impl Iterator<Item = (&str, Option<IndexKey>)> {
        let Self { fields, mut keys } = self;
        current.iter().map(move |field| {
            let key = match fields.iter().position(|f| f == field) {
                Some(i) => keys.get_mut(i).and_then(Option::take),
                None => None,
            };
            (field.as_str(), key)
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
    let fields = collection.indexes();
    read_stored(reader, damage, collection, id, location, |payload| {
        StoredKeys::of_payload(Arc::clone(&fields), payload)
    })
}

/// The index keys of the document stored at `id`, for a commit whose `prepare` could not
/// read them (the version is one the same batch appended) and for replay. Empty when the
/// collection has no secondary index (then nothing is read) or `id` is not stored.
fn old_keys(collection: &Collection, reader: &LogReader, id: u64) -> Result<StoredKeys> {
    let fields = collection.indexes();
    if fields.is_empty() {
        return Ok(StoredKeys::default());
    }
    let Some(location) = collection.index.primary().get(id) else {
        return Ok(StoredKeys::default());
    };
    reader.read_with(location, |_, payload| {
        StoredKeys::of_payload(fields, payload)
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
    let fields = collection.indexes();
    collection
        .index
        .apply_put(
            id,
            location,
            old.with_fields(&fields),
            doc_keys(&fields, &doc.fields),
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
    let old: [(&str, Option<IndexKey>); 0] = [];
    let fields = collection.indexes();
    let previous = collection
        .index
        .apply_put(id, location, old, doc_keys(&fields, &doc.fields))
        .map_err(|e| index_error(collection, id, e))?;
    debug_assert!(previous.is_none(), "insert_new of an id that exists");
    Ok(())
}

/// Indexes the stored document `payload` of `id` at `location` (replay: nothing is decoded
/// but the indexed fields). Returns the location it replaces.
pub(crate) fn put_stored(
    collection: &Collection,
    reader: &LogReader,
    id: u64,
    payload: &[u8],
    location: Location,
) -> Result<Option<Location>> {
    let old = old_keys(collection, reader, id)?;
    let fields = collection.indexes();
    let new = payload_keys(&fields, payload)?;
    collection
        .index
        .apply_put(id, location, old.with_fields(&fields), new)
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
    let fields = collection.indexes();
    collection
        .index
        .apply_delete(id, old.with_fields(&fields))
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
        let key = key_of(value).ok_or_else(|| {
            DbError::invalid(format!(
                "field {field:?}: equality queries take a string, number, boolean or null, not \
                 an array or object"
            ))
        })?;
        query.push((field.as_str(), key));
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
