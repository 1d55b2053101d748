//! Whole queries against the plain answer: random documents (mixed types, nesting, arrays,
//! missing fields), random filters and sorts, paged with small limits, with random writes
//! between pages, on a collection with indexes and one without, across reopen and
//! compaction.

use std::collections::{BTreeMap, BTreeSet};

use nyro_core::query::{Filter, Query};
use nyro_core::{Database, WriteOptions};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::support::{all_ids, page, plain};
use crate::common::{config, doc, open_quiet, reopen, within};
use crate::model_support::cases;

/// The paths documents and filters use; every one is indexed in [`INDEXED`].
const PATHS: [&str; 5] = ["a", "b", "t", "o.a", "l.x"];
const INDEXED: &str = "with";
const PLAIN: &str = "without";

fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::from),
        4 => (-2i64..3).prop_map(Json::from),
        1 => prop_oneof![Just(1.5), Just(-0.5), Just(2.0)].prop_map(Json::from),
        1 => Just(json!(u64::MAX)),
        2 => prop_oneof![Just("a"), Just("b"), Just("ab"), Just("")].prop_map(Json::from),
    ]
}

fn value() -> impl Strategy<Value = Json> {
    scalar().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Json::from),
            (prop::option::of(inner.clone()), prop::option::of(inner)).prop_map(|(a, x)| {
                let mut o = serde_json::Map::new();
                if let Some(a) = a {
                    o.insert("a".into(), a);
                }
                if let Some(x) = x {
                    o.insert("x".into(), x);
                }
                Json::Object(o)
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = Json> {
    prop::collection::vec(
        (prop::sample::select(vec!["a", "b", "t", "o", "l"]), value()),
        0..5,
    )
    .prop_map(|fields| {
        Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    })
}

fn condition() -> impl Strategy<Value = Json> {
    let op = prop::sample::select(vec!["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]);
    prop_oneof![
        3 => scalar(),
        1 => value(),
        5 => (op, scalar()).prop_map(|(op, v)| json!({op: v})),
        1 => (prop::sample::select(vec!["$in", "$nin"]), prop::collection::vec(scalar(), 0..3))
            .prop_map(|(op, v)| json!({op: v})),
        1 => any::<bool>().prop_map(|b| json!({"$exists": b})),
        1 => (scalar(), scalar()).prop_map(|(lo, hi)| json!({"$gt": lo, "$lte": hi})),
    ]
}

fn filter() -> impl Strategy<Value = Json> {
    let leaf =
        (prop::sample::select(PATHS.to_vec()), condition()).prop_map(|(path, c)| json!({path: c}));
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(|f| json!({"$and": f})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|f| json!({"$or": f})),
            inner.clone().prop_map(|f| json!({"$not": f})),
            (inner.clone(), inner).prop_map(|(a, b)| {
                let mut m = a.as_object().cloned().unwrap_or_default();
                m.extend(b.as_object().cloned().unwrap_or_default());
                Json::Object(m)
            }),
        ]
    })
}

/// A write between pages.
#[derive(Debug, Clone)]
enum Write {
    Put(u64, Json),
    Delete(u64),
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        3 => (1u64..40, document()).prop_map(|(id, d)| Write::Put(id, d)),
        1 => (1u64..40).prop_map(Write::Delete),
    ]
}

async fn apply(db: &Database, write: &Write) {
    for collection in [INDEXED, PLAIN] {
        match write {
            Write::Put(id, d) => {
                let mut d = d.clone();
                d["_id"] = json!(id);
                db.replace(collection, *id, doc(d), WriteOptions::default())
                    .await
                    .unwrap();
            }
            Write::Delete(id) => {
                let _ = db.delete(collection, *id, WriteOptions::default()).await;
            }
        }
    }
}

/// Every page of `query` with `writes` applied one after each page; the documents no
/// write touched must each come exactly once if they match, in order.
async fn paged_with_writes(
    db: &Database,
    collection: &str,
    query: &Query,
    sort: Option<(&str, bool)>,
    writes: &[Write],
) {
    let before = plain(db, collection, &query.filter, sort);
    let touched: BTreeSet<u64> = writes
        .iter()
        .map(|w| match w {
            Write::Put(id, _) | Write::Delete(id) => *id,
        })
        .collect();
    let mut got = Vec::new();
    let mut query = query.clone();
    let mut writes = writes.iter();
    for _ in 0..200 {
        let (docs, next) = page(db, collection, &query);
        got.extend(docs.iter().map(|d| d["_id"].as_u64().unwrap()));
        let Some(next) = next else { break };
        query = query.after(next);
        if let Some(w) = writes.next() {
            apply(db, w).await;
        }
    }
    let untouched = |ids: &[u64]| {
        ids.iter()
            .copied()
            .filter(|id| !touched.contains(id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        untouched(&got),
        untouched(&before),
        "{collection} {query:?}"
    );
    let mut counts = BTreeMap::new();
    for id in &got {
        *counts.entry(id).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1) || !touched.is_empty(),
        "{got:?}"
    );
}

fn run(docs: Vec<Json>, limit: usize, filters: Vec<Json>, writes: Vec<Write>, reopen_after: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let mut db = open_quiet(&config).await;
        let indexes: Vec<String> = PATHS.iter().map(|p| p.to_string()).collect();
        db.create_collection(INDEXED, &indexes).await.unwrap();
        db.create_collection(PLAIN, &[]).await.unwrap();
        for (i, d) in docs.iter().enumerate() {
            apply(&db, &Write::Put(i as u64 + 1, d.clone())).await;
        }
        if reopen_after {
            // Replaced versions to compact away, then the indexes rebuilt by replay.
            for (i, d) in docs.iter().enumerate().step_by(2) {
                apply(&db, &Write::Put(i as u64 + 1, d.clone())).await;
            }
            within("compact", db.compact()).await.unwrap();
            db = reopen(db, &config).await;
        }
        for f in &filters {
            let filter = Filter::parse(f).unwrap();
            for collection in [INDEXED, PLAIN] {
                // By id: every page, and the count.
                let query = Query::new(filter.clone()).limit(limit);
                let expected = plain(&db, collection, &filter, None);
                assert_eq!(
                    all_ids(&db, collection, &query, 100),
                    expected,
                    "{collection} {f}"
                );
                let count = db
                    .query_with(collection, &query.clone().count(), |_| {})
                    .unwrap();
                assert_eq!(
                    count.count,
                    Some(expected.len() as u64),
                    "{collection} count {f}"
                );
                // By id, largest first, with cursors.
                let down = Query::new(filter.clone()).sort("_id", true).limit(limit);
                let expected = plain(&db, collection, &filter, Some(("_id", true)));
                let got = all_ids(&db, collection, &down, 100);
                assert_eq!(got, expected, "{collection} _id desc {f}");
            }
            // Sorted by each indexed path, both ways.
            for path in PATHS {
                for descending in [false, true] {
                    let query = Query::new(filter.clone())
                        .sort(path, descending)
                        .limit(limit);
                    let expected = plain(&db, INDEXED, &filter, Some((path, descending)));
                    let got = all_ids(&db, INDEXED, &query, 100);
                    assert_eq!(got, expected, "sort {path} desc={descending} {f}");
                }
            }
        }
        // Pages with writes in between.
        if let Some(f) = filters.first() {
            let filter = Filter::parse(f).unwrap();
            let query = Query::new(filter.clone()).limit(2);
            paged_with_writes(&db, INDEXED, &query, None, &writes).await;
            let sorted = Query::new(filter).sort("a", false).limit(2);
            paged_with_writes(&db, INDEXED, &sorted, Some(("a", false)), &writes).await;
        }
        db.close().await.unwrap();
    });
}

proptest! {
    #![proptest_config(cases(64, 100))]

    #[test]
    fn queries_agree_with_the_plain_answer(
        docs in prop::collection::vec(document(), 0..40),
        limit in 1usize..5,
        filters in prop::collection::vec(filter(), 1..4),
        writes in prop::collection::vec(write(), 0..6),
        reopen_after in any::<bool>(),
    ) {
        run(docs, limit, filters, writes, reopen_after);
    }
}
