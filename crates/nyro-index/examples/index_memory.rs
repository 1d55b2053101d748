//! Index memory per record, measured with a counting global allocator (`cap`) (run in release):
//!
//! ```text
//! cargo run --release -p nyro-index --example index_memory [RECORDS]
//! ```
//!
//! Inserts RECORDS (default 1,000,000) ids into a `PrimaryIndex` (ascending ids, then
//! scrambled ids), and into a `SecondaryIndex` whose field has (a) 1,000 distinct string
//! values and (b) all-distinct integer values. Prints heap bytes per record (bytes requested
//! from the allocator; the allocator's own per-allocation overhead is not included, so the
//! figures are a lower bound), and for the secondary indexes the part beyond the indexed
//! values themselves (`size_of::<IndexKey>()` plus a string's bytes, once per distinct value).

use std::alloc::System;
use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use cap::Cap;
use dashmap::DashMap;
use nyro_index::{IndexKey, PrimaryIndex, SecondaryIndex};
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
    let shuffled = shuffled(n);
    let (primary, bytes, secs) = measure(|| {
        let index = PrimaryIndex::new();
        for &id in &shuffled {
            index.insert(id, location(id));
        }
        index
    });
    drop(shuffled);
    println!(
        "primary random-order ids:   {:6.2} bytes/record  insert {:.0} ns/record",
        per(bytes, n),
        secs * 1e9 / n as f64
    );
    drop(primary);

    // Secondary index, (a) 1,000 distinct strings.
    let distinct = 1_000u64;
    let values: Vec<String> = (0..distinct).map(|v| format!("value-{v:04}")).collect();
    let string_bytes: usize = values.iter().map(String::len).sum();
    let (secondary, bytes, secs) = measure(|| {
        let mut index = SecondaryIndex::new();
        for id in 0..n {
            index.insert(
                IndexKey::from(values[(id % distinct) as usize].as_str()),
                id,
            );
        }
        index
    });
    let own = distinct as usize * 24 + string_bytes;
    println!(
        "secondary 1,000 strings:    {:6.2} bytes/record  beyond values {:.2}  \
         insert {:.0} ns/record",
        per(bytes, n),
        per(bytes - own, n),
        secs * 1e9 / n as f64
    );
    let started = Instant::now();
    for v in 0..distinct {
        black_box(secondary.lookup_page(
            &IndexKey::from(values[v as usize].as_str()),
            Some(n / 2),
            100,
        ));
    }
    let lookup_us = started.elapsed().as_secs_f64() * 1e6 / distinct as f64;
    println!("  lookup_page(key, after, 100) {lookup_us:.2} us");
    drop(secondary);

    // Secondary index, (b) all-distinct integers (in scrambled order relative to the ids).
    let (secondary, bytes, secs) = measure(|| {
        let mut index = SecondaryIndex::new();
        for id in 0..n {
            index.insert(IndexKey::from(scramble(id, n) as i64 - (n / 2) as i64), id);
        }
        index
    });
    let own = n as usize * 24;
    println!(
        "secondary distinct ints:    {:6.2} bytes/record  beyond values {:.2}  \
         insert {:.0} ns/record",
        per(bytes, n),
        per(bytes - own, n),
        secs * 1e9 / n as f64
    );
    let started = Instant::now();
    for id in 0..n {
        black_box(secondary.count(&IndexKey::from(id as i64)));
    }
    println!(
        "  count(key) {:.0} ns",
        started.elapsed().as_secs_f64() * 1e9 / n as f64
    );
    drop(secondary);
    Ok(())
}
