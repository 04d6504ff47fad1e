//! Short engine runs of every workload: each completes with no rejects, the engine's invariants hold at the end,
//! and the report says so. These check the rig, not the engine's speed (no timing is asserted).

use crossline_bench::modes::engine::{run, EngineOptions};
use crossline_bench::timer::Timer;
use crossline_bench::workload::WorkloadKind;
use std::time::Duration;

fn short_run(workload: WorkloadKind, ops: u64, seed: u64) -> crossline_bench::report::Report {
    let timer = Timer::new(Duration::from_millis(5));
    let options = EngineOptions {
        workload,
        ops,
        seed,
        sample_every: None,
    };
    run(&options, &timer).expect("the run completes").report
}

fn assert_clean(workload: WorkloadKind, ops: u64) {
    let report = short_run(workload, ops, 3);
    assert!(report.checks_passed(), "{}", report.render_table());
    assert_eq!(report.counters.get("rejects"), Some(&0));
    assert_eq!(
        report.checks.get("validate").map(String::as_str),
        Some("ok")
    );
    assert!(report.ops > 0 && report.seconds > 0.0 && report.ops_per_sec > 0.0);
    assert!(report.latency_ns.is_some(), "latency was sampled");
    assert!(report.counters.get("events").copied().unwrap_or(0) > 0);
}

#[test]
fn liquibook_runs_clean() {
    assert_clean(WorkloadKind::Liquibook, 5_000);
}

#[test]
fn xc_single_runs_clean_and_reaches_the_generators_state() {
    let report = short_run(WorkloadKind::XcSingle, 5_000, 3);
    assert_eq!(
        report
            .checks
            .get("state_hash_as_generated")
            .map(String::as_str),
        Some("ok")
    );
    assert_clean(WorkloadKind::XcSingle, 5_000);
}

#[test]
fn mm_quotes_runs_clean() {
    assert_clean(WorkloadKind::MmQuotes, 5_000);
}

#[test]
fn mass_cancel_runs_clean_and_cancels_every_order() {
    let report = short_run(WorkloadKind::MassCancel, 20_000, 3);
    assert_eq!(report.counters.get("cancels"), Some(&20_000));
    assert_eq!(
        report
            .checks
            .get("all_orders_cancelled")
            .map(String::as_str),
        Some("ok")
    );
    assert!(report
        .headline
        .is_some_and(|headline| headline.name == "cancels_per_sec" && headline.value > 0.0));
    assert_clean(WorkloadKind::MassCancel, 20_000);
}

#[test]
fn the_same_seed_reaches_the_same_state_hash() {
    let first = short_run(WorkloadKind::Liquibook, 3_000, 9);
    let second = short_run(WorkloadKind::Liquibook, 3_000, 9);
    let other = short_run(WorkloadKind::Liquibook, 3_000, 10);
    assert_eq!(first.state_hash, second.state_hash);
    assert_ne!(first.state_hash, other.state_hash);
}
