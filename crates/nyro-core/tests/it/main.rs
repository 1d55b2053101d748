//! Integration tests of nyro-core.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod backup;
mod common;
mod compaction;
mod concurrency;
mod config;
mod crash;
mod damage;
mod decoding;
mod faults;
mod feed;
mod fixture;
mod hint_equivalence;
mod hints;
mod indexes;
mod live;
mod model;
mod model_support;
mod powercut;
mod query;
mod replica;
mod scrub_rate;
mod views;
