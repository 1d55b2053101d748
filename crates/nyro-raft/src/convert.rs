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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nyro_core::replica::WriteRecord;

    use super::*;

    /// `?sync=true` travels with the entry: read back from the log for a follower, an entry
    /// still says its writes must be fdatasync'ed (contract section 2 on every node).
    #[test]
    fn an_entry_keeps_its_sync_flag_and_records_through_the_log_form() {
        for sync in [false, true] {
            let records = vec![WriteRecord {
                kind: 1,
                collection: 3,
                id: 7,
                seq: 9,
                payload: vec![1, 2, 3],
            }];
            let entry = Entry {
                log_id: log_id(2, 5, 11),
                payload: EntryPayload::Normal(Proposal {
                    after: 10,
                    records: records.clone(),
                    sync,
                }),
            };
            let (stored, wants_sync) = to_log_entry(entry).unwrap();
            assert_eq!(wants_sync, sync);
            assert_eq!(stored.kind, EntryKind::Writes { after: 10, sync });
            let back = from_log_entry(stored).unwrap();
            assert_eq!(back.log_id, log_id(2, 5, 11));
            match back.payload {
                EntryPayload::Normal(p) => {
                    assert_eq!((p.after, p.sync, p.records), (10, sync, records));
                }
                other => panic!("expected writes, got {other:?}"),
            }
        }
    }
}
