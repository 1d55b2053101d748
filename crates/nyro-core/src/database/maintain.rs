//! Compaction on demand and online backups.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use nyro_storage::{LogReader, SegmentInfo};

use super::Database;
use crate::backup::{self, BackupManifest};
use crate::compaction::{self, CompactSummary};
use crate::error::{DbError, Result};
use crate::replica::ReplicaState;

/// The highest sequence number in the sealed segments `sealed`: that of the last record of
/// the last segment in log order that holds one.
fn last_sealed_seq(reader: &LogReader, sealed: &[SegmentInfo]) -> Result<u64> {
    let mut by_position: Vec<&SegmentInfo> = sealed.iter().collect();
    by_position.sort_by_key(|s| (s.position, s.id));
    for segment in by_position.iter().rev() {
        let mut highest = 0;
        for frame in reader.iter_segment(segment.id) {
            let frame = frame?;
            // A Raft frame's seq is a log index, not a write's.
            if !frame.header().kind.is_raft() {
                highest = highest.max(frame.header().seq);
            }
        }
        if highest > 0 {
            return Ok(highest);
        }
    }
    Ok(0)
}

impl Database {
    /// Rewrites every sealed segment that holds dead records (replaced, deleted or dropped
    /// documents), after sealing the active segment if it holds some too. Reads and writes
    /// go on meanwhile; the writer is held only for the switch of the index.
    pub async fn compact(&self) -> Result<CompactSummary> {
        let _one_at_a_time = self.inner.compaction.lock().await;
        let active_dead = self
            .inner
            .reader
            .segments()
            .iter()
            .any(|s| s.active && s.dead_bytes > 0);
        if active_dead {
            self.inner.writer.seal().await.map_err(DbError::from)?;
        }
        let purged = self.inner.replica.as_ref().map(ReplicaState::purged);
        compaction::run(&self.inner.state, &self.inner.writer, 0.0, purged).await
    }

    /// Writes a consistent backup into `dir` (created; refused if it exists and is not
    /// empty) while reads and writes go on: every write acknowledged before this call is in
    /// it, and no half-written one. Seals the active segment (so that everything written so
    /// far lies in sealed, immutable segments), hard-links (or, across filesystems, copies)
    /// every sealed segment into `dir`, and writes `MANIFEST.json` with each file's size and
    /// CRC-32C. Compaction and hint writing wait meanwhile. Restore it with
    /// [`crate::restore`].
    pub async fn backup(&self, dir: &Path) -> Result<BackupManifest> {
        let _no_compaction = self.inner.compaction.lock().await;
        // Answered after every write queued before it: all of them are in sealed segments.
        self.inner.writer.seal().await.map_err(DbError::from)?;
        let mut sealed = self.sealed_segments().await?;
        sealed.sort_by_key(|s| s.id);
        let inner = Arc::clone(&self.inner);
        let dir = dir.to_path_buf();
        let started = Instant::now();
        let manifest = tokio::task::spawn_blocking(move || {
            // A backup never carries damage silently: it refuses, as a read would.
            let ids: Vec<u32> = sealed.iter().map(|s| s.id).collect();
            crate::scrub::check_now(&inner.reader, &inner.state.damage, &ids)?;
            let last_seq = last_sealed_seq(&inner.reader, &sealed)?;
            backup::write_backup(&dir, &sealed, last_seq)
        })
        .await
        .map_err(|e| DbError::Internal {
            message: format!("the backup task failed: {e}"),
        })??;
        tracing::info!(
            files = manifest.files.len(),
            bytes = manifest.bytes(),
            last_seq = manifest.last_seq,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "backup written"
        );
        Ok(manifest)
    }

    /// The segments before the active one in log order: sealed, complete and immutable
    /// (compaction must be held off by the caller). The log publishes its table and its
    /// active segment together, so one look suffices.
    async fn sealed_segments(&self) -> Result<Vec<SegmentInfo>> {
        Ok(self.inner.reader.sealed_segments())
    }
}
