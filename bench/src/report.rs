//! From the runs' JSON results to a Markdown section and a PNG chart: the median of each
//! figure over the rounds, per store.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::record::Mode;
use crate::run::RunResult;
use crate::store::STORES;

/// One figure of the comparison.
pub struct Metric {
    /// Its row label.
    pub label: &'static str,
    /// The unit the chart shows it in.
    pub unit: Unit,
    /// Whether a larger value is better.
    pub higher_is_better: bool,
    /// What its writes wait for.
    pub durability: Durability,
    /// Its value in a run (`None` when the store cannot do it).
    pub value: fn(&RunResult) -> Option<f64>,
}

/// What the writes of a figure wait for, the same for every store.
#[derive(Clone, Copy)]
pub enum Durability {
    /// No writes while it is measured.
    None,
    /// Each batch is synced to stable storage before it is acknowledged.
    Batch,
    /// Each write is synced before it is acknowledged (stores may share a sync).
    Write,
    /// Updates are synced in [`Mode::SameBytes`], not in [`Mode::Native`].
    Update,
}

impl Durability {
    /// Its table cell.
    pub fn cell(self, mode: Mode) -> &'static str {
        match self {
            Durability::None => "—",
            Durability::Batch => "fsync per batch",
            Durability::Write => "fsync per write",
            Durability::Update if mode.durable_updates() => "fsync per update",
            Durability::Update => "none (not synced)",
        }
    }

    /// What a chart's caption adds: that updates are not synced, where they are not.
    pub fn note(self, mode: Mode) -> &'static str {
        match self {
            Durability::Update if !mode.durable_updates() => ", not synced",
            _ => "",
        }
    }
}

/// How a figure is shown.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Operations (or documents) per second.
    PerSec,
    /// Bytes, shown in MB.
    Bytes,
    /// Seconds.
    Secs,
}

impl Unit {
    /// `value` with its unit, for a table cell.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::PerSec if value >= 1e6 => format!("{:.2} M/s", value / 1e6),
            Unit::PerSec if value >= 1e3 => format!("{:.1} k/s", value / 1e3),
            Unit::PerSec => format!("{value:.0} /s"),
            Unit::Bytes => format!("{:.1} MB", value / 1e6),
            Unit::Secs => format!("{value:.3} s"),
        }
    }

    /// The axis caption's unit.
    pub fn axis(self) -> &'static str {
        match self {
            Unit::PerSec => "per second",
            Unit::Bytes => "MB",
            Unit::Secs => "seconds",
        }
    }

    /// The value as the chart plots it.
    pub fn scaled(self, value: f64) -> f64 {
        match self {
            Unit::Bytes => value / 1e6,
            _ => value,
        }
    }
}

/// Every figure, in table order.
pub const METRICS: [Metric; 12] = [
    Metric {
        label: "durable batched ingest (batches of 10,000)",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::Batch,
        value: |r| Some(r.ingest_docs_per_sec),
    },
    Metric {
        label: "durable single writes, 32 writers",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::Write,
        value: |r| Some(r.concurrent_writes_per_sec),
    },
    Metric {
        label: "random gets, 2 threads",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::None,
        value: |r| Some(r.gets_per_sec),
    },
    Metric {
        label: "full scan",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::None,
        value: |r| Some(r.scan_docs_per_sec),
    },
    Metric {
        label: "YCSB A (50% reads, 50% updates)",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::Update,
        value: |r| Some(r.ycsb_a_ops_per_sec),
    },
    Metric {
        label: "YCSB B (95% reads, 5% updates)",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::Update,
        value: |r| Some(r.ycsb_b_ops_per_sec),
    },
    Metric {
        label: "YCSB C (100% reads)",
        unit: Unit::PerSec,
        higher_is_better: true,
        durability: Durability::None,
        value: |r| Some(r.ycsb_c_ops_per_sec),
    },
    Metric {
        label: "reopen + first get",
        unit: Unit::Secs,
        higher_is_better: false,
        durability: Durability::None,
        value: |r| Some(r.reopen_secs),
    },
    Metric {
        label: "disk after ingest",
        unit: Unit::Bytes,
        higher_is_better: false,
        durability: Durability::None,
        value: |r| Some(r.disk_after_ingest as f64),
    },
    Metric {
        label: "disk after overwriting half",
        unit: Unit::Bytes,
        higher_is_better: false,
        durability: Durability::None,
        value: |r| Some(r.disk_after_overwrite as f64),
    },
    Metric {
        label: "disk after the store's compaction",
        unit: Unit::Bytes,
        higher_is_better: false,
        durability: Durability::None,
        value: |r| r.disk_after_compaction.map(|b| b as f64),
    },
    Metric {
        label: "peak memory (RSS) of the run",
        unit: Unit::Bytes,
        higher_is_better: false,
        durability: Durability::None,
        value: |r| Some(r.peak_rss_bytes as f64),
    },
];

/// The median of each metric for each store that ran: `table[metric][store]`.
pub struct Medians {
    /// The stores that have results, in [`STORES`] order.
    pub stores: Vec<&'static str>,
    /// `values[metric][store]`.
    pub values: Vec<Vec<Option<f64>>>,
    /// Rounds per store (the smallest count, if they differ).
    pub rounds: usize,
    /// Documents per run.
    pub docs: u64,
    /// How the records were kept and read.
    pub mode: Mode,
}

/// Reads every `*.json` result of `mode` in `dir` and takes the medians.
pub fn medians(dir: &Path, mode: Mode) -> Result<Medians> {
    let mut results: Vec<RunResult> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            results.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?,
            );
        }
    }
    results.retain(|r| r.mode == mode);
    let stores: Vec<&'static str> = STORES
        .into_iter()
        .filter(|s| results.iter().any(|r| r.store == *s))
        .collect();
    if stores.is_empty() {
        bail!("no results of mode {} in {}", mode.name(), dir.display());
    }
    let docs = results[0].docs;
    if results.iter().any(|r| r.docs != docs) {
        bail!("the results in {} are of different sizes", dir.display());
    }
    let of = |store: &'static str| results.iter().filter(move |r| r.store == store);
    let rounds = stores.iter().map(|s| of(s).count()).min().unwrap_or(0);
    let values = METRICS
        .iter()
        .map(|m| {
            stores
                .iter()
                .map(|s| median(of(s).filter_map(|r| (m.value)(r)).collect()))
                .collect()
        })
        .collect();
    Ok(Medians {
        stores,
        values,
        rounds,
        docs,
        mode,
    })
}

pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The index of the best value of a row.
fn best(metric: &Metric, row: &[Option<f64>]) -> Option<usize> {
    row.iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .reduce(|a, b| {
            let b_wins = if metric.higher_is_better {
                b.1 > a.1
            } else {
                b.1 < a.1
            };
            if b_wins { b } else { a }
        })
        .map(|(i, _)| i)
}

/// The Markdown table: one row per metric with what its writes wait for, one column per
/// store, the best in bold, and how NyroDB compares with the best: 1.00 when it is the best,
/// 0.50 when it does half as well (half the rate, or twice the time or bytes).
pub fn table(m: &Medians) -> String {
    let mut out = String::from("| workload | durability |");
    for store in &m.stores {
        out.push_str(&format!(" {} |", display_name(store)));
    }
    out.push_str(" NyroDB vs best |\n| --- | --- |");
    out.push_str(&" ---: |".repeat(m.stores.len() + 1));
    out.push('\n');
    let nyro = m.stores.iter().position(|s| *s == "nyrodb");
    for (metric, row) in METRICS.iter().zip(&m.values) {
        let best = best(metric, row);
        out.push_str(&format!(
            "| {} | {} |",
            metric.label,
            metric.durability.cell(m.mode)
        ));
        for (i, value) in row.iter().enumerate() {
            let cell = match value {
                Some(v) if Some(i) == best => format!("**{}**", metric.unit.format(*v)),
                Some(v) => metric.unit.format(*v),
                None => "—".to_string(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        let ratio = match (nyro.and_then(|n| row[n]), best.and_then(|b| row[b])) {
            (Some(ours), Some(top)) if metric.higher_is_better && top > 0.0 => {
                format!("{:.2}", ours / top)
            }
            (Some(ours), Some(top)) if !metric.higher_is_better && ours > 0.0 => {
                format!("{:.2}", top / ours)
            }
            _ => "—".to_string(),
        };
        out.push_str(&format!(" {ratio} |\n"));
    }
    out
}

/// How a store is named in tables and charts.
pub fn display_name(store: &str) -> &str {
    match store {
        "nyrodb" => "NyroDB",
        "lmdb" => "LMDB (heed)",
        "rocksdb" => "RocksDB",
        other => other,
    }
}

/// Draws one bar chart per metric into a grid, as a PNG at `path`. `font` is a TrueType
/// font file for the text.
pub fn chart(m: &Medians, path: &Path, font: &Path) -> Result<()> {
    use plotters::prelude::*;

    let bytes =
        std::fs::read(font).with_context(|| format!("reading the font {}", font.display()))?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| anyhow::anyhow!("{} is not a TrueType font plotters can use", font.display()))?;

    // Every metric but the last (peak memory, which is in the table only).
    let panels: Vec<usize> = (0..METRICS.len() - 1).collect();
    let columns = 3;
    let rows = panels.len().div_ceil(columns);
    let root = BitMapBackend::new(path, (1500, 420 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((rows, columns));
    let palette = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
    ];

    for (area, &i) in areas.iter().zip(&panels) {
        let metric = &METRICS[i];
        let row = &m.values[i];
        let top = row
            .iter()
            .flatten()
            .map(|v| metric.unit.scaled(*v))
            .fold(0.0, f64::max);
        let better = if metric.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        };
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}{} ({better})",
                    metric.label,
                    metric.durability.note(m.mode)
                ),
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (0..m.stores.len().saturating_sub(1)).into_segmented(),
                0.0..(top * 1.15).max(1e-9),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_labels(6)
            .y_desc(metric.unit.axis())
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(s) => m
                    .stores
                    .get(*s)
                    .map_or(String::new(), |s| display_name(s).to_string()),
                _ => String::new(),
            })
            .y_label_formatter(&|y| short(*y))
            .label_style(("sans-serif", 14))
            .draw()?;
        for (s, value) in row.iter().enumerate() {
            let Some(value) = value else { continue };
            let v = metric.unit.scaled(*value);
            let color =
                palette[STORES.iter().position(|x| *x == m.stores[s]).unwrap_or(0) % palette.len()];
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (SegmentValue::Exact(s), 0.0),
                    (SegmentValue::Exact(s + 1), v),
                ],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                short(v),
                (SegmentValue::CenterOf(s), v + top * 0.02),
                TextStyle::from(("sans-serif", 14).into_font()).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                ),
            )))?;
        }
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A number in at most four significant characters: 1.2M, 340k, 0.62.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn best_follows_the_direction_of_the_metric() {
        let row = [Some(3.0), None, Some(5.0)];
        assert_eq!(best(&METRICS[0], &row), Some(2));
        assert_eq!(best(&METRICS[7], &row), Some(0));
    }
}
