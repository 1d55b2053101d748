//! The catalog writes: [`CreateCollection`] and [`DropCollection`].

use nyro_batch::RecordBuf;
use nyro_storage::{Location, RecordKind};

use super::Operation;
use super::batch::{Batch, Target};
use super::commit::open_target;
use crate::catalog::{Catalog, normalize_indexes, validate_name};
use crate::error::{DbError, Result};
use crate::indexing;
use crate::state::State;
use crate::types::Created;

/// A collection created with indexes on the given top-level fields. One that exists with
/// the same indexes is left as it is; with other indexes it is a conflict.
pub(crate) struct CreateCollection {
    name: String,
    indexes: Vec<String>,
}

impl CreateCollection {
    pub(crate) fn new(name: &str, indexes: &[String]) -> Result<Self> {
        validate_name(name)?;
        Ok(Self {
            indexes: normalize_indexes(name, indexes)?,
            name: name.to_string(),
        })
    }
}

impl Operation for CreateCollection {
    /// The collection it creates; `None` when it exists already.
    type Plan = Option<Target>;
    type Answer = Created;

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<Option<Target>> {
        match batch.view(&self.name) {
            Some(view) if view.indexes == self.indexes => Ok(None),
            Some(view) => Err(DbError::CollectionExists {
                collection: self.name.clone(),
                indexes: view.indexes,
                requested: self.indexes.clone(),
            }),
            None => batch
                .create(&self.name, self.indexes.clone(), records)
                .map(Some),
        }
    }

    fn answer(&self, plan: &Option<Target>) -> Option<Created> {
        Some(match plan {
            Some(_) => Created::Created,
            None => Created::Existed,
        })
    }

    fn commit(self, plan: Option<Target>, state: &State, locations: &[Location]) -> Created {
        match plan {
            Some(target) => {
                open_target(state, target, &mut locations.iter().copied());
                Created::Created
            }
            None => Created::Existed,
        }
    }
}

/// A collection dropped, with every document in it.
pub(crate) struct DropCollection {
    name: String,
}

impl DropCollection {
    pub(crate) fn new(name: &str) -> Result<Self> {
        validate_name(name)?;
        Ok(Self {
            name: name.to_string(),
        })
    }
}

impl Operation for DropCollection {
    /// The dropped collection's id.
    type Plan = u32;
    type Answer = ();

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<u32> {
        let id = batch
            .collection_id(&self.name)
            .ok_or_else(|| DbError::CollectionNotFound {
                collection: self.name.clone(),
            })?;
        records.push(RecordKind::DropCollection, id, 0, batch.current_seq(), &[]);
        batch.set_collection(&self.name, None);
        Ok(id)
    }

    fn answer(&self, _plan: &u32) -> Option<()> {
        Some(())
    }

    fn commit(self, id: u32, state: &State, _locations: &[Location]) {
        let Some(dropped) = state.catalog.load().by_id(id).cloned() else {
            return; // created and dropped in the same batch: nothing was visible
        };
        state.builds.cancel(id, None);
        indexing::mark_all_dead(&dropped, &state.reader);
        state.catalog.rcu(|catalog| {
            let mut catalog = Catalog::clone(catalog);
            catalog.remove(id);
            catalog
        });
    }
}
