//! The table of segments: log order for iteration, lookup by file number for reads.

use std::sync::Arc;

use crate::segment::Segment;

/// Every segment, replaced as a whole (copy on write) when one is added or removed.
///
/// Log order is by (position, id). While compaction is switching a segment over, both the
/// old file and its replacement are in the table: reads by either's locations work, and
/// iteration shows only the replacement.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentTable {
    /// In log order.
    ordered: Vec<Arc<Segment>>,
    /// `(id, index into ordered)`, sorted by id.
    by_id: Vec<(u32, usize)>,
    /// Per entry of `ordered`: replaced by another segment of the table.
    hidden: Vec<bool>,
}

impl SegmentTable {
    pub(crate) fn new(mut segments: Vec<Arc<Segment>>) -> Self {
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

    /// The table with `segment` added.
    pub(crate) fn with(&self, segment: Arc<Segment>) -> Self {
        let mut segments = self.ordered.clone();
        segments.push(segment);
        Self::new(segments)
    }

    /// The table without the segment `id`.
    pub(crate) fn without(&self, id: u32) -> Self {
        Self::new(
            self.ordered
                .iter()
                .filter(|s| s.id != id)
                .cloned()
                .collect(),
        )
    }

    /// Highest file number in the table.
    pub(crate) fn max_id(&self) -> u32 {
        self.by_id.last().map_or(0, |(id, _)| *id)
    }
}
