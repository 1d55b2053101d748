//! `nyrodb stats --data DIR | --url URL`: counts and sizes, human-readable. Offline stats
//! are put in the shape of `GET /v1/stats` (without the server's counters), so one
//! renderer serves both, and `--json` prints that shape.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::cli::StatsArgs;
use crate::http::Client;
use crate::offline::{config, existing_data_dir, open, runtime};
use crate::output::{human_bytes, human_duration, print_json};

/// Prints the stats.
pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let (source, stats) = match (&args.source.data, &args.source.url) {
        (Some(dir), _) => (format!("data directory {}", dir.display()), offline(dir)?),
        (None, Some(url)) => {
            let client = Client::new(url, &args.source.access)?;
            let text = runtime()?.block_on(client.send(Method::GET, "/v1/stats", None))?;
            let stats = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "the answer of {}/v1/stats is not JSON ({e}); is --url a NyroDB server?",
                    client.base()
                )
            })?;
            (format!("server {}", client.base()), stats)
        }
        // clap's group requires exactly one of them.
        (None, None) => anyhow::bail!("pass --data DIR or --url URL"),
    };
    if args.json {
        print_json(&serde_json::to_string(&stats)?)?;
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(render(&source, &stats).as_bytes())?;
        stdout.flush()?;
    }
    Ok(())
}

fn offline(dir: &std::path::Path) -> anyhow::Result<Value> {
    existing_data_dir(dir)?;
    let runtime = runtime()?;
    let db = runtime.block_on(open(&config(dir, None)?))?;
    let s = db.stats();
    runtime.block_on(db.close())?;
    Ok(nyro_server::wire::database_stats(&s))
}

fn number(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

fn count_text(value: Option<&Value>) -> String {
    number(value).map_or_else(|| "?".to_string(), |n| n.to_string())
}

fn bytes_text(value: Option<&Value>) -> String {
    number(value).map_or_else(|| "?".to_string(), human_bytes)
}

/// The stats as a few aligned lines. Fields the answer lacks show as `?`.
fn render(source: &str, stats: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "NyroDB stats of {source}");
    let empty = Vec::new();
    let collections = stats
        .get("collections")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let _ = writeln!(out, "\nCollections: {}", collections.len());
    if !collections.is_empty() {
        let rows: Vec<(String, String, String)> = collections
            .iter()
            .map(|c| {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                let indexes = c
                    .get("indexes")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .map(|i| {
                                let field = i.get("field").and_then(Value::as_str).unwrap_or("?");
                                match number(i.get("distinct_values")) {
                                    Some(n) => format!("{field} ({n} distinct)"),
                                    None => field.to_string(),
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "-".to_string());
                (name, count_text(c.get("count")), indexes)
            })
            .collect();
        let name_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
        let count_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(9);
        let _ = writeln!(
            out,
            "  {:<name_width$}  {:>count_width$}  INDEXES",
            "NAME", "DOCUMENTS"
        );
        for (name, count, indexes) in rows {
            let _ = writeln!(
                out,
                "  {name:<name_width$}  {count:>count_width$}  {indexes}"
            );
        }
    }
    let log = stats.get("log");
    let field = |key: &str| log.and_then(|l| l.get(key));
    let disk = number(field("disk_bytes"));
    let dead = number(field("dead_bytes"));
    let dead_share = match (dead, disk) {
        (Some(dead), Some(disk)) if disk > 0 => {
            format!(" ({:.1}% of disk)", dead as f64 * 100.0 / disk as f64)
        }
        _ => String::new(),
    };
    let _ = writeln!(out, "\nLog");
    for (label, value) in [
        ("segments", count_text(field("segments"))),
        ("disk", bytes_text(field("disk_bytes"))),
        ("live", bytes_text(field("live_bytes"))),
        (
            "dead",
            format!("{}{dead_share}", bytes_text(field("dead_bytes"))),
        ),
        ("last seq", count_text(stats.get("last_seq"))),
    ] {
        let _ = writeln!(out, "  {label:<17}{value}");
    }
    if stats.get("uptime_seconds").is_some() {
        let uptime = stats
            .get("uptime_seconds")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or_else(
                || "?".to_string(),
                |s| human_duration(Duration::from_secs_f64(s)),
            );
        let writes = match stats.get("writes_poisoned") {
            Some(Value::String(reason)) => format!("REFUSED: {reason}"),
            _ => "accepted".to_string(),
        };
        let _ = writeln!(out, "\nServer");
        let _ = writeln!(out, "  uptime           {uptime}");
        let _ = writeln!(out, "  writes           {writes}");
        for (label, key) in [
            ("batches written", "batches_written"),
            ("records written", "records_written"),
            ("fsyncs", "fsyncs"),
            ("in-flight ops", "in_flight_ops"),
        ] {
            let _ = writeln!(out, "  {label:<17}{}", count_text(stats.get(key)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_a_server_answer() {
        let stats = json!({
            "collections": [{"name": "users", "count": 3,
                "indexes": [{"field": "city", "distinct_values": 2}]}],
            "log": {"segments": 1, "disk_bytes": 2048, "live_bytes": 1024, "dead_bytes": 1024},
            "last_seq": 7, "batches_written": 2, "records_written": 7, "fsyncs": 1,
            "in_flight_ops": 1, "uptime_seconds": 65.0, "writes_poisoned": null,
        });
        let text = render("server http://x", &stats);
        assert!(text.contains("users"), "{text}");
        assert!(text.contains("city (2 distinct)"), "{text}");
        assert!(text.contains("2.0 KiB (2048 bytes)"), "{text}");
        assert!(text.contains("(50.0% of disk)"), "{text}");
        assert!(text.contains("1m 5s"), "{text}");
        assert!(text.contains("accepted"), "{text}");
    }

    #[test]
    fn offline_stats_have_no_server_section() {
        let stats = json!({"collections": [], "log": {"segments": 1}, "last_seq": 0});
        let text = render("data directory d", &stats);
        assert!(!text.contains("Server"), "{text}");
        assert!(text.contains("disk             ?"), "{text}");
    }
}
