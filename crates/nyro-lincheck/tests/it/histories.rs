//! Hand-written histories: each must fail or must pass, and the brute-force checker agrees.

use std::time::Duration;

use nyro_lincheck::{Operation, Register, RegisterInput as I, RegisterOutput as O, Verdict, check};

use crate::brute;
use crate::sim::RegisterOp;

fn op(client: u64, call: u64, ret: u64, input: I, output: O) -> RegisterOp {
    Operation::new(client, call, ret, input, output)
}

fn lost(client: u64, call: u64, input: I) -> RegisterOp {
    Operation::unknown(client, call, input, O::Unknown)
}

fn read(client: u64, call: u64, ret: u64, seen: Option<u64>) -> RegisterOp {
    op(client, call, ret, I::Read, O::Value(seen))
}

fn verdict(history: &[RegisterOp]) -> Verdict {
    match check(&Register, history, Duration::from_secs(10)) {
        Ok(verdict) => verdict,
        Err(e) => panic!("a well-formed history was refused: {e}"),
    }
}

#[track_caller]
fn must_fail(history: &[RegisterOp]) {
    let verdict = verdict(history);
    let Some(violation) = verdict.violation() else {
        panic!("expected a violation, got {verdict:?} for {history:#?}");
    };
    assert!(
        !brute::linearizable(&Register, history),
        "brute force disagrees"
    );
    // The explanation names the operation it could not place.
    assert!(violation.stuck < history.len());
    let text = violation.explain(history).to_string();
    assert!(
        text.contains(&format!("#{} client", violation.stuck)),
        "{text}"
    );
}

#[track_caller]
fn must_pass(history: &[RegisterOp]) {
    assert_eq!(verdict(history), Verdict::Linearizable, "{history:#?}");
    assert!(
        brute::linearizable(&Register, history),
        "brute force disagrees"
    );
}

#[test]
fn stale_read_after_an_acknowledged_write_fails() {
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(0, 2, 3, I::Put(2), O::Ok),
        read(1, 4, 5, Some(1)),
    ]);
}

#[test]
fn a_read_of_a_value_never_written_fails() {
    must_fail(&[op(0, 0, 1, I::Put(1), O::Ok), read(1, 2, 3, Some(9))]);
    must_fail(&[read(1, 0, 3, Some(9))]);
}

#[test]
fn two_reads_going_back_in_time_fail() {
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(0, 2, 10, I::Put(2), O::Ok),
        read(1, 3, 4, Some(2)),
        read(2, 5, 6, Some(1)),
    ]);
}

#[test]
fn a_lost_acknowledged_write_fails() {
    must_fail(&[op(0, 0, 1, I::Put(1), O::Ok), read(1, 5, 6, None)]);
    must_fail(&[op(0, 0, 1, I::Create(7), O::Ok), read(1, 5, 6, None)]);
    // An acknowledged write replaced by an older value.
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(1, 2, 3, I::Put(2), O::Ok),
        read(2, 4, 5, Some(2)),
        read(2, 6, 7, Some(1)),
    ]);
}

#[test]
fn a_conflict_on_create_when_the_key_was_provably_absent_fails() {
    must_fail(&[op(0, 0, 1, I::Create(1), O::Conflict)]);
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(0, 2, 3, I::Delete, O::Ok),
        op(1, 4, 5, I::Create(2), O::Conflict),
    ]);
    // Two concurrent creates cannot both lose, nor both win.
    must_fail(&[
        op(0, 0, 5, I::Create(1), O::Conflict),
        op(1, 1, 4, I::Create(2), O::Conflict),
    ]);
    must_fail(&[
        op(0, 0, 5, I::Create(1), O::Ok),
        op(1, 1, 4, I::Create(2), O::Ok),
    ]);
}

#[test]
fn reading_a_deleted_keys_old_value_after_the_delete_fails() {
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(0, 2, 3, I::Delete, O::Ok),
        read(1, 4, 5, Some(1)),
    ]);
    // A delete that found nothing while the document provably existed.
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(1, 2, 3, I::Delete, O::NotFound),
    ]);
}

#[test]
fn an_unknown_write_cannot_be_seen_before_it_was_called() {
    must_fail(&[read(1, 0, 1, Some(5)), lost(0, 2, I::Put(5))]);
}

#[test]
fn an_unknown_write_seen_then_unseen_fails() {
    must_fail(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        lost(0, 2, I::Put(2)),
        read(1, 10, 11, Some(2)),
        read(1, 12, 13, Some(1)),
    ]);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in [Some(1), Some(2)] {
        must_pass(&[
            op(0, 0, 1, I::Put(1), O::Ok),
            op(0, 2, 6, I::Put(2), O::Ok),
            read(1, 3, 4, seen),
        ]);
    }
    // Concurrent reads may see the old and new values in either real-time-overlapping order.
    must_pass(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(0, 2, 10, I::Put(2), O::Ok),
        read(1, 3, 6, Some(2)),
        read(2, 4, 7, Some(1)),
    ]);
}

#[test]
fn operations_touching_at_one_instant_are_concurrent() {
    must_pass(&[op(0, 0, 5, I::Put(1), O::Ok), read(1, 5, 6, None)]);
    must_pass(&[read(1, 0, 5, Some(1)), op(0, 5, 6, I::Put(1), O::Ok)]);
}

#[test]
fn an_unknown_write_that_never_appears_passes() {
    must_pass(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        lost(0, 2, I::Put(2)),
        read(1, 5, 6, Some(1)),
        read(1, 7, 8, Some(1)),
    ]);
    must_pass(&[
        lost(0, 0, I::Delete),
        lost(1, 0, I::Create(3)),
        read(1, 1, 2, None),
    ]);
}

#[test]
fn an_unknown_write_that_appears_later_passes() {
    must_pass(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        lost(0, 2, I::Put(2)),
        read(1, 3, 4, Some(1)),
        read(1, 10, 11, Some(2)),
        read(2, 100, 101, Some(2)),
    ]);
}

#[test]
fn create_conflict_races_pass() {
    // One of two concurrent creates wins; the winner's value is read.
    must_pass(&[
        op(0, 0, 5, I::Create(1), O::Ok),
        op(1, 1, 4, I::Create(2), O::Conflict),
        read(2, 6, 7, Some(1)),
    ]);
    // A create whose answer was lost, then a conflict proving it took effect.
    must_pass(&[
        lost(0, 0, I::Create(1)),
        op(1, 5, 6, I::Create(2), O::Conflict),
        read(2, 7, 8, Some(1)),
    ]);
    // A write whose answer was lost and whose value nobody read, proved to have happened only
    // by the conflict it caused (the checker's first try, without it, fails).
    must_pass(&[
        lost(0, 0, I::Put(1)),
        op(1, 5, 6, I::Create(2), O::Conflict),
        op(1, 7, 8, I::Delete, O::Ok),
        read(2, 9, 10, None),
    ]);
    // A create concurrent with a delete: conflict, then the delete.
    must_pass(&[
        op(0, 0, 1, I::Put(1), O::Ok),
        op(1, 2, 9, I::Delete, O::Ok),
        op(2, 3, 8, I::Create(2), O::Conflict),
        read(2, 10, 11, None),
    ]);
}

#[test]
fn an_empty_history_passes() {
    must_pass(&[]);
}
