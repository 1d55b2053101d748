//! [`Relocate`]: compaction copied frames to a new segment; point the primary index at the
//! copies.

use nyro_batch::RecordBuf;
use nyro_storage::{Location, Moved, RecordKind};

use super::Operation;
use super::batch::Batch;
use crate::error::Result;
use crate::state::State;

/// Point the index at the copies of the frames it still points at (the others were
/// replaced or deleted meanwhile, so their copies are dead). Writes nothing; runs on the
/// writer (its leader) so that no write can come between the check and the switch.
pub(crate) struct Relocate {
    pub(crate) moved: Vec<Moved>,
}

impl Operation for Relocate {
    type Plan = ();
    /// How many documents it switched.
    type Answer = usize;

    fn prepare(&mut self, _batch: &mut Batch, _records: &mut RecordBuf) -> Result<()> {
        Ok(())
    }

    /// Copies of documents that were replaced or deleted meanwhile are dead from the start.
    /// Secondary indexes hold ids, not locations, so they do not change.
    fn commit(self, (): (), state: &State, _locations: &[Location]) -> usize {
        let catalog = state.catalog.load();
        let mut switched = 0;
        for m in &self.moved {
            if !matches!(m.header.kind, RecordKind::Put | RecordKind::Replace) {
                continue; // catalog records and tombstones are not indexed
            }
            let current = catalog
                .by_id(m.header.collection)
                .map(|c| (c, c.index.primary().get(m.header.id)));
            match current {
                Some((c, Some(at))) if at == m.from => {
                    c.index.primary().insert(m.header.id, m.to);
                    switched += 1;
                }
                _ => state.reader.mark_dead(m.to),
            }
        }
        switched
    }
}
