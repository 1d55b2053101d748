//! What the checker is given: a sequential [`Model`] of the object and a history of
//! [`Operation`]s observed by clients.

use std::fmt::Debug;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// A sequential specification: the states an object can be in and the legal steps between them.
///
/// The checker asks only one question of a model: "in this state, could `input` have answered
/// `output`, and if so what is the state afterwards?". A model must be deterministic: the
/// same state, input and output always give the same answer.
pub trait Model {
    /// The object's state. `Eq + Hash` because the checker caches the (linearized set, state)
    /// pairs it has already explored.
    type State: Clone + Eq + Hash + Debug;
    /// What a client asked.
    type Input: Debug;
    /// What the client was answered.
    type Output: Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` answered `output` in `state`, or `None` if that answer is
    /// impossible there.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// Operations of unknown outcome in `history` that probably never happened (a write whose
    /// value no read saw, say). The checker first searches without them — a legal order of
    /// the rest is a legal order of the whole, and the search is much smaller when many
    /// outcomes are unknown — and searches the whole history only if that fails. A hint
    /// only: the verdict is exact whatever it names. Indices of operations that returned are
    /// ignored. By default, none.
    fn unobserved(&self, history: &[OperationOf<Self>]) -> Vec<usize> {
        let _ = history;
        Vec::new()
    }
}

/// An operation on `M`'s inputs and outputs.
pub type OperationOf<M> = Operation<<M as Model>::Input, <M as Model>::Output>;

/// One operation as a client saw it: when it was called, when (and whether) it returned, what
/// it asked and what it was answered.
///
/// Times are in any unit the recorder chooses (nanoseconds since the run started, say), taken
/// from one clock for the whole history: `call` just before the request is sent, `ret` just
/// after the answer arrived. An operation whose answer never came (a timeout, a connection
/// reset after the request was sent) has `ret: None`: it may have taken effect at any point
/// after its call, or never. Operations that certainly did not take effect (refused before
/// they were sent) should not be recorded at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation<I, O> {
    /// The client that issued it; used only to explain a violation.
    pub client: u64,
    /// When the call was made.
    pub call: u64,
    /// When the answer arrived; `None` when the outcome is unknown.
    pub ret: Option<u64>,
    /// What was asked.
    pub input: I,
    /// What was answered (for an unknown outcome, whatever the model takes as "unknown").
    pub output: O,
}

impl<I, O> Operation<I, O> {
    /// An operation that returned at `ret`.
    pub fn new(client: u64, call: u64, ret: u64, input: I, output: O) -> Self {
        Self {
            client,
            call,
            ret: Some(ret),
            input,
            output,
        }
    }

    /// An operation whose outcome is unknown: it may take effect at any point after `call`,
    /// or never.
    pub fn unknown(client: u64, call: u64, input: I, output: O) -> Self {
        Self {
            client,
            call,
            ret: None,
            input,
            output,
        }
    }

    /// Whether the answer arrived.
    pub fn returned(&self) -> bool {
        self.ret.is_some()
    }
}
