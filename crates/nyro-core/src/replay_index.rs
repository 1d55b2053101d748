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

use nyro_index::{CollectionIndexes, IndexError};
use nyro_storage::{Location, LogReader};

use crate::catalog::{Collection, CollectionDef};
use crate::error::{DbError, Result};
use crate::fields::{raw_values, value_of_raw};
use crate::indexing::key_of;

/// One document record: a put (`body` its payload, or a hint's body for it) or a delete.
struct Op<'a> {
    id: u64,
    location: Location,
    body: Option<&'a [u8]>,
}

/// A collection as replay has met it so far: its definition and its document records.
pub(crate) struct Gathered<'a> {
    pub(crate) def: CollectionDef,
    id: u32,
    ops: Vec<Op<'a>>,
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
            id,
            ops: Vec::new(),
        })
    }

    /// A put (insert or replace) of `id` at `location`.
    pub(crate) fn put(&mut self, id: u64, location: Location, body: &'a [u8]) {
        self.ops.push(Op {
            id,
            location,
            body: Some(body),
        });
    }

    /// A delete of `id` (of nothing if it is absent then).
    pub(crate) fn delete(&mut self, id: u64, location: Location) {
        self.ops.push(Op {
            id,
            location,
            body: None,
        });
    }

    /// The collection is dropped: every put of it is dead.
    pub(crate) fn dropped(self, reader: &LogReader) {
        for op in &self.ops {
            if op.body.is_some() {
                reader.mark_dead(op.location);
            }
        }
    }

    /// The collection with its indexes, as applying its records in order leaves it.
    pub(crate) fn build(self, reader: &LogReader) -> Result<Collection> {
        let Gathered { def, id, mut ops } = self;
        // Stable: the records of one id stay in log order (and a sorted log costs one pass).
        ops.sort_by_key(|op| op.id);
        let mut records = Vec::with_capacity(ops.len());
        let mut bodies = Vec::with_capacity(ops.len());
        for same_id in ops.chunk_by(|a, b| a.id == b.id) {
            let Some((last, earlier)) = same_id.split_last() else {
                continue;
            };
            for op in earlier.iter().filter(|op| op.body.is_some()) {
                reader.mark_dead(op.location);
            }
            if let Some(body) = last.body {
                records.push((last.id, last.location));
                bodies.push(body);
            }
        }
        drop(ops);
        let fields = &def.indexes;
        let index = CollectionIndexes::from_sorted(
            fields,
            &records,
            |i, slots| raw_values(bodies[i], fields, slots).map_err(BuildError),
            |raw| {
                let value = value_of_raw(raw).map_err(BuildError)?;
                Ok(value.as_ref().and_then(key_of))
            },
        )
        .map_err(|BuildError(e)| e)?;
        Ok(Collection::with_index(id, def, index))
    }
}
