//! Schedules written by hand from what the seeded runs found.

use std::time::Duration;

use super::schedule::{Request, Schedule, Step};
use super::{TICK_MS, play};

/// Found by seed 123 of `NYRODB_SIM_SEEDS=1000`: a write the leader refuses while it
/// prepares a batch (a `POST` with an `_id` that exists: 409; a `DELETE` of a document that
/// does not: 404) is answered at once, against the applied state plus the earlier writes of
/// the same batch, before that batch's entry is committed. Here the leader is cut off, a PUT
/// and then a POST of the same `_id` reach it in one batch: the POST is answered 409 because
/// of the PUT, which never commits (a new leader is elected on the other side and the old
/// leader's entry is overwritten at the heal); the document never existed, yet a client was
/// told it did. Fixed: `Database::prepare_proposal` keeps refused writes with the
/// proposal, answered with its entry (503 when the entry is void), and a batch of refusals
/// alone goes through an empty entry.
#[test]
fn sim_a_conflict_answered_from_an_uncommitted_write_of_the_same_batch() {
    let key = 1;
    let steps = vec![
        Step::Wait(Duration::from_secs(2)),
        Step::IsolateLeader,
        Step::LeaderOp {
            key,
            request: Request::Put(1),
        },
        Step::LeaderOp {
            key,
            request: Request::Create(2),
        },
        Step::Wait(Duration::from_secs(3)),
        Step::Heal,
        Step::Wait(Duration::from_secs(1)),
    ];
    let schedule = Schedule {
        seed: 123,
        nodes: 3,
        snapshot_every: 100,
        keys: 1,
        steps,
        local_as_linearizable: false,
    };
    let outcome = play(&schedule, Duration::from_millis(TICK_MS));
    if let Ok(outcome) = &outcome {
        println!("{}", outcome.history);
    }
    assert!(outcome.is_ok(), "{}", outcome.err().unwrap_or_default());
}
