//! Integration tests of nyro-lincheck: hand-written histories that must fail or pass, a
//! property test against an independent brute-force checker, histories generated from real
//! sequential executions (which must pass), serde replay, and a size check of the search.

mod brute;
mod histories;
mod perf;
mod properties;
mod replay;
mod sim;
