//! `--hlog`: an echo run's interval log parses back with the hdrhistogram crate's interval log reader, its
//! intervals tile the run, and together they hold every message exactly once.

use crossline_bench::hlog::read_log;
use crossline_bench::live::{HlogOptions, LiveOptions};
use crossline_bench::modes::echo::{run_with_live, EchoOptions};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use std::time::Duration;

#[test]
fn an_echo_runs_interval_log_reads_back_with_every_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("echo.hlog");
    let options = EchoOptions {
        rate_per_sec: 10_000,
        duration: Duration::from_millis(1_500),
        response_timeout: Duration::from_secs(3),
        ..EchoOptions::default()
    };
    let live = LiveOptions {
        progress: None,
        hlog: Some(HlogOptions {
            path: path.clone(),
            interval: Duration::from_millis(500),
            comments: vec!["values: nanoseconds".to_string()],
        }),
    };
    let run = run_with_live(&options, live).expect("the run completes");
    assert!(
        run.report.report.checks_passed(),
        "{}",
        run.report.report.render_table()
    );
    let bytes = std::fs::read(&path).expect("the log was written");

    // The crate's own reader: headers and intervals, no parse error.
    let mut base_times = 0;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.expect("every line parses") {
            LogEntry::BaseTime(_) => base_times += 1,
            LogEntry::Interval(_) => intervals += 1,
            LogEntry::StartTime(_) => {}
        }
    }
    assert_eq!(base_times, 1);

    // Decoded: the intervals tile the run and hold exactly the run's samples.
    let log = read_log(&bytes).expect("decodes");
    assert_eq!(log.intervals.len(), intervals);
    assert!(
        (3..=5).contains(&intervals),
        "about 1.5 s in 0.5 s intervals, got {intervals}"
    );
    let total: u64 = log
        .intervals
        .iter()
        .map(|interval| interval.histogram.len())
        .sum();
    assert_eq!(total, 15_000, "every message in exactly one interval");
    assert_eq!(total, run.histogram.len());
    assert_eq!(log.intervals[0].start, Duration::ZERO);
    for pair in log.intervals.windows(2) {
        let end = pair[0].start + pair[0].length;
        let gap = end.abs_diff(pair[1].start);
        assert!(
            gap <= Duration::from_millis(2),
            "intervals must be contiguous: {end:?} then {:?}",
            pair[1].start
        );
    }
    for interval in &log.intervals[..log.intervals.len() - 1] {
        assert!(
            interval.length >= Duration::from_millis(440)
                && interval.length <= Duration::from_millis(800),
            "interval of {:?}",
            interval.length
        );
    }
    let max_ns = log
        .intervals
        .iter()
        .map(|interval| interval.histogram.max())
        .max()
        .unwrap_or(0);
    assert!(
        run.histogram.equivalent(max_ns, run.histogram.max()),
        "the same max"
    );
    for interval in &log.intervals {
        if !interval.histogram.is_empty() {
            let max_ms = interval.histogram.max() as f64 / 1e6;
            assert!(
                (interval.max - max_ms).abs() <= 0.001 + max_ms * 0.001,
                "max column in ms"
            );
        }
    }
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(text.starts_with("#[Histogram log format version 1.3]\n"));
    assert!(text.contains("\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"));
}
