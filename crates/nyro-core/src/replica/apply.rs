//! Applying a committed Raft entry on a cluster node: its records become visible (indexes,
//! catalog, change feed) exactly as replay makes them visible on open, with change events.
//! The same code runs on the leader and on every follower, in log order.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nyro_storage::{Location, RecordKind};

use super::ReplicaState;
use super::entry::{EntryKind, Placed, WriteRecord};
use crate::builds;
use crate::catalog::{Catalog, Collection, CollectionDef};
use crate::document::{Document, decode_fields};
use crate::error::{DbError, Result};
use crate::feed::{ChangeEvent, ChangeOp};
use crate::indexing;
use crate::state::State;
use crate::write::commit::publish;

/// Applies entry `index` (of kind `kind`, carrying `records`), whose frames lie at
/// `placed`. Returns false when the entry is void (prepared against another state than the
/// one it is applied to: see [`EntryKind::Writes`]); its records then never become visible,
/// on any node.
pub(crate) fn apply_entry(
    state: &State,
    replica: &ReplicaState,
    index: u64,
    kind: &EntryKind,
    records: &[WriteRecord],
    placed: &Placed,
) -> Result<bool> {
    let &EntryKind::Writes { after, .. } = kind else {
        return Ok(true);
    };
    let mut progress = replica.lock();
    if after != progress.last_writes {
        tracing::warn!(
            index,
            after,
            last_writes = progress.last_writes,
            "a Raft entry prepared against another state is void"
        );
        state.skip_entry(placed.header);
        return Ok(false);
    }
    if records.len() != placed.records.len() {
        return Err(DbError::Internal {
            message: format!(
                "Raft entry {index} has {} records but {} locations",
                records.len(),
                placed.records.len()
            ),
        });
    }
    // The document records of one collection that follow each other (one write's, or
    // several writes') are one run, made visible together: a list or query never shows
    // part of a bulk.
    let document = |r: &WriteRecord| {
        matches!(
            r.kind(),
            Ok(RecordKind::Put | RecordKind::Replace | RecordKind::Delete)
        )
    };
    let runs = records.chunk_by(|a, b| a.collection == b.collection && document(a) && document(b));
    let mut locations = placed.records.iter().copied();
    for run in runs {
        let counters = &mut progress.counters;
        match run[0].kind()? {
            RecordKind::CreateCollection => {
                locations.next();
                let record = &run[0];
                let def: CollectionDef = nyro_storage::codec::decode(&record.payload)?;
                let created = Arc::new(Collection::new(record.collection, def)?);
                counters.next_collection = counters.next_collection.max(record.collection + 1);
                state.catalog.rcu(|catalog| {
                    let mut catalog = Catalog::clone(catalog);
                    catalog.insert(Arc::clone(&created));
                    catalog
                });
            }
            RecordKind::DropCollection => {
                locations.next();
                let record = &run[0];
                if let Some(dropped) = state.catalog.load().by_id(record.collection).cloned() {
                    state.builds.cancel(record.collection, None);
                    indexing::mark_all_dead(&dropped, &state.reader);
                }
                state.catalog.rcu(|catalog| {
                    let mut catalog = Catalog::clone(catalog);
                    catalog.remove(record.collection);
                    catalog
                });
            }
            kind @ (RecordKind::AddIndex | RecordKind::DropIndex) => {
                locations.next();
                let record = &run[0];
                let path: String = nyro_storage::codec::decode(&record.payload)?;
                let Some(c) = state.catalog.load().by_id(record.collection).cloned() else {
                    return Err(DbError::Internal {
                        message: format!(
                            "a replicated index change names unknown collection id {}",
                            record.collection
                        ),
                    });
                };
                if kind == RecordKind::AddIndex {
                    builds::add(state, &c, path);
                } else {
                    builds::remove(state, &c, &path);
                }
            }
            _ => {
                let collection = run[0].collection;
                let Some(c) = state.catalog.load().by_id(collection).cloned() else {
                    return Err(DbError::Internal {
                        message: format!(
                            "a replicated write names unknown collection id {collection}"
                        ),
                    });
                };
                let _whole = (run.len() > 1).then(|| c.publishing());
                for (record, location) in run.iter().zip(locations.by_ref()) {
                    counters.next_seq = counters.next_seq.max(record.seq + 1);
                    let next_id = counters.next_ids.entry(collection).or_insert(1);
                    *next_id = (*next_id).max(u128::from(record.id) + 1);
                    apply_document(state, &c, record.kind()?, record, location)?;
                }
            }
        }
    }
    progress.last_writes = index;
    state.unskip_entry(placed.header);
    // The entry's writes are all visible: the builds of indexes it added can begin.
    state.start_index_builds();
    Ok(true)
}

/// Indexes one document record of collection `c` and sends its change event.
fn apply_document(
    state: &State,
    c: &Collection,
    kind: RecordKind,
    record: &WriteRecord,
    location: Location,
) -> Result<()> {
    let (id, seq, payload) = (record.id, record.seq, &record.payload[..]);
    let old = match kind {
        RecordKind::Delete => indexing::delete(c, &state.reader, id, None)?,
        _ => indexing::put_stored(c, &state.reader, id, payload, location)?,
    };
    if let Some(old) = old {
        state.reader.mark_dead(old);
    }
    if state.changes.receiver_count() == 0 {
        state.last_seq.store(seq, Ordering::Release);
        return Ok(());
    }
    let (op, doc) = match kind {
        RecordKind::Delete => (ChangeOp::Delete, None),
        RecordKind::Replace => (ChangeOp::Update, Some(decode_fields(payload)?)),
        _ => (ChangeOp::Insert, Some(decode_fields(payload)?)),
    };
    publish(
        state,
        ChangeEvent {
            seq,
            op,
            collection: c.name.clone(),
            id,
            doc: doc.map(|fields| Document {
                id: Some(id),
                fields,
            }),
            matches: None,
        },
    );
    Ok(())
}
