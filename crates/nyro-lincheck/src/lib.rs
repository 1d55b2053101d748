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
