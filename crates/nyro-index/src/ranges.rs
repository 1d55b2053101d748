//! Range queries on a collection's ordered secondary indexes: how many entries a range holds
//! ([`CollectionIndexes::estimate`], for a planner to choose), the ids under a set of ranges
//! ([`CollectionIndexes::ids_in`], for `$in` and intersections) and a walk in key order from
//! a cursor ([`CollectionIndexes::walk`], for sorted pages). Each runs under the indexes'
//! read lock, so it sees every write whole or not at all.

use std::ops::ControlFlow;

use crate::collection::CollectionIndexes;
use crate::error::IndexError;
use crate::key::IndexKey;
use crate::range::KeyRange;

impl CollectionIndexes {
    /// The number of (key, id) entries of `path` whose key lies in `range` (a record under
    /// several keys of the range counts for each): exact for narrow ranges, an upper bound
    /// for wide ones ([`crate::SecondaryIndex::estimate`]); cheap either way. Errors with
    /// [`IndexError::NotIndexed`].
    pub fn estimate(&self, path: &str, range: &KeyRange) -> Result<usize, IndexError> {
        self.read_index(path, |index| index.estimate(range))
    }

    /// True if every record is under exactly one key of `path` now (no array of two or more
    /// elements, no path through an array giving several values): then the conditions of a
    /// filter on `path` may be combined into one range, and a walk may start at a bound.
    /// Every record is under at least one key of every ready index (a missing path under
    /// null), and a put changes the primary index and the keys under one hold of the write
    /// lock, so comparing the counts under the read lock is exact. Errors with
    /// [`IndexError::NotIndexed`] or [`IndexError::NotReady`].
    pub fn is_single_key(&self, path: &str) -> Result<bool, IndexError> {
        self.read_index(path, |index| index.len() <= self.primary().len())
    }

    /// The ids indexed under a key of `path` in any of `ranges`: ascending, each once.
    /// Errors with [`IndexError::NotIndexed`].
    pub fn ids_in(&self, path: &str, ranges: &[KeyRange]) -> Result<Vec<u64>, IndexError> {
        self.read_index(path, |index| index.ids_in(ranges))
    }

    /// Calls `f` with each (key, id) entry of `path` whose key lies in `range`, in key order
    /// then id order (both reversed when `descending`), strictly after `from` in that order,
    /// until `f` breaks: a sorted page starts from the last entry of the page before. A
    /// record under several keys of the range comes once per key. Runs under the read lock:
    /// `f` must not write to these indexes. Errors with [`IndexError::NotIndexed`].
    pub fn walk(
        &self,
        path: &str,
        range: &KeyRange,
        from: Option<(&IndexKey, u64)>,
        descending: bool,
        f: impl FnMut(&IndexKey, u64) -> ControlFlow<()>,
    ) -> Result<(), IndexError> {
        self.read_index(path, |index| {
            let _ = index.walk(range, from, descending, f);
        })
    }
}
