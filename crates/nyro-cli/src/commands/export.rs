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
