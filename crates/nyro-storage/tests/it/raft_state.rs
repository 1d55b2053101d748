//! `RaftStateStore`: `raft-state` round-trips, survives every failed file effect of a store
//! with the previous state readable, and is an error naming the file when damaged;
//! `raft-committed` round-trips and loads as `None` when missing, cut short or damaged.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use nyro_storage::{
    Effect, Fault, FaultInjector, Log, LogIo, OsIo, RAFT_COMMITTED_FILE, RAFT_STATE_FILE,
    RAFT_STATE_TEMP, RaftStateStore, Record, RecordKind, StorageError, verify,
};

use crate::common::opts;

fn store(dir: &Path) -> RaftStateStore {
    RaftStateStore::new(dir, Arc::new(OsIo))
}

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn state_and_commit_hint_round_trip_beside_an_open_log() {
    assert_send_sync::<RaftStateStore>();
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    let raft = store(dir.path());
    assert_eq!(raft.load_state().unwrap(), None);
    assert_eq!(raft.load_committed(), None);

    raft.store_state(b"vote 1 for node 2").unwrap();
    assert_eq!(raft.load_state().unwrap().unwrap(), b"vote 1 for node 2");
    raft.store_state(b"vote 2 for node 3, membership {1,2,3}")
        .unwrap();
    raft.store_state(b"").unwrap();
    assert_eq!(raft.load_state().unwrap().unwrap(), b"");
    raft.store_state(b"vote 3").unwrap();

    raft.store_committed(b"committed 2-41 (longer)").unwrap();
    raft.store_committed(b"committed 3-42").unwrap();
    assert_eq!(raft.load_committed().unwrap(), b"committed 3-42");

    // The log goes on beside them and ignores them, as do a reopen and verify.
    log.append(&[Record {
        kind: RecordKind::RaftEntry,
        collection: 0,
        id: 3,
        seq: 42,
        payload: b"entry",
        continues: false,
    }])
    .unwrap();
    log.sync().unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(log.recovery().frames, 1);
    drop(log);
    assert!(verify(dir.path()).unwrap().problems.is_empty());

    let again = store(dir.path());
    assert_eq!(again.load_state().unwrap().unwrap(), b"vote 3");
    assert_eq!(again.load_committed().unwrap(), b"committed 3-42");
}

/// Each file effect of a store failing, on its own: the store fails, and the state a load
/// finds is the previous one (or, after a failed directory fsync, the new one: renamed but
/// not yet durable), whole; no temporary file is left behind but by a failed removal.
#[test]
fn a_failed_store_leaves_the_previous_state_readable() {
    let cases = [
        (Effect::Create, false),
        (Effect::Write, false),
        (Effect::SyncData, false),
        (Effect::Rename, false),
        (Effect::SyncDir, true),
    ];
    for (effect, new_is_there) in cases {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(FaultInjector::new());
        let raft = RaftStateStore::new(dir.path(), Arc::clone(&faults) as Arc<dyn LogIo>);
        raft.store_state(b"previous").unwrap();
        let name = if effect == Effect::SyncDir {
            dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        } else {
            "raft-state".to_string()
        };
        faults.inject(Fault::new(effect, ErrorKind::Other).on(&name));
        let error = raft.store_state(b"next").unwrap_err();
        assert!(
            matches!(error, StorageError::Io { .. }),
            "{effect:?}: {error}"
        );
        assert_eq!(faults.failed(effect), 1, "{effect:?}");
        faults.clear();
        assert!(!dir.path().join(RAFT_STATE_TEMP).exists(), "{effect:?}");
        let want: &[u8] = if new_is_there { b"next" } else { b"previous" };
        assert_eq!(raft.load_state().unwrap().unwrap(), want, "{effect:?}");
        // The cause gone, storing works again.
        raft.store_state(b"after").unwrap();
        assert_eq!(store(dir.path()).load_state().unwrap().unwrap(), b"after");
    }
}

#[test]
fn a_store_is_durable_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(FaultInjector::new());
    let raft = RaftStateStore::new(dir.path(), Arc::clone(&faults) as Arc<dyn LogIo>);
    raft.store_state(b"vote").unwrap();
    assert_eq!(faults.calls(Effect::SyncData), 1);
    assert_eq!(faults.calls(Effect::Rename), 1);
    assert_eq!(faults.calls(Effect::SyncDir), 1);
    // The commit hint is never synced.
    raft.store_committed(b"commit").unwrap();
    raft.store_committed(b"commit 2").unwrap();
    assert_eq!(faults.calls(Effect::SyncData), 1);
    assert_eq!(faults.calls(Effect::SyncDir), 1);
    assert_eq!(
        faults.calls(Effect::Create),
        2,
        "the temp file, then raft-committed once"
    );
}

#[test]
fn a_leftover_temporary_file_is_removed_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let raft = store(dir.path());
    raft.store_state(b"whole").unwrap();
    fs::write(dir.path().join(RAFT_STATE_TEMP), b"half a sta").unwrap();
    assert_eq!(raft.load_state().unwrap().unwrap(), b"whole");
    assert!(!dir.path().join(RAFT_STATE_TEMP).exists());
}

#[test]
fn a_damaged_state_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let raft = store(dir.path());
    raft.store_state(b"the vote and the membership").unwrap();
    let path = dir.path().join(RAFT_STATE_FILE);
    let good = fs::read(&path).unwrap();
    let mut flipped = good.clone();
    flipped[25] ^= 0x04;
    let damages: [(&str, Vec<u8>); 5] = [
        ("checksum", flipped),
        ("bytes", good[..good.len() - 1].to_vec()),
        ("shorter than its 20-byte header", good[..7].to_vec()),
        ("magic", [b"NYROXXXX", &good[8..]].concat()),
        ("bytes", [&good[..], b"x"].concat()),
    ];
    for (what, bytes) in damages {
        fs::write(&path, &bytes).unwrap();
        let error = raft.load_state().unwrap_err();
        let StorageError::BadRaftState { path: named, .. } = &error else {
            panic!("{what}: {error}");
        };
        assert_eq!(named, &path);
        let message = error.to_string();
        assert!(message.contains("raft-state"), "{message}");
        assert!(message.contains(what), "{what}: {message}");
        assert!(message.contains("media corruption"), "{message}");
    }
}

#[test]
fn a_missing_torn_or_damaged_commit_hint_loads_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let raft = store(dir.path());
    assert_eq!(raft.load_committed(), None);
    raft.store_committed(b"committed 7-1234").unwrap();
    let path = dir.path().join(RAFT_COMMITTED_FILE);
    let good = fs::read(&path).unwrap();
    for cut in 0..good.len() {
        fs::write(&path, &good[..cut]).unwrap();
        assert_eq!(raft.load_committed(), None, "cut at {cut}");
    }
    for at in 0..good.len() {
        let mut damaged = good.clone();
        damaged[at] ^= 0x10;
        fs::write(&path, &damaged).unwrap();
        assert_eq!(raft.load_committed(), None, "damage at {at}");
    }
    // A store over a damaged file makes it whole again, in place.
    raft.store_committed(b"committed 7-1235").unwrap();
    assert_eq!(raft.load_committed().unwrap(), b"committed 7-1235");
}

#[test]
fn a_failed_commit_hint_write_is_an_error_and_leaves_the_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(FaultInjector::new());
    let raft = RaftStateStore::new(dir.path(), Arc::clone(&faults) as Arc<dyn LogIo>);
    raft.store_state(b"vote").unwrap();
    raft.store_committed(b"commit 1").unwrap();
    faults.inject(Fault::new(Effect::Write, ErrorKind::StorageFull).on(RAFT_COMMITTED_FILE));
    assert!(raft.store_committed(b"commit 2").is_err());
    faults.clear();
    assert_eq!(raft.load_committed().unwrap(), b"commit 1");
    assert_eq!(raft.load_state().unwrap().unwrap(), b"vote");
}
