//! [`Batch`]: the writer's view while it prepares a batch — the committed state plus every
//! earlier request of the batch — and the counters it hands ids and seqs out from. A
//! refused request (or a failed batch) is taken back through an undo log, not by copying
//! the counters before each request.

use std::collections::HashMap;
use std::sync::Arc;

use nyro_batch::RecordBuf;
use nyro_storage::RecordKind;

use crate::catalog::{Collection, CollectionDef};
use crate::error::{DbError, Result};
use crate::indexing::{self, StoredKeys};
use crate::state::State;

/// The hasher of the writer's maps: seeded per map, so ids chosen by clients cannot be made
/// to collide, and much cheaper per lookup than SipHash.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// Counters owned by the writer (its leader, one at a time).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) next_seq: u64,
    pub(crate) next_collection: u32,
    /// Next id to assign per collection id (u128: a given id of u64::MAX leaves none).
    pub(crate) next_ids: HashMap<u32, u128, FastHash>,
}

/// A collection as the batch sees it: definition and id.
#[derive(Debug, Clone)]
pub(crate) struct CollectionView {
    pub(crate) id: u32,
    pub(crate) indexes: Vec<String>,
}

/// A collection a request writes to, and the definition of it the request creates (its
/// first record) if it was missing.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) id: u32,
    pub(crate) creates: Option<CollectionDef>,
}

/// How to take back one change of a prepared request. The scalar counters need no entry:
/// a [`Mark`] holds their values.
#[derive(Debug)]
enum Undo {
    /// `next_ids[collection]` was `previous`.
    NextId {
        collection: u32,
        previous: Option<u128>,
    },
    /// `collections[name]` was `previous` (absent when `None`).
    Collection {
        name: String,
        previous: Option<Option<CollectionView>>,
    },
    /// `exists[key]` was `previous` (absent when `None`).
    Exists {
        key: (u32, u64),
        previous: Option<bool>,
    },
}

/// Where a request (or the batch) began: what [`Batch::roll_back`] returns to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    undo: usize,
    next_seq: u64,
    next_collection: u32,
}

/// The state a request is prepared against.
pub(crate) struct Batch {
    state: Arc<State>,
    /// Including every prepared request of the current batch.
    counters: Counters,
    /// Collections created (Some) or dropped (None) by the batch, by name.
    collections: HashMap<String, Option<CollectionView>, FastHash>,
    /// Documents created (true) or deleted (false) by the batch.
    exists: HashMap<(u32, u64), bool, FastHash>,
    undo: Vec<Undo>,
    /// Where the current batch began.
    start: Mark,
}

impl Batch {
    pub(crate) fn new(state: Arc<State>, counters: Counters) -> Self {
        let start = Mark {
            undo: 0,
            next_seq: counters.next_seq,
            next_collection: counters.next_collection,
        };
        Self {
            state,
            counters,
            collections: HashMap::default(),
            exists: HashMap::default(),
            undo: Vec::new(),
            start,
        }
    }

    /// Where things stand now, to roll back to if the request about to be prepared fails.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            undo: self.undo.len(),
            next_seq: self.counters.next_seq,
            next_collection: self.counters.next_collection,
        }
    }

    /// Takes back everything done since `mark`, newest first.
    pub(crate) fn roll_back(&mut self, mark: Mark) {
        while self.undo.len() > mark.undo {
            match self.undo.pop() {
                Some(Undo::NextId {
                    collection,
                    previous: Some(next),
                }) => {
                    self.counters.next_ids.insert(collection, next);
                }
                Some(Undo::NextId {
                    collection,
                    previous: None,
                }) => {
                    self.counters.next_ids.remove(&collection);
                }
                Some(Undo::Collection {
                    name,
                    previous: Some(view),
                }) => {
                    self.collections.insert(name, view);
                }
                Some(Undo::Collection {
                    name,
                    previous: None,
                }) => {
                    self.collections.remove(&name);
                }
                Some(Undo::Exists {
                    key,
                    previous: Some(exists),
                }) => {
                    self.exists.insert(key, exists);
                }
                Some(Undo::Exists {
                    key,
                    previous: None,
                }) => {
                    self.exists.remove(&key);
                }
                None => break,
            }
        }
        self.counters.next_seq = mark.next_seq;
        self.counters.next_collection = mark.next_collection;
    }

    /// The batch is over: a written one's counters stay; a failed one's are taken back.
    /// Either way the batch's view of collections and documents is now the committed state.
    pub(crate) fn end(&mut self, written: bool) {
        if !written {
            self.roll_back(self.start);
        }
        self.undo.clear();
        self.collections.clear();
        self.exists.clear();
        self.start = self.mark();
    }

    /// The id of the collection named `name`, as the batch sees it.
    pub(crate) fn collection_id(&self, name: &str) -> Option<u32> {
        match self.collections.get(name) {
            Some(view) => view.as_ref().map(|v| v.id),
            None => self.state.catalog.load().by_name(name).map(|c| c.id),
        }
    }

    /// The collection named `name` with its indexes, as the batch sees it.
    pub(crate) fn view(&self, name: &str) -> Option<CollectionView> {
        if let Some(view) = self.collections.get(name) {
            return view.clone();
        }
        self.state
            .catalog
            .load()
            .by_name(name)
            .map(|c| CollectionView {
                id: c.id,
                indexes: c.indexes().to_vec(),
            })
    }

    /// Records that the batch creates (`Some`) or drops (`None`) the collection `name`.
    pub(crate) fn set_collection(&mut self, name: &str, view: Option<CollectionView>) {
        let previous = self.collections.insert(name.to_string(), view);
        self.undo.push(Undo::Collection {
            name: name.to_string(),
            previous,
        });
    }

    /// The committed collection with this id (none if only this batch creates it).
    pub(crate) fn committed(&self, collection: u32) -> Option<Arc<Collection>> {
        self.state.catalog.load().by_id(collection).cloned()
    }

    /// Whether `id` exists in `collection`, whose committed state is `committed` (looked up
    /// once per request by the callers that check many ids).
    pub(crate) fn exists_in(
        &self,
        committed: Option<&Collection>,
        collection: u32,
        id: u64,
    ) -> bool {
        if let Some(&exists) = self.exists.get(&(collection, id)) {
            return exists;
        }
        committed.is_some_and(|c| c.index.primary().contains(id))
    }

    /// The index keys of the version of document `id` that a request replaces or deletes,
    /// read now, before anything is appended: a damaged version refuses the request
    /// ([`DbError::Corrupt`], recorded in the damage log) instead of leaving the indexes
    /// half-updated after the append. `None` when `id` is not stored, or when an earlier
    /// request of the batch wrote or deleted it (the commit then reads the version the
    /// batch appended, if any). Call only for `committed`, a collection with secondary
    /// indexes: without them a write needs no old keys and reads nothing.
    pub(crate) fn old_keys(&self, committed: &Collection, id: u64) -> Result<Option<StoredKeys>> {
        if self.exists.contains_key(&(committed.id, id)) {
            return Ok(None);
        }
        indexing::stored_keys(committed, &self.state.reader, &self.state.damage, id)
    }

    /// Records that the batch created (or replaced) or deleted document `id` (undone with
    /// the request if it is refused after all).
    pub(crate) fn set_exists(&mut self, collection: u32, id: u64, exists: bool) {
        let key = (collection, id);
        let previous = self.exists.insert(key, exists);
        self.undo.push(Undo::Exists { key, previous });
    }

    /// The next sequence number.
    pub(crate) fn take_seq(&mut self) -> u64 {
        let seq = self.counters.next_seq;
        self.counters.next_seq += 1;
        seq
    }

    /// Seq of catalog records: they do not take a seq of their own (the feed carries only
    /// document changes), they repeat the last one assigned.
    pub(crate) fn current_seq(&self) -> u64 {
        self.counters.next_seq.saturating_sub(1)
    }

    /// Saves `collection`'s next id for an undo; call once per request before
    /// [`Batch::assign_id`].
    pub(crate) fn save_next_id(&mut self, collection: u32) {
        let previous = self.counters.next_ids.get(&collection).copied();
        self.undo.push(Undo::NextId {
            collection,
            previous,
        });
    }

    /// `given`, or the collection's next id; either way later assigned ids come after it.
    /// `None` when no id is given and the collection has assigned every id up to `u64::MAX`
    /// (a given id is always assignable).
    pub(crate) fn assign_id(&mut self, collection: u32, given: Option<u64>) -> Option<u64> {
        let next = self.counters.next_ids.entry(collection).or_insert(1);
        let id = match given {
            Some(id) => id,
            None => u64::try_from(*next).ok()?,
        };
        *next = (*next).max(u128::from(id) + 1);
        Some(id)
    }

    /// The collection named `name`, created (with no indexes) by this request if missing.
    pub(crate) fn resolve_or_create(
        &mut self,
        name: &str,
        records: &mut RecordBuf,
    ) -> Result<Target> {
        match self.collection_id(name) {
            Some(id) => Ok(Target { id, creates: None }),
            None => self.create(name, Vec::new(), records),
        }
    }

    /// Adds the record that creates collection `name`.
    pub(crate) fn create(
        &mut self,
        name: &str,
        indexes: Vec<String>,
        records: &mut RecordBuf,
    ) -> Result<Target> {
        let id = self.counters.next_collection;
        self.counters.next_collection = id.checked_add(1).ok_or_else(|| {
            DbError::invalid("no collection ids left (4294967295 collections were created)")
        })?;
        let def = CollectionDef {
            name: name.to_string(),
            indexes,
        };
        let seq = self.current_seq();
        records.push_with(RecordKind::CreateCollection, id, 0, seq, |out| {
            nyro_storage::codec::encode_into(&def, out)
        })?;
        let view = CollectionView {
            id,
            indexes: def.indexes.clone(),
        };
        self.set_collection(name, Some(view));
        Ok(Target {
            id,
            creates: Some(def),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nyro_storage::{Log, LogOptions};

    use super::*;
    use crate::catalog::Catalog;

    /// A batch over an empty log (`Log` kept: it holds the directory).
    fn empty() -> (tempfile::TempDir, Log, Batch) {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let state = State::new(log.reader().clone(), Catalog::default(), 0, 16);
        let counters = Counters {
            next_seq: 1,
            next_collection: 1,
            next_ids: HashMap::default(),
        };
        (dir, log, Batch::new(Arc::new(state), counters))
    }

    #[test]
    fn a_refused_request_leaves_no_trace_and_a_failed_batch_none_either() {
        let (_dir, _log, mut batch) = empty();
        let mut records = RecordBuf::new();
        // A request that creates "a" and takes id 1 and seq 1.
        let a = batch.resolve_or_create("a", &mut records).unwrap();
        batch.save_next_id(a.id);
        assert_eq!(batch.assign_id(a.id, None).unwrap(), 1);
        assert_eq!(batch.take_seq(), 1);
        batch.set_exists(a.id, 1, true);

        // A request that creates "b", takes ids and a seq, drops "a", then is refused.
        let mark = batch.mark();
        let b = batch.resolve_or_create("b", &mut records).unwrap();
        batch.save_next_id(a.id);
        batch.assign_id(a.id, Some(10)).unwrap();
        batch.save_next_id(b.id);
        batch.assign_id(b.id, None).unwrap();
        batch.take_seq();
        batch.set_collection("a", None);
        batch.roll_back(mark);
        assert_eq!(batch.collection_id("a"), Some(a.id));
        assert_eq!(batch.collection_id("b"), None);
        assert!(batch.exists_in(None, a.id, 1));
        assert_eq!(batch.assign_id(a.id, None).unwrap(), 2);
        assert_eq!(batch.take_seq(), 2);
        let c = batch.resolve_or_create("c", &mut records).unwrap();
        assert_eq!(
            c.id, b.id,
            "the refused request's collection id is free again"
        );

        // The write of the batch failed: nothing of it stays.
        batch.end(false);
        assert_eq!(batch.collection_id("a"), None);
        assert!(!batch.exists_in(None, a.id, 1));
        assert_eq!(batch.take_seq(), 1);
        assert_eq!(batch.resolve_or_create("d", &mut records).unwrap().id, 1);
        batch.save_next_id(1);
        assert_eq!(batch.assign_id(1, None).unwrap(), 1);

        // A written batch keeps its counters; the next one starts from them.
        batch.end(true);
        assert_eq!(batch.take_seq(), 2);
        assert_eq!(batch.assign_id(1, None).unwrap(), 2);
        batch.end(false);
        assert_eq!(
            batch.take_seq(),
            2,
            "a failed batch goes back to the last written one"
        );
    }
}
