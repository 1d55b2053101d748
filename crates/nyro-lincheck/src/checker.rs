//! The search: Wing & Gong's algorithm as improved by Lowe (a cache of explored
//! configurations) and porcupine (entries in a linked list, lifted and unlifted in place).
//!
//! The search walks the linked list of call and return entries from the front. At a call
//! entry it tries to linearize that operation next: if the model accepts its answer in the
//! current state and the resulting (set of linearized operations, state) pair has not been
//! explored before (the `cache` module), it pushes the operation on a stack, lifts its entries
//! out of the list and restarts from the front. At a return entry it is stuck: that operation
//! returned without being linearized, so the last choice was wrong; it pops the stack,
//! unlifts, restores the state and goes on from the entry after the popped call. The history
//! is linearizable once every operation that returned is linearized (operations of unknown
//! outcome still pending then are taken as never having happened); it is not once the stack
//! is empty at a dead end.
//!
//! [`check`] runs the search twice at most: first without the operations the model's
//! [`Model::unobserved`] names (a legal order found then is a legal order of the whole
//! history), then, if that found none, on the whole history, with what is left of the budget.

use std::time::Instant;

use crate::cache::{Cache, OpSet};
use crate::list::{EntryList, NIL};
use crate::model::{Model, Operation, OperationOf};
use crate::verdict::{Budget, HistoryError, Verdict, Violation};

/// How often (in steps) the clock is read.
const CLOCK_EVERY: u64 = 1024;

/// Checks that `history` is linearizable with respect to `model`, searching for at most
/// `budget` (a [`std::time::Duration`] or a [`Budget`]).
///
/// # Errors
/// [`HistoryError::ReturnBeforeCall`] when an operation's return time is before its call time.
pub fn check<M: Model>(
    model: &M,
    history: &[OperationOf<M>],
    budget: impl Into<Budget>,
) -> Result<Verdict, HistoryError> {
    validate(history)?;
    let budget = budget.into();
    let started = Instant::now();
    // First try with the operations the model expects never happened left out: a legal
    // order of the rest is a legal order of the whole. Otherwise search the whole history.
    let mut left_out = vec![false; history.len()];
    for i in model.unobserved(history) {
        if let Some(slot) = left_out.get_mut(i)
            && history[i].ret.is_none()
        {
            *slot = true;
        }
    }
    let mut used = 0;
    if left_out.contains(&true) {
        let (verdict, steps) = Search::new(model, history, &left_out).run(budget, started);
        if verdict.is_linearizable() {
            return Ok(verdict);
        }
        used = steps;
    }
    let rest = Budget {
        time: budget.time.saturating_sub(started.elapsed()),
        steps: budget.steps.saturating_sub(used),
    };
    let (verdict, _) = Search::new(model, history, &[]).run(rest, Instant::now());
    Ok(match verdict {
        Verdict::Unknown { steps } => Verdict::Unknown {
            steps: steps + used,
        },
        verdict => verdict,
    })
}

fn validate<I, O>(history: &[Operation<I, O>]) -> Result<(), HistoryError> {
    for (index, op) in history.iter().enumerate() {
        if let Some(ret) = op.ret
            && ret < op.call
        {
            return Err(HistoryError::ReturnBeforeCall {
                index,
                client: op.client,
                call: op.call,
                ret,
            });
        }
    }
    Ok(())
}

struct Search<'a, M: Model> {
    model: &'a M,
    history: &'a [OperationOf<M>],
    list: EntryList,
    /// The linearized set and the explored (linearized set, state) pairs.
    cache: Cache<M::State>,
    linearized: OpSet,
    /// The linearized operations: (their call entry, the state before them).
    stack: Vec<(usize, M::State)>,
    state: M::State,
    /// Operations that returned and are not linearized yet.
    returned_left: usize,
    best: Option<Violation>,
}

impl<'a, M: Model> Search<'a, M> {
    /// A search of `history` without the operations marked in `left_out`.
    fn new(model: &'a M, history: &'a [OperationOf<M>], left_out: &[bool]) -> Self {
        Self {
            model,
            history,
            list: EntryList::new(history, left_out),
            cache: Cache::new(),
            linearized: OpSet::new(history.len()),
            stack: Vec::new(),
            state: model.init(),
            returned_left: history.iter().filter(|op| op.returned()).count(),
            best: None,
        }
    }

    /// The verdict, and the steps taken.
    fn run(mut self, budget: Budget, started: Instant) -> (Verdict, u64) {
        let mut steps: u64 = 0;
        let mut at = self.list.first();
        while self.returned_left > 0 {
            steps += 1;
            if steps > budget.steps
                || (steps.is_multiple_of(CLOCK_EVERY) && started.elapsed() > budget.time)
            {
                return (Verdict::Unknown { steps: steps - 1 }, steps - 1);
            }
            // Some returned operation is not linearized, so its return entry is still linked
            // and the walk reaches it before the end of the list.
            debug_assert_ne!(at, NIL, "walked past a pending return entry");
            if at != NIL {
                let entry = self.list.get(at);
                if entry.is_call() {
                    at = if self.try_linearize(at) {
                        self.list.first()
                    } else {
                        entry.next
                    };
                    continue;
                }
                // The return entry of an operation not linearized: a dead end.
                self.note_dead_end(at);
            }
            let Some((call, before)) = self.stack.pop() else {
                // `note_dead_end` recorded the first dead end, so `best` is set here.
                let violation = self.best.take().unwrap_or_else(|| Violation {
                    prefix: Vec::new(),
                    state: format!("{:?}", self.state),
                    stuck: usize::MAX,
                    pending: Vec::new(),
                });
                return (Verdict::Violation(violation), steps);
            };
            let op = self.list.get(call).op;
            self.state = before;
            self.linearized.remove(op);
            if self.history[op].returned() {
                self.returned_left += 1;
            }
            self.list.unlift(call);
            at = self.list.get(call).next;
        }
        (Verdict::Linearizable, steps)
    }

    /// Linearizes the operation of call entry `at` next if its answer is legal in the current
    /// state and that leads somewhere not explored yet.
    fn try_linearize(&mut self, at: usize) -> bool {
        let op_index = self.list.get(at).op;
        let op = &self.history[op_index];
        let Some(next) = self.model.step(&self.state, &op.input, &op.output) else {
            return false;
        };
        self.linearized.insert(op_index);
        if !self.cache.insert(&self.linearized, &next) {
            self.linearized.remove(op_index);
            return false;
        }
        let before = std::mem::replace(&mut self.state, next);
        self.stack.push((at, before));
        self.list.lift(at);
        if op.returned() {
            self.returned_left -= 1;
        }
        true
    }

    /// Remembers the deepest dead end, to explain a violation.
    fn note_dead_end(&mut self, at: usize) {
        if self
            .best
            .as_ref()
            .is_some_and(|b| b.prefix.len() >= self.stack.len())
        {
            return;
        }
        let stuck = self.list.get(at).op;
        let mut pending = self.list.calls_before(at);
        pending.retain(|&op| op != stuck);
        self.best = Some(Violation {
            prefix: self
                .stack
                .iter()
                .map(|&(call, _)| self.list.get(call).op)
                .collect(),
            state: format!("{:?}", self.state),
            stuck,
            pending,
        });
    }
}
