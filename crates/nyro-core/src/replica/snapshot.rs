//! Snapshots of a cluster node's state. A snapshot is written from a consistent view (taken
//! while no entry is applied: [`SnapshotView`]) into a file of frames; it is installed by
//! appending its records to the log as one `Snapshot` entry group, which supersedes
//! everything before it in the log: replay and the change feed start there.
//!
//! The file: `NYROSNAP`, u32 version 1, u32 header length, u32 CRC-32C of the header, the
//! header (the codec's encoding of the snapshot's log id and [`SnapshotState`]), then frames
//! (docs/FORMAT.md section 2.2, each with its own CRC): every collection's create record,
//! then every live document's put or replace record.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use nyro_storage::{FrameCheck, Location, Record, RecordKind};

use super::entry::{EntryId, SnapshotState, WriteRecord};
use crate::catalog::{Catalog, Collection, CollectionDef};
use crate::error::{DbError, Result};
use crate::indexing;
use crate::state::State;

const MAGIC: &[u8; 8] = b"NYROSNAP";
const VERSION: u32 = 1;
const PREAMBLE: usize = 20;

/// The header: the log id (term, leader, index) and the state.
type Header = ((u64, u64, u64), SnapshotState);

/// A collection in a view: its id, its definition, and where each document lies.
type CollectionView = (u32, CollectionDef, Vec<(u64, Location)>);

/// The state to snapshot, as of one applied entry: each collection's definition and where
/// each of its documents lies, and the counters.
#[derive(Debug)]
pub struct SnapshotView {
    collections: Vec<CollectionView>,
    state: SnapshotState,
}

impl SnapshotView {
    /// Takes the view of `state`. Call while no entry is applied (openraft asks for the
    /// snapshot builder on the state machine's task).
    pub(crate) fn take(state: &State, snapshot: SnapshotState) -> Self {
        let collections = state
            .catalog
            .load()
            .sorted()
            .into_iter()
            .map(|c| {
                // Every index, ready or being built: the node that installs the snapshot
                // builds them all from its records.
                (c.id, c.def(), c.index.primary().iter().collect())
            })
            .collect();
        Self {
            collections,
            state: snapshot,
        }
    }

    /// Documents in the view.
    pub fn documents(&self) -> usize {
        self.collections.iter().map(|(_, _, docs)| docs.len()).sum()
    }

    /// Writes the snapshot of entry `id`, with the replication layer's `membership`, to
    /// `path` (created; fdatasync'ed before this returns). Blocking. The documents are read
    /// from the log where the view found them (the log is append-only; compaction must not
    /// run meanwhile). Returns the file's size.
    pub(crate) fn write(
        self,
        state: &State,
        id: EntryId,
        membership: (Vec<u8>, Option<EntryId>),
        path: &Path,
    ) -> Result<u64> {
        let io = |e: std::io::Error| DbError::Internal {
            message: format!("writing snapshot {}: {e}", path.display()),
        };
        let mut snapshot = self.state;
        snapshot.membership = membership.0;
        snapshot.membership_id = membership.1.map(|m| (m.term, m.leader, m.index));
        let header: Header = ((id.term, id.leader, id.index), snapshot);
        let header = nyro_storage::codec::encode(&header)?;
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&VERSION.to_le_bytes()).map_err(io)?;
        out.write_all(&(header.len() as u32).to_le_bytes())
            .map_err(io)?;
        out.write_all(&crc32c::crc32c(&header).to_le_bytes())
            .map_err(io)?;
        out.write_all(&header).map_err(io)?;
        let mut frame = Vec::new();
        for (collection, def, docs) in self.collections {
            frame.clear();
            let payload = nyro_storage::codec::encode(&def)?;
            let create = record(RecordKind::CreateCollection, collection, 0, 0, &payload);
            nyro_storage::encode_frame(&create, &mut frame);
            out.write_all(&frame).map_err(io)?;
            for (doc, location) in docs {
                let stored = state.reader.read(location)?;
                let h = stored.header();
                frame.clear();
                let put = record(h.kind, collection, doc, h.seq, stored.payload());
                nyro_storage::encode_frame(&put, &mut frame);
                out.write_all(&frame).map_err(io)?;
            }
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_data().map_err(io)?;
        file.metadata().map(|m| m.len()).map_err(io)
    }
}

fn record(kind: RecordKind, collection: u32, id: u64, seq: u64, payload: &[u8]) -> Record<'_> {
    Record {
        kind,
        collection,
        id,
        seq,
        payload,
        continues: false,
    }
}

/// A snapshot file, read and checked whole.
#[derive(Debug)]
pub struct SnapshotFile {
    /// The last entry it includes.
    pub id: EntryId,
    /// Its counters and membership.
    pub state: SnapshotState,
    /// Its records: creates, then documents.
    pub records: Vec<WriteRecord>,
}

fn damaged(path: &Path, what: impl std::fmt::Display) -> DbError {
    DbError::Internal {
        message: format!("snapshot {} is damaged: {what}", path.display()),
    }
}

/// Reads the header of the snapshot at `path` (its log id and state).
pub fn read_header(path: &Path) -> Result<(EntryId, SnapshotState)> {
    let bytes = std::fs::read(path).map_err(|e| damaged(path, e))?;
    let (header, _) = parse_header(path, &bytes)?;
    Ok(header)
}

fn parse_header<'a>(path: &Path, bytes: &'a [u8]) -> Result<((EntryId, SnapshotState), &'a [u8])> {
    if bytes.len() < PREAMBLE || &bytes[..8] != MAGIC {
        return Err(damaged(path, "it does not start with NYROSNAP"));
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if word(8) != VERSION {
        return Err(damaged(path, format!("version {} is not 1", word(8))));
    }
    let len = word(12) as usize;
    let header = bytes
        .get(PREAMBLE..PREAMBLE + len)
        .ok_or_else(|| damaged(path, "the header is cut short"))?;
    if crc32c::crc32c(header) != word(16) {
        return Err(damaged(path, "the header fails its CRC"));
    }
    let ((term, leader, index), state): Header = nyro_storage::codec::decode(header)?;
    let id = EntryId {
        term,
        leader,
        index,
    };
    Ok(((id, state), &bytes[PREAMBLE + len..]))
}

/// Reads and checks the snapshot at `path`: its header and every frame (CRC, kind).
pub fn read_file(path: &Path) -> Result<SnapshotFile> {
    let bytes = std::fs::read(path).map_err(|e| damaged(path, e))?;
    parse(path, &bytes)
}

/// Checks the snapshot `bytes` (read from `path`, named in errors): its header and every
/// frame (CRC, kind).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<SnapshotFile> {
    let ((id, state), mut rest) = parse_header(path, bytes)?;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let header = match nyro_storage::check_frame(rest) {
            FrameCheck::Complete(h) => h,
            FrameCheck::Incomplete(d) | FrameCheck::Invalid(d) => {
                return Err(damaged(path, format!("record {}: {d}", records.len())));
            }
        };
        if !matches!(
            header.kind,
            RecordKind::CreateCollection | RecordKind::Put | RecordKind::Replace
        ) {
            return Err(damaged(
                path,
                format!("record {} is a {}", records.len(), header.kind.name()),
            ));
        }
        let len = header.frame_len as usize;
        records.push(WriteRecord {
            kind: header.kind as u8,
            collection: header.collection,
            id: header.id,
            seq: header.seq,
            payload: rest[nyro_storage::HEADER_LEN..len].to_vec(),
        });
        rest = &rest[len..];
    }
    Ok(SnapshotFile { id, state, records })
}

/// Makes the snapshot whose records lie at `records` (just appended) the state: a new
/// catalog built from them replaces the old one, whose documents all become dead bytes.
pub(crate) fn reset_state(state: &State, records: &[Location]) -> Result<()> {
    let reader = &state.reader;
    let mut catalog = Catalog::default();
    for &location in records {
        let frame = reader.read(location)?;
        let h = *frame.header();
        match h.kind {
            RecordKind::CreateCollection => {
                let def: CollectionDef = nyro_storage::codec::decode(frame.payload())?;
                catalog.insert(Arc::new(Collection::new(h.collection, def)?));
            }
            _ => {
                let Some(collection) = catalog.by_id(h.collection) else {
                    return Err(DbError::Internal {
                        message: format!("a snapshot names unknown collection id {}", h.collection),
                    });
                };
                indexing::put_stored(collection, reader, h.id, frame.payload(), location)?;
            }
        }
    }
    let old = state.catalog.swap(Arc::new(catalog));
    for collection in old.sorted() {
        state.builds.cancel(collection.id, None);
        indexing::mark_all_dead(&collection, reader);
    }
    Ok(())
}
