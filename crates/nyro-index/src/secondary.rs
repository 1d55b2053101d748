//! `SecondaryIndex`: for one field, each [`IndexKey`] to the ascending set of record ids whose
//! document holds exactly that value.
//!
//! A hash map from key to posting list. A posting list of one id is stored inline (16 bytes,
//! no allocation), which keeps a field of all-distinct values at one map entry per record; a
//! longer one is a boxed [`IdSet`] (about 8-16 bytes per id). A key whose last id is removed
//! is dropped from the map, and a list back to one id goes back inline, so memory follows the
//! live data.
//!
//! This is a plain data structure (`&mut self` to change it); [`crate::CollectionIndexes`]
//! keeps all the secondary indexes of a collection behind one lock, so that a query over
//! several fields sees them in one state.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::idset::{IdSet, IdSetIter};
use crate::key::IndexKey;

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
}

/// Ascending ids of one key's posting list, after a given id.
#[derive(Clone, Debug)]
pub(crate) enum PostingsIter<'a> {
    /// A list of one id (or none left).
    One(Option<u64>),
    /// A longer list.
    Many(IdSetIter<'a>),
}

impl Iterator for PostingsIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match self {
            PostingsIter::One(one) => one.take(),
            PostingsIter::Many(iter) => iter.next(),
        }
    }
}

/// One field's index: [`IndexKey`] to the ids whose document holds that value, ascending.
#[derive(Clone, Debug, Default)]
pub struct SecondaryIndex {
    /// Randomly seeded foldhash: fast, and values chosen by clients cannot be aimed at one
    /// bucket.
    map: HashMap<IndexKey, Postings, foldhash::fast::RandomState>,
    entries: usize,
}

impl SecondaryIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index of the given posting lists (none empty); a key given twice has its lists
    /// merged (built at once, as replay on open does).
    pub(crate) fn from_postings(postings: impl IntoIterator<Item = (IndexKey, IdSet)>) -> Self {
        let mut lists: HashMap<IndexKey, IdSet, foldhash::fast::RandomState> = HashMap::default();
        for (key, ids) in postings {
            match lists.entry(key) {
                Entry::Vacant(vacant) => {
                    vacant.insert(ids);
                }
                Entry::Occupied(mut occupied) => {
                    // The same key from two encodings (1 and 1.0): rare, merged by sorting.
                    let merged = occupied.get_mut();
                    let mut all: Vec<u64> = merged
                        .iter_after(None)
                        .chain(ids.iter_after(None))
                        .collect();
                    all.sort_unstable();
                    all.dedup();
                    *merged = IdSet::from_ascending(all).unwrap_or_default();
                }
            }
        }
        let mut index = Self::new();
        index.map.reserve(lists.len());
        for (key, ids) in lists {
            let list = match (ids.len(), ids.first()) {
                (0, _) | (_, None) => continue,
                (1, Some(one)) => Postings::One(one),
                _ => Postings::Many(Box::new(ids)),
            };
            index.entries += list.len();
            index.map.insert(key, list);
        }
        index
    }

    /// Indexes `id` under `key`; returns false if it already was.
    pub fn insert(&mut self, key: IndexKey, id: u64) -> bool {
        let added = match self.map.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(Postings::One(id));
                true
            }
            Entry::Occupied(mut occupied) => {
                let postings = occupied.get_mut();
                match postings {
                    Postings::One(one) if *one == id => false,
                    Postings::One(one) => {
                        *postings = Postings::Many(Box::new(IdSet::with_ids(&[*one, id])));
                        true
                    }
                    Postings::Many(set) => set.insert(id),
                }
            }
        };
        if added {
            self.entries += 1;
        }
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

    /// Number of (key, id) entries, that is of records indexed by this field.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True if no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

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
