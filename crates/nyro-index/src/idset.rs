//! `IdSet`: a compact ordered set of record ids, shared by the primary index's id order and
//! the secondary indexes' posting lists.
//!
//! The ids are kept in sorted blocks of at most [`BLOCK`] ids (a "sorted vector of sorted
//! vectors"). A set of up to `BLOCK` ids is one flat vector. Compared with a `BTreeSet<u64>`
//! (about 15-20 bytes per id) it costs 8 bytes per id when ids arrive in ascending order (the
//! last block is filled to the brim before a new one starts) and about 11-16 when they arrive
//! at random (blocks split in halves), whatever the distribution of the ids. Lookups are two
//! binary searches; an insert or remove moves at most one block (4 KiB) plus, on a split or a
//! merge, the outer vector of block headers (24 bytes per block).
//!
//! Invariants: no block is empty; each block is strictly ascending; the last id of a block is
//! below the first of the next; `len` is the total number of ids.

/// Largest number of ids in a block (4 KiB of ids).
pub(crate) const BLOCK: usize = 512;
/// A block left with fewer ids than this after a remove is merged with a neighbour if the
/// result stays at most `MERGED_MAX`.
const MERGE_BELOW: usize = BLOCK / 4;
/// Largest block produced by a merge, leaving room for inserts before the next split.
const MERGED_MAX: usize = BLOCK * 3 / 4;

/// An ordered set of `u64` ids in sorted blocks.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdSet {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    /// At most `BLOCK` ids, ascending.
    Flat(Vec<u64>),
    /// More than `BLOCK` ids at some point (may have shrunk since); `len` is the total.
    Blocks { blocks: Vec<Vec<u64>>, len: usize },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Flat(Vec::new())
    }
}

/// Index of the block that holds `id` or where it belongs, given that `blocks` is non-empty:
/// the first block whose last id is `>= id`, or the last block.
fn block_for(blocks: &[Vec<u64>], id: u64) -> usize {
    let i = blocks.partition_point(|b| b.last().is_some_and(|&last| last < id));
    i.min(blocks.len().saturating_sub(1))
}

impl IdSet {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A set holding the given ids (in any order; duplicates are ignored).
    pub(crate) fn with_ids(ids: &[u64]) -> Self {
        let mut set = Self::new();
        for &id in ids {
            set.insert(id);
        }
        set
    }

    /// A set of `ids` given strictly ascending, built at once with
    /// [`push_ascending`](Self::push_ascending): full blocks and one last partial block, as
    /// ascending inserts would leave them, without a search per id. `None` if the ids are
    /// not strictly ascending.
    pub(crate) fn from_ascending(ids: impl IntoIterator<Item = u64>) -> Option<Self> {
        let mut set = Self::new();
        for id in ids {
            if !set.push_ascending(id) {
                return None;
            }
        }
        Some(set)
    }

    /// Adds `id` if it is above every id of the set (in O(1), filling the last block and
    /// starting a new one of the full size when it is full); returns false, changing
    /// nothing, if it is not.
    pub(crate) fn push_ascending(&mut self, id: u64) -> bool {
        if self.last().is_some_and(|last| last >= id) {
            return false;
        }
        match &mut self.repr {
            Repr::Flat(v) if v.len() < BLOCK => v.push(id),
            Repr::Flat(v) => {
                let full = std::mem::take(v);
                let mut fresh = Vec::with_capacity(BLOCK);
                fresh.push(id);
                self.repr = Repr::Blocks {
                    blocks: vec![full, fresh],
                    len: BLOCK + 1,
                };
            }
            Repr::Blocks { blocks, len } => {
                match blocks.last_mut() {
                    Some(block) if block.len() < BLOCK => block.push(id),
                    _ => {
                        let mut fresh = Vec::with_capacity(BLOCK);
                        fresh.push(id);
                        blocks.push(fresh);
                    }
                }
                *len += 1;
            }
        }
        true
    }

    /// The blocks, in order (a flat set is one block).
    fn blocks(&self) -> &[Vec<u64>] {
        match &self.repr {
            Repr::Flat(v) if v.is_empty() => &[],
            Repr::Flat(v) => std::slice::from_ref(v),
            Repr::Blocks { blocks, .. } => blocks,
        }
    }

    /// Number of ids.
    pub(crate) fn len(&self) -> usize {
        match &self.repr {
            Repr::Flat(v) => v.len(),
            Repr::Blocks { len, .. } => *len,
        }
    }

    /// True if `id` is in the set.
    pub(crate) fn contains(&self, id: u64) -> bool {
        let blocks = self.blocks();
        if blocks.is_empty() {
            return false;
        }
        blocks[block_for(blocks, id)].binary_search(&id).is_ok()
    }

    /// The smallest id.
    pub(crate) fn first(&self) -> Option<u64> {
        self.blocks().first().and_then(|b| b.first().copied())
    }

    /// The largest id.
    pub(crate) fn last(&self) -> Option<u64> {
        self.blocks().last().and_then(|b| b.last().copied())
    }

    /// Adds `id`; returns false if it was already present.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        match &mut self.repr {
            Repr::Flat(v) => {
                let Err(pos) = v.binary_search(&id) else {
                    return false;
                };
                if v.len() < BLOCK {
                    v.insert(pos, id);
                    return true;
                }
                let full = std::mem::take(v);
                let len = full.len();
                self.repr = Repr::Blocks {
                    blocks: vec![full],
                    len,
                };
                self.insert(id)
            }
            Repr::Blocks { blocks, len } => {
                if blocks.is_empty() {
                    blocks.push(vec![id]);
                    *len = 1;
                    return true;
                }
                let i = block_for(blocks, id);
                let last_block = i + 1 == blocks.len();
                let block = &mut blocks[i];
                let Err(pos) = block.binary_search(&id) else {
                    return false;
                };
                if block.len() < BLOCK {
                    block.insert(pos, id);
                } else if last_block && pos == block.len() {
                    // Appending past the end: start a new block and leave this one full, so
                    // that ascending inserts fill blocks completely. It will fill too: give
                    // it its whole size now rather than growing it nine times.
                    let mut fresh = Vec::with_capacity(BLOCK);
                    fresh.push(id);
                    blocks.push(fresh);
                } else {
                    let mut right = block.split_off(BLOCK / 2);
                    if pos <= BLOCK / 2 {
                        block.insert(pos, id);
                    } else {
                        right.insert(pos - BLOCK / 2, id);
                    }
                    blocks.insert(i + 1, right);
                }
                *len += 1;
                true
            }
        }
    }

    /// Removes `id`; returns false if it was not present.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        match &mut self.repr {
            Repr::Flat(v) => {
                let Ok(pos) = v.binary_search(&id) else {
                    return false;
                };
                v.remove(pos);
                shrink(v);
                true
            }
            Repr::Blocks { blocks, len } => {
                if blocks.is_empty() {
                    return false;
                }
                let i = block_for(blocks, id);
                let Ok(pos) = blocks[i].binary_search(&id) else {
                    return false;
                };
                blocks[i].remove(pos);
                *len -= 1;
                rebalance(blocks, i);
                if *len <= BLOCK / 2 {
                    // Small again: back to one flat vector.
                    let flat: Vec<u64> = blocks.iter().flatten().copied().collect();
                    self.repr = Repr::Flat(flat);
                }
                true
            }
        }
    }

    /// Ids strictly greater than `after` (all ids if `None`), ascending.
    pub(crate) fn iter_after(&self, after: Option<u64>) -> IdSetIter<'_> {
        let blocks = self.blocks();
        let Some(after) = after else {
            return IdSetIter {
                head: &[],
                rest: blocks,
            };
        };
        let i = blocks.partition_point(|b| b.last().is_some_and(|&last| last <= after));
        let Some(block) = blocks.get(i) else {
            return IdSetIter {
                head: &[],
                rest: &[],
            };
        };
        let pos = block.partition_point(|&x| x <= after);
        IdSetIter {
            head: &block[pos..],
            rest: &blocks[i + 1..],
        }
    }

    /// Ids strictly less than `before` (all ids if `None`), descending.
    pub(crate) fn iter_before_rev(&self, before: Option<u64>) -> IdSetRevIter<'_> {
        let blocks = self.blocks();
        let Some(before) = before else {
            return IdSetRevIter {
                head: &[],
                rest: blocks,
            };
        };
        // Blocks whose first id is below `before`; the last of them holds the start.
        let i = blocks.partition_point(|b| b.first().is_some_and(|&first| first < before));
        let Some(last) = i.checked_sub(1) else {
            return IdSetRevIter {
                head: &[],
                rest: &[],
            };
        };
        let block = &blocks[last];
        let pos = block.partition_point(|&x| x < before);
        IdSetRevIter {
            head: &block[..pos],
            rest: &blocks[..last],
        }
    }

    /// Heap bytes owned by the set (vector capacities), for memory accounting in tests.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Flat(v) => v.capacity() * 8,
            Repr::Blocks { blocks, .. } => {
                blocks.capacity() * size_of::<Vec<u64>>()
                    + blocks.iter().map(|b| b.capacity() * 8).sum::<usize>()
            }
        }
    }
}

/// Releases a block's spare capacity once it is at most a quarter used.
fn shrink(block: &mut Vec<u64>) {
    if block.capacity() > 8 && block.len() * 4 <= block.capacity() {
        block.shrink_to(block.len() * 2);
    }
}

/// After a remove from block `i`: drops it if empty, merges it with a neighbour if it became
/// small and the merge stays below `MERGED_MAX`, releases spare capacity otherwise.
fn rebalance(blocks: &mut Vec<Vec<u64>>, i: usize) {
    let n = blocks[i].len();
    if n == 0 {
        blocks.remove(i);
        return;
    }
    if n < MERGE_BELOW {
        if blocks
            .get(i + 1)
            .is_some_and(|next| n + next.len() <= MERGED_MAX)
        {
            let next = blocks.remove(i + 1);
            blocks[i].extend_from_slice(&next);
            return;
        }
        if i > 0 && blocks[i - 1].len() + n <= MERGED_MAX {
            let this = blocks.remove(i);
            blocks[i - 1].extend_from_slice(&this);
            return;
        }
    }
    shrink(&mut blocks[i]);
}

/// Ascending iterator over part of an [`IdSet`].
#[derive(Clone, Debug)]
pub(crate) struct IdSetIter<'a> {
    head: &'a [u64],
    rest: &'a [Vec<u64>],
}

impl Iterator for IdSetIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if let Some((&id, tail)) = self.head.split_first() {
                self.head = tail;
                return Some(id);
            }
            let (block, rest) = self.rest.split_first()?;
            self.head = block;
            self.rest = rest;
        }
    }
}

/// Descending iterator over part of an [`IdSet`].
#[derive(Clone, Debug)]
pub(crate) struct IdSetRevIter<'a> {
    head: &'a [u64],
    rest: &'a [Vec<u64>],
}

impl Iterator for IdSetRevIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if let Some((&id, init)) = self.head.split_last() {
                self.head = init;
                return Some(id);
            }
            let (block, rest) = self.rest.split_last()?;
            self.head = block;
            self.rest = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn check_invariants(set: &IdSet) {
        let blocks = set.blocks();
        let mut prev: Option<u64> = None;
        let mut total = 0;
        for b in blocks {
            assert!(!b.is_empty());
            assert!(b.len() <= BLOCK);
            for &x in b {
                assert!(prev.is_none_or(|p| p < x));
                prev = Some(x);
            }
            total += b.len();
        }
        assert_eq!(total, set.len());
    }

    #[test]
    fn ascending_inserts_fill_blocks() {
        let mut set = IdSet::new();
        for id in 0..10_000u64 {
            assert!(set.insert(id));
        }
        assert!(!set.insert(5));
        check_invariants(&set);
        assert_eq!(set.len(), 10_000);
        assert!(
            set.blocks()[..set.blocks().len() - 1]
                .iter()
                .all(|b| b.len() == BLOCK)
        );
        // 8 bytes per id plus block headers and the partly filled last block.
        assert!(set.heap_bytes() < 10_000 * 8 + 20 * 24 + BLOCK * 8);
        assert_eq!(set.first(), Some(0));
        assert_eq!(set.last(), Some(9_999));
        assert_eq!(
            set.iter_after(Some(9_997)).collect::<Vec<_>>(),
            vec![9_998, 9_999]
        );
        assert_eq!(set.iter_after(Some(10_000)).count(), 0);
        assert_eq!(set.iter_after(None).count(), 10_000);
    }

    #[test]
    fn removes_shrink_back_to_flat() {
        let mut set = IdSet::with_ids(&(0..2_000).collect::<Vec<_>>());
        for id in (0..2_000).step_by(2) {
            assert!(set.remove(id));
            check_invariants(&set);
        }
        assert!(!set.remove(0));
        for id in (1..2_000).step_by(2) {
            assert!(set.remove(id));
        }
        check_invariants(&set);
        assert_eq!(set.len(), 0);
        assert!(matches!(set.repr, Repr::Flat(_)));
        assert_eq!(set.first(), None);
        assert!(!set.contains(1));
    }

    #[test]
    fn from_ascending_is_ascending_inserts() {
        for n in [0usize, 1, 7, BLOCK, BLOCK + 1, 3 * BLOCK, 3 * BLOCK + 5] {
            let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
            let bulk = IdSet::from_ascending(ids.iter().copied()).unwrap();
            check_invariants(&bulk);
            let mut one_by_one = IdSet::new();
            for &id in &ids {
                one_by_one.insert(id);
            }
            assert_eq!(bulk.blocks(), one_by_one.blocks(), "{n} ids");
            assert_eq!(bulk.len(), n);
        }
        assert!(IdSet::from_ascending([1, 1]).is_none());
        assert!(IdSet::from_ascending([2, 1]).is_none());
        let mut pushed = IdSet::from_ascending([4, 9]).unwrap();
        assert!(!pushed.push_ascending(9) && !pushed.push_ascending(3));
        assert_eq!(pushed.iter_after(None).collect::<Vec<_>>(), vec![4, 9]);
        // A bulk-built set takes inserts and removes like any other.
        let mut set = IdSet::from_ascending((0..2_000).map(|i| i * 2)).unwrap();
        assert!(set.insert(3) && set.remove(0) && !set.contains(0) && set.contains(3));
        check_invariants(&set);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn behaves_like_btreeset(
            ops in prop::collection::vec((any::<bool>(), 0u64..3_000), 0..4_000),
            after in proptest::option::of(0u64..3_100),
        ) {
            let mut set = IdSet::new();
            let mut model = BTreeSet::new();
            for (insert, id) in ops {
                if insert {
                    prop_assert_eq!(set.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(set.remove(id), model.remove(&id));
                }
            }
            check_invariants(&set);
            prop_assert_eq!(set.len(), model.len());
            let all: Vec<u64> = set.iter_after(None).collect();
            prop_assert_eq!(&all, &model.iter().copied().collect::<Vec<_>>());
            let tail: Vec<u64> = set.iter_after(after).collect();
            let expected: Vec<u64> = match after {
                Some(a) => model.range(a + 1..).copied().collect(),
                None => model.iter().copied().collect(),
            };
            prop_assert_eq!(tail, expected);
            let head: Vec<u64> = set.iter_before_rev(after).collect();
            let expected: Vec<u64> = match after {
                Some(a) => model.range(..a).rev().copied().collect(),
                None => model.iter().rev().copied().collect(),
            };
            prop_assert_eq!(head, expected);
            for id in 0..40 {
                prop_assert_eq!(set.contains(id * 75), model.contains(&(id * 75)));
            }
            prop_assert_eq!(set.first(), model.first().copied());
            prop_assert_eq!(set.last(), model.last().copied());
        }
    }
}
