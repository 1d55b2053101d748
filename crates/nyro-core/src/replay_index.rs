//! Replay's collections: each one's document records gathered in log order while replay
//! walks the log, then resolved (the last record of each id wins) and indexed at once with
//! [`CollectionIndexes::from_sorted`], instead of one index update per record. A path of one
//! field whose value is a scalar (or missing) is given as the value's encoded bytes, so
//! each distinct value is decoded once; any other key (an array's elements, a dotted path,
//! an object) is computed from a [`DocumentView`] of the body with [`index_keys`], as a
//! write computes it.
//!
//! The state is the one applying every record in log order gives: an id is present iff its
//! last record is a put, at that put's location, under that document's keys; every put
//! that a later record of its id replaces or deletes is reported dead, and so is every put
//! of a collection that is dropped.

use std::collections::HashMap;

use nyro_index::{BulkKey, CollectionIndexes, IndexError, IndexKey, IndexState};
use nyro_storage::{Location, LogReader};
use smallvec::SmallVec;

use crate::catalog::{Collection, CollectionDef, IndexedPaths};
use crate::error::{DbError, Result};
use crate::fields::{is_scalar, raw_values, value_of_raw};
use crate::query::Path;
use crate::query::keys::{index_keys, key_of_value};
use crate::view::DocumentView;

/// A collection as replay has met it so far: its definition and its document records in
/// log order, as two parallel lists (resolved in place at the end, so that replay holds no
/// third copy): each record's id and location, and its body (a put's payload, or a hint's
/// body for it; `None` for a delete).
pub(crate) struct Gathered<'a> {
    pub(crate) def: CollectionDef,
    /// The indexes in `def` that an `add index` record added after the collection was
    /// created: a hint's body for a document may lack their fields (it keeps the fields the
    /// collection indexed when the hint was written), so they are built from the documents
    /// themselves once the database is open (`crate::builds::build_now`).
    added: Vec<String>,
    id: u32,
    records: Vec<(u64, Location)>,
    bodies: Vec<Option<&'a [u8]>>,
}

/// Replay's live collections, by id.
pub(crate) type GatheredCatalog<'a> = HashMap<u32, Gathered<'a>>;

/// [`CollectionIndexes::from_sorted`]'s error: a stored document that does not decode, or
/// records the resolution left out of order (a bug).
struct BuildError(DbError);

impl From<IndexError> for BuildError {
    fn from(e: IndexError) -> Self {
        BuildError(DbError::Internal {
            message: format!("rebuilding an index on open: {e}"),
        })
    }
}

impl<'a> Gathered<'a> {
    /// A collection created by a record with this definition; refused as
    /// [`Collection::new`] refuses it.
    pub(crate) fn new(id: u32, def: CollectionDef) -> Result<Self> {
        CollectionIndexes::new(&def.indexes)
            .map_err(|e| DbError::invalid(format!("collection {:?}: {e}", def.name)))?;
        Ok(Self {
            def,
            added: Vec::new(),
            id,
            records: Vec::new(),
            bodies: Vec::new(),
        })
    }

    /// An `add index` record: `path` is indexed from here on. One that is indexed already is
    /// left as it is (a log `nyrodb repair` lost records of can hold one).
    pub(crate) fn add_index(&mut self, path: String) {
        if self.def.indexes.contains(&path) {
            tracing::warn!(
                collection = self.def.name,
                path,
                "an index is added twice in the log"
            );
            return;
        }
        self.def.indexes.push(path.clone());
        self.def.indexes.sort();
        self.added.push(path);
    }

    /// A `drop index` record. One of a path not indexed is ignored (as above).
    pub(crate) fn drop_index(&mut self, path: &str) {
        if !self.def.indexes.iter().any(|p| p == path) {
            tracing::warn!(
                collection = self.def.name,
                path,
                "the log drops an index it never added"
            );
            return;
        }
        self.def.indexes.retain(|p| p != path);
        self.added.retain(|p| p != path);
    }

    /// A put (insert or replace) of `id` at `location`.
    pub(crate) fn put(&mut self, id: u64, location: Location, body: &'a [u8]) {
        self.records.push((id, location));
        self.bodies.push(Some(body));
    }

    /// A delete of `id` (of nothing if it is absent then).
    pub(crate) fn delete(&mut self, id: u64, location: Location) {
        self.records.push((id, location));
        self.bodies.push(None);
    }

    /// The collection is dropped: every put of it is dead.
    pub(crate) fn dropped(self, reader: &LogReader) {
        for ((_, location), body) in self.records.iter().zip(&self.bodies) {
            if body.is_some() {
                reader.mark_dead(*location);
            }
        }
    }

    /// Sorts the records by id, the records of one id kept in log order (in place when
    /// they are in id order already, as they are when ids were assigned).
    fn sort(&mut self) {
        if self.records.windows(2).all(|w| w[0].0 <= w[1].0) {
            return;
        }
        let mut order: Vec<u32> = (0..self.records.len() as u32).collect();
        order.sort_by_key(|&i| self.records[i as usize].0); // stable
        self.records = order.iter().map(|&i| self.records[i as usize]).collect();
        self.bodies = order.iter().map(|&i| self.bodies[i as usize]).collect();
    }

    /// Keeps, of each id, only its last record, and only if it is a put; reports the puts
    /// dropped as dead. Expects the records sorted ([`Gathered::sort`]).
    fn resolve(&mut self, reader: &LogReader) {
        let len = self.records.len();
        let mut kept = 0;
        for i in 0..len {
            let (id, location) = self.records[i];
            let last_of_id = self.records.get(i + 1).is_none_or(|next| next.0 != id);
            match (last_of_id, self.bodies[i]) {
                (true, Some(body)) => {
                    self.records[kept] = (id, location);
                    self.bodies[kept] = Some(body);
                    kept += 1;
                }
                (false, Some(_)) => reader.mark_dead(location),
                (_, None) => {}
            }
        }
        self.records.truncate(kept);
        self.bodies.truncate(kept);
    }

    /// The collection with its indexes, as applying its records in order leaves it, but for
    /// the indexes added after its creation: those are returned, in state building, to be
    /// built from the documents ([`Gathered::added`]).
    pub(crate) fn build(mut self, reader: &LogReader) -> Result<(Collection, Vec<String>)> {
        self.sort();
        self.resolve(reader);
        let Gathered {
            def,
            added,
            id,
            records,
            bodies,
        } = self;
        // Indexes added after the collection's creation are built from the documents once
        // the database is open (a hint's body may predate them): only the others here.
        let trusted: Vec<String> = def
            .indexes
            .iter()
            .filter(|p| !added.contains(p))
            .cloned()
            .collect();
        let paths = IndexedPaths::new(trusted);
        // The paths of one field, looked up in one pass over each body's top level.
        let fields: Vec<String> = paths
            .paths()
            .iter()
            .filter(|p| p.segments().len() == 1)
            .map(|p| p.as_str().to_owned())
            .collect();
        let index = CollectionIndexes::from_sorted(
            &paths[..],
            &records,
            |i, emit| match bodies[i] {
                Some(body) => body_keys(paths.paths(), &fields, records[i].0, body, emit),
                None => Ok(()), // resolve keeps only puts
            },
            |raw| match value_of_raw(raw).map_err(BuildError)? {
                Some(value) => Ok(key_of_value(&value)),
                None => Err(BuildError(DbError::Internal {
                    message: "rebuilding an index on open: an encoded key is not a scalar".into(),
                })),
            },
        )
        .map_err(|BuildError(e)| e)?;
        let mut to_build = Vec::new();
        for path in added {
            let state = index.add_path(&path).map_err(|e| DbError::Internal {
                message: format!("collection {:?}: {e}", def.name),
            })?;
            if state == IndexState::Building {
                to_build.push(path);
            }
        }
        Ok((Collection::with_index(id, def, index), to_build))
    }
}

/// Gives `emit` the keys of the document `id` stored as `body` for each of `paths`
/// (`fields`: the paths of one field, in order): a one-field path's scalar value as its
/// encoded bytes, its absence as null, every other key built from a view of the body.
fn body_keys<'a>(
    paths: &[Path],
    fields: &[String],
    id: u64,
    body: &'a [u8],
    emit: &mut dyn FnMut(usize, BulkKey<'a>),
) -> std::result::Result<(), BuildError> {
    let mut raw: SmallVec<[Option<&'a [u8]>; 4]> = SmallVec::from_elem(None, fields.len());
    raw_values(body, fields, &mut raw).map_err(BuildError)?;
    let mut view = None;
    let mut keys = SmallVec::<[IndexKey; 4]>::new();
    let mut field = 0;
    for (slot, path) in paths.iter().enumerate() {
        if path.segments().len() == 1 {
            let value = raw[field];
            field += 1;
            match value {
                None => {
                    emit(slot, BulkKey::Key(IndexKey::NULL));
                    continue;
                }
                Some(bytes) if is_scalar(bytes) => {
                    emit(slot, BulkKey::Encoded(bytes));
                    continue;
                }
                Some(_) => {}
            }
        }
        let view = match view {
            Some(view) => view,
            None => *view.insert(DocumentView::new(id, body).map_err(BuildError)?),
        };
        index_keys(&view, path, &mut keys);
        for key in keys.drain(..) {
            emit(slot, BulkKey::Key(key));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::document::{Value, encode_fields};

    /// A value that is often an object or an array of objects with fields `a` and `b`.
    fn nested() -> impl Strategy<Value = Value> {
        let field = || ("[ab]", crate::view::tests::value());
        prop_oneof![
            crate::view::tests::value(),
            prop::collection::vec(field(), 0..4).prop_map(Value::Object),
            prop::collection::vec(
                prop::collection::vec(field(), 0..3).prop_map(Value::Object),
                0..4
            )
            .prop_map(Value::Array),
        ]
    }

    proptest! {
        /// Replay's keys (encoded scalars decoded, the rest built from a view) are the keys
        /// a write computes with `index_keys`, for every path.
        #[test]
        fn body_keys_are_index_keys(fields in prop::collection::vec(("[ab]", nested()), 0..4)) {
            let mut body = Vec::new();
            encode_fields(&fields, &mut body).unwrap();
            let names = ["a", "b", "a.b", "b.a", "a.a.b"];
            let paths: Vec<Path> = names.iter().map(|n| Path::parse(n).unwrap()).collect();
            let one_field: Vec<String> =
                ["a", "b"].iter().map(|n| (*n).to_string()).collect();
            let mut got: Vec<Vec<IndexKey>> = vec![Vec::new(); paths.len()];
            body_keys(&paths, &one_field, 9, &body, &mut |slot, key| {
                got[slot].push(match key {
                    BulkKey::Key(key) => key,
                    BulkKey::Encoded(raw) => {
                        key_of_value(&value_of_raw(raw).unwrap().unwrap())
                    }
                });
            })
            .map_err(|BuildError(e)| e)
            .unwrap();
            let view = DocumentView::new(9, &body).unwrap();
            for ((path, mut got), name) in paths.iter().zip(got).zip(names) {
                got.sort();
                got.dedup();
                let mut want = SmallVec::<[IndexKey; 4]>::new();
                index_keys(&view, path, &mut want);
                prop_assert_eq!(&got[..], &want[..], "path {}", name);
            }
        }
    }
}
