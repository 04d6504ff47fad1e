//! The `replication` and `failover` modes against the real `crossline` binary, tiny: a two-second replication run
//! with one standby (and its standalone baseline) and two leader kills, each checked for a sane JSON report. No
//! timing is asserted. Raft timing 50/300/600 ms (heartbeat, election min and max), as the cluster tests use, and
//! one cluster at a time. Skipped (with a message) when the crossline binary is not built next to crossline-bench.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One cluster at a time: two on a small box at once starve each other's Raft heartbeats.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn crossline_binary() -> Option<PathBuf> {
    let next_to_bench =
        Path::new(env!("CARGO_BIN_EXE_crossline-bench")).with_file_name("crossline");
    let next_to_test = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join("crossline")));
    [Some(next_to_bench), next_to_test]
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
}

fn run_bench(args: &[&str], json: &Path) -> Value {
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let output = Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args(args)
        .arg("--json")
        .arg(json)
        .output()
        .expect("runs crossline-bench");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).expect("the JSON report"))
        .expect("valid JSON")
}

#[test]
fn replication_smoke_reports_throughput_baseline_lag_and_convergence() {
    let Some(binary) = crossline_binary() else {
        eprintln!("skipping replication_smoke: build the crossline binary first");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("replication.json");
    let report = run_bench(
        &[
            "replication",
            "--binary",
            binary.to_str().expect("utf-8 path"),
            "--standbys",
            "1",
            "--rate",
            "1000",
            "--duration-s",
            "2",
            "--heartbeat-ms",
            "50",
            "--election-min-ms",
            "300",
            "--election-max-ms",
            "600",
        ],
        &json,
    );
    assert_eq!(report["mode"], "replication");
    assert_eq!(report["voters"], 2);
    assert!(report["ops"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(report["baseline"]["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(report["converged"], true, "{report}");
    let lag = &report["lag_ns"];
    assert!(lag["p50"].as_u64() <= lag["p99"].as_u64(), "{lag}");
    assert!(lag["p99"].as_u64() <= lag["p99_9"].as_u64(), "{lag}");
    assert!(lag["max"].as_u64().unwrap_or(0) > 0, "{lag}");
}

#[test]
fn failover_smoke_loses_and_duplicates_nothing() {
    let Some(binary) = crossline_binary() else {
        eprintln!("skipping failover_smoke: build the crossline binary first");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("failover.json");
    let report = run_bench(
        &[
            "failover",
            "--binary",
            binary.to_str().expect("utf-8 path"),
            "--kills",
            "2",
            "--settle-ms",
            "300",
            "--heartbeat-ms",
            "50",
            "--election-min-ms",
            "300",
            "--election-max-ms",
            "600",
        ],
        &json,
    );
    assert_eq!(report["mode"], "failover");
    assert_eq!(report["kills"], 2);
    assert_eq!(report["lost_acknowledged"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["converged"], true, "{report}");
    assert_eq!(report["per_kill"].as_array().map(Vec::len), Some(2));
    assert!(report["latency_ns"]["max"].as_u64().unwrap_or(0) > 0);
}
