//! Live queries: a change feed filtered by a predicate on documents (a query's filter),
//! sending only the changes that concern it, each marked with whether the document matches
//! after the change (docs/CONTRACT section 6, "Live queries").
//!
//! A change concerns the filter when its new version matches (an insert or an update), or
//! its previous version matched (an update or a delete). The event's version is in the
//! event; the previous one is not, so a `Watch` keeps, per watched collection, the ids
//! whose latest version matches: one id per matching document, nothing per other document.
//! An insert has no previous version (whatever the set says, for instance about an id of a
//! collection since dropped and created again).
//!
//! **Where the set comes from.** The set must be exact at the seq where the stream's events
//! begin, or the first events would be judged against the wrong previous versions. The
//! stream ([`crate::ChangeStream`]) hands over from the log to live events at `until`,
//! the last seq committed when it subscribed to the live channel (it subscribes first, so
//! every later change reaches it, and skips live events at or before `until`). A filtered
//! stream therefore always walks the log from its start up to `until`, evaluating the
//! filter on every document record it passes, whether at or before `since` (state only) or
//! after it (then sent if it concerns the filter). The set is then exactly that of `until`
//! by construction, with no lock: no writer ever waits for a subscriber. The other choice,
//! a scan of the collection's documents together with the seq, needs a lock that stops the
//! collection's writers for the whole scan, because a write updates the indexes before it
//! publishes its seq. The cost of the walk is a read of the log when the stream starts
//! (like a replay from `since=0`, without sending anything but what concerns the filter);
//! it runs inside [`crate::ChangeStream::next`], handing the task back to the runtime every
//! few thousand frames, while live events wait in the stream's buffer.
//!
//! **Compaction.** The walk needs only the latest version of each document to know the set
//! at `until`, and compaction keeps those. A replay with `since` also needs the previous
//! version of each change it sends; when compaction has dropped old versions (the log's
//! history floor is above 0), the replay also tracks every id it has seen, until it ends,
//! and an update or delete of an id it never saw (its previous version is gone) is sent:
//! it may concern the filter, and it carries `match` like any other, so a client's result
//! set stays exact.
//!
//! **Clusters.** The walk is the same replay a follower's feed runs: records of Raft entries
//! that are not visible are skipped, and an installed snapshot's documents (a state, not
//! changes) set the set without being sent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::feed::ChangeOp;
use crate::view::DocumentView;

/// A live query's test of a document: does this version match? Called on borrowed views,
/// once per document record of the watched collections the stream passes (and once per
/// live change). Must be cheap and must not block.
pub type Predicate = Arc<dyn Fn(&DocumentView<'_>) -> bool + Send + Sync>;

/// What a filtered stream knows: the predicate, and per collection the ids whose latest
/// version matches.
pub(crate) struct Watch {
    predicate: Predicate,
    matching: HashMap<Arc<str>, HashSet<u64>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("matching", &self.len())
            .finish()
    }
}

/// How much a [`Watch`] knows about the version a change replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Previous {
    /// The set says whether it matched.
    Known,
    /// It is gone from the log (compaction dropped it): the change may concern the filter.
    Unknown,
}

impl Watch {
    pub(crate) fn new(predicate: Predicate) -> Self {
        Self {
            predicate,
            matching: HashMap::new(),
        }
    }

    /// Whether `doc` (a version of a document) matches.
    pub(crate) fn matches(&self, doc: &DocumentView<'_>) -> bool {
        (self.predicate)(doc)
    }

    /// Takes the change `op` of document `id` in `collection`, whose new version matches
    /// or not (`new_match`, false on delete), into the set; answers `Some(new_match)` if
    /// the change concerns the filter (so it is sent with `match` = that), `None` if not.
    pub(crate) fn apply(
        &mut self,
        collection: &Arc<str>,
        id: u64,
        op: ChangeOp,
        new_match: bool,
        previous: Previous,
    ) -> Option<bool> {
        let old_match = if new_match {
            let set = match self.matching.get_mut(collection) {
                Some(set) => set,
                None => self.matching.entry(Arc::clone(collection)).or_default(),
            };
            !set.insert(id)
        } else {
            self.matching
                .get_mut(collection)
                .is_some_and(|set| set.remove(&id))
        };
        let old_match = match op {
            ChangeOp::Insert => false,
            ChangeOp::Update | ChangeOp::Delete => old_match || previous == Previous::Unknown,
        };
        (new_match || old_match).then_some(new_match)
    }

    /// A collection was dropped: none of its documents matches any more.
    pub(crate) fn forget(&mut self, collection: &str) {
        self.matching.remove(collection);
    }

    /// How many documents match, over every watched collection.
    pub(crate) fn len(&self) -> usize {
        self.matching.values().map(HashSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> (Watch, Arc<str>) {
        (
            Watch::new(Arc::new(|_: &DocumentView<'_>| true)),
            Arc::from("c"),
        )
    }

    #[test]
    fn a_change_concerns_the_filter_when_either_version_matches() {
        let (mut w, c) = watch();
        let k = Previous::Known;
        // An insert that does not match: not sent, nothing kept.
        assert_eq!(w.apply(&c, 1, ChangeOp::Insert, false, k), None);
        assert_eq!(w.len(), 0);
        // Update into the set, update within, update out, update outside.
        assert_eq!(w.apply(&c, 1, ChangeOp::Update, true, k), Some(true));
        assert_eq!(w.apply(&c, 1, ChangeOp::Update, true, k), Some(true));
        assert_eq!(w.apply(&c, 1, ChangeOp::Update, false, k), Some(false));
        assert_eq!(w.apply(&c, 1, ChangeOp::Update, false, k), None);
        // A matching insert, then its delete.
        assert_eq!(w.apply(&c, 2, ChangeOp::Insert, true, k), Some(true));
        assert_eq!(w.len(), 1);
        assert_eq!(w.apply(&c, 2, ChangeOp::Delete, false, k), Some(false));
        assert_eq!(w.apply(&c, 2, ChangeOp::Delete, false, k), None);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn an_insert_has_no_previous_version_and_an_unknown_one_may_have_matched() {
        let (mut w, c) = watch();
        let k = Previous::Known;
        assert_eq!(w.apply(&c, 1, ChangeOp::Insert, true, k), Some(true));
        // A collection dropped and created again: its stale id is no previous version.
        assert_eq!(w.apply(&c, 1, ChangeOp::Insert, false, k), None);
        assert_eq!(w.len(), 0);
        let u = Previous::Unknown;
        assert_eq!(w.apply(&c, 3, ChangeOp::Update, false, u), Some(false));
        assert_eq!(w.apply(&c, 3, ChangeOp::Delete, false, u), Some(false));
        assert_eq!(w.apply(&c, 3, ChangeOp::Insert, false, u), None);
    }

    #[test]
    fn collections_are_apart_and_a_drop_forgets_one() {
        let (mut w, c) = watch();
        let d: Arc<str> = Arc::from("d");
        let k = Previous::Known;
        w.apply(&c, 1, ChangeOp::Insert, true, k);
        w.apply(&d, 1, ChangeOp::Insert, true, k);
        assert_eq!(w.apply(&d, 1, ChangeOp::Delete, false, k), Some(false));
        w.forget("c");
        assert_eq!(w.apply(&c, 1, ChangeOp::Update, false, k), None);
    }
}
