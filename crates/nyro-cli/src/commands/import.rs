//! `nyrodb import --data DIR [--collection C] FILE`: NDJSON or one JSON array (the first
//! non-blank byte tells which), inserted in batches with `insert_many`, each all or nothing
//! and fdatasync'ed before the next starts. Every record is checked (JSON, shape, depth)
//! before its batch is written, and a batch the database refuses (an `_id` that exists or
//! repeats, a document too large) is refused whole: either way the first bad record is
//! named by its line (or array element), taken from the error's `element`, and nothing of
//! its batch is written.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, anyhow, bail};
use indicatif::ProgressBar;
use nyro_core::{Database, DbError, Document, WriteOptions, validate_name};
use serde::de::{Error as _, SeqAccess, Visitor};
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::cli::ImportArgs;
use crate::offline::{config, open, runtime};
use crate::output::progress;

/// A batch is written once its records took this many bytes of input, even if it holds
/// fewer than `--batch-size` documents, to bound memory.
const MAX_BATCH_BYTES: u64 = 64 << 20;

/// Imports.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.collection {
        validate_name(name)?;
    }
    if args.data.exists() && !args.data.is_dir() {
        bail!(
            "{} is not a directory; pass a data directory (it is created if missing) with --data",
            args.data.display()
        );
    }
    // Open the input first: a wrong file name must not create or touch the directory.
    let input = Input::open(&args.file)?;
    let config = config(&args.data, args.config.as_deref())?;
    let runtime = runtime()?;
    let db = runtime.block_on(open(&config))?;
    let result = import(&runtime, &db, input, &args);
    let closed = runtime.block_on(db.close());
    let summary = result?;
    closed.with_context(|| format!("closing the data directory {} failed", args.data.display()))?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{summary} in {}", args.data.display())?;
    Ok(())
}

fn import(
    runtime: &Runtime,
    db: &Database,
    mut input: Input,
    args: &ImportArgs,
) -> anyhow::Result<String> {
    if let Some(name) = &args.collection
        && !args.indexes.is_empty()
    {
        runtime
            .block_on(db.create_collection(name, &args.indexes))
            .with_context(|| {
                format!(
                    "cannot create collection {name:?} with indexes {:?}",
                    args.indexes
                )
            })?;
    }
    let bar = match input.size {
        Some(size) => progress(
            Some(size),
            "{spinner} importing [{bar:30}] {bytes}/{total_bytes}, {msg} ({eta} left)",
        ),
        None => progress(None, "{spinner} importing: {bytes} read, {msg}"),
    };
    let mut importer = Importer {
        runtime,
        db,
        source: input.name.clone(),
        single: args.collection.clone(),
        batch_size: args.batch_size as usize,
        read: Rc::clone(&input.read),
        bar: bar.clone(),
        batch: Vec::new(),
        batch_collection: String::new(),
        batch_first: None,
        batch_last: None,
        batch_positions: Vec::new(),
        batch_start: 0,
        imported: 0,
        committed_through: None,
        per_collection: BTreeMap::new(),
    };
    let (first, newlines) =
        skip_blank(&mut input.reader).with_context(|| format!("reading {} failed", input.name))?;
    match first {
        None => {}
        Some(b'[') => read_array(&mut importer, &mut input.reader)?,
        Some(_) => read_lines(&mut importer, &mut input.reader, newlines + 1)?,
    }
    importer.flush()?;
    bar.finish_and_clear();
    let n = importer.imported;
    let documents = format!("{n} document{}", if n == 1 { "" } else { "s" });
    Ok(match (&args.collection, importer.per_collection.len()) {
        (Some(name), _) => format!("imported {documents} into collection {name:?}"),
        (None, 1) => format!(
            "imported {documents} into collection {:?}",
            importer
                .per_collection
                .keys()
                .next()
                .map_or("", String::as_str)
        ),
        (None, _) => {
            let each: Vec<String> = importer
                .per_collection
                .iter()
                .map(|(name, n)| format!("{name}: {n}"))
                .collect();
            format!(
                "imported {documents} into {} collections ({})",
                importer.per_collection.len(),
                each.join(", ")
            )
        }
    })
}

/// Where a record is in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// NDJSON: the line, counting from 1.
    Line(u64),
    /// A JSON array: the element, counting from 0 (as the HTTP bulk API counts).
    Element(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(n) => write!(f, "line {n}"),
            Self::Element(n) => write!(f, "array element {n} (counting from 0)"),
        }
    }
}

/// `lines 3 to 9`, `array elements 0 to 4`.
fn range(first: Position, last: Position) -> String {
    match (first, last) {
        (Position::Line(a), Position::Line(b)) => format!("lines {a} to {b}"),
        (Position::Element(a), Position::Element(b)) => format!("array elements {a} to {b}"),
        (a, b) => format!("{a} to {b}"),
    }
}

/// The input file (or standard input), counting the bytes read for the progress bar.
struct Input {
    reader: Box<dyn BufRead>,
    name: String,
    size: Option<u64>,
    read: Rc<Cell<u64>>,
}

impl Input {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let read = Rc::new(Cell::new(0));
        if path == Path::new("-") {
            let reader = Counting {
                inner: io::stdin(),
                read: Rc::clone(&read),
            };
            return Ok(Self {
                reader: Box::new(BufReader::with_capacity(1 << 16, reader)),
                name: "standard input".into(),
                size: None,
                read,
            });
        }
        if path.is_dir() {
            bail!("{} is a directory; pass the file to import", path.display());
        }
        let file = File::open(path).with_context(|| {
            format!(
                "cannot open {} to import it; does it exist and may you read it?",
                path.display()
            )
        })?;
        let size = file.metadata().ok().map(|m| m.len());
        let reader = Counting {
            inner: file,
            read: Rc::clone(&read),
        };
        Ok(Self {
            reader: Box::new(BufReader::with_capacity(1 << 16, reader)),
            name: path.display().to_string(),
            size,
            read,
        })
    }
}

struct Counting<R> {
    inner: R,
    read: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// Skips a UTF-8 byte order mark and blank space; returns the first other byte (not
/// consumed) and the newlines skipped.
fn skip_blank(reader: &mut dyn BufRead) -> io::Result<(Option<u8>, u64)> {
    let mut newlines = 0;
    let mut start = true;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((None, newlines));
        }
        let mut skip = 0;
        if start && buf.starts_with(b"\xEF\xBB\xBF") {
            skip = 3;
        }
        start = false;
        while skip < buf.len() && buf[skip].is_ascii_whitespace() {
            newlines += u64::from(buf[skip] == b'\n');
            skip += 1;
        }
        if skip < buf.len() {
            let first = buf[skip];
            reader.consume(skip);
            return Ok((Some(first), newlines));
        }
        let len = buf.len();
        reader.consume(len);
    }
}

/// serde_json's message, with the column only (the line of a one-line text is always 1).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("{} at column {}", &text[..at], e.column()),
        None => text,
    }
}

fn read_lines(
    importer: &mut Importer<'_>,
    reader: &mut dyn BufRead,
    first_line: u64,
) -> anyhow::Result<()> {
    let mut line = Vec::with_capacity(4096);
    let mut number = first_line - 1;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {} failed", importer.source))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let position = Position::Line(number);
        let value: Value = serde_json::from_slice(&line)
            .map_err(|e| importer.bad(position, format!("not valid JSON: {}", json_error(&e))))?;
        importer.add(position, value)?;
    }
}

fn read_array(importer: &mut Importer<'_>, reader: &mut dyn BufRead) -> anyhow::Result<()> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut failure = None;
    let mut index = 0;
    let parsed = serde::Deserializer::deserialize_seq(
        &mut deserializer,
        Elements {
            importer: &mut *importer,
            failure: &mut failure,
            index: &mut index,
        },
    );
    if let Some(failure) = failure {
        return Err(failure);
    }
    parsed.map_err(|e| importer.bad(Position::Element(index), format!("not valid JSON: {e}")))?;
    deserializer.end().map_err(|e| {
        anyhow!(
            "{}: unexpected text after the JSON array ({e}); the file must hold one array of \
             documents, or one document per line",
            importer.source
        )
    })
}

/// Feeds each element of the array to the importer as it is parsed (never the whole array
/// in memory), stopping at the first failure.
struct Elements<'i, 'a> {
    importer: &'i mut Importer<'a>,
    failure: &'i mut Option<anyhow::Error>,
    index: &'i mut u64,
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of documents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if let Err(e) = self.importer.add(Position::Element(*self.index), value) {
                *self.failure = Some(e);
                return Err(A::Error::custom("import stopped"));
            }
            *self.index += 1;
        }
        Ok(())
    }
}

/// Builds batches and writes them.
struct Importer<'a> {
    runtime: &'a Runtime,
    db: &'a Database,
    source: String,
    /// `--collection`; `None` reads `{"collection", "doc"}` records.
    single: Option<String>,
    batch_size: usize,
    read: Rc<Cell<u64>>,
    bar: ProgressBar,
    batch: Vec<Document>,
    batch_collection: String,
    batch_first: Option<Position>,
    batch_last: Option<Position>,
    /// Where each document of the batch is in the input.
    batch_positions: Vec<Position>,
    /// Input bytes read when the batch started.
    batch_start: u64,
    imported: u64,
    committed_through: Option<Position>,
    per_collection: BTreeMap<String, u64>,
}

impl Importer<'_> {
    /// The error for a bad record: where, what, and what was and was not written.
    fn bad(&self, position: Position, what: impl fmt::Display) -> anyhow::Error {
        let batch = match self.batch_first {
            Some(first) if first != position => {
                format!(
                    "Nothing of its batch ({}) was written",
                    range(first, position)
                )
            }
            _ => "Nothing of its batch was written".to_string(),
        };
        anyhow!(
            "{}, {position}: {what}. {batch}; {}",
            self.source,
            self.progress_note()
        )
    }

    /// The error naming the input record the database refused the batch for, when the
    /// error says which document it was (its `element`, or the only one of the batch).
    fn refused_record(&self, error: &DbError) -> Option<anyhow::Error> {
        let element = match (error.element(), self.batch_positions.len()) {
            (Some(element), _) => element,
            (None, 1) => 0,
            (None, _) => return None,
        };
        let position = *self.batch_positions.get(element)?;
        let what = match error {
            DbError::Conflict {
                id,
                first: Some(first),
                ..
            } => match self.batch_positions.get(*first) {
                Some(first) => format!("_id {id} appears twice in the batch (first at {first})"),
                None => error.to_string(),
            },
            DbError::Conflict { id, collection, .. } => {
                format!("a document with _id {id} already exists in collection {collection:?}")
            }
            DbError::Invalid { message, .. } => message.clone(),
            _ => return None,
        };
        Some(self.bad(position, what))
    }

    /// What earlier batches wrote, and where to resume.
    fn progress_note(&self) -> String {
        match self.committed_through {
            Some(last) => format!(
                "{} document{} of earlier batches (up to {last}) were imported and stay: fix \
                 the record, then import what follows {last}",
                self.imported,
                if self.imported == 1 { "" } else { "s" },
            ),
            None => "nothing was imported: fix the record and import the file again".to_string(),
        }
    }

    fn shape_error(&self, position: Position) -> anyhow::Error {
        self.bad(
            position,
            "without --collection each record must be {\"collection\": NAME, \"doc\": \
             DOCUMENT}, as `nyrodb export` writes it without --collection; to import plain \
             documents, pass --collection NAME",
        )
    }

    /// The collection and document of a record.
    fn unwrap(&self, position: Position, value: Value) -> anyhow::Result<(String, Value)> {
        if let Some(name) = &self.single {
            return Ok((name.clone(), value));
        }
        let Value::Object(mut record) = value else {
            return Err(self.shape_error(position));
        };
        if record.len() != 2 {
            return Err(self.shape_error(position));
        }
        let (Some(Value::String(name)), Some(doc)) =
            (record.remove("collection"), record.remove("doc"))
        else {
            return Err(self.shape_error(position));
        };
        validate_name(&name).map_err(|e| self.bad(position, e))?;
        Ok((name, doc))
    }

    /// Checks a record and adds it to the batch, writing the batch once it is full.
    fn add(&mut self, position: Position, value: Value) -> anyhow::Result<()> {
        let (collection, value) = self.unwrap(position, value)?;
        let doc = Document::from_json(value)
            .and_then(|doc| doc.validate().map(|()| doc))
            .map_err(|e| self.bad(position, e))?;
        if !self.batch.is_empty() && self.batch_collection != collection {
            self.flush()?;
        }
        if self.batch.is_empty() {
            self.batch_first = Some(position);
            self.batch_collection = collection;
            self.batch_start = self.read.get();
        }
        self.batch.push(doc);
        self.batch_positions.push(position);
        self.batch_last = Some(position);
        self.bar.set_position(self.read.get());
        if self.batch.len() >= self.batch_size
            || self.read.get().saturating_sub(self.batch_start) >= MAX_BATCH_BYTES
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the batch, all or nothing, and waits for its fdatasync.
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let docs = std::mem::take(&mut self.batch);
        let count = docs.len() as u64;
        let written = self.runtime.block_on(self.db.insert_many(
            &self.batch_collection,
            docs,
            WriteOptions { sync: true },
        ));
        if let Err(e) = written {
            if let Some(refused) = self.refused_record(&e) {
                return Err(refused);
            }
            let lines = match (self.batch_first, self.batch_last) {
                (Some(first), Some(last)) => format!(" ({})", range(first, last)),
                _ => String::new(),
            };
            return Err(anyhow!(
                "{}: writing the batch{lines} into collection {:?} failed: {e}; nothing of \
                 this batch was written; {}",
                self.source,
                self.batch_collection,
                self.progress_note()
            ));
        }
        self.imported += count;
        *self
            .per_collection
            .entry(self.batch_collection.clone())
            .or_default() += count;
        self.committed_through = self.batch_last;
        self.batch_first = None;
        self.batch_last = None;
        self.batch_positions.clear();
        self.bar.set_message(format!("{} documents", self.imported));
        Ok(())
    }
}
