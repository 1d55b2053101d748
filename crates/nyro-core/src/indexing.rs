//! The one place the core talks to nyro-index: documents to index keys, puts and deletes
//! with the old document's keys, and equality queries.
//!
//! The index does not remember which keys each record was indexed under (that would cost
//! memory per record); a replace or delete passes the old document's keys, which this module
//! reads back from the log. Collections without secondary indexes skip that read.

use nyro_index::{IndexError, IndexKey};
use nyro_storage::{Location, LogReader};

use crate::catalog::Collection;
use crate::database::IndexStats;
use crate::document::{Document, Value, decode_fields};
use crate::error::{DbError, Result};

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

/// `(field, key)` for every indexed field of `collection`, from a document's fields.
fn keys<'a>(
    collection: &'a Collection,
    fields: &'a [(String, Value)],
) -> impl Iterator<Item = (&'a str, Option<IndexKey>)> + 'a {
    collection.indexes.iter().map(move |field| {
        let value = fields.iter().find(|(k, _)| k == field).map(|(_, v)| v);
        (field.as_str(), value.and_then(key_of))
    })
}

/// The fields of the document currently at `id`, if the collection has secondary indexes
/// (otherwise they are not needed and not read).
fn old_fields(
    collection: &Collection,
    reader: &LogReader,
    id: u64,
) -> Result<Option<Vec<(String, Value)>>> {
    if collection.indexes.is_empty() {
        return Ok(None);
    }
    let Some(location) = collection.index.primary().get(id) else {
        return Ok(None);
    };
    let frame = reader.read(location)?;
    Ok(Some(decode_fields(frame.payload())?))
}

fn index_error(collection: &Collection, id: u64, e: IndexError) -> DbError {
    DbError::invalid(format!(
        "internal: index of collection {:?} out of step at _id {id}: {e}",
        collection.name
    ))
}

/// Indexes `doc` (which has its id) at `location`. Returns the location it replaces.
pub(crate) fn put(
    collection: &Collection,
    reader: &LogReader,
    doc: &Document,
    location: Location,
) -> Result<Option<Location>> {
    let id = doc.id.unwrap_or_default();
    let old = old_fields(collection, reader, id)?;
    let old_keys = old.as_deref().map(|fields| keys(collection, fields));
    collection
        .index
        .apply_put(id, location, old_keys.into_iter().flatten(), keys(collection, &doc.fields))
        .map_err(|e| index_error(collection, id, e))
}

/// Removes `id` from the indexes. Returns the location it had.
pub(crate) fn delete(collection: &Collection, reader: &LogReader, id: u64) -> Result<Option<Location>> {
    let old = old_fields(collection, reader, id)?;
    let old_keys = old.as_deref().map(|fields| keys(collection, fields));
    collection
        .index
        .apply_delete(id, old_keys.into_iter().flatten())
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
            other => DbError::invalid(other.to_string()),
        })?;
    // A document deleted between the lookup and here is simply left out.
    Ok(ids
        .into_iter()
        .filter_map(|id| collection.index.primary().get(id).map(|l| (id, l)))
        .collect())
}

/// Bytes of the frames of every live document of the collection.
pub(crate) fn live_bytes(collection: &Collection) -> u64 {
    collection
        .index
        .primary()
        .iter()
        .map(|(_, l)| u64::from(l.len))
        .sum()
}

/// Sizes of the collection's secondary indexes.
pub(crate) fn stats(collection: &Collection) -> Vec<IndexStats> {
    collection
        .indexes
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
