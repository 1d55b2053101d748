//! Older formats stay readable: data directories written by format versions 1, 2 and 3 (see
//! docs/FORMAT.md section 4.6) open and hold exactly the documents they were given, and
//! their change feeds replay as they were written.

use nyro_core::{Config, Database};
use serde_json::json;

fn fixture_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Opens a copy of the fixture `name` (opening takes the lock file and may cut a torn
/// tail), in a directory that lives as long as the returned guard.
async fn open_a_copy(name: &str) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let mut config = Config::default();
    config.storage.path = dir.path().to_path_buf();
    let db = Database::open(&config).await.unwrap();
    (dir, db)
}

#[tokio::test]
async fn format_v1_fixture_opens_with_every_document() {
    let (_dir, db) = open_a_copy("format-v1").await;

    assert_eq!(
        collections(&db),
        vec![
            ("notes".to_string(), 1, vec![]),
            (
                "users".to_string(),
                2,
                vec!["age".to_string(), "city".to_string()]
            ),
        ],
        "the dropped collection `tmp` must stay dropped"
    );
    assert_eq!(
        documents(&db, "users"),
        vec![
            json!({"_id": 2, "age": 85, "city": "London", "name": "Grace H"}),
            json!({"_id": 100, "age": 15.0, "big": 18446744073709551615u64, "city": "Portland",
                   "name": "Linus", "neg": -7, "t": true, "tags": ["a", {"k": null}]}),
        ]
    );
    assert_eq!(
        db.get("notes", 1).unwrap().to_json(),
        json!({"_id": 1, "text": "héllo ✓"})
    );
    // Indexes were rebuilt from the log: the replaced value finds the new document only.
    let london = vec![(
        "city".to_string(),
        nyro_core::Value::String("London".into()),
    )];
    let ids: Vec<_> = db
        .find("users", &london, None, 10)
        .unwrap()
        .records
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, vec![Some(2)]);
    let age15 = vec![("age".to_string(), nyro_core::Value::Int(15))];
    assert_eq!(db.find("users", &age15, None, 10).unwrap().records.len(), 1);
    assert_eq!(db.stats().last_seq, 7);
    db.close().await.unwrap();
}

/// A format-1 log wrote updates as puts: the change feed's replay still tells them apart
/// from inserts (by the ids it has seen), and says which were deletes.
#[tokio::test]
async fn format_v1_fixture_replays_its_changes_with_updates_told_apart() {
    let (_dir, db) = open_a_copy("format-v1").await;
    let events = replay_feed(&db, 7).await;
    let want = [
        (1, "insert", "users", 1),
        (2, "insert", "users", 2),
        (3, "insert", "users", 100),
        (4, "update", "users", 2), // a put of id 2 again: format 1 had no replace kind
        (5, "delete", "users", 1),
        (6, "insert", "tmp", 1),
        (7, "insert", "notes", 1),
    ];
    assert_eq!(events, owned(&want));
    db.close().await.unwrap();
}

/// Each collection's name, document count and indexed fields.
fn collections(db: &Database) -> Vec<(String, u64, Vec<String>)> {
    db.collections()
        .into_iter()
        .map(|c| (c.name, c.count, c.indexes))
        .collect()
}

/// The documents of `collection`, as JSON, by id.
fn documents(db: &Database, collection: &str) -> Vec<serde_json::Value> {
    db.list(collection, None, 100)
        .unwrap()
        .records
        .iter()
        .map(|d| d.to_json())
        .collect()
}

type Event = (u64, &'static str, String, u64);

fn owned(events: &[(u64, &'static str, &str, u64)]) -> Vec<Event> {
    events
        .iter()
        .map(|&(seq, op, c, id)| (seq, op, c.to_string(), id))
        .collect()
}

/// The first `count` events of the change feed from its start: seq, op, collection, id.
async fn replay_feed(db: &Database, count: usize) -> Vec<Event> {
    let mut feed = db.subscribe(None, Some(0)).unwrap();
    let mut events = Vec::new();
    for _ in 0..count {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        events.push((
            event.seq,
            event.op.as_str(),
            event.collection.to_string(),
            event.id,
        ));
    }
    events
}

/// Format 2 (written by the build before format 3): a bulk insert whose records carry the
/// continues flag, a replace record, a delete, a dropped collection. It opens with every
/// document and index, and its feed says what each write was.
#[tokio::test]
async fn format_v2_fixture_opens_with_every_document_and_replays_its_changes() {
    let (_dir, db) = open_a_copy("format-v2").await;
    assert_same_writes(&db);
    let city = |name: &str| vec![("city".to_string(), nyro_core::Value::String(name.into()))];
    let found = |name: &str| {
        db.find("users", &city(name), None, 10)
            .unwrap()
            .records
            .len()
    };
    assert_eq!((found("Helsinki"), found("Portland")), (1, 0));
    assert_eq!(db.stats().last_seq, 7);

    assert_eq!(replay_feed(&db, 7).await, owned(&SAME_WRITES_FEED));
    db.close().await.unwrap();
}

/// Format 3 (written by the build before format 4, standalone: the same writes as the
/// format-2 fixture). It opens with every document and index and replays its changes; an
/// index added to it (a format-4 record appended to its format-3 segment) survives a reopen.
#[tokio::test]
async fn format_v3_fixture_opens_and_takes_an_index_added_online() {
    let (dir, db) = open_a_copy("format-v3").await;
    assert_same_writes(&db);
    assert_eq!(replay_feed(&db, 7).await, owned(&SAME_WRITES_FEED));

    db.add_index("users", "name").await.unwrap();
    db.close().await.unwrap();
    let mut config = Config::default();
    config.storage.path = dir.path().to_path_buf();
    let db = Database::open(&config).await.unwrap();
    assert_eq!(
        collections(&db)[1],
        (
            "users".to_string(),
            2,
            vec!["city".to_string(), "name".to_string()]
        )
    );
    let name = vec![("name".to_string(), nyro_core::Value::String("Ada".into()))];
    let found = db.find("users", &name, None, 10).unwrap();
    assert_eq!(found.records.len(), 1);
    assert_eq!(db.stats().last_seq, 7);
    db.close().await.unwrap();
}

/// The collections and documents the writes of the format-2 and format-3 fixtures leave.
fn assert_same_writes(db: &Database) {
    assert_eq!(
        collections(db),
        vec![
            ("notes".to_string(), 1, vec![]),
            ("users".to_string(), 2, vec!["city".to_string()]),
        ],
        "the dropped collection `tmp` must stay dropped"
    );
    assert_eq!(
        documents(db, "users"),
        vec![
            json!({"_id": 1, "city": "London", "name": "Ada"}),
            json!({"_id": 2, "city": "Helsinki", "name": "Linus T"}),
        ]
    );
    assert_eq!(
        db.get("notes", 1).unwrap().to_json(),
        json!({"_id": 1, "text": "héllo ✓"})
    );
}

/// The change feed of the writes of the format-2 and format-3 fixtures.
const SAME_WRITES_FEED: [(u64, &str, &str, u64); 7] = [
    (1, "insert", "users", 1),
    (2, "insert", "users", 2),
    (3, "insert", "users", 3),
    (4, "update", "users", 2),
    (5, "delete", "users", 3),
    (6, "insert", "tmp", 1),
    (7, "insert", "notes", 1),
];
