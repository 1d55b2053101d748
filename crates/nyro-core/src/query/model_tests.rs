//! The query semantics against a model: a plain evaluator written separately, over
//! `serde_json::Value`, from the contract's and the design's words. Random documents (mixed
//! kinds, nesting, arrays empty and nested, missing fields, few names so that paths hit) and
//! random filters (every operator, dotted paths, `$and`/`$or`/`$not` mixed with paths):
//! [`Filter::matches`] on the stored view agrees with the model, and so do the total order,
//! the sort keys and projection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;

use proptest::prelude::*;
use serde_json::{Map, Number, Value as Json, json};

use super::*;
use crate::document::Document;
use crate::view::DocumentView;

// ---- the model ----------------------------------------------------------------------

static NULL: Json = Json::Null;

/// A number times two: exact for every number the generators make (halves, integers).
fn halves(n: &Number) -> i128 {
    if let Some(i) = n.as_i64() {
        i128::from(i) * 2
    } else if let Some(u) = n.as_u64() {
        i128::from(u) * 2
    } else {
        let f = n.as_f64().expect("a number") * 2.0;
        assert!(
            f.fract() == 0.0 && f.abs() < 1e30,
            "the generators make halves: {f}"
        );
        f as i128
    }
}

fn rank(v: &Json) -> u8 {
    match v {
        Json::Null => 1,
        Json::Number(_) => 2,
        Json::String(_) => 3,
        Json::Object(_) => 4,
        Json::Array(_) => 5,
        Json::Bool(_) => 6,
    }
}

/// The total order: kinds, then within the kind.
fn model_cmp(a: &Json, b: &Json) -> Ordering {
    if rank(a) != rank(b) {
        return rank(a).cmp(&rank(b));
    }
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => halves(x).cmp(&halves(y)),
        (Json::String(x), Json::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Json::Bool(x), Json::Bool(y)) => x.cmp(y),
        (Json::Array(x), Json::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = model_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Json::Object(x), Json::Object(y)) => {
            for ((m, p), (n, q)) in x.iter().zip(y) {
                let o = m.as_bytes().cmp(n.as_bytes()).then(model_cmp(p, q));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => Ordering::Equal,
    }
}

/// The branches of `path` in `doc`: each value reached, or `None` where it is missing.
fn model_branches<'j>(doc: &'j Json, path: &str) -> Vec<Option<&'j Json>> {
    let mut current: Vec<Option<&Json>> = vec![Some(doc)];
    for segment in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            match value {
                Some(Json::Object(m)) => next.push(m.get(segment)),
                Some(Json::Array(items)) => {
                    for item in items {
                        next.push(item.as_object().and_then(|m| m.get(segment)));
                    }
                }
                _ => next.push(None),
            }
        }
        current = next;
    }
    if current.is_empty() {
        current.push(None);
    }
    current
}

/// What the conditions of `path` are tested on: arrays and each of their elements.
fn candidates<'j>(doc: &'j Json, path: &str) -> Vec<Option<&'j Json>> {
    let mut out = Vec::new();
    for branch in model_branches(doc, path) {
        out.push(branch);
        if let Some(Json::Array(items)) = branch {
            out.extend(items.iter().map(Some));
        }
    }
    out
}

fn model_eq(c: Option<&Json>, v: &Json) -> bool {
    match c {
        None => v.is_null(),
        Some(c) => model_cmp(c, v) == Ordering::Equal,
    }
}

fn model_condition(doc: &Json, path: &str, op: &str, v: &Json) -> bool {
    let cands = candidates(doc, path);
    let any_eq = |v: &Json| cands.iter().any(|c| model_eq(*c, v));
    let range = |ok: fn(Ordering) -> bool| {
        cands
            .iter()
            .flatten()
            .any(|c| rank(c) == rank(v) && ok(model_cmp(c, v)))
    };
    match op {
        "$eq" => any_eq(v),
        "$ne" => !any_eq(v),
        "$in" => v.as_array().unwrap().iter().any(any_eq),
        "$nin" => !v.as_array().unwrap().iter().any(any_eq),
        "$gt" | "$lt" if v.is_null() => false,
        "$gte" | "$lte" if v.is_null() => any_eq(v),
        "$gt" => range(Ordering::is_gt),
        "$gte" => range(Ordering::is_ge),
        "$lt" => range(Ordering::is_lt),
        "$lte" => range(Ordering::is_le),
        "$exists" => {
            let there = model_branches(doc, path).iter().any(Option::is_some);
            there == v.as_bool().unwrap()
        }
        other => panic!("the generator makes no {other}"),
    }
}

fn model_matches(filter: &Json, doc: &Json) -> bool {
    filter
        .as_object()
        .unwrap()
        .iter()
        .all(|(key, v)| match key.as_str() {
            "$and" => v.as_array().unwrap().iter().all(|f| model_matches(f, doc)),
            "$or" => v.as_array().unwrap().iter().any(|f| model_matches(f, doc)),
            "$not" => !model_matches(v, doc),
            path => match v {
                Json::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => ops
                    .iter()
                    .all(|(op, operand)| model_condition(doc, path, op, operand)),
                v => model_condition(doc, path, "$eq", v),
            },
        })
}

/// A sort key: `None` is MinKey.
fn model_sort_key<'j>(doc: &'j Json, path: &str, descending: bool) -> Option<&'j Json> {
    let mut keys: Vec<Option<&Json>> = Vec::new();
    for branch in model_branches(doc, path) {
        match branch {
            None => keys.push(Some(&NULL)),
            Some(Json::Array(items)) if items.is_empty() => keys.push(None),
            Some(Json::Array(items)) => keys.extend(items.iter().map(Some)),
            Some(v) => keys.push(Some(v)),
        }
    }
    let order = |a: &Option<&Json>, b: &Option<&Json>| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => model_cmp(a, b),
    };
    let key = if descending {
        keys.into_iter().max_by(order)
    } else {
        keys.into_iter().min_by(order)
    };
    key.expect("a document has a key for every path")
}

/// The projection of `value` to the paths (split into segments) below it.
fn model_project(value: &Json, paths: &[Vec<&str>]) -> Option<Json> {
    match value {
        Json::Object(m) => Some(Json::Object(model_project_map(m, paths))),
        Json::Array(items) => Some(Json::Array(
            items
                .iter()
                .filter_map(|i| {
                    i.as_object()
                        .map(|m| Json::Object(model_project_map(m, paths)))
                })
                .collect(),
        )),
        _ => None,
    }
}

fn model_project_map(m: &Map<String, Json>, paths: &[Vec<&str>]) -> Map<String, Json> {
    let mut out = Map::new();
    for (k, v) in m {
        let below: Vec<Vec<&str>> = paths
            .iter()
            .filter(|p| p[0] == k)
            .map(|p| p[1..].to_vec())
            .collect();
        if below.is_empty() {
            continue;
        }
        if below.iter().any(Vec::is_empty) {
            out.insert(k.clone(), v.clone());
        } else if let Some(p) = model_project(v, &below) {
            out.insert(k.clone(), p);
        }
    }
    out
}

// ---- the generators -----------------------------------------------------------------

const NAMES: [&str; 3] = ["a", "b", "c"];
const PATHS: [&str; 11] = [
    "a", "b", "c", "a.b", "a.c", "b.a", "a.b.c", "c.a.b", "_id", "d", "a.d",
];

fn number() -> impl Strategy<Value = Json> {
    prop_oneof![
        (-3i64..4).prop_map(Json::from),
        prop::sample::select(vec![
            json!(9_007_199_254_740_992_u64),
            json!(9_007_199_254_740_993_u64),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(1u64 << 63),
            json!(u64::MAX),
        ]),
        prop::sample::select(vec![
            -2.5,
            -1.0,
            -0.0,
            0.0,
            0.5,
            1.0,
            2.0,
            2.5,
            9_007_199_254_740_992.0,
            9_223_372_036_854_775_808.0,
            1e19,
            3e19,
        ])
        .prop_map(Json::from),
    ]
}

fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        2 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
        3 => number(),
        1 => prop::sample::select(vec!["", "a", "b", "ab", "é"]).prop_map(Json::from),
    ]
}

fn value() -> impl Strategy<Value = Json> {
    scalar().prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            Just(json!([])),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((prop::sample::select(NAMES.to_vec()), inner), 0..4).prop_map(
                |fields| Json::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                )
            ),
        ]
    })
}

fn document() -> impl Strategy<Value = Json> {
    (
        prop_oneof![0u64..4, Just(u64::MAX)],
        prop::collection::vec((prop::sample::select(NAMES.to_vec()), value()), 0..4),
    )
        .prop_map(|(id, fields)| {
            let mut m = Map::new();
            m.insert("_id".into(), json!(id));
            for (k, v) in fields {
                m.insert(k.to_string(), v);
            }
            Json::Object(m)
        })
}

fn condition() -> impl Strategy<Value = Json> {
    let op = prop_oneof![
        (
            prop::sample::select(vec!["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
            value()
        )
            .prop_map(|(op, v)| (op, v)),
        (
            prop::sample::select(vec!["$in", "$nin"]),
            prop::collection::vec(value(), 0..3)
        )
            .prop_map(|(op, vs)| (op, Json::Array(vs))),
        any::<bool>().prop_map(|b| ("$exists", Json::Bool(b))),
    ];
    prop_oneof![
        2 => value(),
        1 => Just(Json::Null),
        3 => prop::collection::vec(op, 1..3).prop_map(|ops| Json::Object(
            ops.into_iter().map(|(op, v)| (op.to_string(), v)).collect()
        )),
    ]
}

fn filter() -> impl Strategy<Value = Json> {
    let paths = prop::collection::vec((prop::sample::select(PATHS.to_vec()), condition()), 0..3);
    let leaf = paths.prop_map(|entries| {
        Json::Object(
            entries
                .into_iter()
                .map(|(p, c)| (p.to_string(), c))
                .collect(),
        )
    });
    leaf.prop_recursive(3, 16, 3, |inner| {
        (
            prop::sample::select(vec!["$and", "$or", "$not"]),
            prop::collection::vec(inner, 1..3),
            prop::collection::vec((prop::sample::select(PATHS.to_vec()), condition()), 0..2),
        )
            .prop_map(|(op, mut filters, paths)| {
                let mut m: Map<String, Json> =
                    paths.into_iter().map(|(p, c)| (p.to_string(), c)).collect();
                let operand = if op == "$not" {
                    filters.swap_remove(0)
                } else {
                    Json::Array(filters)
                };
                m.insert(op.to_string(), operand);
                Json::Object(m)
            })
    })
}

// ---- the properties -----------------------------------------------------------------

/// The stored bytes and id of a JSON document.
fn stored(doc: &Json) -> (u64, Vec<u8>) {
    let doc = Document::from_json(doc.clone()).unwrap();
    (doc.id.unwrap(), doc.to_stored_bytes().unwrap())
}

fn key_json(key: SortKey<'_>) -> Option<Json> {
    match key {
        SortKey::MinKey => None,
        SortKey::Value(v) => Some(v.to_value().to_json()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn matches_agrees_with_the_model(filter in filter(), docs in prop::collection::vec(document(), 1..6)) {
        let parsed = Filter::parse(&filter).unwrap();
        for doc in &docs {
            let (id, bytes) = stored(doc);
            let view = DocumentView::new(id, &bytes).unwrap();
            prop_assert_eq!(parsed.matches(&view), model_matches(&filter, doc), "{} on {}", filter, doc);
        }
    }

    #[test]
    fn order_and_sort_keys_agree_with_the_model(
        docs in prop::collection::vec(document(), 1..6),
        path in prop::sample::select(PATHS.to_vec()),
    ) {
        let stored: Vec<_> = docs.iter().map(stored).collect();
        let views: Vec<_> = stored.iter().map(|(id, b)| DocumentView::new(*id, b).unwrap()).collect();
        let path_ = Path::parse(path).unwrap();
        for descending in [false, true] {
            for (i, a) in views.iter().enumerate() {
                let key_a = sort_key(a, &path_, descending);
                let model_a = model_sort_key(&docs[i], path, descending);
                let same = match (key_json(key_a), model_a) {
                    (None, None) => true,
                    (Some(x), Some(y)) => model_cmp(&x, y) == Ordering::Equal,
                    _ => false,
                };
                prop_assert!(same, "sort key of {} on {}: {:?}", docs[i], path, key_a);
                for (j, b) in views.iter().enumerate() {
                    let model_b = model_sort_key(&docs[j], path, descending);
                    let expected = match (model_a, model_b) {
                        (None, None) => Ordering::Equal,
                        (None, Some(_)) => Ordering::Less,
                        (Some(_), None) => Ordering::Greater,
                        (Some(x), Some(y)) => model_cmp(x, y),
                    };
                    prop_assert_eq!(key_a.cmp(&sort_key(b, &path_, descending)), expected);
                    if let (Some(x), Some(y)) = (a.get(path), b.get(path)) {
                        let (mx, my) = (&docs[i][path], &docs[j][path]);
                        prop_assert_eq!(compare_views(&x, &y), model_cmp(mx, my), "{} vs {}", mx, my);
                        prop_assert_eq!(compare_view_value(&x, &y.to_value()), model_cmp(mx, my));
                    }
                }
            }
        }
    }

    #[test]
    fn projection_agrees_with_the_model(
        doc in document(),
        paths in prop::collection::vec(prop::sample::select(PATHS.to_vec()), 0..4),
    ) {
        let (id, bytes) = stored(&doc);
        let view = DocumentView::new(id, &bytes).unwrap();
        let parsed: Vec<Path> = paths.iter().map(|p| Path::parse(p).unwrap()).collect();
        let mut out = Vec::new();
        Projection::new(&parsed).write_json(&view, &mut out);
        let split: Vec<Vec<&str>> = paths.iter().map(|p| p.split('.').collect()).collect();
        let mut expected = Map::new();
        expected.insert("_id".into(), doc["_id"].clone());
        let fields: Map<String, Json> = doc.as_object().unwrap().iter()
            .filter(|(k, _)| *k != "_id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        expected.extend(model_project_map(&fields, &split));
        prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&expected).unwrap());
    }
}
