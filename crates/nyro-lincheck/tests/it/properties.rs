//! The checker against the brute-force checker on random small histories, and on histories
//! from real executions, which must always pass.

use std::time::Duration;

use nyro_lincheck::{
    Model, Operation, Register, RegisterInput as I, RegisterOutput as O, Verdict, check, check_keys,
};
use proptest::prelude::*;

use crate::brute;
use crate::sim::{RegisterOp, simulate};

fn input() -> impl Strategy<Value = I> {
    prop_oneof![
        (1..=3u64).prop_map(I::Put),
        (1..=3u64).prop_map(I::Create),
        Just(I::Delete),
        Just(I::Read),
    ]
}

fn any_output() -> impl Strategy<Value = O> {
    prop_oneof![
        Just(O::Ok),
        Just(O::Conflict),
        Just(O::NotFound),
        prop::option::of(1..=3u64).prop_map(O::Value),
        Just(O::Unknown),
    ]
}

/// Mostly an answer of the right kind for the input, sometimes any answer at all.
fn output_for(input: I) -> BoxedStrategy<O> {
    let fitting = match input {
        I::Put(_) => Just(O::Ok).boxed(),
        I::Create(_) => prop_oneof![Just(O::Ok), Just(O::Conflict)].boxed(),
        I::Delete => prop_oneof![Just(O::Ok), Just(O::NotFound)].boxed(),
        I::Read => prop::option::of(1..=3u64).prop_map(O::Value).boxed(),
    };
    prop_oneof![9 => fitting, 1 => any_output()].boxed()
}

fn operation() -> impl Strategy<Value = RegisterOp> {
    (
        0..4u64,
        0..16u64,
        0..8u64,
        prop::bool::weighted(0.2),
        input(),
    )
        .prop_flat_map(|(client, call, length, unknown, input)| {
            output_for(input).prop_map(move |output| Operation {
                client,
                call,
                ret: (!unknown).then_some(call + length),
                input,
                output: if unknown { O::Unknown } else { output },
            })
        })
}

fn linearizable(history: &[RegisterOp]) -> bool {
    verdict_kind(&Register, history)
}

/// A model without its `unobserved` hint: the checker searches the whole history at once.
struct NoHint<M>(M);

impl<M: Model> Model for NoHint<M> {
    type State = M::State;
    type Input = M::Input;
    type Output = M::Output;

    fn init(&self) -> M::State {
        self.0.init()
    }

    fn step(&self, state: &M::State, input: &M::Input, output: &M::Output) -> Option<M::State> {
        self.0.step(state, input, output)
    }
}

fn verdict_kind<M: Model<Input = I, Output = O>>(model: &M, history: &[RegisterOp]) -> bool {
    match check(model, history, Duration::from_secs(10)) {
        Ok(Verdict::Linearizable) => true,
        Ok(Verdict::Violation(_)) => false,
        other => panic!("no verdict on a small history: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The hint changes how fast a verdict comes, never the verdict.
    #[test]
    fn the_unobserved_hint_never_changes_the_verdict(
        history in prop::collection::vec(operation(), 0..=12),
    ) {
        prop_assert_eq!(verdict_kind(&Register, &history), verdict_kind(&NoHint(Register), &history));
    }

    #[test]
    fn agrees_with_brute_force(history in prop::collection::vec(operation(), 0..=7)) {
        prop_assert_eq!(linearizable(&history), brute::linearizable(&Register, &history));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn small_real_executions_pass_both_checkers(seed in any::<u64>(), clients in 1..4u64) {
        let history = simulate(seed, clients, 7, 30);
        prop_assert!(linearizable(&history), "{:#?}", history);
        prop_assert!(brute::linearizable(&Register, &history));
    }

    #[test]
    fn real_executions_pass(seed in any::<u64>(), clients in 1..9u64, ops in 1..200usize) {
        let history = simulate(seed, clients, ops, 10);
        prop_assert!(linearizable(&history), "{:#?}", history);
    }

    /// Keys are independent: a keyed history passes exactly when each key's part does.
    #[test]
    fn per_key_verdicts_match_separate_checks(
        parts in prop::collection::vec(prop::collection::vec(operation(), 0..=5), 1..4),
    ) {
        let keyed = parts
            .iter()
            .enumerate()
            .flat_map(|(key, ops)| ops.iter().map(move |op| (key as u64, op.clone())));
        let report = match check_keys(&Register, keyed, Duration::from_secs(10)) {
            Ok(report) => report,
            Err(e) => panic!("{e}"),
        };
        let nonempty: Vec<&Vec<RegisterOp>> = parts.iter().filter(|p| !p.is_empty()).collect();
        prop_assert_eq!(report.totals().keys, nonempty.len());
        prop_assert_eq!(report.totals().operations, parts.iter().map(Vec::len).sum::<usize>());
        for key in &report.keys {
            let Some(ops) = parts.get(key.key as usize) else {
                panic!("a key that was not in the history: {}", key.key);
            };
            prop_assert_eq!(&key.operations, ops);
            prop_assert_eq!(key.verdict.is_linearizable(), linearizable(ops));
        }
        prop_assert_eq!(report.is_linearizable(), parts.iter().all(|p| linearizable(p)));
    }
}

/// A real execution with one read changed to a value nobody wrote must fail.
#[test]
fn a_corrupted_real_execution_fails() {
    for seed in 0..50 {
        let mut history = simulate(seed, 4, 100, 5);
        let Some(read) = history
            .iter_mut()
            .rev()
            .find(|op| op.input == I::Read && op.returned())
        else {
            continue;
        };
        read.output = O::Value(Some(u64::MAX));
        assert!(!linearizable(&history), "seed {seed}");
    }
}
