//! The command line's own rules: usage errors exit 2, help, version and completions.

use predicates::prelude::*;

use crate::common::nyrodb;

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["no-such-command"],
        &["get", "users", "not-a-number"],
        &["get", "users"],
        &["stats"],
        &["stats", "--data", "d", "--url", "http://127.0.0.1:1"],
        &["query", "users"],
        &["query", "users", "no-equals-sign"],
        &["query", "users", "a=1", "a=2"],
        &["import", "--data", "d"],
        &["import", "--data", "d", "--index", "city", "file"],
        &[
            "import",
            "--data",
            "d",
            "--batch-size",
            "0",
            "-c",
            "t",
            "file",
        ],
        &["verify"],
        &["completions", "tcsh"],
        &["watch", "--since", "-1"],
    ];
    for args in cases {
        nyrodb()
            .args(*args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::is_empty().not());
    }
}

#[test]
fn help_version_and_completions() {
    nyrodb()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicates::str::starts_with("nyrodb "));
    for command in [
        "serve",
        "verify",
        "compact",
        "stats",
        "export",
        "import",
        "get",
        "insert",
        "put",
        "delete",
        "query",
        "watch",
        "cluster",
        "completions",
    ] {
        nyrodb()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicates::str::contains("Usage: nyrodb"));
    }
    nyrodb()
        .args(["export", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "{\"collection\":\"users\",\"doc\"",
        ));
    for shell in ["bash", "zsh", "fish"] {
        nyrodb()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicates::str::contains("nyrodb"))
            .stdout(predicates::str::contains("import"));
    }
}

#[test]
fn the_fault_injection_flag_is_hidden_from_help() {
    // (clap_complete's bash script still completes it: it lists hidden flags too.)
    nyrodb()
        .args(["serve", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains("--bootstrap"))
        .stdout(predicates::str::contains("fail-fsync").not());
}
