//! Queries (docs/CONTRACT section 6): filters on any path, evaluated on borrowed views;
//! index keys of a path; the planner, sort, cursors and projection.
//!
//! The semantics every part shares (paths through arrays, candidates, the total order of
//! values, index and sort keys) are written down once, in [`path`] and in each module's
//! documentation; a property test checks the evaluator against a plain model over JSON.

pub mod keys;
pub mod path;

pub use keys::{index_keys, key_of_value, key_of_view};
pub use nyro_index::{IndexKey, KeyRange};
pub use path::{Path, resolve};
