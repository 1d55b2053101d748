//! The contract's examples (section 6), one by one, through the embedded API.

use nyro_core::query::{Filter, Next, Query};
use nyro_core::{Database, DbError, WriteOptions};
use serde_json::json;

use super::support::{all_ids, page, plain};
use crate::common::{config, doc, open, within};

const PEOPLE: &str = "people";

async fn people(dir: &std::path::Path) -> Database {
    let db = open(&config(dir)).await;
    let indexes = ["age", "city", "tags", "address.city"].map(String::from);
    db.create_collection(PEOPLE, &indexes).await.unwrap();
    let docs = [
        json!({"_id": 1, "name": "Ada", "age": 36, "city": "London", "tags": ["math", "rust"], "address": {"city": "London", "zip": "N1"}}),
        json!({"_id": 2, "name": "Bo", "age": 29, "city": "Lyon", "tags": ["db"], "address": {"city": "Lyon"}}),
        json!({"_id": 3, "name": "Cy", "age": 41.0, "city": "Lyon", "tags": [], "address": 5}),
        json!({"_id": 4, "name": "Di", "age": "41", "city": null}),
        json!({"_id": 5, "name": "Ed", "tags": ["db", "rust"], "age": 18446744073709551615u64}),
        json!({"_id": 6, "name": "Fa", "age": 30, "tags": "rust", "address": {"city": "Oslo"}}),
    ];
    let docs = docs.into_iter().map(doc).collect();
    within(
        "insert",
        db.insert_many(PEOPLE, docs, WriteOptions::default()),
    )
    .await
    .unwrap();
    db
}

fn ids(db: &Database, filter: serde_json::Value) -> Vec<u64> {
    let filter = Filter::parse(&filter).unwrap();
    let got = all_ids(db, PEOPLE, &Query::new(filter.clone()).limit(2), 10);
    assert_eq!(got, plain(db, PEOPLE, &filter, None), "{filter:?}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_examples_answer_as_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = people(dir.path()).await;
    // Equality, any path, arrays per element.
    assert_eq!(ids(&db, json!({"tags": "rust"})), vec![1, 5, 6]);
    assert_eq!(ids(&db, json!({"address.city": "Lyon"})), vec![2]);
    assert_eq!(
        ids(&db, json!({"name": "Bo"})),
        vec![2],
        "an unindexed path"
    );
    // Numbers by value, u64 exact; a string bound never matches a number.
    assert_eq!(ids(&db, json!({"age": 41})), vec![3]);
    assert_eq!(ids(&db, json!({"age": {"$gt": 30}})), vec![1, 3, 5]);
    assert_eq!(ids(&db, json!({"age": {"$gt": "3"}})), vec![4]);
    assert_eq!(
        ids(&db, json!({"age": {"$gte": 18446744073709551615u64}})),
        vec![5]
    );
    assert_eq!(ids(&db, json!({"age": {"$gt": 29, "$lt": 36}})), vec![6]);
    // Missing vs null; $ne and $nin hold where the path is missing.
    assert_eq!(ids(&db, json!({"city": null})), vec![4, 5, 6]);
    assert_eq!(ids(&db, json!({"city": {"$exists": false}})), vec![5, 6]);
    assert_eq!(ids(&db, json!({"city": {"$ne": "Lyon"}})), vec![1, 4, 5, 6]);
    assert_eq!(ids(&db, json!({"address.city": null})), vec![3, 4, 5]);
    // $in, $nin, $or, $and, $not.
    assert_eq!(
        ids(&db, json!({"city": {"$in": ["Lyon", "London"]}})),
        vec![1, 2, 3]
    );
    assert_eq!(
        ids(&db, json!({"tags": {"$nin": ["db", "rust"]}})),
        vec![3, 4]
    );
    assert_eq!(
        ids(&db, json!({"$or": [{"city": "London"}, {"tags": "db"}]})),
        vec![1, 2, 5]
    );
    assert_eq!(
        ids(
            &db,
            json!({"$and": [{"city": "Lyon"}, {"age": {"$lt": 40}}]})
        ),
        vec![2]
    );
    assert_eq!(
        ids(&db, json!({"$not": {"city": "Lyon"}, "age": {"$lt": 40}})),
        vec![1, 6]
    );
    assert_eq!(ids(&db, json!({"tags": []})), vec![3]);
    assert_eq!(ids(&db, json!({})), vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_count_projection_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let db = people(dir.path()).await;
    // Ascending: [] first (3), then missing/null, numbers, strings ("41"). Arrays by their
    // smallest element ascending, largest descending.
    let by_tags = all_ids(
        &db,
        PEOPLE,
        &Query::new(Filter::All).sort("tags", false).limit(4),
        10,
    );
    assert_eq!(by_tags, vec![3, 4, 2, 5, 1, 6]);
    let by_tags = all_ids(
        &db,
        PEOPLE,
        &Query::new(Filter::All).sort("tags", true).limit(4),
        10,
    );
    assert_eq!(by_tags, vec![6, 5, 1, 2, 4, 3]);
    let by_age = all_ids(
        &db,
        PEOPLE,
        &Query::new(Filter::All).sort("age", true).limit(1),
        10,
    );
    assert_eq!(by_age, vec![4, 5, 3, 1, 6, 2]);
    // Sorted and filtered by another index.
    let lyon = Filter::parse(&json!({"city": "Lyon"})).unwrap();
    let got = all_ids(
        &db,
        PEOPLE,
        &Query::new(lyon).sort("age", true).limit(1),
        10,
    );
    assert_eq!(got, vec![3, 2]);
    // A sort on an unindexed path is not_indexed.
    let err = db
        .query_with(PEOPLE, &Query::new(Filter::All).sort("name", false), |_| {})
        .unwrap_err();
    assert!(matches!(err, DbError::NotIndexed { .. }), "{err}");

    // Count.
    let count = |filter: serde_json::Value| {
        let query = Query::new(Filter::parse(&filter).unwrap()).count();
        db.query_with(PEOPLE, &query, |_| panic!("a count hands out no document"))
            .unwrap()
            .count
    };
    assert_eq!(count(json!({"tags": "rust"})), Some(3));
    assert_eq!(count(json!({"name": {"$gt": "C"}})), Some(4));
    // Answered from the index alone: the bounds must be exact.
    assert_eq!(count(json!({"age": {"$gt": 30}})), Some(3));
    assert_eq!(count(json!({"age": {"$gte": 30, "$lt": 41}})), Some(2));
    assert_eq!(count(json!({"city": {"$in": ["Lyon", null]}})), Some(5));
    assert_eq!(count(json!({"age": {"$lt": "5"}})), Some(1));

    // Projection: only the paths asked for, and _id.
    let query =
        Query::new(Filter::parse(&json!({"_id": 1})).unwrap()).fields(["address.city", "age"]);
    let projection = nyro_core::query::Projection::new(query.fields.as_deref().unwrap_or(&[]));
    let mut out = Vec::new();
    db.query_with(PEOPLE, &query, |view| {
        projection.write_json(&view, &mut out)
    })
    .unwrap();
    let projected: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        projected,
        json!({"_id": 1, "age": 36, "address": {"city": "London"}})
    );

    // Explain: an index for an indexed equality, a scan for an unindexed one.
    let explain = db
        .explain(
            PEOPLE,
            &Query::new(Filter::parse(&json!({"city": "Lyon"})).unwrap()),
        )
        .unwrap();
    assert_eq!((explain.access, explain.scan), ("index", false));
    assert_eq!(explain.indexes[0].path, "city");
    assert_eq!((explain.examined, explain.returned), (2, 2));
    let explain = db
        .explain(
            PEOPLE,
            &Query::new(Filter::parse(&json!({"name": "Bo"})).unwrap()),
        )
        .unwrap();
    assert_eq!(
        (explain.access, explain.scan, explain.examined),
        ("scan", true, 6)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_scan_cuts_pages_short_and_refuses_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.query.max_scan = 3;
    let db = open(&config).await;
    let docs = (1..=10)
        .map(|i| doc(json!({"_id": i, "n": i % 2})))
        .collect();
    db.insert_many("c", docs, WriteOptions::default())
        .await
        .unwrap();
    let odd = Filter::parse(&json!({"n": 1})).unwrap();
    // Each page reads at most 3 documents: short pages with a next to go on from.
    let mut query = Query::new(odd.clone()).limit(5);
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (docs, next) = page(&db, "c", &query);
        assert!(docs.len() <= 2, "{docs:?}");
        seen.extend(docs.iter().map(|d| d["_id"].as_u64().unwrap()));
        match next {
            Some(next @ Next::Id(_)) => query = query.after(next),
            Some(other) => panic!("a query without sort pages by id, got {other:?}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![1, 3, 5, 7, 9]);
    let err = db
        .query_with("c", &Query::new(odd).count(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_scan = 3") && err.contains("\"n\""),
        "{err}"
    );
    // The message names the path to index: not one indexed already.
    db.create_collection("d", &["a".to_string()]).await.unwrap();
    let docs = (1..=10)
        .map(|i| doc(json!({"_id": i, "a": 1, "b": i})))
        .collect();
    db.insert_many("d", docs, WriteOptions::default())
        .await
        .unwrap();
    let both = Filter::parse(&json!({"a": 1, "b": {"$gt": 2}})).unwrap();
    let err = db
        .query_with("d", &Query::new(both).count(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("index on \"b\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_on_a_single_key_index_make_one_range_and_a_short_walk() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    db.create_collection("c", &["n".to_string()]).await.unwrap();
    let docs = (1..=200).map(|i| doc(json!({"_id": i, "n": i}))).collect();
    db.insert_many("c", docs, WriteOptions::default())
        .await
        .unwrap();
    let query = |filter: serde_json::Value| Query::new(Filter::parse(&filter).unwrap());

    // One range [100, 110): ten entries, ten documents read.
    let range = json!({"n": {"$gte": 100, "$lt": 110}});
    let explain = db.explain("c", &query(range.clone())).unwrap();
    assert_eq!(explain.access, "index");
    assert_eq!(explain.indexes.len(), 1, "{explain:?}");
    assert_eq!(explain.indexes[0].bounds, vec!["[100, 110)".to_string()]);
    assert_eq!((explain.examined, explain.returned), (10, 10));
    // A sorted page walks from the bound: the page and one more match.
    let sorted = query(json!({"n": {"$gte": 150}})).sort("n", false).limit(5);
    let explain = db.explain("c", &sorted).unwrap();
    assert_eq!(
        (explain.access, explain.examined, explain.returned),
        ("index_order", 6, 5)
    );
    assert_eq!(
        all_ids(&db, "c", &sorted, 20),
        (150..=200).collect::<Vec<u64>>()
    );
    let down = query(json!({"n": {"$lte": 20, "$gt": 10}}))
        .sort("n", true)
        .limit(3);
    assert_eq!(
        all_ids(&db, "c", &down, 20),
        (11..=20).rev().collect::<Vec<u64>>()
    );

    // An array of two elements makes the index multikey: each bound is looked up alone,
    // and [99, 111] (between neither bound alone but meeting both) matches.
    db.insert(
        "c",
        doc(json!({"_id": 201, "n": [99, 111]})),
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let explain = db.explain("c", &query(range.clone())).unwrap();
    assert_eq!(explain.indexes.len(), 2, "{explain:?}");
    let got = all_ids(&db, "c", &query(range), 20);
    assert_eq!(got, (100..110).chain([201]).collect::<Vec<u64>>());
    // Sorted ascending it sorts at 99, below the bound: the walk starts at the beginning.
    let got = all_ids(
        &db,
        "c",
        &query(json!({"n": {"$gte": 110}})).sort("n", false).limit(7),
        40,
    );
    assert_eq!(got[0], 201);
    assert_eq!(got[1..], (110..=200).collect::<Vec<u64>>()[..]);
}
