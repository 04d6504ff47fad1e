//! `crossline-bench search`: the step-rate search. Offer a target a rate, measure, and raise the rate by a factor
//! until a latency objective breaks (for example `p99<=100us,p50<=10ms`, exchange-core's pair), then report every
//! step and the highest rate that met it.
//!
//! A target is anything that runs one measurement at a given rate: the `RateTarget` trait, which closures
//! `FnMut(u64) -> anyhow::Result<StepMeasurement>` implement too. The echo mode plugs in through
//! `modes::echo::EchoRateTarget`; the wire and pipeline modes plug in the same way. A step meets the objective
//! when every limit holds, the run's own checks passed, and the target delivered at least `min_achieved` of the
//! offered rate (a target that cannot even take the load has not met anything, whatever its latency says).

use crate::env::Environment;
use crate::histogram::{human_ns, LatencyNs};
use crate::report::group_digits;
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::str::FromStr;

/// What one step measured.
#[derive(Debug, Clone)]
pub struct StepMeasurement {
    /// Operations per second the target actually completed.
    pub achieved_rate: f64,
    /// Latency in nanoseconds.
    pub histogram: Histogram<u64>,
    /// The run's own checks (responses all received, no rejects, ...).
    pub checks_passed: bool,
    pub notes: Vec<String>,
}

/// Something the search can offer a rate to.
pub trait RateTarget {
    /// How the report names the target ("echo, open loop, 2 s per step").
    fn describe(&self) -> String;
    /// Runs one measurement at `rate_per_sec`.
    fn measure(&mut self, rate_per_sec: u64) -> anyhow::Result<StepMeasurement>;
}

impl<F> RateTarget for F
where
    F: FnMut(u64) -> anyhow::Result<StepMeasurement>,
{
    fn describe(&self) -> String {
        "a custom target".to_string()
    }

    fn measure(&mut self, rate_per_sec: u64) -> anyhow::Result<StepMeasurement> {
        self(rate_per_sec)
    }
}

/// Which figure of the latency distribution a limit is on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Statistic {
    Quantile(f64),
    Max,
}

/// One `pNN<=VALUE` of an objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    /// As written: "p99", "p99.9", "max".
    pub label: String,
    pub statistic: Statistic,
    pub max_ns: u64,
}

impl Limit {
    /// The statistic's value in `histogram` (nanoseconds); None for an empty histogram.
    pub fn value(&self, histogram: &Histogram<u64>) -> Option<u64> {
        if histogram.is_empty() {
            return None;
        }
        Some(match self.statistic {
            Statistic::Quantile(quantile) => histogram.value_at_quantile(quantile),
            Statistic::Max => histogram.max(),
        })
    }
}

/// A latency objective: every limit must hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    pub limits: Vec<Limit>,
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .limits
            .iter()
            .map(|limit| format!("{}<={}", limit.label, exact_duration(limit.max_ns)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Objective {
    type Err = anyhow::Error;

    /// `p99<=100us,p50<=10ms`: comma-separated `pNN<=VALUE` or `max<=VALUE`, VALUE with ns, us, ms or s (bare
    /// numbers are nanoseconds).
    fn from_str(text: &str) -> anyhow::Result<Objective> {
        let limits = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(parse_limit)
            .collect::<anyhow::Result<Vec<Limit>>>()?;
        if limits.is_empty() {
            bail!("an objective needs at least one limit, such as p99<=100us");
        }
        Ok(Objective { limits })
    }
}

fn parse_limit(part: &str) -> anyhow::Result<Limit> {
    let (label, value) = part
        .split_once("<=")
        .with_context(|| format!("{part:?}: expected STAT<=VALUE, such as p99<=100us"))?;
    let label = label.trim();
    let statistic = if label == "max" {
        Statistic::Max
    } else {
        let percent: f64 = label
            .strip_prefix('p')
            .and_then(|number| number.parse().ok())
            .with_context(|| format!("{label:?}: expected pNN (p50, p99.9) or max"))?;
        if !(0.0..100.0).contains(&percent) {
            bail!("{label:?}: the percentile must be below 100");
        }
        Statistic::Quantile(percent / 100.0)
    };
    Ok(Limit {
        label: label.to_string(),
        statistic,
        max_ns: parse_duration_ns(value.trim())?,
    })
}

/// Nanoseconds in the largest unit that holds them exactly: 100000 -> "100us", 1500 -> "1500ns".
pub fn exact_duration(ns: u64) -> String {
    for (unit, scale) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns >= scale && ns / scale * scale == ns {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

/// "100us" -> 100000; units ns, us (or µs), ms, s; a bare number is nanoseconds.
pub fn parse_duration_ns(text: &str) -> anyhow::Result<u64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("{text:?}: expected a number with ns, us, ms or s"))?;
    let scale = match unit.trim() {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        other => bail!("{text:?}: unknown unit {other:?} (ns, us, ms, s)"),
    };
    Ok((number * scale).round() as u64)
}

/// How the rate rises.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub start_rate: u64,
    /// Each step offers the previous rate times this (at least one more per second).
    pub step_factor: f64,
    /// The last rate tried; the search stops there even if the objective still holds.
    pub max_rate: u64,
    pub objective: Objective,
    /// A step meets the objective only when the target completed at least this fraction of the offered rate.
    pub min_achieved: f64,
}

impl SearchOptions {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.start_rate == 0 {
            bail!("--start-rate must be at least 1");
        }
        if self.max_rate < self.start_rate {
            bail!("--max-rate must be at least --start-rate");
        }
        if !(self.step_factor.is_finite() && self.step_factor > 1.0) {
            bail!("--step-factor must be above 1");
        }
        if !(0.0..=1.0).contains(&self.min_achieved) {
            bail!("--min-achieved must be in 0..=1");
        }
        Ok(())
    }

    /// The rates a search would offer if every step met the objective.
    pub fn rates(&self) -> Vec<u64> {
        let mut rates = vec![self.start_rate];
        let mut rate = self.start_rate;
        while rate < self.max_rate {
            rate = ((rate as f64 * self.step_factor).round() as u64)
                .max(rate + 1)
                .min(self.max_rate);
            rates.push(rate);
        }
        rates
    }
}

/// One limit's verdict at one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitResult {
    pub label: String,
    pub limit_ns: u64,
    /// None when nothing was measured.
    pub value_ns: Option<u64>,
    pub met: bool,
}

/// One step of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub rate_per_sec: u64,
    pub achieved_rate_per_sec: f64,
    pub latency_ns: Option<LatencyNs>,
    pub samples: u64,
    pub limits: Vec<LimitResult>,
    pub checks_passed: bool,
    pub achieved_enough: bool,
    pub met: bool,
    pub notes: Vec<String>,
}

/// The search's report (`--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchReport {
    pub mode: String,
    pub target: String,
    pub objective: String,
    pub start_rate: u64,
    pub step_factor: f64,
    pub max_rate: u64,
    pub min_achieved: f64,
    pub steps: Vec<Step>,
    /// The highest rate whose step met the objective (None: not even the first).
    pub highest_rate_met: Option<u64>,
    /// The rate at which the objective broke (None: it held up to the max rate).
    pub first_rate_broken: Option<u64>,
    /// "objective_broken" or "max_rate_reached".
    pub stopped: String,
    pub env: Environment,
}

/// Runs the search against `target`; `on_step` sees every step as it completes (to print it).
pub fn search(
    target: &mut dyn RateTarget,
    options: &SearchOptions,
    env: Environment,
    mut on_step: impl FnMut(&Step),
) -> anyhow::Result<SearchReport> {
    options.validate()?;
    let mut steps = Vec::new();
    let mut highest_rate_met = None;
    let mut first_rate_broken = None;
    for rate in options.rates() {
        let measured = target
            .measure(rate)
            .with_context(|| format!("measuring at {} per second", group_digits(rate)))?;
        let step = judge(rate, measured, options);
        on_step(&step);
        let met = step.met;
        steps.push(step);
        if met {
            highest_rate_met = Some(rate);
        } else {
            first_rate_broken = Some(rate);
            break;
        }
    }
    Ok(SearchReport {
        mode: "search".to_string(),
        target: target.describe(),
        objective: options.objective.to_string(),
        start_rate: options.start_rate,
        step_factor: options.step_factor,
        max_rate: options.max_rate,
        min_achieved: options.min_achieved,
        steps,
        highest_rate_met,
        first_rate_broken,
        stopped: if first_rate_broken.is_some() {
            "objective_broken"
        } else {
            "max_rate_reached"
        }
        .to_string(),
        env,
    })
}

fn judge(rate: u64, measured: StepMeasurement, options: &SearchOptions) -> Step {
    let limits: Vec<LimitResult> = options
        .objective
        .limits
        .iter()
        .map(|limit| {
            let value_ns = limit.value(&measured.histogram);
            LimitResult {
                label: limit.label.clone(),
                limit_ns: limit.max_ns,
                value_ns,
                met: value_ns.is_some_and(|value| value <= limit.max_ns),
            }
        })
        .collect();
    let achieved_enough = measured.achieved_rate >= options.min_achieved * rate as f64;
    let met = measured.checks_passed && achieved_enough && limits.iter().all(|limit| limit.met);
    Step {
        rate_per_sec: rate,
        achieved_rate_per_sec: measured.achieved_rate,
        latency_ns: LatencyNs::from_histogram(&measured.histogram),
        samples: measured.histogram.len(),
        limits,
        checks_passed: measured.checks_passed,
        achieved_enough,
        met,
        notes: measured.notes,
    }
}

impl Step {
    /// One line of the table: rate, achieved, each limit's value, verdict.
    pub fn render_row(&self) -> String {
        let mut row = format!(
            "  {:>12} {:>14}",
            group_digits(self.rate_per_sec),
            group_digits(self.achieved_rate_per_sec.round() as u64)
        );
        for limit in &self.limits {
            let value = limit
                .value_ns
                .map_or_else(|| "-".to_string(), |value| human_ns(value as f64));
            let _ = write!(
                row,
                " {:>7} {:>9}{}",
                limit.label,
                value,
                if limit.met { " " } else { "!" }
            );
        }
        let verdict = if self.met {
            "met"
        } else if !self.checks_passed {
            "broken (checks failed)"
        } else if !self.achieved_enough {
            "broken (rate not achieved)"
        } else {
            "broken"
        };
        let _ = write!(row, "  {verdict}");
        row
    }
}

impl SearchReport {
    /// The header of the step table.
    pub fn header(objective: &str) -> String {
        format!(
            "  {:>12} {:>14}  objective {objective} (! marks a limit broken)",
            "offered/s", "achieved/s"
        )
    }

    /// The terminal table.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "crossline-bench search · {} · objective {}",
            self.target, self.objective
        );
        let _ = writeln!(out, "{}", SearchReport::header(&self.objective));
        for step in &self.steps {
            let _ = writeln!(out, "{}", step.render_row());
        }
        let _ = writeln!(out, "{}", self.verdict());
        let _ = writeln!(out, "  env: {}", self.env.summary());
        let _ = writeln!(out, "  command: {}", self.env.command_line);
        out
    }

    /// The one-line answer.
    pub fn verdict(&self) -> String {
        match (self.highest_rate_met, self.first_rate_broken) {
            (Some(met), Some(broken)) => format!(
                "  highest rate meeting {}: {}/s (broke at {}/s)",
                self.objective,
                group_digits(met),
                group_digits(broken)
            ),
            (Some(met), None) => format!(
                "  highest rate meeting {}: {}/s, the max rate asked (it did not break)",
                self.objective,
                group_digits(met)
            ),
            (None, _) => format!(
                "  no rate met {}: it broke at the start rate, {}/s",
                self.objective,
                group_digits(self.start_rate)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse() {
        let objective: Objective = "p99<=100us,p50<=10ms, max<=2s,p99.9<=1500"
            .parse()
            .expect("parses");
        assert_eq!(objective.limits.len(), 4);
        assert_eq!(objective.limits[0].statistic, Statistic::Quantile(0.99));
        assert_eq!(objective.limits[0].max_ns, 100_000);
        assert_eq!(objective.limits[1].max_ns, 10_000_000);
        assert_eq!(objective.limits[2].statistic, Statistic::Max);
        assert_eq!(objective.limits[2].max_ns, 2_000_000_000);
        assert_eq!(objective.limits[3].max_ns, 1_500);
        assert_eq!(
            objective.to_string(),
            "p99<=100us,p50<=10ms,max<=2s,p99.9<=1500ns"
        );
        for bad in [
            "",
            "p99",
            "p99<100us",
            "p100<=1ms",
            "q99<=1ms",
            "p99<=10 parsecs",
        ] {
            assert!(bad.parse::<Objective>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rates_rise_by_the_factor_and_end_at_the_max() {
        let options = SearchOptions {
            start_rate: 1_000,
            step_factor: 1.5,
            max_rate: 5_000,
            objective: "p99<=1ms".parse().expect("parses"),
            min_achieved: 0.95,
        };
        assert_eq!(options.rates(), [1_000, 1_500, 2_250, 3_375, 5_000]);
        let tiny = SearchOptions {
            start_rate: 1,
            step_factor: 1.1,
            max_rate: 3,
            ..options
        };
        assert_eq!(tiny.rates(), [1, 2, 3]);
    }
}
