//! What a check is given as a limit ([`Budget`]) and what it answers ([`Verdict`]).

use std::fmt::{self, Debug, Display};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::Operation;

/// How long a check may search before it gives up with [`Verdict::Unknown`].
///
/// Both limits apply; whichever is reached first ends the search. A step is one visit of an
/// entry of the history (trying one operation, or backtracking once); the clock is read every
/// 1,024 steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Wall-clock time.
    pub time: Duration,
    /// Search steps.
    pub steps: u64,
}

impl Budget {
    /// A limit on wall-clock time only.
    pub fn time(time: Duration) -> Self {
        Self {
            time,
            steps: u64::MAX,
        }
    }

    /// A limit on search steps only: the same history always gets the same verdict.
    pub fn steps(steps: u64) -> Self {
        Self {
            time: Duration::MAX,
            steps,
        }
    }
}

impl From<Duration> for Budget {
    fn from(time: Duration) -> Self {
        Self::time(time)
    }
}

/// The answer of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Some order of the operations, consistent with real time, is legal for the model.
    Linearizable,
    /// No such order exists; the detail says how far the search got.
    Violation(Violation),
    /// The budget ran out before the search finished.
    Unknown {
        /// Search steps taken.
        steps: u64,
    },
}

impl Verdict {
    /// Whether the history was proved linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The violation, if one was found.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Verdict::Violation(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a history is not linearizable, as far as the search can tell: the longest legal order it
/// found of a prefix of the history, and the operation whose answer arrived before any legal
/// order could include it.
///
/// Indices refer to the history that was checked (for [`crate::check_keys`], to that key's
/// operations in [`crate::KeyReport::operations`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The longest legal order found, in linearization order.
    pub prefix: Vec<usize>,
    /// The model's state after `prefix` (its `Debug` form).
    pub state: String,
    /// The operation that returned before it could be placed after `prefix`.
    pub stuck: usize,
    /// The other operations called before `stuck` returned and not in `prefix`: each of them
    /// is illegal in `state` or leads only to dead ends.
    pub pending: Vec<usize>,
}

impl Violation {
    /// A human-readable explanation of this violation against the history it was found in
    /// (listing the last 20 operations of the prefix).
    pub fn explain<'a, I: Debug, O: Debug>(
        &'a self,
        history: &'a [Operation<I, O>],
    ) -> impl Display + 'a {
        Explained {
            violation: self,
            history,
        }
    }
}

/// How many of the last operations of the prefix an explanation lists.
const PREFIX_SHOWN: usize = 20;

struct Explained<'a, I, O> {
    violation: &'a Violation,
    history: &'a [Operation<I, O>],
}

impl<I: Debug, O: Debug> Display for Explained<'_, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.violation;
        writeln!(
            f,
            "no legal order exists; the longest places {} of {} operations:",
            v.prefix.len(),
            self.history.len()
        )?;
        let shown = v.prefix.len().saturating_sub(PREFIX_SHOWN);
        if shown > 0 {
            writeln!(f, "    ... ({shown} earlier ones)")?;
        }
        for &i in &v.prefix[shown..] {
            writeln!(f, "    {}", OpLine(i, self.history.get(i)))?;
        }
        writeln!(f, "  state after them: {}", v.state)?;
        writeln!(
            f,
            "  then this operation returned but cannot be placed next:\n    {}",
            OpLine(v.stuck, self.history.get(v.stuck))
        )?;
        if v.pending.is_empty() {
            write!(f, "  and no other operation was pending")
        } else {
            write!(
                f,
                "  and each operation still pending is illegal in that state or leads only to \
                 dead ends:"
            )?;
            for &i in &v.pending {
                write!(f, "\n    {}", OpLine(i, self.history.get(i)))?;
            }
            Ok(())
        }
    }
}

/// One operation on one line: `#3 client 2 [10, 20] Put(7) -> Ok`.
pub(crate) struct OpLine<'a, I, O>(pub usize, pub Option<&'a Operation<I, O>>);

impl<I: Debug, O: Debug> Display for OpLine<'_, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(op) = self.1 else {
            return write!(f, "#{} (not in this history)", self.0);
        };
        write!(f, "#{} client {} [{}, ", self.0, op.client, op.call)?;
        match op.ret {
            Some(ret) => write!(f, "{ret}]")?,
            None => write!(f, "never returned)")?,
        }
        write!(f, " {:?} -> {:?}", op.input, op.output)
    }
}

/// A history the checker cannot take as it is.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// An operation returned before it was called.
    #[error(
        "operation #{index} (client {client}) returned at {ret}, before its call at {call}: \
         record the call time before sending and the return time after the answer, from one clock"
    )]
    ReturnBeforeCall {
        /// The operation's index in the (per-key) history.
        index: usize,
        /// Its client.
        client: u64,
        /// Its call time.
        call: u64,
        /// Its return time.
        ret: u64,
    },
    /// An error in one key's history.
    #[error("key {key}: {source}")]
    Key {
        /// The key (its `Debug` form).
        key: String,
        /// What is wrong with that key's history.
        #[source]
        source: Box<HistoryError>,
    },
}
