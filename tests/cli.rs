//! The `crossline` binary as an operator meets it: real process, real arguments, real exit codes.

use std::process::Command;

fn crossline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(args)
        .output()
        .expect("the crossline binary runs")
}

#[test]
fn help_lists_the_subcommands() {
    let out = crossline(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("low-latency order-matching appliance"),
        "{text}"
    );
    assert!(text.contains("version"), "{text}");
}

#[test]
fn version_names_the_release_and_the_snapshot_format() {
    let out = crossline(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("crossline {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("snapshot format"), "{text}");
}

#[test]
fn an_unknown_subcommand_is_refused_with_usage() {
    let out = crossline(&["launch-rockets"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

#[test]
fn the_hiccup_meter_reports_gap_percentiles_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("jitter.json");
    let out = crossline(&[
        "tune",
        "jitter",
        "--duration-s",
        "0.2",
        "--core",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("core 0") && text.contains("p99.99") && text.contains("hiccups"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["mode"], "jitter");
    assert!(report["clock_reads"].as_u64().unwrap() > 1_000);
    let gaps = &report["gap_ns"];
    assert!(gaps["p50"].as_u64().unwrap() <= gaps["p99_99"].as_u64().unwrap());
    assert!(gaps["p99_99"].as_u64().unwrap() <= gaps["max"].as_u64().unwrap());
}

#[test]
fn the_hiccup_meter_refuses_a_core_the_host_does_not_have() {
    let out = crossline(&["tune", "jitter", "--duration-s", "0.1", "--core", "4096"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("core 4096 does not exist on this host"),
        "{err}"
    );
}
