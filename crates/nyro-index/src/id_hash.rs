//! `IdHash`: the hasher of the primary index's map, which keeps runs of consecutive ids
//! together in the table while staying unpredictable to clients.
//!
//! Ids are mostly assigned in ascending order, so a batch writes (and a replay or a scan
//! reads) consecutive ids. A plain hash scatters them over the whole table, so that every
//! id costs a cache miss once the table outgrows the cache; on a 1M-document ingest that
//! miss was most of the writer's time. `IdHash` hashes the *group* of an id (`id / 16`)
//! with a seeded foldhash and keeps the id's place within its group in the low bits: the
//! 16 ids of a group land in 16 neighbouring buckets (a few cache lines), and the groups are
//! spread at random. The top 7 bits, which the table compares first to tell entries apart,
//! come from a seeded hash of the whole id, so neighbours do not look alike there.
//!
//! Collisions stay as unlikely as with a plain seeded hash: a client choosing ids can place
//! at most 16 of them (one group) next to each other, and cannot tell where a group lands.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::RandomState;

/// Ids per group: consecutive ids of one group take consecutive buckets.
const GROUP_BITS: u32 = 4;
/// The bits that the table compares first (hashbrown's tag: the top 7).
const TAG_MASK: u64 = 0xFE00_0000_0000_0000;

/// Builds [`IdHasher`]s with the seeds chosen at random when the map was created.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdHash {
    groups: RandomState,
    tags: RandomState,
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            build: self.clone(),
            id: 0,
        }
    }
}

/// Hashes one `u64` id (a map key is hashed with one `write_u64`).
#[derive(Debug)]
pub(crate) struct IdHasher {
    build: IdHash,
    id: u64,
}

impl Hasher for IdHasher {
    fn write_u64(&mut self, id: u64) {
        self.id = id;
    }

    /// Other keys than `u64` never reach this hasher; bytes are folded in for completeness.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.id = self.id.rotate_left(8) ^ u64::from_le_bytes(word);
        }
    }

    fn finish(&self) -> u64 {
        let within_group = self.id & ((1 << GROUP_BITS) - 1);
        let group = self.build.groups.hash_one(self.id >> GROUP_BITS);
        // foldhash's fast hash of neighbouring ids can share its top bits under some seeds
        // (seen once: 7 distinct tags in a group of 16); a 64-bit finalizer spreads every
        // input bit over the tag.
        let tag = mix64(self.build.tags.hash_one(self.id));
        (tag & TAG_MASK) | (((group << GROUP_BITS) | within_group) & !TAG_MASK)
    }
}

/// MurmurHash3's 64-bit finalizer (`fmix64`): a bijection in which every input bit flips
/// each output bit with probability close to 1/2.
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_group_takes_neighbouring_hashes_and_varied_tags() {
        let build = IdHash::default();
        let hashes: Vec<u64> = (32..48).map(|id| build.hash_one(id as u64)).collect();
        let places: Vec<u64> = hashes.iter().map(|h| h & !TAG_MASK).collect();
        for (i, place) in places.iter().enumerate() {
            assert_eq!(
                *place,
                places[0] + i as u64,
                "ids of a group are neighbours"
            );
        }
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h & TAG_MASK).collect();
        assert!(tags.len() > 8, "tags of one group differ: {tags:?}");
        // Another group lands elsewhere, and another map's seeds place the same id elsewhere.
        assert_ne!(build.hash_one(48u64) & !TAG_MASK, places[0] + 16);
        assert_ne!(IdHash::default().hash_one(32u64), hashes[0]);
    }
}
