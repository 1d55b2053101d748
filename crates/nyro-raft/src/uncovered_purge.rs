//! [`UncoveredPurge`]: what a node's start does about a purge that the latest snapshot on
//! disk does not cover (openraft would refuse to start from it).

use crate::types::LogId;

/// What a start does about a purge that the latest snapshot on disk does not cover.
///
/// openraft 0.9 persists the purge that follows a snapshot's installation without waiting
/// for the installation (its `PurgeLog` command has no condition), so a node killed in
/// between can find its log purged past its latest snapshot file, and openraft's own check
/// of its state (purged <= snapshot <= committed) then panics at startup. The chaos harness
/// of issue 16 found it: a follower killed while it installed a snapshot never started
/// again. A purge only forgets where entries lie, so:
/// - if the database applied past the purge (it installed the snapshot, whose file was not
///   kept yet), the older snapshot files are stale: they are removed, and openraft builds a
///   snapshot of the state at startup (what it does when purged entries have none);
/// - if not (the installation never reached the database), the purge goes back to the
///   latest snapshot: the entries after it that the log holds are kept, and the leader
///   sends the rest, or the snapshot, again.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UncoveredPurge {
    /// The purge is covered (or there is none): nothing to do.
    Covered,
    /// Remove the snapshot files and keep the purge.
    DropStaleSnapshots,
    /// Purge only up to the latest snapshot (`None`: none).
    PurgeUpTo(Option<LogId>),
}

impl UncoveredPurge {
    /// `installing`: the directory shows a snapshot being installed (one received, or one
    /// kept): without either, a purge is openraft's own business (its storage tests purge
    /// logs no snapshot covers) and is left alone.
    pub(crate) fn decide(
        purged: Option<LogId>,
        latest_snapshot: Option<LogId>,
        applied: Option<LogId>,
        installing: bool,
    ) -> Self {
        let index = |id: Option<LogId>| id.map(|l| l.index);
        if index(purged) <= index(latest_snapshot) || !installing {
            UncoveredPurge::Covered
        } else if index(applied) >= index(purged) {
            UncoveredPurge::DropStaleSnapshots
        } else {
            UncoveredPurge::PurgeUpTo(latest_snapshot)
        }
    }
}
