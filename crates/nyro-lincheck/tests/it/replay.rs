//! Saving a failing history as JSON, replaying it, and what a human reads about it.

use std::time::Duration;

use nyro_lincheck::{
    Budget, HistoryError, Operation, Register, RegisterInput as I, RegisterOutput as O, Report,
    Verdict, check, check_keys, history_lines,
};

use crate::sim::RegisterOp;

fn keyed_failing_history() -> Vec<(u64, RegisterOp)> {
    vec![
        (7, Operation::new(1, 100, 110, I::Put(1), O::Ok)),
        (8, Operation::new(2, 100, 130, I::Put(5), O::Ok)),
        (7, Operation::new(1, 120, 125, I::Put(2), O::Ok)),
        (7, Operation::unknown(3, 121, I::Delete, O::Unknown)),
        (7, Operation::new(2, 140, 150, I::Read, O::Value(Some(1)))),
        (8, Operation::new(3, 140, 150, I::Read, O::Value(Some(5)))),
    ]
}

#[test]
fn a_saved_history_replays_to_the_same_verdict() -> anyhow::Result<()> {
    let history = keyed_failing_history();
    let json = serde_json::to_string_pretty(&history)?;
    let loaded: Vec<(u64, RegisterOp)> = serde_json::from_str(&json)?;
    assert_eq!(loaded, history);
    let report = check_keys(&Register, loaded, Duration::from_secs(5))?;
    let again = check_keys(&Register, history, Duration::from_secs(5))?;
    assert_eq!(report, again);
    // The report itself round-trips too.
    let saved: Report<u64, I, O> = serde_json::from_str(&serde_json::to_string(&report)?)?;
    assert_eq!(saved, report);
    Ok(())
}

#[test]
fn the_report_tells_a_human_which_key_failed_and_why() -> anyhow::Result<()> {
    let report = check_keys(&Register, keyed_failing_history(), Duration::from_secs(5))?;
    let totals = report.totals();
    assert_eq!(
        (totals.keys, totals.operations, totals.unknown_outcomes),
        (2, 6, 1)
    );
    assert_eq!(
        (totals.linearizable, totals.violations, totals.timeouts),
        (1, 1, 0)
    );
    assert!(!report.is_linearizable());
    let text = report.to_string();
    println!("{text}");
    assert!(
        text.starts_with("2 keys, 6 operations (1 of unknown outcome)"),
        "{text}"
    );
    assert!(
        text.contains("key 7: NOT linearizable (4 operations)"),
        "{text}"
    );
    assert!(
        !text.contains("key 8"),
        "only violations are listed: {text}"
    );
    // The stale read is the operation that cannot be placed.
    assert!(
        text.contains("#3 client 2 [140, 150] Read -> Value(Some(1))"),
        "{text}"
    );
    assert!(
        text.contains("#2 client 3 [121, never returned) Delete -> Unknown"),
        "{text}"
    );
    let Some(key) = report.violations().next() else {
        panic!("no violation listed");
    };
    let lines = history_lines(&key.operations);
    assert_eq!(lines.lines().count(), 4);
    assert!(
        lines.starts_with("#0 client 1 [100, 110] Put(1) -> Ok"),
        "{lines}"
    );
    Ok(())
}

#[test]
fn a_return_before_its_call_is_refused_with_the_key() {
    let history = vec![(3u64, Operation::new(9, 50, 40, I::Read, O::Value(None)))];
    let err = check_keys(&Register, history, Duration::from_secs(1)).err();
    let Some(err @ HistoryError::Key { .. }) = err else {
        panic!("expected a key error, got {err:?}");
    };
    let text = err.to_string();
    assert!(text.contains("key 3") && text.contains("returned at 40, before its call at 50"));
}

#[test]
fn a_spent_budget_gives_unknown_and_is_counted() -> anyhow::Result<()> {
    let history = crate::sim::simulate(1, 4, 50, 0);
    assert!(matches!(
        check(&Register, &history, Budget::steps(3))?,
        Verdict::Unknown { .. }
    ));
    let keyed = history.into_iter().map(|op| (1u64, op));
    let report = check_keys(&Register, keyed, Budget::steps(3))?;
    assert_eq!(report.totals().timeouts, 1);
    assert!(!report.is_linearizable());
    assert!(
        report
            .to_string()
            .contains("key 1: not decided within the budget")
    );
    Ok(())
}

#[test]
fn a_long_prefix_is_shortened_in_the_explanation() -> anyhow::Result<()> {
    let mut history = crate::sim::simulate(4, 3, 200, 0);
    let last_call = history
        .iter()
        .map(|op| op.ret.unwrap_or(op.call))
        .max()
        .unwrap_or(0);
    history.push(Operation::new(
        9,
        last_call + 1,
        last_call + 2,
        I::Read,
        O::Value(Some(0)),
    ));
    let Verdict::Violation(violation) = check(&Register, &history, Duration::from_secs(10))? else {
        panic!("a read of a value never written passed");
    };
    assert_eq!(violation.stuck, history.len() - 1);
    assert!(
        violation.prefix.len() >= 200,
        "every earlier operation is placed"
    );
    assert!(!violation.pending.contains(&violation.stuck));
    let text = violation.explain(&history).to_string();
    println!("{text}");
    assert!(text.contains(&format!(
        "... ({} earlier ones)",
        violation.prefix.len() - 20
    )));
    assert!(text.lines().count() < 30, "{text}");
    Ok(())
}
