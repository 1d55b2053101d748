#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::document::MAX_DEPTH;

fn stored(doc: &serde_json::Value) -> (u64, Vec<u8>) {
    let doc = Document::from_json(doc.clone()).unwrap();
    (doc.id.unwrap_or(0), doc.to_stored_bytes().unwrap())
}

fn error_of(bytes: &[u8]) -> String {
    DocumentView::new(1, bytes).unwrap_err().to_string()
}

#[test]
fn every_value_type_reads_back() {
    let (id, bytes) = stored(&json!({
        "_id": 7, "n": null, "t": true, "f": false, "i": -3, "big": u64::MAX, "x": 1.5,
        "s": "héllo", "a": [1, "2", [3]], "o": {"k": "v", "deep": {"z": 0}}
    }));
    let view = DocumentView::new(id, &bytes).unwrap();
    assert_eq!(view.id(), 7);
    assert_eq!(view.len(), 9);
    assert!(view.get("n").unwrap().is_null());
    assert_eq!(view.get("t").unwrap().as_bool(), Some(true));
    assert_eq!(view.get("f").unwrap().as_bool(), Some(false));
    assert_eq!(view.get("i").unwrap().as_i64(), Some(-3));
    assert_eq!(view.get("i").unwrap().as_u64(), None);
    assert_eq!(view.get("big").unwrap().as_u64(), Some(u64::MAX));
    assert_eq!(view.get("big").unwrap().as_i64(), None);
    assert_eq!(view.get("x").unwrap().as_f64(), Some(1.5));
    assert_eq!(view.get("s").unwrap().as_str(), Some("héllo"));
    let a = view.get("a").unwrap().as_array().unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a.get(1).unwrap().as_str(), Some("2"));
    assert_eq!(a.get(2).unwrap().as_array().unwrap().len(), 1);
    assert!(a.get(3).is_none());
    assert_eq!(view.get_path(&["o", "k"]).unwrap().as_str(), Some("v"));
    assert_eq!(
        view.get_path(&["o", "deep", "z"]).unwrap().as_i64(),
        Some(0)
    );
    assert!(view.get_path(&["o", "k", "z"]).is_none());
    assert!(view.get_path(&["s", "k"]).is_none());
    assert!(view.get_path::<&str>(&[]).is_none());
    assert!(view.get("missing").is_none());
    let names: Vec<&str> = view.fields().map(|(k, _)| k).collect();
    assert_eq!(names, ["n", "t", "f", "i", "big", "x", "s", "a", "o"]);
    assert_eq!(
        view.to_document(),
        Document::from_stored_bytes(Some(7), &bytes).unwrap()
    );
}

#[test]
fn the_last_of_a_repeated_name_wins() {
    let doc = Document::new(vec![
        ("a".into(), Value::Int(1)),
        ("b".into(), Value::Int(2)),
        ("a".into(), Value::Int(3)),
    ]);
    let bytes = doc.to_stored_bytes().unwrap();
    let view = DocumentView::new(1, &bytes).unwrap();
    assert_eq!(doc.get("a"), Some(&Value::Int(3)));
    assert_eq!(view.get("a").unwrap().as_i64(), Some(3));
    let mut json = Vec::new();
    view.write_json(&mut json);
    assert_eq!(json, br#"{"_id":1,"a":1,"b":2,"a":3}"#);
}

#[test]
fn an_empty_document_is_its_id() {
    let view = DocumentView::new(5, &[0]).unwrap();
    assert!(view.is_empty());
    let mut json = Vec::new();
    view.write_json(&mut json);
    assert_eq!(json, br#"{"_id":5}"#);
}

#[test]
fn truncated_bytes_are_errors_at_every_cut() {
    let (_, bytes) = stored(&json!({"a": [1, "xyz", {"b": 2.5}], "c": true}));
    for cut in 0..bytes.len() {
        let message = error_of(&bytes[..cut]);
        assert!(
            message.contains("malformed at byte"),
            "cut {cut}: {message}"
        );
    }
}

#[test]
fn defects_are_named_with_their_offset() {
    // One field "a" (01 61) then the value.
    let cases: &[(&[u8], &str)] = &[
        (&[1, 1, b'a', 8], "byte 3: unknown value variant"),
        (
            &[1, 1, b'a', 253, 0, 0, 0, 0, 0, 0, 0, 0],
            "byte 3: unknown value variant",
        ),
        (&[1, 1, b'a', 1, 2], "byte 4: a bool is neither 0 nor 1"),
        (
            &[1, 1, b'a', 5, 2, 0xc3, 0x28],
            "byte 4: a string is not UTF-8",
        ),
        (&[1, 2, 0xff, 0xfe, 0], "byte 1: a string is not UTF-8"),
        (
            &[1, 1, b'a', 0, 0],
            "byte 4: trailing bytes after the last field",
        ),
        (
            &[1, 1, b'a', 2, 255],
            "byte 4: a varint does not fit 64 bits",
        ),
        (&[1, 1, b'a', 6, 200], "byte 4: a length runs past the end"),
        (&[2, 1, b'a', 0], "byte 4: it ends early"),
        (&[], "byte 0: it ends early"),
    ];
    for (bytes, expected) in cases {
        let message = error_of(bytes);
        assert!(message.contains(expected), "{bytes:?}: {message}");
    }
}

/// `{"a": [[...[1]...]]}` with the document at level 1 and `depth` levels in all.
fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = vec![1, 1, b'a'];
    for _ in 1..depth {
        bytes.extend_from_slice(&[6, 1]);
    }
    bytes.extend_from_slice(&[2, 2]);
    bytes
}

#[test]
fn nesting_is_bounded() {
    assert!(DocumentView::new(1, &nested(MAX_DEPTH)).is_ok());
    assert!(error_of(&nested(MAX_DEPTH + 1)).contains("deeper than 64 levels"));
    // Far deeper than any stack would take recursively: refused at level 65.
    assert!(error_of(&nested(100_000)).contains("deeper than 64 levels"));
    // The codec agrees on the limit.
    assert!(Document::from_stored_bytes(None, &nested(MAX_DEPTH)).is_ok());
    assert!(Document::from_stored_bytes(None, &nested(MAX_DEPTH + 1)).is_err());
}

#[test]
fn floats_and_big_integers_in_json_are_as_to_json_makes_them() {
    let doc = Document {
        id: Some(u64::MAX),
        fields: vec![
            ("big".into(), Value::Float(1e300)),
            ("small".into(), Value::Float(-1e-300)),
            ("neg0".into(), Value::Float(-0.0)),
            ("nan".into(), Value::Float(f64::NAN)),
            ("inf".into(), Value::Float(f64::NEG_INFINITY)),
            ("whole".into(), Value::Float(3.0)),
            ("u".into(), Value::UInt(i64::MAX as u64 + 1)),
            ("i".into(), Value::Int(i64::MIN)),
            (
                "esc".into(),
                Value::String("\"\\/\u{0}\u{8}\t\n\u{c}\r\u{1f}\u{7f}é😀".into()),
            ),
        ],
    };
    let bytes = doc.to_stored_bytes().unwrap();
    let view = DocumentView::new(u64::MAX, &bytes).unwrap();
    let mut json = Vec::new();
    view.write_json(&mut json);
    assert_eq!(json, serde_json::to_vec(&doc.to_json()).unwrap());
    assert!(view.get("nan").unwrap().as_f64().unwrap().is_nan());
    let mut one = Vec::new();
    view.get("esc").unwrap().write_json(&mut one);
    assert_eq!(
        one,
        serde_json::to_vec(&doc.get("esc").unwrap().to_json()).unwrap()
    );
}

/// Random values of every kind (also used by `fields`' tests).
pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
        any::<f64>().prop_map(Value::Float),
        prop_oneof![Just(1e300), Just(-0.0), Just(f64::NAN), Just(5e-324)].prop_map(Value::Float),
        ".{0,40}".prop_map(Value::String),
        "[\u{0}-\u{7f}]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(("[a-d\"\\\\é]{0,3}", inner), 0..8).prop_map(Value::Object),
        ]
    })
}

/// Objects with each name once (as JSON objects are), at every level.
fn unique(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(unique).collect()),
        Value::Object(fields) => Value::Object(unique_fields(fields)),
        other => other,
    }
}

fn unique_fields(fields: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in fields {
        if !out.iter().any(|(seen, _)| *seen == k) {
            out.push((k, unique(v)));
        }
    }
    out
}

fn document() -> impl Strategy<Value = Document> {
    (
        any::<u64>(),
        prop::collection::vec(("[a-f]{1,2}|_i|\u{1}", value()), 0..10),
    )
        .prop_map(|(id, fields)| Document {
            id: Some(id),
            fields: unique_fields(fields),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn view_agrees_with_the_codec(doc in document()) {
        let bytes = doc.to_stored_bytes().unwrap();
        let id = doc.id.unwrap();
        let view = DocumentView::new(id, &bytes).unwrap();
        let decoded = Document::from_stored_bytes(Some(id), &bytes).unwrap();
        let owned = view.to_document();
        // Debug shows NaN alike (== would not), and the re-encoding pins every bit.
        prop_assert_eq!(format!("{owned:?}"), format!("{decoded:?}"));
        prop_assert_eq!(owned.to_stored_bytes().unwrap(), bytes.clone());
        for (name, _) in &decoded.fields {
            let got = view.get(name).map(|v| format!("{:?}", v.to_value()));
            prop_assert_eq!(got, decoded.get(name).map(|v| format!("{v:?}")));
        }
        prop_assert_eq!(view.fields().len(), decoded.fields.len());
        let mut json = Vec::new();
        view.write_json(&mut json);
        prop_assert_eq!(json, serde_json::to_vec(&decoded.to_json()).unwrap());
    }

    #[test]
    fn damaged_bytes_are_refused_as_the_codec_refuses_them(
        doc in document(), at in any::<prop::sample::Index>(), byte in any::<u8>(),
    ) {
        let mut bytes = doc.to_stored_bytes().unwrap();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        let view = DocumentView::new(1, &bytes);
        let decoded = Document::from_stored_bytes(Some(1), &bytes);
        prop_assert_eq!(view.is_ok(), decoded.is_ok(), "{:?} / {:?}", view.err(), decoded.err());
        if let (Ok(view), Ok(decoded)) = (view, decoded) {
            prop_assert_eq!(format!("{:?}", view.to_document()), format!("{decoded:?}"));
        }
    }

    #[test]
    fn never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(view) = DocumentView::new(1, &bytes) {
            let mut json = Vec::new();
            view.write_json(&mut json);
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
        }
    }
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them_wherever_the_byte_is() {
    for special in [
        '"', '\\', '\u{0}', '\u{8}', '\t', '\n', '\u{c}', '\r', '\u{1f}', ' ', '\u{7f}', 'é',
    ] {
        for at in 0..20 {
            let s = format!("{}{special}{}", "a".repeat(at), "b".repeat(at % 9));
            let value = ValueView::String(&s);
            let mut json = Vec::new();
            value.write_json(&mut json);
            assert_eq!(json, serde_json::to_vec(&s).unwrap(), "{s:?}");
        }
    }
}
