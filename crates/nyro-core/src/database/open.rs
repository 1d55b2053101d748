//! Opening and closing: recovery, the writer thread, the background maintenance, hints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nyro_batch::{BatchConfig, BatchWriter};
use nyro_storage::{Log, LogIo, LogOptions, OsIo, RecoveryReport};
use tokio::sync::Semaphore;

use super::{Database, Inner, JoinOnDrop, StopBuilds};
use crate::builds;
use crate::compaction;
use crate::config::{Config, SyncPolicy};
use crate::error::{DbError, Result};
use crate::replay::replay;
use crate::replica::{ProposalQueue, ReplicaOpened, ReplicaState, is_raft_log, survey};
use crate::scrub::Scrub;
use crate::state::State;
use crate::types::FEED_CAPACITY;
use crate::write::CoreApplier;

/// Options beyond the config file, for embedding programs and tests.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The I/O seam for log writes (a `nyro_storage::FaultInjector` in fault tests).
    pub io: Arc<dyn LogIo>,
    /// How often the background maintenance (compaction when `compaction.auto`, hint files)
    /// wakes up; every 10 s (`compaction::AUTO_INTERVAL`) by default.
    pub maintenance_interval: Duration,
    /// How fast the background scrub reads the segments opened from their hints: by
    /// default the config's `storage.scrub_mb_per_sec`; a value set here wins over it.
    pub scrub_rate: ScrubRate,
}

/// The background scrub's rate, as [`OpenOptions::scrub_rate`] gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScrubRate {
    /// The config's `storage.scrub_mb_per_sec` (64 MiB/s, [`crate::DEFAULT_SCRUB_RATE`],
    /// unless the file or the environment says otherwise; 0 is off).
    #[default]
    FromConfig,
    /// No scrub, whatever the config says.
    Off,
    /// This many bytes per second, whatever the config says.
    BytesPerSec(u64),
}

impl ScrubRate {
    /// Bytes per second for a database opened with `config`; `None`: no scrub.
    fn resolve(self, config: &Config) -> Option<u64> {
        match self {
            ScrubRate::FromConfig => config.scrub_rate(),
            ScrubRate::Off => None,
            ScrubRate::BytesPerSec(rate) => Some(rate),
        }
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            io: Arc::new(OsIo),
            maintenance_interval: compaction::AUTO_INTERVAL,
            scrub_rate: ScrubRate::FromConfig,
        }
    }
}

impl Database {
    /// Opens the database `config` describes: recovers the log, rebuilds every index,
    /// starts the writer, and creates the configured collections that are missing.
    pub async fn open(config: &Config) -> Result<Self> {
        Self::open_with(config, OpenOptions::default()).await
    }

    /// [`Database::open`] with options beyond the config file.
    pub async fn open_with(config: &Config, options: OpenOptions) -> Result<Self> {
        let (db, _) = Self::open_mode(config, options, None).await?;
        for collection in &config.collections {
            // One that exists with every configured index (and more, added since) is left
            // as it is.
            let has_them = db.inner.state.collection(&collection.name).is_ok_and(|c| {
                let indexes = c.indexes();
                collection.indexes.iter().all(|i| indexes.contains(i))
            });
            if !has_them {
                db.create_collection(&collection.name, &collection.indexes)
                    .await?;
            }
        }
        Ok(db)
    }

    /// Opens a cluster node's database (`nyro-raft` does): the log is also the Raft log.
    /// Replay applies the entries up to `committed` (or `purged`, whichever is higher) and
    /// leaves later ones for the replication layer, which gets them in [`ReplicaOpened`]
    /// with the queue its proposals come from. Writes are proposed, not written, and the
    /// configured collections are created by the leader, not here. Compaction leaves alone
    /// the segments that hold entries after the purged index (`Database::set_purged`).
    pub async fn open_replica(
        config: &Config,
        options: OpenOptions,
        committed: Option<u64>,
        purged: Option<u64>,
    ) -> Result<(Self, ReplicaOpened)> {
        let (db, opened) = Self::open_mode(config, options, Some((committed, purged))).await?;
        let opened = opened.ok_or_else(|| DbError::Internal {
            message: "a replica opened without its Raft log".to_string(),
        })?;
        Ok((db, opened))
    }

    /// Opens standalone (`replica` None) or as a cluster node (committed, purged).
    async fn open_mode(
        config: &Config,
        options: OpenOptions,
        replica: Option<(Option<u64>, Option<u64>)>,
    ) -> Result<(Self, Option<ReplicaOpened>)> {
        // A config loaded from a file was checked already; one built in code may not be.
        config.validate("the configuration given to Database::open")?;
        let maintenance_interval = options.maintenance_interval;
        let scrub_rate = options.scrub_rate.resolve(config);
        let log = Log::open(
            &config.storage.path,
            LogOptions {
                segment_size: config.segment_size_bytes(),
                io: options.io,
            },
        )?;
        let recovery = log.recovery().clone();
        if let Some(torn) = &recovery.torn_tail {
            tracing::warn!(path = %torn.path.display(), dropped_bytes = torn.dropped_bytes,
                "recovered from a crash: dropped a torn tail");
        }
        let reader = log.reader().clone();
        let replica_purged = replica.and_then(|(_, purged)| purged);
        let survey = match replica {
            Some((committed, purged)) => Some(survey(&reader, committed.max(purged), purged)?),
            // A cluster node's data opened on its own (a restored backup, an offline
            // command): every entry that survives in its log is taken as committed.
            None if is_raft_log(&reader)? => {
                tracing::warn!(path = %config.storage.path.display(),
                    "opening a cluster node's data standalone: every entry in its log is taken as committed");
                Some(survey(&reader, Some(u64::MAX), None)?)
            }
            None => None,
        };
        let start_at = survey
            .as_ref()
            .and_then(|s| s.snapshot.as_ref())
            .map(|s| s.0);
        let mut replayed = replay(&reader, survey.as_ref().map(|s| &s.skip), start_at)?;
        if let Some((_, _, snapshot)) = survey.as_ref().and_then(|s| s.snapshot.as_ref()) {
            snapshot.raise(&mut replayed.counters, &mut replayed.last_seq);
        }
        let state = Arc::new(State::new(
            reader.clone(),
            replayed.catalog,
            replayed.last_seq,
            FEED_CAPACITY,
        ));
        // Indexes added after their collection was created are built from the documents
        // now, so that every index is ready once the database is open (a build that a
        // crash or a close interrupted is done again here, whole).
        builds::build_now(&state, std::mem::take(&mut replayed.to_build))?;
        if let Some(survey) = &survey {
            if let Some((header, _, snapshot)) = &survey.snapshot {
                state.set_snapshot(*header, snapshot.last_seq);
            }
            state.set_skipped_entries(survey.skip.clone());
        }
        let (replica, opened) = match survey.filter(|_| replica.is_some()) {
            Some(survey) => {
                let (queue, writes) = ProposalQueue::new();
                let replica =
                    ReplicaState::new(replayed.counters.clone(), survey.last_writes, queue);
                if let Some(purged) = replica_purged {
                    replica.set_purged(purged);
                }
                let opened = ReplicaOpened {
                    entries: survey.entries,
                    last_applied: survey.last_applied,
                    membership: survey.membership,
                    writes,
                };
                (Some(replica), Some(opened))
            }
            None => (None, None),
        };
        let sync = match config.batch.sync {
            SyncPolicy::Always => nyro_batch::SyncPolicy::Always,
            SyncPolicy::Interval => nyro_batch::SyncPolicy::Interval(config.sync_interval()),
            SyncPolicy::Never => nyro_batch::SyncPolicy::Never,
        };
        let max_ops = config.server.max_concurrent_ops;
        let (writer, writer_thread) = BatchWriter::spawn(
            log,
            CoreApplier::new(Arc::clone(&state), replayed.counters),
            BatchConfig {
                batch_size: config.batch.batch_size,
                sync,
                batch_timeout: config.batch_timeout(),
                // Guarded by the semaphore too; the queue can never hold more than this.
                queue_capacity: max_ops,
            },
        )
        .map_err(|source| {
            DbError::Storage(nyro_storage::StorageError::Io {
                op: "start the writer thread for",
                path: config.storage.path.clone(),
                source,
            })
        })?;
        tracing::info!(path = %config.storage.path.display(), frames = replayed.frames,
            segments = recovery.segments, last_seq = replayed.last_seq, "database open");
        let reader_for_scrub = reader.clone();
        let auto_ratio = config
            .compaction
            .auto
            .then_some(config.compaction.min_dead_ratio);
        let db = Self {
            inner: Arc::new_cyclic(|weak| Inner {
                reader,
                writer,
                writer_thread: JoinOnDrop(Mutex::new(Some(writer_thread))),
                ops: Semaphore::new(max_ops),
                max_ops,
                max_scan: config.query.max_scan,
                opened: Instant::now(),
                compaction: tokio::sync::Mutex::new(()),
                maintenance: Mutex::new(
                    compaction::spawn_background(weak.clone(), auto_ratio, maintenance_interval)
                        .inspect_err(
                            |e| tracing::warn!(error = %e, "cannot start background maintenance"),
                        )
                        .ok(),
                ),
                recovery,
                builds: StopBuilds(Arc::clone(&state.builds)),
                scrub: Mutex::new(Scrub::spawn(
                    reader_for_scrub,
                    Arc::clone(&state.damage),
                    replayed.hinted,
                    scrub_rate,
                )),
                state,
                replica,
            }),
        };
        Ok((db, opened))
    }

    /// Writes hint files for every sealed segment that has none, now (the background
    /// maintenance does it every few seconds). Returns how many it wrote. Hints let the next
    /// open rebuild the indexes without reading the sealed segments' payloads.
    pub async fn write_hints(&self) -> Result<usize> {
        let _one_at_a_time = self.inner.compaction.lock().await;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.write_missing_hints())
            .await
            .map_err(|e| DbError::Internal {
                message: format!("writing hints failed: {e}"),
            })?
    }

    /// What opening found in the log (frames, a torn tail cut off, ...).
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Writes everything queued, fdatasyncs, stops the writer and waits for its thread to
    /// end, then writes the hint of the active segment (docs/FORMAT.md section 6) so that
    /// the next open need not read it. Later writes fail with [`DbError::Closed`]. The directory lock is released when
    /// the last clone is dropped.
    pub async fn close(self) -> Result<()> {
        // First the background maintenance: stop it and wait for a pass it may be running,
        // so that it holds nothing of the database (its directory lock) once we return.
        let maintenance = self
            .inner
            .maintenance
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        if let Some(maintenance) = maintenance {
            let joined = tokio::task::spawn_blocking(move || maintenance.stop_and_join()).await;
            if let Err(e) = joined {
                tracing::warn!(error = %e, "the maintenance thread did not stop cleanly");
            }
        }
        // Then the scrub (it stops within a chunk): it holds the log, and the directory lock.
        if let Ok(mut scrub) = self.inner.scrub.lock() {
            scrub.stop();
        }
        // And the index builds (each stops within a chunk; the next open builds them).
        let builds = Arc::clone(&self.inner.builds.0);
        if let Err(e) = tokio::task::spawn_blocking(move || builds.shutdown()).await {
            tracing::warn!(error = %e, "the index builds did not stop cleanly");
        }
        let result = self.inner.writer.close().await.map_err(DbError::from);
        // The writer answered and its thread is ending (it only drops the log and its
        // applier, whose hold on the directory goes with them): wait for it.
        self.inner.writer_thread.join();
        if result.is_ok() {
            // Nothing is appended any more: a hint of the active segment lets the next open
            // skip reading it. Never needed, so a failure only costs that open a scan.
            let inner = Arc::clone(&self.inner);
            let written = tokio::task::spawn_blocking(move || inner.write_active_hint()).await;
            if let Err(error) = written
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                tracing::warn!(%error, "no hint of the active segment written; the next open reads it");
            }
        }
        result
    }
}
