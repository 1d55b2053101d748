//! A power cut after a compaction, with writes that were not synced yet.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use nyro_storage::LogIo;
use serde_json::json;

use super::dataset::kp_doc;
use super::{W, open_io, unsynced_config};
use crate::common::*;

/// A [`LogIo`] that remembers, per file, how far it was written and how far synced.
#[derive(Debug, Default)]
struct SyncTracker {
    files: std::sync::Mutex<BTreeMap<std::path::PathBuf, (u64, u64)>>,
}

impl LogIo for SyncTracker {
    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::write_at(file, buf, offset)?;
        let mut files = self.files.lock().unwrap();
        let entry = files.entry(path.to_path_buf()).or_default();
        entry.0 = entry.0.max(offset + n as u64);
        Ok(n)
    }

    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()> {
        file.sync_data()?;
        let mut files = self.files.lock().unwrap();
        let entry = files.entry(path.to_path_buf()).or_default();
        entry.1 = entry.0;
        Ok(())
    }
}

impl SyncTracker {
    /// Files with bytes written but not synced: (path, synced length).
    fn unsynced(&self) -> Vec<(std::path::PathBuf, u64)> {
        self.files
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, (written, synced))| written > synced && path.exists())
            .map(|(path, (_, synced))| (path.clone(), *synced))
            .collect()
    }
}

/// Under `sync = "never"` a power cut may lose the writes since the last sync, but never a
/// document's older version that was durable: compaction must not drop a version whose
/// replacement is not on stable storage yet.
#[tokio::test]
async fn a_power_cut_after_compaction_keeps_versions_whose_replacement_was_not_synced() {
    let dir = tempfile::tempdir().unwrap();
    let config = unsynced_config(dir.path());
    let tracker = Arc::new(SyncTracker::default());
    let db = open_io(&config, Arc::clone(&tracker) as Arc<dyn LogIo>).await;
    for id in 1..=10u64 {
        let d = doc_with_id(json!({"id": id, "v": 0}), Some(id));
        db.insert("d", d, W).await.unwrap();
    }
    // Fill the first segment past 1 MB: the next write seals it (fdatasync).
    for n in 0..300u64 {
        db.insert("fill", doc(kp_doc("fill", n, 0)), W)
            .await
            .unwrap();
    }
    // New versions in the new active segment, not synced (`never`); the old ones are dead.
    for id in 1..=10u64 {
        db.replace("d", id, doc(json!({"id": id, "v": 1})), W)
            .await
            .unwrap();
    }
    assert!(db.stats().segments >= 2);
    let summary = db.compact().await.unwrap();
    assert!(summary.segments_rewritten >= 1, "{summary:?}");

    // The power cut: what was not synced is gone (the compacted segment was).
    let cut = tracker.unsynced();
    let guard = no_fork().await;
    drop(db);
    for (path, synced) in &cut {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(*synced).unwrap();
    }
    let db = open(&config).await;
    drop(guard);
    for id in 1..=10u64 {
        match db.get("d", id) {
            Ok(d) => assert_eq!(d.to_json()["id"], json!(id)),
            Err(e) => panic!(
                "document {id} is gone after a power cut ({e}); its first version was durable \
                 (unsynced bytes cut: {cut:?})"
            ),
        }
    }
    db.close().await.unwrap();
}
