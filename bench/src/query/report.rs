//! The query benchmark's results as a Markdown table: per kind and thread count, each
//! store's median queries per second over the rounds, and NyroDB's ratios (embedded against
//! SQLite, the server against PostgreSQL: both pairs run the same way).

use std::path::Path;

use anyhow::{Context, Result};

use super::data::Kind;
use super::{KindResult, QueryResult};
use crate::report::median;

/// Every result in `dir` (one JSON file per store).
pub fn load(dir: &Path) -> Result<Vec<QueryResult>> {
    let mut results = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            let result: QueryResult = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            results.push(result);
        }
    }
    Ok(results)
}

/// What a store's cell says for `kind` at `threads`.
enum Cell {
    Qps(f64),
    Refused,
    Wrong,
    Missing,
}

fn cell(results: &[QueryResult], store: &str, kind: Kind, threads: usize) -> Cell {
    let row: Option<&KindResult> = results
        .iter()
        .find(|r| r.store == store)
        .and_then(|r| r.rows.iter().find(|row| row.kind == kind));
    match row {
        None => Cell::Missing,
        Some(row) if row.refused.is_some() => Cell::Refused,
        Some(row) if row.wrong.is_some() => Cell::Wrong,
        Some(row) => row
            .qps
            .get(&threads)
            .and_then(|rounds| median(rounds.clone()))
            .map_or(Cell::Missing, Cell::Qps),
    }
}

fn show(cell: &Cell) -> String {
    match cell {
        Cell::Qps(qps) if *qps >= 100.0 => thousands(qps.round() as u64),
        Cell::Qps(qps) => format!("{qps:.1}"),
        Cell::Refused => "refused".to_string(),
        Cell::Wrong => "wrong answer".to_string(),
        Cell::Missing => "—".to_string(),
    }
}

fn ratio(a: &Cell, b: &Cell) -> String {
    match (a, b) {
        (Cell::Qps(a), Cell::Qps(b)) if *b > 0.0 => format!("{:.2}", a / b),
        _ => "—".to_string(),
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown table of `results`, then a line with each store's load time.
pub fn table(results: &[QueryResult]) -> String {
    let mut threads: Vec<usize> = results
        .iter()
        .flat_map(|r| r.rows.iter().flat_map(|row| row.qps.keys().copied()))
        .collect();
    threads.sort_unstable();
    threads.dedup();
    let mut out = String::from(
        "| query | threads | NyroDB (embedded) | SQLite | NyroDB / SQLite | NyroDB server | PostgreSQL | server / PostgreSQL |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for kind in Kind::ALL {
        for &t in &threads {
            let [nyro, sqlite, server, pg] = ["nyrodb", "sqlite", "nyrodb-server", "postgres"]
                .map(|store| cell(results, store, kind, t));
            out.push_str(&format!(
                "| {} | {t} | {} | {} | {} | {} | {} | {} |\n",
                kind.label(),
                show(&nyro),
                show(&sqlite),
                ratio(&nyro, &sqlite),
                show(&server),
                show(&pg),
                ratio(&server, &pg),
            ));
        }
    }
    let loads: Vec<String> = super::STORES
        .iter()
        .filter_map(|store| results.iter().find(|r| r.store == *store))
        .map(|r| match r.version.as_str() {
            "" => format!("{} {:.1} s", r.store, r.load_secs),
            version => format!("{} {version} {:.1} s", r.store, r.load_secs),
        })
        .collect();
    out.push_str(&format!(
        "\nLoad and index build of {} documents: {}.\n",
        thousands(results.first().map_or(0, |r| r.docs)),
        loads.join(", ")
    ));
    for r in results {
        for row in &r.rows {
            if let Some(why) = row.refused.as_ref().or(row.wrong.as_ref()) {
                let what = if row.refused.is_some() {
                    "refused"
                } else {
                    "wrong answer"
                };
                out.push_str(&format!("\n- {} {}, {:?}: {why}", r.store, what, row.kind));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
