//! `nyrodb backup` (offline and online) and `nyrodb restore`.

use std::path::Path;

use crate::common::{Server, nyrodb, populate, texts};

fn export(data: &Path) -> String {
    let output = nyrodb()
        .args(["export", "--data"])
        .arg(data)
        .assert()
        .success()
        .get_output()
        .clone();
    texts(&output).0
}

#[test]
fn offline_backup_then_restore_gives_the_same_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate(&data);
    let before = export(&data);
    let backup = dir.path().join("backup");
    let output = nyrodb()
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&backup)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(texts(&output).0.contains("backed up"), "{output:?}");
    assert!(backup.join("MANIFEST.json").exists());

    let restored = dir.path().join("restored");
    nyrodb()
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data")
        .arg(&restored)
        .assert()
        .success();
    assert_eq!(export(&restored), before);
    nyrodb()
        .args(["verify", "--data"])
        .arg(&restored)
        .assert()
        .success();

    // Into a directory that is not empty: refused.
    let output = nyrodb()
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data")
        .arg(&restored)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(texts(&output).1.contains("not empty"), "{output:?}");
}

#[test]
fn a_damaged_backup_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate(&data);
    let backup = dir.path().join("backup");
    nyrodb()
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&backup)
        .assert()
        .success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("MANIFEST.json")).unwrap()).unwrap();
    let name = manifest["files"][0]["name"].as_str().unwrap().to_string();
    // A fresh file with one byte flipped (not the hard link, which shares the live bytes).
    let path = backup.join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    bytes[40] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let restored = dir.path().join("restored");
    let output = nyrodb()
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data")
        .arg(&restored)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (stdout, stderr) = texts(&output);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(stderr.contains(&name), "{stderr}");
    assert!(!restored.join(&name).exists());
}

#[test]
fn online_backup_writes_under_the_servers_backup_root() {
    let root = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nbackup_root = {:?}\n\n[[collections]]\nname = \"c\"\n",
        root.path().to_str().unwrap()
    );
    let server = Server::start(&config, "");
    server
        .command("")
        .args(["insert", "c", r#"{"a":1}"#])
        .assert()
        .success();
    let out = root.path().join("online");
    nyrodb()
        .args(["backup", "--url", &server.url, "--out"])
        .arg(&out)
        .assert()
        .success();
    assert!(out.join("MANIFEST.json").exists());
    // Outside the root: the server refuses, and so does the command.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = nyrodb()
        .args(["backup", "--url", &server.url, "--out"])
        .arg(elsewhere.path().join("b"))
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(texts(&output).1.contains("backup_root"), "{output:?}");

    let restored = root.path().join("restored");
    nyrodb()
        .args(["restore", "--from"])
        .arg(&out)
        .arg("--data")
        .arg(&restored)
        .assert()
        .success();
    let exported = export(&restored);
    assert!(exported.contains(r#""a":1"#), "{exported}");
}
