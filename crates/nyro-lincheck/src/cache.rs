//! The set of explored configurations (which operations are linearized, and the state they
//! led to): reaching one again cannot lead anywhere new, so the search prunes it (Lowe's
//! improvement of Wing & Gong).
//!
//! A configuration's hash is kept up to date as operations are linearized and undone
//! (Zobrist hashing: the XOR of one fixed random word per linearized operation), so probing
//! the cache costs O(1) plus a comparison within one bucket, not a copy of the whole set.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// A set of operation indices with an incrementally maintained hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpSet {
    words: Vec<u64>,
    hash: u64,
}

/// The fixed random word of operation `i` (splitmix64 of its index).
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl OpSet {
    /// An empty set able to hold indices below `len`.
    pub fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            hash: 0,
        }
    }

    /// Adds `i` (not in the set).
    pub fn insert(&mut self, i: usize) {
        debug_assert_eq!(self.words[i / 64] & (1 << (i % 64)), 0);
        self.words[i / 64] |= 1 << (i % 64);
        self.hash ^= zobrist(i);
    }

    /// Removes `i` (in the set).
    pub fn remove(&mut self, i: usize) {
        debug_assert_ne!(self.words[i / 64] & (1 << (i % 64)), 0);
        self.words[i / 64] &= !(1 << (i % 64));
        self.hash ^= zobrist(i);
    }
}

/// Explored configurations, bucketed by hash.
pub(crate) struct Cache<S> {
    buckets: HashMap<u64, Vec<(OpSet, S)>>,
    /// Hashes states; fixed keys, so a check is deterministic.
    states: std::hash::BuildHasherDefault<std::hash::DefaultHasher>,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    pub fn new() -> Self {
        Self {
            buckets: HashMap::new(),
            states: Default::default(),
        }
    }

    /// Records the configuration; false if it was already explored.
    pub fn insert(&mut self, ops: &OpSet, state: &S) -> bool {
        let key = ops.hash ^ self.states.hash_one(state);
        let bucket = self.buckets.entry(key).or_default();
        if bucket.iter().any(|(o, s)| o == ops && s == state) {
            return false;
        }
        bucket.push((ops.clone(), state.clone()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_is_new_once() {
        let mut cache = Cache::new();
        let mut ops = OpSet::new(100);
        assert!(cache.insert(&ops, &1));
        assert!(!cache.insert(&ops, &1));
        assert!(cache.insert(&ops, &2));
        ops.insert(70);
        ops.insert(3);
        assert!(cache.insert(&ops, &1));
        ops.remove(70);
        assert!(cache.insert(&ops, &1));
        ops.remove(3);
        assert_eq!(ops, OpSet::new(100));
        assert!(!cache.insert(&ops, &1));
    }
}
