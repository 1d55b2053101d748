//! Integration and property tests of `nyro-storage`, built as one test binary.
//!
//! - `append_read`: appending, reading, sealing, reopening and iterating a healthy log.
//! - `proptests`: a model test over random appends, syncs, seals and reopens.
//! - `recovery`: torn tails at every cut offset and cut-short segment headers.
//! - `bitflips`: single-bit damage is never returned as data and is named by open and verify.
//! - `verify`: `verify` on clean and damaged logs, changing nothing.
//! - `locking`: one owner of a data directory at a time.
//! - `faults`: failed writes, fdatasyncs and every other file effect of the writer and of
//!   open, through the `FaultInjector` seam.
//! - `hints`: the hint decoder (exact round trip, random and damaged bytes) and failed hint
//!   writes.
//! - `compaction`: rewriting and retiring segments, compactions stopped at every step, and
//!   each of their file effects failing.
//! - `repair`: `repair` on every kind of damage, healthy and held directories, crashes.
//! - `raft_frames`: Raft entry and truncate frames (format 3) through every reader.
//! - `raft_state`: the Raft state files, their failed stores and their damage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod active_hints;
mod append_read;
mod bitflips;
mod compaction;
mod faults;
mod hints;
mod locking;
mod proptests;
mod raft_frames;
mod raft_state;
mod recovery;
mod repair;
mod verify;
