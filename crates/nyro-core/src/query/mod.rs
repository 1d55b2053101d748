//! Queries (docs/CONTRACT section 6): filters on any path, evaluated on borrowed views;
//! index keys of a path; the planner, sort, cursors and projection.
//!
//! The semantics every part shares (paths through arrays, candidates, the total order of
//! values, index and sort keys) are written down once, in [`path`] and in each module's
//! documentation; a property test checks the evaluator against a plain model over JSON.

mod build;
mod eval;
mod filter;
#[cfg(test)]
mod model_tests;
pub mod order;
pub mod path;
mod project;

pub use build::Field;
pub use filter::{Condition, Filter};
pub use order::{SortKey, compare_view_value, compare_views, kind_rank, sort_key};
pub use path::{Path, resolve};
pub use project::Projection;
