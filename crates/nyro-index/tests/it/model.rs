//! Random sequences of puts (new or replace), deletes, finds, pages, walks, range lookups
//! and estimates against a simple model: a `BTreeMap` from id to the document's location and
//! its set of keys per path, from which the expected (key, id) entries of each path are a
//! `BTreeSet`. After every step, `get`, `page`, `find`, `walk` (ascending and descending,
//! from cursors), `ids_in` and `estimate` must agree with the model.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, ControlFlow};

use nyro_index::{CollectionIndexes, IndexKey, KeyRange};
use nyro_storage::Location;
use proptest::prelude::*;

const FIELDS: [&str; 2] = ["a", "b"];
const IDS: u64 = 16;

/// A key in a generated document.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Val {
    Min,
    Null,
    Bool(bool),
    Int(i64),
    /// An integral float: the same key as `Int` of the same value.
    Float(f64),
    Str(&'static str),
    /// An array of one integer (a nested array element is one key).
    Arr(i64),
    /// An object of one field `k` holding an integer.
    Obj(i64),
}

/// Every key the generator draws from.
const DOMAIN: [Val; 15] = [
    Val::Min,
    Val::Null,
    Val::Bool(true),
    Val::Bool(false),
    Val::Int(0),
    Val::Int(1),
    Val::Int(2),
    Val::Float(1.0),
    Val::Float(-0.0),
    Val::Str("1"),
    Val::Str("a"),
    Val::Str("true"),
    Val::Arr(1),
    Val::Obj(1),
    Val::Obj(2),
];

impl Val {
    fn key(self) -> IndexKey {
        match self {
            Val::Min => IndexKey::MIN,
            Val::Null => IndexKey::null(),
            Val::Bool(b) => IndexKey::from(b),
            Val::Int(i) => IndexKey::from(i),
            Val::Float(f) => IndexKey::from(f),
            Val::Str(s) => IndexKey::from(s),
            Val::Arr(i) => IndexKey::array([IndexKey::from(i)]),
            Val::Obj(i) => IndexKey::object([("k", IndexKey::from(i))]),
        }
    }

    /// The model's notion of equality, written independently of `IndexKey`.
    fn model_eq(self, other: Val) -> bool {
        let num = |v: Val| match v {
            Val::Int(i) => Some(i as f64),
            Val::Float(f) => Some(f),
            _ => None,
        };
        match (num(self), num(other)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => self == other,
            _ => false,
        }
    }
}

/// A bound of a generated range: unbounded, or a key of the domain, in or excluded.
#[derive(Clone, Copy, Debug)]
enum B {
    Unbounded,
    In(Val),
    Ex(Val),
}

impl B {
    fn bound(self) -> Bound<IndexKey> {
        match self {
            B::Unbounded => Bound::Unbounded,
            B::In(v) => Bound::Included(v.key()),
            B::Ex(v) => Bound::Excluded(v.key()),
        }
    }
}

type Range = (B, B);

fn key_range((lo, hi): Range) -> KeyRange {
    KeyRange::new(lo.bound(), hi.bound())
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        id: u64,
        a: Vec<Val>,
        b: Vec<Val>,
    },
    Delete {
        id: u64,
    },
    Find {
        a: Option<Val>,
        b: Option<Val>,
        after: Option<u64>,
        limit: usize,
    },
    Page {
        after: Option<u64>,
        limit: usize,
    },
    Walk {
        path: usize,
        range: Range,
        from: Option<(Val, u64)>,
        descending: bool,
        limit: usize,
    },
    IdsIn {
        path: usize,
        ranges: Vec<Range>,
    },
}

fn val() -> impl Strategy<Value = Val> {
    proptest::sample::select(DOMAIN.to_vec())
}

fn keys() -> impl Strategy<Value = Vec<Val>> {
    prop::collection::vec(val(), 0..4)
}

fn bound() -> impl Strategy<Value = B> {
    prop_oneof![
        1 => Just(B::Unbounded),
        2 => val().prop_map(B::In),
        2 => val().prop_map(B::Ex),
    ]
}

fn range() -> impl Strategy<Value = Range> {
    (bound(), bound())
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    let after = proptest::option::of(0..IDS + 1);
    prop_oneof![
        4 => (id.clone(), keys(), keys()).prop_map(|(id, a, b)| Op::Put { id, a, b }),
        2 => id.clone().prop_map(|id| Op::Delete { id }),
        2 => (proptest::option::of(val()), proptest::option::of(val()), after.clone(), 0..6usize)
            .prop_map(|(a, b, after, limit)| Op::Find { a, b, after, limit }),
        1 => (after, 0..6usize).prop_map(|(after, limit)| Op::Page { after, limit }),
        3 => (0..2usize, range(), proptest::option::of((val(), id)), any::<bool>(), 0..8usize)
            .prop_map(|(path, range, from, descending, limit)| Op::Walk { path, range, from, descending, limit }),
        2 => (0..2usize, prop::collection::vec(range(), 0..3))
            .prop_map(|(path, ranges)| Op::IdsIn { path, ranges }),
    ]
}

#[derive(Clone, Debug)]
struct Doc {
    location: Location,
    keys: [Vec<Val>; 2],
}

type Model = BTreeMap<u64, Doc>;

fn key_sets(vals: &[Vec<Val>; 2]) -> [Vec<IndexKey>; 2] {
    [
        vals[0].iter().map(|v| v.key()).collect(),
        vals[1].iter().map(|v| v.key()).collect(),
    ]
}

fn with_paths(keys: &[Vec<IndexKey>; 2]) -> [(&'static str, &[IndexKey]); 2] {
    [(FIELDS[0], &keys[0][..]), (FIELDS[1], &keys[1][..])]
}

/// The (key, id) entries of `path` the model holds.
fn entries(model: &Model, path: usize) -> BTreeSet<(IndexKey, u64)> {
    model
        .iter()
        .flat_map(|(id, doc)| doc.keys[path].iter().map(move |v| (v.key(), *id)))
        .collect()
}

/// What `find` must return, computed from the model.
fn model_find(model: &Model, conds: &[(usize, Val)], after: Option<u64>, limit: usize) -> Vec<u64> {
    model
        .iter()
        .filter(|(id, _)| after.is_none_or(|a| **id > a))
        .filter(|(_, doc)| {
            conds
                .iter()
                .all(|&(f, v)| doc.keys[f].iter().any(|k| k.model_eq(v)))
        })
        .map(|(id, _)| *id)
        .take(limit)
        .collect()
}

fn find(
    index: &CollectionIndexes,
    conds: &[(usize, Val)],
    after: Option<u64>,
    limit: usize,
) -> Vec<u64> {
    let query: Vec<(&str, IndexKey)> = conds.iter().map(|&(f, v)| (FIELDS[f], v.key())).collect();
    index.find(&query, after, limit).unwrap()
}

fn walk(
    index: &CollectionIndexes,
    path: usize,
    range: &KeyRange,
    from: Option<&(IndexKey, u64)>,
    descending: bool,
    limit: usize,
) -> Vec<(IndexKey, u64)> {
    let mut got = Vec::new();
    index
        .walk(
            FIELDS[path],
            range,
            from.map(|(k, id)| (k, *id)),
            descending,
            |k, id| {
                if got.len() == limit {
                    return ControlFlow::Break(());
                }
                got.push((k.clone(), id));
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    got
}

fn model_walk(
    model: &Model,
    path: usize,
    range: &KeyRange,
    from: Option<&(IndexKey, u64)>,
    descending: bool,
    limit: usize,
) -> Vec<(IndexKey, u64)> {
    let entries = entries(model, path);
    let in_range = entries.into_iter().filter(|(k, _)| range.contains(k));
    let ordered: Vec<(IndexKey, u64)> = if descending {
        in_range
            .rev()
            .filter(|e| from.is_none_or(|f| e < f))
            .collect()
    } else {
        in_range.filter(|e| from.is_none_or(|f| e > f)).collect()
    };
    ordered.into_iter().take(limit).collect()
}

fn model_ids_in(model: &Model, path: usize, ranges: &[KeyRange]) -> Vec<u64> {
    let ids: BTreeSet<u64> = entries(model, path)
        .into_iter()
        .filter(|(k, _)| ranges.iter().any(|r| r.contains(k)))
        .map(|(_, id)| id)
        .collect();
    ids.into_iter().collect()
}

fn check(index: &CollectionIndexes, model: &Model) -> Result<(), TestCaseError> {
    for id in 0..IDS {
        prop_assert_eq!(index.primary().get(id), model.get(&id).map(|d| d.location));
    }
    let all: Vec<(u64, Location)> = model.iter().map(|(id, d)| (*id, d.location)).collect();
    prop_assert_eq!(index.primary().page(None, usize::MAX), all);
    prop_assert_eq!(index.len(), model.len());
    for (path, field) in FIELDS.iter().enumerate() {
        let expected = entries(model, path);
        let distinct = expected
            .iter()
            .map(|(k, _)| k)
            .collect::<BTreeSet<_>>()
            .len();
        prop_assert_eq!(
            index.field_stats(field).unwrap(),
            (distinct, expected.len())
        );
        // Every entry, both ways, and a walk resumed from each entry it gave.
        for descending in [false, true] {
            let got = walk(index, path, &KeyRange::all(), None, descending, usize::MAX);
            let mut want: Vec<_> = expected.iter().cloned().collect();
            if descending {
                want.reverse();
            }
            prop_assert_eq!(&got, &want);
            for (i, entry) in got.iter().enumerate() {
                let rest = walk(
                    index,
                    path,
                    &KeyRange::all(),
                    Some(entry),
                    descending,
                    usize::MAX,
                );
                prop_assert_eq!(&rest[..], &want[i + 1..]);
            }
        }
        for v in DOMAIN {
            let range = KeyRange::eq(v.key());
            let count = expected.iter().filter(|(k, _)| *k == v.key()).count();
            prop_assert_eq!(index.estimate(field, &range).unwrap(), count);
            prop_assert_eq!(index.count(field, &v.key()).unwrap(), count);
            let conds = [(path, v)];
            prop_assert_eq!(
                find(index, &conds, None, usize::MAX),
                model_find(model, &conds, None, usize::MAX)
            );
        }
    }
    for v in DOMAIN {
        let conds = [(0, v), (1, v)];
        prop_assert_eq!(
            find(index, &conds, None, usize::MAX),
            model_find(model, &conds, None, usize::MAX)
        );
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let index = CollectionIndexes::new(FIELDS).unwrap();
    let mut model = Model::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Put { id, a, b } => {
                let location = Location {
                    segment: 1,
                    offset: step as u64 * 64,
                    len: 64,
                };
                let old = model
                    .get(&id)
                    .map(|d| key_sets(&d.keys))
                    .unwrap_or_default();
                let new_vals = [a, b];
                let new = key_sets(&new_vals);
                let previous = if model.contains_key(&id) {
                    index.apply_put(id, location, with_paths(&old), with_paths(&new))
                } else {
                    index.apply_put(id, location, [], with_paths(&new))
                }
                .unwrap();
                let doc = Doc {
                    location,
                    keys: new_vals,
                };
                prop_assert_eq!(previous, model.insert(id, doc).map(|d| d.location));
            }
            Op::Delete { id } => {
                let old = model
                    .get(&id)
                    .map(|d| key_sets(&d.keys))
                    .unwrap_or_default();
                let previous = index.apply_delete(id, with_paths(&old)).unwrap();
                prop_assert_eq!(previous, model.remove(&id).map(|d| d.location));
            }
            Op::Find { a, b, after, limit } => {
                let conds: Vec<(usize, Val)> = [a, b]
                    .into_iter()
                    .enumerate()
                    .filter_map(|(f, v)| Some((f, v?)))
                    .collect();
                if conds.is_empty() {
                    continue;
                }
                prop_assert_eq!(
                    find(&index, &conds, after, limit),
                    model_find(&model, &conds, after, limit)
                );
            }
            Op::Page { after, limit } => {
                let expected: Vec<(u64, Location)> = model
                    .range(after.map_or(0, |a| a + 1)..)
                    .take(limit)
                    .map(|(id, d)| (*id, d.location))
                    .collect();
                prop_assert_eq!(index.primary().page(after, limit), expected);
            }
            Op::Walk {
                path,
                range,
                from,
                descending,
                limit,
            } => {
                let range = key_range(range);
                let from = from.map(|(v, id)| (v.key(), id));
                prop_assert_eq!(
                    walk(&index, path, &range, from.as_ref(), descending, limit),
                    model_walk(&model, path, &range, from.as_ref(), descending, limit)
                );
                let exact = model_walk(&model, path, &range, None, false, usize::MAX).len();
                prop_assert_eq!(index.estimate(FIELDS[path], &range).unwrap(), exact);
            }
            Op::IdsIn { path, ranges } => {
                let ranges: Vec<KeyRange> = ranges.into_iter().map(key_range).collect();
                prop_assert_eq!(
                    index.ids_in(FIELDS[path], &ranges).unwrap(),
                    model_ids_in(&model, path, &ranges)
                );
            }
        }
        check(&index, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn collection_indexes_match_a_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

#[test]
fn replacing_with_wrong_old_keys_is_refused() {
    let index = CollectionIndexes::new(FIELDS).unwrap();
    let loc = Location {
        segment: 0,
        offset: 0,
        len: 32,
    };
    let keys = [vec![IndexKey::from(1i64)], vec![IndexKey::from("a")]];
    index.apply_put(1, loc, [], with_paths(&keys)).unwrap();
    // Claims the old `a` was 2: refused, nothing changes.
    let wrong = [IndexKey::from(2i64)];
    let err = index
        .apply_put(1, loc, [("a", &wrong[..])], [])
        .unwrap_err();
    assert!(err.to_string().contains("`a`"), "{err}");
    assert_eq!(
        index.find(&[("a", IndexKey::from(1.0))], None, 9).unwrap(),
        vec![1]
    );
}

#[test]
fn walks_and_ranges_on_an_example() {
    let index = CollectionIndexes::new(["n"]).unwrap();
    let loc = |o| Location {
        segment: 0,
        offset: o,
        len: 32,
    };
    // Ids 1..=6 under n = id % 3, and 7 under both 0 and 2 (an array [0, 2]).
    for id in 1..=6u64 {
        let k = [IndexKey::from(id % 3)];
        index.apply_put(id, loc(id), [], [("n", &k[..])]).unwrap();
    }
    let both = [IndexKey::from(0i64), IndexKey::from(2i64)];
    index.apply_put(7, loc(7), [], [("n", &both[..])]).unwrap();
    let range = KeyRange::new(Bound::Excluded(IndexKey::from(0i64)), Bound::Unbounded);
    assert_eq!(index.estimate("n", &range).unwrap(), 5);
    assert_eq!(
        index.ids_in("n", std::slice::from_ref(&range)).unwrap(),
        vec![1, 2, 4, 5, 7]
    );
    let all = [KeyRange::eq(IndexKey::from(0i64)), range.clone()];
    assert_eq!(
        index.ids_in("n", &all).unwrap(),
        (1..=7).collect::<Vec<_>>()
    );
    let from = IndexKey::from(2i64);
    let mut got = Vec::new();
    index
        .walk("n", &KeyRange::all(), Some((&from, 5)), true, |k, id| {
            got.push((k.as_i64().unwrap_or(-1), id));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(got, vec![(2, 2), (1, 4), (1, 1), (0, 7), (0, 6), (0, 3)]);
    let err = index.ids_in("m", &[]).unwrap_err();
    assert!(err.to_string().contains("not indexed"), "{err}");
}
