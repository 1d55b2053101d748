//! Index memory per record and per entry, measured with a counting global allocator (`cap`)
//! (run in release for the timings; the bytes are the same in a debug build):
//!
//! ```text
//! cargo run --release -p nyro-index --example index_memory [RECORDS]
//! ```
//!
//! Inserts RECORDS (default 1,000,000) ids into a `PrimaryIndex` (ascending ids, then
//! scrambled ids), and indexes RECORDS documents on three paths: an integer (all values
//! distinct), a string (1,000 distinct values) and an array of 3 strings (each drawn from
//! 10,000 distinct tags: 3 entries per document). Each secondary index is built two ways:
//! one `insert` per (key, id) entry in random id order (as writes arrive), and at once with
//! `CollectionIndexes::from_sorted` (as open rebuilds it; the primary index it also builds
//! is measured alone and subtracted). Prints heap bytes per (key, id) entry, keys included
//! (bytes requested from the allocator, counted by `cap`; the allocator's own per-allocation
//! overhead is not included, so the figures are a lower bound), and the part beyond the keys
//! themselves (`size_of::<IndexKey>()` plus a string's bytes, once per distinct key).
//! Heap bytes do not depend on the build profile; the timings do.

use std::alloc::System;
use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use cap::Cap;
use dashmap::DashMap;
use nyro_index::{BulkKey, CollectionIndexes, IndexError, IndexKey, KeyRange, PrimaryIndex};
use nyro_storage::Location;

/// The system allocator, wrapped by `cap` to count the bytes it has handed out (no
/// `unsafe` here: NyroDB keeps `unsafe` to the storage crate's mmap module).
#[global_allocator]
static GLOBAL: Cap<System> = Cap::new(System, usize::MAX);

/// Live heap bytes now.
fn live() -> usize {
    GLOBAL.allocated()
}

/// Builds a structure with `build` and returns it with the heap bytes and allocations it
/// holds and the seconds building took.
fn measure<T>(build: impl FnOnce() -> T) -> (T, usize, f64) {
    let bytes = live();
    let started = Instant::now();
    let value = build();
    let seconds = started.elapsed().as_secs_f64();
    (value, live() - bytes, seconds)
}

/// A bijection of `0..n` (n a power of ten here): an odd multiplier modulo n, coprime with n
/// when it is prime and does not divide n.
fn scramble(i: u64, n: u64) -> u64 {
    (i * 7_919) % n
}

/// `0..n` in a random order (Fisher-Yates with a xorshift generator, fixed seed).
fn shuffled(n: u64) -> Vec<u64> {
    let mut ids: Vec<u64> = (0..n).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..ids.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ids.swap(i, (state % (i as u64 + 1)) as usize);
    }
    ids
}

fn location(id: u64) -> Location {
    Location {
        segment: (id >> 20) as u32,
        offset: id * 128,
        len: 128,
    }
}

fn per(value: usize, n: u64) -> f64 {
    value as f64 / n as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 1_000_000,
    };
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    println!(
        "records={n} available_parallelism={threads} size_of<IndexKey>=24 size_of<Location>=16"
    );
    println!(
        "(bytes are heap bytes requested per record, not counting the allocator's own overhead)"
    );

    // Primary index, ascending ids (as the core assigns them).
    let (primary, bytes, secs) = measure(|| {
        let index = PrimaryIndex::new();
        for id in 0..n {
            index.insert(id, location(id));
        }
        index
    });
    println!(
        "primary ascending ids:      {:6.2} bytes/record  insert {:.0} ns/record",
        per(bytes, n),
        secs * 1e9 / n as f64
    );
    let started = Instant::now();
    for i in 0..n {
        black_box(primary.get(scramble(i, n)));
    }
    let get_ns = started.elapsed().as_secs_f64() * 1e9 / n as f64;
    let pages = 10_000u64;
    let started = Instant::now();
    for i in 0..pages {
        black_box(primary.page(Some(scramble(i * 97, n)), 100));
    }
    let page_us = started.elapsed().as_secs_f64() * 1e6 / pages as f64;
    println!("  get {get_ns:.0} ns, page(after, 100) {page_us:.2} us");
    drop(primary);

    // Its two parts, for the breakdown: the map alone, and a BTreeSet as the alternative.
    let (map, map_bytes, _) = measure(|| {
        let map = DashMap::new();
        for id in 0..n {
            map.insert(id, location(id));
        }
        map
    });
    drop(map);
    let (set, set_bytes, _) = measure(|| {
        let mut set = BTreeSet::new();
        for id in 0..n {
            set.insert(id);
        }
        set
    });
    drop(set);
    println!(
        "  of which DashMap<u64, Location> {:.2}, ordered ids {:.2} (a BTreeSet<u64> would be {:.2})",
        per(map_bytes, n),
        per(bytes.saturating_sub(map_bytes), n),
        per(set_bytes, n)
    );

    // Primary index, ids in random order (inserts in the middle: blocks split in halves).
    let order = shuffled(n);
    let (primary, bytes, secs) = measure(|| {
        let index = PrimaryIndex::new();
        for &id in &order {
            index.insert(id, location(id));
        }
        index
    });
    drop(order);
    println!(
        "primary random-order ids:   {:6.2} bytes/record  insert {:.0} ns/record",
        per(bytes, n),
        secs * 1e9 / n as f64
    );
    drop(primary);

    secondaries(n, &shuffled(n));
    Ok(())
}

/// The three indexed paths of the example: each document's keys for it.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Str,
    Tags,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Int => "integer, distinct",
            Kind::Str => "string, 1,000 values",
            Kind::Tags => "array of 3 strings",
        }
    }

    /// The keys of document `id` of `n`.
    fn keys(self, id: u64, n: u64) -> Vec<IndexKey> {
        match self {
            Kind::Int => vec![IndexKey::from(scramble(id, n) as i64 - (n / 2) as i64)],
            Kind::Str => vec![IndexKey::from(format!("value-{:04}", id % 1_000))],
            Kind::Tags => (0..3u64)
                .map(|t| IndexKey::from(format!("tag-{:05}", (id * 7 + t * 3_331) % 10_000)))
                .collect(),
        }
    }

    /// Heap bytes of the distinct keys themselves, and how many there are.
    fn own_bytes(self, n: u64) -> (usize, usize) {
        let key = size_of::<IndexKey>();
        match self {
            Kind::Int => (n as usize * key, n as usize),
            Kind::Str => (1_000 * (key + 10), 1_000),
            Kind::Tags => (10_000 * (key + 9), 10_000),
        }
    }
}

/// Builds and measures the secondary index of each path, both ways.
fn secondaries(n: u64, order: &[u64]) {
    let at = |i: u64| location(i);
    let records: Vec<(u64, nyro_storage::Location)> = (0..n).map(|id| (id, at(id))).collect();
    // The primary index from_sorted also builds, to subtract.
    let (primary, primary_bytes, _) = measure(|| {
        CollectionIndexes::from_sorted(
            Vec::<&str>::new(),
            &records,
            |_, _| Ok::<(), IndexError>(()),
            |_| Ok(IndexKey::NULL),
        )
    });
    drop(primary);
    for kind in [Kind::Int, Kind::Str, Kind::Tags] {
        let keys: Vec<Vec<IndexKey>> = (0..n).map(|id| kind.keys(id, n)).collect();
        let entries: usize = keys.iter().map(Vec::len).sum();
        let (own, distinct) = kind.own_bytes(n);

        let (index, bytes, secs) = measure(|| {
            let index = CollectionIndexes::new(["p"]).unwrap_or_else(|e| panic!("{e}"));
            for &id in order {
                let location = at(id);
                let keys = [("p", &keys[id as usize][..])];
                if let Err(e) = index.apply_put(id, location, [], keys) {
                    panic!("{e}");
                }
            }
            index
        });
        // apply_put also fills the primary index: subtract it, measured alone the same way.
        let (alone, alone_bytes, _) = measure(|| {
            let index = PrimaryIndex::new();
            for &id in order {
                index.insert(id, at(id));
            }
            index
        });
        drop(alone);
        let bytes = bytes.saturating_sub(alone_bytes);
        let stats = index.field_stats("p").unwrap_or_default();
        assert_eq!(stats, (distinct, entries), "{kind:?}");
        let range = KeyRange::all();
        let started = Instant::now();
        let mut walked = 0;
        let _ = index.walk("p", &range, None, false, |_, _| {
            walked += 1;
            if walked == 100 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        });
        let walk_us = started.elapsed().as_secs_f64() * 1e6;
        drop(index);
        println!(
            "secondary {:22} one by one: {:6.2} bytes/entry  beyond keys {:6.2}  \
             insert {:.0} ns/entry  walk(100) {walk_us:.1} us",
            kind.name(),
            per(bytes, entries as u64),
            per(bytes.saturating_sub(own), entries as u64),
            secs * 1e9 / entries as f64,
        );

        let (bulk, bytes, secs) = measure(|| {
            CollectionIndexes::from_sorted(
                ["p"],
                &records,
                |i, emit| {
                    for key in &keys[i] {
                        emit(0, BulkKey::Key(key.clone()));
                    }
                    Ok::<(), IndexError>(())
                },
                |_| Ok(IndexKey::NULL),
            )
        });
        let bytes = bytes.saturating_sub(primary_bytes);
        drop(bulk);
        println!(
            "secondary {:22} bulk:       {:6.2} bytes/entry  beyond keys {:6.2}  \
             build {:.0} ns/entry (keys cloned in)",
            kind.name(),
            per(bytes, entries as u64),
            per(bytes.saturating_sub(own), entries as u64),
            secs * 1e9 / entries as f64,
        );
    }
}
