//! Rebuilding the in-memory state from the log on open.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use nyro_storage::{
    FrameHeader, Hint, Location, LogReader, RecordKind, SegmentFrames, StorageError,
};

use crate::builds::ToBuild;
use crate::catalog::{Catalog, CollectionDef};
use crate::error::{DbError, Result};
use crate::replay_index::{Gathered, GatheredCatalog};
use crate::write::Counters;

/// What replaying the log produced.
pub(crate) struct Replayed {
    pub(crate) catalog: Catalog,
    /// Indexes added after their collection was created, in state building: built from the
    /// documents before the database serves anything (`crate::builds::build_now`).
    pub(crate) to_build: ToBuild,
    pub(crate) counters: Counters,
    pub(crate) last_seq: u64,
    pub(crate) frames: u64,
    /// The sealed segments replayed from their hints (their frames were not read), in log
    /// order: what the background scrub checks.
    pub(crate) hinted: Vec<u32>,
}

fn corrupt(location: Location, reader: &LogReader, what: String) -> DbError {
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

/// The state being rebuilt.
struct Rebuild<'r, 'a> {
    reader: &'r LogReader,
    catalog: GatheredCatalog<'a>,
    counters: Counters,
    last_seq: u64,
    records: u64,
}

impl<'a> Rebuild<'_, 'a> {
    /// Applies one record. `bytes` is the frame's payload, or a hint's body for it: the same
    /// encoding, holding at least what the indexes need (a collection definition in full; of
    /// a document, its indexed fields). Documents are gathered per collection and indexed
    /// at the end ([`Rebuild::finish`]).
    fn apply(&mut self, h: &FrameHeader, location: Location, bytes: &'a [u8]) -> Result<()> {
        let reader = self.reader;
        match h.kind {
            RecordKind::CreateCollection => {
                let def: CollectionDef = nyro_storage::codec::decode(bytes)?;
                if self.catalog.contains_key(&h.collection)
                    || self.catalog.values().any(|c| c.def.name == def.name)
                {
                    let what = format!(
                        "collection {:?} (id {}) is created twice",
                        def.name, h.collection
                    );
                    return Err(corrupt(location, reader, what));
                }
                self.counters.next_collection = self.counters.next_collection.max(h.collection + 1);
                self.catalog
                    .insert(h.collection, Gathered::new(h.collection, def)?);
            }
            RecordKind::DropCollection => {
                let Some(dropped) = self.catalog.remove(&h.collection) else {
                    let what = format!("unknown collection id {}", h.collection);
                    return Err(corrupt(location, reader, what));
                };
                dropped.dropped(reader);
            }
            RecordKind::AddIndex | RecordKind::DropIndex => {
                let path: String = nyro_storage::codec::decode(bytes)?;
                let Some(collection) = self.catalog.get_mut(&h.collection) else {
                    let what = format!("unknown collection id {}", h.collection);
                    return Err(corrupt(location, reader, what));
                };
                if h.kind == RecordKind::AddIndex {
                    collection.add_index(path);
                } else {
                    collection.drop_index(&path);
                }
            }
            RecordKind::CompactionMarker => {} // the log's own; iteration skips it anyway
            // Applied by the cluster's replay (nyro-raft); a standalone log never has them.
            // Their seq is a Raft log index, not a document seq: it must not move next_seq.
            RecordKind::RaftEntry | RecordKind::RaftTruncate => return Ok(()),
            RecordKind::Put | RecordKind::Replace | RecordKind::Delete => {
                let Some(collection) = self.catalog.get_mut(&h.collection) else {
                    let what = format!("unknown collection id {}", h.collection);
                    return Err(corrupt(location, reader, what));
                };
                self.last_seq = self.last_seq.max(h.seq);
                let next = self.counters.next_ids.entry(h.collection).or_insert(1);
                *next = (*next).max(u128::from(h.id) + 1);
                if h.kind == RecordKind::Delete {
                    collection.delete(h.id, location);
                } else {
                    collection.put(h.id, location, bytes);
                }
            }
        }
        self.records += 1;
        self.counters.next_seq = self.counters.next_seq.max(h.seq + 1);
        Ok(())
    }

    /// The catalog of the live collections, each indexed, and the indexes left to build
    /// from the documents ([`Replayed::to_build`]).
    fn finish(catalog: GatheredCatalog<'a>, reader: &LogReader) -> Result<(Catalog, ToBuild)> {
        let mut built = Catalog::default();
        let mut to_build = Vec::new();
        for (_, collection) in catalog {
            let (collection, paths) = collection.build(reader)?;
            let collection = Arc::new(collection);
            to_build.extend(paths.into_iter().map(|p| (Arc::clone(&collection), p)));
            built.insert(collection);
        }
        Ok((built, to_build))
    }
}

/// What replay reads a segment from: its trustworthy hint, or its frames.
pub(crate) enum Source {
    Hint(Arc<Hint>),
    Frames(SegmentFrames),
}

/// The sources of every segment, in log order: of a sealed segment with a trustworthy hint,
/// the hint (its id goes to `hinted`: open did not read it); of the newest segment, the
/// hint of its first bytes that open took from a clean close (open checked them) and the
/// frames after them; of any other segment, its frames.
pub(crate) fn sources(reader: &LogReader, hinted: &mut Vec<u32>) -> Vec<Source> {
    let mut sources = Vec::new();
    for segment in reader.segments() {
        let mut start = None;
        if let Some(hint) = reader.hint(segment.id) {
            if !segment.active {
                hinted.push(segment.id);
            }
            start = Some(hint.covered());
            sources.push(Source::Hint(hint));
        }
        // The frames no hint describes: a whole segment without one, or those appended to
        // the newest segment after the clean close that hinted its first bytes.
        if start.is_none_or(|covered| covered < segment.bytes) {
            let from = start.unwrap_or(0);
            sources.extend(
                reader
                    .segment_frames_from(segment.id, from)
                    .map(Source::Frames),
            );
        }
    }
    sources
}

/// Calls `f` with every record of `sources` in order: a hint's entries (header, location and
/// the hint's body, without reading the segment's payloads), or each frame. The bytes
/// borrow from the sources.
pub(crate) fn each_in<'a>(
    sources: &'a [Source],
    mut f: impl FnMut(&FrameHeader, Location, &'a [u8]) -> Result<()>,
) -> Result<()> {
    for source in sources {
        match source {
            Source::Hint(hint) => {
                for entry in hint.entries() {
                    f(&entry.header, entry.location, entry.body)?;
                }
            }
            Source::Frames(frames) => {
                for frame in frames.iter() {
                    let (header, location, payload) = frame?;
                    f(&header, location, payload)?;
                }
            }
        }
    }
    Ok(())
}

/// Calls `f` with every record in log order, as [`each_in`] does with [`sources`].
pub(crate) fn each_record(
    reader: &LogReader,
    hinted: &mut Vec<u32>,
    f: impl FnMut(&FrameHeader, Location, &[u8]) -> Result<()>,
) -> Result<()> {
    each_in(&sources(reader, hinted), f)
}

/// Replays every record in log order: catalog records, puts (indexes rebuilt from the
/// indexed fields) and deletes. A sealed segment with a trustworthy hint is replayed from
/// the hint, without reading its payloads; any other segment frame by frame. In a cluster
/// node's log, the Raft entries whose `raft entry` frame is in `skip` (truncated, void or
/// not known to be committed: `crate::replica::survey`) are skipped with their records.
///
/// `start_at` (a cluster node that installed a snapshot): the `raft entry` frame of the
/// snapshot; every record before it is superseded and not replayed.
pub(crate) fn replay(
    reader: &LogReader,
    skip: Option<&HashSet<Location>>,
    start_at: Option<Location>,
) -> Result<Replayed> {
    let started = Instant::now();
    let mut hinted = Vec::new();
    let sources = sources(reader, &mut hinted);
    let mut rebuild = Rebuild {
        reader,
        catalog: GatheredCatalog::default(),
        counters: Counters {
            next_seq: 1,
            next_collection: 1,
            next_ids: HashMap::default(),
        },
        last_seq: 0,
        records: 0,
    };
    // Inside a Raft entry that replay skips (a cluster node's log): skip its records too.
    let mut skipping = false;
    let mut waiting = start_at;
    each_in(&sources, |header, location, body| {
        if let Some(start) = waiting {
            if location != start {
                return Ok(());
            }
            waiting = None;
        }
        match header.kind {
            RecordKind::RaftEntry => {
                skipping = header.continues && skip.is_some_and(|s| s.contains(&location));
                Ok(())
            }
            RecordKind::RaftTruncate => Ok(()),
            _ if skipping => {
                skipping = header.continues;
                Ok(())
            }
            _ => rebuild.apply(header, location, body),
        }
    })?;
    let Rebuild {
        catalog,
        mut counters,
        mut last_seq,
        records,
        ..
    } = rebuild;
    let gathered_ms = started.elapsed().as_millis() as u64;
    let (catalog, to_build) = Rebuild::finish(catalog, reader)?;
    drop(sources);
    reader.release_open_hints();
    // Compaction may have dropped the frames with the highest seqs (a deleted document's put
    // and tombstone in the oldest segment); the floor it recorded is at least as high, and a
    // seq must never be handed out twice.
    let floor = reader.history_floor();
    last_seq = last_seq.max(floor);
    counters.next_seq = counters.next_seq.max(floor + 1);
    tracing::info!(
        records,
        hinted_segments = hinted.len(),
        collections = catalog.sorted().len(),
        gathered_ms,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "indexes rebuilt from the log"
    );
    Ok(Replayed {
        catalog,
        to_build,
        counters,
        last_seq,
        frames: records,
        hinted,
    })
}

/// The body a hint stores for a record: a collection definition, an index's path and a Raft
/// entry in full (the entry's payload is what the cluster's replay needs), of a document the
/// top-level fields its collection's indexed paths start in, whole (what replay needs to
/// compute its index keys; the whole document when its collection is not in `catalog`),
/// nothing for the rest. Replay does not trust a document's body for an index added after
/// its collection was created (the hint may be older than the index): it builds such an
/// index from the documents themselves.
pub(crate) fn hint_body(
    catalog: &Catalog,
    header: &FrameHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> nyro_storage::Result<()> {
    match header.kind {
        RecordKind::CreateCollection
        | RecordKind::AddIndex
        | RecordKind::DropIndex
        | RecordKind::RaftEntry => out.extend_from_slice(payload),
        RecordKind::Put | RecordKind::Replace => {
            let Some(collection) = catalog.by_id(header.collection) else {
                // Not in the catalog now, yet replay meets the record while its collection
                // exists: dropped since (the drop comes later in the log), or on a cluster
                // node created by an entry not applied yet. The whole document, so that
                // replay finds the indexed fields in it (an empty body does not decode).
                out.extend_from_slice(payload);
                return Ok(());
            };
            // The top-level field each indexed path starts in, whole (the last one, should
            // a name repeat): resolving the path in these gives the document's keys.
            let view = crate::view::DocumentView::new(header.id, payload)
                .map_err(|e| nyro_storage::StorageError::Codec(codec_error(e)))?;
            let mut fields: Vec<(String, crate::document::Value)> = Vec::new();
            let indexed = collection.indexes();
            for first in indexed.paths().iter().filter_map(|p| p.segments().first()) {
                let first = &**first;
                if fields.iter().all(|(name, _)| name != first)
                    && let Some(value) = view.get(first)
                {
                    fields.push((first.to_owned(), value.to_value()));
                }
            }
            crate::document::encode_fields(&fields, out)
                .map_err(|e| nyro_storage::StorageError::Codec(codec_error(e)))?;
        }
        RecordKind::Delete
        | RecordKind::DropCollection
        | RecordKind::CompactionMarker
        | RecordKind::RaftTruncate => {}
    }
    Ok(())
}

fn codec_error(e: DbError) -> nyro_storage::codec::CodecError {
    nyro_storage::codec::CodecError::Decode {
        len: 0,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn body(kind: RecordKind, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            frame_len: (nyro_storage::HEADER_LEN + payload.len()) as u32,
            kind,
            collection: 0,
            id: 2,
            seq: 9,
            continues: true,
        };
        let mut out = Vec::new();
        hint_body(&Catalog::default(), &header, payload, &mut out).unwrap();
        out
    }

    #[test]
    fn a_raft_entrys_hint_body_is_its_whole_payload_and_a_truncates_is_empty() {
        assert_eq!(
            body(RecordKind::RaftEntry, b"opaque entry"),
            b"opaque entry"
        );
        assert_eq!(body(RecordKind::RaftTruncate, b""), b"");
        assert_eq!(body(RecordKind::Delete, b""), b"");
    }
}
