//! The background scrub's rate comes from `storage.scrub_mb_per_sec` (0: off) unless
//! `OpenOptions::scrub_rate` sets one.

use std::path::Path;

use nyro_core::{Config, Database, OpenOptions, ScrubRate, WriteOptions};
use serde_json::json;

use crate::common::{BOUND, config, doc, no_fork, open_quiet, within};

/// A database whose sealed segments all have hint files (so the next open has some to
/// scrub).
async fn build(dir: &Path) -> Config {
    let mut config = config(dir);
    config.storage.segment_size_mb = 1;
    let db = open_quiet(&config).await;
    let pad = "s".repeat(4_000);
    let docs: Vec<_> = (0..1_500u64)
        .map(|i| doc(json!({"i": i, "pad": pad})))
        .collect();
    for chunk in docs.chunks(100) {
        db.insert_many("s", chunk.to_vec(), WriteOptions::default())
            .await
            .unwrap();
    }
    let written = db.write_hints().await.unwrap();
    assert!(written >= 2, "hints written: {written}");
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    config
}

/// Opens, and says whether the scrub ran: it finishes (a bounded wait) or it is off.
async fn scrubs(config: &Config, scrub_rate: ScrubRate) -> bool {
    let options = OpenOptions {
        scrub_rate,
        maintenance_interval: crate::common::NO_MAINTENANCE,
        ..OpenOptions::default()
    };
    let db = within("open", Database::open_with(config, options))
        .await
        .unwrap();
    assert!(db.recovery().hinted_segments >= 2, "{:?}", db.recovery());
    let started = std::time::Instant::now();
    let ran = loop {
        let progress = db.scrub_progress();
        if progress.finished {
            assert_eq!(progress.checked, progress.segments, "{progress:?}");
            break true;
        }
        if progress.off {
            assert_eq!((progress.checked, progress.bytes), (0, 0), "{progress:?}");
            break false;
        }
        assert!(
            started.elapsed() < BOUND,
            "the scrub did not finish: {progress:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_sets_the_scrub_rate_and_open_options_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = build(dir.path()).await;
    assert_eq!(config.storage.scrub_mb_per_sec, 64);
    assert!(
        scrubs(&config, ScrubRate::FromConfig).await,
        "on by default"
    );
    assert!(!scrubs(&config, ScrubRate::Off).await, "off from code");

    config.storage.scrub_mb_per_sec = 0;
    assert!(
        !scrubs(&config, ScrubRate::FromConfig).await,
        "off in the config"
    );
    assert!(
        scrubs(&config, ScrubRate::BytesPerSec(1 << 30)).await,
        "a rate from code wins over the config's 0"
    );

    config.storage.scrub_mb_per_sec = nyro_core::config::MAX_SCRUB_MB_PER_SEC + 1;
    let Err(refused) = Database::open(&config).await else {
        panic!("a rate past the maximum is refused");
    };
    assert!(
        refused.to_string().contains("storage.scrub_mb_per_sec"),
        "{refused}"
    );
}
