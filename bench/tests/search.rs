//! The step-rate search against fake targets (closures, no sockets): it finds a known breakpoint, stops at the max
//! rate when nothing breaks, and does not count a step whose rate was not achieved.

use crossline_bench::env::Environment;
use crossline_bench::histogram::latency_histogram;
use crossline_bench::search::{search, SearchOptions, StepMeasurement};

/// A target whose p99 is 20 us up to `knee` per second and 500 us above it.
fn knee_target(
    knee: u64,
    offered: &mut Vec<u64>,
) -> impl FnMut(u64) -> anyhow::Result<StepMeasurement> + '_ {
    move |rate| {
        offered.push(rate);
        let mut histogram = latency_histogram();
        let tail = if rate > knee { 500_000 } else { 20_000 };
        for i in 0..1_000u64 {
            histogram.saturating_record(if i < 980 { 5_000 } else { tail });
        }
        Ok(StepMeasurement {
            achieved_rate: rate as f64,
            histogram,
            checks_passed: true,
            notes: vec![],
        })
    }
}

fn options(max_rate: u64) -> SearchOptions {
    SearchOptions {
        start_rate: 10_000,
        step_factor: 1.5,
        max_rate,
        objective: "p99<=100us,p50<=10ms".parse().expect("parses"),
        min_achieved: 0.95,
    }
}

#[test]
fn finds_the_rate_where_latency_jumps() {
    let mut offered = Vec::new();
    let mut target = knee_target(40_000, &mut offered);
    let report = search(
        &mut target,
        &options(1_000_000),
        Environment::capture(1),
        |_| {},
    )
    .expect("searches");
    assert_eq!(report.highest_rate_met, Some(33_750));
    assert_eq!(report.first_rate_broken, Some(50_625));
    assert_eq!(report.stopped, "objective_broken");
    assert_eq!(report.steps.len(), 5);
    assert!(report.steps[..4].iter().all(|step| step.met));
    let broken = &report.steps[4];
    assert!(!broken.met);
    assert_eq!(broken.limits[0].label, "p99");
    assert!(!broken.limits[0].met && broken.limits[1].met);
    assert!(report
        .render_table()
        .contains("highest rate meeting p99<=100us,p50<=10ms: 33,750/s"));
    drop(target);
    assert_eq!(
        offered,
        [10_000, 15_000, 22_500, 33_750, 50_625],
        "stops at the first break"
    );
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["highest_rate_met"], 33_750);
    assert_eq!(json["steps"].as_array().map(Vec::len), Some(5));
}

#[test]
fn stops_at_the_max_rate_when_nothing_breaks() {
    let mut offered = Vec::new();
    let mut target = knee_target(u64::MAX, &mut offered);
    let report = search(
        &mut target,
        &options(40_000),
        Environment::capture(1),
        |_| {},
    )
    .expect("searches");
    assert_eq!(report.highest_rate_met, Some(40_000));
    assert_eq!(report.first_rate_broken, None);
    assert_eq!(report.stopped, "max_rate_reached");
    drop(target);
    assert_eq!(offered, [10_000, 15_000, 22_500, 33_750, 40_000]);
}

#[test]
fn a_rate_not_achieved_is_not_met() {
    let mut target = |rate: u64| -> anyhow::Result<StepMeasurement> {
        let mut histogram = latency_histogram();
        histogram.saturating_record(1_000);
        Ok(StepMeasurement {
            // Saturates at 20,000 per second whatever is offered, with fine latency.
            achieved_rate: rate.min(20_000) as f64,
            histogram,
            checks_passed: true,
            notes: vec![],
        })
    };
    let mut seen = Vec::new();
    let report = search(
        &mut target,
        &options(1_000_000),
        Environment::capture(1),
        |step| seen.push(step.rate_per_sec),
    )
    .expect("searches");
    assert_eq!(report.highest_rate_met, Some(15_000));
    assert_eq!(report.first_rate_broken, Some(22_500));
    assert!(!report.steps[2].achieved_enough);
    assert_eq!(
        seen,
        [10_000, 15_000, 22_500],
        "every step is reported as it completes"
    );
}
