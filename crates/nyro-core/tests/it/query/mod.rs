//! Queries (CONTRACT section 6) through the embedded API: the contract's examples, and a
//! property test of whole queries (planner, indexes, sort, cursors, count) against a plain
//! evaluation of the filter over every document.

mod examples;
mod model;
mod support;
