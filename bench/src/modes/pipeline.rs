//! `crossline-bench pipeline`: the appliance's pipeline in process, no sockets: ring -> sequencer -> journal ->
//! matcher -> ring, with journaling on, against a raw ring hop measured in the same run.
//!
//! The pipeline lives in the `crossline` binary and nothing may depend on it, so the measurement runs there, as the
//! hidden `crossline bench-pipeline --ops N --json` (src/pipeline_bench.rs, which builds the real `EngineStage`
//! with a journal in a temporary directory, a producer thread in place of the gateway and a consumer thread
//! draining the outbound ring); this mode starts it, reads its JSON and reports it like the other modes.

use crate::env::Environment;
use crate::histogram::LatencyNs;
use crate::report::{group_digits, Baseline, LatencySampling, Named, Report};
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The goal of issue 5.
pub const PIPELINE_GOAL_OPS_PER_SEC: f64 = 3_000_000.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOptions {
    pub binary: PathBuf,
    pub ops: u64,
}

/// The JSON of a pipeline run: the common report with the binary's own report beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineReport {
    #[serde(flatten)]
    pub report: Report,
    pub goal_ops_per_sec: f64,
    /// What `crossline bench-pipeline` printed.
    pub raw: Value,
}

fn latency(value: &Value) -> Option<LatencyNs> {
    let get = |key: &str| value.get(key).and_then(Value::as_u64);
    Some(LatencyNs {
        p50: get("p50")?,
        p90: get("p90")?,
        p99: get("p99")?,
        p99_9: get("p99_9")?,
        p99_99: get("p99_99")?,
        max: get("max")?,
    })
}

pub fn run(options: &PipelineOptions) -> anyhow::Result<PipelineReport> {
    if options.ops == 0 {
        bail!("--ops must be at least 1");
    }
    if !options.binary.is_file() {
        bail!(
            "{} does not exist: build the appliance with `cargo build --release -p crossline` or pass --binary PATH",
            options.binary.display()
        );
    }
    let env = Environment::capture(0);
    let output = Command::new(&options.binary)
        .args(["bench-pipeline", "--json", "--ops"])
        .arg(options.ops.to_string())
        .output()
        .with_context(|| format!("running {} bench-pipeline", options.binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} bench-pipeline failed ({}): {}",
            options.binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let raw: Value =
        serde_json::from_slice(&output.stdout).context("reading bench-pipeline's JSON")?;
    let pipeline = &raw["pipeline"];
    let baseline = &raw["baseline"];
    let f = |value: &Value, key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let u = |value: &Value, key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    let ops_per_sec = f(pipeline, "ops_per_sec");

    let mut counters = Named::new();
    counters.push("commands_applied", u(pipeline, "commands_applied"));
    counters.push("events", u(pipeline, "events"));
    counters.push("engine_batches", u(pipeline, "batches"));
    counters.push("rejects", u(pipeline, "rejects"));
    counters.push("outbound_ring_full", u(pipeline, "outbound_ring_full"));
    let mut checks = Named::new();
    checks.push(
        "commands",
        if u(pipeline, "commands_applied") == options.ops {
            "ok".to_string()
        } else {
            format!(
                "{} of {} applied",
                u(pipeline, "commands_applied"),
                options.ops
            )
        },
    );
    let mut notes = vec![
        format!(
            "journal on: fsync {} every {} ms (the embedded configuration's), segments in a temporary directory",
            pipeline["journal_fsync"].as_str().unwrap_or("?"),
            u(pipeline, "journal_fsync_interval_ms")
        ),
        "latency: producer stamps each batch of 64 commands it writes, the consumer reads the clock when a batch \
         of events arrives; the producer writes as fast as the rings allow, so this is queueing time in a \
         saturated pipeline, not an idle-pipeline latency"
            .to_string(),
        format!(
            "rejects are cancels that found their order already gone (filled by an IOC, or cancelled by self-trade prevention): {}, not failures",
            group_digits(u(pipeline, "rejects"))
        ),
    ];
    if let Some(batch) = pipeline
        .get("engine_batch_latency_ns")
        .filter(|v| !v.is_null())
    {
        notes.push(format!(
            "engine stage per batch (journal append + commit + apply of up to 256 commands, power-of-two buckets): \
             p50 <= {} ns, p99 <= {} ns, p99.9 <= {} ns over {} batches",
            group_digits(u(batch, "p50")),
            group_digits(u(batch, "p99")),
            group_digits(u(batch, "p99_9")),
            group_digits(u(batch, "batches"))
        ));
    }
    notes.push(format!(
        "goal {} ops/s: {}",
        group_digits(PIPELINE_GOAL_OPS_PER_SEC as u64),
        if ops_per_sec >= PIPELINE_GOAL_OPS_PER_SEC {
            "met".to_string()
        } else {
            format!(
                "missed ({} ops/s; producer, engine, consumer and the journal flusher share {} cores)",
                group_digits(ops_per_sec.round() as u64),
                env.cores
            )
        }
    ));
    let report = Report {
        mode: "pipeline".to_string(),
        workload: "mm-orders".to_string(),
        ops: options.ops,
        seconds: f(pipeline, "seconds"),
        ops_per_sec,
        latency_ns: latency(&pipeline["latency_ns"]),
        latency_sampling: LatencySampling {
            method:
                "one sample per batch the consumer drains, from the producer's stamp of that batch"
                    .to_string(),
            every: 0,
            samples: u(pipeline, "latency_samples"),
            timer: "wall clock (CLOCK_REALTIME via the vDSO)".to_string(),
            timer_overhead_ns: 20.0,
            unit: "one batch through ring -> sequencer -> journal -> matcher -> ring".to_string(),
        },
        headline: None,
        baseline: Some(Baseline {
            name: baseline["name"]
                .as_str()
                .unwrap_or("raw ring hop")
                .to_string(),
            ops_per_sec: f(baseline, "ops_per_sec"),
            latency_ns: latency(&baseline["latency_ns"]),
        }),
        counters,
        mix: Named::new(),
        checks,
        state_hash: None,
        env,
        notes,
        extra_rows: vec![(
            "threads".to_string(),
            raw["threads"].as_str().unwrap_or("").to_string(),
        )],
    };
    Ok(PipelineReport {
        report,
        goal_ops_per_sec: PIPELINE_GOAL_OPS_PER_SEC,
        raw,
    })
}
