//! Format version 1 stays readable: a data directory written by the first format (see
//! docs/FORMAT.md section 4.6) opens and holds exactly the documents it was given.

use nyro_core::{Config, Database};
use serde_json::json;

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

#[tokio::test]
async fn format_v1_fixture_opens_with_every_document() {
    // Open a copy: opening takes the lock file and may cut a torn tail.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let mut config = Config::default();
    config.storage.path = dir.path().to_path_buf();
    let db = Database::open(&config).await.unwrap();

    let names: Vec<_> = db
        .collections()
        .into_iter()
        .map(|c| (c.name, c.count, c.indexes))
        .collect();
    assert_eq!(
        names,
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
    let users: Vec<serde_json::Value> = db
        .list("users", None, 100)
        .unwrap()
        .records
        .iter()
        .map(|d| d.to_json())
        .collect();
    assert_eq!(
        users,
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
