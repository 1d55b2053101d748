//! The index writes: [`AddIndex`] and [`DropIndex`], logged as an `add index` / `drop index`
//! record (docs/FORMAT.md section 4.8) whose payload is the path. What they change once
//! committed (or applied, on a cluster node) is `crate::builds`'s.

use nyro_batch::RecordBuf;
use nyro_storage::{Location, RecordKind};

use super::Operation;
use super::batch::{Batch, CollectionView};
use crate::builds;
use crate::catalog::validate_name;
use crate::error::{DbError, Result};
use crate::query::Path;
use crate::state::State;

/// The collection and path an index write names (checked on the caller's task).
struct IndexChange {
    collection: String,
    path: String,
}

impl IndexChange {
    /// Checks a collection name and an index path (any path but `_id`).
    fn new(collection: &str, path: &str) -> Result<Self> {
        validate_name(collection)?;
        let parsed = Path::parse(path)?;
        if parsed.is_id() {
            return Err(DbError::invalid(
                "path \"_id\": the document id is always looked up directly and cannot be \
                 indexed; index another path",
            ));
        }
        Ok(Self {
            collection: collection.to_string(),
            path: path.to_string(),
        })
    }

    /// The collection as the batch sees it, which must exist.
    fn view(&self, batch: &Batch) -> Result<CollectionView> {
        batch
            .view(&self.collection)
            .ok_or_else(|| DbError::CollectionNotFound {
                collection: self.collection.clone(),
            })
    }

    /// Adds the record of the change (`kind`: add or drop index) for the collection `view`
    /// and records its indexes after it (`indexes`): the plan, its id.
    fn record(
        &self,
        kind: RecordKind,
        mut view: CollectionView,
        indexes: Vec<String>,
        batch: &mut Batch,
        records: &mut RecordBuf,
    ) -> Result<u32> {
        records.push_with(kind, view.id, 0, batch.current_seq(), |out| {
            nyro_storage::codec::encode_into(&self.path, out)
        })?;
        view.indexes = indexes;
        let id = view.id;
        batch.set_collection(&self.collection, Some(view));
        Ok(id)
    }
}

/// An index added on a path of a collection that exists, built from the stored documents
/// in the background (`crate::builds`).
pub(crate) struct AddIndex(IndexChange);

impl AddIndex {
    pub(crate) fn new(collection: &str, path: &str) -> Result<Self> {
        IndexChange::new(collection, path).map(Self)
    }
}

impl Operation for AddIndex {
    /// The collection's id.
    type Plan = u32;
    type Answer = ();

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<u32> {
        let change = &self.0;
        let view = change.view(batch)?;
        if view.indexes.contains(&change.path) {
            return Err(DbError::IndexExists {
                collection: change.collection.clone(),
                path: change.path.clone(),
            });
        }
        let mut indexes = view.indexes.clone();
        indexes.push(change.path.clone());
        indexes.sort();
        change.record(RecordKind::AddIndex, view, indexes, batch, records)
    }

    fn answer(&self, _plan: &u32) -> Option<()> {
        Some(())
    }

    fn commit(self, id: u32, state: &State, _locations: &[Location]) {
        if let Some(collection) = state.catalog.load().by_id(id).cloned() {
            builds::add(state, &collection, self.0.path);
        }
    }
}

/// The index on a path of a collection dropped, at once (a build of it stops).
pub(crate) struct DropIndex(IndexChange);

impl DropIndex {
    pub(crate) fn new(collection: &str, path: &str) -> Result<Self> {
        IndexChange::new(collection, path).map(Self)
    }
}

impl Operation for DropIndex {
    /// The collection's id.
    type Plan = u32;
    type Answer = ();

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<u32> {
        let change = &self.0;
        let view = change.view(batch)?;
        if !view.indexes.contains(&change.path) {
            return Err(DbError::IndexNotFound {
                collection: change.collection.clone(),
                path: change.path.clone(),
            });
        }
        let mut indexes = view.indexes.clone();
        indexes.retain(|p| *p != change.path);
        change.record(RecordKind::DropIndex, view, indexes, batch, records)
    }

    fn answer(&self, _plan: &u32) -> Option<()> {
        Some(())
    }

    fn commit(self, id: u32, state: &State, _locations: &[Location]) {
        if let Some(collection) = state.catalog.load().by_id(id).cloned() {
            builds::remove(state, &collection, &self.0.path);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// The payload docs/FORMAT.md section 4.8 gives as its example.
    #[test]
    fn the_record_payload_matches_format_md() {
        let mut out = Vec::new();
        nyro_storage::codec::encode_into(&"address.city".to_string(), &mut out).unwrap();
        assert_eq!(
            out,
            [
                0x0c, 0x61, 0x64, 0x64, 0x72, 0x65, 0x73, 0x73, 0x2e, 0x63, 0x69, 0x74, 0x79
            ]
        );
        assert_eq!(
            nyro_storage::codec::decode::<String>(&out).unwrap(),
            "address.city"
        );
    }
}
