//! The figures of a run, by nemesis kind: printed as a Markdown table at the end of a run
//! and, with `NYRODB_CHAOS_REPORT=<file>`, appended to that file as one JSON line per run.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::json;

use super::checks::Findings;
use super::nemesis::Kind;

/// What the rounds of one kind found.
#[derive(Clone, Debug, Default)]
struct KindFigures {
    rounds: u64,
    requests: usize,
    checked: usize,
    unknown: usize,
    lost: usize,
    longest_wait: u64,
    unavailable: Vec<u64>,
}

/// The figures of a run so far.
#[derive(Debug, Default)]
pub struct Report {
    by_kind: BTreeMap<Kind, KindFigures>,
}

impl Report {
    /// Adds a round's findings.
    pub fn add(&mut self, kind: Kind, findings: &Findings) {
        let figures = self.by_kind.entry(kind).or_default();
        figures.rounds += 1;
        figures.requests += findings.requests;
        figures.checked += findings.checked;
        figures.unknown += findings.unknown;
        figures.lost += findings.lost;
        figures.longest_wait = figures.longest_wait.max(findings.longest_wait);
        figures.unavailable.extend(findings.unavailable_for);
    }

    /// The table: one row per kind and a total.
    pub fn table(&self, title: &str) -> String {
        let mut text = format!(
            "{title}\n\n| nemesis | rounds | requests | checked | unknown | lost | violations | \
             unavailable after kill p50 / max | longest wait |\n| --- | ---: | ---: | ---: | \
             ---: | ---: | ---: | ---: | ---: |\n"
        );
        let mut total = KindFigures::default();
        for (kind, f) in &self.by_kind {
            text.push_str(&row(kind.name(), f));
            total.rounds += f.rounds;
            total.requests += f.requests;
            total.checked += f.checked;
            total.unknown += f.unknown;
            total.lost += f.lost;
            total.longest_wait = total.longest_wait.max(f.longest_wait);
            total.unavailable.extend(&f.unavailable);
        }
        text.push_str(&row("**all**", &total));
        text
    }

    /// Appends the run to `path` as one JSON line.
    pub fn append_to(&self, path: &str, run: serde_json::Value) {
        let kinds: serde_json::Map<String, serde_json::Value> = self
            .by_kind
            .iter()
            .map(|(kind, f)| {
                let figures = json!({
                    "rounds": f.rounds, "requests": f.requests, "checked": f.checked,
                    "unknown": f.unknown, "lost": f.lost, "violations": 0,
                    "longest_wait_us": f.longest_wait, "unavailable_us": f.unavailable,
                });
                (kind.name().to_string(), figures)
            })
            .collect();
        let line = json!({"run": run, "kinds": kinds});
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot append the chaos report to {path}: {e}"));
        writeln!(file, "{line}").unwrap();
    }
}

fn millis(us: u64) -> String {
    format!("{:?}", Duration::from_millis(us / 1000))
}

/// One row; violations are 0 by construction (a violation fails the run).
fn row(name: &str, f: &KindFigures) -> String {
    let mut unavailable = f.unavailable.clone();
    unavailable.sort_unstable();
    let spread = match (unavailable.get(unavailable.len() / 2), unavailable.last()) {
        (Some(&p50), Some(&max)) => format!("{} / {}", millis(p50), millis(max)),
        _ => "-".to_string(),
    };
    format!(
        "| {name} | {} | {} | {} | {} | {} | 0 | {spread} | {} |\n",
        f.rounds,
        f.requests,
        f.checked,
        f.unknown,
        f.lost,
        millis(f.longest_wait)
    )
}
