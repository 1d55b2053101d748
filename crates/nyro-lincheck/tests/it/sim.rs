//! Histories made from real sequential executions of the register: clients issue operations
//! over intervals of time; each operation takes effect at one random point inside its interval
//! (its linearization point) and is answered what the register answers there. Such a history
//! is linearizable by construction.

use nyro_lincheck::{Operation, RegisterInput, RegisterOutput};

/// A small deterministic random source (xorshift64*), so that a seed names a history.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The register's answer to `input` in `state`, and the state after it.
pub fn execute(state: Option<u64>, input: RegisterInput) -> (RegisterOutput, Option<u64>) {
    use RegisterInput as I;
    use RegisterOutput as O;
    match input {
        I::Put(v) => (O::Ok, Some(v)),
        I::Create(v) if state.is_none() => (O::Ok, Some(v)),
        I::Create(_) => (O::Conflict, state),
        I::Delete if state.is_some() => (O::Ok, None),
        I::Delete => (O::NotFound, None),
        I::Read => (O::Value(state), state),
    }
}

pub type RegisterOp = Operation<RegisterInput, RegisterOutput>;

/// `ops` operations by `clients` clients on one key; `unknown_percent` of the writes lose
/// their answer (half of those took effect, half never did).
pub fn simulate(seed: u64, clients: u64, ops: usize, unknown_percent: u64) -> Vec<RegisterOp> {
    let mut rng = Rng::new(seed);
    let mut clock = vec![0u64; clients as usize];
    let mut value = 0u64;
    // (linearization point, applied, operation)
    let mut planned: Vec<(u64, bool, RegisterOp)> = Vec::with_capacity(ops);
    for _ in 0..ops {
        let Some((client, &call)) = clock.iter().enumerate().min_by_key(|&(_, t)| *t) else {
            break;
        };
        let duration = 1 + rng.below(40);
        let ret = call + duration;
        let point = call + rng.below(duration + 1);
        value += 1;
        let input = match rng.below(10) {
            0..=2 => RegisterInput::Put(value),
            3 | 4 => RegisterInput::Create(value),
            5 => RegisterInput::Delete,
            _ => RegisterInput::Read,
        };
        let write = input != RegisterInput::Read;
        let unknown = write && rng.below(100) < unknown_percent;
        let applied = !unknown || rng.below(2) == 0;
        let op = Operation {
            client: client as u64,
            call,
            ret: (!unknown).then_some(ret),
            input,
            output: RegisterOutput::Unknown,
        };
        planned.push((point, applied, op));
        clock[client] = ret + rng.below(5);
    }
    planned.sort_by_key(|&(point, ..)| point);
    let mut state = None;
    let mut history = Vec::with_capacity(planned.len());
    for (_, applied, mut op) in planned {
        if applied {
            let (output, next) = execute(state, op.input);
            state = next;
            if op.ret.is_some() {
                op.output = output;
            }
        }
        history.push(op);
    }
    // Present them in call order, as a recorder would.
    history.sort_by_key(|op| op.call);
    history
}
