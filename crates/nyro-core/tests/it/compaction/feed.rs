//! The change feed and compaction: the history floor.

use std::time::Duration;

use nyro_core::{ChangeEvent, ChangeOp, Database, FeedError};
use serde_json::{Value as Json, json};

use super::{W, unsynced_config};
use crate::common::*;
use crate::model_support::without_id;

/// Version `v` of document `id` in the feed test.
fn fdoc(id: u64, v: u64) -> Json {
    json!({"id": id, "v": v, "pad": "f".repeat(3_000)})
}

/// A change as the test recorded it: (seq, op, collection, id, document without `_id`).
type Change = (u64, ChangeOp, String, u64, Option<Json>);

fn change(event: &ChangeEvent) -> Change {
    (
        event.seq,
        event.op,
        event.collection.to_string(),
        event.id,
        event.doc.as_ref().map(without_id),
    )
}

/// The next item of `stream`, failing the test if none comes within a bound.
async fn next_item(stream: &mut nyro_core::ChangeStream) -> Result<ChangeEvent, FeedError> {
    within("the next change", stream.next())
        .await
        .expect("the feed ended")
}

/// Subscribes with `since` and reads the replay: it must be exactly `want`, then nothing more
/// until a new write.
async fn replay(db: &Database, collection: Option<&str>, since: u64, want: &[Change]) {
    let mut stream = db.subscribe(collection, Some(since)).unwrap();
    let mut got = Vec::new();
    while got.len() < want.len() {
        match next_item(&mut stream).await {
            Ok(event) => got.push(change(&event)),
            Err(e) => panic!("replay since {since}: {e} after {} events", got.len()),
        }
    }
    assert_eq!(got, want, "replay of {collection:?} since {since}");
    let more = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
    assert!(
        more.is_err(),
        "replay since {since}: more than expected: {more:?}"
    );
}

/// The first thing a replay from `since` says is that compaction dropped history after it.
async fn refused(db: &Database, collection: Option<&str>, since: u64) -> u64 {
    let mut stream = db.subscribe(collection, Some(since)).unwrap();
    match next_item(&mut stream).await {
        Err(FeedError::HistoryCompacted { since: said, floor }) => {
            assert_eq!(said, since);
            assert!(floor > since, "floor {floor}, since {since}");
            floor
        }
        other => panic!("since {since}: expected HistoryCompacted first, got {other:?}"),
    }
}

/// The changes of `history` after `since`, of one collection or all.
fn after(history: &[Change], since: u64, coll: Option<&str>) -> Vec<Change> {
    history
        .iter()
        .filter(|c| c.0 > since && coll.is_none_or(|name| c.2 == name))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_feed_replay_from_before_what_compaction_dropped_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = unsynced_config(dir.path());
    let db = open(&config).await;
    let mut history: Vec<Change> = Vec::new();
    let insert = |id: u64, v: u64| doc_with_id(fdoc(id, v), Some(id));
    for id in 1..=20 {
        let seq = db.insert("f", insert(id, 0), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Insert, "f".into(), id, Some(fdoc(id, 0))));
    }
    for id in 1..=10 {
        let seq = db.replace("f", id, doc(fdoc(id, 1)), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Update, "f".into(), id, Some(fdoc(id, 1))));
    }
    let mut deleted_15 = 0;
    for id in 11..=15 {
        let seq = db.delete("f", id, W).await.unwrap();
        history.push((seq, ChangeOp::Delete, "f".into(), id, None));
        deleted_15 = seq;
    }
    let inserted_15 = history[14].0;
    for id in 21..=25 {
        let seq = db.insert("f", insert(id, 0), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Insert, "f".into(), id, Some(fdoc(id, 0))));
    }
    for id in 1..=3 {
        let seq = db.insert("g", insert(id, 0), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Insert, "g".into(), id, Some(fdoc(id, 0))));
    }
    let last0 = db.stats().last_seq;
    assert_eq!(last0, history.last().unwrap().0);
    // Before any compaction, every replay is complete.
    replay(&db, None, 0, &history).await;

    let summary = db.compact().await.unwrap();
    assert!(summary.segments_rewritten >= 1, "{summary:?}");
    // The first inserts of 1..=10 and everything of 11..=15 are gone from the log.
    let floor = refused(&db, Some("f"), 0).await;
    assert!(
        (inserted_15..=deleted_15).contains(&floor),
        "floor {floor}: the insert of 15 was {inserted_15}, its delete {deleted_15}"
    );
    assert_eq!(refused(&db, None, floor - 1).await, floor);
    assert_eq!(refused(&db, Some("g"), 1).await, floor);
    // From the floor on the replay is whole: every change after it, in order, no gap.
    for since in [floor, floor + 1, last0 - 2, last0] {
        replay(&db, None, since, &after(&history, since, None)).await;
        replay(&db, Some("f"), since, &after(&history, since, Some("f"))).await;
    }
    // ... and live changes follow the replay.
    let mut stream = db.subscribe(Some("f"), Some(floor)).unwrap();
    for want in after(&history, floor, Some("f")) {
        assert_eq!(change(&next_item(&mut stream).await.unwrap()), want);
    }
    let seq = db.insert("f", insert(26, 0), W).await.unwrap().seq;
    history.push((seq, ChangeOp::Insert, "f".into(), 26, Some(fdoc(26, 0))));
    assert_eq!(seq, last0 + 1);
    assert_eq!(
        change(&next_item(&mut stream).await.unwrap()),
        history.last().unwrap().clone()
    );

    // A replace of a document whose insert compaction dropped (1), and of one whose insert
    // the next compaction drops (21): still updates in a replay, before and after a reopen.
    for (id, v) in [(1, 2), (21, 1)] {
        let seq = db.replace("f", id, doc(fdoc(id, v)), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Update, "f".into(), id, Some(fdoc(id, v))));
    }
    let replaced_1 = history[history.len() - 2].0;
    db.compact().await.unwrap();
    let floor2 = refused(&db, Some("f"), floor).await;
    assert!(
        floor2 < replaced_1,
        "floor {floor2}, replace at {replaced_1}"
    );
    let tail = after(&history, floor2, Some("f"));
    assert!(
        tail.iter()
            .any(|c| c.3 == 1 && c.0 == replaced_1 && c.1 == ChangeOp::Update),
        "{tail:?}"
    );
    assert!(
        tail.iter().any(|c| c.3 == 21 && c.1 == ChangeOp::Update),
        "{tail:?}"
    );
    replay(&db, Some("f"), floor2, &tail).await;
    replay(&db, None, floor2, &after(&history, floor2, None)).await;

    // The floor outlives a reopen, and so does the rest.
    let last = db.stats().last_seq;
    let db = reopen(db, &config).await;
    assert_eq!(db.stats().last_seq, last);
    assert_eq!(refused(&db, Some("f"), floor2 - 1).await, floor2);
    assert_eq!(refused(&db, None, 0).await, floor2);
    replay(&db, Some("f"), floor2, &tail).await;
    replay(&db, None, floor2, &after(&history, floor2, None)).await;
    replay(&db, None, last, &[]).await;
    db.close().await.unwrap();
}
