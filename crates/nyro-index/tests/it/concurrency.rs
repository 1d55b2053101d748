//! One writer inserting and replacing while readers page, get and find.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use nyro_index::{CollectionIndexes, IndexKey};
use nyro_storage::Location;

const RECORDS: u64 = 20_000;
const READERS: usize = 3;
const KEYS: u64 = 7;

fn location(id: u64, version: u32) -> Location {
    Location { segment: version, offset: id * 64, len: 64 }
}

fn key(id: u64, version: u32) -> IndexKey {
    IndexKey::from((id + u64::from(version)) % KEYS)
}

/// Ids in a scrambled order (a bijection of 0..RECORDS) so that inserts land in the middle.
fn scrambled(i: u64) -> u64 {
    (i * 7_919) % RECORDS
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
                index.apply_put(id, location(id, 0), vec![], vec![("k", Some(key(id, 0)))]).unwrap();
                if i % 3 == 0 {
                    // Replace an earlier record (each at most once): new location, new key.
                    let old = scrambled(i / 2);
                    let old_keys = vec![("k", Some(key(old, 0)))];
                    let new_keys = vec![("k", Some(key(old, 1)))];
                    index.apply_put(old, location(old, 1), old_keys, new_keys).unwrap();
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
                let mut rounds = 0u32;
                let mut seen_max = 0usize;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    // Page through the whole primary index.
                    let mut after = None;
                    let mut count = 0usize;
                    loop {
                        let page = index.primary().page(after, 97);
                        for &(id, loc) in &page {
                            assert!(after.is_none_or(|a| id > a), "not ascending: {id} after {after:?}");
                            after = Some(id);
                            assert_eq!(loc.offset, id * 64);
                            assert!(index.primary().get(id).is_some(), "id {id} listed, not readable");
                        }
                        count += page.len();
                        if page.len() < 97 {
                            break;
                        }
                    }
                    // Ids only ever get added: a later full listing is never shorter.
                    assert!(count >= seen_max, "listing shrank from {seen_max} to {count}");
                    seen_max = count;
                    // Find by key, paged.
                    let k = IndexKey::from((rounds as u64 + r as u64) % KEYS);
                    let mut after = None;
                    loop {
                        let ids = index.find(&[("k", k.clone())], after, 50).unwrap();
                        for &id in &ids {
                            assert!(after.is_none_or(|a| id > a));
                            after = Some(id);
                            assert!(index.primary().get(id).is_some(), "found {id}, not readable");
                        }
                        if ids.len() < 50 {
                            break;
                        }
                    }
                    rounds += 1;
                    if finished {
                        assert_eq!(count as u64, RECORDS);
                        return rounds;
                    }
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
