//! The per-key front end: linearizability is compositional (Herlihy & Wing's locality), so a
//! history of independent keys is linearizable exactly when each key's sub-history is, and
//! each key is checked on its own.

use std::collections::BTreeMap;
use std::fmt::{self, Debug, Display};

use serde::{Deserialize, Serialize};

use crate::checker::check;
use crate::model::{Model, Operation, OperationOf};
use crate::verdict::{Budget, HistoryError, OpLine, Verdict};

/// One key's operations and verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReport<K, I, O> {
    /// The key.
    pub key: K,
    /// Its operations, in the order they came in the history (violation indices refer here).
    pub operations: Vec<Operation<I, O>>,
    /// Its verdict.
    pub verdict: Verdict,
}

/// The verdicts of all keys of a history, in key order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report<K, I, O> {
    /// One report per key.
    pub keys: Vec<KeyReport<K, I, O>>,
}

/// Counts over a [`Report`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked, over all keys.
    pub operations: usize,
    /// Operations whose outcome is unknown, over all keys.
    pub unknown_outcomes: usize,
    /// Keys proved linearizable.
    pub linearizable: usize,
    /// Keys with a violation.
    pub violations: usize,
    /// Keys whose check ran out of budget.
    pub timeouts: usize,
}

/// Checks each key's operations of `history` separately, each for at most `budget_per_key`.
///
/// # Errors
/// [`HistoryError::Key`] naming the first key (in key order) whose history is malformed.
pub fn check_keys<M, K>(
    model: &M,
    history: impl IntoIterator<Item = (K, OperationOf<M>)>,
    budget_per_key: impl Into<Budget>,
) -> Result<Report<K, M::Input, M::Output>, HistoryError>
where
    M: Model,
    K: Ord + Debug,
{
    let budget = budget_per_key.into();
    let mut by_key: BTreeMap<K, Vec<OperationOf<M>>> = BTreeMap::new();
    for (key, op) in history {
        by_key.entry(key).or_default().push(op);
    }
    let mut keys = Vec::with_capacity(by_key.len());
    for (key, operations) in by_key {
        let verdict = check(model, &operations, budget).map_err(|source| HistoryError::Key {
            key: format!("{key:?}"),
            source: Box::new(source),
        })?;
        keys.push(KeyReport {
            key,
            operations,
            verdict,
        });
    }
    Ok(Report { keys })
}

impl<K, I, O> Report<K, I, O> {
    /// Counts of keys, operations and verdicts.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            keys: self.keys.len(),
            ..Totals::default()
        };
        for key in &self.keys {
            totals.operations += key.operations.len();
            totals.unknown_outcomes += key.operations.iter().filter(|op| !op.returned()).count();
            match key.verdict {
                Verdict::Linearizable => totals.linearizable += 1,
                Verdict::Violation(_) => totals.violations += 1,
                Verdict::Unknown { .. } => totals.timeouts += 1,
            }
        }
        totals
    }

    /// Whether every key was proved linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.keys.iter().all(|k| k.verdict.is_linearizable())
    }

    /// The keys with a violation.
    pub fn violations(&self) -> impl Iterator<Item = &KeyReport<K, I, O>> {
        self.keys.iter().filter(|k| k.verdict.violation().is_some())
    }

    /// The keys whose check ran out of budget.
    pub fn timeouts(&self) -> impl Iterator<Item = &KeyReport<K, I, O>> {
        self.keys
            .iter()
            .filter(|k| matches!(k.verdict, Verdict::Unknown { .. }))
    }
}

impl Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys, {} operations ({} of unknown outcome): {} linearizable, {} violations, \
             {} out of budget",
            self.keys,
            self.operations,
            self.unknown_outcomes,
            self.linearizable,
            self.violations,
            self.timeouts
        )
    }
}

impl<K: Debug, I: Debug, O: Debug> Display for KeyReport<K, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.operations.len();
        match &self.verdict {
            Verdict::Linearizable => write!(f, "key {:?}: linearizable ({n} operations)", self.key),
            Verdict::Unknown { steps } => write!(
                f,
                "key {:?}: not decided within the budget ({n} operations, {steps} search steps)",
                self.key
            ),
            Verdict::Violation(v) => {
                writeln!(f, "key {:?}: NOT linearizable ({n} operations)", self.key)?;
                write!(f, "  {}", v.explain(&self.operations))
            }
        }
    }
}

impl<K: Debug, I: Debug, O: Debug> Display for Report<K, I, O> {
    /// The totals, then every violation in full, then the keys out of budget.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.totals())?;
        for key in self.violations() {
            write!(f, "\n{key}")?;
        }
        for key in self.timeouts() {
            write!(f, "\n{key}")?;
        }
        Ok(())
    }
}

/// Lists a key's whole history, one operation a line, in call order: for a violation report
/// that wants the full context, not only the operations the search got stuck on.
pub fn history_lines<I: Debug, O: Debug>(operations: &[Operation<I, O>]) -> String {
    let mut order: Vec<usize> = (0..operations.len()).collect();
    order.sort_by_key(|&i| (operations[i].call, i));
    order
        .into_iter()
        .map(|i| format!("{}\n", OpLine(i, operations.get(i))))
        .collect()
}
