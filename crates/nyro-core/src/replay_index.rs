//! Replay's collections: each one's document records gathered in log order while replay
//! walks the log, then resolved (the last record of each id wins) and indexed at once with
//! [`CollectionIndexes::from_sorted`] (maps sized up front, each distinct indexed value
//! decoded once), instead of one index update per record.
//!
//! The state is the one applying every record in log order gives: an id is present iff its
//! last record is a put, at that put's location, under that document's keys; every put
//! that a later record of its id replaces or deletes is reported dead, and so is every put
//! of a collection that is dropped.

use std::collections::HashMap;

use nyro_index::{CollectionIndexes, IndexError, IndexState};
use nyro_storage::{Location, LogReader};

use crate::catalog::{Collection, CollectionDef};
use crate::error::{DbError, Result};
use crate::fields::{raw_values, value_of_raw};
use crate::indexing::key_of;

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
        let trusted: Vec<String> = def
            .indexes
            .iter()
            .filter(|p| !added.contains(p))
            .cloned()
            .collect();
        let fields = &trusted;
        let index = CollectionIndexes::from_sorted(
            fields,
            &records,
            |i, slots| match bodies[i] {
                Some(body) => raw_values(body, fields, slots).map_err(BuildError),
                None => Ok(()), // resolve keeps only puts
            },
            |raw| {
                let value = value_of_raw(raw).map_err(BuildError)?;
                Ok(value.as_ref().and_then(key_of))
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
