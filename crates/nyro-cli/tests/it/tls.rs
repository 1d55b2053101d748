//! The client commands against an https:// server with a self-signed certificate made here:
//! trusted with --ca-cert or NYRODB_CA_CERT, refused without; and the server's certificate
//! reloaded on SIGHUP.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, fails, send_signal, succeeds};

/// Writes a self-signed certificate for 127.0.0.1 as `<name>-cert.pem` and `<name>-key.pem`.
fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_path = dir.join(format!("{name}-cert.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// A server with TLS on, and the certificate it serves.
fn tls_server() -> (Server, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path(), "server");
    let config = format!(
        "[server]\ntls_cert = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let server = Server::start_tls(dir, &config, "");
    assert!(server.url.starts_with("https://"), "{}", server.url);
    (server, cert, key)
}

#[test]
fn client_commands_work_over_https_with_the_ca_cert() {
    let (server, cert, _key) = tls_server();
    let (stdout, _) = succeeds(
        server
            .command("")
            .args(["insert", "users", r#"{"name":"Ada"}"#, "--ca-cert"])
            .arg(&cert),
    );
    let inserted: Value = serde_json::from_str(&stdout).unwrap();
    let id = inserted["_id"].as_u64().unwrap().to_string();

    // NYRODB_CA_CERT does the same as --ca-cert.
    let (stdout, _) = succeeds(
        server
            .command("")
            .env("NYRODB_CA_CERT", &cert)
            .args(["get", "users", &id]),
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["name"], "Ada");

    // stats --url https://... and the change feed over wss://.
    server
        .command("")
        .env("NYRODB_CA_CERT", &cert)
        .args(["stats", "--url", &server.url])
        .assert()
        .success();
    let (stdout, _) = succeeds(
        server
            .command("")
            .env("NYRODB_CA_CERT", &cert)
            .args(["watch", "users", "--since", "0", "--count", "1"]),
    );
    let event: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(event["op"], "insert");
    assert_eq!(event["doc"]["name"], "Ada");
}

#[test]
fn an_untrusted_certificate_or_plain_http_is_a_clear_failure() {
    let (server, _cert, _key) = tls_server();
    // Without --ca-cert the self-signed certificate is not trusted: exit 1, saying what to do.
    let (_, stderr) = fails(server.command("").args(["get", "users", "1"]));
    assert!(stderr.contains("--ca-cert"), "{stderr}");
    let (_, stderr) = fails(server.command("").args(["watch", "--count", "1"]));
    assert!(stderr.contains("--ca-cert"), "{stderr}");

    // Plain http:// to the TLS port gets no answer.
    let plain = server.url.replacen("https://", "http://", 1);
    let (_, stderr) = fails(
        server
            .command("")
            .args(["get", "users", "1", "--url", &plain]),
    );
    assert!(stderr.contains("https://"), "{stderr}");

    // A --ca-cert file that is missing or holds no certificate is named.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    for file in [&missing, &empty] {
        let (_, stderr) = fails(
            server
                .command("")
                .args(["get", "users", "1", "--ca-cert"])
                .arg(file),
        );
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
}

#[test]
fn cluster_commands_speak_https_with_the_ca_cert() {
    // A standalone server: whatever it answers a membership change, the answer is its own
    // (an error: it has no node 9), which takes a TLS connection that trusts its certificate.
    let (server, cert, _key) = tls_server();
    let (stdout, stderr) = fails(
        server
            .command("")
            .args(["cluster", "remove", "9", "--ca-cert"])
            .arg(&cert),
    );
    assert_eq!(stdout, "");
    assert!(stderr.contains("(HTTP "), "{stderr}");
    let (_, stderr) = fails(server.command("").args(["cluster", "status"]));
    assert!(stderr.contains("--ca-cert"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_certificate() {
    let (server, cert, key) = tls_server();
    let get_with = |ca: &Path| {
        server
            .command("")
            .args(["stats", "--url", &server.url, "--ca-cert"])
            .arg(ca)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(get_with(&cert));

    // Renew: new files in place, then SIGHUP.
    let renewed_dir = tempfile::tempdir().unwrap();
    let original = renewed_dir.path().join("original-cert.pem");
    std::fs::copy(&cert, &original).unwrap();
    let (new_cert, new_key) = make_cert(renewed_dir.path(), "renewed");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    send_signal(server.pid(), rustix::process::Signal::HUP);
    let started = Instant::now();
    while !get_with(&new_cert) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not serve the renewed certificate after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The original certificate is no longer served, and the server still runs.
    assert!(!get_with(&original));
    assert!(get_with(&new_cert));
}

#[cfg(unix)]
#[test]
fn sighup_without_tls_leaves_the_server_running() {
    let server = Server::start("", "");
    send_signal(server.pid(), rustix::process::Signal::HUP);
    for _ in 0..2 {
        succeeds(server.command("").args(["stats", "--url", &server.url]));
    }
}
