//! `nyrodb export --data DIR [--collection C] [--out FILE]`: NDJSON, one document per line
//! with `_id`, by ascending id. Without `--collection`, every collection by name, each line
//! `{"collection": NAME, "doc": DOCUMENT}` (see `nyrodb export --help`). A file is written
//! whole or not at all (a temporary file renamed into place at the end).

use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nyro_core::{Database, validate_name};

use crate::cli::ExportArgs;
use crate::offline::{config, existing_data_dir, open, runtime};
use crate::output::progress;

/// Exports.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.collection {
        validate_name(name)?;
    }
    existing_data_dir(&args.data)?;
    let runtime = runtime()?;
    let db = runtime.block_on(open(&config(&args.data, None)?))?;
    let result = export(&db, &args);
    let closed = runtime.block_on(db.close());
    let (documents, collections) = result?;
    closed.with_context(|| format!("closing the data directory {} failed", args.data.display()))?;
    if let Some(out) = &args.out {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "exported {documents} document{} of {collections} collection{} from {} to {}",
            if documents == 1 { "" } else { "s" },
            if collections == 1 { "" } else { "s" },
            args.data.display(),
            out.display()
        )?;
    }
    Ok(())
}

/// Writes the export; returns the documents and collections written.
fn export(db: &Database, args: &ExportArgs) -> anyhow::Result<(u64, usize)> {
    let all = db.collections();
    let selected: Vec<_> = match &args.collection {
        Some(name) => match all.iter().find(|c| &c.name == name) {
            Some(c) => vec![c.clone()],
            None => {
                let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
                bail!(
                    "collection {name:?} does not exist in {}; it has {}",
                    args.data.display(),
                    if names.is_empty() {
                        "no collections".to_string()
                    } else {
                        format!("these: {}", names.join(", "))
                    }
                );
            }
        },
        None => all,
    };
    let total: u64 = selected.iter().map(|c| c.count).sum();
    let envelope = args.collection.is_none();
    match &args.out {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let written = write_documents(db, &selected, envelope, &mut out, None)?;
            out.flush()?;
            Ok((written, selected.len()))
        }
        Some(path) => {
            let bar = progress(
                Some(total),
                "{spinner} exporting [{bar:30}] {human_pos}/{human_len} documents ({eta} left)",
            );
            let (file, temp_path) = temporary_beside(path)?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            let written = write_documents(db, &selected, envelope, &mut out, Some(&bar))
                .with_context(|| format!("writing {} failed", path.display()))?;
            let file = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {} failed", path.display()))?;
            file.as_file()
                .sync_all()
                .with_context(|| format!("syncing {} failed", path.display()))?;
            file.persist(path).with_context(|| {
                format!(
                    "cannot move the finished export from {} to {}",
                    temp_path.display(),
                    path.display()
                )
            })?;
            bar.finish_and_clear();
            Ok((written, selected.len()))
        }
    }
}

/// A temporary file in the directory of `path`, so that the final rename stays within one
/// file system.
fn temporary_beside(path: &Path) -> anyhow::Result<(tempfile::NamedTempFile, PathBuf)> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file = tempfile::Builder::new()
        .prefix(".nyrodb-export-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .with_context(|| {
            format!(
                "cannot create a file in {} for the export; does the directory exist and may \
                 you write to it?",
                dir.display()
            )
        })?;
    let temp_path = file.path().to_path_buf();
    Ok((file, temp_path))
}

/// Writes every document of `collections` as one JSON line each, through the fastest scan
/// ([`Database::scan_with`]: views borrowed from the log, written as JSON straight from
/// the stored bytes, byte for byte what `serde_json` writes for the owned document).
fn write_documents(
    db: &Database,
    collections: &[nyro_core::CollectionInfo],
    envelope: bool,
    out: &mut impl Write,
    bar: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<u64> {
    let mut written = 0u64;
    let mut line = Vec::with_capacity(4096);
    for collection in collections {
        let prefix = if envelope {
            format!(
                "{{\"collection\":{},\"doc\":",
                serde_json::to_string(&collection.name)?
            )
        } else {
            String::new()
        };
        let mut failed = None;
        db.scan_with(&collection.name, None, |view| {
            line.clear();
            line.extend_from_slice(prefix.as_bytes());
            view.write_json(&mut line);
            if envelope {
                line.push(b'}');
            }
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
            written += 1;
            if let Some(bar) = bar {
                bar.inc(1);
            }
            ControlFlow::Continue(())
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use nyro_core::{Config, Document, WriteOptions};
    use nyro_server::wire::JsonDoc;

    use super::*;

    /// The lines the export wrote before it used the views: each owned document through
    /// the server's `JsonDoc`.
    fn owned_lines(
        db: &Database,
        collections: &[nyro_core::CollectionInfo],
        envelope: bool,
    ) -> String {
        let mut out = Vec::new();
        for collection in collections {
            for doc in db.documents(&collection.name).unwrap() {
                if envelope {
                    out.extend_from_slice(b"{\"collection\":");
                    serde_json::to_writer(&mut out, &collection.name).unwrap();
                    out.extend_from_slice(b",\"doc\":");
                }
                serde_json::to_writer(&mut out, &JsonDoc(&doc.unwrap())).unwrap();
                if envelope {
                    out.push(b'}');
                }
                out.push(b'\n');
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_export_writes_the_bytes_the_owned_documents_give() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.path = dir.path().into();
        let rt = runtime().unwrap();
        let db = rt.block_on(Database::open(&config)).unwrap();
        let docs: Vec<Document> = (0..1_500i64)
            .map(|i| {
                let json = serde_json::json!({
                    "i": i, "neg": -i, "big": u64::MAX - i as u64, "f": i as f64 / 7.0,
                    "e": 1e300, "s": format!("caf\u{e9} \"{i}\"\n\t\\ \u{1f600}"),
                    "a": [null, true, false, [], {}, [i, "x"]], "o": {"k": {"z": i}},
                });
                Document::from_json(json).unwrap()
            })
            .collect();
        for (name, docs) in [("b_x", &docs[..700]), ("a", &docs[700..])] {
            let ids = rt
                .block_on(db.insert_many(name, docs.to_vec(), WriteOptions::default()))
                .unwrap()
                .ids;
            rt.block_on(db.delete(name, ids[5], WriteOptions::default()))
                .unwrap();
        }
        let collections = db.collections();
        assert_eq!(collections.len(), 2);
        for envelope in [false, true] {
            let mut out = Vec::new();
            let written = write_documents(&db, &collections, envelope, &mut out, None).unwrap();
            assert_eq!(written, 1_498);
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out, owned_lines(&db, &collections, envelope));
        }
        rt.block_on(db.close()).unwrap();
    }
}
