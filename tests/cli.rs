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
