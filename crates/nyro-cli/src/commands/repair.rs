//! `nyrodb repair --data DIR`: after media corruption, keep every intact frame, move each
//! damaged byte range to `DIR/lost+found/` (described in `REPORT.json`), and leave a
//! directory that opens (`nyro_core::repair`). Then opens the database once to check that
//! it replays, and writes new hint files. A healthy directory is left as it is.

use std::path::Path;

use anyhow::Context;
use nyro_core::DbError;
use nyro_storage::{LostRange, Neighbour, RepairReport, StorageError};

use crate::cli::DataArgs;
use crate::offline::{self, existing_data_dir};
use crate::output::{human_bytes, progress};

/// Repairs the directory.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    existing_data_dir(&args.data)?;
    let bar = progress(
        Some(0),
        "{spinner} checking every frame [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta} left)",
    );
    let report = nyro_core::repair(&args.data, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report.map_err(|e| match e {
        // The message names the directory and what to do.
        DbError::Storage(e @ StorageError::Locked { .. }) => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(format!(
            "repairing {} failed; what it did so far loses nothing (each damaged range is in \
             lost+found before its segment is replaced): fix the cause and run `nyrodb repair` \
             again",
            args.data.display()
        )),
    })?;
    if !report.changed() {
        println!(
            "{} is healthy: {} segment{}, {} intact frame{}, {}; nothing to repair, nothing \
             was changed",
            args.data.display(),
            report.segments,
            plural(report.segments as u64),
            report.frames,
            plural(report.frames),
            human_bytes(report.bytes),
        );
        return Ok(());
    }
    print!("{}", render(&args.data, &report));
    let opened = check_opens(&args.data).with_context(|| {
        format!(
            "the log in {} was repaired, but the database does not open on it: records that \
             the repaired log keeps depend on records that were lost (listed in {}). Restore \
             the directory from a backup, or keep what `nyrodb verify` and `nyrodb export` \
             can still read",
            args.data.display(),
            report.report_file.as_deref().map_or_else(
                || "the output above".to_string(),
                |p| p.display().to_string()
            ),
        )
    })?;
    println!("{opened}");
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Opens the repaired directory (replaying the whole log), writes the hint files that repair
/// removed, and says what the database holds.
fn check_opens(dir: &Path) -> anyhow::Result<String> {
    let mut config = offline::config(dir, None)?;
    config.compaction.auto = false;
    offline::runtime()?.block_on(async {
        let db = offline::open(&config).await?;
        let hints = db.write_hints().await;
        let collections = db.collections();
        db.close().await?;
        hints?;
        let documents: u64 = collections.iter().map(|c| c.count).sum();
        Ok(format!(
            "the database opens: {documents} document{} in {} collection{}",
            plural(documents),
            collections.len(),
            plural(collections.len() as u64),
        ))
    })
}

/// An intact record next to a lost range, for people.
fn neighbour(n: &Neighbour) -> String {
    let collection = n.collection_name.as_ref().map_or_else(
        || format!("collection {}", n.collection),
        |name| name.clone(),
    );
    format!("{} {collection} id {} seq {}", n.kind.name(), n.id, n.seq)
}

fn range(dir: &Path, r: &LostRange) -> String {
    let around = match (&r.before, &r.after) {
        (Some(b), Some(a)) => format!("between {} and {}", neighbour(b), neighbour(a)),
        (Some(b), None) => format!("after {}", neighbour(b)),
        (None, Some(a)) => format!("before {}", neighbour(a)),
        (None, None) => "with no intact record around it".to_string(),
    };
    format!(
        "lost       {} at offset {} ({} bytes): {}; {around}; kept in {}\n",
        r.segment_file
            .strip_prefix(dir)
            .unwrap_or(&r.segment_file)
            .display(),
        r.offset,
        r.len,
        r.detail,
        r.file.strip_prefix(dir).unwrap_or(&r.file).display(),
    )
}

/// What the repair did: a summary line, then one line per lost range, rewritten segment and
/// removed hint.
fn render(dir: &Path, report: &RepairReport) -> String {
    let lost = if report.lost.is_empty() {
        "nothing lost".to_string()
    } else {
        format!(
            "{} damaged range{} of {} byte{} in all moved to {}",
            report.lost.len(),
            plural(report.lost.len() as u64),
            report.lost_bytes(),
            plural(report.lost_bytes()),
            dir.join(nyro_storage::LOST_FOUND_DIR).display(),
        )
    };
    let mut out = format!(
        "repaired {}: {} intact frame{} kept; {lost}\n",
        dir.display(),
        report.frames,
        plural(report.frames),
    );
    for r in &report.lost {
        out.push_str(&range(dir, r));
        for added in &r.added {
            out.push_str(&format!("added      {}\n", added.note));
        }
        if let (Some(before), Some(after)) = (&r.before, &r.after)
            && before.seq > after.seq
        {
            // Sequence numbers grow in log order: a segment is out of its place, which only a
            // damaged compaction marker does (docs/FORMAT.md section 8).
            out.push_str(&format!(
                "WARNING    the records after this range have lower seqs than those before it: \
                 {} lost the marker that gave its place in the log, and its records now replay \
                 after later ones; prefer restoring a backup\n",
                nyro_storage::segment_file_name(r.segment),
            ));
        }
    }
    for s in &report.rewritten {
        out.push_str(&format!(
            "rewritten  {} -> {} ({} -> {})\n",
            nyro_storage::segment_file_name(s.old),
            nyro_storage::segment_file_name(s.new),
            human_bytes(s.bytes_before),
            human_bytes(s.bytes_after),
        ));
    }
    for hint in &report.hints_removed {
        out.push_str(&format!(
            "removed    {} (a hint that could not be trusted; rewritten from its segment)\n",
            hint.strip_prefix(dir).unwrap_or(hint).display()
        ));
    }
    if let Some(file) = &report.report_file {
        out.push_str(&format!("report     {}\n", file.display()));
    }
    out
}
