//! `nyrodb verify --data DIR`: checks every frame with `nyro_storage::verify`, changing
//! nothing. Prints a summary and each damaged place on stdout; exits 1 if any is corrupt.

use std::io::Write;

use anyhow::bail;
use nyro_storage::{Problem, Severity, VerifyReport};

use crate::cli::DataArgs;
use crate::offline::existing_data_dir;
use crate::output::human_bytes;

/// Verifies the directory.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    existing_data_dir(&args.data)?;
    let report = nyro_storage::verify(&args.data)?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", render(&args.data, &report))?;
    stdout.flush()?;
    let corrupt = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Corrupt)
        .count();
    if corrupt > 0 {
        bail!(
            "{} is damaged: {corrupt} corrupt place{} (listed above); the database refuses to \
             open it as it is. Keep a copy of the directory, then restore it from a backup, or \
             run `nyrodb repair --data {}` to keep every intact frame and move the damaged \
             bytes to its lost+found",
            args.data.display(),
            if corrupt == 1 { "" } else { "s" },
            args.data.display(),
        );
    }
    Ok(())
}

fn severity(problem: &Problem) -> &'static str {
    match problem.severity {
        Severity::Corrupt => "CORRUPT",
        Severity::TornTail => "torn tail",
    }
}

/// The report as text: one summary line, then one line per problem.
fn render(dir: &std::path::Path, report: &VerifyReport) -> String {
    let mut out = format!(
        "{}: {} segment{}, {} intact frame{}, {}\n",
        dir.display(),
        report.segments,
        if report.segments == 1 { "" } else { "s" },
        report.frames,
        if report.frames == 1 { "" } else { "s" },
        human_bytes(report.bytes),
    );
    for problem in &report.problems {
        out.push_str(&format!(
            "{:<9}  {} at offset {} ({} bytes): {}\n",
            severity(problem),
            problem.path.display(),
            problem.offset,
            problem.len,
            problem.detail
        ));
    }
    if report.is_intact() {
        if report.problems.is_empty() {
            out.push_str("intact: every frame passed its checks\n");
        } else {
            out.push_str(
                "intact: the torn tail is the normal trace of a crash; the next open cuts it \
                 off\n",
            );
        }
    }
    out
}
