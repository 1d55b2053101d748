//! The change feed: replay from the log after `since` (across reopens too), then live
//! changes, with no gap and no duplicate; ops and documents right.

use std::time::Duration;

use nyro_core::{ChangeEvent, ChangeOp, ChangeStream, Database, DbError, WriteOptions};
use serde_json::json;

use crate::common::*;

const W: WriteOptions = WriteOptions { sync: false };

pub(crate) async fn next(stream: &mut ChangeStream) -> ChangeEvent {
    match within("a change event", stream.next()).await {
        Some(Ok(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

pub(crate) async fn take(stream: &mut ChangeStream, n: usize) -> Vec<ChangeEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next(stream).await);
    }
    events
}

/// Asserts nothing more arrives for a moment.
pub(crate) async fn quiet(stream: &mut ChangeStream) {
    let more = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
    assert!(more.is_err(), "unexpected: {more:?}");
}

fn summary(
    events: &[ChangeEvent],
) -> Vec<(u64, &'static str, String, u64, Option<serde_json::Value>)> {
    events
        .iter()
        .map(|e| {
            (
                e.seq,
                e.op.as_str(),
                e.collection.to_string(),
                e.id,
                e.doc.as_ref().map(|d| d.to_json()),
            )
        })
        .collect()
}

/// Writes a known history; returns it as the feed should show it.
async fn history(
    db: &Database,
) -> Vec<(u64, &'static str, String, u64, Option<serde_json::Value>)> {
    let mut out = Vec::new();
    let a = db.insert("c", doc(json!({"v": 1})), W).await.unwrap();
    out.push((
        a.seq,
        "insert",
        "c".into(),
        a.id,
        Some(json!({"_id": a.id, "v": 1})),
    ));
    let b = db.insert("d", doc(json!({"v": 2})), W).await.unwrap();
    out.push((
        b.seq,
        "insert",
        "d".into(),
        b.id,
        Some(json!({"_id": b.id, "v": 2})),
    ));
    let r = db
        .replace("c", a.id, doc(json!({"v": 3})), W)
        .await
        .unwrap();
    assert!(!r.created);
    out.push((
        r.seq,
        "update",
        "c".into(),
        a.id,
        Some(json!({"_id": a.id, "v": 3})),
    ));
    let created = db.replace("c", 50, doc(json!({"v": 4})), W).await.unwrap();
    assert!(created.created);
    out.push((
        created.seq,
        "insert",
        "c".into(),
        50,
        Some(json!({"_id": 50, "v": 4})),
    ));
    let del = db.delete("c", a.id, W).await.unwrap();
    out.push((del, "delete", "c".into(), a.id, None));
    let many = db
        .insert_many("c", vec![doc(json!({"m": 1})), doc(json!({"m": 2}))], W)
        .await
        .unwrap();
    out.push((
        many.seq - 1,
        "insert",
        "c".into(),
        many.ids[0],
        Some(json!({"_id": many.ids[0], "m": 1})),
    ));
    out.push((
        many.seq,
        "insert",
        "c".into(),
        many.ids[1],
        Some(json!({"_id": many.ids[1], "m": 2})),
    ));
    // Re-inserting a deleted id is an insert again.
    let mut again = doc(json!({"v": 5}));
    again.id = Some(a.id);
    let again = db.insert("c", again, W).await.unwrap();
    out.push((
        again.seq,
        "insert",
        "c".into(),
        a.id,
        Some(json!({"_id": a.id, "v": 5})),
    ));
    out
}

/// A client resuming from the last seq (the console, after reading `last_seq`) replays
/// nothing and gets the next change exactly once.
#[tokio::test]
async fn since_the_last_seq_goes_straight_to_live_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    let all = history(&db).await;
    let last = all.last().unwrap().0;
    let mut stream = db.subscribe(None, Some(last)).unwrap();
    quiet(&mut stream).await;
    let live = db.insert("c", doc(json!({"after": 1})), W).await.unwrap();
    let event = next(&mut stream).await;
    assert_eq!(
        (event.seq, event.id, event.op),
        (live.seq, live.id, ChangeOp::Insert)
    );
    quiet(&mut stream).await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn replays_after_since_then_goes_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    let all = history(&db).await;
    let only_c: Vec<_> = all.iter().filter(|e| e.2 == "c").cloned().collect();

    // Every `since`, global and per collection.
    for since in 0..=all.len() as u64 + 1 {
        let mut global = db.subscribe(None, Some(since)).unwrap();
        let want: Vec<_> = all.iter().filter(|e| e.0 > since).cloned().collect();
        assert_eq!(
            summary(&take(&mut global, want.len()).await),
            want,
            "since {since}"
        );
        quiet(&mut global).await;

        let mut c = db.subscribe(Some("c"), Some(since)).unwrap();
        let want: Vec<_> = only_c.iter().filter(|e| e.0 > since).cloned().collect();
        assert_eq!(
            summary(&take(&mut c, want.len()).await),
            want,
            "c since {since}"
        );
        quiet(&mut c).await;
    }

    // Replay, then live: one stream, no gap, no duplicate.
    let mut stream = db.subscribe(Some("c"), Some(2)).unwrap();
    let live = db.insert("c", doc(json!({"live": 1})), W).await.unwrap();
    db.insert("d", doc(json!({"other": 1})), W).await.unwrap(); // not for this stream
    let live2 = db.delete("c", 50, W).await.unwrap();
    let mut want: Vec<_> = only_c.iter().filter(|e| e.0 > 2).cloned().collect();
    want.push((
        live.seq,
        "insert",
        "c".into(),
        live.id,
        Some(json!({"_id": live.id, "live": 1})),
    ));
    want.push((live2, "delete", "c".into(), 50, None));
    assert_eq!(summary(&take(&mut stream, want.len()).await), want);
    quiet(&mut stream).await;

    // Without since: live only.
    let mut fresh = db.subscribe(None, None).unwrap();
    quiet(&mut fresh).await;
    let x = db.insert("d", doc(json!({})), W).await.unwrap();
    let e = next(&mut fresh).await;
    assert_eq!(
        (e.seq, e.op, &*e.collection, e.id),
        (x.seq, ChangeOp::Insert, "d", x.id)
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn replay_works_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    let before = history(&db).await;
    let db = reopen(db, &config).await;

    let mut c = db.subscribe(Some("c"), Some(0)).unwrap();
    let mut global = db.subscribe(None, Some(3)).unwrap();
    // Written after the reopen, before reading the streams.
    let after = db
        .insert("c", doc(json!({"after": true})), W)
        .await
        .unwrap();
    let mut want: Vec<_> = before.iter().filter(|e| e.2 == "c").cloned().collect();
    want.push((
        after.seq,
        "insert",
        "c".into(),
        after.id,
        Some(json!({"_id": after.id, "after": true})),
    ));
    assert_eq!(summary(&take(&mut c, want.len()).await), want);
    quiet(&mut c).await;
    let want_global: Vec<_> = before
        .iter()
        .filter(|e| e.0 > 3)
        .cloned()
        .chain(std::iter::once(want.last().unwrap().clone()))
        .collect();
    assert_eq!(
        summary(&take(&mut global, want_global.len()).await),
        want_global
    );
    // Seqs continue past the reopen.
    assert!(after.seq > before.last().unwrap().0);

    // And a live one after both.
    let d = db.replace("d", 1, doc(json!({"v": 9})), W).await.unwrap();
    let e = next(&mut global).await;
    assert_eq!((e.seq, e.op, e.id), (d.seq, ChangeOp::Update, 1));
    quiet(&mut c).await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn unknown_collections_and_dropped_collections() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    match db.subscribe(Some("nope"), None) {
        Err(DbError::CollectionNotFound { collection }) => assert_eq!(collection, "nope"),
        other => panic!("expected CollectionNotFound, got {other:?}"),
    }
    assert!(matches!(
        db.subscribe(Some("nope"), Some(0)),
        Err(DbError::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.subscribe(Some("bad name"), None),
        Err(DbError::InvalidName { .. })
    ));

    // A global feed sees every collection, including one created by an insert.
    let mut global = db.subscribe(None, None).unwrap();
    let a = db.insert("a", doc(json!({})), W).await.unwrap();
    let b = db.insert("b", doc(json!({})), W).await.unwrap();
    let events = take(&mut global, 2).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (&*e.collection, e.seq))
            .collect::<Vec<_>>(),
        [("a", a.seq), ("b", b.seq)]
    );
    // Dropping a collection is not a document change; the feed goes on.
    db.drop_collection("a").await.unwrap();
    let c = db.insert("a", doc(json!({"new": 1})), W).await.unwrap();
    assert_eq!(c.id, 1, "a re-created collection starts its ids afresh");
    let e = next(&mut global).await;
    assert_eq!(
        (e.seq, e.op, &*e.collection),
        (c.seq, ChangeOp::Insert, "a")
    );
    // A replay over the drop: the re-created collection's first insert is an insert.
    let mut replay = db.subscribe(None, Some(0)).unwrap();
    let events = take(&mut replay, 3).await;
    assert_eq!(
        events.iter().map(|e| (e.op, e.id)).collect::<Vec<_>>(),
        [
            (ChangeOp::Insert, 1),
            (ChangeOp::Insert, 1),
            (ChangeOp::Insert, 1)
        ]
    );
    quiet(&mut replay).await;

    // Closing ends the live streams.
    let mut live = db.subscribe(None, None).unwrap();
    db.close().await.unwrap();
    assert!(within("end of feed", live.next()).await.is_none());
}

#[tokio::test]
async fn a_consumer_that_falls_behind_is_cut_off_and_resumes_without_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.sync = nyro_core::SyncPolicy::Never;
    let db = open(&config).await;
    let mut slow = db.subscribe(None, None).unwrap();
    let total = nyro_core::FEED_CAPACITY + 1000;
    let mut written = 0;
    while written < total {
        let n = (total - written).min(10_000);
        db.insert_many("c", (0..n).map(|_| doc(json!({}))).collect(), W)
            .await
            .unwrap();
        written += n;
    }
    // The first events are there; then the stream says it lagged and where to resume.
    let mut seen = Vec::new();
    let resume = loop {
        match within("the slow feed", slow.next()).await {
            Some(Ok(event)) => seen.push(event.seq),
            Some(Err(nyro_core::FeedError::Lagged { capacity, last_seq })) => {
                assert_eq!(capacity, nyro_core::FEED_CAPACITY);
                break last_seq;
            }
            other => panic!("expected events then Lagged, got {other:?}"),
        }
    };
    assert_eq!(seen, (1..=resume).collect::<Vec<_>>());
    let mut resumed = db.subscribe(None, Some(resume)).unwrap();
    let rest = take(&mut resumed, total - resume as usize).await;
    assert_eq!(
        rest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (resume + 1..=total as u64).collect::<Vec<_>>()
    );
    quiet(&mut resumed).await;
    db.close().await.unwrap();
}
