//! nyro-lincheck: a linearizability checker for the histories NyroDB's chaos harness records.
//!
//! A history is a list of [`Operation`]s — who asked what, when the call was made, when (and
//! whether) the answer came, and what it was. [`check`] decides whether some total order of
//! the operations is legal for a sequential [`Model`] and respects real time (an operation
//! that returned before another was called comes first). It implements Wing & Gong's search
//! with Lowe's cache of explored configurations and porcupine's linked-list representation:
//! see the `checker` module for the algorithm.
//!
//! Main types:
//! - [`Model`]: the sequential specification; [`Register`] is NyroDB's document model
//!   (absent or holding the value of the write that produced it; [`RegisterInput`] covers
//!   PUT, POST with an id and `_bulk` elements, DELETE and reads; [`RegisterOutput`] the
//!   answers, including [`RegisterOutput::Unknown`]).
//! - [`Operation`]: one client operation; `ret: None` marks an unknown outcome.
//! - [`Verdict`]: [`Verdict::Linearizable`], [`Verdict::Violation`] (a [`Violation`]: the
//!   longest legal prefix found and the operation that could not be placed after it), or
//!   [`Verdict::Unknown`] when the [`Budget`] ran out.
//! - [`check_keys`]: splits a keyed history per key and checks each (linearizability is
//!   compositional), giving a [`Report`] of per-key [`KeyReport`]s and [`Totals`]; their
//!   `Display` is written for a human reading why a key failed.
//!
//! Invariants and conventions:
//! - Times come from one clock; an operation's return time is not before its call time
//!   (else [`HistoryError::ReturnBeforeCall`]). At equal times a call sorts before a return,
//!   so operations that touch at one instant are concurrent.
//! - An operation of unknown outcome may take effect at any point after its call, or never.
//! - The verdict is exact: `Linearizable` and `Violation` are proofs, never guesses; only
//!   `Unknown` says the search was cut short.
//! - Every public history and report type is serde-serializable, so a failing history can be
//!   saved as JSON and replayed in a test.
//! - Each pending operation of unknown outcome can double the configurations to explore after
//!   it. [`Model::unobserved`] lets a model name those that probably never happened (for
//!   [`Register`], unknown writes whose value no read saw); the checker first searches without
//!   them, which finds a legal order of a correct history quickly even when most writes have
//!   unknown outcomes. Proving a *violation* in a long one-key history with many unknown
//!   outcomes can still exhaust the budget: the verdict is then `Unknown`, never a guess.
//!   Keep per-key histories short (spread the operations over many keys).
//!
//! # Example
//!
//! A history is a list of (key, operation) pairs, in any order:
//!
//! ```
//! use std::time::Duration;
//! use nyro_lincheck::{Operation, Register, RegisterInput as I, RegisterOutput as O, check_keys};
//!
//! let history = vec![
//!     // client 1 wrote 1 to document 7 between times 0 and 10, and was answered Ok;
//!     (7u64, Operation::new(1, 0, 10, I::Put(1), O::Ok)),
//!     // client 2's write of 2 timed out: it may have happened at any time after 5, or never;
//!     (7, Operation::unknown(2, 5, I::Put(2), O::Unknown)),
//!     // client 3 then read 2, then 2 again.
//!     (7, Operation::new(3, 20, 30, I::Read, O::Value(Some(2)))),
//!     (7, Operation::new(3, 31, 40, I::Read, O::Value(Some(2)))),
//! ];
//! let report = check_keys(&Register, history.clone(), Duration::from_secs(10))?;
//! assert!(report.is_linearizable(), "{report}");
//!
//! // Reading 1 after having read 2 is going back in time.
//! let mut stale = history;
//! stale.push((7, Operation::new(3, 41, 50, I::Read, O::Value(Some(1)))));
//! let report = check_keys(&Register, stale, Duration::from_secs(10))?;
//! assert_eq!(report.totals().violations, 1);
//! println!("{report}"); // which key, which operations, why
//! # Ok::<(), nyro_lincheck::HistoryError>(())
//! ```

mod cache;
mod checker;
mod keys;
mod list;
mod model;
mod register;
mod verdict;

pub use checker::check;
pub use keys::{KeyReport, Report, Totals, check_keys, history_lines};
pub use model::{Model, Operation, OperationOf};
pub use register::{Register, RegisterInput, RegisterOutput};
pub use verdict::{Budget, HistoryError, Verdict, Violation};
