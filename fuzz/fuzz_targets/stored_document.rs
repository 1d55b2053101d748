//! Stored-document decoding (docs/FORMAT.md section 4.2): the full decoder that `get`, `list`
//! and the feed use (`nyro_storage::codec::decode` of the fields) and the partial reader that
//! replay and index maintenance use, on arbitrary payload bytes. Neither panics; whenever the
//! full decoder accepts, the partial reader accepts too and returns the same scalar for every
//! indexed field; and what decodes re-encodes to bytes that decode to the same document.
//! The borrowed view (`nyro_core::DocumentView`) accepts exactly what the full decoder
//! accepts, reads the same document, and writes the JSON `serde_json` writes for it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nyro_core::Value;
use nyro_core::fuzzing::{decode_document, encode_document, indexed_scalars};

fuzz_target!(|data: &[u8]| {
    // The first byte picks which field names the partial reader looks for.
    let (selector, payload) = data.split_first().map_or((0, data), |(s, rest)| (*s, rest));
    let names = ["a", "b", "", "k", "ab", "\u{0}", "é"];
    let wanted: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| selector & (1 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect();

    let full = decode_document(payload);
    let view = nyro_core::DocumentView::new(1, payload);
    assert_eq!(view.is_ok(), full.is_ok(), "{:?} / {:?}", view.as_ref().err(), full.as_ref().err());
    if let Err(e) = &view {
        let _ = e.to_string();
    }
    let partial = indexed_scalars(payload, &wanted);
    if let Err(e) = &full {
        let _ = e.to_string();
    }
    if let Err(e) = &partial {
        let _ = e.to_string();
    }
    let Ok(fields) = full else { return };
    if let Ok(view) = view {
        let owned = view.to_document();
        assert_eq!(owned.fields.len(), fields.len());
        for ((k1, v1), (k2, v2)) in owned.fields.iter().zip(&fields) {
            assert_eq!(k1, k2);
            assert!(same(Some(v1), Some(v2)), "{v1:?} vs {v2:?}");
        }
        let mut json = Vec::new();
        view.write_json(&mut json);
        let expected = serde_json::to_vec(&owned.to_json()).expect("serde_json");
        // A repeated name in an object is written each time by the view, once (its last
        // value) by `to_json`: compare only documents without one.
        if !repeats_a_name(&owned.fields) {
            assert_eq!(json, expected, "the view's JSON differs");
        }
    }
    if !wanted.is_empty() {
        let got = partial.expect("the partial reader refused what the full decoder took");
        for (name, value) in wanted.iter().zip(&got) {
            let expected = fields
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .filter(|v| !matches!(v, Value::Array(_) | Value::Object(_)));
            assert!(
                same(value.as_ref(), expected),
                "field {name:?}: {value:?} vs {expected:?}"
            );
        }
    }
    let again = encode_document(&fields).expect("re-encode");
    let back = decode_document(&again).expect("decode the re-encoding");
    assert_eq!(back.len(), fields.len());
    for ((k1, v1), (k2, v2)) in back.iter().zip(&fields) {
        assert_eq!(k1, k2);
        assert!(same(Some(v1), Some(v2)), "{v1:?} vs {v2:?}");
    }
    // Reading it as JSON never panics (non-finite floats become null).
    let _ = nyro_core::Document {
        id: Some(1),
        fields,
    }
    .to_json()
    .to_string();
});

/// Equality that treats floats by their bits (a stored NaN must come back as that NaN).
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Float(x)), Some(Value::Float(y))) => x.to_bits() == y.to_bits(),
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, p), (l, q))| k == l && same(Some(p), Some(q)))
        }
        _ => a == b,
    }
}

/// Some object of the document (the document itself included) holds a name twice.
fn repeats_a_name(fields: &[(String, Value)]) -> bool {
    let repeated = fields
        .iter()
        .enumerate()
        .any(|(i, (k, _))| fields[..i].iter().any(|(l, _)| l == k));
    repeated || fields.iter().any(|(_, v)| value_repeats_a_name(v))
}

fn value_repeats_a_name(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(value_repeats_a_name),
        Value::Object(fields) => repeats_a_name(fields),
        _ => false,
    }
}
