#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The short crash test of the real server: a few rounds of concurrent HTTP writers, a
//! SIGKILL of the server at a random moment, a restart on the same directory and a check of
//! every acknowledged write (see `driver.rs`). The long version is `scripts/crash-test.sh`,
//! which drives the release `nyrodb serve` with the same driver.
//!
//! The server is this test binary itself, re-run as a child that only runs
//! [`crash_server_child`]. This test target holds nothing but these tests, so no other test
//! opens a data directory while the child is being spawned (a child holds copies of the
//! parent's open files, `LOCK` included, until it execs).

mod driver;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nyro_core::SyncPolicy;
use nyro_server::{Server, ServerConfig};

/// Set in the child's environment: the data directory it serves.
const CHILD_DATA: &str = "NYRO_SERVER_CRASH_CHILD_DATA";
/// Set in the child's environment: the address it listens on.
const CHILD_LISTEN: &str = "NYRO_SERVER_CRASH_CHILD_LISTEN";
/// Set in the child's environment: `always` or `interval`.
const CHILD_SYNC: &str = "NYRO_SERVER_CRASH_CHILD_SYNC";
/// Set in the child's environment to turn background compaction off.
const CHILD_NO_COMPACTION: &str = "NYRO_SERVER_CRASH_CHILD_NO_COMPACTION";

/// The child: a server, as `nyrodb serve` runs it, until it is killed (bounded all the
/// same). Without [`CHILD_DATA`] it passes at once.
#[test]
fn crash_server_child() {
    let Ok(data) = std::env::var(CHILD_DATA) else {
        return;
    };
    let listen: SocketAddr = std::env::var(CHILD_LISTEN).unwrap().parse().unwrap();
    let mut config = ServerConfig::default();
    config.db.storage.path = data.into();
    config.db.storage.segment_size_mb = 1; // seal segments while being killed, too
    config.server.listen = listen;
    config.db.batch.sync = match std::env::var(CHILD_SYNC).as_deref() {
        Ok("interval") => SyncPolicy::Interval,
        _ => SyncPolicy::Always,
    };
    if std::env::var_os(CHILD_NO_COMPACTION).is_some() {
        config.db.compaction.auto = false;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = Server::bind(config).await.unwrap();
        // Nobody stops us but SIGKILL; give up after a while all the same.
        server
            .run(tokio::time::sleep(Duration::from_secs(120)))
            .await
            .unwrap();
    });
}

fn launch(data: &Path, addr: SocketAddr, sync: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "crash_server_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DATA, data)
        .env(CHILD_LISTEN, addr.to_string())
        .env(CHILD_SYNC, sync);
    command
}

/// [`launch`] with background compaction off.
fn launch_without_compaction(data: &Path, addr: SocketAddr, sync: &str) -> Command {
    let mut command = launch(data, addr, sync);
    command.env(CHILD_NO_COMPACTION, "1");
    command
}

/// Runs the driver; returns its figures and summary. With `after_kill` (the self-test),
/// without compaction: the active segment is then the one with the highest number.
fn drive(sync: &str, rounds: u32, after_kill: Option<fn(&Path)>) -> (driver::Figures, String) {
    let work = tempfile::tempdir().unwrap();
    let seed = driver::clock_seed();
    let options = driver::Options {
        rounds,
        sync: sync.to_string(),
        writers: 6,
        kill_after: (Duration::from_millis(150), Duration::from_millis(700)),
        seed,
        data: work.path().join("data"),
        logs: work.path().join("logs"),
        verbose: true,
        compact: after_kill.is_none(),
        after_kill,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let launcher: &driver::Launch = if after_kill.is_some() {
        &launch_without_compaction
    } else {
        &launch
    };
    let figures = runtime
        .block_on(driver::run(&options, launcher))
        .unwrap_or_else(|e| panic!("the crash test could not run (seed {seed}): {e}"));
    let summary = figures.summary(&options);
    println!("{summary}");
    (figures, summary)
}

fn run(sync: &str, rounds: u32) {
    let (figures, summary) = drive(sync, rounds, None);
    assert!(figures.ok(), "{summary}");
    assert_eq!(figures.rounds, rounds);
    assert!(
        figures.acked_requests >= u64::from(rounds) * 5,
        "too few writes were acknowledged to mean anything: {summary}"
    );
}

#[test]
fn kill_9_of_the_server_under_always_loses_no_acknowledged_write() {
    run("always", 3);
}

#[test]
fn kill_9_of_the_server_under_interval_loses_no_acknowledged_write() {
    run("interval", 2);
}

/// Cuts the active segment (without compaction, the one with the highest number) back to
/// half its bytes: acknowledged writes are gone.
fn cut_newest_segment(data: &Path) {
    let mut segments: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("segment-") && name.ends_with(".log")
        })
        .collect();
    segments.sort();
    let newest = segments.last().expect("a segment");
    let len = std::fs::metadata(newest).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(newest)
        .unwrap();
    file.set_len(len / 2).unwrap();
}

/// The check is not vacuous: a log that lost acknowledged bytes is reported as a loss.
#[test]
fn the_crash_test_reports_lost_writes() {
    let (figures, summary) = drive("always", 1, Some(cut_newest_segment));
    assert!(!figures.ok(), "{summary}");
    assert!(figures.lost + figures.resurrected > 0, "{summary}");
}
