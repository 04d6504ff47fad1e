//! Latency histograms: the one shape every mode records into (nanoseconds, 1 ns to an hour, three significant
//! digits), the percentile summary the reports carry, and HdrHistogram's percentile-distribution text (`.hgrm`)
//! that its plotter reads.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::{self, Write};

/// The highest latency a histogram can hold; anything above it is recorded as this (and shows as the max).
pub const LATENCY_NS_MAX: u64 = 3_600_000_000_000;

/// Significant decimal digits kept per value: 0.1% resolution at any magnitude.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram in nanoseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// The percentiles every report carries, in nanoseconds. Field names are the JSON keys later tools rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LatencyNs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub p99_99: u64,
    pub max: u64,
}

impl LatencyNs {
    /// The quantiles shown, with their labels, in the order the table prints them.
    pub const QUANTILES: [(&'static str, f64); 5] = [
        ("p50", 0.5),
        ("p90", 0.9),
        ("p99", 0.99),
        ("p99.9", 0.999),
        ("p99.99", 0.9999),
    ];

    /// None for an empty histogram: a report must not show zeros that were never measured.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Option<LatencyNs> {
        if histogram.is_empty() {
            return None;
        }
        let at = |quantile: f64| histogram.value_at_quantile(quantile);
        Some(LatencyNs {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p99_9: at(0.999),
            p99_99: at(0.9999),
            max: histogram.max(),
        })
    }

    /// The values in the order of `QUANTILES`, then the max.
    pub fn values(&self) -> [u64; 6] {
        [
            self.p50,
            self.p90,
            self.p99,
            self.p99_9,
            self.p99_99,
            self.max,
        ]
    }
}

/// The highest quantile that rests on at least `min_samples_beyond` samples above it: with fewer samples, a
/// "p99.99" is one sample or none and should be read as such.
pub fn resolvable_quantile(sample_count: u64, min_samples_beyond: u64) -> f64 {
    if sample_count == 0 {
        return 0.0;
    }
    1.0 - min_samples_beyond as f64 / sample_count as f64
}

/// Writes HdrHistogram's percentile distribution (the format of Java's `outputPercentileDistribution`), with
/// values divided by `value_unit_ratio` (1000.0 turns nanoseconds into microseconds, the plotter's usual unit).
pub fn write_hgrm(
    histogram: &Histogram<u64>,
    value_unit_ratio: f64,
    out: &mut impl Write,
) -> io::Result<()> {
    const TICKS_PER_HALF_DISTANCE: u32 = 5;
    let decimals = usize::from(SIGNIFICANT_DIGITS);
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    writeln!(out)?;
    let mut total_count = 0u64;
    if !histogram.is_empty() {
        for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total_count += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / value_unit_ratio;
            let quantile = step.quantile_iterated_to();
            if quantile < 1.0 {
                writeln!(
                    out,
                    "{value:>12.decimals$} {quantile:>2.12} {total_count:>10} {:>14.2}",
                    1.0 / (1.0 - quantile)
                )?;
            } else {
                writeln!(
                    out,
                    "{value:>12.decimals$} {quantile:>2.12} {total_count:>10}"
                )?;
            }
        }
    }
    let mean = if histogram.is_empty() {
        0.0
    } else {
        histogram.mean() / value_unit_ratio
    };
    let stdev = if histogram.is_empty() {
        0.0
    } else {
        histogram.stdev() / value_unit_ratio
    };
    let max = histogram.max() as f64 / value_unit_ratio;
    writeln!(
        out,
        "#[Mean    = {mean:>12.decimals$}, StdDeviation   = {stdev:>12.decimals$}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max:>12.decimals$}, Total count    = {:>12}]",
        histogram.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        histogram.buckets(),
        sub_bucket_count()
    )?;
    Ok(())
}

/// A latency for people: "850 ns", "12.3 us", "4.56 ms", "1.20 s" (three significant digits).
pub fn human_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "us")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if unit == "ns" || value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// Sub-buckets per bucket for `SIGNIFICANT_DIGITS`: the smallest power of two above 2 * 10^digits.
fn sub_bucket_count() -> u64 {
    (2 * 10u64.pow(u32::from(SIGNIFICANT_DIGITS))).next_power_of_two()
}

/// Reads the (value, percentile, total count) rows back from `write_hgrm`'s text: for tests and for comparing runs.
pub fn read_hgrm_rows(text: &str) -> Vec<(f64, f64, u64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let value = fields.next()?.parse().ok()?;
            let percentile = fields.next()?.parse().ok()?;
            let total_count = fields.next()?.parse().ok()?;
            Some((value, percentile, total_count))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_uniform_spread() {
        let mut histogram = latency_histogram();
        for value in 1..=10_000u64 {
            histogram.saturating_record(value);
        }
        let summary = LatencyNs::from_histogram(&histogram).expect("not empty");
        assert!(summary.p50.abs_diff(5_000) <= 5);
        assert!(summary.p99.abs_diff(9_900) <= 10);
        assert_eq!(summary.max, histogram.max());
        assert!(summary.max.abs_diff(10_000) <= 10);
        assert!(LatencyNs::from_histogram(&latency_histogram()).is_none());
    }

    #[test]
    fn hgrm_rows_end_at_the_max_with_every_sample_counted() {
        let mut histogram = latency_histogram();
        for value in [100u64, 200, 300, 400, 5_000] {
            histogram.saturating_record(value);
        }
        let mut text = Vec::new();
        write_hgrm(&histogram, 1000.0, &mut text).expect("writing to a Vec");
        let text = String::from_utf8(text).expect("utf-8");
        let rows = read_hgrm_rows(&text);
        let last = rows.last().expect("rows");
        assert_eq!(last.2, 5);
        assert!((last.1 - 1.0).abs() < 1e-12);
        assert!(
            (last.0 - 5.0).abs() < 0.01,
            "max in microseconds, got {}",
            last.0
        );
        assert!(rows
            .windows(2)
            .all(|pair| pair[0].1 <= pair[1].1 && pair[0].2 <= pair[1].2));
        assert!(text.contains("#[Max     ="));
    }

    #[test]
    fn latencies_for_people() {
        assert_eq!(human_ns(850.0), "850 ns");
        assert_eq!(human_ns(12_345.0), "12.3 us");
        assert_eq!(human_ns(4_560_000.0), "4.56 ms");
        assert_eq!(human_ns(183_000.0), "183 us");
        assert_eq!(human_ns(1.2e9), "1.20 s");
    }

    #[test]
    fn sub_buckets_for_three_digits() {
        assert_eq!(sub_bucket_count(), 2048);
    }
}
