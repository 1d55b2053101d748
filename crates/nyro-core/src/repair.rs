//! Repairing a damaged data directory (`nyrodb repair`): the log's own repair
//! ([`nyro_storage::repair_with`]), told what the records mean so that the repaired log
//! still replays.
//!
//! Replay refuses a record of a collection that was never created, and a collection created
//! under the name of a live one. A lost range can cause both, when it held the create- or
//! drop-collection record. So repair follows the collection records of the frames it keeps,
//! and where one is missing it writes it in place of the last lost range before the need:
//!
//! - a record of a collection id that is not live: its creation was lost. A create record is
//!   written for that id, named `recovered_<id>` (with `_2`, `_3`, ... if the log uses that
//!   name), without secondary indexes;
//! - a collection created under the name of another live one: that one's drop was lost. A
//!   drop record is written for it.
//!
//! Both carry the sequence number of the last intact record before them, as create and drop
//! records do.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use nyro_storage::{AddedRecord, FrameHeader, RecordKind, RecordMeaning, RepairReport};

use crate::catalog::CollectionDef;
use crate::error::Result;

/// Repairs the data directory `dir`: see `nyro_storage::repair` for what it keeps, moves to
/// `lost+found` and reports, and the module docs for the records it may add. Changes nothing
/// in a healthy directory; refuses one that a running database holds. `progress` is called
/// with (bytes checked, bytes in all) as it reads the segments.
pub fn repair(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<RepairReport> {
    Ok(nyro_storage::repair_with(
        dir,
        &mut Collections::default,
        progress,
    )?)
}

/// The live collections while repair walks the kept frames in log order.
#[derive(Default)]
struct Collections {
    /// Live collection ids, with their names where the create record gives one.
    live: HashMap<u32, Option<String>>,
    /// Live collections by name.
    by_name: HashMap<String, u32>,
    /// The name of every collection id, from the create records (and the made-up ones).
    names: HashMap<u32, String>,
    /// Every name the log uses, so that a made-up one is unique.
    taken: HashSet<String>,
}

impl Collections {
    fn drop_collection(&mut self, id: u32) {
        if let Some(Some(name)) = self.live.remove(&id) {
            self.by_name.remove(&name);
        }
    }

    /// A create record for `id`, whose own was lost; named in [`RecordMeaning::finish`].
    fn recreate(&mut self, id: u32) -> AddedRecord {
        self.live.insert(id, None);
        AddedRecord {
            kind: RecordKind::CreateCollection,
            collection: id,
            id: 0,
            seq: 0, // set by repair
            payload: Vec::new(),
            note: String::new(),
        }
    }
}

impl RecordMeaning for Collections {
    fn follow(&mut self, header: &FrameHeader, payload: &[u8]) -> Vec<AddedRecord> {
        let id = header.collection;
        let mut added = Vec::new();
        match header.kind {
            // Neither names a collection: a Raft entry's records follow it as frames of
            // their own, and are followed there.
            RecordKind::CompactionMarker | RecordKind::RaftEntry | RecordKind::RaftTruncate => {}
            RecordKind::CreateCollection => {
                let name = nyro_storage::codec::decode::<CollectionDef>(payload)
                    .ok()
                    .map(|def| def.name);
                if let Some(name) = &name {
                    self.names.insert(id, name.clone());
                    self.taken.insert(name.clone());
                    if let Some(&other) = self.by_name.get(name)
                        && other != id
                    {
                        self.drop_collection(other);
                        added.push(AddedRecord {
                            kind: RecordKind::DropCollection,
                            collection: other,
                            id: 0,
                            seq: 0, // set by repair
                            payload: Vec::new(),
                            note: format!(
                                "the drop of collection {name:?} (id {other}): it was lost, and \
                                 collection id {id} takes the name after it"
                            ),
                        });
                    }
                    self.by_name.insert(name.clone(), id);
                }
                self.live.insert(id, name);
            }
            RecordKind::DropCollection => {
                if !self.live.contains_key(&id) {
                    added.push(self.recreate(id));
                }
                self.drop_collection(id);
            }
            RecordKind::Put
            | RecordKind::Replace
            | RecordKind::Delete
            | RecordKind::AddIndex
            | RecordKind::DropIndex => {
                if !self.live.contains_key(&id) {
                    added.push(self.recreate(id));
                }
            }
        }
        added
    }

    fn finish(&mut self, added: &mut [&mut AddedRecord]) {
        for record in added {
            if record.kind != RecordKind::CreateCollection {
                continue;
            }
            let base = format!("recovered_{}", record.collection);
            let mut name = base.clone();
            let mut n = 1;
            while self.taken.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            self.taken.insert(name.clone());
            self.names.insert(record.collection, name.clone());
            let def = CollectionDef {
                name: name.clone(),
                indexes: Vec::new(),
            };
            // A name and an empty list always encode; an empty payload would be refused by
            // replay, which names the frame.
            record.payload = nyro_storage::codec::encode(&def).unwrap_or_default();
            record.note = format!(
                "collection {name} (id {}): its creation was lost; its records are kept under \
                 this name, without secondary indexes",
                record.collection
            );
        }
    }

    fn collection_name(&self, collection: u32) -> Option<String> {
        self.names.get(&collection).cloned()
    }
}
