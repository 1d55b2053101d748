//! A cluster node's database driven the way the replication layer (`nyro-raft`) drives it,
//! without Raft: writes are proposed, their entries appended, read back and applied by the
//! test, which plays the leader and openraft.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use nyro_core::replica::{EntryKind, LogEntry, Placed, PreparedProposal, QueuedWrites};
use nyro_core::{ChangeEvent, ChangeOp, Config, Database, OpenOptions, ScrubRate};
use serde_json::Value as Json;
use tokio::task::JoinHandle;

use crate::common::*;

/// The leader id every entry of these tests names.
pub const LEADER: u64 = 1;

/// A replica's database and what the replication layer keeps of it.
pub struct Replica {
    pub config: Config,
    pub db: Database,
    pub writes: QueuedWrites,
    /// Where each retained entry lies, by index (as the log storage keeps it).
    pub entries: BTreeMap<u64, Placed>,
    /// What the last open found: the last entry replay applied.
    pub replayed: Option<u64>,
}

/// A config for a replica in `dir` (`sync = "always"`).
pub fn replica_config(dir: &std::path::Path) -> Config {
    config(dir)
}

impl Replica {
    /// Opens the replica; replay applies the entries up to `committed`.
    pub async fn open(config: Config, committed: Option<u64>) -> Self {
        let options = OpenOptions {
            maintenance_interval: NO_MAINTENANCE,
            scrub_rate: ScrubRate::Off,
            ..OpenOptions::default()
        };
        let opened = within(
            "open_replica",
            Database::open_replica(&config, options, committed, None),
        )
        .await;
        let (db, opened) = match opened {
            Ok(opened) => opened,
            Err(e) => panic!("opening the replica failed: {e}"),
        };
        Self {
            config,
            db,
            writes: opened.writes,
            entries: opened.entries,
            replayed: opened.last_applied.map(|id| id.index),
        }
    }

    /// Closes the database and opens it again with `committed`.
    pub async fn reopen(self, committed: Option<u64>) -> Self {
        let _guard = no_fork().await;
        within("close", self.db.close()).await.expect("close");
        Self::open(self.config, committed).await
    }

    /// The index the next appended entry gets.
    pub fn next_index(&self) -> u64 {
        self.entries.keys().next_back().map_or(1, |last| last + 1)
    }

    /// Starts `write` on the database and takes its proposal (`None` when preparing it
    /// answered it at once: refused, or nothing to write). The handle gives its answer.
    pub async fn propose<T, F, Fut>(
        &mut self,
        write: F,
    ) -> (Option<PreparedProposal>, JoinHandle<T>)
    where
        F: FnOnce(Database) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handle = tokio::spawn(write(self.db.clone()));
        let batch = within("a queued write", self.writes.next(16))
            .await
            .expect("the queue is open");
        let (proposal, left) = self
            .db
            .prepare_proposal(batch, usize::MAX)
            .expect("prepare a proposal");
        assert!(left.is_none(), "an unbounded budget leaves no write behind");
        (proposal, handle)
    }

    /// Appends `entries` (one call: one write in the log) and keeps where they lie.
    pub async fn append(&mut self, entries: Vec<LogEntry>) -> Vec<Placed> {
        let indexes: Vec<u64> = entries.iter().map(|e| e.index).collect();
        let placed = within("append_entries", self.db.append_entries(entries, false))
            .await
            .expect("append entries");
        assert_eq!(placed.len(), indexes.len());
        for (index, placed) in indexes.into_iter().zip(&placed) {
            self.entries.insert(index, placed.clone());
        }
        placed
    }

    /// Voids the entries from `from` on, as openraft's truncate does.
    pub async fn truncate(&mut self, from: u64) {
        let voided: Vec<Placed> = self.entries.split_off(&from).into_values().collect();
        within("truncate_entries", self.db.truncate_entries(from, &voided))
            .await
            .expect("truncate entries");
    }

    /// Reads entry `index` back from the log.
    pub fn read(&self, index: u64) -> LogEntry {
        let placed = self.entries.get(&index).expect("a retained entry");
        self.db.read_entry(index, placed).expect("read entry")
    }

    /// Applies entry `index` as the state machine does (from the entry read back).
    pub fn apply(&self, index: u64) -> bool {
        let entry = self.read(index);
        let placed = &self.entries[&index];
        self.db
            .apply_entry(index, &entry.kind, &entry.records, placed)
            .expect("apply entry")
    }

    /// Proposes `write`, appends its entry at the next index, applies it and answers it:
    /// what a write on a leader does. Returns the write's answer.
    pub async fn commit<T, F, Fut>(&mut self, term: u64, write: F) -> T
    where
        F: FnOnce(Database) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (proposal, handle) = self.propose(write).await;
        if let Some(proposal) = proposal {
            let index = self.next_index();
            self.append(vec![writes_entry(term, index, &proposal)])
                .await;
            let applied = self.apply(index);
            assert!(applied, "a proposal applied at once is never void");
            proposal.answer(Ok(true));
        }
        within("the write's answer", handle)
            .await
            .expect("the write's task")
    }
}

/// The entry a leader of `term` makes of `proposal` at `index`.
pub fn writes_entry(term: u64, index: u64, proposal: &PreparedProposal) -> LogEntry {
    LogEntry {
        term,
        leader: LEADER,
        index,
        kind: EntryKind::Writes {
            after: proposal.after,
            sync: proposal.sync,
        },
        records: proposal.records.clone(),
    }
}

/// An entry of `kind` carrying nothing (blank or membership).
pub fn bare_entry(term: u64, index: u64, kind: EntryKind) -> LogEntry {
    LogEntry {
        term,
        leader: LEADER,
        index,
        kind,
        records: Vec::new(),
    }
}

/// Every visible document, by (collection, id), without its `_id`.
pub fn visible(db: &Database) -> BTreeMap<(String, u64), Json> {
    let mut all = BTreeMap::new();
    for info in db.collections() {
        for d in list_all(db, &info.name, 7) {
            let id = d.id.expect("an id");
            all.insert(
                (info.name.clone(), id),
                crate::model_support::without_id(&d),
            );
        }
    }
    all
}

/// A change event in short: seq, op, collection, id and the document (without `_id`).
pub type Event = (u64, ChangeOp, String, u64, Option<Json>);

pub fn short(e: &ChangeEvent) -> Event {
    (
        e.seq,
        e.op,
        e.collection.to_string(),
        e.id,
        e.doc.as_ref().map(crate::model_support::without_id),
    )
}

/// The feed's replay from the log (`since` = 0) up to the last visible seq: what a consumer
/// subscribing now from the beginning receives before the live events.
pub async fn replayed_feed(db: &Database) -> Vec<Event> {
    replayed_feed_since(db, 0).await
}

/// The feed's replay from the log after `since` up to the last visible seq.
pub async fn replayed_feed_since(db: &Database, since: u64) -> Vec<Event> {
    let until = db.last_seq();
    if until <= since {
        return Vec::new();
    }
    let mut stream = db.subscribe(None, Some(since)).expect("subscribe");
    let mut events = Vec::new();
    while events.last().is_none_or(|e: &Event| e.0 < until) {
        // A bound on the wait, not a timing: an event missing from the replay shows as a
        // shorter list below instead of a hang.
        match tokio::time::timeout(Duration::from_secs(3), stream.next()).await {
            Ok(Some(Ok(event))) => events.push(short(&event)),
            Ok(Some(Err(e))) => panic!("the feed failed: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    events
}

/// The next `n` live events of `stream`.
pub async fn next_events(stream: &mut nyro_core::ChangeStream, n: usize) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..n {
        let event = within("a change event", stream.next())
            .await
            .expect("the feed is open")
            .expect("a change event");
        events.push(short(&event));
    }
    events
}
