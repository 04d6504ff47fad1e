//! Short journal and restart runs: each completes with every check passing, the JSON carries the names tools rely
//! on, and the run's directory is gone afterwards. These check the rig, not the journal's speed (no timing is
//! asserted).

use crossline_bench::modes::journal::{self, JournalOptions};
use crossline_bench::modes::restart::{self, RestartOptions};
use crossline_bench::timer::Timer;
use crossline_bench::workload::WorkloadKind;
use crossline_journal::FsyncPolicy;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Small segments, so that 10,000 records roll over a few times.
const SMALL_SEGMENT_BYTES: u64 = 512 << 10;

fn timer() -> Timer {
    Timer::new(Duration::from_millis(5))
}

fn assert_no_leftovers(parent: &Path) {
    let left: Vec<_> = std::fs::read_dir(parent)
        .expect("listing the parent")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "the run left {left:?} behind");
}

fn assert_contract_fields(json: &Value) {
    for key in [
        "mode",
        "workload",
        "ops",
        "seconds",
        "ops_per_sec",
        "latency_ns",
        "baseline",
        "env",
        "record_bytes_requested",
        "frame_bytes_actual",
        "replay_records_per_sec",
        "durable_lag_ns",
        "baseline_frame_bytes",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    for key in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
        assert!(
            json["latency_ns"].get(key).is_some(),
            "missing latency_ns.{key}"
        );
    }
    for key in ["name", "ops_per_sec", "latency_ns"] {
        assert!(
            json["baseline"].get(key).is_some(),
            "missing baseline.{key}"
        );
    }
    for key in ["cpu_model", "cores", "kernel", "command_line", "seed"] {
        assert!(json["env"].get(key).is_some(), "missing env.{key}");
    }
}

fn journal_run(fsync: FsyncPolicy) -> Value {
    let parent = tempfile::tempdir().expect("temp dir");
    let options = JournalOptions {
        segment_bytes: SMALL_SEGMENT_BYTES,
        fsync,
        sample_every: 8,
        dir: Some(parent.path().to_path_buf()),
        ..JournalOptions::new(10_000)
    };
    let run = journal::run(&options, &timer()).expect("the run completes");
    let report = &run.report;
    assert!(report.checks_passed(), "{}", report.render_table());
    assert_eq!(report.report.ops, 10_000);
    assert!(report.report.ops_per_sec > 0.0);
    assert!(report.replay_records_per_sec > 0.0);
    assert!(report
        .report
        .baseline
        .as_ref()
        .is_some_and(|b| b.ops_per_sec > 0.0));
    assert!(report
        .report
        .counters
        .get("segments")
        .is_some_and(|&n| n >= 2));
    assert!(report.rollovers >= 1, "small segments must roll over");
    assert_eq!(report.frame_bytes_actual, crossline_journal::FRAME_BYTES);
    assert_eq!(report.record_bytes_requested, 64);
    let table = report.render_table();
    assert!(table.contains("--record-bytes 64"), "{table}");
    assert_no_leftovers(parent.path());
    let json = serde_json::to_value(report).expect("serializes");
    assert_contract_fields(&json);
    json
}

#[test]
fn journal_runs_with_fsync_none() {
    let json = journal_run(FsyncPolicy::None);
    assert_eq!(json["fsync"], "none");
    assert!(
        json["durable_lag_ns"].is_null(),
        "nothing is durable under none"
    );
}

#[test]
fn journal_runs_with_fsync_interval() {
    let json = journal_run(FsyncPolicy::IntervalMs(1));
    assert_eq!(json["fsync"], "interval_ms=1");
    assert!(json["durable_lag_ns"]["p50"]
        .as_u64()
        .is_some_and(|ns| ns > 0));
    assert!(json["all_durable_seconds"].as_f64().is_some());
}

#[test]
fn journal_runs_with_fsync_every_batch() {
    let json = journal_run(FsyncPolicy::EveryBatch);
    assert_eq!(json["fsync"], "every_batch");
    assert!(json["durable_lag_ns"]["max"]
        .as_u64()
        .is_some_and(|ns| ns > 0));
}

#[test]
fn journal_keeps_its_directory_when_asked() {
    let parent = tempfile::tempdir().expect("temp dir");
    let options = JournalOptions {
        segment_bytes: SMALL_SEGMENT_BYTES,
        dir: Some(parent.path().to_path_buf()),
        keep: true,
        ..JournalOptions::new(2_000)
    };
    let run = journal::run(&options, &timer()).expect("the run completes");
    let kept = run.report.kept_dir.clone().expect("kept");
    assert!(Path::new(&kept).join("journal").is_dir());
    let report = crossline_journal::verify(&Path::new(&kept).join("journal")).expect("verifies");
    assert_eq!(report.verdict, crossline_journal::Verdict::Clean);
}

#[test]
fn the_binary_writes_the_journal_json() {
    let parent = tempfile::tempdir().expect("temp dir");
    let scratch = tempfile::tempdir().expect("temp dir");
    let json_path = parent.path().join("out.json");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args([
            "journal",
            "--records",
            "10000",
            "--record-bytes",
            "64",
            "--fsync",
            "interval_ms=1",
            "--segment-bytes",
            "524288",
            "--json",
        ])
        .arg(&json_path)
        .arg("--dir")
        .arg(scratch.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the binary runs");
    assert!(status.success());
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid JSON");
    assert_contract_fields(&json);
    assert_eq!(json["mode"], "journal");
    assert_eq!(json["ops"], 10_000);
    assert_no_leftovers(scratch.path());
}

#[test]
fn a_bad_fsync_setting_is_refused_by_the_binary() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args(["journal", "--records", "10", "--fsync", "sometimes"])
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("interval_ms=N"));
}

#[test]
fn restart_reproduces_the_state_hash() {
    for workload in [WorkloadKind::XcSingle, WorkloadKind::Liquibook] {
        let parent = tempfile::tempdir().expect("temp dir");
        let options = RestartOptions {
            workload,
            segment_bytes: SMALL_SEGMENT_BYTES,
            dir: Some(parent.path().to_path_buf()),
            ..RestartOptions::new(20_000, 6_000)
        };
        let report = restart::run(&options, &timer()).expect("the run completes");
        assert!(report.checks_passed(), "{}", report.render_table());
        assert_eq!(
            report
                .report
                .checks
                .get("state_hash_restored")
                .map(String::as_str),
            Some("ok")
        );
        assert_eq!(report.snapshot_seq, 18_000);
        assert_eq!(report.suffix_commands, 2_000);
        assert_eq!(report.snapshots_written, 3);
        let phases = report.phases_seconds;
        assert!(phases.total >= phases.recover + phases.replay);
        let json = serde_json::to_value(&report).expect("serializes");
        for key in [
            "mode",
            "ops",
            "seconds",
            "ops_per_sec",
            "phases_seconds",
            "env",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_no_leftovers(parent.path());
    }
}
