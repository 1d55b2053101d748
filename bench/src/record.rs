//! The benchmark's record, the two ways the key-value stores keep it ([`Mode`]), and what a
//! read must look at ([`Seen`]).

use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use bincode::{BorrowDecode, Encode};
use nyro_core::{Document, DocumentView, Value, ValueView};
use serde::{Deserialize, Serialize};

/// One record: the same three fields as NyroDB's benchmark document (two strings and an
/// integer, about 100 bytes), as a plain struct.
#[derive(Debug, Clone, PartialEq, Eq, Encode)]
pub struct Record {
    /// `user-<id>-abc…`, 56 bytes.
    pub name: String,
    /// `city-<id % 1000>`, 9 bytes.
    pub city: String,
    /// A number that changes with each version of the record.
    pub score: i64,
}

/// A record read in place: its strings borrow the store's bytes (bincode's `BorrowDecode`
/// checks the UTF-8 and takes the slices, allocating nothing).
#[derive(Debug, BorrowDecode)]
struct RecordRef<'a> {
    #[allow(dead_code)] // decoded (and UTF-8 checked) like the others, read by no workload
    name: &'a str,
    city: &'a str,
    score: i64,
}

/// The bincode configuration every store's bytes use: bincode 2's standard one (little
/// endian, variable-length integers).
const BINCODE: bincode::config::Configuration = bincode::config::standard();

/// What a read of a record looks at: one integer field and one string field, so that no
/// store can answer without touching the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The `score` field.
    pub score: i64,
    /// The length of the `city` field.
    pub city_len: usize,
}

/// How the key-value stores keep a record and read it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Each store on its own best path: the key-value stores keep the record as bincode of
    /// [`Record`] and read it borrowed; NyroDB uses its fastest embedded read API. Updates
    /// in the YCSB mixes are not durable (each store's non-durable write).
    Native,
    /// Every store keeps NyroDB's stored bytes (`Document::to_stored_bytes`) and decodes
    /// them into an owned `Document` on each read. Every write is durable.
    SameBytes,
}

impl Mode {
    /// Both modes, in the order tables list them.
    pub const ALL: [Mode; 2] = [Mode::Native, Mode::SameBytes];

    /// Its name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::SameBytes => "same-bytes",
        }
    }

    /// Whether the YCSB mixes' updates wait for stable storage.
    pub fn durable_updates(self) -> bool {
        self == Mode::SameBytes
    }

    /// `record` (of document `id`) as the bytes a key-value store keeps.
    pub fn encode(self, id: u64, record: Record) -> Result<Vec<u8>> {
        match self {
            Mode::Native => bincode::encode_to_vec(&record, BINCODE)
                .with_context(|| format!("encoding record {id}")),
            Mode::SameBytes => Ok(document(record).to_stored_bytes()?),
        }
    }

    /// Reads the bytes `encode` gave for document `id`.
    pub fn read(self, id: u64, bytes: &[u8]) -> Result<Seen> {
        match self {
            Mode::Native => {
                let (record, _): (RecordRef<'_>, usize) =
                    bincode::borrow_decode_from_slice(bytes, BINCODE)
                        .with_context(|| format!("decoding record {id}"))?;
                Ok(Seen {
                    score: record.score,
                    city_len: record.city.len(),
                })
            }
            Mode::SameBytes => seen(id, &Document::from_stored_bytes(Some(id), bytes)?),
        }
    }
}

impl FromStr for Mode {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| anyhow!("unknown mode {s:?}: choose native or same-bytes"))
    }
}

/// `record` as a NyroDB document (its strings moved, not copied).
pub fn document(record: Record) -> Document {
    Document::new(vec![
        ("name".into(), Value::String(record.name)),
        ("city".into(), Value::String(record.city)),
        ("score".into(), Value::Int(record.score)),
    ])
}

/// What a read of document `id` sees in an owned `Document`.
pub fn seen(id: u64, doc: &Document) -> Result<Seen> {
    let (Some(Value::Int(score)), Some(Value::String(city))) = (doc.get("score"), doc.get("city"))
    else {
        bail!("document {id} lacks an integer score or a string city");
    };
    Ok(Seen {
        score: *score,
        city_len: city.len(),
    })
}

/// What a read of document `id` sees through a borrowed view of its stored bytes.
pub fn seen_view(view: &DocumentView<'_>) -> Result<Seen> {
    let (Some(ValueView::Int(score)), Some(ValueView::String(city))) =
        (view.get("score"), view.get("city"))
    else {
        bail!(
            "document {} lacks an integer score or a string city",
            view.id()
        );
    };
    Ok(Seen {
        score,
        city_len: city.len(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::workload::record;

    #[test]
    fn both_modes_read_back_what_they_encode() {
        for mode in Mode::ALL {
            let bytes = mode.encode(42, record(42, 3)).unwrap();
            let expected = record(42, 3);
            let seen = mode.read(42, &bytes).unwrap();
            assert_eq!(seen.score, expected.score, "{mode:?}");
            assert_eq!(seen.city_len, expected.city.len(), "{mode:?}");
        }
    }

    #[test]
    fn native_records_are_smaller_than_nyrodb_documents() {
        let native = Mode::Native.encode(7, record(7, 0)).unwrap().len();
        let same = Mode::SameBytes.encode(7, record(7, 0)).unwrap().len();
        assert!(native < same, "bincode {native} bytes, NyroDB {same} bytes");
        assert!((60..=100).contains(&native), "{native} bytes");
    }

    #[test]
    fn modes_parse_from_their_names() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>().unwrap(), mode);
        }
        assert!("fast".parse::<Mode>().is_err());
    }
}
