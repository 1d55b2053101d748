//! Frame decoding: `nyro_storage::check_frame` on arbitrary bytes never panics, and what it
//! says agrees with the bytes: a `Complete` header matches the bytes field by field and its
//! checksum recomputes; `Incomplete` only when the input really ends inside the frame;
//! `Invalid` only for the defect it names. Inputs are also checked with their checksum fixed
//! up, so the checks after the checksum are reached, and re-encoded as a valid frame.

#![no_main]

#[path = "../common.rs"]
mod common;

use common::{HEADER, frame, frame_crc, u32_at, u64_at};
use libfuzzer_sys::fuzz_target;
use nyro_storage::{FrameCheck, FrameDefect, HEADER_LEN, MAX_FRAME_LEN, RecordKind, check_frame};

fuzz_target!(|data: &[u8]| {
    assert_eq!(HEADER_LEN, HEADER);
    consistent(data);

    // The same bytes with a correct checksum: only the kind and reserved bytes can be wrong.
    if data.len() >= HEADER_LEN {
        let len = u32_at(data, 0) as usize;
        if (HEADER_LEN..=data.len()).contains(&len) {
            let mut fixed = data.to_vec();
            let crc = frame_crc(&fixed[..len]);
            fixed[4..8].copy_from_slice(&crc.to_le_bytes());
            match consistent(&fixed) {
                FrameCheck::Complete(_) => {}
                FrameCheck::Invalid(FrameDefect::UnknownKind(k)) => {
                    assert!(RecordKind::from_byte(k).is_none())
                }
                FrameCheck::Invalid(FrameDefect::ReservedNotZero) => {
                    assert_ne!(fixed[9..12], [0, 0, 0])
                }
                other => panic!("a frame with a correct checksum checked as {other:?}"),
            }
        }
    }

    // A frame built from the input (by the spec, not by the crate) checks Complete with its
    // fields, with or without trailing bytes, and every prefix of it is Incomplete.
    if let Some((&selector, rest)) = data.split_first() {
        let kind = selector % 4 + 1;
        let (fields, payload) = rest.split_at(rest.len().min(20));
        let mut padded = [0u8; 20];
        padded[..fields.len()].copy_from_slice(fields);
        let collection = u32_at(&padded, 0);
        let id = u64_at(&padded, 4);
        let seq = u64_at(&padded, 12);
        let bytes = frame(kind, collection, id, seq, payload);
        let FrameCheck::Complete(header) = check_frame(&bytes) else {
            panic!("a valid frame did not check: {:?}", check_frame(&bytes));
        };
        assert_eq!(header.kind as u8, kind);
        assert_eq!(
            (header.collection, header.id, header.seq),
            (collection, id, seq)
        );
        assert_eq!(header.frame_len as usize, bytes.len());
        let mut longer = bytes.clone();
        longer.extend_from_slice(payload);
        assert_eq!(check_frame(&longer), FrameCheck::Complete(header));
        for cut in [0, 1, HEADER_LEN - 1, HEADER_LEN, bytes.len() - 1] {
            if cut < bytes.len() {
                assert!(
                    matches!(check_frame(&bytes[..cut]), FrameCheck::Incomplete(_)),
                    "prefix of {cut} bytes"
                );
            }
        }
        // Any single bit flip is noticed.
        let bit = usize::from(selector) * 7 % (bytes.len() * 8);
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(
            !matches!(check_frame(&flipped), FrameCheck::Complete(_)),
            "flip of bit {bit} went unnoticed"
        );
    }
});

/// Checks `check_frame(bytes)` against the bytes and returns it.
fn consistent(bytes: &[u8]) -> FrameCheck {
    let result = check_frame(bytes);
    let _ = format!("{result:?}");
    match &result {
        FrameCheck::Complete(h) => {
            let len = h.frame_len as usize;
            assert!((HEADER_LEN..=MAX_FRAME_LEN).contains(&len), "{h:?}");
            assert!(len <= bytes.len(), "{h:?} but only {} bytes", bytes.len());
            assert_eq!(u32_at(bytes, 0), h.frame_len);
            assert_eq!(u32_at(bytes, 4), frame_crc(&bytes[..len]), "checksum");
            assert_eq!(bytes[8], h.kind as u8);
            assert_eq!(bytes[9..12], [0, 0, 0]);
            assert_eq!(u32_at(bytes, 12), h.collection);
            assert_eq!(u64_at(bytes, 16), h.id);
            assert_eq!(u64_at(bytes, 24), h.seq);
            // Trailing bytes are ignored; the frame alone checks the same.
            assert_eq!(check_frame(&bytes[..len]), result);
            if len <= 512 {
                for cut in 0..len {
                    assert!(
                        matches!(check_frame(&bytes[..cut]), FrameCheck::Incomplete(_)),
                        "prefix of {cut} bytes of a complete frame"
                    );
                }
            }
        }
        FrameCheck::Incomplete(defect) => {
            let FrameDefect::Truncated { needed, available } = *defect else {
                panic!("Incomplete with {defect:?}");
            };
            assert_eq!(available, bytes.len() as u64);
            assert!(needed > available, "{defect:?}");
            if bytes.len() >= HEADER_LEN {
                assert_eq!(needed, u64::from(u32_at(bytes, 0)));
            } else {
                assert_eq!(needed, HEADER_LEN as u64);
            }
        }
        FrameCheck::Invalid(defect) => {
            assert!(
                bytes.len() >= HEADER_LEN,
                "Invalid on {} bytes",
                bytes.len()
            );
            let len = u32_at(bytes, 0) as usize;
            match *defect {
                FrameDefect::LengthOutOfRange(l) => {
                    assert_eq!(l as usize, len);
                    assert!(!(HEADER_LEN..=MAX_FRAME_LEN).contains(&len));
                }
                FrameDefect::ChecksumMismatch { stored, computed } => {
                    assert!(len <= bytes.len());
                    assert_eq!(stored, u32_at(bytes, 4));
                    assert_eq!(computed, frame_crc(&bytes[..len]));
                    assert_ne!(stored, computed);
                }
                FrameDefect::UnknownKind(k) => {
                    assert_eq!(u32_at(bytes, 4), frame_crc(&bytes[..len]));
                    assert_eq!(k, bytes[8]);
                    assert!(RecordKind::from_byte(k).is_none());
                }
                FrameDefect::ReservedNotZero => {
                    assert_eq!(u32_at(bytes, 4), frame_crc(&bytes[..len]));
                    assert_ne!(bytes[9..12], [0, 0, 0]);
                }
                FrameDefect::Truncated { .. } => panic!("Invalid with {defect:?}"),
            }
            let _ = defect.to_string();
        }
    }
    result
}
