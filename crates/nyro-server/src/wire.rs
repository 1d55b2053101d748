//! Wire types: what the HTTP API sends and receives, apart from the domain types. Their
//! schemas feed the OpenAPI description.

use nyro_core::{Document, Value};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

mod cluster;
mod page;
mod query;
mod schemas;

pub use cluster::{ClusterAnswer, Consistency, MemberAnswer, NewMember, Role};
pub use page::{PageWriter, json_response};
pub use query::{ExplainAnswer, QueryAnswer, QueryBody};
pub use schemas::{CollectionName, DocumentBody, DocumentsBody, StoredDocument, U64};

/// The database's part of `GET /v1/stats`: `collections` (name, count, indexes with their
/// distinct values), `log` (segments, disk, live and dead bytes) and `last_seq`. The server
/// adds its counters; `nyrodb stats --data` shows this part alone.
pub fn database_stats(s: &nyro_core::Stats) -> serde_json::Value {
    let collections: Vec<_> = s
        .collections
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "count": c.count,
                "indexes": c.indexes.iter().map(|i| serde_json::json!({
                    "field": i.field, "distinct_values": i.distinct_values,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "collections": collections,
        "log": {
            "segments": s.segments,
            "disk_bytes": s.disk_bytes,
            "live_bytes": s.live_bytes,
            "dead_bytes": s.dead_bytes,
        },
        "last_seq": s.last_seq,
    })
}

/// A document as JSON: an object with `_id` first. Serialized straight from the stored
/// value, without building a `serde_json::Value` first.
pub struct JsonDoc<'a>(pub &'a Document);

struct JsonValue<'a>(&'a Value);

impl Serialize for JsonDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let doc = self.0;
        let mut map = s.serialize_map(Some(doc.fields.len() + usize::from(doc.id.is_some())))?;
        if let Some(id) = doc.id {
            map.serialize_entry(nyro_core::ID_FIELD, &id)?;
        }
        for (key, value) in &doc.fields {
            map.serialize_entry(key, &JsonValue(value))?;
        }
        map.end()
    }
}

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::String(v) => s.serialize_str(v),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&JsonValue(item))?;
                }
                seq.end()
            }
            Value::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, &JsonValue(v))?;
                }
                map.end()
            }
        }
    }
}

/// The error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error's code and message.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// One of the contract's codes.
    #[schema(schema_with = schemas::error_code)]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// `GET /health`: `{"status":"ok"}`, or once damaged stored data is known
/// `{"status":"degraded","corrupt_frames":N,"reason":"..."}` (still 200: what is intact is
/// served).
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// "ok", or "degraded" once a damaged frame was found in the log.
    #[schema(pattern = "^(ok|degraded)$")]
    pub status: &'static str,
    /// Only when degraded: distinct damaged frames found since the server started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = U64, required = false)]
    pub corrupt_frames: Option<u64>,
    /// Only when degraded: why, with the first damaged place (segment number and offset,
    /// no file path) and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub reason: Option<String>,
}

/// One collection in `GET /v1/collections`.
#[derive(Serialize, ToSchema)]
pub struct CollectionEntry {
    /// Its name.
    #[schema(value_type = CollectionName)]
    pub name: String,
    /// Documents in it.
    #[schema(value_type = U64)]
    pub count: u64,
    /// Indexed paths that queries use, sorted.
    pub indexes: Vec<String>,
    /// Indexed paths still being built from the stored documents, sorted; only while there
    /// are any (`POST /v1/collections/{c}/_indexes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub building: Vec<String>,
}

/// `POST /v1/collections/{c}/_indexes` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIndex {
    /// The path to index: field names separated by dots (`"address.city"`), none empty;
    /// not `_id`.
    #[schema(schema_with = schemas::index_path)]
    pub path: String,
}

/// `POST /v1/collections/{c}/_indexes` answer (202): the index and its state now.
#[derive(Serialize, ToSchema)]
pub struct IndexAnswer {
    /// The collection.
    #[schema(value_type = CollectionName)]
    pub collection: String,
    /// The indexed path.
    pub path: String,
    /// `building` while it is built from the stored documents (queries use it once it is
    /// `ready`; `GET /v1/collections` tells), `ready` at once for an empty collection.
    #[schema(pattern = "^(building|ready)$")]
    pub state: &'static str,
}

/// `GET /v1/collections`.
#[derive(Serialize, ToSchema)]
pub struct CollectionList {
    /// Every collection, by name.
    pub collections: Vec<CollectionEntry>,
}

/// `PUT /v1/collections/{c}` body.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    /// Top-level fields to index for equality queries: any names but `_id` (always indexed)
    /// and the empty one; each listed once (a repeat is 400), stored sorted.
    #[serde(default)]
    #[schema(schema_with = schemas::index_fields)]
    pub indexes: Vec<String>,
}

/// `PUT /v1/collections/{c}` answer (201 created, 200 it existed with these indexes).
#[derive(Serialize, ToSchema)]
pub struct CollectionAnswer {
    /// The collection's name.
    #[schema(value_type = CollectionName)]
    pub name: String,
    /// Its indexed fields, sorted.
    pub indexes: Vec<String>,
}

/// `POST /v1/_compact` answer.
#[derive(Serialize, ToSchema)]
pub struct CompactAnswer {
    /// Segments rewritten.
    pub segments_rewritten: usize,
    /// Their size before.
    #[schema(value_type = U64)]
    pub bytes_before: u64,
    /// The size of what replaced them.
    #[schema(value_type = U64)]
    pub bytes_after: u64,
}

/// `POST /v1/_backup` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    /// The directory to write the backup into, on the server's machine: absolute, or
    /// relative to `server.backup_root`; it must lie under `server.backup_root`, and be new
    /// or empty.
    pub path: String,
}

/// `POST /v1/_backup` answer: a summary of the manifest.
#[derive(Serialize, ToSchema)]
pub struct BackupAnswer {
    /// The backup directory written.
    pub path: String,
    /// Segment files in it.
    pub files: usize,
    /// Their total size.
    #[schema(value_type = U64)]
    pub bytes: u64,
    /// Highest sequence number in the backup.
    #[schema(value_type = U64)]
    pub last_seq: u64,
}

/// `POST .../records` answer.
#[derive(Serialize, ToSchema)]
pub struct InsertAnswer {
    /// The document's id.
    #[serde(rename = "_id")]
    #[schema(value_type = U64)]
    pub id: u64,
    /// The write's sequence number.
    #[schema(value_type = U64)]
    pub seq: u64,
}

/// `POST .../records/_bulk` answer.
#[derive(Serialize, ToSchema)]
pub struct BulkAnswer {
    /// Ids in the order of the documents.
    #[schema(value_type = Vec<U64>)]
    pub ids: Vec<u64>,
    /// The last document's sequence number.
    #[schema(value_type = U64)]
    pub seq: u64,
}

/// `PUT .../records/{id}` answer.
#[derive(Serialize, ToSchema)]
pub struct ReplaceAnswer {
    /// The document's id.
    #[serde(rename = "_id")]
    #[schema(value_type = U64)]
    pub id: u64,
    /// The write's sequence number.
    #[schema(value_type = U64)]
    pub seq: u64,
    /// True if the document did not exist before.
    pub created: bool,
}

/// A page of documents (`GET .../records`, `POST .../_query`): the schema of what
/// [`PageWriter`] writes.
#[derive(ToSchema)]
pub struct PageAnswer {
    /// The documents, ascending by id, each with `_id`.
    #[schema(value_type = Vec<StoredDocument>)]
    pub records: Vec<Document>,
    /// The `after` for the next page, null when no document follows.
    #[schema(value_type = Option<U64>, required = true)]
    pub next: Option<u64>,
}

/// A change event on the WebSocket feed.
#[derive(ToSchema)]
pub struct ChangeMessage<'a> {
    /// The write's sequence number.
    #[schema(value_type = U64)]
    pub seq: u64,
    /// "insert", "update" or "delete".
    #[schema(schema_with = schemas::change_op)]
    pub op: &'static str,
    /// The collection.
    #[schema(value_type = CollectionName)]
    pub collection: &'a str,
    /// The document's id.
    #[schema(rename = "_id", value_type = U64)]
    pub id: u64,
    /// The document after the change, null on delete.
    #[schema(value_type = Option<StoredDocument>, required = true)]
    pub doc: Option<&'a Document>,
    /// On a live query's feed (`where`) only: whether the document matches the filter
    /// after this change (false on delete).
    #[schema(rename = "match", value_type = bool, required = false)]
    pub matches: Option<bool>,
}

impl Serialize for ChangeMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5 + usize::from(self.matches.is_some())))?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("op", self.op)?;
        map.serialize_entry("collection", self.collection)?;
        map.serialize_entry("_id", &self.id)?;
        map.serialize_entry("doc", &self.doc.map(JsonDoc))?;
        if let Some(matches) = self.matches {
            map.serialize_entry("match", &matches)?;
        }
        map.end()
    }
}
