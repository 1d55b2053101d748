//! Integration tests of nyro-batch's group-commit writer, against a real log in a temporary
//! directory, with faults injected through `nyro_storage::FaultInjector`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod basics;
mod faults;
mod group_commit;
mod interleave;
mod leader;
mod lifecycle;
mod model;
mod queue;
