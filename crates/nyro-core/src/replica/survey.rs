//! The pass over the log's frame headers that comes before a cluster node's replay: which
//! Raft entries survive (a `raft truncate` frame voids the entries appended before it from
//! its index on), which of them are committed and valid (and so replayed), which are
//! pending (in the log, for openraft to apply once they are known to be committed), and
//! where each retained entry lies.

use std::collections::{BTreeMap, HashSet};

use nyro_storage::{FrameHeader, Location, LogReader, RecordKind};

use super::entry::{EntryId, EntryKind, HeaderPayload, Placed, SnapshotState};
use crate::error::Result;
use crate::replay::each_record;

/// An entry as the survey found it.
struct Found {
    placed: Placed,
    kind: EntryKind,
}

/// What the survey found.
#[derive(Debug, Default)]
pub(crate) struct Survey {
    /// The `raft entry` frames of the entries replay must not apply: truncated, void, or
    /// not known to be committed. Their records are skipped with them.
    pub(crate) skip: HashSet<Location>,
    /// The surviving entries after the purged prefix, by index.
    pub(crate) entries: BTreeMap<u64, Placed>,
    /// The last entry replay applies.
    pub(crate) last_applied: Option<EntryId>,
    /// The last membership entry replay applies, and its bytes.
    pub(crate) membership: Option<(EntryId, Vec<u8>)>,
    /// The index of the last applied entry that carried writes (0: none).
    pub(crate) last_writes: u64,
    /// The last installed snapshot: its `raft entry` frame (replay starts there), log id
    /// and state.
    pub(crate) snapshot: Option<(Location, EntryId, SnapshotState)>,
}

/// Surveys the log. Entries up to `committed` are applied by replay (if valid); `purged`
/// entries and earlier are not kept in [`Survey::entries`]. `None`: nothing known to be
/// committed, nothing purged.
pub(crate) fn survey(
    reader: &LogReader,
    committed: Option<u64>,
    purged: Option<u64>,
) -> Result<Survey> {
    let retained = |index: u64| purged.is_none_or(|p| index > p);
    let mut found: BTreeMap<u64, Found> = BTreeMap::new();
    let mut skip = HashSet::new();
    // The entry whose records are being collected (its header said more follow).
    let mut open: Option<u64> = None;
    let mut snapshot = None;
    each_record(
        reader,
        &mut Vec::new(),
        |h: &FrameHeader, location, body| {
            match h.kind {
                RecordKind::RaftEntry => {
                    let (leader, kind): HeaderPayload = nyro_storage::codec::decode(body)?;
                    if let EntryKind::Snapshot(state) = kind {
                        // Everything it covers is superseded; its records are its own.
                        found.retain(|&index, _| index > h.seq);
                        let id = EntryId {
                            term: h.id,
                            leader,
                            index: h.seq,
                        };
                        snapshot = Some((location, id, state));
                        open = None;
                        return Ok(());
                    }
                    let placed = Placed {
                        term: h.id,
                        leader,
                        header: location,
                        records: Vec::new(),
                    };
                    if let Some(replaced) = found.insert(h.seq, Found { placed, kind }) {
                        skip.insert(replaced.placed.header);
                    }
                    open = h.continues.then_some(h.seq);
                }
                RecordKind::RaftTruncate => {
                    for (_, voided) in found.split_off(&h.seq) {
                        skip.insert(voided.placed.header);
                    }
                    open = None;
                }
                _ => {
                    if let Some(index) = open {
                        if let Some(entry) = found.get_mut(&index)
                            && retained(index)
                        {
                            entry.placed.records.push(location);
                        }
                        if !h.continues {
                            open = None;
                        }
                    }
                }
            }
            Ok(())
        },
    )?;
    let mut survey = Survey {
        skip,
        ..Survey::default()
    };
    if let Some((_, id, state)) = &snapshot {
        survey.last_applied = Some(*id);
        survey.last_writes = state.last_writes;
        let from = state
            .membership_id
            .map_or(*id, |(term, leader, index)| EntryId {
                term,
                leader,
                index,
            });
        survey.membership = Some((from, state.membership.clone()));
    }
    survey.snapshot = snapshot;
    for (index, entry) in found {
        let id = EntryId {
            term: entry.placed.term,
            leader: entry.placed.leader,
            index,
        };
        if committed.is_some_and(|c| index <= c) {
            match &entry.kind {
                EntryKind::Writes { after, .. } if *after != survey.last_writes => {
                    survey.skip.insert(entry.placed.header);
                }
                EntryKind::Writes { .. } => survey.last_writes = index,
                EntryKind::Membership(bytes) => {
                    survey.membership = Some((id, bytes.clone()));
                }
                EntryKind::Blank | EntryKind::Snapshot(_) => {}
            }
            survey.last_applied = Some(id);
        } else {
            survey.skip.insert(entry.placed.header);
        }
        if retained(index) {
            survey.entries.insert(index, entry.placed);
        }
    }
    Ok(survey)
}

/// Whether `reader`'s log is a cluster node's: its first record (in log order, a
/// compaction marker aside) is a `raft entry` frame. A cluster node's log always starts
/// with one (compaction keeps them), a standalone log never has one.
pub(crate) fn is_raft_log(reader: &LogReader) -> Result<bool> {
    let Some(first) = reader.segments().into_iter().next() else {
        return Ok(false);
    };
    let mut from = 0;
    if let Some(hint) = reader.hint(first.id) {
        let kind = hint
            .entries()
            .map(|e| e.header.kind)
            .find(|&k| k != RecordKind::CompactionMarker);
        if let Some(kind) = kind {
            return Ok(kind == RecordKind::RaftEntry);
        }
        // A hint of the newest segment's first bytes may describe none: read on after it.
        from = hint.covered();
    }
    let Some(frames) = reader.segment_frames_from(first.id, from) else {
        return Ok(false);
    };
    // Markers are skipped by the iteration.
    let first = frames.iter().next().transpose()?;
    Ok(first.is_some_and(|(header, _, _)| header.kind == RecordKind::RaftEntry))
}
