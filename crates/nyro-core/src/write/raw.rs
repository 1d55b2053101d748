//! [`AppendEntries`]: Raft entries appended as they are, for a cluster node (`crate::replica`).
//! Their records were prepared by the leader; here they only reach the log, in one write
//! with the rest of the batch. Nothing becomes visible: entries are applied once committed.

use nyro_batch::RecordBuf;
use nyro_storage::{Location, RecordKind};

use super::Operation;
use super::batch::Batch;
use crate::error::{DbError, Result};
use crate::replica::LogEntry;
use crate::state::State;

/// Entries to append: each a `raft entry` frame and its records.
pub(crate) struct AppendEntries {
    entries: Vec<LogEntry>,
}

impl AppendEntries {
    pub(crate) fn new(entries: Vec<LogEntry>) -> Self {
        Self { entries }
    }
}

impl Operation for AppendEntries {
    type Plan = ();
    /// Where each record went, in order: per entry its header frame, then its records.
    type Answer = Vec<Location>;

    fn prepare(&mut self, _batch: &mut Batch, records: &mut RecordBuf) -> Result<()> {
        for entry in &mut self.entries {
            let header = nyro_storage::codec::encode(&(entry.leader, &entry.kind))?;
            records.push(RecordKind::RaftEntry, 0, entry.term, entry.index, &header);
            for record in &mut entry.records {
                let kind = record.kind()?;
                let payload = std::mem::take(&mut record.payload);
                let len = payload.len();
                let chunk = records.add_chunk(payload);
                records
                    .push_in_chunk(
                        kind,
                        record.collection,
                        record.id,
                        record.seq,
                        chunk,
                        0..len,
                    )
                    .map_err(|e| DbError::Internal {
                        message: format!("a raft entry's record does not fit its chunk: {e:?}"),
                    })?;
            }
        }
        Ok(())
    }

    fn commit(self, _plan: (), _state: &State, locations: &[Location]) -> Vec<Location> {
        locations.to_vec()
    }
}

/// A `raft truncate` frame: every entry at `from` or after that was appended before it is
/// void (Raft's truncation of an uncommitted, conflicting tail; nothing written is edited).
pub(crate) struct TruncateEntries {
    from: u64,
}

impl TruncateEntries {
    pub(crate) fn new(from: u64) -> Self {
        Self { from }
    }
}

impl Operation for TruncateEntries {
    type Plan = ();
    type Answer = ();

    fn prepare(&mut self, _batch: &mut Batch, records: &mut RecordBuf) -> Result<()> {
        records.push(RecordKind::RaftTruncate, 0, 0, self.from, &[]);
        Ok(())
    }

    fn commit(self, _plan: (), _state: &State, _locations: &[Location]) {}
}
