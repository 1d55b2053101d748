//! `nyrodb backup` (offline and online) and `nyrodb restore`.

use std::path::Path;

use crate::common::{Server, fails, nyrodb, offline, populate, succeeds};

fn export(data: &Path) -> String {
    succeeds(&mut offline("export", data)).0
}

/// `nyrodb restore --from <backup> --data <data>`.
fn restore(backup: &Path, data: &Path) -> assert_cmd::Command {
    let mut cmd = nyrodb();
    cmd.args(["restore", "--from"])
        .arg(backup)
        .arg("--data")
        .arg(data);
    cmd
}

#[test]
fn offline_backup_then_restore_gives_the_same_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate(&data);
    let before = export(&data);
    let backup = dir.path().join("backup");
    let (stdout, _) = succeeds(offline("backup", &data).arg("--out").arg(&backup));
    assert!(stdout.contains("backed up"), "{stdout}");
    assert!(backup.join("MANIFEST.json").exists());

    let restored = dir.path().join("restored");
    succeeds(&mut restore(&backup, &restored));
    assert_eq!(export(&restored), before);
    succeeds(&mut offline("verify", &restored));

    // Into a directory that is not empty: refused.
    let (_, stderr) = fails(&mut restore(&backup, &restored));
    assert!(stderr.contains("not empty"), "{stderr}");
}

#[test]
fn a_damaged_backup_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate(&data);
    let backup = dir.path().join("backup");
    succeeds(offline("backup", &data).arg("--out").arg(&backup));
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
    let (stdout, stderr) = fails(&mut restore(&backup, &restored));
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
    succeeds(
        nyrodb()
            .args(["backup", "--url", &server.url, "--out"])
            .arg(&out),
    );
    assert!(out.join("MANIFEST.json").exists());
    // Outside the root: the server refuses, and so does the command.
    let elsewhere = tempfile::tempdir().unwrap();
    let (_, stderr) = fails(
        nyrodb()
            .args(["backup", "--url", &server.url, "--out"])
            .arg(elsewhere.path().join("b")),
    );
    assert!(stderr.contains("backup_root"), "{stderr}");

    let restored = root.path().join("restored");
    succeeds(&mut restore(&out, &restored));
    let exported = export(&restored);
    assert!(exported.contains(r#""a":1"#), "{exported}");
}
