//! The document writes: [`Insert`] (one or many documents), [`Replace`] (replace or create
//! each) and [`Delete`]. Each is checked and encoded on the caller's task by its `new`.

use std::collections::{HashMap, HashSet};

use nyro_batch::RecordBuf;
use nyro_storage::{Location, RecordKind};

use super::Operation;
use super::batch::{Batch, FastHash, Target};
use super::commit::{Written, index_written, open_target, publish};
use super::encoded::Payloads;
use crate::catalog::{Collection, validate_name};
use crate::document::Document;
use crate::error::{DbError, Result};
use crate::feed::{ChangeEvent, ChangeOp};
use crate::indexing::{self, StoredKeys};
use crate::state::State;
use crate::types::{InsertedMany, Replaced};

/// Documents inserted all or nothing, each with the id it carries or the next one of the
/// collection. Creates the collection if missing.
pub(crate) struct Insert {
    collection: String,
    docs: Vec<Document>,
    payloads: Payloads,
}

impl Insert {
    /// Checks the documents and encodes them (on the caller's task).
    pub(crate) fn new(collection: &str, docs: Vec<Document>) -> Result<Self> {
        validate_name(collection)?;
        if docs.is_empty() {
            return Err(DbError::invalid(
                "nothing to insert: the list of documents is empty",
            ));
        }
        // The element is named only when there are several (as `Replace::new` and the
        // encoding do): a lone document's error is about the document.
        let several = docs.len() > 1;
        for (index, doc) in docs.iter().enumerate() {
            doc.validate()
                .map_err(|e| if several { e.at_element(index) } else { e })?;
        }
        Ok(Self {
            collection: collection.to_string(),
            payloads: Payloads::encode(&docs)?,
            docs,
        })
    }
}

/// What an insert's `prepare` decided. The documents carry their ids from then on.
pub(crate) struct InsertPlan {
    target: Target,
    /// The last document's seq; the documents' seqs are consecutive.
    last_seq: u64,
}

impl Operation for Insert {
    type Plan = InsertPlan;
    type Answer = InsertedMany;

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<InsertPlan> {
        let target = batch.resolve_or_create(&self.collection, records)?;
        let coll = target.id;
        let committed = batch.committed(coll);
        let several = self.docs.len() > 1;
        let given = self.docs.iter().filter(|d| d.id.is_some()).count();
        let mut seen = HashMap::with_capacity_and_hasher(given, FastHash::default());
        for (index, doc) in self.docs.iter().enumerate() {
            let Some(id) = doc.id else { continue };
            let first = seen.insert(id, index);
            if first.is_some() || batch.exists_in(committed.as_deref(), coll, id) {
                return Err(DbError::Conflict {
                    collection: self.collection.clone(),
                    id,
                    element: several.then_some(index),
                    first,
                });
            }
        }
        batch.save_next_id(coll);
        let mut last_seq = 0;
        let mut payloads = self.payloads.move_into(records);
        for doc in &mut self.docs {
            let exhausted = || DbError::IdsExhausted {
                collection: self.collection.clone(),
            };
            let mut id = batch.assign_id(coll, doc.id).ok_or_else(exhausted)?;
            // An assigned id must not be one that another element of the request gives
            // (`[{}, {"_id": 1}]` in an empty collection would write id 1 twice).
            while doc.id.is_none() && seen.contains_key(&id) {
                id = batch.assign_id(coll, None).ok_or_else(exhausted)?;
            }
            last_seq = batch.take_seq();
            payloads.push(records, RecordKind::Put, coll, id, last_seq)?;
            doc.id = Some(id);
        }
        for doc in &self.docs {
            batch.set_exists(coll, doc.id.unwrap_or_default(), true);
        }
        Ok(InsertPlan { target, last_seq })
    }

    fn answer(&self, plan: &InsertPlan) -> Option<InsertedMany> {
        Some(InsertedMany {
            ids: self.docs.iter().map(|d| d.id.unwrap_or_default()).collect(),
            seq: plan.last_seq,
        })
    }

    fn commit(self, plan: InsertPlan, state: &State, locations: &[Location]) -> InsertedMany {
        let mut locations = locations.iter().copied();
        let collection = open_target(state, plan.target, &mut locations);
        let ids: Vec<u64> = self.docs.iter().map(|d| d.id.unwrap_or_default()).collect();
        if let Some(c) = &collection {
            index_written(state, c, &self.docs, &mut locations, Written::New);
            let first_seq = plan.last_seq + 1 - self.docs.len() as u64;
            for (seq, doc) in (first_seq..).zip(self.docs) {
                publish(
                    state,
                    ChangeEvent {
                        seq,
                        op: ChangeOp::Insert,
                        collection: c.name.clone(),
                        id: doc.id.unwrap_or_default(),
                        doc: Some(doc),
                        matches: None,
                    },
                );
            }
        }
        InsertedMany {
            ids,
            seq: plan.last_seq,
        }
    }
}

/// Documents replaced or created, each at the id it carries, all or nothing, in order (a
/// later document with the same id replaces an earlier one). Creates the collection if
/// missing.
pub(crate) struct Replace {
    collection: String,
    docs: Vec<Document>,
    payloads: Payloads,
}

impl Replace {
    /// Checks the documents (each needs its id) and encodes them (on the caller's task).
    pub(crate) fn new(collection: &str, docs: Vec<Document>) -> Result<Self> {
        validate_name(collection)?;
        if docs.is_empty() {
            return Err(DbError::invalid(
                "nothing to replace: the list of documents is empty",
            ));
        }
        let several = docs.len() > 1;
        for (index, doc) in docs.iter().enumerate() {
            let element = |e: DbError| if several { e.at_element(index) } else { e };
            doc.validate().map_err(element)?;
            if doc.id.is_none() {
                return Err(element(DbError::invalid(
                    "a replaced document needs its _id",
                )));
            }
        }
        Ok(Self {
            collection: collection.to_string(),
            payloads: Payloads::encode(&docs)?,
            docs,
        })
    }
}

/// What a replace's `prepare` decided.
pub(crate) struct ReplacePlan {
    target: Target,
    last_seq: u64,
    /// Per document, whether it is new.
    created: Vec<bool>,
    /// Per document, the keys of the version it replaces (empty without secondary indexes).
    old: Vec<Option<StoredKeys>>,
}

impl Replace {
    /// Per document, the keys of the version it replaces, read before the request changes
    /// anything in the batch (a damaged one refuses the whole request). A document with
    /// the id of an earlier one of the request replaces that one: the commit reads it.
    fn old_keys(&self, batch: &Batch, collection: &Collection) -> Result<Vec<Option<StoredKeys>>> {
        if let [doc] = self.docs.as_slice() {
            return Ok(vec![
                batch.old_keys(collection, doc.id.unwrap_or_default())?,
            ]);
        }
        let mut seen = HashSet::with_capacity_and_hasher(self.docs.len(), FastHash::default());
        self.docs
            .iter()
            .map(|doc| {
                let id = doc.id.unwrap_or_default();
                if seen.insert(id) {
                    batch.old_keys(collection, id)
                } else {
                    Ok(None)
                }
            })
            .collect()
    }
}

impl Operation for Replace {
    type Plan = ReplacePlan;
    type Answer = Vec<Replaced>;

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<ReplacePlan> {
        let target = batch.resolve_or_create(&self.collection, records)?;
        let coll = target.id;
        let committed = batch.committed(coll);
        let old = match committed.as_deref() {
            Some(c) if c.has_indexes() => self.old_keys(batch, c)?,
            _ => Vec::new(),
        };
        batch.save_next_id(coll);
        let mut created = Vec::with_capacity(self.docs.len());
        let mut last_seq = 0;
        let mut payloads = self.payloads.move_into(records);
        // The batch learns of each document as it goes, as a later document with the same id
        // must; should anything below fail, rolling back the request takes that back too.
        for doc in &self.docs {
            let id = doc.id.unwrap_or_default();
            let new = !batch.exists_in(committed.as_deref(), coll, id);
            batch.assign_id(coll, Some(id));
            last_seq = batch.take_seq();
            // A replace of an existing document says so in the log, so the change feed can
            // tell it from an insert even after compaction removed the old version.
            let kind = if new {
                RecordKind::Put
            } else {
                RecordKind::Replace
            };
            payloads.push(records, kind, coll, id, last_seq)?;
            created.push(new);
            batch.set_exists(coll, id, true);
        }
        Ok(ReplacePlan {
            target,
            last_seq,
            created,
            old,
        })
    }

    fn answer(&self, plan: &ReplacePlan) -> Option<Vec<Replaced>> {
        let first_seq = plan.last_seq + 1 - self.docs.len() as u64;
        let answer = (first_seq..)
            .zip(&self.docs)
            .zip(&plan.created)
            .map(|((seq, doc), &created)| Replaced {
                id: doc.id.unwrap_or_default(),
                seq,
                created,
            })
            .collect();
        Some(answer)
    }

    fn commit(self, plan: ReplacePlan, state: &State, locations: &[Location]) -> Vec<Replaced> {
        let mut locations = locations.iter().copied();
        let collection = open_target(state, plan.target, &mut locations);
        if let Some(c) = &collection {
            let written = Written::Replacing(plan.old);
            index_written(state, c, &self.docs, &mut locations, written);
        }
        let first_seq = plan.last_seq + 1 - self.docs.len() as u64;
        let mut replaced = Vec::with_capacity(self.docs.len());
        for ((seq, doc), created) in (first_seq..).zip(self.docs).zip(plan.created) {
            let id = doc.id.unwrap_or_default();
            if let Some(c) = &collection {
                let op = if created {
                    ChangeOp::Insert
                } else {
                    ChangeOp::Update
                };
                let doc = Some(doc);
                let collection = c.name.clone();
                publish(
                    state,
                    ChangeEvent {
                        seq,
                        op,
                        collection,
                        id,
                        doc,
                        matches: None,
                    },
                );
            }
            replaced.push(Replaced { id, seq, created });
        }
        replaced
    }
}

/// A document deleted (a tombstone in the log).
pub(crate) struct Delete {
    collection: String,
    id: u64,
}

impl Delete {
    pub(crate) fn new(collection: &str, id: u64) -> Result<Self> {
        validate_name(collection)?;
        Ok(Self {
            collection: collection.to_string(),
            id,
        })
    }
}

/// What a delete's `prepare` decided: the collection's id, the tombstone's seq and the
/// keys the deleted version is indexed under (`None` without secondary indexes).
pub(crate) struct DeletePlan {
    collection: u32,
    seq: u64,
    old: Option<StoredKeys>,
}

impl Operation for Delete {
    type Plan = DeletePlan;
    type Answer = u64;

    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<DeletePlan> {
        let not_found = || DbError::CollectionNotFound {
            collection: self.collection.clone(),
        };
        let coll = batch
            .collection_id(&self.collection)
            .ok_or_else(not_found)?;
        let committed = batch.committed(coll);
        if !batch.exists_in(committed.as_deref(), coll, self.id) {
            return Err(DbError::NotFound {
                collection: self.collection.clone(),
                id: self.id,
            });
        }
        let old = match committed.as_deref() {
            Some(c) if c.has_indexes() => batch.old_keys(c, self.id)?,
            _ => None,
        };
        let seq = batch.take_seq();
        records.push(RecordKind::Delete, coll, self.id, seq, &[]);
        batch.set_exists(coll, self.id, false);
        Ok(DeletePlan {
            collection: coll,
            seq,
            old,
        })
    }

    fn answer(&self, plan: &DeletePlan) -> Option<u64> {
        Some(plan.seq)
    }

    fn commit(self, plan: DeletePlan, state: &State, locations: &[Location]) -> u64 {
        let collection = state.catalog.load().by_id(plan.collection).cloned();
        if let (Some(c), Some(_tombstone)) = (collection, locations.first()) {
            let old = indexing::delete(&c, &state.reader, self.id, plan.old);
            let old = old.unwrap_or_else(|e| {
                tracing::error!(error = %e, "index update failed after a delete");
                None
            });
            // The tombstone itself stays live: compaction keeps it while older segments may
            // hold the version it hides.
            if let Some(old) = old {
                state.reader.mark_dead(old);
            }
            publish(
                state,
                ChangeEvent {
                    seq: plan.seq,
                    op: ChangeOp::Delete,
                    collection: c.name.clone(),
                    id: self.id,
                    doc: None,
                    matches: None,
                },
            );
        }
        plan.seq
    }
}
