//! Keeping the collections of a repaired log consistent. The log's meaning is the replay of
//! its frames (docs/FORMAT.md section 3): a record of a collection that was never created,
//! or a collection created under a name that a live collection holds, makes replay refuse
//! the log. A lost range can cause both (it held the create- or drop-collection frame), so
//! the survey replays the collection records of the frames it keeps, and where one is
//! missing it adds the missing record at the last lost range before the need:
//!
//! - a record of a collection id that is not live: its creation was lost; a create frame is
//!   added, with the name `recovered_<id>` (made unique) and no secondary index;
//! - a collection created under the name of another live one: that one's drop was lost; a
//!   drop frame is added.
//!
//! Nothing is added where no range was lost before the need (the log was like that before).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::frame::{FrameHeader, Record, RecordKind};

/// A collection definition (docs/FORMAT.md section 4.3).
#[derive(Serialize, Deserialize)]
pub(super) struct Definition {
    pub(super) name: String,
    pub(super) indexes: Vec<String>,
}

/// A record that repair adds to keep the collections consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedRecord {
    /// [`RecordKind::CreateCollection`] or [`RecordKind::DropCollection`].
    pub kind: RecordKind,
    /// The collection id.
    pub collection: u32,
    /// For a create, the name given to the collection.
    pub name: Option<String>,
    /// The sequence number the frame carries (that of the last intact record before it,
    /// as create and drop frames repeat the last one).
    pub seq: u64,
}

impl AddedRecord {
    /// The frame bytes of this record, appended to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) -> crate::Result<()> {
        let payload = match &self.name {
            Some(name) => crate::codec::encode(&Definition {
                name: name.clone(),
                indexes: Vec::new(),
            })?,
            None => Vec::new(),
        };
        crate::frame::encode(
            &Record {
                kind: self.kind,
                collection: self.collection,
                id: 0,
                seq: self.seq,
                payload: &payload,
                continues: false,
            },
            out,
        );
        Ok(())
    }
}

/// The live collections while the survey walks the kept frames in log order.
#[derive(Default)]
pub(super) struct Collections {
    /// Live collection ids, with their names where known.
    live: HashMap<u32, Option<String>>,
    /// Live collections by name.
    by_name: HashMap<String, u32>,
    /// Every name any create frame of the log gives.
    pub(super) names: HashMap<u32, String>,
    /// Every name ever seen, so that a made-up name is unique.
    taken: HashSet<String>,
}

impl Collections {
    /// Follows one kept record frame; returns the records that must come before it.
    pub(super) fn follow(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
        seq: u64,
    ) -> Vec<AddedRecord> {
        let id = header.collection;
        let mut added = Vec::new();
        match header.kind {
            RecordKind::CompactionMarker => {}
            RecordKind::CreateCollection => {
                let name = crate::codec::decode::<Definition>(payload)
                    .ok()
                    .map(|d| d.name);
                if let Some(name) = &name {
                    self.names.insert(id, name.clone());
                    self.taken.insert(name.clone());
                    if let Some(&other) = self.by_name.get(name)
                        && other != id
                    {
                        self.drop(other);
                        added.push(AddedRecord {
                            kind: RecordKind::DropCollection,
                            collection: other,
                            name: None,
                            seq,
                        });
                    }
                    self.by_name.insert(name.clone(), id);
                }
                self.live.insert(id, name);
            }
            RecordKind::DropCollection => {
                if !self.live.contains_key(&id) {
                    added.push(self.recreate(id, seq));
                }
                self.drop(id);
            }
            RecordKind::Put | RecordKind::Replace | RecordKind::Delete => {
                if !self.live.contains_key(&id) {
                    added.push(self.recreate(id, seq));
                }
            }
        }
        added
    }

    fn drop(&mut self, id: u32) {
        if let Some(Some(name)) = self.live.remove(&id) {
            self.by_name.remove(&name);
        }
    }

    /// A create frame for collection `id`, whose own was lost; its name is made unique at
    /// the end ([`Collections::name_added`]), once every name of the log is known.
    fn recreate(&mut self, id: u32, seq: u64) -> AddedRecord {
        self.live.insert(id, None);
        AddedRecord {
            kind: RecordKind::CreateCollection,
            collection: id,
            name: None,
            seq,
        }
    }

    /// Names the created collections `recovered_<id>`, unique among every name of the log.
    pub(super) fn name_added(&mut self, added: &mut AddedRecord) {
        if added.kind != RecordKind::CreateCollection {
            return;
        }
        let base = format!("recovered_{}", added.collection);
        let mut name = base.clone();
        let mut n = 1;
        while self.taken.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.taken.insert(name.clone());
        self.names.entry(added.collection).or_insert(name.clone());
        added.name = Some(name);
    }
}
