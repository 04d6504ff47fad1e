//! The `wire`, `pipeline` and `query` modes against the real `crossline` binary: a short `wire --spawn` (one
//! session, a low rate, one second), a small `pipeline` and a small `query` run, each checked for a sane JSON report.
//!
//! crossline-bench does not depend on the appliance's package, so the binary is found where `cargo build --release`
//! (or `cargo test --workspace --release`, which builds every binary first) puts it: next to crossline-bench. When
//! it is not there, the tests say so and pass without running.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn skip(test: &str) {
    eprintln!(
        "skipping {test}: the crossline binary is not built next to crossline-bench (run `cargo build --release -p \
         crossline` first)"
    );
}

fn run_bench(args: &[&str], json: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args(args)
        .arg("--json")
        .arg(json)
        .output()
        .expect("runs crossline-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).expect("the JSON report"))
        .expect("valid JSON")
}

fn assert_latency(value: &Value, what: &str) {
    for key in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
        let v = value[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}.{key} missing: {value}"));
        assert!(v > 0, "{what}.{key} is zero");
    }
    assert!(
        value["p50"].as_u64() <= value["p99"].as_u64(),
        "{what}: p50 above p99"
    );
    assert!(
        value["p99"].as_u64() <= value["max"].as_u64(),
        "{what}: p99 above max"
    );
}

#[test]
fn wire_spawn_smoke_reports_the_appliance_and_the_echo_baseline() {
    let Some(binary) = crossline_binary() else {
        skip("wire_spawn_smoke");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("wire.json");
    let answers = dir.path().join("answers.csv");
    let report = run_bench(
        &[
            "wire",
            "--spawn",
            "--binary",
            binary.to_str().expect("utf-8 path"),
            "--rate",
            "2000",
            "--duration-s",
            "1",
            "--sessions",
            "1",
            "--slices",
            "4",
            "--answers-csv",
            answers.to_str().expect("utf-8 path"),
        ],
        &json,
    );
    // One line per answered message: every planned message once, each within the run and never faster than 0.
    let text = std::fs::read_to_string(&answers).expect("answers CSV");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("planned_offset_ns,latency_ns"));
    let mut planned: Vec<u64> = lines
        .map(|line| {
            let (offset, latency) = line.split_once(',').expect("two fields");
            assert!(latency.parse::<u64>().expect("latency") > 0, "{line}");
            offset.parse().expect("offset")
        })
        .collect();
    assert_eq!(planned.len(), 2000);
    planned.sort_unstable();
    planned.dedup();
    assert_eq!(planned.len(), 2000, "each message once");
    // The four parts of the interleaved schedule read as one schedule: 0.5 ms apart from 0 to 999.5 ms.
    assert_eq!(planned.first(), Some(&0));
    assert_eq!(planned.last(), Some(&999_500_000));
    assert_eq!(report["baseline_schedule"], "interleaved");
    // On two cores or more the client and the server (the gateway, the echo server) run on cores of their own.
    let cores = crossline_bench::placement::allowed_cores().expect("allowed cores");
    if cores.len() >= 2 {
        assert_eq!(report["placement"], "split", "{report}");
        // Two different cores of this process's (where the server goes is the placement unit tests' matter: the
        // interrupt counts it reads move while this runs).
        let client = report["client_core"].as_u64().expect("client_core") as usize;
        let server = report["server_core"].as_u64().expect("server_core") as usize;
        assert!(
            cores.contains(&client) && cores.contains(&server),
            "{report}"
        );
        assert_ne!(client, server);
        // The appliance's gateway, as the kernel had it at the end of the run: on the server's core alone.
        let gateway = report["gateway_cores"].as_array().expect("gateway_cores");
        assert_eq!(gateway.len(), 1, "{report}");
        assert_eq!(gateway[0].as_u64(), Some(server as u64));
    } else {
        assert_eq!(report["placement"], "float", "{report}");
        assert!(report["client_core"].is_null());
        assert!(report["server_core"].is_null());
    }
    assert_eq!(report["baseline_slices"].as_u64(), Some(4), "{report}");
    let slices = report["slices"].as_array().expect("slices");
    assert_eq!(slices.len(), 4);
    for slice in slices {
        assert!(slice["echo_p99_ns"].as_u64().unwrap_or(0) > 0, "{slice}");
        assert!(
            slice["appliance_p99_ns"].as_u64().unwrap_or(0) > 0,
            "{slice}"
        );
    }
    assert!(report["median_slice_p99_ratio"].as_f64().unwrap_or(0.0) > 0.0);
    for share in [
        "share_over_1ms",
        "baseline_share_over_1ms",
        "share_over_100us",
        "baseline_share_over_100us",
    ] {
        let value = report[share].as_f64().expect(share);
        assert!((0.0..=1.0).contains(&value), "{share} {value}");
    }
    // Every message over 1 ms is over 100 us too.
    for side in ["", "baseline_"] {
        let over_100us = report[format!("{side}share_over_100us")].as_f64();
        let over_1ms = report[format!("{side}share_over_1ms")].as_f64();
        assert!(
            over_100us >= over_1ms,
            "{side}: {over_100us:?} {over_1ms:?}"
        );
    }
    // The threads over the appliance's four parts (about 1 s): its gateway and the bench's client ran, and no
    // thread was on a core or waiting for one for longer than the parts lasted.
    let window_ns = report["threads_window_ns"]
        .as_u64()
        .expect("threads_window_ns");
    let threads = report["threads"].as_array().expect("threads");
    if std::path::Path::new("/proc/self/schedstat").exists() {
        assert!(window_ns >= 900_000_000, "{window_ns}");
        let ran = |process: &str, name: &str| {
            threads.iter().any(|t| {
                t["process"] == process
                    && t["name"].as_str().unwrap_or("").starts_with(name)
                    && t["cpu_ns"].as_u64().unwrap_or(0) > 0
            })
        };
        assert!(ran("appliance", "crossline-gatew"), "{threads:?}");
        assert!(ran("bench", "crossline-bench"), "{threads:?}");
        // The echo slices: the bench's echo server (one thread per slice) ran, over about as long again.
        let echo_threads = report["baseline_threads"]
            .as_array()
            .expect("baseline_threads");
        assert!(
            echo_threads.iter().any(|t| {
                t["name"].as_str().unwrap_or("").starts_with("echo-server")
                    && t["cpu_ns"].as_u64().unwrap_or(0) > 0
            }),
            "{echo_threads:?}"
        );
        let echo_window_ns = report["baseline_threads_window_ns"]
            .as_u64()
            .expect("baseline_threads_window_ns");
        assert!(echo_window_ns >= 900_000_000, "{echo_window_ns}");
        for thread in threads {
            let cpu = thread["cpu_ns"].as_u64().expect("cpu_ns");
            let wait = thread["runnable_wait_ns"]
                .as_u64()
                .expect("runnable_wait_ns");
            // The counters are read a moment after each part's end: a few ms of slack.
            assert!(cpu + wait <= window_ns + 50_000_000, "{thread}");
            let share = thread["cpu_share"].as_f64().expect("cpu_share");
            assert!((0.0..=1.1).contains(&share), "{thread}");
        }
    } else {
        assert!(threads.is_empty());
        assert_eq!(report["baseline_threads"].as_array().map(Vec::len), Some(0));
    }
    assert_eq!(report["mode"], "wire");
    assert_eq!(report["load"], "open_loop");
    assert_eq!(report["ops"].as_u64(), Some(2000), "{report}");
    assert_eq!(report["messages_sent"].as_u64(), Some(2000));
    assert_eq!(report["messages_answered"].as_u64(), Some(2000));
    assert!(
        report["ops_per_sec"].as_f64().unwrap_or(0.0) > 1000.0,
        "{report}"
    );
    assert_latency(&report["latency_ns"], "latency_ns");
    assert!(report["baseline"]["name"]
        .as_str()
        .unwrap_or("")
        .contains("echo"));
    assert!(report["baseline"]["ops_per_sec"].as_f64().unwrap_or(0.0) > 1000.0);
    assert_latency(&report["baseline"]["latency_ns"], "baseline.latency_ns");
    assert!(report["p99_ratio_to_echo"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(report["counters"]["orders_rejected"].as_u64(), Some(0));
    for (name, outcome) in report["checks"].as_object().expect("checks") {
        assert_eq!(outcome, "ok", "check {name}");
    }
    assert!(report["env"]["cpu_model"].is_string());
    assert!(
        report["appliance_output"]
            .as_array()
            .expect("appliance output")
            .iter()
            .any(|line| line.as_str().unwrap_or("").contains("stopped cleanly")),
        "the appliance did not stop cleanly: {}",
        report["appliance_output"]
    );
}

#[test]
fn pipeline_smoke_reports_the_pipeline_and_the_ring_hop_baseline() {
    let Some(binary) = crossline_binary() else {
        skip("pipeline_smoke");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("pipeline.json");
    let report = run_bench(
        &[
            "pipeline",
            "--ops",
            "100000",
            "--binary",
            binary.to_str().expect("utf-8 path"),
        ],
        &json,
    );
    assert_eq!(report["mode"], "pipeline");
    assert_eq!(report["ops"].as_u64(), Some(100_000));
    assert_eq!(
        report["counters"]["commands_applied"].as_u64(),
        Some(100_000)
    );
    assert!(
        report["ops_per_sec"].as_f64().unwrap_or(0.0) > 10_000.0,
        "{report}"
    );
    assert!(report["counters"]["events"].as_u64().unwrap_or(0) >= 100_000);
    assert_latency(&report["latency_ns"], "latency_ns");
    assert!(report["baseline"]["name"]
        .as_str()
        .unwrap_or("")
        .contains("ring hop"));
    assert!(report["baseline"]["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
    assert_latency(&report["baseline"]["latency_ns"], "baseline.latency_ns");
    assert_eq!(report["raw"]["pipeline"]["journal_fsync"], "Interval");
}

#[test]
fn wire_without_a_binary_says_how_to_build_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args([
            "wire",
            "--spawn",
            "--binary",
            "/nonexistent/crossline",
            "--no-baseline",
            "--rate",
            "10",
            "--duration-s",
            "1",
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cargo build --release -p crossline"),
        "{stderr}"
    );
}

#[test]
fn query_smoke_reports_the_apply_rate_and_the_lag() {
    let Some(binary) = crossline_binary() else {
        skip("query_smoke");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("query.json");
    let report = run_bench(
        &[
            "query",
            "--commands",
            "5000",
            "--rate",
            "5000",
            "--duration-s",
            "0.5",
            "--binary",
            binary.to_str().expect("utf-8 path"),
        ],
        &json,
    );
    assert_eq!(report["mode"], "query");
    assert_eq!(report["checks"]["commands"], "ok", "{report}");
    assert!(
        report["counters"]["rows"].as_u64().unwrap_or(0) > 5_000,
        "{report}"
    );
    assert!(
        report["counters"]["orders"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(
        report["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
    let lag = &report["raw"]["lag"];
    assert_eq!(
        lag["db_seq"], lag["commands"],
        "the learner caught up: {report}"
    );
    assert!(lag["samples"].as_u64().unwrap_or(0) > 0, "{report}");
}
