//! Stored-document decoding on hostile bytes (regressions found while fuzzing, see
//! `fuzz/fuzz_targets/stored_document.rs`): a payload nested far deeper than `MAX_DEPTH`
//! (possible only in a crafted segment whose checksums match) is refused with an error by
//! both decoders instead of overflowing the stack.

use nyro_core::MAX_DEPTH;
use nyro_core::fuzzing::{decode_document, encode_document, indexed_scalars};

/// A stored document `{"a": [[...[]...]]}` whose field `a` nests `levels` arrays (the
/// document itself is level 1, so the innermost array is at level `levels + 1`), then a
/// scalar field `b`.
fn nested(levels: usize) -> Vec<u8> {
    let mut payload = vec![2, 1, b'a'];
    for _ in 1..levels {
        payload.extend_from_slice(&[6, 1]); // an array of one element
    }
    payload.extend_from_slice(&[6, 0]); // the innermost, empty array
    payload.extend_from_slice(&[1, b'b', 2, 14]); // "b": 7 (zigzag)
    payload
}

#[test]
fn nesting_beyond_max_depth_is_an_error_not_a_stack_overflow() {
    // 20 000 levels: 40 KB of payload. Before the fix, both decoders recursed once per level
    // and overflowed a test thread's stack.
    for levels in [
        MAX_DEPTH - 1,
        MAX_DEPTH,
        MAX_DEPTH + 1,
        1_000,
        20_000,
        200_000,
    ] {
        let payload = nested(levels);
        let full = decode_document(&payload);
        let partial = indexed_scalars(&payload, &["b".to_string()]);
        if levels < MAX_DEPTH {
            let fields = full.unwrap();
            assert_eq!(encode_document(&fields).unwrap(), payload);
            assert_eq!(partial.unwrap(), [Some(nyro_core::Value::Int(7))]);
        } else {
            let error = full.expect_err("too deep").to_string();
            assert!(error.contains("deeper"), "{error}");
            assert!(partial.is_err());
        }
    }
}

#[test]
fn the_deepest_allowed_document_decodes() {
    // 63 nested arrays under the document: the innermost is at level 64.
    let payload = nested(MAX_DEPTH - 1);
    let fields = decode_document(&payload).unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(encode_document(&fields).unwrap(), payload);
    assert!(indexed_scalars(&payload, &["a".to_string()]).is_ok());
}
