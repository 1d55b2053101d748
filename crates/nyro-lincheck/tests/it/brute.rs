//! An independent, deliberately naive checker: tries every order of the operations that
//! respects real time, with operations of unknown outcome optionally left out. Exponential;
//! for histories of a handful of operations only.

use nyro_lincheck::{Model, Operation};

/// Whether some legal order of `history` exists.
pub fn linearizable<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> bool {
    let mut remaining: Vec<usize> = (0..history.len()).collect();
    search(model, history, &mut remaining, &model.init())
}

fn search<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    remaining: &mut Vec<usize>,
    state: &M::State,
) -> bool {
    // Whatever is left never returned: those operations may never have happened.
    if remaining.iter().all(|&i| history[i].ret.is_none()) {
        return true;
    }
    for k in 0..remaining.len() {
        let x = remaining[k];
        // `x` may come next unless another operation still to place returned before it was
        // called (strictly: touching intervals are concurrent).
        let must_wait = remaining
            .iter()
            .any(|&y| y != x && history[y].ret.is_some_and(|ret| ret < history[x].call));
        if must_wait {
            continue;
        }
        let op = &history[x];
        let Some(next) = model.step(state, &op.input, &op.output) else {
            continue;
        };
        remaining.remove(k);
        let found = search(model, history, remaining, &next);
        remaining.insert(k, x);
        if found {
            return true;
        }
    }
    false
}
