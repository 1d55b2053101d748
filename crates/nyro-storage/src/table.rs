//! The table of segments: log order for iteration, lookup by file number for reads, and
//! which segment is active. Published as one value, so a reader always sees a table and an
//! active segment that belong together.

use std::sync::Arc;

use crate::segment::Segment;

/// Every segment and the active one, replaced as a whole (copy on write) when a segment is
/// added or removed or another becomes active.
///
/// Log order is by (position, id). While compaction is switching a segment over, both the
/// old file and its replacement are in the table: reads by either's locations work, and
/// iteration shows only the replacement. The active segment is in the table and is the last
/// visible one in log order (its position is its id, higher than every other file number
/// when it was created; compaction only places segments at older positions).
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentTable {
    /// The file number of the active segment.
    active: u32,
    /// In log order.
    ordered: Vec<Arc<Segment>>,
    /// `(id, index into ordered)`, sorted by id.
    by_id: Vec<(u32, usize)>,
    /// Per entry of `ordered`: replaced by another segment of the table.
    hidden: Vec<bool>,
}

impl SegmentTable {
    pub(crate) fn new(mut segments: Vec<Arc<Segment>>, active: u32) -> Self {
        segments.sort_by_key(|s| (s.position, s.id));
        let mut by_id: Vec<(u32, usize)> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        by_id.sort_unstable();
        let hidden = segments
            .iter()
            .map(|s| segments.iter().any(|other| other.replaces == Some(s.id)))
            .collect();
        Self {
            active,
            ordered: segments,
            by_id,
            hidden,
        }
    }

    /// The segment with file number `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&Arc<Segment>> {
        self.by_id
            .binary_search_by_key(&id, |(id, _)| *id)
            .ok()
            .map(|at| &self.ordered[self.by_id[at].1])
    }

    /// The segments a reader of the log sees, in log order.
    pub(crate) fn visible(&self) -> impl Iterator<Item = &Arc<Segment>> {
        self.ordered
            .iter()
            .zip(&self.hidden)
            .filter(|(_, hidden)| !**hidden)
            .map(|(s, _)| s)
    }

    /// Every segment, hidden ones included, in log order.
    pub(crate) fn all(&self) -> &[Arc<Segment>] {
        &self.ordered
    }

    /// The file number of the active segment.
    pub(crate) fn active(&self) -> u32 {
        self.active
    }

    /// The table with `segment` added (a compacted segment).
    pub(crate) fn with(&self, segment: Arc<Segment>) -> Self {
        let mut segments = self.ordered.clone();
        segments.push(segment);
        Self::new(segments, self.active)
    }

    /// The table with `segment` added as the new active segment (a seal's new segment):
    /// both changes in one step.
    pub(crate) fn with_active(&self, segment: Arc<Segment>) -> Self {
        let active = segment.id;
        let mut segments = self.ordered.clone();
        segments.push(segment);
        Self::new(segments, active)
    }

    /// The table without the segment `id` (never the active one).
    pub(crate) fn without(&self, id: u32) -> Self {
        Self::new(
            self.ordered
                .iter()
                .filter(|s| s.id != id)
                .cloned()
                .collect(),
            self.active,
        )
    }

    /// Highest file number in the table.
    pub(crate) fn max_id(&self) -> u32 {
        self.by_id.last().map_or(0, |(id, _)| *id)
    }
}
