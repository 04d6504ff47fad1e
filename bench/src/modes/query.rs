//! `crossline-bench query`: the query side's sustained apply rate into its database (rows/s, orders/s), and its
//! lag behind a leader writing at a fixed rate.
//!
//! The query side lives in the `crossline` binary and nothing may depend on it, so the measurement runs there, as
//! the hidden `crossline bench-query --json` (src/query/bench.rs: the seeded flow written to a journal in a
//! temporary directory, replayed by a `QueryStage` into a fresh database; then, with `--rate`, a journal writer
//! paced at that rate with the stage tailing it on its own thread); this mode starts it, reads its JSON and reports
//! it like the other modes.

use crate::env::Environment;
use crate::report::{group_digits, LatencySampling, Named, Report};
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone, PartialEq)]
pub struct QueryOptions {
    pub binary: PathBuf,
    pub commands: u64,
    pub seed: u64,
    /// sqlite://FILE or postgres://...; None: a SQLite file in a temporary directory.
    pub db: Option<String>,
    pub batch_max_commands: usize,
    /// Leader rate for the lag run (commands/s); 0 skips it.
    pub rate: u64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryReport {
    #[serde(flatten)]
    pub report: Report,
    /// What `crossline bench-query` printed.
    pub raw: Value,
}

pub fn run(options: &QueryOptions) -> anyhow::Result<QueryReport> {
    if options.commands == 0 {
        bail!("--commands must be at least 1");
    }
    if !options.binary.is_file() {
        bail!(
            "{} does not exist: build the appliance with `cargo build --release -p crossline` or pass --binary PATH",
            options.binary.display()
        );
    }
    let env = Environment::capture(0);
    let mut command = Command::new(&options.binary);
    command
        .args(["bench-query", "--json", "--commands"])
        .arg(options.commands.to_string())
        .args(["--seed", &options.seed.to_string()])
        .args([
            "--batch-max-commands",
            &options.batch_max_commands.to_string(),
        ])
        .args(["--rate", &options.rate.to_string()])
        .args(["--duration-s", &options.duration_s.to_string()]);
    if let Some(db) = &options.db {
        command.args(["--db", db]);
    }
    let output = command
        .output()
        .with_context(|| format!("running {} bench-query", options.binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} bench-query failed ({}): {}",
            options.binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let raw: Value =
        serde_json::from_slice(&output.stdout).context("reading bench-query's JSON")?;
    let apply = &raw["apply"];
    let f = |value: &Value, key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let u = |value: &Value, key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);

    let mut counters = Named::new();
    counters.push("rows", u(apply, "rows"));
    counters.push("orders", u(apply, "orders"));
    counters.push("executions", u(apply, "executions"));
    counters.push("batches", u(apply, "batches"));
    let mut checks = Named::new();
    checks.push(
        "commands",
        if u(apply, "commands") == u(apply, "last_seq") {
            "ok".to_string()
        } else {
            format!(
                "{} of {} written",
                u(apply, "commands"),
                u(apply, "last_seq")
            )
        },
    );
    let database = apply["database"].as_str().unwrap_or("?").to_string();
    let mut notes = vec![format!(
        "apply into {database}: {} rows/s, {} orders/s, {} commands/s (batches of up to {} commands, one \
         transaction each)",
        group_digits(f(apply, "rows_per_sec").round() as u64),
        group_digits(f(apply, "orders_per_sec").round() as u64),
        group_digits(f(apply, "commands_per_sec").round() as u64),
        u(apply, "batch_max_commands")
    )];
    let mut extra_rows = vec![
        (
            "rows/s".to_string(),
            group_digits(f(apply, "rows_per_sec").round() as u64),
        ),
        (
            "orders/s".to_string(),
            group_digits(f(apply, "orders_per_sec").round() as u64),
        ),
    ];
    let lag = &raw["lag"];
    if lag.is_object() {
        let achieved = f(lag, "rate_achieved");
        checks.push(
            "leader rate",
            if achieved >= 0.95 * u(lag, "rate_target") as f64 {
                "ok".to_string()
            } else {
                format!(
                    "{} of {} commands/s",
                    achieved.round(),
                    u(lag, "rate_target")
                )
            },
        );
        let line = format!(
            "p50 {} ms, p99 {} ms, max {} ms; p99 {} commands, max {} commands behind",
            u(&lag["lag_ms"], "p50"),
            u(&lag["lag_ms"], "p99"),
            u(&lag["lag_ms"], "max"),
            group_digits(u(&lag["lag_commands"], "p99")),
            group_digits(u(&lag["lag_commands"], "max"))
        );
        notes.push(format!(
            "lag behind a leader at {} commands/s for {} commands (sampled every 10 ms): {line}",
            group_digits(u(lag, "rate_target")),
            group_digits(u(lag, "commands"))
        ));
        extra_rows.push(("lag".to_string(), line));
    }
    let report = Report {
        mode: "query".to_string(),
        workload: "query-flow".to_string(),
        ops: u(apply, "commands"),
        seconds: f(apply, "seconds"),
        ops_per_sec: f(apply, "commands_per_sec"),
        latency_ns: None,
        latency_sampling: LatencySampling {
            method: "none: throughput of the replay into the database".to_string(),
            every: 0,
            samples: 0,
            timer: "monotonic clock around the whole replay".to_string(),
            timer_overhead_ns: 0.0,
            unit: "one journaled command, its rows written".to_string(),
        },
        headline: None,
        baseline: None,
        counters,
        mix: Named::new(),
        checks,
        state_hash: None,
        env,
        notes,
        extra_rows,
    };
    Ok(QueryReport { report, raw })
}
