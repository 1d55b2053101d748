//! [`Register`]: one NyroDB document seen as a register, absent or holding the value of the
//! write that produced it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::{Model, OperationOf};

/// The model of one document (one key): absent (`None`) or present with the value of the
/// write that produced it (`Some(v)`; the harness writes a unique `v` into each document body
/// so that a read tells which write it sees).
///
/// Answers of the wrong kind for an input (a `Read` answered `Ok`, a `Put` answered `NotFound`)
/// are impossible in every state: the recorder maps HTTP answers to these outputs exactly.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

/// What a client asked of one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegisterInput {
    /// `PUT` (replace or create): always succeeds.
    Put(u64),
    /// `POST` with a given `_id`, or one element of a `_bulk`: succeeds only if the document
    /// is absent; otherwise the answer is a conflict and nothing changes.
    Create(u64),
    /// `DELETE`: succeeds if present (then absent), "not found" if absent.
    Delete,
    /// `GET` (at the consistency level being checked).
    Read,
}

/// What the client was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegisterOutput {
    /// The write or delete succeeded.
    Ok,
    /// A `Create` found the document present (409).
    Conflict,
    /// A `Delete` found the document absent (404).
    NotFound,
    /// A read's answer: the value seen, or `None` for 404.
    Value(Option<u64>),
    /// The answer never came (or was ambiguous): any answer is possible. A `Put` then leaves
    /// its value, a `Create` creates the document if absent and changes nothing if present,
    /// a `Delete` leaves it absent, a `Read` changes nothing. Give unknown operations
    /// `ret: None` so the checker may also take them as never having happened.
    Unknown,
}

impl Model for Register {
    type State = Option<u64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(
        &self,
        state: &Option<u64>,
        input: &RegisterInput,
        output: &RegisterOutput,
    ) -> Option<Option<u64>> {
        use RegisterInput as I;
        use RegisterOutput as O;
        match (input, output) {
            (I::Put(v), O::Ok | O::Unknown) => Some(Some(*v)),
            (I::Create(v), O::Ok) => state.is_none().then_some(Some(*v)),
            (I::Create(_), O::Conflict) => state.is_some().then_some(*state),
            (I::Create(v), O::Unknown) => Some(state.or(Some(*v))),
            (I::Delete, O::Ok) => state.is_some().then_some(None),
            (I::Delete, O::NotFound) => state.is_none().then_some(None),
            (I::Delete, O::Unknown) => Some(None),
            (I::Read, O::Value(seen)) => (seen == state).then_some(*state),
            (I::Read, O::Unknown) => Some(*state),
            _ => None,
        }
    }

    /// Unknown writes whose value no read saw, and unknown reads.
    fn unobserved(&self, history: &[OperationOf<Self>]) -> Vec<usize> {
        let seen: HashSet<u64> = history
            .iter()
            .filter_map(|op| match op.output {
                RegisterOutput::Value(Some(v)) => Some(v),
                _ => None,
            })
            .collect();
        let unseen = |op: &OperationOf<Self>| match op.input {
            RegisterInput::Put(v) | RegisterInput::Create(v) => !seen.contains(&v),
            RegisterInput::Read => true,
            RegisterInput::Delete => false,
        };
        (0..history.len())
            .filter(|&i| !history[i].returned() && unseen(&history[i]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegisterInput as I;
    use RegisterOutput as O;

    fn step(state: Option<u64>, input: I, output: O) -> Option<Option<u64>> {
        Register.step(&state, &input, &output)
    }

    #[test]
    fn put_always_succeeds_and_replaces() {
        assert_eq!(step(None, I::Put(1), O::Ok), Some(Some(1)));
        assert_eq!(step(Some(2), I::Put(1), O::Ok), Some(Some(1)));
        assert_eq!(step(Some(2), I::Put(1), O::Unknown), Some(Some(1)));
        assert_eq!(step(None, I::Put(1), O::Conflict), None);
    }

    #[test]
    fn create_succeeds_only_when_absent() {
        assert_eq!(step(None, I::Create(1), O::Ok), Some(Some(1)));
        assert_eq!(step(Some(2), I::Create(1), O::Ok), None);
        assert_eq!(step(Some(2), I::Create(1), O::Conflict), Some(Some(2)));
        assert_eq!(step(None, I::Create(1), O::Conflict), None);
        assert_eq!(step(None, I::Create(1), O::Unknown), Some(Some(1)));
        assert_eq!(step(Some(2), I::Create(1), O::Unknown), Some(Some(2)));
    }

    #[test]
    fn delete_removes_or_reports_not_found() {
        assert_eq!(step(Some(1), I::Delete, O::Ok), Some(None));
        assert_eq!(step(None, I::Delete, O::Ok), None);
        assert_eq!(step(None, I::Delete, O::NotFound), Some(None));
        assert_eq!(step(Some(1), I::Delete, O::NotFound), None);
        assert_eq!(step(Some(1), I::Delete, O::Unknown), Some(None));
    }

    #[test]
    fn read_must_see_the_state() {
        assert_eq!(step(Some(1), I::Read, O::Value(Some(1))), Some(Some(1)));
        assert_eq!(step(Some(1), I::Read, O::Value(Some(2))), None);
        assert_eq!(step(None, I::Read, O::Value(None)), Some(None));
        assert_eq!(step(Some(1), I::Read, O::Value(None)), None);
        assert_eq!(step(Some(1), I::Read, O::Unknown), Some(Some(1)));
        assert_eq!(step(Some(1), I::Read, O::Ok), None);
    }

    #[test]
    fn unobserved_names_unknown_writes_nobody_read_and_unknown_reads() {
        use crate::model::Operation;
        let history = vec![
            Operation::unknown(0, 0, I::Put(1), O::Unknown),
            Operation::unknown(0, 0, I::Put(2), O::Unknown),
            Operation::unknown(0, 0, I::Create(3), O::Unknown),
            Operation::unknown(0, 0, I::Delete, O::Unknown),
            Operation::unknown(0, 0, I::Read, O::Unknown),
            Operation::new(0, 0, 1, I::Put(4), O::Ok),
            Operation::new(0, 0, 1, I::Read, O::Value(Some(2))),
        ];
        assert_eq!(Register.unobserved(&history), vec![0, 2, 4]);
    }
}
