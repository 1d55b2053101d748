//! `PrimaryIndex`: a collection's record ids and where each record's latest frame lies.
//!
//! Two structures: a `DashMap<u64, Location>` for point lookups (sharded, so a `get` takes
//! one shard's read lock and never a collection-wide one), and the ids in ascending order in
//! an [`IdSet`] behind a `parking_lot::RwLock`, so a page of `limit` ids after a given id costs
//! two binary searches plus `limit` map lookups, never a sort of the collection.
//!
//! Consistency: every id in the ordered set is in the map whenever a reader can look. Writers
//! take the set's upgradable lock (so writers are serialized even if a caller breaks the
//! one-writer rule, while readers keep reading); an insert of a new id puts it in the map
//! before it upgrades to the write lock to add it to the set, and a remove takes it out of the
//! set under the write lock before it takes it out of the map. A replace of an existing id's
//! location touches only the map, so it never blocks readers. A page, holding the read lock,
//! therefore sees a consistent set of ids, each with its location at the time of the lookup.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use nyro_storage::Location;
use parking_lot::{RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};

use crate::error::IndexError;
use crate::id_hash::IdHash;
use crate::idset::IdSet;

/// How many entries [`PrimaryIter`] fetches per lock acquisition.
const ITER_CHUNK: usize = 1024;

/// A collection's primary index: record id to [`Location`], listable in ascending id order.
///
/// All methods take `&self`; share it behind an `Arc`. Readers (`get`, `page`, `iter`, ...)
/// may run on any number of threads while one writer inserts and removes.
#[derive(Debug, Default)]
pub struct PrimaryIndex {
    /// Hashed with [`IdHash`]: seeded foldhash (several times faster than SipHash for u64
    /// keys, and random per index, so ids chosen by clients cannot be aimed at one bucket),
    /// keeping runs of 16 consecutive ids in neighbouring buckets.
    map: DashMap<u64, Location, IdHash>,
    order: RwLock<IdSet>,
    /// One past the largest id ever inserted (saturating; 0 before the first): an id at or
    /// above it is certainly absent, so checking a new ascending id needs no map lookup.
    /// Raised before the map insert, so a `contains` that reads an older value ran before
    /// the insert began.
    above_every_id: AtomicU64,
}

impl PrimaryIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index holding `records` (ids strictly ascending, else [`IndexError::NotAscending`]),
    /// built at once: the map sized for them up front (no rehash while it fills) and the
    /// ordered set made of full blocks without a search per id. What replay on open uses
    /// (through `PrimaryBuild`, which lets several threads fill the map).
    pub fn from_sorted(records: &[(u64, Location)]) -> Result<Self, IndexError> {
        let build = PrimaryBuild::new(records)?;
        build.help();
        Ok(build.finish())
    }

    /// Sets the location of `id`; returns its previous location if it was present (a replace).
    pub fn insert(&self, id: u64, location: Location) -> Option<Location> {
        let order = self.order.upgradable_read();
        self.raise_above(id);
        let old = self.map.insert(id, location);
        if old.is_none() {
            RwLockUpgradableReadGuard::upgrade(order).insert(id);
        }
        old
    }

    /// Sets the location of every `(id, location)`, in order, calling `replaced` with each
    /// id's previous location when it had one. The same as [`insert`](Self::insert) for
    /// each, with the ordered set's lock taken once for the whole batch.
    pub fn insert_many(
        &self,
        entries: impl IntoIterator<Item = (u64, Location)>,
        mut replaced: impl FnMut(u64, Location),
    ) {
        let order = self.order.upgradable_read();
        let mut new_ids = Vec::new();
        for (id, location) in entries {
            self.raise_above(id);
            match self.map.insert(id, location) {
                Some(old) => replaced(id, old),
                None => new_ids.push(id),
            }
        }
        if !new_ids.is_empty() {
            let mut order = RwLockUpgradableReadGuard::upgrade(order);
            for id in new_ids {
                order.insert(id);
            }
        }
    }

    /// Removes `id`; returns its location if it was present.
    pub fn remove(&self, id: u64) -> Option<Location> {
        let order = self.order.upgradable_read();
        if !self.map.contains_key(&id) {
            return None;
        }
        let mut order = RwLockUpgradableReadGuard::upgrade(order);
        order.remove(id);
        // Readers may look again, but can no longer find `id` in the set; keep other writers
        // out until the map agrees.
        let _order = RwLockWriteGuard::downgrade_to_upgradable(order);
        self.map.remove(&id).map(|(_, location)| location)
    }

    /// The location of `id`, if present.
    pub fn get(&self, id: u64) -> Option<Location> {
        self.map.get(&id).map(|entry| *entry)
    }

    /// True if `id` is present.
    pub fn contains(&self, id: u64) -> bool {
        let above = self.above_every_id.load(Ordering::Acquire);
        if id >= above && above != u64::MAX {
            return false;
        }
        self.map.contains_key(&id)
    }

    /// Called with the ordered set's upgradable lock held, which serializes writers: a plain
    /// load and store do (no read-modify-write on the write path).
    fn raise_above(&self, id: u64) {
        let above = id.saturating_add(1);
        if above > self.above_every_id.load(Ordering::Relaxed) {
            self.above_every_id.store(above, Ordering::Release);
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.order.read().len()
    }

    /// True if the index holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest id present, if any (of live records: a removed id no longer counts).
    pub fn max_id(&self) -> Option<u64> {
        self.order.read().last()
    }

    /// The smallest id present, if any.
    pub fn min_id(&self) -> Option<u64> {
        self.order.read().first()
    }

    /// Up to `limit` records with ids strictly greater than `after` (from the start if `None`),
    /// in ascending id order. Pass the last id of a page as `after` to get the next page.
    ///
    /// Each id's location is looked up in the map, but a shard's read lock is taken once for
    /// a run of ids in that shard (the 16 ids of an `IdHash` group share one), not once
    /// per id: a scan pays the hash and the probe per id, not the lock.
    pub fn page(&self, after: Option<u64>, limit: usize) -> Vec<(u64, Location)> {
        let order = self.order.read();
        self.locate(order.iter_after(after).take(limit), limit.min(order.len()))
    }

    /// Up to `limit` records with ids strictly less than `before` (from the largest if
    /// `None`), in descending id order, looked up as [`PrimaryIndex::page`] does.
    pub fn page_desc(&self, before: Option<u64>, limit: usize) -> Vec<(u64, Location)> {
        let order = self.order.read();
        self.locate(
            order.iter_before_rev(before).take(limit),
            limit.min(order.len()),
        )
    }

    /// The locations of `ids` (each listed in the order), taking a shard's read lock once per
    /// run of ids in that shard. Called with the order's read lock held.
    fn locate(&self, ids: impl Iterator<Item = u64>, capacity: usize) -> Vec<(u64, Location)> {
        let shards = self.map.shards();
        let mut page = Vec::with_capacity(capacity);
        let mut held = None;
        for id in ids {
            let hash = self.map.hash_usize(&id);
            let shard = self.map.determine_shard(hash);
            let table = match &held {
                Some((at, table)) if *at == shard => table,
                _ => {
                    // Let go of the previous shard before taking the next.
                    held = None;
                    &held.insert((shard, shards[shard].read())).1
                }
            };
            let location = table
                .get(hash as u64, |(key, _)| *key == id)
                .map(|(_, location)| *location.get());
            debug_assert!(location.is_some(), "id {id} is listed but has no location");
            page.extend(location.map(|location| (id, location)));
        }
        page
    }

    /// Like [`PrimaryIndex::page`], ids only.
    pub fn page_ids(&self, after: Option<u64>, limit: usize) -> Vec<u64> {
        self.order.read().iter_after(after).take(limit).collect()
    }

    /// All records in ascending id order. The iterator reads pages of 1,024 records, taking
    /// the read lock once per page: it is not a snapshot of the whole index, but it never
    /// yields an id twice or out of order, and yields every record present throughout.
    pub fn iter(&self) -> PrimaryIter<'_> {
        PrimaryIter {
            index: self,
            buffer: Vec::new().into_iter(),
            after: None,
            done: false,
        }
    }
}

/// A [`PrimaryIndex`] being built from records in ascending id order: any number of threads
/// call [`help`](Self::help), each taking chunks of the records not taken yet and putting
/// them in the map (sized for all of them up front), until none is left; then
/// [`finish`](Self::finish) adds the ordered set.
pub(crate) struct PrimaryBuild<'r> {
    records: &'r [(u64, Location)],
    map: DashMap<u64, Location, IdHash>,
    next: std::sync::atomic::AtomicUsize,
}

impl<'r> PrimaryBuild<'r> {
    /// Records taken at a time by a helper.
    const CHUNK: usize = 16 * 1024;

    /// Refuses records whose ids are not strictly ascending.
    pub(crate) fn new(records: &'r [(u64, Location)]) -> Result<Self, IndexError> {
        if let Some(w) = records.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(IndexError::NotAscending { id: w[1].0 });
        }
        Ok(Self {
            records,
            map: DashMap::with_capacity_and_hasher(records.len(), IdHash::default()),
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Puts records in the map until every record is taken (by this or another helper).
    ///
    /// A chunk's records are put shard by shard, each shard's lock taken once for all of
    /// its records in the chunk rather than once per record: the map's own `insert` would
    /// serialize every write to the table behind the lock's release. The records go into
    /// the shard's table with the hash and shard the map itself computes for their ids
    /// (`hash_usize`, `determine_shard`), so lookups find them; ids are unique (ascending),
    /// so nothing is replaced.
    pub(crate) fn help(&self) {
        let shards = self.map.shards();
        let mut placed: Vec<(u64, usize)> = Vec::with_capacity(Self::CHUNK);
        let rehash =
            |(id, _): &(u64, dashmap::SharedValue<Location>)| self.map.hash_usize(id) as u64;
        loop {
            let start = self.next.fetch_add(Self::CHUNK, Ordering::Relaxed);
            let Some(rest) = self.records.get(start..) else {
                return;
            };
            let chunk = &rest[..rest.len().min(Self::CHUNK)];
            placed.clear();
            placed.extend(chunk.iter().map(|(id, _)| {
                let hash = self.map.hash_usize(id);
                (hash as u64, self.map.determine_shard(hash))
            }));
            // Helpers start at different shards, so that they seldom wait for each other.
            let first = start / Self::CHUNK;
            for s in (0..shards.len()).map(|i| (first + i) % shards.len()) {
                let mut table = shards[s].write();
                for (&(id, location), &(hash, shard)) in chunk.iter().zip(&placed) {
                    if shard == s {
                        table.insert(hash, (id, dashmap::SharedValue::new(location)), rehash);
                    }
                }
            }
        }
    }

    /// The index, once every helper has returned.
    pub(crate) fn finish(self) -> PrimaryIndex {
        let ids = self.records.iter().map(|&(id, _)| id);
        // Checked ascending in `new`.
        let order = IdSet::from_ascending(ids).unwrap_or_default();
        let above = self
            .records
            .last()
            .map_or(0, |&(id, _)| id.saturating_add(1));
        PrimaryIndex {
            map: self.map,
            order: RwLock::new(order),
            above_every_id: AtomicU64::new(above),
        }
    }
}

/// Iterator over a [`PrimaryIndex`] in ascending id order; see [`PrimaryIndex::iter`].
#[derive(Debug)]
pub struct PrimaryIter<'a> {
    index: &'a PrimaryIndex,
    buffer: std::vec::IntoIter<(u64, Location)>,
    after: Option<u64>,
    done: bool,
}

impl Iterator for PrimaryIter<'_> {
    type Item = (u64, Location);

    fn next(&mut self) -> Option<(u64, Location)> {
        if let Some(entry) = self.buffer.next() {
            return Some(entry);
        }
        if self.done {
            return None;
        }
        let page = self.index.page(self.after, ITER_CHUNK);
        self.done = page.len() < ITER_CHUNK;
        self.after = page.last().map(|&(id, _)| id).or(self.after);
        self.buffer = page.into_iter();
        self.buffer.next()
    }
}

impl<'a> IntoIterator for &'a PrimaryIndex {
    type Item = (u64, Location);
    type IntoIter = PrimaryIter<'a>;

    fn into_iter(self) -> PrimaryIter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn loc(n: u64) -> Location {
        Location {
            segment: 1,
            offset: n * 100,
            len: 100,
        }
    }

    #[test]
    fn insert_replace_remove() {
        let index = PrimaryIndex::new();
        assert!(index.is_empty());
        assert_eq!(index.insert(7, loc(1)), None);
        assert_eq!(index.insert(7, loc(2)), Some(loc(1)));
        assert_eq!(index.get(7), Some(loc(2)));
        assert!(index.contains(7));
        assert_eq!(index.len(), 1);
        assert_eq!(index.remove(7), Some(loc(2)));
        assert_eq!(index.remove(7), None);
        assert_eq!(index.get(7), None);
        assert!(index.is_empty());
        assert_eq!(index.max_id(), None);
    }

    #[test]
    fn contains_answers_above_the_largest_id_without_the_map() {
        let index = PrimaryIndex::new();
        assert!(!index.contains(0));
        index.insert(5, loc(1));
        assert!(index.contains(5));
        assert!(!index.contains(3) && !index.contains(6) && !index.contains(u64::MAX));
        index.remove(5);
        assert!(!index.contains(5));
        index.insert(0, loc(2));
        assert!(index.contains(0) && !index.contains(5));
        index.insert(u64::MAX, loc(3));
        assert!(index.contains(u64::MAX) && !index.contains(u64::MAX - 1));
    }

    #[test]
    fn insert_many_is_insert_for_each() {
        let many = PrimaryIndex::new();
        let one_by_one = PrimaryIndex::new();
        one_by_one.insert(5, loc(1));
        many.insert(5, loc(1));
        let entries = [(7, loc(2)), (5, loc(3)), (7, loc(4)), (1, loc(5))];
        let mut replaced = Vec::new();
        many.insert_many(entries, |id, old| replaced.push((id, old)));
        let mut expected = Vec::new();
        for (id, location) in entries {
            if let Some(old) = one_by_one.insert(id, location) {
                expected.push((id, old));
            }
        }
        assert_eq!(replaced, expected);
        assert_eq!(many.page(None, 10), one_by_one.page(None, 10));
        assert_eq!(many.len(), 3);
    }

    #[test]
    fn from_sorted_is_insert_for_each() {
        let records: Vec<(u64, Location)> = (0..3_000u64).map(|i| (i * 5 + 2, loc(i))).collect();
        let bulk = PrimaryIndex::from_sorted(&records).unwrap();
        let one_by_one = PrimaryIndex::new();
        for &(id, location) in &records {
            one_by_one.insert(id, location);
        }
        assert_eq!(bulk.len(), 3_000);
        assert_eq!(bulk.iter().collect::<Vec<_>>(), records);
        assert_eq!(bulk.page(Some(100), 50), one_by_one.page(Some(100), 50));
        assert_eq!(bulk.get(7), Some(loc(1)));
        assert!(bulk.contains(14_997) && !bulk.contains(14_998) && !bulk.contains(3));
        assert_eq!((bulk.min_id(), bulk.max_id()), (Some(2), Some(14_997)));
        // It takes writes like any other.
        assert_eq!(bulk.insert(20_000, loc(9)), None);
        assert_eq!(bulk.remove(2), Some(loc(0)));
        assert_eq!((bulk.min_id(), bulk.max_id()), (Some(7), Some(20_000)));
        assert!(PrimaryIndex::from_sorted(&[]).unwrap().is_empty());
        for bad in [
            vec![(3, loc(0)), (3, loc(1))],
            vec![(4, loc(0)), (3, loc(1))],
        ] {
            assert_eq!(
                PrimaryIndex::from_sorted(&bad).unwrap_err(),
                IndexError::NotAscending { id: 3 }
            );
        }
    }

    #[test]
    fn helpers_on_several_threads_put_every_record_where_lookups_find_it() {
        let records: Vec<(u64, Location)> = (0..100_000u64).map(|i| (i * 3, loc(i))).collect();
        let build = PrimaryBuild::new(&records).unwrap();
        std::thread::scope(|scope| {
            let other = scope.spawn(|| build.help());
            build.help();
            other.join().unwrap();
        });
        let index = build.finish();
        assert_eq!(index.len(), records.len());
        assert_eq!(index.map.len(), records.len());
        for &(id, location) in &records {
            assert_eq!(index.get(id), Some(location), "{id}");
            assert!(!index.contains(id + 1));
        }
        // It grows and changes like any other.
        for i in 0..50_000u64 {
            index.insert(1_000_000 + i, loc(i));
        }
        assert_eq!(index.remove(3), Some(loc(1)));
        assert_eq!(index.get(300_000 - 3), Some(loc(99_999)));
        assert_eq!(index.len(), 149_999);
    }

    #[test]
    fn pages_in_ascending_order() {
        let index = PrimaryIndex::new();
        for id in [5u64, 1, 9, 3, 7, u64::MAX, 0] {
            index.insert(id, loc(id % 1000));
        }
        let ids =
            |page: Vec<(u64, Location)>| page.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(index.page(None, 3)), vec![0, 1, 3]);
        assert_eq!(ids(index.page(Some(3), 3)), vec![5, 7, 9]);
        assert_eq!(ids(index.page(Some(4), 2)), vec![5, 7]);
        assert_eq!(ids(index.page(Some(9), 3)), vec![u64::MAX]);
        assert_eq!(ids(index.page(Some(u64::MAX), 3)), Vec::<u64>::new());
        assert_eq!(index.page(None, 0), vec![]);
        assert_eq!(index.page_ids(Some(0), 2), vec![1, 3]);
        assert_eq!(index.max_id(), Some(u64::MAX));
        assert_eq!(index.min_id(), Some(0));
        assert_eq!(index.page(Some(5), 1), vec![(7, loc(7))]);
        // Downwards, strictly below `before`.
        assert_eq!(ids(index.page_desc(None, 3)), vec![u64::MAX, 9, 7]);
        assert_eq!(ids(index.page_desc(Some(7), 3)), vec![5, 3, 1]);
        assert_eq!(ids(index.page_desc(Some(1), 3)), vec![0]);
        assert_eq!(ids(index.page_desc(Some(0), 3)), Vec::<u64>::new());
        assert_eq!(index.page_desc(Some(9), 1), vec![(7, loc(7))]);
    }

    #[test]
    fn a_page_holds_each_ids_location_across_shards() {
        let index = PrimaryIndex::new();
        // Runs of ascending ids (whole groups of 16 in one shard) and scattered ones.
        let ids: Vec<u64> = (0..5_000u64)
            .chain((0..500).map(|i| i * 7_919 + 1_000_000))
            .chain([u64::MAX, u64::MAX - 17])
            .collect();
        for &id in &ids {
            index.insert(id, loc(id % 997));
        }
        for &id in ids.iter().step_by(5) {
            index.remove(id);
        }
        index.insert(42, loc(3)); // a replace after the removals
        let mut expected: Vec<(u64, Location)> = ids
            .iter()
            .filter_map(|&id| index.get(id).map(|l| (id, l)))
            .collect();
        expected.sort_unstable();
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = index.page(after, 333);
            paged.extend_from_slice(&page);
            match page.last() {
                Some(&(last, _)) if page.len() == 333 => after = Some(last),
                _ => break,
            }
        }
        assert_eq!(paged, expected);
        assert!(paged.contains(&(42, loc(3))));
    }

    #[test]
    fn iter_crosses_chunks() {
        let index = PrimaryIndex::new();
        for id in (0..3_000u64).rev() {
            index.insert(id * 2, loc(id));
        }
        let all: Vec<(u64, Location)> = index.iter().collect();
        assert_eq!(all.len(), 3_000);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(all[10], (20, loc(10)));
        assert_eq!((&index).into_iter().count(), 3_000);
        assert_eq!(PrimaryIndex::new().iter().count(), 0);
    }
}
