//! The checks must fail the histories they exist to catch.

use std::time::Duration;

use super::checks::check;
use super::history::{Call, Consistency, Event, Outcome};
use super::nemesis::Effects;
use super::workload::Keys;
use super::{FINAL_CLIENT, PROBER};

const BOUND: Duration = Duration::from_secs(4);

fn event(client: u64, call: Call, invoke: u64, complete: u64, outcome: Outcome) -> Event {
    Event {
        client,
        node: 1,
        call,
        invoke,
        complete,
        outcome,
    }
}

fn read(key: u64, consistency: Consistency) -> Call {
    Call::Read { key, consistency }
}

fn verdict(events: &[Event]) -> Result<(), String> {
    let keys = Keys::for_round(0, 2);
    check(events, &keys, &Effects::default(), BOUND).map(|_| ())
}

#[test]
fn a_good_history_passes() {
    let key = 1_000_001;
    let events = [
        event(0, Call::Put { key, value: 1 }, 0, 10, Outcome::Ok),
        event(
            1,
            read(key, Consistency::Linearizable),
            5,
            8,
            Outcome::Value(None),
        ),
        event(
            1,
            read(key, Consistency::Lease),
            11,
            12,
            Outcome::Value(Some(1)),
        ),
        event(
            2,
            Call::Put { key, value: 2 },
            11,
            30,
            Outcome::Unknown("timeout".into()),
        ),
        event(
            0,
            read(key, Consistency::Local),
            13,
            14,
            Outcome::Value(Some(2)),
        ),
        event(
            FINAL_CLIENT,
            read(key, Consistency::Linearizable),
            40,
            41,
            Outcome::Value(Some(2)),
        ),
    ];
    verdict(&events).unwrap();
}

#[test]
fn a_stale_linearizable_read_fails() {
    let key = 1_000_001;
    let events = [
        event(0, Call::Put { key, value: 1 }, 0, 10, Outcome::Ok),
        event(
            1,
            read(key, Consistency::Linearizable),
            11,
            12,
            Outcome::Value(None),
        ),
    ];
    let why = verdict(&events).unwrap_err();
    assert!(why.contains("not linearizable"), "{why}");
}

#[test]
fn a_lost_acknowledged_write_fails() {
    let key = 1_000_001;
    let events = [
        event(0, Call::Put { key, value: 1 }, 0, 10, Outcome::Ok),
        event(0, Call::Put { key, value: 2 }, 11, 20, Outcome::Ok),
        event(
            FINAL_CLIENT,
            read(key, Consistency::Linearizable),
            30,
            31,
            Outcome::Value(Some(1)),
        ),
    ];
    let why = verdict(&events).unwrap_err();
    assert!(why.contains("lost"), "{why}");
}

#[test]
fn a_local_read_of_a_value_never_written_fails() {
    let key = 1_000_001;
    let events = [
        event(
            0,
            Call::Put { key, value: 1 },
            0,
            10,
            Outcome::Failed("refused".into()),
        ),
        event(
            1,
            read(key, Consistency::Local),
            11,
            12,
            Outcome::Value(Some(1)),
        ),
    ];
    let why = verdict(&events).unwrap_err();
    assert!(why.contains("no write had written"), "{why}");
}

#[test]
fn a_partial_bulk_fails() {
    let keys = Keys::for_round(0, 2);
    let ids: Vec<u64> = (0..3).map(|j| keys.bulk_base + j).collect();
    let events = [
        event(
            0,
            Call::Bulk {
                keys: ids.clone(),
                values: vec![1, 2, 3],
            },
            0,
            10,
            Outcome::Ok,
        ),
        event(1, Call::ListBulks, 5, 6, Outcome::Ids(ids[..2].to_vec())),
    ];
    let why = verdict(&events).unwrap_err();
    assert!(why.contains("2 of the 3 documents"), "{why}");
}

#[test]
fn a_wrong_answer_or_a_hang_fails() {
    let key = 1_000_001;
    let wrong = [event(
        0,
        Call::Put { key, value: 1 },
        0,
        10,
        Outcome::Wrong("500 {}".into()),
    )];
    assert!(
        verdict(&wrong)
            .unwrap_err()
            .contains("no request should get")
    );
    let slow = [event(
        0,
        read(key, Consistency::Local),
        0,
        5_000_000,
        Outcome::Value(None),
    )];
    assert!(
        verdict(&slow)
            .unwrap_err()
            .contains("answered after more than")
    );
}

#[test]
fn a_paused_node_is_not_held_to_the_bound() {
    let key = 1_000_001;
    let slow = [event(
        0,
        read(key, Consistency::Local),
        0,
        5_000_000,
        Outcome::Value(None),
    )];
    let keys = Keys::for_round(0, 2);
    let effects = Effects {
        paused: vec![(1, 1_000, 4_000_000)],
        ..Effects::default()
    };
    check(&slow, &keys, &effects, BOUND).unwrap();
}

#[test]
fn a_probers_stale_but_concurrent_read_is_no_final_read() {
    let key = 1_000_001;
    let events = [
        event(0, Call::Put { key, value: 1 }, 0, 10, Outcome::Ok),
        event(
            PROBER + 2,
            read(key, Consistency::Lease),
            5,
            40,
            Outcome::Value(Some(1)),
        ),
        event(0, Call::Put { key, value: 2 }, 20, 30, Outcome::Ok),
        event(
            FINAL_CLIENT,
            read(key, Consistency::Linearizable),
            50,
            51,
            Outcome::Value(Some(2)),
        ),
    ];
    verdict(&events).unwrap();
}
