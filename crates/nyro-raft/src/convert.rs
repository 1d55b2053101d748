//! openraft's entries to and from the database's (`nyro_core::replica::LogEntry`).

use nyro_core::replica::{EntryId, EntryKind, LogEntry};
use openraft::{CommittedLeaderId, EntryPayload};

use crate::error::{StoreResult, io_error};
use crate::types::{Entry, LogId, NodeId, Proposal};

/// A log id from a stored term, leader and index.
pub(crate) fn log_id(term: u64, leader: NodeId, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, leader), index)
}

/// The log id of a stored entry.
pub(crate) fn entry_log_id(id: EntryId) -> LogId {
    log_id(id.term, id.leader, id.index)
}

/// The database's form of `entry` (moving its records).
pub(crate) fn to_log_entry(entry: Entry) -> StoreResult<(LogEntry, bool)> {
    let term = entry.log_id.leader_id.term;
    let leader = entry.log_id.leader_id.node_id;
    let index = entry.log_id.index;
    let (kind, records, sync) = match entry.payload {
        EntryPayload::Blank => (EntryKind::Blank, Vec::new(), false),
        EntryPayload::Normal(Proposal {
            after,
            records,
            sync,
        }) => (EntryKind::Writes { after, sync }, records, sync),
        EntryPayload::Membership(membership) => {
            let bytes = nyro_storage::codec::encode(&membership)
                .map_err(|e| io_error(openraft::ErrorSubject::Log(entry.log_id), e))?;
            (EntryKind::Membership(bytes), Vec::new(), false)
        }
    };
    let entry = LogEntry {
        term,
        leader,
        index,
        kind,
        records,
    };
    Ok((entry, sync))
}

/// openraft's form of `entry`.
pub(crate) fn from_log_entry(entry: LogEntry) -> StoreResult<Entry> {
    let id = log_id(entry.term, entry.leader, entry.index);
    let payload = match entry.kind {
        EntryKind::Blank => EntryPayload::Blank,
        EntryKind::Writes { after, sync } => EntryPayload::Normal(Proposal {
            after,
            records: entry.records,
            sync,
        }),
        EntryKind::Membership(bytes) => EntryPayload::Membership(
            nyro_storage::codec::decode(&bytes)
                .map_err(|e| io_error(openraft::ErrorSubject::Log(id), e))?,
        ),
        EntryKind::Snapshot(_) => {
            return Err(io_error(
                openraft::ErrorSubject::Log(id),
                std::io::Error::other("an installed snapshot is not an entry of the Raft log"),
            ));
        }
    };
    Ok(Entry {
        log_id: id,
        payload,
    })
}
