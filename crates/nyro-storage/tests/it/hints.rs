//! Hint files: what `write_hint` writes, `check_hint` (the decoder open uses) reads back
//! exactly; no bytes make the decoder panic, and damaged, cut or foreign hints are never
//! trusted (a property test; `fuzz/fuzz_targets/hint_decode.rs` goes further). A hint whose
//! creation, write, fdatasync, rename or directory fsync fails leaves no hint, or a whole
//! one, never poisons the log, and the segment opens correctly either way.

use std::path::Path;
use std::sync::Arc;

use nyro_storage::{
    FaultInjector, HintEntry, Log, LogOptions, SEGMENT_HEADER_LEN, check_hint, hint_file_name,
};
use proptest::prelude::*;

use crate::common::{Model, hint_write_faults, opts, opts_io, owned, temp_files};

/// A log with two sealed segments of 12 records each and an active one with 3.
fn two_sealed(dir: &Path, options: LogOptions) -> (Log, Model) {
    let mut log = Log::open(dir, options).unwrap();
    let mut model = Model::default();
    for segment in 0..2u64 {
        for i in 0..12u64 {
            model.append(
                &mut log,
                &[owned(segment * 100 + i + 1, (i * 13 % 40) as usize)],
            );
        }
        log.seal().unwrap();
    }
    for i in 0..3u64 {
        model.append(&mut log, &[owned(900 + i, 10)]);
    }
    log.sync().unwrap();
    (log, model)
}

/// The body the tests' hints store: the payload's first 3 bytes.
fn write_hint(log: &Log, id: u32) -> nyro_storage::Result<()> {
    log.reader().write_hint(id, |_, payload, out| {
        out.extend_from_slice(&payload[..payload.len().min(3)]);
        Ok(())
    })
}

fn hint_bytes(dir: &Path, id: u32) -> Vec<u8> {
    std::fs::read(dir.join(hint_file_name(id))).unwrap()
}

/// What every trusted hint guarantees about its entries.
fn assert_sane<'a>(entries: impl Iterator<Item = HintEntry<'a>>, segment: u32, len: u64) {
    let mut covered = SEGMENT_HEADER_LEN as u64;
    for entry in entries {
        let location = entry.location;
        assert_eq!(location.segment, segment);
        assert!(location.offset >= covered, "{location:?} overlaps");
        assert!(location.len as usize >= nyro_storage::HEADER_LEN);
        assert_eq!(entry.header.frame_len, location.len);
        covered = location.offset + u64::from(location.len);
        assert!(covered <= len, "{location:?} past the segment's end {len}");
    }
}

/// A real hint (of segment 1) and its segment's length, written once.
fn sample() -> &'static (Vec<u8>, u64) {
    static SAMPLE: std::sync::OnceLock<(Vec<u8>, u64)> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = two_sealed(dir.path(), opts(1 << 20));
        write_hint(&log, 1).unwrap();
        let len = log.reader().segments()[0].bytes;
        (hint_bytes(dir.path(), 1), len)
    })
}

#[test]
fn a_written_hint_decodes_to_exactly_its_segments_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = two_sealed(dir.path(), opts(1 << 20));
    for info in log.reader().sealed_segments() {
        write_hint(&log, info.id).unwrap();
        let bytes = hint_bytes(dir.path(), info.id);
        let entries: Vec<HintEntry<'_>> = check_hint(&bytes, info.id, info.bytes)
            .expect("a fresh hint is trusted")
            .collect();
        let expected: Vec<_> = model
            .entries
            .iter()
            .filter(|(loc, _)| loc.segment == info.id)
            .collect();
        assert_eq!(entries.len(), expected.len());
        for (entry, (loc, rec)) in entries.iter().zip(expected) {
            assert_eq!(entry.location, *loc);
            assert_eq!(entry.header, rec.header());
            assert_eq!(entry.body, &rec.payload[..rec.payload.len().min(3)]);
        }
        assert_sane(
            check_hint(&bytes, info.id, info.bytes).unwrap(),
            info.id,
            info.bytes,
        );
        // Not for another segment, nor for this one at another length.
        assert!(check_hint(&bytes, info.id + 1, info.bytes).is_none());
        assert!(check_hint(&bytes, info.id, info.bytes + 1).is_none());
        assert!(check_hint(&bytes, info.id, info.bytes - 1).is_none());
        // Every cut and every single bit flip is refused.
        for cut in 0..bytes.len() {
            assert!(
                check_hint(&bytes[..cut], info.id, info.bytes).is_none(),
                "cut {cut}"
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                check_hint(&flipped, info.id, info.bytes).is_none(),
                "bit {bit}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(check_hint(&longer, info.id, info.bytes).is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random bytes, alone or behind a valid header, never panic the decoder; whatever it
    /// trusts is sane.
    #[test]
    fn random_bytes_never_panic_the_hint_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        segment in 0u32..4,
        len in prop_oneof![Just(0u64), 0u64..4096, Just(u64::MAX)],
        keep_header in any::<bool>(),
    ) {
        let (sample, sample_len) = sample();
        let (input, segment, len) = if keep_header {
            let mut input = sample[..32].to_vec();
            input.extend_from_slice(&bytes);
            (input, 1, *sample_len)
        } else {
            (bytes, segment, len)
        };
        if let Some(entries) = check_hint(&input, segment, len) {
            assert_sane(entries, segment, len);
        }
    }

    /// A real hint with a stretch of it overwritten, cut or extended never panics the
    /// decoder, and is trusted only if unchanged.
    #[test]
    fn damaged_hints_are_refused(
        at in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 1..64),
        cut in any::<prop::sample::Index>(),
    ) {
        let (sample, len) = sample();
        let mut damaged = sample.clone();
        let at = at.index(damaged.len());
        let end = (at + junk.len()).min(damaged.len());
        damaged[at..end].copy_from_slice(&junk[..end - at]);
        let changed = damaged != *sample;
        let trusted = check_hint(&damaged, 1, *len).map(|e| assert_sane(e, 1, *len));
        prop_assert_eq!(trusted.is_some(), !changed);
        damaged.truncate(cut.index(damaged.len()));
        prop_assert!(check_hint(&damaged, 1, *len).is_none());
        let mut extended = sample.clone();
        extended.extend_from_slice(&junk);
        prop_assert!(check_hint(&extended, 1, *len).is_none());
    }
}

#[test]
fn a_hint_whose_file_effect_fails_leaves_none_or_a_whole_one() {
    // (the fault, whether a whole hint is in place afterwards)
    let cases = hint_write_faults();
    for (fault, whole) in cases {
        let dir = tempfile::tempdir().unwrap();
        let io = Arc::new(FaultInjector::new());
        let (mut log, mut model) = two_sealed(dir.path(), opts_io(1 << 20, io.clone()));
        io.inject(fault.clone());
        assert!(write_hint(&log, 1).is_err(), "{fault:?}");
        assert!(log.poisoned().is_none(), "{fault:?}: a hint never poisons");
        let temps = temp_files(dir.path());
        assert_eq!(temps, 0, "{fault:?}: temporary file removed");
        assert_eq!(log.reader().has_hint_file(1), whole, "{fault:?}");
        assert_eq!(log.reader().hint(1).is_some(), whole, "{fault:?}");
        io.clear();
        model.append(&mut log, &[owned(7000, 4)]);
        write_hint(&log, 2).unwrap();
        drop(log);
        let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
        model.check(log.reader());
        assert_eq!(
            log.recovery().hinted_segments,
            1 + usize::from(whole),
            "{fault:?}"
        );
    }
}

/// A hint of another version (version 1 from before index keys came from paths) is
/// neither trusted nor counted as present, so the next hint written replaces it.
#[test]
fn a_hint_of_another_version_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = two_sealed(dir.path(), opts(1 << 20));
    write_hint(&log, 1).unwrap();
    assert!(log.reader().has_hint_file(1) && log.reader().hint(1).is_some());
    let current = hint_bytes(dir.path(), 1);
    let mut old = current.clone();
    old[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(dir.path().join(hint_file_name(1)), &old).unwrap();
    assert!(!log.reader().has_hint_file(1));
    assert!(log.reader().hint(1).is_none());
    write_hint(&log, 1).unwrap();
    assert!(log.reader().has_hint_file(1));
    assert_eq!(hint_bytes(dir.path(), 1), current);
}
