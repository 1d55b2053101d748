//! The core's [`Applier`]: turns write operations into log records on the writer thread,
//! checking each against the state plus the earlier requests of its batch, and makes them
//! visible once written.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nyro_batch::{Applier, RecordBuf};
use nyro_storage::{Location, MAX_PAYLOAD_LEN, RecordKind};

use crate::catalog::{Catalog, Collection, CollectionDef};
use crate::document::{Document, Value, encode_fields};
use crate::error::{DbError, Result};
use crate::feed::{ChangeEvent, ChangeOp};
use crate::indexing;
use crate::state::State;

/// The hasher of the writer's per-batch maps: seeded per map, so ids chosen by clients
/// cannot be made to collide, and much cheaper per lookup than SipHash.
type FastHash = foldhash::fast::RandomState;

/// A write operation, as the database API submits it.
#[derive(Debug)]
pub(crate) enum WriteOp {
    CreateCollection {
        name: String,
        indexes: Vec<String>,
    },
    DropCollection {
        name: String,
    },
    /// One or more documents, all or nothing. Creates the collection if missing.
    Insert {
        collection: String,
        docs: Vec<Document>,
    },
    /// Replace or create each document (each carries its id), all or nothing, in order: a
    /// later document with the same id replaces an earlier one. Creates the collection if
    /// missing.
    Replace {
        collection: String,
        docs: Vec<Document>,
    },
    Delete {
        collection: String,
        id: u64,
    },
    /// Compaction copied these frames to a new segment: point the index at the copies of
    /// the ones it still points at (the others were replaced or deleted meanwhile, so their
    /// copies are dead). Writes nothing; runs on the writer thread so that no write can
    /// come between the check and the switch.
    Relocate {
        moved: Vec<nyro_storage::Moved>,
    },
}

/// What a written operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteOutcome {
    CollectionCreated {
        created: bool,
    },
    CollectionDropped,
    Inserted {
        ids: Vec<u64>,
        last_seq: u64,
    },
    /// Per document, in request order: id, seq, whether it was new.
    Replaced(Vec<(u64, u64, bool)>),
    Deleted {
        seq: u64,
    },
    Relocated {
        switched: usize,
    },
}

/// What the documents of a committed request are, for their index update.
#[derive(Clone, Copy)]
enum Written {
    /// Inserts: ids the writer checked absent, so there are no old keys to look up.
    New,
    /// Replaces or creations.
    Any,
}

/// A request and what `prepare` decided for it.
#[derive(Debug)]
pub(crate) struct WriteRequest {
    op: WriteOp,
    plan: Plan,
}

impl WriteRequest {
    pub(crate) fn new(op: WriteOp) -> Self {
        Self {
            op,
            plan: Plan::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Plan {
    collection: u32,
    /// The collection this request creates (its first record), if any.
    creates: Option<CollectionDef>,
    /// The request changes nothing (an existing identical collection).
    noop: bool,
    /// Per document: id, seq.
    writes: Vec<(u64, u64)>,
    /// Replace: per document, whether it is new.
    created: Vec<bool>,
}

/// A collection as the batch sees it: definition and id.
#[derive(Debug, Clone)]
struct CollectionView {
    id: u32,
    indexes: Vec<String>,
}

/// Counters owned by the writer thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) next_seq: u64,
    pub(crate) next_collection: u32,
    /// Next id to assign per collection id (u128: a given id of u64::MAX leaves none).
    pub(crate) next_ids: HashMap<u32, u128, FastHash>,
}

/// Effects of the batch's prepared requests not yet committed.
#[derive(Debug, Default)]
struct Overlay {
    counters: Option<Counters>,
    /// Collections created (Some) or dropped (None) by the batch, by name.
    collections: HashMap<String, Option<CollectionView>, FastHash>,
    /// Documents created (true) or deleted (false) by the batch.
    exists: HashMap<(u32, u64), bool, FastHash>,
}

/// The applier; lives on the writer thread.
pub(crate) struct CoreApplier {
    state: Arc<State>,
    committed: Counters,
    batch: Overlay,
}

impl CoreApplier {
    pub(crate) fn new(state: Arc<State>, counters: Counters) -> Self {
        Self {
            state,
            committed: counters,
            batch: Overlay::default(),
        }
    }

    fn counters(&mut self) -> &mut Counters {
        let committed = &self.committed;
        self.batch.counters.get_or_insert_with(|| committed.clone())
    }

    fn view(&self, name: &str) -> Option<CollectionView> {
        if let Some(view) = self.batch.collections.get(name) {
            return view.clone();
        }
        self.state
            .catalog
            .load()
            .by_name(name)
            .map(|c| CollectionView {
                id: c.id,
                indexes: c.indexes.clone(),
            })
    }

    fn exists(&self, collection: u32, id: u64) -> bool {
        self.exists_in(self.committed(collection).as_deref(), collection, id)
    }

    /// The committed collection with this id (none if only this batch creates it).
    fn committed(&self, collection: u32) -> Option<Arc<Collection>> {
        self.state.catalog.load().by_id(collection).cloned()
    }

    /// Whether `id` exists in `collection`, whose committed state is `committed` (looked up
    /// once per request by the callers that check many ids).
    fn exists_in(&self, committed: Option<&Collection>, collection: u32, id: u64) -> bool {
        if let Some(&exists) = self.batch.exists.get(&(collection, id)) {
            return exists;
        }
        committed.is_some_and(|c| c.index.primary().contains(id))
    }

    /// Seq of catalog records: they do not take a seq of their own (the feed carries only
    /// document changes), they repeat the last one assigned.
    fn current_seq(&mut self) -> u64 {
        self.counters().next_seq.saturating_sub(1)
    }

    fn take_seq(&mut self) -> u64 {
        let counters = self.counters();
        let seq = counters.next_seq;
        counters.next_seq += 1;
        seq
    }

    /// The collection named `name`, created (with no indexes) by this request if missing.
    fn resolve_or_create(
        &mut self,
        name: &str,
        plan: &mut Plan,
        records: &mut RecordBuf,
    ) -> Result<u32> {
        if let Some(view) = self.view(name) {
            return Ok(view.id);
        }
        self.create(name, Vec::new(), plan, records)
    }

    fn create(
        &mut self,
        name: &str,
        indexes: Vec<String>,
        plan: &mut Plan,
        records: &mut RecordBuf,
    ) -> Result<u32> {
        let id = {
            let counters = self.counters();
            let id = counters.next_collection;
            counters.next_collection = id.checked_add(1).ok_or_else(|| {
                DbError::invalid("no collection ids left (4294967295 collections were created)")
            })?;
            id
        };
        let def = CollectionDef {
            name: name.to_string(),
            indexes: indexes.clone(),
        };
        let seq = self.current_seq();
        records.push_with(RecordKind::CreateCollection, id, 0, seq, |out| {
            nyro_storage::codec::encode_into(&def, out)
        })?;
        self.batch
            .collections
            .insert(name.to_string(), Some(CollectionView { id, indexes }));
        plan.creates = Some(def);
        Ok(id)
    }

    fn assign_id(&mut self, collection: u32, given: Option<u64>) -> Result<u64> {
        let counters = self.counters();
        let next = counters.next_ids.entry(collection).or_insert(1);
        let id = match given {
            Some(id) => id,
            // The request is fine; the collection's id space is used up: a conflict with its
            // state (409), like a given `_id` that exists. A given `_id` still works.
            None => u64::try_from(*next).map_err(|_| DbError::Conflict {
                message: "this collection has assigned every id up to 18446744073709551615;                           give `_id` explicitly"
                    .to_string(),
            })?,
        };
        *next = (*next).max(u128::from(id) + 1);
        Ok(id)
    }

    fn prepare_op(&mut self, request: &mut WriteRequest, records: &mut RecordBuf) -> Result<()> {
        let plan = &mut request.plan;
        match &request.op {
            WriteOp::CreateCollection { name, indexes } => match self.view(name) {
                Some(view) if view.indexes == *indexes => plan.noop = true,
                Some(view) => {
                    return Err(DbError::Conflict {
                        message: format!(
                            "collection {name:?} exists with indexes {:?}, not {indexes:?}",
                            view.indexes
                        ),
                    });
                }
                None => {
                    plan.collection = self.create(name, indexes.clone(), plan, records)?;
                }
            },
            WriteOp::DropCollection { name } => {
                let view = self.view(name).ok_or_else(|| DbError::CollectionNotFound {
                    collection: name.clone(),
                })?;
                let seq = self.current_seq();
                records.push(RecordKind::DropCollection, view.id, 0, seq, &[]);
                self.batch.collections.insert(name.clone(), None);
                plan.collection = view.id;
            }
            WriteOp::Insert { collection, docs } => {
                let coll = self.resolve_or_create(collection, plan, records)?;
                plan.collection = coll;
                let committed = self.committed(coll);
                let mut seen = HashMap::with_capacity_and_hasher(docs.len(), FastHash::default());
                for (index, doc) in docs.iter().enumerate() {
                    if let Some(id) = doc.id {
                        if let Some(first) = seen.insert(id, index) {
                            return Err(DbError::Conflict {
                                message: format!(
                                    "_id {id} appears twice in the request (elements {first} \
                                     and {index}); nothing was written"
                                ),
                            });
                        }
                        if self.exists_in(committed.as_deref(), coll, id) {
                            return Err(DbError::Conflict {
                                message: format!(
                                    "a document with _id {id} already exists in collection \
                                     {collection:?}{}; nothing was written",
                                    element_note(docs.len(), index)
                                ),
                            });
                        }
                    }
                }
                for (index, doc) in docs.iter().enumerate() {
                    let mut id = self.assign_id(coll, doc.id)?;
                    // An assigned id must not be one that another element of the request
                    // gives (`[{}, {"_id": 1}]` in an empty collection would write id 1 twice).
                    while doc.id.is_none() && seen.contains_key(&id) {
                        id = self.assign_id(coll, None)?;
                    }
                    let seq = self.take_seq();
                    records.push_with(RecordKind::Put, coll, id, seq, |out| {
                        encode_document(&doc.fields, out, || element_note(docs.len(), index))
                    })?;
                    plan.writes.push((id, seq));
                }
                for &(id, _) in &plan.writes {
                    self.batch.exists.insert((coll, id), true);
                }
            }
            WriteOp::Replace { collection, docs } => {
                let coll = self.resolve_or_create(collection, plan, records)?;
                plan.collection = coll;
                let committed = self.committed(coll);
                for (index, doc) in docs.iter().enumerate() {
                    let id = doc.id.ok_or_else(|| {
                        DbError::invalid(format!(
                            "a replaced document needs its _id{}",
                            element_note(docs.len(), index)
                        ))
                    })?;
                    let created = !self.exists_in(committed.as_deref(), coll, id);
                    self.assign_id(coll, Some(id))?;
                    let seq = self.take_seq();
                    // A replace of an existing document says so in the log, so the change
                    // feed can tell it from an insert even after compaction removed the old
                    // version.
                    let kind = if created {
                        RecordKind::Put
                    } else {
                        RecordKind::Replace
                    };
                    records.push_with(kind, coll, id, seq, |out| {
                        encode_document(&doc.fields, out, || format!(" with _id {id}"))
                    })?;
                    plan.writes.push((id, seq));
                    plan.created.push(created);
                    self.batch.exists.insert((coll, id), true);
                }
            }
            WriteOp::Relocate { .. } => {}
            WriteOp::Delete { collection, id } => {
                let view = self
                    .view(collection)
                    .ok_or_else(|| DbError::CollectionNotFound {
                        collection: collection.clone(),
                    })?;
                if !self.exists(view.id, *id) {
                    return Err(DbError::NotFound {
                        collection: collection.clone(),
                        id: *id,
                    });
                }
                let seq = self.take_seq();
                records.push(RecordKind::Delete, view.id, *id, seq, &[]);
                plan.collection = view.id;
                plan.writes.push((*id, seq));
                self.batch.exists.insert((view.id, *id), false);
            }
        }
        Ok(())
    }

    fn publish(&self, event: ChangeEvent) {
        self.state.last_seq.store(event.seq, Ordering::Release);
        // Nobody watching: skip the event's allocation. No change is missed by a subscriber
        // that arrives meanwhile: `receiver_count` and `subscribe` take the same lock, and
        // a subscriber reads `last_seq` after subscribing, so one that was not counted here
        // reads this seq or a later one and starts after it.
        if self.state.changes.receiver_count() > 0 {
            // A receiver gone since is not an error.
            let _ = self.state.changes.send(Arc::new(event));
        }
    }

    /// Indexes the documents a request wrote (`docs[i]` with id `writes[i].0` at the next
    /// location of `locations`), counting the frames they replace as dead. Without secondary
    /// indexes the whole request goes into the primary index at once. The bytes are in the
    /// log already, so a failure here is a bug: it is logged, not returned.
    fn index_written(
        &self,
        collection: &Collection,
        docs: &[Document],
        writes: &[(u64, u64)],
        locations: &mut impl Iterator<Item = Location>,
        written: Written,
    ) {
        let reader = &self.state.reader;
        if collection.indexes.is_empty() {
            let located = writes.iter().map(|&(id, _)| id).zip(locations);
            collection
                .index
                .primary()
                .insert_many(located, |_, old| reader.mark_dead(old));
            return;
        }
        for (doc, location) in docs.iter().zip(locations) {
            let indexed = match written {
                Written::New => indexing::insert_new(collection, doc, location).map(|()| None),
                Written::Any => indexing::put(collection, reader, doc, location),
            };
            match indexed {
                Ok(Some(old)) => reader.mark_dead(old),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "index update failed after a write"),
            }
        }
    }

    fn commit_op(&mut self, request: WriteRequest, locations: &[Location]) -> WriteOutcome {
        let WriteRequest { op, plan } = request;
        let mut locations = locations.iter().copied();
        if let Some(def) = plan.creates {
            locations.next(); // the create-collection record
            match Collection::new(plan.collection, def) {
                Ok(created) => {
                    let created = Arc::new(created);
                    self.state.catalog.rcu(|catalog| {
                        let mut catalog = Catalog::clone(catalog);
                        catalog.insert(Arc::clone(&created));
                        catalog
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot create a collection already in the log")
                }
            }
        }
        let catalog = self.state.catalog.load_full();
        let collection = catalog.by_id(plan.collection).cloned();
        match op {
            WriteOp::CreateCollection { .. } => WriteOutcome::CollectionCreated {
                created: !plan.noop,
            },
            WriteOp::DropCollection { .. } => {
                if let Some(dropped) = collection {
                    indexing::mark_all_dead(&dropped, &self.state.reader);
                    self.state.catalog.rcu(|catalog| {
                        let mut catalog = Catalog::clone(catalog);
                        catalog.remove(plan.collection);
                        catalog
                    });
                }
                WriteOutcome::CollectionDropped
            }
            WriteOp::Insert { mut docs, .. } => {
                for (doc, &(id, _)) in docs.iter_mut().zip(&plan.writes) {
                    doc.id = Some(id);
                }
                if let Some(c) = &collection {
                    self.index_written(c, &docs, &plan.writes, &mut locations, Written::New);
                }
                let mut last_seq = 0;
                let mut ids = Vec::with_capacity(docs.len());
                for (doc, &(id, seq)) in docs.into_iter().zip(&plan.writes) {
                    if let Some(c) = &collection {
                        self.publish(ChangeEvent {
                            seq,
                            op: ChangeOp::Insert,
                            collection: Arc::clone(&c.name),
                            id,
                            doc: Some(doc),
                        });
                    }
                    ids.push(id);
                    last_seq = seq;
                }
                WriteOutcome::Inserted { ids, last_seq }
            }
            WriteOp::Replace { docs, .. } => {
                if let Some(c) = &collection {
                    self.index_written(c, &docs, &plan.writes, &mut locations, Written::Any);
                }
                let mut replaced = Vec::with_capacity(docs.len());
                for (doc, (&(id, seq), &created)) in
                    docs.into_iter().zip(plan.writes.iter().zip(&plan.created))
                {
                    if let Some(c) = &collection {
                        self.publish(ChangeEvent {
                            seq,
                            op: if created {
                                ChangeOp::Insert
                            } else {
                                ChangeOp::Update
                            },
                            collection: Arc::clone(&c.name),
                            id,
                            doc: Some(doc),
                        });
                    }
                    replaced.push((id, seq, created));
                }
                WriteOutcome::Replaced(replaced)
            }
            WriteOp::Delete { id, .. } => {
                let (_, seq) = plan.writes[0];
                if let (Some(c), Some(_tombstone)) = (&collection, locations.next()) {
                    let old = indexing::delete(c, &self.state.reader, id).unwrap_or_else(|e| {
                        tracing::error!(error = %e, "index update failed after a delete");
                        None
                    });
                    // The tombstone itself stays live: compaction keeps it while older
                    // segments may hold the version it hides.
                    if let Some(old) = old {
                        self.state.reader.mark_dead(old);
                    }
                    self.publish(ChangeEvent {
                        seq,
                        op: ChangeOp::Delete,
                        collection: Arc::clone(&c.name),
                        id,
                        doc: None,
                    });
                }
                WriteOutcome::Deleted { seq }
            }
            WriteOp::Relocate { moved } => WriteOutcome::Relocated {
                switched: self.relocate(&moved),
            },
        }
    }

    /// Points the primary index at the copies compaction made; returns how many it switched.
    /// Copies of documents that were replaced or deleted meanwhile are dead from the start.
    /// Secondary indexes hold ids, not locations, so they do not change.
    fn relocate(&self, moved: &[nyro_storage::Moved]) -> usize {
        let catalog = self.state.catalog.load();
        let mut switched = 0;
        for m in moved {
            if !matches!(m.header.kind, RecordKind::Put | RecordKind::Replace) {
                continue; // catalog records and tombstones are not indexed
            }
            let current = catalog
                .by_id(m.header.collection)
                .map(|c| (c, c.index.primary().get(m.header.id)));
            match current {
                Some((c, Some(at))) if at == m.from => {
                    c.index.primary().insert(m.header.id, m.to);
                    switched += 1;
                }
                _ => self.state.reader.mark_dead(m.to),
            }
        }
        switched
    }
}

/// Appends a document's payload to `out`, refusing one too large for a log frame: the log
/// would fail the whole batch for it, and with it every other writer's request.
/// `which` follows "the document" in the message (e.g. " (element 3)").
fn encode_document(
    fields: &[(String, Value)],
    out: &mut Vec<u8>,
    which: impl FnOnce() -> String,
) -> Result<()> {
    let start = out.len();
    encode_fields(fields, out)?;
    let len = out.len() - start;
    if len > MAX_PAYLOAD_LEN {
        return Err(DbError::invalid(format!(
            "the document{} takes {len} bytes encoded; at most {MAX_PAYLOAD_LEN} fit in a \
             log record; nothing was written",
            which()
        )));
    }
    Ok(())
}

fn element_note(count: usize, index: usize) -> String {
    if count > 1 {
        format!(" (element {index})")
    } else {
        String::new()
    }
}

impl Applier for CoreApplier {
    type Request = WriteRequest;
    type Response = WriteOutcome;
    type Rejection = DbError;

    fn prepare(&mut self, request: &mut WriteRequest, records: &mut RecordBuf) -> Result<()> {
        // Refused requests must leave no trace in the overlay. Only the counters and the
        // batch's collections can change before a check fails (`exists` is updated last).
        let saved = (self.batch.counters.clone(), self.batch.collections.clone());
        let result = self.prepare_op(request, records);
        if result.is_err() {
            request.plan = Plan::default();
            (self.batch.counters, self.batch.collections) = saved;
        }
        result
    }

    fn commit(&mut self, request: WriteRequest, locations: &[Location]) -> WriteOutcome {
        self.commit_op(request, locations)
    }

    fn end_batch(&mut self, written: bool) {
        let batch = std::mem::take(&mut self.batch);
        if written && let Some(counters) = batch.counters {
            self.committed = counters;
        }
    }
}
