//! What a run reports, in two forms: a table for the terminal and JSON for tools (`--json FILE`). Every mode fills
//! the same `Report`; the JSON names (mode, workload, ops, seconds, ops_per_sec, latency_ns {p50, p90, p99, p99_9,
//! p99_99, max}, baseline, env) are a contract later tools rely on, so they change only by adding.

use crate::env::Environment;
use crate::histogram::LatencyNs;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt::Write as _;
use std::path::Path;

/// Named values that serialize as a JSON object in insertion order (the order the table prints them in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Named<T>(pub Vec<(String, T)>);

impl<T> Named<T> {
    pub fn new() -> Named<T> {
        Named(Vec::new())
    }

    pub fn push(&mut self, name: impl Into<String>, value: T) {
        self.0.push((name.into(), value));
    }

    pub fn get(&self, name: &str) -> Option<&T> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Serialize> Serialize for Named<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// How per-op latency was obtained, so a reader knows what the percentiles stand on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LatencySampling {
    /// For example "sampled 1 in 16 (random gaps)".
    pub method: String,
    /// Zero when nothing was timed.
    pub every: u32,
    pub samples: u64,
    pub timer: String,
    /// What one timing adds by itself; the samples include it.
    pub timer_overhead_ns: f64,
    /// What one sample is: "one engine command", "one MassCancel command".
    pub unit: String,
}

/// The figure a workload is about when it is not plain ops per second (mass-cancel: orders cancelled per second).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Headline {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// A reference measured in the same run (bare echo, raw ring hop, raw copy): the floor the result is read against.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Baseline {
    pub name: String,
    pub ops_per_sec: f64,
    pub latency_ns: Option<LatencyNs>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub mode: String,
    pub workload: String,
    /// Operations measured (commands for the engine mode).
    pub ops: u64,
    /// Wall time of the measured operations only.
    pub seconds: f64,
    pub ops_per_sec: f64,
    /// None when no operation was timed.
    pub latency_ns: Option<LatencyNs>,
    pub latency_sampling: LatencySampling,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<Headline>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// Workload counters: events, executions, rejects, cancels, ...
    pub counters: Named<u64>,
    /// Measured commands by kind.
    pub mix: Named<u64>,
    /// Checks made after the run, each "ok" or what failed.
    pub checks: Named<String>,
    /// The engine's state hash after the run, hex; runs with the same seed and engine must agree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_hash: Option<String>,
    pub env: Environment,
    pub notes: Vec<String>,
    /// Mode-specific lines for the table (label, text), printed after the latency block. Not serialized: a mode
    /// that has figures of its own puts them in its JSON beside the report (see `modes::journal`).
    #[serde(skip)]
    pub extra_rows: Vec<(String, String)>,
}

/// Writes any serializable report as pretty JSON with a final newline.
pub fn write_json_file<T: Serialize>(value: &T, path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut text = serde_json::to_string_pretty(value).context("serializing the report")?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The two table lines of a latency summary: the quantile labels and the values, right-aligned in columns of 10
/// characters, wider when a value needs it (a durable-watermark lag can run to seconds).
pub fn latency_rows(latency: &LatencyNs) -> (String, String) {
    let labels = LatencyNs::QUANTILES
        .iter()
        .map(|(label, _)| *label)
        .chain(["max"]);
    let values: Vec<String> = latency.values().iter().map(|&v| group_digits(v)).collect();
    let width = values
        .iter()
        .map(|value| value.len() + 2)
        .max()
        .unwrap_or(0)
        .max(10);
    let mut header = String::from("   ");
    let mut row = String::from("   ");
    for (label, value) in labels.zip(&values) {
        let _ = write!(header, "{label:>width$}");
        let _ = write!(row, "{value:>width$}");
    }
    (header, row)
}

impl Report {
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        write_json_file(self, path)
    }

    /// True when every check passed.
    pub fn checks_passed(&self) -> bool {
        self.checks.0.iter().all(|(_, outcome)| outcome == "ok")
    }

    /// The terminal table.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored with `let _`.
        let _ = writeln!(
            out,
            "crossline-bench {} · workload {} · seed {}",
            self.mode, self.workload, self.env.seed
        );
        let _ = writeln!(
            out,
            "  {:<22}{:>16}",
            "ops (measured)",
            group_digits(self.ops)
        );
        let _ = writeln!(out, "  {:<22}{:>16.6} s", "duration", self.seconds);
        let _ = writeln!(
            out,
            "  {:<22}{:>16} ops/s",
            "throughput",
            group_digits(self.ops_per_sec.round() as u64)
        );
        if self.ops > 0 && self.seconds > 0.0 {
            let _ = writeln!(
                out,
                "  {:<22}{:>16.1} ns",
                "mean time per op",
                self.seconds * 1e9 / self.ops as f64
            );
        }
        if let Some(headline) = &self.headline {
            let _ = writeln!(
                out,
                "  {:<22}{:>16} {}",
                headline.name,
                group_digits(headline.value.round() as u64),
                headline.unit
            );
        }
        let sampling = &self.latency_sampling;
        match &self.latency_ns {
            Some(latency) => {
                let _ = writeln!(
                    out,
                    "  latency per op, ns: {}, {} samples of {}; timer {} (~{:.0} ns included)",
                    sampling.method,
                    group_digits(sampling.samples),
                    sampling.unit,
                    sampling.timer,
                    sampling.timer_overhead_ns
                );
                let (header, values) = latency_rows(latency);
                let _ = writeln!(out, "{header}");
                let _ = writeln!(out, "{values}");
            }
            None => {
                let _ = writeln!(out, "  latency per op: {}", sampling.method);
            }
        }
        if let Some(baseline) = &self.baseline {
            let _ = writeln!(
                out,
                "  {:<22}{:>16} ops/s  ({})",
                "baseline",
                group_digits(baseline.ops_per_sec.round() as u64),
                baseline.name
            );
            if let Some(latency) = &baseline.latency_ns {
                let (header, values) = latency_rows(latency);
                let _ = writeln!(out, "  baseline latency per op, ns:");
                let _ = writeln!(out, "{header}");
                let _ = writeln!(out, "{values}");
            }
        }
        for (label, text) in &self.extra_rows {
            let _ = writeln!(out, "  {label:<22}{text}");
        }
        write_named_row(&mut out, "counters", &self.counters, |value| {
            group_digits(*value)
        });
        write_named_row(&mut out, "mix", &self.mix, |value| group_digits(*value));
        if let Some(hash) = &self.state_hash {
            let _ = writeln!(out, "  {:<22}{hash}", "state hash");
        }
        write_named_row(&mut out, "checks", &self.checks, |value| value.clone());
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        let _ = writeln!(out, "  env: {}", self.env.summary());
        let _ = writeln!(out, "  command: {}", self.env.command_line);
        out
    }
}

fn write_named_row<T>(
    out: &mut String,
    title: &str,
    named: &Named<T>,
    show: impl Fn(&T) -> String,
) {
    if named.is_empty() {
        return;
    }
    let items: Vec<String> = named
        .0
        .iter()
        .map(|(name, value)| format!("{name} {}", show(value)))
        .collect();
    let _ = writeln!(out, "  {title:<22}{}", items.join(" · "));
}

/// 1234567 -> "1,234,567".
pub fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    // Digits left before the next comma: the leading group has 1 to 3 of them.
    let mut left_in_group = match digits.len() % 3 {
        0 => 3,
        partial => partial,
    };
    for digit in digits.chars() {
        if left_in_group == 0 {
            out.push(',');
            left_in_group = 3;
        }
        out.push(digit);
        left_in_group -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_report() -> Report {
        let mut counters = Named::new();
        counters.push("events", 10u64);
        counters.push("rejects", 0u64);
        let mut checks = Named::new();
        checks.push("validate", "ok".to_string());
        Report {
            mode: "engine".into(),
            workload: "liquibook".into(),
            ops: 1_000,
            seconds: 0.5,
            ops_per_sec: 2_000.0,
            latency_ns: Some(LatencyNs {
                p50: 1,
                p90: 2,
                p99: 3,
                p99_9: 4,
                p99_99: 5,
                max: 6,
            }),
            latency_sampling: LatencySampling {
                method: "sampled 1 in 16 (random gaps)".into(),
                every: 16,
                samples: 62,
                timer: "test".into(),
                timer_overhead_ns: 10.0,
                unit: "one engine command".into(),
            },
            headline: None,
            baseline: None,
            counters,
            mix: Named::new(),
            checks,
            state_hash: Some("0x0123".into()),
            env: Environment::capture(3),
            notes: vec![],
            extra_rows: vec![],
        }
    }

    #[test]
    fn json_carries_the_contract_names() {
        let report = sample_report();
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        for key in [
            "mode",
            "workload",
            "ops",
            "seconds",
            "ops_per_sec",
            "latency_ns",
            "env",
            "counters",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
            assert!(
                json["latency_ns"].get(key).is_some(),
                "missing latency_ns.{key}"
            );
        }
        for key in [
            "cpu_model",
            "cores",
            "kernel",
            "governor",
            "isolated_cpus",
            "command_line",
            "seed",
        ] {
            assert!(json["env"].get(key).is_some(), "missing env.{key}");
        }
        let counter_names: Vec<&String> = json["counters"]
            .as_object()
            .expect("object")
            .keys()
            .collect();
        assert_eq!(counter_names, ["events", "rejects"]);
    }

    #[test]
    fn table_shows_the_figures() {
        let table = sample_report().render_table();
        assert!(table.contains("2,000 ops/s"), "{table}");
        assert!(table.contains("p99.99"));
        assert!(table.contains("rejects 0"));
    }

    #[test]
    fn latency_columns_widen_for_long_values() {
        let (header, values) = latency_rows(&LatencyNs {
            p50: 380_370_943,
            p90: 410_255_359,
            p99: 1,
            p99_9: 2,
            p99_99: 3,
            max: 4,
        });
        assert!(values.contains("380,370,943  410,255,359"), "{values}");
        assert_eq!(header.len(), values.len());
        let (header, values) = latency_rows(&sample_report().latency_ns.expect("latency"));
        assert_eq!(
            header,
            format!(
                "   {:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
                "p50", "p90", "p99", "p99.9", "p99.99", "max"
            )
        );
        assert!(values.ends_with("         6"));
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1,000");
        assert_eq!(group_digits(12_345_678), "12,345,678");
    }
}
