//! Random sequences of puts (new or replace), deletes, finds and pages against a simple
//! model: a `BTreeMap` from id to the document's location and field values. After every step,
//! `get`, `page` and `find` must agree with the model.

use std::collections::BTreeMap;

use nyro_index::{CollectionIndexes, IndexKey};
use nyro_storage::Location;
use proptest::prelude::*;

const FIELDS: [&str; 2] = ["a", "b"];
const IDS: u64 = 16;

/// A field's value in a generated document.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Val {
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    /// An integral float: the same key as `Int` of the same value.
    Float(f64),
    Str(&'static str),
}

/// Every value the generator draws from.
const DOMAIN: [Val; 12] = [
    Val::Missing,
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
];

impl Val {
    fn key(self) -> Option<IndexKey> {
        match self {
            Val::Missing => None,
            Val::Null => Some(IndexKey::null()),
            Val::Bool(b) => Some(IndexKey::from(b)),
            Val::Int(i) => Some(IndexKey::from(i)),
            Val::Float(f) => Some(IndexKey::from(f)),
            Val::Str(s) => Some(IndexKey::from(s)),
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
            (None, None) => self != Val::Missing && self == other,
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        id: u64,
        a: Val,
        b: Val,
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
}

fn val() -> impl Strategy<Value = Val> {
    proptest::sample::select(DOMAIN.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    let after = proptest::option::of(0..IDS + 1);
    prop_oneof![
        4 => (id.clone(), val(), val()).prop_map(|(id, a, b)| Op::Put { id, a, b }),
        2 => id.prop_map(|id| Op::Delete { id }),
        2 => (proptest::option::of(val()), proptest::option::of(val()), after.clone(), 0..6usize)
            .prop_map(|(a, b, after, limit)| Op::Find { a, b, after, limit }),
        1 => (after, 0..6usize).prop_map(|(after, limit)| Op::Page { after, limit }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Doc {
    location: Location,
    vals: [Val; 2],
}

type Model = BTreeMap<u64, Doc>;

fn keys(vals: [Val; 2]) -> Vec<(&'static str, Option<IndexKey>)> {
    FIELDS
        .iter()
        .zip(vals)
        .map(|(f, v)| (*f, v.key()))
        .collect()
}

/// What `find` must return, computed from the model. `Missing` as a condition matches
/// nothing (the core never queries for it; `find` can't be asked for it: it has no key).
fn model_find(model: &Model, conds: &[(usize, Val)], after: Option<u64>, limit: usize) -> Vec<u64> {
    model
        .iter()
        .filter(|(id, _)| after.is_none_or(|a| **id > a))
        .filter(|(_, doc)| conds.iter().all(|&(f, v)| doc.vals[f].model_eq(v)))
        .map(|(id, _)| *id)
        .take(limit)
        .collect()
}

fn find(
    index: &CollectionIndexes,
    conds: &[(usize, Val)],
    after: Option<u64>,
    limit: usize,
) -> Option<Vec<u64>> {
    let mut query = Vec::new();
    for &(f, v) in conds {
        query.push((FIELDS[f], v.key()?));
    }
    Some(index.find(&query, after, limit).unwrap())
}

fn check(index: &CollectionIndexes, model: &Model) -> Result<(), TestCaseError> {
    for id in 0..IDS {
        prop_assert_eq!(index.primary().get(id), model.get(&id).map(|d| d.location));
        prop_assert_eq!(index.primary().contains(id), model.contains_key(&id));
    }
    let all: Vec<(u64, Location)> = model.iter().map(|(id, d)| (*id, d.location)).collect();
    prop_assert_eq!(index.primary().page(None, usize::MAX), all.clone());
    prop_assert_eq!(index.primary().iter().collect::<Vec<_>>(), all.clone());
    prop_assert_eq!(index.len(), model.len());
    prop_assert_eq!(index.primary().max_id(), model.keys().next_back().copied());
    // Paginate by three.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = index.primary().page(after, 3);
        prop_assert!(page.len() <= 3);
        let Some(&(last, _)) = page.last() else { break };
        paged.extend(page);
        after = Some(last);
    }
    prop_assert_eq!(paged, all);
    // Every single-field query, and the same value in both fields.
    for v in DOMAIN {
        for conds in [vec![(0, v)], vec![(1, v)], vec![(0, v), (1, v)]] {
            if let Some(got) = find(index, &conds, None, usize::MAX) {
                prop_assert_eq!(
                    got,
                    model_find(model, &conds, None, usize::MAX),
                    "{:?}",
                    conds
                );
            }
        }
        for (f, field) in FIELDS.iter().enumerate() {
            if let Some(key) = v.key() {
                let expected = model_find(model, &[(f, v)], None, usize::MAX).len();
                prop_assert_eq!(index.count(field, &key).unwrap(), expected);
            }
        }
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
                let old = model.get(&id).map(|d| keys(d.vals)).unwrap_or_default();
                let previous = index.apply_put(id, location, old, keys([a, b])).unwrap();
                let doc = Doc {
                    location,
                    vals: [a, b],
                };
                prop_assert_eq!(previous, model.insert(id, doc).map(|d| d.location));
            }
            Op::Delete { id } => {
                let old = model.get(&id).map(|d| keys(d.vals)).unwrap_or_default();
                let previous = index.apply_delete(id, old).unwrap();
                prop_assert_eq!(previous, model.remove(&id).map(|d| d.location));
            }
            Op::Find { a, b, after, limit } => {
                let conds: Vec<(usize, Val)> = [a, b]
                    .into_iter()
                    .enumerate()
                    .filter_map(|(f, v)| Some((f, v?)))
                    .collect();
                if let Some(got) = find(&index, &conds, after, limit) {
                    prop_assert_eq!(got, model_find(&model, &conds, after, limit));
                }
            }
            Op::Page { after, limit } => {
                let expected: Vec<(u64, Location)> = model
                    .range(after.map_or(0, |a| a + 1)..)
                    .take(limit)
                    .map(|(id, d)| (*id, d.location))
                    .collect();
                prop_assert_eq!(index.primary().page(after, limit), expected);
            }
        }
        check(&index, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn collection_indexes_match_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
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
    index
        .apply_put(1, loc, vec![], keys([Val::Int(1), Val::Str("a")]))
        .unwrap();
    // Claims the old `a` was 2: refused, nothing changes.
    let err = index
        .apply_put(1, loc, keys([Val::Int(2), Val::Missing]), vec![])
        .unwrap_err();
    assert!(err.to_string().contains("field `a`"), "{err}");
    assert_eq!(
        index.find(&[("a", IndexKey::from(1.0))], None, 9).unwrap(),
        vec![1]
    );
}
