//! Hint decoding (docs/FORMAT.md section 6): `nyro_storage::check_hint`, the check open runs
//! before it trusts a hint file, on arbitrary bytes (as they are, and behind a valid header)
//! never panics, and whatever it trusts is sane: entries inside the segment, in order,
//! without overlap, each the length of a frame. A hint built from the input by the spec (not
//! with the crate's code) is trusted and decodes to exactly the entries it was built from;
//! a cut of it, a bit flip in it, or the wrong segment id or length is refused.

#![no_main]

#[path = "../common.rs"]
mod common;

use common::{HEADER, Input, frame, hint_header, hint_payload, u32_at, u64_at};
use libfuzzer_sys::fuzz_target;
use nyro_storage::{HintEntry, check_hint};

/// The end frame's kind (a compaction marker's).
const END: u8 = 6;

/// Checks what a trusted hint promises (nothing to check if it is not trusted).
fn sane<'a>(entries: Option<impl Iterator<Item = HintEntry<'a>>>, segment: u32, len: u64) {
    let Some(entries) = entries else { return };
    let mut covered = HEADER as u64;
    for entry in entries {
        let at = entry.location;
        assert_eq!(at.segment, segment);
        assert!(at.offset >= covered, "entry at {} overlaps {covered}", at.offset);
        assert!(at.len as usize >= HEADER, "entry shorter than a frame: {at:?}");
        assert_eq!(entry.header.frame_len, at.len);
        covered = at.offset + u64::from(at.len);
        assert!(covered <= len, "entry {at:?} past the segment's end {len}");
    }
}

/// One entry of a hint built from the input.
struct Entry<'a> {
    kind: u8,
    collection: u32,
    id: u64,
    seq: u64,
    offset: u64,
    frame_len: u32,
    body: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    // The bytes as a hint file, for the segment id and length its header's place names (so
    // the header check passes when the input has a valid one), and for fixed ones.
    if data.len() >= 24 {
        let (segment, len) = (u32_at(data, 12), u64_at(data, 16));
        sane(check_hint(data, segment, len), segment, len);
    }
    sane(check_hint(data, 1, 1 << 20), 1, 1 << 20);
    // Behind a valid header: the frames are what is being checked.
    let len = 4096;
    let mut framed = hint_header(7, len).to_vec();
    framed.extend_from_slice(data);
    sane(check_hint(&framed, 7, len), 7, len);

    // A hint built from the input by the spec.
    let mut input = Input { bytes: data };
    let segment = u32::from(input.u16());
    let count = input.byte() % 24;
    let mut offset = HEADER as u64;
    let mut entries = Vec::new();
    for _ in 0..count {
        offset += u64::from(input.byte() % 4) * 8; // gaps: compaction markers, or nothing
        let frame_len = HEADER as u32 + u32::from(input.u16() % 600);
        let kind = input.byte() % 5 + 1;
        let body_len = usize::from(input.byte() % 24);
        entries.push(Entry {
            kind,
            collection: u32::from(input.byte()),
            id: u64::from(input.u16()),
            seq: u64::from(input.u16()),
            offset,
            frame_len,
            body: input.take(body_len),
        });
        offset += u64::from(frame_len);
    }
    let segment_len = offset + u64::from(input.byte() % 3) * 16;
    let mut hint = hint_header(segment, segment_len).to_vec();
    for e in &entries {
        let payload = hint_payload(e.offset, e.frame_len, e.body);
        hint.extend(frame(e.kind, e.collection, e.id, e.seq, &payload));
    }
    let end = hint_payload(segment_len, 0, &[]);
    hint.extend(frame(END, 0, entries.len() as u64, 0, &end));

    let Some(decoded) = check_hint(&hint, segment, segment_len) else {
        panic!("a hint built by the spec was refused ({} entries)", entries.len());
    };
    let decoded: Vec<HintEntry<'_>> = decoded.collect();
    assert_eq!(decoded.len(), entries.len());
    for (got, e) in decoded.iter().zip(&entries) {
        assert_eq!(got.header.kind as u8, e.kind);
        assert_eq!(
            (got.header.collection, got.header.id, got.header.seq),
            (e.collection, e.id, e.seq)
        );
        assert_eq!(got.header.frame_len, e.frame_len);
        assert_eq!(
            (got.location.segment, got.location.offset, got.location.len),
            (segment, e.offset, e.frame_len)
        );
        assert_eq!(got.body, e.body);
    }
    sane(check_hint(&hint, segment, segment_len), segment, segment_len);

    // Refused: another segment, another length, a cut, a flipped bit, trailing bytes.
    assert!(check_hint(&hint, segment.wrapping_add(1), segment_len).is_none());
    assert!(check_hint(&hint, segment, segment_len + 1).is_none());
    let cut = usize::from(input.u16()) % hint.len();
    for cut in [0, HEADER - 1, HEADER, cut, hint.len() - 1] {
        assert!(check_hint(&hint[..cut], segment, segment_len).is_none(), "cut at {cut}");
    }
    let bit = usize::from(input.u16()) * 31 % (hint.len() * 8);
    let mut flipped = hint.clone();
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert!(
        check_hint(&flipped, segment, segment_len).is_none(),
        "flip of bit {bit} went unnoticed"
    );
    hint.push(input.byte());
    assert!(check_hint(&hint, segment, segment_len).is_none(), "a trailing byte");
});
