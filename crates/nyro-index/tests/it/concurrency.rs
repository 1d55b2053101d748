//! One writer inserting and replacing while readers page, get and find.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use nyro_index::{CollectionIndexes, IndexKey};
use nyro_storage::Location;

const RECORDS: u64 = 10_000;
const READERS: usize = 3;
const KEYS: u64 = 7;
/// Records per page.
const PAGE: usize = 97;
/// Pages a reader reads per round while the writer runs.
const WINDOW_PAGES: usize = 8;

fn location(id: u64, version: u32) -> Location {
    Location {
        segment: version,
        offset: id * 64,
        len: 64,
    }
}

fn key(id: u64, version: u32) -> IndexKey {
    IndexKey::from((id + u64::from(version)) % KEYS)
}

/// Ids in a scrambled order (a bijection of 0..RECORDS) so that inserts land in the middle.
fn scrambled(i: u64) -> u64 {
    (i * 7_919) % RECORDS
}

/// Pages of the primary index after `start`, at most `pages` of them: ascending, without
/// duplicates, each id readable. Returns how many records were listed.
fn page_through(index: &CollectionIndexes, start: Option<u64>, pages: usize) -> usize {
    let mut after = start;
    let mut count = 0;
    for _ in 0..pages {
        let page = index.primary().page(after, PAGE);
        for &(id, loc) in &page {
            assert!(
                after.is_none_or(|a| id > a),
                "not ascending: {id} after {after:?}"
            );
            after = Some(id);
            assert_eq!(loc.offset, id * 64);
            assert!(
                index.primary().get(id).is_some(),
                "id {id} listed, not readable"
            );
        }
        count += page.len();
        if page.len() < PAGE {
            break;
        }
    }
    count
}

/// Pages of `find(k = key)` after `start`, at most `pages` of them: ascending, without
/// duplicates, each id readable.
fn find_through(index: &CollectionIndexes, key: &IndexKey, start: Option<u64>, pages: usize) {
    let mut after = start;
    for _ in 0..pages {
        let ids = index.find(&[("k", key.clone())], after, PAGE).unwrap();
        for &id in &ids {
            assert!(
                after.is_none_or(|a| id > a),
                "not ascending: {id} after {after:?}"
            );
            after = Some(id);
            assert!(
                index.primary().get(id).is_some(),
                "found {id}, not readable"
            );
        }
        if ids.len() < PAGE {
            break;
        }
    }
}

#[test]
fn readers_see_ascending_readable_ids_while_one_writer_inserts() {
    let index = Arc::new(CollectionIndexes::new(["k"]).unwrap());
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let index = Arc::clone(&index);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for i in 0..RECORDS {
                let id = scrambled(i);
                let new = [key(id, 0)];
                index
                    .apply_put(id, location(id, 0), [], [("k", &new[..])])
                    .unwrap();
                if i % 3 == 0 {
                    // Replace an earlier record (each at most once): new location, new key.
                    let old = scrambled(i / 2);
                    let (old_key, new_key) = ([key(old, 0)], [key(old, 1)]);
                    index
                        .apply_put(
                            old,
                            location(old, 1),
                            [("k", &old_key[..])],
                            [("k", &new_key[..])],
                        )
                        .unwrap();
                }
            }
            done.store(true, Ordering::Release);
        })
    };

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let index = Arc::clone(&index);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut rounds = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    // While the writer runs, a window of a few pages from a rotating start;
                    // once it is done, the whole index.
                    let (start, pages) = if finished {
                        (None, usize::MAX)
                    } else {
                        (
                            Some((rounds * 1_009 + r as u64 * 331) % RECORDS),
                            WINDOW_PAGES,
                        )
                    };
                    let count = page_through(&index, start, pages);
                    let k = IndexKey::from((rounds + r as u64) % KEYS);
                    find_through(&index, &k, start, pages);
                    rounds += 1;
                    if finished {
                        assert_eq!(count as u64, RECORDS);
                        return rounds;
                    }
                    thread::yield_now();
                }
            })
        })
        .collect();

    writer.join().unwrap();
    for reader in readers {
        assert!(reader.join().unwrap() >= 1);
    }
    // Final state: every record has its newest key exactly once.
    let mut total = 0;
    for k in 0..KEYS {
        total += index.count("k", &IndexKey::from(k)).unwrap();
    }
    assert_eq!(total as u64, RECORDS);
    assert_eq!(index.len() as u64, RECORDS);
}
