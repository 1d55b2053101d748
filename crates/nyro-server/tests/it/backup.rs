//! `POST /v1/_backup`: off without `server.backup_root`, confined to it, and a backup that
//! restores.

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_refused_without_a_backup_root() {
    let dir = DataDir::new();
    let elsewhere = DataDir::new();
    let server = start(&dir).await;
    let target = elsewhere.path().join("b");
    let message = server
        .post("/v1/_backup", &json!({"path": target.to_str().unwrap()}))
        .await
        .expect_error(400, "bad_request");
    assert!(message.contains("backup_root"), "{message}");
    assert!(!target.exists());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_confined_to_the_backup_root_and_restores() {
    let dir = DataDir::new();
    let backups = DataDir::new();
    let outside = DataDir::new();
    let root = backups.path().to_path_buf();
    let server = start_in(dir.path(), |c| c.server.backup_root = Some(root.clone())).await;
    server.create("c", &[]).await;
    for i in 0..10 {
        server.insert("c", json!({"i": i})).await;
    }
    let before = server.snapshot().await;

    // Outside the root, through `..`, through a symlink leading out: refused.
    let escape = std::os::unix::fs::symlink(outside.path(), root.join("link"));
    escape.unwrap();
    for path in [
        outside.path().join("b").to_str().unwrap().to_string(),
        format!("{}/../escaped", root.display()),
        "../escaped".to_string(),
        root.join("link").join("b").to_str().unwrap().to_string(),
        root.join("link").to_str().unwrap().to_string(),
        root.to_str().unwrap().to_string(),
        String::new(),
    ] {
        let message = server
            .post("/v1/_backup", &json!({"path": path}))
            .await
            .expect_error(400, "bad_request");
        // The answer names what was asked, never the server's own directories.
        let root_text = root.display().to_string();
        if !path.contains(&root_text) {
            assert!(!message.contains(&root_text), "{message}");
        }
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    // Wrong shapes: refused.
    for body in [
        json!({}),
        json!({"path": 1}),
        json!({"path": "x", "extra": 1}),
        json!([]),
    ] {
        server
            .post("/v1/_backup", &body)
            .await
            .expect_error(400, "bad_request");
    }

    // Under it (absolute, or relative to it): written, with a summary.
    let target = root.join("nightly");
    let answer = server
        .post("/v1/_backup", &json!({"path": target.to_str().unwrap()}))
        .await;
    let body = answer.expect(200).clone();
    assert!(body["files"].as_u64().unwrap() >= 1, "{body}");
    assert!(body["bytes"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(body["last_seq"], json!(server.last_seq().await));
    assert!(
        body["path"].as_str().unwrap().ends_with("nightly"),
        "{body}"
    );
    server
        .post("/v1/_backup", &json!({"path": "relative"}))
        .await
        .expect(200);
    // Into a directory that is not empty: refused, naming no server path.
    let message = server
        .post("/v1/_backup", &json!({"path": "nightly"}))
        .await
        .expect_error(400, "bad_request");
    assert!(message.contains("not empty"), "{message}");
    assert!(!message.contains(&root.display().to_string()), "{message}");

    // Writes after the backup are not in it.
    server.insert("c", json!({"after": true})).await;
    server.stop().await;

    let restored = DataDir::new();
    let data = restored.path().join("data");
    nyro_core::restore(&target, &data).unwrap();
    let server = start_in(&data, |_| {}).await;
    assert_eq!(server.snapshot().await, before);
    server.stop().await;
}
