//! Rebuilding the in-memory state from the log on open.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use nyro_storage::{LogReader, RecordKind, StorageError};

use crate::apply::Counters;
use crate::catalog::{Catalog, Collection, CollectionDef};
use crate::error::{DbError, Result};
use crate::indexing;

/// What replaying the log produced.
pub(crate) struct Replayed {
    pub(crate) catalog: Catalog,
    pub(crate) counters: Counters,
    pub(crate) last_seq: u64,
    pub(crate) frames: u64,
}

fn corrupt(frame: &nyro_storage::Frame, reader: &LogReader, what: String) -> DbError {
    let location = frame.location();
    let path = reader
        .segments()
        .into_iter()
        .find(|s| s.id == location.segment)
        .map(|s| s.path.display().to_string())
        .unwrap_or_else(|| format!("segment {}", location.segment));
    DbError::Storage(StorageError::BadSegmentHeader {
        path: path.into(),
        reason: format!(
            "the frame at offset {} is intact but its meaning is not: {what}; run `nyrodb verify`",
            location.offset
        ),
    })
}

/// Replays every frame in log order: catalog records, puts (indexes rebuilt from the
/// decoded documents) and deletes.
pub(crate) fn replay(reader: &LogReader) -> Result<Replayed> {
    let started = Instant::now();
    let mut catalog = Catalog::default();
    let mut counters = Counters {
        next_seq: 1,
        next_collection: 1,
        next_ids: HashMap::new(),
    };
    let mut last_seq = 0u64;
    let mut frames = 0u64;
    for frame in reader.iter() {
        let frame = frame?;
        frames += 1;
        let h = *frame.header();
        counters.next_seq = counters.next_seq.max(h.seq + 1);
        match h.kind {
            RecordKind::CreateCollection => {
                let def: CollectionDef = nyro_storage::codec::decode(frame.payload())?;
                if catalog.by_id(h.collection).is_some() || catalog.by_name(&def.name).is_some() {
                    return Err(corrupt(
                        &frame,
                        reader,
                        format!(
                            "collection {:?} (id {}) is created twice",
                            def.name, h.collection
                        ),
                    ));
                }
                counters.next_collection = counters.next_collection.max(h.collection + 1);
                catalog.insert(Arc::new(Collection::new(h.collection, def)?));
            }
            RecordKind::DropCollection => {
                let Some(dropped) = catalog.remove(h.collection) else {
                    return Err(corrupt(
                        &frame,
                        reader,
                        format!("unknown collection id {}", h.collection),
                    ));
                };
                indexing::mark_all_dead(&dropped, reader);
            }
            RecordKind::CompactionMarker => {} // the log's own; iteration skips it anyway
            RecordKind::Put | RecordKind::Replace | RecordKind::Delete => {
                let Some(collection) = catalog.by_id(h.collection) else {
                    return Err(corrupt(
                        &frame,
                        reader,
                        format!("unknown collection id {}", h.collection),
                    ));
                };
                last_seq = last_seq.max(h.seq);
                let next = counters.next_ids.entry(h.collection).or_insert(1);
                *next = (*next).max(u128::from(h.id) + 1);
                let old = if h.kind != RecordKind::Delete {
                    indexing::put_stored(
                        collection,
                        reader,
                        h.id,
                        frame.payload(),
                        frame.location(),
                    )?
                } else {
                    indexing::delete(collection, reader, h.id)?
                };
                if let Some(old) = old {
                    reader.mark_dead(old);
                }
            }
        }
    }
    // Compaction may have dropped the frames with the highest seqs (a deleted document's put
    // and tombstone in the oldest segment); the floor it recorded is at least as high, and a
    // seq must never be handed out twice.
    let floor = reader.history_floor();
    last_seq = last_seq.max(floor);
    counters.next_seq = counters.next_seq.max(floor + 1);
    tracing::info!(
        frames,
        collections = catalog.sorted().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "indexes rebuilt from the log"
    );
    Ok(Replayed {
        catalog,
        counters,
        last_seq,
        frames,
    })
}
