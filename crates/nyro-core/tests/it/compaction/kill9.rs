//! Compaction killed with SIGKILL: the test runs a child process (this test binary, with
//! a filter for the child test) and kills it while it compacts.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use nyro_core::Database;

use super::dataset::{check_dataset, check_next_id_and_seq, dataset_model, write_dataset};
use super::{W, check_disk, compact_and_check_space, small_config};
use crate::common::*;

/// Set in the child's environment: the data directory it compacts.
const CHILD_DIR: &str = "NYRO_CORE_COMPACTION_CHILD_DIR";

/// The child of [`kill_9_during_compaction_loses_nothing`]: writes the dataset (if the
/// directory has none yet), says READY, then rewrites documents with their own content
/// (which leaves the model as it is but makes dead bytes everywhere) and compacts, again
/// and again, saying COMPACTING before each compaction. Passes at once without the variable.
#[test]
fn compaction_kill_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let config = small_config(Path::new(&dir));
        let db = Database::open(&config).await.unwrap();
        let model = dataset_model();
        if db.collections().is_empty() {
            write_dataset(&db).await;
        }
        db.flush().await.unwrap();
        let say = |line: String| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        };
        say("READY".into());
        let started = Instant::now();
        let mut round = 0usize;
        // Bounded even if nobody kills us.
        while started.elapsed() < Duration::from_secs(30) {
            round += 1;
            for (i, ((c, id), body)) in model.docs.iter().enumerate() {
                if (i + round).is_multiple_of(4) {
                    db.replace(c, *id, doc(body.clone()), W).await.unwrap();
                }
            }
            say(format!("COMPACTING {round}"));
            let summary = db.compact().await.unwrap();
            say(format!("COMPACTED {round} {}", summary.segments_rewritten));
        }
    });
}

/// Runs the child on `dir` and kills it with SIGKILL `delay` after its `nth` COMPACTING
/// line. Returns the lines it printed.
async fn run_and_kill_compacting_child(dir: &Path, nth: usize, delay: Duration) -> Vec<String> {
    let fork = within("the fork guard", FORK_GUARD.write()).await;
    let child = child_test("compaction::kill9::compaction_kill_child")
        .env(CHILD_DIR, dir)
        .spawn()
        .unwrap();
    drop(fork);
    tokio::task::spawn_blocking(move || {
        let mut child = child;
        let (reader, rx) = read_lines(child.stdout.take().unwrap());
        let started = Instant::now();
        let mut lines = Vec::new();
        let mut compacting = 0;
        while compacting < nth && started.elapsed() < BOUND {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if line.starts_with("COMPACTING") {
                        compacting += 1;
                    }
                    lines.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        assert_eq!(compacting, nth, "the child never got that far: {lines:?}");
        std::thread::sleep(delay);
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(still_running, "the child stopped by itself: {status:?}");
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        lines
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn kill_9_during_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    let model = dataset_model();
    let mut mid_compaction = 0;
    let delays_ms = [0u64, 1, 2, 3, 5, 7, 10, 14, 20, 30, 0, 4];
    for (round, delay) in delays_ms.into_iter().enumerate() {
        let lines =
            run_and_kill_compacting_child(dir.path(), 1 + round % 3, Duration::from_millis(delay))
                .await;
        // (libtest prints the test's name on the same line first.)
        assert!(lines.iter().any(|l| l.ends_with("READY")), "{lines:?}");
        let last = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("COMPACT"))
            .unwrap();
        if last.starts_with("COMPACTING") {
            mid_compaction += 1;
        }
        let what = format!("round {round}: killed {delay} ms after COMPACTING, last said {last:?}");
        let db = open(&config).await;
        check_disk(&db, dir.path(), &what).await;
        check_dataset(&db, &model, &what);
        let guard = no_fork().await;
        db.close().await.unwrap();
        drop(guard);
    }
    eprintln!(
        "kill -9 during compaction: {mid_compaction} of {} kills came before the compaction \
         answered",
        delays_ms.len()
    );
    // Finally a compaction of whatever the kills left.
    let db = open(&config).await;
    let last_seq = db.stats().last_seq;
    compact_and_check_space(&db, dir.path(), "after the kills").await;
    check_dataset(&db, &model, "after the kills, compacted");
    let db = reopen(db, &config).await;
    check_dataset(&db, &model, "after the kills, compacted and reopened");
    check_next_id_and_seq(&db, last_seq, "after the kills").await;
    db.close().await.unwrap();
}
