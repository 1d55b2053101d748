//! The embedded API against CONTRACT.md section 1: collections, documents, ids, pages,
//! queries, errors, and everything surviving a close and reopen.

use nyro_core::{
    ChangeOp, Created, Database, DbError, Document, MAX_DEPTH, MAX_PAGE, Value, WriteOptions,
};
use serde_json::json;

use crate::common::*;

const W: WriteOptions = WriteOptions { sync: false };

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn nested(depth: usize) -> serde_json::Value {
    // `depth` levels counting the document itself.
    let mut v = json!(1);
    for _ in 1..depth {
        v = json!([v]);
    }
    json!({ "a": v })
}

#[tokio::test]
async fn collections_are_created_listed_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    assert!(db.collections().is_empty());

    let created = db
        .create_collection("users", &strings(&["city", "age"]))
        .await
        .unwrap();
    assert_eq!(created, Created::Created);
    // Same indexes (in any order) -> nothing changes.
    let again = db
        .create_collection("users", &strings(&["age", "city"]))
        .await
        .unwrap();
    assert_eq!(again, Created::Existed);
    // A field listed twice is refused, as `[[collections]]` in the config file refuses it
    // (one rule: nyro_core::names), whether or not the collection exists.
    for name in ["users", "fresh"] {
        match db
            .create_collection(name, &strings(&["age", "city", "age"]))
            .await
        {
            Err(DbError::Invalid { message, .. }) => {
                assert!(message.contains("\"age\" is listed twice"), "{message}");
                assert!(message.contains("indexes[2]"), "{message}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    // Other indexes -> conflict.
    for other in [&["city"][..], &["city", "age", "name"], &[]] {
        match db.create_collection("users", &strings(other)).await {
            Err(e @ DbError::CollectionExists { .. }) => {
                let message = e.to_string();
                assert!(message.contains("users"), "{message}");
            }
            other => panic!("expected CollectionExists, got {other:?}"),
        }
    }
    assert_eq!(
        db.create_collection("b", &[]).await.unwrap(),
        Created::Created
    );

    let listed = db.collections();
    let names: Vec<_> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b", "users"]);
    assert_eq!(listed[1].indexes, strings(&["age", "city"]));
    assert_eq!(listed[1].count, 0);

    insert(&db, "users", json!({"city": "Oslo", "age": 30})).await;
    insert(&db, "users", json!({"city": "Lyon", "age": 30})).await;
    assert_eq!(db.collections()[1].count, 2);

    // Dropping a missing collection.
    match db.drop_collection("nope").await {
        Err(DbError::CollectionNotFound { collection }) => assert_eq!(collection, "nope"),
        other => panic!("expected CollectionNotFound, got {other:?}"),
    }
    db.drop_collection("users").await.unwrap();
    assert_eq!(db.collections().len(), 1);
    assert!(matches!(
        db.get("users", 1),
        Err(DbError::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.list("users", None, 10),
        Err(DbError::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.drop_collection("users").await,
        Err(DbError::CollectionNotFound { .. })
    ));

    // Re-created, it is empty (and may have other indexes now).
    assert_eq!(
        db.create_collection("users", &strings(&["city"]))
            .await
            .unwrap(),
        Created::Created
    );
    assert!(db.list("users", None, 10).unwrap().records.is_empty());
    assert!(
        db.find("users", &cond(&[("city", json!("Oslo"))]), None, 10)
            .unwrap()
            .records
            .is_empty()
    );
    assert!(matches!(db.get("users", 1), Err(DbError::NotFound { .. })));

    // And so it stays after a reopen.
    let config = config(dir.path());
    let db = reopen(db, &config).await;
    let names: Vec<_> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["b", "users"]);
    assert_eq!(db.collections()[1].indexes, strings(&["city"]));
    assert!(db.list("users", None, 10).unwrap().records.is_empty());
    db.close().await.unwrap();
}

#[tokio::test]
async fn ids_are_assigned_increasing_and_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = Database::open(&config).await.unwrap();

    let a = db.insert("c", doc(json!({"x": 1})), W).await.unwrap();
    let b = db.insert("c", doc(json!({"x": 2})), W).await.unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    assert!(b.seq > a.seq);

    // A given id is kept; the next assigned one follows the largest.
    let given = db
        .insert("c", doc(json!({"_id": 10, "x": 3})), W)
        .await
        .unwrap();
    assert_eq!(given.id, 10);
    assert_eq!(insert(&db, "c", json!({})).await, 11);
    // A given id below the largest is fine too.
    assert_eq!(insert(&db, "c", json!({"_id": 5})).await, 5);
    assert_eq!(insert(&db, "c", json!({})).await, 12);

    // A given id that exists conflicts; nothing changes.
    match db
        .insert("c", doc(json!({"_id": 10, "x": "other"})), W)
        .await
    {
        Err(e @ DbError::Conflict { .. }) => {
            let message = e.to_string();
            assert!(message.contains("10"), "{message}");
            assert!(matches!(
                e,
                DbError::Conflict {
                    id: 10,
                    element: None,
                    ..
                }
            ));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        db.get("c", 10).unwrap().to_json(),
        json!({"_id": 10, "x": 3})
    );

    // Deleting the largest id does not make it available again.
    db.delete("c", 12, W).await.unwrap();
    assert_eq!(insert(&db, "c", json!({})).await, 13);
    db.delete("c", 13, W).await.unwrap();

    // Nor after a reopen.
    let db = reopen(db, &config).await;
    assert_eq!(insert(&db, "c", json!({})).await, 14);
    // Each collection has its own id space.
    assert_eq!(insert(&db, "other", json!({})).await, 1);
    db.close().await.unwrap();
}

#[tokio::test]
async fn auto_ids_never_collide_with_ids_given_in_the_same_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    // The first element gets an assigned id; the second gives the id that would be next.
    let docs = vec![
        doc(json!({"k": "auto"})),
        doc(json!({"_id": 1, "k": "given"})),
    ];
    let many = db.insert_many("c", docs, W).await.unwrap();
    assert_eq!(many.ids.len(), 2);
    assert_ne!(many.ids[0], many.ids[1], "{:?}", many.ids);
    assert_eq!(many.ids[1], 1);
    assert_eq!(
        db.get("c", many.ids[0]).unwrap().get("k"),
        Some(&val(json!("auto")))
    );
    assert_eq!(db.get("c", 1).unwrap().get("k"), Some(&val(json!("given"))));
    assert_eq!(db.list("c", None, 10).unwrap().records.len(), 2);
    // Later assigned ids are above both.
    let next = insert(&db, "c", json!({})).await;
    assert!(next > many.ids[0] && next > 1, "{next}");
    db.close().await.unwrap();
}

#[tokio::test]
async fn insert_many_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = Database::open(&config).await.unwrap();
    db.create_collection("c", &strings(&["k"])).await.unwrap();
    insert(&db, "c", json!({"_id": 7, "k": "seven"})).await;
    let before = db.stats().last_seq;

    // A repeated _id within the request.
    let docs = vec![
        doc(json!({"_id": 1, "k": "a"})),
        doc(json!({"k": "b"})),
        doc(json!({"_id": 1, "k": "c"})),
    ];
    match db.insert_many("c", docs, W).await {
        Err(e @ DbError::Conflict { .. }) => {
            let message = e.to_string();
            assert!(message.contains("element"), "{message}");
            assert!(message.contains('0') && message.contains('2'), "{message}");
            let DbError::Conflict {
                id, element, first, ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!((id, element, first), (1, Some(2), Some(0)));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // An _id that exists.
    let docs = vec![
        doc(json!({"_id": 2, "k": "a"})),
        doc(json!({"k": "b"})),
        doc(json!({"_id": 7, "k": "c"})),
    ];
    match db.insert_many("c", docs, W).await {
        Err(e @ DbError::Conflict { .. }) => {
            let message = e.to_string();
            assert!(message.contains("element 2"), "{message}");
            assert!(message.contains('7'), "{message}");
            assert_eq!(e.element(), Some(2));
            assert!(matches!(
                e,
                DbError::Conflict {
                    id: 7,
                    first: None,
                    ..
                }
            ));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // An invalid element (65 levels deep; built in Rust, as such JSON does not convert).
    let mut deep = Value::Int(1);
    for _ in 0..MAX_DEPTH {
        deep = Value::Array(vec![deep]);
    }
    let docs = vec![
        doc(json!({"k": "a"})),
        Document::new(vec![("a".into(), deep)]),
    ];
    match db.insert_many("c", docs, W).await {
        Err(e @ DbError::Invalid { .. }) => assert!(e.to_string().contains("element 1"), "{e}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(
        db.insert_many("c", Vec::new(), W).await,
        Err(DbError::Invalid { .. })
    ));

    // Nothing of any of them was written.
    assert_eq!(db.stats().last_seq, before);
    assert_eq!(ids(&db.list("c", None, 100).unwrap()), vec![7]);
    for k in ["a", "b", "c"] {
        assert!(
            db.find("c", &cond(&[("k", json!(k))]), None, 10)
                .unwrap()
                .records
                .is_empty()
        );
    }

    // A good one writes every element, each with its own seq.
    let docs = vec![
        doc(json!({"k": "a"})),
        doc(json!({"_id": 100, "k": "b"})),
        doc(json!({"k": "c"})),
    ];
    let many = db.insert_many("c", docs, W).await.unwrap();
    assert_eq!(many.ids, vec![8, 100, 101]);
    assert_eq!(many.seq, before + 3);
    let db = reopen(db, &config).await;
    assert_eq!(ids(&db.list("c", None, 100).unwrap()), vec![7, 8, 100, 101]);
    assert_eq!(db.stats().last_seq, before + 3);
    db.close().await.unwrap();
}

#[tokio::test]
async fn get_replace_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    db.create_collection("c", &strings(&["city"]))
        .await
        .unwrap();
    match db.get("c", 1) {
        Err(DbError::NotFound { collection, id }) => {
            assert_eq!((collection.as_str(), id), ("c", 1));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        db.get("missing", 1),
        Err(DbError::CollectionNotFound { .. })
    ));

    // Replace creates...
    let r = db
        .replace("c", 5, doc(json!({"city": "Oslo"})), W)
        .await
        .unwrap();
    assert_eq!((r.id, r.created), (5, true));
    assert_eq!(
        db.get("c", 5).unwrap().to_json(),
        json!({"_id": 5, "city": "Oslo"})
    );
    // ...and replaces; the old indexed value no longer finds it.
    let r2 = db
        .replace("c", 5, doc(json!({"_id": 5, "city": "Lyon", "n": 1})), W)
        .await
        .unwrap();
    assert_eq!((r2.id, r2.created), (5, false));
    assert!(r2.seq > r.seq);
    assert_eq!(
        db.get("c", 5).unwrap().to_json(),
        json!({"_id": 5, "city": "Lyon", "n": 1})
    );
    assert!(
        db.find("c", &cond(&[("city", json!("Oslo"))]), None, 10)
            .unwrap()
            .records
            .is_empty()
    );
    assert_eq!(
        ids(&db
            .find("c", &cond(&[("city", json!("Lyon"))]), None, 10)
            .unwrap()),
        vec![5]
    );
    // A replace without the field takes it out of the index.
    db.replace("c", 5, doc(json!({"n": 2})), W).await.unwrap();
    assert!(
        db.find("c", &cond(&[("city", json!("Lyon"))]), None, 10)
            .unwrap()
            .records
            .is_empty()
    );
    // A document whose _id differs from the target is refused.
    assert!(matches!(
        db.replace("c", 5, doc(json!({"_id": 6})), W).await,
        Err(DbError::Invalid { .. })
    ));
    // The next assigned id is past a replaced-into-existence one.
    assert_eq!(insert(&db, "c", json!({})).await, 6);
    // Replace creates a missing collection.
    let r = db.replace("fresh", 3, doc(json!({})), W).await.unwrap();
    assert!(r.created);
    assert_eq!(db.collections().len(), 2);

    // Delete.
    db.replace("c", 5, doc(json!({"city": "Rome"})), W)
        .await
        .unwrap();
    let seq = db.delete("c", 5, W).await.unwrap();
    assert!(seq > r.seq);
    assert!(matches!(db.get("c", 5), Err(DbError::NotFound { .. })));
    assert!(
        db.find("c", &cond(&[("city", json!("Rome"))]), None, 10)
            .unwrap()
            .records
            .is_empty()
    );
    match db.delete("c", 5, W).await {
        Err(DbError::NotFound { collection, id }) => {
            assert_eq!((collection.as_str(), id), ("c", 5))
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        db.delete("missing", 1, W).await,
        Err(DbError::CollectionNotFound { .. })
    ));
    // A failed delete takes no seq.
    assert_eq!(db.stats().last_seq, seq);
    db.close().await.unwrap();
}

#[tokio::test]
async fn replace_many_is_all_or_nothing_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    db.create_collection("c", &strings(&["city"]))
        .await
        .unwrap();
    db.insert("c", doc(json!({"_id": 1, "city": "Oslo"})), W)
        .await
        .unwrap();
    let mut feed = db.subscribe(Some("c"), None).unwrap();

    // Replaces 1, creates 2, then replaces 2 again within the same request.
    let replaced = db
        .replace_many(
            "c",
            vec![
                doc(json!({"_id": 1, "city": "Lyon"})),
                doc(json!({"_id": 2, "city": "Rome"})),
                doc(json!({"_id": 2, "city": "Pisa"})),
            ],
            W,
        )
        .await
        .unwrap();
    let answers: Vec<_> = replaced.iter().map(|r| (r.id, r.created)).collect();
    assert_eq!(answers, [(1, false), (2, true), (2, false)]);
    assert!(replaced.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(db.get("c", 2).unwrap().to_json()["city"], "Pisa");
    let city = |v: &str| vec![("city".to_string(), Value::String(v.into()))];
    assert!(
        db.find("c", &city("Rome"), None, 10)
            .unwrap()
            .records
            .is_empty()
    );
    assert_eq!(
        db.find("c", &city("Pisa"), None, 10).unwrap().records.len(),
        1
    );
    let mut ops = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next()).await;
        ops.push(event.unwrap().unwrap().unwrap().op);
    }
    assert_eq!(
        ops,
        [ChangeOp::Update, ChangeOp::Insert, ChangeOp::Update],
        "one change event per element"
    );

    // One element without an id, or a bad one: nothing is written.
    let twice = |field: &str| (field.to_string(), Value::Int(1));
    let mut repeated_field = Document::new(vec![twice("a"), twice("a")]);
    repeated_field.id = Some(3);
    for second in [doc(json!({"city": "Bern"})), repeated_field] {
        let got = db
            .replace_many("c", vec![doc(json!({"_id": 1, "city": "Bern"})), second], W)
            .await;
        match got {
            Err(e @ DbError::Invalid { .. }) => {
                assert!(e.to_string().contains("element 1"), "{e}");
                assert_eq!(e.element(), Some(1));
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(db.get("c", 1).unwrap().to_json()["city"], "Lyon");
    }
    assert!(matches!(
        db.replace_many("c", Vec::new(), W).await,
        Err(DbError::Invalid { .. })
    ));
    db.close().await.unwrap();
}

#[tokio::test]
async fn list_pages_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    let docs: Vec<_> = (1..=25).map(|n| doc(numbered(n))).collect();
    db.insert_many("c", docs, W).await.unwrap();
    db.delete("c", 4, W).await.unwrap();

    let first = db.list("c", None, 10).unwrap();
    assert_eq!(ids(&first), [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(first.next, Some(11));
    assert_eq!(
        first.records[0].to_json(),
        json!({"_id": 1, "n": 1, "text": "document number 1"})
    );
    let second = db.list("c", first.next, 10).unwrap();
    assert_eq!(ids(&second), (12..=21).collect::<Vec<_>>());
    assert_eq!(second.next, Some(21));
    let last = db.list("c", second.next, 10).unwrap();
    assert_eq!(ids(&last), (22..=25).collect::<Vec<_>>());
    assert_eq!(last.next, None);
    // Exactly full: no next.
    let exact = db.list("c", Some(15), 10).unwrap();
    assert_eq!(ids(&exact), (16..=25).collect::<Vec<_>>());
    assert_eq!(exact.next, None);
    // After the end, or an `after` that is not an id.
    assert_eq!(db.list("c", Some(25), 10).unwrap().records.len(), 0);
    assert_eq!(db.list("c", Some(25), 10).unwrap().next, None);
    assert_eq!(ids(&db.list("c", Some(3), 2).unwrap()), [5, 6]);
    assert_eq!(db.list("c", None, MAX_PAGE).unwrap().records.len(), 24);
    assert_eq!(list_all(&db, "c", 1).len(), 24);

    for bad in [0, MAX_PAGE + 1] {
        match db.list("c", None, bad) {
            Err(e @ DbError::Invalid { .. }) => assert!(e.to_string().contains("limit"), "{e}"),
            other => panic!("limit {bad}: expected Invalid, got {other:?}"),
        }
        assert!(matches!(
            db.find("c", &[], None, bad),
            Err(DbError::Invalid { .. })
        ));
    }
    assert!(matches!(
        db.list("nope", None, 10),
        Err(DbError::CollectionNotFound { .. })
    ));
    db.close().await.unwrap();
}

#[tokio::test]
async fn documents_scans_a_collection_lazily_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    let n = 2 * nyro_core::DOCUMENTS_CHUNK as u64 + 7;
    let docs = (1..=n)
        .map(|i| doc(json!({"_id": i * 3, "i": i})))
        .collect();
    db.insert_many("c", docs, W).await.unwrap();
    db.insert("other", doc(json!({"x": 1})), W).await.unwrap();

    let ids: Vec<u64> = db
        .documents("c")
        .unwrap()
        .map(|d| d.unwrap().id.unwrap())
        .collect();
    assert_eq!(ids, (1..=n).map(|i| i * 3).collect::<Vec<_>>());

    // Deletes behind and ahead of the scan: each remaining document once, none deleted
    // before it was reached.
    let mut scan = db.documents("c").unwrap();
    let first = scan.next().unwrap().unwrap();
    assert_eq!(first.to_json(), json!({"_id": 3, "i": 1}));
    for id in [3, 6, 3 * 1500] {
        db.delete("c", id, W).await.unwrap();
    }
    db.replace("c", 9, doc(json!({"i": "new"})), W)
        .await
        .unwrap();
    let rest: Vec<Document> = scan.map(|d| d.unwrap()).collect();
    assert_eq!(
        rest[0].to_json(),
        json!({"_id": 9, "i": "new"}),
        "the version current when reached"
    );
    let rest: Vec<u64> = rest.iter().map(|d| d.id.unwrap()).collect();
    assert_eq!(rest.len() as u64, n - 3);
    assert!(!rest.contains(&6) && !rest.contains(&(3 * 1500)));
    assert!(rest.windows(2).all(|w| w[0] < w[1]));

    assert!(matches!(
        db.documents("missing"),
        Err(DbError::CollectionNotFound { .. })
    ));
    db.create_collection("empty", &[]).await.unwrap();
    assert_eq!(db.documents("empty").unwrap().count(), 0);
    db.close().await.unwrap();
}

#[tokio::test]
async fn find_uses_indexes_with_exact_value_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = Database::open(&config).await.unwrap();
    db.create_collection("c", &strings(&["a", "b"]))
        .await
        .unwrap();
    let rows = [
        json!({"a": 1, "b": "x"}),        // 1
        json!({"a": "1", "b": "x"}),      // 2
        json!({"a": 1.0, "b": "y"}),      // 3
        json!({"a": 2, "b": "x"}),        // 4
        json!({"a": true, "b": null}),    // 5
        json!({"a": null}),               // 6
        json!({"b": "x"}),                // 7
        json!({"a": [1], "b": {"k": 1}}), // 8
        json!({"a": 1, "b": "x"}),        // 9
    ];
    for row in rows {
        insert(&db, "c", row).await;
    }
    let check = |db: &Database| {
        let find = |pairs: &[(&str, serde_json::Value)]| find_all(db, "c", &cond(pairs), 2);
        // An array holding the value matches (8), as the contract says.
        assert_eq!(find(&[("a", json!(1))]), [1, 3, 8, 9]);
        assert_eq!(find(&[("a", json!(1.0))]), [1, 3, 8, 9]);
        assert_eq!(find(&[("a", json!("1"))]), [2]);
        assert_eq!(find(&[("a", json!(true))]), [5]);
        // Null matches null and a missing path (7 lacks a, 6 lacks b).
        assert_eq!(find(&[("a", json!(null))]), [6, 7]);
        assert_eq!(find(&[("b", json!(null))]), [5, 6]);
        assert_eq!(find(&[("b", json!("x"))]), [1, 2, 4, 7, 9]);
        assert_eq!(find(&[("a", json!(1)), ("b", json!("x"))]), [1, 9]);
        assert_eq!(find(&[("b", json!("x")), ("a", json!(1))]), [1, 9]);
        assert_eq!(find(&[("a", json!(1)), ("b", json!("y"))]), [3]);
        assert!(find(&[("a", json!(2)), ("b", json!("y"))]).is_empty());
        assert!(find(&[("a", json!(3))]).is_empty());
        // No condition: every document.
        assert_eq!(find(&[]), (1..=9).collect::<Vec<_>>());
        // Pages of find.
        let page = db.find("c", &cond(&[("b", json!("x"))]), None, 2).unwrap();
        assert_eq!((ids(&page), page.next), (vec![1, 2], Some(2)));
        let page = db
            .find("c", &cond(&[("b", json!("x"))]), Some(2), 3)
            .unwrap();
        assert_eq!((ids(&page), page.next), (vec![4, 7, 9], None));
        assert_eq!(
            page.records[0].to_json(),
            json!({"_id": 4, "a": 2, "b": "x"})
        );
        // Not indexed.
        match db.find("c", &cond(&[("a", json!(1)), ("zz", json!(1))]), None, 10) {
            Err(DbError::NotIndexed { collection, field }) => {
                assert_eq!((collection.as_str(), field.as_str()), ("c", "zz"));
                let message = DbError::NotIndexed { collection, field }.to_string();
                assert!(message.contains("\"zz\""), "{message}");
            }
            other => panic!("expected NotIndexed, got {other:?}"),
        }
        // An array or object is not something to look up.
        assert!(matches!(
            db.find("c", &cond(&[("a", json!([1]))]), None, 10),
            Err(DbError::Invalid { .. })
        ));
    };
    check(&db);
    let db = reopen(db, &config).await;
    check(&db);
    db.close().await.unwrap();
}

#[tokio::test]
async fn names_depth_and_shapes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    let too_long = "x".repeat(65);
    for bad in ["", "a b", "a/b", "é", "a.b", too_long.as_str()] {
        let named = |r: Result<(), DbError>| match r {
            Err(DbError::InvalidName { name }) => assert_eq!(name, bad),
            other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
        };
        named(db.create_collection(bad, &[]).await.map(drop));
        named(db.drop_collection(bad).await);
        named(db.insert(bad, doc(json!({})), W).await.map(drop));
        named(db.replace(bad, 1, doc(json!({})), W).await.map(drop));
        named(db.delete(bad, 1, W).await.map(drop));
        named(db.get(bad, 1).map(drop));
        named(db.list(bad, None, 1).map(drop));
        named(db.find(bad, &[], None, 1).map(drop));
        named(db.subscribe(Some(bad), None).map(drop));
    }
    let longest = "x".repeat(64);
    assert_eq!(insert(&db, &longest, json!({})).await, 1);
    assert_eq!(insert(&db, "A-b_9", json!({})).await, 1);

    // 64 levels are fine, 65 are not: from JSON and from Rust.
    assert!(Document::from_json(nested(MAX_DEPTH)).is_ok());
    match Document::from_json(nested(MAX_DEPTH + 1)) {
        Err(e @ DbError::Invalid { .. }) => assert!(e.to_string().contains("64"), "{e}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let deepest = doc(nested(MAX_DEPTH));
    let id = db.insert("c", deepest.clone(), W).await.unwrap().id;
    assert_eq!(
        db.get("c", id).unwrap().to_json()["a"],
        nested(MAX_DEPTH)["a"]
    );
    let mut too_deep = Value::Int(1);
    for _ in 0..MAX_DEPTH {
        too_deep = Value::Array(vec![too_deep]);
    }
    let bad = Document::new(vec![("a".into(), too_deep)]);
    // A lone document's error names no element; one of several names its element.
    match db.insert("c", bad.clone(), W).await {
        Err(e @ DbError::Invalid { element: None, .. }) => {
            assert!(!e.to_string().starts_with("element"), "{e}")
        }
        other => panic!("expected Invalid without an element, got {other:?}"),
    }
    assert!(matches!(
        db.insert_many("c", vec![doc(json!({})), bad.clone()], W)
            .await,
        Err(DbError::Invalid {
            element: Some(1),
            ..
        })
    ));
    assert!(matches!(
        db.replace("c", 99, bad, W).await,
        Err(DbError::Invalid { .. })
    ));
    // `_id` as a field of a Rust-built document.
    let bad = Document::new(vec![("_id".into(), Value::Int(3))]);
    assert!(matches!(
        db.insert("c", bad, W).await,
        Err(DbError::Invalid { .. })
    ));
    // Indexing `_id` or an empty field.
    assert!(matches!(
        db.create_collection("d", &strings(&["_id"])).await,
        Err(DbError::Invalid { .. })
    ));
    assert!(matches!(
        db.create_collection("d", &strings(&[""])).await,
        Err(DbError::Invalid { .. })
    ));
    assert!(db.collections().iter().all(|c| c.name != "d"));
    // Shapes that are not documents.
    for bad in [
        json!([1]),
        json!(1),
        json!({"_id": -1}),
        json!({"_id": "1"}),
        json!({"_id": 1.5}),
    ] {
        assert!(matches!(
            Document::from_json(bad),
            Err(DbError::Invalid { .. })
        ));
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn duplicate_field_names_of_rust_built_documents_are_refused() {
    // JSON objects cannot repeat a key; a Rust-built document could, and would then be
    // indexed under one value while reading back (as JSON) another.
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(dir.path())).await.unwrap();
    db.create_collection("c", &strings(&["city"]))
        .await
        .unwrap();
    let twice = Document::new(vec![
        ("city".into(), Value::String("A".into())),
        ("city".into(), Value::String("B".into())),
    ]);
    assert!(matches!(
        db.insert("c", twice.clone(), W).await,
        Err(DbError::Invalid { .. })
    ));
    assert!(matches!(
        db.replace("c", 1, twice, W).await,
        Err(DbError::Invalid { .. })
    ));
    assert!(db.list("c", None, 10).unwrap().records.is_empty());
    db.close().await.unwrap();
}

#[tokio::test]
async fn values_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = Database::open(&config).await.unwrap();
    let original = json!({
        "s": "text with \"quotes\" and ünïcödé", "i": -42, "max": i64::MAX, "u": u64::MAX,
        "f": 1.5, "e": 1e300, "t": true, "n": null, "a": [1, "2", [3.5], {"k": null}],
        "o": {"nested": {"deeper": [false]}}, "empty": {}, "none": []
    });
    let id = insert(&db, "c", original.clone()).await;
    let mut expected = original.clone();
    expected["_id"] = json!(id);
    assert_eq!(db.get("c", id).unwrap().to_json(), expected);
    assert_eq!(
        db.get("c", id).unwrap().get("u"),
        Some(&Value::UInt(u64::MAX))
    );
    let db = reopen(db, &config).await;
    assert_eq!(db.get("c", id).unwrap().to_json(), expected);
    // A large document.
    let big = "x".repeat(1 << 20);
    let id = insert(&db, "c", json!({"big": big})).await;
    assert_eq!(
        db.get("c", id).unwrap().to_json()["big"]
            .as_str()
            .unwrap()
            .len(),
        1 << 20
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn seq_increases_across_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = Database::open(&config).await.unwrap();
    assert_eq!(db.stats().last_seq, 0);
    let mut seqs = Vec::new();
    seqs.push(db.insert("c", doc(json!({})), W).await.unwrap().seq);
    db.create_collection("d", &[]).await.unwrap(); // takes no seq
    seqs.push(db.insert("d", doc(json!({})), W).await.unwrap().seq);
    seqs.push(
        db.replace("c", 1, doc(json!({"v": 2})), W)
            .await
            .unwrap()
            .seq,
    );
    seqs.push(db.replace("c", 9, doc(json!({})), W).await.unwrap().seq);
    seqs.push(db.delete("c", 9, W).await.unwrap());
    let many = db
        .insert_many("c", (0..3).map(|_| doc(json!({}))).collect(), W)
        .await
        .unwrap();
    seqs.push(many.seq);
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 8]);
    assert_eq!(db.stats().last_seq, 8);
    db.drop_collection("d").await.unwrap(); // takes no seq
    let db = reopen(db, &config).await;
    assert_eq!(db.stats().last_seq, 8);
    assert_eq!(db.insert("c", doc(json!({})), W).await.unwrap().seq, 9);
    db.close().await.unwrap();
}

#[tokio::test]
async fn stats_count_documents_indexes_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = Database::open(&config).await.unwrap();
    db.create_collection("c", &strings(&["k"])).await.unwrap();
    for n in 0..10u64 {
        insert(&db, "c", json!({"k": n % 3})).await;
    }
    insert(&db, "d", json!({})).await;
    db.replace("c", 1, doc(json!({"k": "new"})), W)
        .await
        .unwrap();
    db.delete("c", 2, W).await.unwrap();
    insert(&db, "gone", json!({"big": "y".repeat(1000)})).await;
    db.drop_collection("gone").await.unwrap();

    let stats = db.stats();
    assert_eq!(stats.collections.len(), 2);
    assert_eq!(stats.collections[0].name, "c");
    assert_eq!(stats.collections[0].count, 9);
    assert_eq!(stats.collections[0].indexes.len(), 1);
    assert_eq!(stats.collections[0].indexes[0].field, "k");
    // 0, 1, 2 and "new" (id 1 had 0, id 2 had 1: ids 4,7,10 keep 0; 5,8 keep 1; 3,6,9 keep 2).
    assert_eq!(stats.collections[0].indexes[0].distinct_values, 4);
    assert_eq!(stats.collections[1].count, 1);
    assert_eq!(stats.last_seq, 14);
    assert_eq!(stats.segments, 1);
    assert!(stats.disk_bytes > 1000);
    assert!(
        stats.dead_bytes > 1000,
        "the dropped collection's bytes are dead"
    );
    assert_eq!(stats.live_bytes + stats.dead_bytes, stats.disk_bytes);
    assert!(stats.batches >= 14);
    assert!(stats.fsyncs >= 14, "sync = always: one fdatasync per batch");
    assert!(stats.records_written >= 14);
    assert_eq!(stats.in_flight_ops, 0);
    assert_eq!(stats.poisoned, None);
    let counts: Vec<_> = db
        .collections()
        .into_iter()
        .map(|c| (c.name, c.count))
        .collect();
    assert_eq!(counts, [("c".to_string(), 9), ("d".to_string(), 1)]);

    // The same sizes after a reopen (rebuilt from the log).
    let db = reopen(db, &config).await;
    let again = db.stats();
    assert_eq!(again.collections, stats.collections);
    assert_eq!(again.disk_bytes, stats.disk_bytes);
    assert_eq!(again.dead_bytes, stats.dead_bytes);
    assert_eq!(again.last_seq, stats.last_seq);
    db.close().await.unwrap();
}

#[tokio::test]
async fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.storage.segment_size_mb = 1; // several segments
    let db = Database::open(&config).await.unwrap();
    db.create_collection("users", &strings(&["city", "age"]))
        .await
        .unwrap();
    let cities = ["Oslo", "Lyon", "Rome"];
    let mut expected = std::collections::BTreeMap::new();
    for chunk in 0..20u64 {
        let docs: Vec<_> = (0..50u64)
            .map(|i| {
                let n = chunk * 50 + i;
                doc(json!({"city": cities[(n % 3) as usize], "age": n % 7, "pad": "z".repeat(2000)}))
            })
            .collect();
        let many = db.insert_many("users", docs.clone(), W).await.unwrap();
        for (id, d) in many.ids.into_iter().zip(docs) {
            expected.insert(id, d.fields);
        }
    }
    for id in (1..=1000u64).step_by(10) {
        db.delete("users", id, W).await.unwrap();
        expected.remove(&id);
    }
    for id in (5..=1000u64).step_by(10) {
        let d = doc(json!({"city": "Paris", "age": 99}));
        db.replace("users", id, d.clone(), W).await.unwrap();
        expected.insert(id, d.fields);
    }
    assert!(db.stats().segments > 1, "{:?}", db.stats().segments);
    let check = |db: &Database| {
        let all = list_all(db, "users", 333);
        assert_eq!(all.len(), expected.len());
        for d in &all {
            assert_eq!(&d.fields, &expected[&d.id.unwrap()]);
        }
        for city in ["Oslo", "Lyon", "Rome", "Paris"] {
            for age in [0u64, 3, 99] {
                let want: Vec<u64> = expected
                    .iter()
                    .filter(|(_, f)| {
                        f.contains(&("city".into(), Value::String(city.into())))
                            && f.contains(&("age".into(), Value::Int(age as i64)))
                    })
                    .map(|(id, _)| *id)
                    .collect();
                let got = find_all(
                    db,
                    "users",
                    &cond(&[("city", json!(city)), ("age", json!(age))]),
                    50,
                );
                assert_eq!(got, want, "{city} {age}");
            }
        }
    };
    check(&db);
    let db = reopen(db, &config).await;
    check(&db);
    let db = reopen(db, &config).await;
    check(&db);
    assert_eq!(insert(&db, "users", json!({})).await, 1001);
    db.close().await.unwrap();
}

#[tokio::test]
async fn configured_collections_are_created_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config
        .collections
        .push(nyro_core::config::CollectionConfig {
            name: "users".into(),
            indexes: strings(&["city"]),
        });
    let db = Database::open(&config).await.unwrap();
    assert_eq!(db.collections()[0].indexes, strings(&["city"]));
    insert(&db, "users", json!({"city": "Oslo"})).await;
    let db = reopen(db, &config).await;
    assert_eq!(db.collections()[0].count, 1);
    let _guard = no_fork().await;
    db.close().await.unwrap();
    // Configured with other indexes than it has: refused, naming the collection.
    config.collections[0].indexes = strings(&["age"]);
    match Database::open(&config).await {
        Err(e @ DbError::CollectionExists { .. }) => {
            let message = e.to_string();
            assert!(message.contains("users"), "{message}");
        }
        other => panic!("expected CollectionExists, got {other:?}"),
    }
}

#[tokio::test]
async fn writes_after_close_fail_and_the_directory_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    // Held from each close to the next open (see FORK_GUARD).
    let mut guard = None;
    for round in 0..50u64 {
        let db = match Database::open(&config).await {
            Ok(db) => db,
            Err(e) => panic!("round {round}: reopening right after close failed: {e}"),
        };
        drop(guard.take());
        let clone = db.clone();
        // A second handle on the same directory is refused while it is open.
        if round == 0 {
            match Database::open(&config).await {
                Err(DbError::Storage(nyro_storage::StorageError::Locked { .. })) => {}
                other => panic!("expected Locked, got {other:?}"),
            }
        }
        assert_eq!(insert(&db, "c", json!({"round": round})).await, round + 1);
        guard = Some(no_fork().await);
        db.close().await.unwrap();
        assert!(matches!(
            clone.insert("c", doc(json!({})), W).await,
            Err(DbError::Closed)
        ));
        // Reads of the closed database still work while a handle lives.
        assert_eq!(
            clone.get("c", round + 1).unwrap().to_json()["round"],
            json!(round)
        );
        drop(clone);
    }
}

#[tokio::test]
async fn per_call_sync_and_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.sync = nyro_core::SyncPolicy::Never;
    let db = Database::open(&config).await.unwrap();
    let fsyncs = db.stats().fsyncs;
    db.insert("c", doc(json!({})), W).await.unwrap();
    assert_eq!(db.stats().fsyncs, fsyncs, "never: no fdatasync per write");
    db.insert("c", doc(json!({})), WriteOptions { sync: true })
        .await
        .unwrap();
    assert_eq!(db.stats().fsyncs, fsyncs + 1, "sync: true fdatasyncs");
    db.insert("c", doc(json!({})), W).await.unwrap();
    db.flush().await.unwrap();
    assert_eq!(db.stats().fsyncs, fsyncs + 2);
    db.close().await.unwrap();
}

#[tokio::test]
async fn the_largest_ids() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    let mut top = doc(json!({"top": true}));
    top.id = Some(u64::MAX);
    assert_eq!(db.insert("c", top, W).await.unwrap().id, u64::MAX);
    // No id is left to assign: refused as a conflict with the collection's state (the
    // request itself is fine), nothing written, given ids still work.
    let before = db.stats().last_seq;
    match db.insert("c", doc(json!({})), W).await {
        Err(e @ DbError::IdsExhausted { .. }) => assert!(e.to_string().contains("every id"), "{e}"),
        other => panic!("expected IdsExhausted, got {other:?}"),
    }
    let docs = vec![doc(json!({"_id": 3})), doc(json!({}))];
    assert!(matches!(
        db.insert_many("c", docs, W).await,
        Err(DbError::IdsExhausted { .. })
    ));
    assert!(matches!(db.get("c", 3), Err(DbError::NotFound { .. })));
    assert_eq!(db.stats().last_seq, before);
    assert_eq!(insert(&db, "c", json!({"_id": 0})).await, 0);
    let db = reopen(db, &config).await;
    assert_eq!(ids(&db.list("c", None, 10).unwrap()), [0, u64::MAX]);
    assert!(matches!(
        db.insert("c", doc(json!({})), W).await,
        Err(DbError::IdsExhausted { .. })
    ));
    db.close().await.unwrap();
}

/// Needs about 2 GiB of memory: run with `--ignored`.
#[tokio::test]
#[ignore = "allocates about 2 GiB"]
async fn a_document_too_large_for_a_log_record_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    let huge = Document::new(vec![(
        "big".into(),
        Value::String("x".repeat(nyro_storage::MAX_PAYLOAD_LEN)),
    )]);
    let small = db.clone();
    let other = tokio::spawn(async move { small.insert("c", doc(json!({"small": 1})), W).await });
    match db.insert("c", huge, W).await {
        Err(e @ DbError::Invalid { .. }) => assert!(e.to_string().contains("at most"), "{e}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // Whatever batch it shared, the other writer's insert is unaffected.
    other.await.unwrap().unwrap();
    assert_eq!(db.list("c", None, 10).unwrap().records.len(), 1);
    db.close().await.unwrap();
}

#[tokio::test]
async fn writes_create_a_missing_collection_without_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    assert!(db.collections().is_empty());
    let inserted = db.insert("fresh", doc(json!({"a": 1})), W).await.unwrap();
    assert_eq!(inserted.id, 1);
    let many = db
        .insert_many("bulk", vec![doc(json!({})), doc(json!({}))], W)
        .await
        .unwrap();
    assert_eq!(many.ids, [1, 2]);
    let infos = db.collections();
    assert_eq!(
        infos
            .iter()
            .map(|c| (c.name.as_str(), c.count, c.indexes.len()))
            .collect::<Vec<_>>(),
        [("bulk", 2, 0), ("fresh", 1, 0)]
    );
    // It has no index: a query says so.
    assert!(matches!(
        db.find("fresh", &cond(&[("a", json!(1))]), None, 10),
        Err(DbError::NotIndexed { .. })
    ));
    // Declaring it now with no indexes is "existed"; with some it conflicts.
    assert_eq!(
        db.create_collection("fresh", &[]).await.unwrap(),
        Created::Existed
    );
    assert!(matches!(
        db.create_collection("fresh", &strings(&["a"])).await,
        Err(DbError::CollectionExists { .. })
    ));
    // A refused insert does not create its collection.
    let docs = vec![doc(json!({"_id": 1})), doc(json!({"_id": 1}))];
    assert!(matches!(
        db.insert_many("never", docs, W).await,
        Err(DbError::Conflict { .. })
    ));
    assert!(db.collections().iter().all(|c| c.name != "never"));
    let db = reopen(db, &config).await;
    assert_eq!(db.collections().len(), 2);
    assert_eq!(
        db.get("fresh", 1).unwrap().to_json(),
        json!({"_id": 1, "a": 1})
    );
    db.close().await.unwrap();
}
