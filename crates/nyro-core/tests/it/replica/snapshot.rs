//! A snapshot installed on a replica: its state is visible, and the change feed after it
//! names the collections the snapshot defines (found by the chaos harness of issue 16: a
//! node that caught up by snapshot sent `"collection": "#1"` in its feed, where the others
//! sent the name).

use nyro_core::WriteOptions;
use nyro_core::replica::{EntryId, read_snapshot};
use serde_json::json;

use super::support::*;
use crate::common::*;

#[tokio::test]
async fn the_feed_after_an_installed_snapshot_names_its_collections() {
    let source_dir = tempfile::tempdir().unwrap();
    let mut source = Replica::open(replica_config(source_dir.path()), None).await;
    for n in 0..3 {
        source
            .commit(1, move |db| async move {
                db.insert("people", doc(json!({"n": n})), WriteOptions::default())
                    .await
            })
            .await
            .expect("insert");
    }
    let last = *source.entries.keys().next_back().unwrap();
    let file = source_dir.path().join("snapshot");
    let view = source.db.snapshot_view().unwrap();
    let id = EntryId {
        term: 1,
        leader: LEADER,
        index: last,
    };
    let (db, path) = (source.db.clone(), file.clone());
    tokio::task::spawn_blocking(move || db.write_snapshot(view, id, (Vec::new(), None), &path))
        .await
        .unwrap()
        .unwrap();
    let snapshot = read_snapshot(&file).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let r = Replica::open(replica_config(dir.path()), None).await;
    r.db.install_snapshot(snapshot).await.unwrap();
    let since = r.db.last_seq();
    assert_eq!(since, 3);
    // Reopened, the replica knows where the snapshot's entry lies (as the log storage would).
    let mut r = r.reopen(Some(last)).await;
    r.commit(1, move |db| async move {
        db.replace("people", 1, doc(json!({"n": 10})), WriteOptions::default())
            .await
    })
    .await
    .expect("replace after the snapshot");

    let events = replayed_feed_since(&r.db, since).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].2, "people", "{events:?}");
    live_query_knows_the_snapshot(&r.db, since).await;
    let r = r.reopen(Some(last + 1)).await;
    let events = replayed_feed_since(&r.db, since).await;
    assert_eq!(events.len(), 1, "after a reopen: {events:?}");
    assert_eq!(events[0].2, "people", "after a reopen: {events:?}");
    live_query_knows_the_snapshot(&r.db, since).await;
}

/// A live query on the replica: the snapshot's documents are its starting state (not
/// changes), so the replace of a document that matched in the snapshot is sent, with match
/// false.
async fn live_query_knows_the_snapshot(db: &nyro_core::Database, since: u64) {
    let filter = nyro_core::query::Filter::parse(&json!({"n": 0})).unwrap();
    let mut stream = db
        .subscribe_where(Some("people"), Some(since), filter)
        .unwrap();
    let event = within("the live query's replay", stream.next())
        .await
        .expect("the feed is open")
        .expect("a change event");
    assert_eq!(
        (event.seq, event.id, event.op, event.matches),
        (since + 1, 1, nyro_core::ChangeOp::Update, Some(false))
    );
}
