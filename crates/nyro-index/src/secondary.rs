//! `SecondaryIndex`: for one path, each [`IndexKey`] to the ascending set of record ids
//! indexed under it, in key order.
//!
//! An ordered map (`BTreeMap`) from key to posting list, so that equality, ranges and sorted
//! walks are all one descent plus a scan. A posting list of one id is stored inline (16 bytes,
//! no allocation), which keeps a path of all-distinct values at one map entry per record; a
//! longer one is a boxed [`IdSet`] (about 8-16 bytes per id). A key whose last id is removed
//! is dropped from the map, and a list back to one id goes back inline, so memory follows the
//! live data. A record may be under several keys (multikey: the elements of an array).
//!
//! This is a plain data structure (`&mut self` to change it); [`crate::CollectionIndexes`]
//! keeps all the secondary indexes of a collection behind one lock, so that a query over
//! several paths sees them in one state.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ops::{Bound, ControlFlow};

use smallvec::SmallVec;

use crate::idset::{IdSet, IdSetIter, IdSetRevIter};
use crate::key::IndexKey;
use crate::range::{KeyRange, is_empty, max_lower, min_upper};

/// Keys [`SecondaryIndex::estimate`] visits on each side before it answers a bound.
const ESTIMATE_KEYS: usize = 128;

/// The ids indexed under one key; never empty (`Many` holds at least two).
#[derive(Clone, Debug)]
pub(crate) enum Postings {
    One(u64),
    Many(Box<IdSet>),
}

impl Postings {
    /// Number of ids.
    pub(crate) fn len(&self) -> usize {
        match self {
            Postings::One(_) => 1,
            Postings::Many(set) => set.len(),
        }
    }

    /// True if `id` is in the list.
    pub(crate) fn contains(&self, id: u64) -> bool {
        match self {
            Postings::One(one) => *one == id,
            Postings::Many(set) => set.contains(id),
        }
    }

    /// The ids strictly greater than `after`, ascending.
    pub(crate) fn iter_after(&self, after: Option<u64>) -> PostingsIter<'_> {
        match self {
            Postings::One(one) => {
                PostingsIter::One(Some(*one).filter(|&id| after.is_none_or(|a| id > a)))
            }
            Postings::Many(set) => PostingsIter::Many(set.iter_after(after)),
        }
    }

    /// The ids strictly less than `before`, descending.
    pub(crate) fn iter_before_rev(&self, before: Option<u64>) -> PostingsIter<'_> {
        match self {
            Postings::One(one) => {
                PostingsIter::One(Some(*one).filter(|&id| before.is_none_or(|b| id < b)))
            }
            Postings::Many(set) => PostingsIter::ManyRev(set.iter_before_rev(before)),
        }
    }
}

/// Ids of one key's posting list, ascending or descending.
#[derive(Clone, Debug)]
pub(crate) enum PostingsIter<'a> {
    /// A list of one id (or none left).
    One(Option<u64>),
    /// A longer list, ascending.
    Many(IdSetIter<'a>),
    /// A longer list, descending.
    ManyRev(IdSetRevIter<'a>),
}

impl Iterator for PostingsIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match self {
            PostingsIter::One(one) => one.take(),
            PostingsIter::Many(iter) => iter.next(),
            PostingsIter::ManyRev(iter) => iter.next(),
        }
    }
}

/// One path's index: [`IndexKey`] to the ids indexed under it, keys in order, ids ascending.
#[derive(Clone, Debug, Default)]
pub struct SecondaryIndex {
    map: BTreeMap<IndexKey, Postings>,
    entries: usize,
}

impl SecondaryIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index of the given posting lists (built at once, as replay on open does); empty
    /// lists are left out.
    pub(crate) fn from_postings(postings: BTreeMap<IndexKey, IdSet>) -> Self {
        let mut entries = 0;
        // In key order already: the map is built bottom up, its nodes full.
        let map = postings
            .into_iter()
            .filter_map(|(key, ids)| {
                let list = match (ids.len(), ids.first()) {
                    (0, _) | (_, None) => return None,
                    (1, Some(one)) => Postings::One(one),
                    _ => Postings::Many(Box::new(ids)),
                };
                entries += list.len();
                Some((key, list))
            })
            .collect();
        Self { map, entries }
    }

    /// Indexes `id` under `key`; returns false if it already was.
    pub fn insert(&mut self, key: IndexKey, id: u64) -> bool {
        let added = match self.map.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(Postings::One(id));
                true
            }
            Entry::Occupied(mut occupied) => add(occupied.get_mut(), id),
        };
        self.entries += usize::from(added);
        added
    }

    /// As [`insert`](Self::insert), cloning `key` only if it is new to the index.
    pub(crate) fn insert_ref(&mut self, key: &IndexKey, id: u64) -> bool {
        let added = match self.map.get_mut(key) {
            Some(postings) => add(postings, id),
            None => {
                self.map.insert(key.clone(), Postings::One(id));
                true
            }
        };
        self.entries += usize::from(added);
        added
    }

    /// Removes `id` from under `key`; returns false if it was not indexed there. A key left
    /// with no id is dropped.
    pub fn remove(&mut self, key: &IndexKey, id: u64) -> bool {
        let Some(postings) = self.map.get_mut(key) else {
            return false;
        };
        let (removed, now_empty) = match postings {
            Postings::One(one) => (*one == id, *one == id),
            Postings::Many(set) => {
                let removed = set.remove(id);
                if set.len() == 1
                    && let Some(only) = set.first()
                {
                    *postings = Postings::One(only);
                }
                (removed, false)
            }
        };
        if now_empty {
            self.map.remove(key);
        }
        if removed {
            self.entries -= 1;
        }
        removed
    }

    /// Moves `id` from the keys `old` to the keys `new`: removes it from each key of `old`
    /// that is not in `new` and adds it under each key of `new` not in `old` (a key given
    /// twice counts once), touching nothing else.
    pub(crate) fn replace_keys(&mut self, id: u64, old: &[IndexKey], new: &[IndexKey]) {
        changed_keys(old, new, |key, added| {
            if added {
                self.insert_ref(key, id);
            } else {
                self.remove(key, id);
            }
        });
    }

    /// True if `id` is indexed under `key`.
    pub fn contains(&self, key: &IndexKey, id: u64) -> bool {
        self.map.get(key).is_some_and(|p| p.contains(id))
    }

    /// All ids indexed under `key`, ascending.
    pub fn lookup(&self, key: &IndexKey) -> Vec<u64> {
        self.iter_after(key, None).collect()
    }

    /// Up to `limit` ids indexed under `key` that are strictly greater than `after` (from the
    /// smallest if `None`), ascending.
    pub fn lookup_page(&self, key: &IndexKey, after: Option<u64>, limit: usize) -> Vec<u64> {
        self.iter_after(key, after).take(limit).collect()
    }

    /// Number of ids indexed under `key`.
    pub fn count(&self, key: &IndexKey) -> usize {
        self.map.get(key).map_or(0, Postings::len)
    }

    /// Number of distinct keys.
    pub fn distinct_keys(&self) -> usize {
        self.map.len()
    }

    /// Number of (key, id) entries (a record is counted once per key it is under).
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True if no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The number of (key, id) entries whose key lies in `range`: exact when the keys in
    /// the range, or those outside it on each side, are at most 128; otherwise an upper
    /// bound (all entries but those counted outside). Cheap either way: it visits at most
    /// about 400 keys (a planner asks it for every query).
    pub fn estimate(&self, range: &KeyRange) -> usize {
        let (lo, hi) = range.bounds();
        if is_empty(lo, hi) {
            return 0;
        }
        let (inside, whole) = capped_count(self.map.range((lo, hi)));
        if whole {
            return inside;
        }
        let (below, _) = match below(lo) {
            Some(hi) => capped_count(self.map.range((Bound::Unbounded, hi))),
            None => (0, true),
        };
        let (above, _) = match above(hi) {
            Some(lo) => capped_count(self.map.range((lo, Bound::Unbounded)).rev()),
            None => (0, true),
        };
        self.entries.saturating_sub(below + above).max(inside)
    }

    /// The ids under any key of any of `ranges`: ascending, each once.
    pub fn ids_in(&self, ranges: &[KeyRange]) -> Vec<u64> {
        let mut ids = Vec::new();
        let mut lists = 0;
        for range in ranges {
            let (lo, hi) = range.bounds();
            if is_empty(lo, hi) {
                continue;
            }
            for (_, postings) in self.map.range((lo, hi)) {
                ids.extend(postings.iter_after(None));
                lists += 1;
            }
        }
        // One list is ascending already; several are merged by sorting.
        if lists > 1 {
            ids.sort_unstable();
            ids.dedup();
        }
        ids
    }

    /// Calls `f` with each (key, id) entry whose key lies in `range`: in key order and, under
    /// one key, in id order, both reversed when `descending`; strictly after `from` in that
    /// order when it is given (a cursor: the last entry a previous walk handed out). Stops
    /// when `f` breaks; returns what `f` returned last.
    pub fn walk(
        &self,
        range: &KeyRange,
        from: Option<(&IndexKey, u64)>,
        descending: bool,
        mut f: impl FnMut(&IndexKey, u64) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let (mut lo, mut hi) = range.bounds();
        if let Some((key, _)) = from {
            if descending {
                hi = min_upper(hi, Bound::Included(key));
            } else {
                lo = max_lower(lo, Bound::Included(key));
            }
        }
        if is_empty(lo, hi) {
            return ControlFlow::Continue(());
        }
        let entries = self.map.range((lo, hi));
        // Only the first key visited can be `from`'s (the bound starts there or above it).
        let mut first = from;
        if descending {
            for (key, postings) in entries.rev() {
                let before = first.take().filter(|(k, _)| *k == key).map(|(_, id)| id);
                for id in postings.iter_before_rev(before) {
                    f(key, id)?;
                }
            }
        } else {
            for (key, postings) in entries {
                let after = first.take().filter(|(k, _)| *k == key).map(|(_, id)| id);
                for id in postings.iter_after(after) {
                    f(key, id)?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// The ids under `key` after `after`, ascending (empty if the key is absent).
    fn iter_after(&self, key: &IndexKey, after: Option<u64>) -> PostingsIter<'_> {
        match self.map.get(key) {
            Some(postings) => postings.iter_after(after),
            None => PostingsIter::One(None),
        }
    }

    /// The posting list of `key`, if any id is indexed under it.
    pub(crate) fn postings(&self, key: &IndexKey) -> Option<&Postings> {
        self.map.get(key)
    }
}

/// Calls `change(key, false)` for each key of `old` that is not in `new`, and
/// `change(key, true)` for each key of `new` not in `old` (each once, however often it is
/// given).
fn changed_keys<'k>(
    old: &'k [IndexKey],
    new: &'k [IndexKey],
    mut change: impl FnMut(&'k IndexKey, bool),
) {
    if old == new {
        return;
    }
    let sorted = |keys: &'k [IndexKey]| {
        let mut refs: SmallVec<[&'k IndexKey; 8]> = keys.iter().collect();
        refs.sort_unstable();
        refs.dedup();
        refs
    };
    let (old, new) = (sorted(old), sorted(new));
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o == n => (i, j) = (i + 1, j + 1),
            (Some(o), Some(n)) if o < n => {
                change(o, false);
                i += 1;
            }
            (Some(o), None) => {
                change(o, false);
                i += 1;
            }
            (_, Some(n)) => {
                change(n, true);
                j += 1;
            }
            (None, None) => break,
        }
    }
}

/// Adds `id` to a posting list; false if it was there.
fn add(postings: &mut Postings, id: u64) -> bool {
    match postings {
        Postings::One(one) if *one == id => false,
        Postings::One(one) => {
            *postings = Postings::Many(Box::new(IdSet::with_ids(&[*one, id])));
            true
        }
        Postings::Many(set) => set.insert(id),
    }
}

/// The entries of at most [`ESTIMATE_KEYS`] posting lists, and whether that was all of them.
fn capped_count<'a>(lists: impl Iterator<Item = (&'a IndexKey, &'a Postings)>) -> (usize, bool) {
    let mut entries = 0;
    for (seen, (_, postings)) in lists.enumerate() {
        if seen == ESTIMATE_KEYS {
            return (entries, false);
        }
        entries += postings.len();
    }
    (entries, true)
}

/// The upper bound of the keys below a lower bound (`None`: there are none).
fn below(lo: Bound<&IndexKey>) -> Option<Bound<&IndexKey>> {
    match lo {
        Bound::Included(k) => Some(Bound::Excluded(k)),
        Bound::Excluded(k) => Some(Bound::Included(k)),
        Bound::Unbounded => None,
    }
}

/// The lower bound of the keys above an upper bound (`None`: there are none).
fn above(hi: Bound<&IndexKey>) -> Option<Bound<&IndexKey>> {
    below(hi)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn changed_keys_is_a_set_difference() {
        let k = |v: &[i64]| v.iter().map(|&i| IndexKey::from(i)).collect::<Vec<_>>();
        let mut seen = Vec::new();
        changed_keys(&k(&[3, 1, 2, 1]), &k(&[2, 4, 4, 0]), |key, added| {
            seen.push((key.as_i64().unwrap(), added));
        });
        assert_eq!(seen, vec![(0, true), (1, false), (3, false), (4, true)]);
    }

    #[test]
    fn postings_inline_one_id() {
        assert_eq!(size_of::<Postings>(), 16);
    }

    #[test]
    fn insert_lookup_remove() {
        let mut index = SecondaryIndex::new();
        let red = IndexKey::from("red");
        assert!(index.insert(red.clone(), 9));
        assert!(!index.insert(red.clone(), 9));
        assert!(index.insert(red.clone(), 3));
        assert!(index.insert(red.clone(), 5));
        assert!(index.insert(IndexKey::from(1i64), 5));
        assert_eq!(index.lookup(&red), vec![3, 5, 9]);
        assert_eq!(index.lookup(&IndexKey::from(1.0)), vec![5]);
        assert_eq!(index.lookup(&IndexKey::from("1")), Vec::<u64>::new());
        assert_eq!(index.lookup_page(&red, Some(3), 1), vec![5]);
        assert_eq!(index.lookup_page(&red, Some(9), 10), Vec::<u64>::new());
        assert_eq!(index.count(&red), 3);
        assert_eq!(index.len(), 4);
        assert_eq!(index.distinct_keys(), 2);
        assert!(index.contains(&red, 9));
        assert!(!index.contains(&red, 1));

        assert!(!index.remove(&red, 4));
        assert!(index.remove(&red, 3));
        assert!(index.remove(&red, 9));
        assert!(matches!(index.map.get(&red), Some(Postings::One(5))));
        assert!(index.remove(&red, 5));
        assert!(!index.remove(&red, 5));
        assert_eq!(index.count(&red), 0);
        assert_eq!(index.distinct_keys(), 1);
        assert!(index.remove(&IndexKey::from(1u64), 5));
        assert!(index.is_empty());
        assert_eq!(index.distinct_keys(), 0);
    }

    #[test]
    fn replace_moves_an_id() {
        let mut index = SecondaryIndex::new();
        index.insert(IndexKey::from(true), 1);
        index.insert(IndexKey::from(true), 2);
        // Replace record 2: the caller removes the old key, then inserts the new one.
        assert!(index.remove(&IndexKey::from(true), 2));
        assert!(index.insert(IndexKey::from(false), 2));
        assert_eq!(index.lookup(&IndexKey::from(true)), vec![1]);
        assert_eq!(index.lookup(&IndexKey::from(false)), vec![2]);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn estimates_are_exact_or_upper_bounds() {
        let mut index = SecondaryIndex::new();
        for i in 0..5_000i64 {
            index.insert(IndexKey::from(i), i as u64);
        }
        index.insert(IndexKey::from(7i64), 9_999);
        let range = |lo: i64, hi: i64| {
            KeyRange::new(
                Bound::Included(IndexKey::from(lo)),
                Bound::Excluded(IndexKey::from(hi)),
            )
        };
        // Narrow: exact.
        assert_eq!(index.estimate(&range(5, 10)), 6);
        assert_eq!(index.estimate(&range(10, 5)), 0);
        // Wide, with few keys outside: exact (all but those).
        assert_eq!(index.estimate(&range(10, 4_990)), 4_980);
        assert_eq!(index.estimate(&KeyRange::all()), 5_001);
        // Wide with many keys on both sides: an upper bound, not below the truth.
        let estimate = index.estimate(&range(1_500, 3_500));
        assert!((2_000..=5_001).contains(&estimate), "{estimate}");
        assert_eq!(index.ids_in(&[range(6, 8)]), vec![6, 7, 9_999]);
    }

    #[test]
    fn large_posting_list_pages() {
        let mut index = SecondaryIndex::new();
        let k = IndexKey::NULL;
        for id in (0..5_000u64).rev() {
            index.insert(k.clone(), id * 3);
        }
        assert_eq!(index.count(&k), 5_000);
        assert_eq!(
            index.lookup_page(&k, Some(2_999), 3),
            vec![3_000, 3_003, 3_006]
        );
        let all = index.lookup(&k);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for id in 0..5_000u64 {
            assert!(index.remove(&k, id * 3));
        }
        assert!(index.is_empty());
        assert_eq!(index.distinct_keys(), 0);
    }
}
