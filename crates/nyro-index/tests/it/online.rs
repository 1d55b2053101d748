//! An index added to a collection in use, built while puts and deletes go on, against a
//! model: random sequences of puts, deletes, index adds and drops, and a builder's steps
//! (reading records at their location, which writes may overtake, then `fill`); once the
//! builder has gone through every record and the index is made ready, `find` on it agrees
//! with a `BTreeMap` of the documents.

use std::collections::BTreeMap;

use nyro_index::{CollectionIndexes, IndexKey, IndexState};
use nyro_storage::Location;
use proptest::prelude::*;

const IDS: u64 = 24;
/// Values of field `a`; `VALUES` stands for "missing".
const VALUES: i64 = 4;

#[derive(Clone, Debug)]
enum Op {
    Put(u64, i64),
    Delete(u64),
    Add,
    Drop,
    /// The builder reads this many more records (in id order from where it is).
    Read(usize),
    /// The builder hands what it read to `fill`.
    Fill,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..IDS, 0..=VALUES).prop_map(|(id, v)| Op::Put(id, v)),
        2 => (0..IDS).prop_map(Op::Delete),
        1 => Just(Op::Add),
        1 => Just(Op::Drop),
        3 => (1usize..6).prop_map(Op::Read),
        3 => Just(Op::Fill),
    ]
}

/// The keys of a document whose `a` is `v` (none when missing).
fn key(v: i64) -> Vec<IndexKey> {
    if v < VALUES {
        vec![IndexKey::from(v)]
    } else {
        Vec::new()
    }
}

/// The model: each live id's location and value of `a`.
type Model = BTreeMap<u64, (Location, i64)>;

/// A build in progress: where it is in id order, and what it read but did not fill yet.
#[derive(Default)]
struct Builder {
    after: Option<u64>,
    read: Vec<(u64, Location, Vec<IndexKey>)>,
    done: bool,
}

impl Builder {
    fn read(&mut self, index: &CollectionIndexes, model: &Model, n: usize) {
        let page = index.primary().page(self.after, n);
        match page.last() {
            Some(&(last, _)) => self.after = Some(last),
            None => self.done = true,
        }
        for (id, at) in page {
            let (stored_at, v) = model[&id];
            assert_eq!(stored_at, at);
            self.read.push((id, at, key(v)));
        }
    }

    /// Fills what was read; the records moved since are read again at once (as the core's
    /// build does). Returns false if the index is gone (dropped).
    fn fill(&mut self, index: &CollectionIndexes, model: &Model) -> bool {
        loop {
            let entries = std::mem::take(&mut self.read);
            let moved = match index.fill("a", &entries) {
                Ok(moved) => moved,
                Err(_) => return false,
            };
            if moved.is_empty() {
                return true;
            }
            for id in moved {
                if let Some(&(at, v)) = model.get(&id) {
                    self.read.push((id, at, key(v)));
                }
            }
        }
    }
}

fn at(n: u64) -> Location {
    Location {
        segment: 1,
        offset: n * 64,
        len: 64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn a_build_racing_writes_ends_exact(ops in prop::collection::vec(op(), 1..120)) {
        let index = CollectionIndexes::new(Vec::<&str>::new()).unwrap();
        let mut model = Model::new();
        let mut builder: Option<Builder> = None;
        let mut next = 0;
        let indexed = |index: &CollectionIndexes| index.state("a").is_some();
        for op in ops {
            match op {
                Op::Put(id, v) => {
                    next += 1;
                    let keyed = |v: i64| if indexed(&index) { vec![("a", key(v))] } else { vec![] };
                    let old = model.get(&id).map_or_else(Vec::new, |&(_, old)| keyed(old));
                    let new = keyed(v);
                    index
                        .apply_put(
                            id,
                            at(next),
                            old.iter().map(|(p, k)| (*p, &k[..])),
                            new.iter().map(|(p, k)| (*p, &k[..])),
                        )
                        .unwrap();
                    model.insert(id, (at(next), v));
                }
                Op::Delete(id) => {
                    let old = match model.remove(&id) {
                        Some((_, old)) if indexed(&index) => vec![("a", key(old))],
                        _ => vec![],
                    };
                    index.apply_delete(id, old.iter().map(|(p, k)| (*p, &k[..]))).unwrap();
                }
                Op::Add => {
                    if !indexed(&index) {
                        let state = index.add_path("a").unwrap();
                        prop_assert_eq!(state == IndexState::Ready, model.is_empty());
                        builder = (state == IndexState::Building).then(Builder::default);
                    }
                }
                Op::Drop => {
                    if indexed(&index) {
                        index.drop_path("a").unwrap();
                        builder = None;
                    }
                }
                Op::Read(n) => {
                    if let Some(b) = &mut builder {
                        b.read(&index, &model, n);
                    }
                }
                Op::Fill => {
                    if let Some(b) = &mut builder {
                        prop_assert!(b.fill(&index, &model));
                    }
                }
            }
        }
        // The build runs to its end, then the index is ready and exact.
        if let Some(mut b) = builder.take() {
            loop {
                prop_assert!(b.fill(&index, &model));
                if b.done {
                    break;
                }
                b.read(&index, &model, 5);
            }
            index.set_ready("a").unwrap();
        }
        if indexed(&index) {
            prop_assert_eq!(index.state("a"), Some(IndexState::Ready));
            for v in 0..VALUES {
                let want: Vec<u64> =
                    model.iter().filter(|(_, (_, w))| *w == v).map(|(&id, _)| id).collect();
                let found = index.find(&[("a", IndexKey::from(v))], None, usize::MAX).unwrap();
                prop_assert_eq!(found, want, "a = {}", v);
            }
        }
        prop_assert_eq!(index.len(), model.len());
    }
}
