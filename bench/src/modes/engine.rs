//! `crossline-bench engine`: the matching engine alone, in-process, on one thread. The flow is generated and the
//! engine set up before the clock starts; `run_measured` is the only code timed, and the only code counted by
//! `valgrind --tool=callgrind --toggle-collect='*run_measured*'`. Events go to a counting sink, so the figure is
//! the engine's work with every event produced (book depth and events on) and none delivered anywhere.

use crate::env::Environment;
use crate::histogram::{latency_histogram, LatencyNs};
use crate::report::{Headline, LatencySampling, Named, Report};
use crate::rng::Rng;
use crate::sampling::{describe_sampling, SamplePlan};
use crate::timer::Timer;
use crate::workload::{Flow, Instruments, WorkloadKind};
use anyhow::{anyhow, bail, Context};
use crossline_engine::{Command, CommandBody, Engine, Event, EventSink, FastBook, RejectReason};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// What `crossline-bench engine` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    pub workload: WorkloadKind,
    pub ops: u64,
    pub seed: u64,
    /// None: the workload's default.
    pub sample_every: Option<u32>,
}

/// A finished run: the report and the latency histogram behind it (for `--hgrm`).
#[derive(Debug)]
pub struct EngineRun {
    pub report: Report,
    pub histogram: Histogram<u64>,
}

/// Reject reasons are `repr(u8)` from 1; this covers them with room to grow.
const REJECT_REASON_SLOTS: usize = 64;

/// Counts what the engine says: one match per event, no allocation, cheap enough for the measured loop.
#[derive(Debug, Clone)]
pub struct BenchSink {
    pub events: u64,
    pub executions: u64,
    pub rejects: u64,
    /// `Canceled` events, whatever the reason (IOC rests, user cancels, mass cancels).
    pub cancels: u64,
    pub self_trade_cancels: u64,
    /// Sum of the counts in `MassCanceled` events; must equal the mass-cancel part of `cancels`.
    pub mass_cancel_reported: u64,
    reject_counts: [u64; REJECT_REASON_SLOTS],
    reject_reasons: [Option<RejectReason>; REJECT_REASON_SLOTS],
}

impl Default for BenchSink {
    fn default() -> Self {
        BenchSink {
            events: 0,
            executions: 0,
            rejects: 0,
            cancels: 0,
            self_trade_cancels: 0,
            mass_cancel_reported: 0,
            reject_counts: [0; REJECT_REASON_SLOTS],
            reject_reasons: [None; REJECT_REASON_SLOTS],
        }
    }
}

impl EventSink for BenchSink {
    #[inline]
    fn push(&mut self, event: Event) {
        self.events += 1;
        match event {
            Event::Executed { .. } => self.executions += 1,
            Event::Canceled { .. } => self.cancels += 1,
            Event::SelfTradeCanceled { .. } => self.self_trade_cancels += 1,
            Event::MassCanceled { count, .. } => self.mass_cancel_reported += count,
            Event::Rejected { reason, .. } => {
                self.rejects += 1;
                let slot = (reason as usize).min(REJECT_REASON_SLOTS - 1);
                self.reject_counts[slot] += 1;
                self.reject_reasons[slot] = Some(reason);
            }
            _ => {}
        }
    }
}

impl BenchSink {
    /// "InsufficientFunds 3, UnknownOrder 1" or "none".
    pub fn reject_summary(&self) -> String {
        let parts: Vec<String> = self
            .reject_reasons
            .iter()
            .zip(self.reject_counts)
            .filter_map(|(reason, count)| reason.map(|reason| format!("{reason:?} {count}")))
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The measured loop: applies `commands` in order, timing the ones at `sample_positions` (sorted) into
/// `samples_ticks` (one slot each, already allocated and touched). Returns the wall time of the whole loop.
/// Never inlined, so profilers and callgrind's `--toggle-collect='*run_measured*'` see exactly this.
#[inline(never)]
pub fn run_measured(
    engine: &mut Engine,
    commands: &[Command],
    sample_positions: &[u32],
    samples_ticks: &mut [u64],
    timer: &Timer,
    sink: &mut BenchSink,
) -> Duration {
    assert_eq!(sample_positions.len(), samples_ticks.len());
    let mut next_sample = 0usize;
    let mut next_position = sample_positions
        .first()
        .map_or(usize::MAX, |&position| position as usize);
    let started = Instant::now();
    for (position, command) in commands.iter().enumerate() {
        if position == next_position {
            let start = timer.start();
            engine.apply(command, sink);
            let end = timer.end();
            samples_ticks[next_sample] = end.wrapping_sub(start);
            next_sample += 1;
            next_position = sample_positions
                .get(next_sample)
                .map_or(usize::MAX, |&position| position as usize);
        } else {
            engine.apply(command, sink);
        }
    }
    started.elapsed()
}

/// Separates the sampling positions' random stream from the flow's, so changing one never changes the other.
const SAMPLING_STREAM: u64 = 0x5A3B_11E5_0000_0001;

/// Generates the flow, runs it, checks the engine afterwards and builds the report.
pub fn run(options: &EngineOptions, timer: &Timer) -> anyhow::Result<EngineRun> {
    run_with(options, Instruments::single(), timer)
}

/// `run` with the flow spread over `instruments` (`--instruments`, `--pareto-alpha`).
pub fn run_with(
    options: &EngineOptions,
    instruments: Instruments,
    timer: &Timer,
) -> anyhow::Result<EngineRun> {
    let env = Environment::capture(options.seed);
    let generation_started = Instant::now();
    let flow = options
        .workload
        .generate_with(options.ops, options.seed, instruments)
        .context("generating the flow")?;
    let generation_s = generation_started.elapsed().as_secs_f64();

    let mut engine: Engine =
        Engine::new(flow.config).map_err(|error| anyhow!("engine configuration: {error}"))?;
    let mut untimed = BenchSink::default();
    for command in &flow.setup {
        engine.apply(command, &mut untimed);
    }
    if untimed.rejects > 0 {
        bail!(
            "the engine rejected set-up commands ({}): the workload and the engine disagree",
            untimed.reject_summary()
        );
    }

    let sample_every = options.sample_every.unwrap_or(flow.sample_every_default);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        measure_rounds(
            &flow,
            &mut engine,
            &mut untimed,
            sample_every,
            options.seed,
            timer,
        )
    }));
    let Ok(measured) = outcome else {
        bail!("{}", locate_panic(&flow));
    };
    let Measured {
        sink,
        histogram,
        duration: measured,
        orders_prepared,
    } = measured;

    let inputs = ReportInputs {
        env,
        timer,
        sample_every,
        generation_s,
    };
    let report = build_report(
        options,
        &flow,
        &engine,
        &sink,
        &untimed,
        orders_prepared,
        measured,
        &histogram,
        inputs,
    );
    Ok(EngineRun { report, histogram })
}

/// What the measured rounds produced.
struct Measured {
    sink: BenchSink,
    histogram: Histogram<u64>,
    duration: Duration,
    orders_prepared: u64,
}

/// Runs every round: its untimed preparation, then its measured commands through `run_measured`.
fn measure_rounds(
    flow: &Flow,
    engine: &mut Engine,
    untimed: &mut BenchSink,
    sample_every: u32,
    seed: u64,
    timer: &Timer,
) -> Measured {
    let mut sample_rng = Rng::new(seed ^ SAMPLING_STREAM);
    let mut sink = BenchSink::default();
    let mut histogram = latency_histogram();
    let mut measured = Duration::ZERO;
    let mut orders_prepared = 0u64;
    for round in &flow.rounds {
        for command in &round.prepare {
            engine.apply(command, untimed);
            orders_prepared += u64::from(matches!(command.body, CommandBody::NewOrder(_)));
        }
        let plan = SamplePlan::new(round.measured.len(), sample_every, &mut sample_rng);
        // Filled with a non-zero value (not calloc's lazily mapped zero pages), so the loop writes to pages
        // that are already mapped.
        let mut samples_ticks = vec![u64::MAX; plan.len()];
        measured += run_measured(
            engine,
            &round.measured,
            &plan.positions,
            &mut samples_ticks,
            timer,
            &mut sink,
        );
        for &ticks in &samples_ticks {
            histogram.saturating_record(timer.ticks_to_ns(ticks).max(1));
        }
    }
    Measured {
        sink,
        histogram,
        duration: measured,
        orders_prepared,
    }
}

/// After a panic inside the engine: replays the flow into a fresh engine, one command at a time, to name the
/// command that panics (the flow is deterministic, so it panics again at the same place).
fn locate_panic(flow: &Flow) -> String {
    let Ok(mut engine) = Engine::<FastBook>::new(flow.config) else {
        return "the engine panicked during the run".to_string();
    };
    let mut events = Vec::new();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut found = None;
    for command in flow.all_commands() {
        events.clear();
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.apply(command, &mut events)
        }));
        if applied.is_err() {
            found = Some(*command);
            break;
        }
    }
    std::panic::set_hook(previous_hook);
    match found {
        Some(command) => format!(
            "the engine panicked on command seq {} of the {} flow (seed {}): {:?}",
            command.seq,
            flow.kind.name(),
            flow.seed,
            command.body
        ),
        None => {
            "the engine panicked during the run, but not when the flow was replayed".to_string()
        }
    }
}

/// What the report needs besides the engine and the counts.
struct ReportInputs<'a> {
    env: Environment,
    timer: &'a Timer,
    sample_every: u32,
    generation_s: f64,
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    options: &EngineOptions,
    flow: &Flow,
    engine: &Engine,
    sink: &BenchSink,
    untimed: &BenchSink,
    orders_prepared: u64,
    measured: Duration,
    histogram: &Histogram<u64>,
    inputs: ReportInputs<'_>,
) -> Report {
    let ops = flow.measured_ops();
    let seconds = measured.as_secs_f64();
    let per_second = |count: u64| {
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    };
    let state_hash = engine.state_hash();

    let mut counters = Named::new();
    counters.push("events", sink.events);
    counters.push("executions", sink.executions);
    counters.push("rejects", sink.rejects);
    counters.push("cancels", sink.cancels);
    counters.push("self_trade_cancels", sink.self_trade_cancels);
    counters.push(
        "untimed_commands",
        (flow.setup.len() + flow.rounds.iter().map(|r| r.prepare.len()).sum::<usize>()) as u64,
    );

    let mut mix = Named::new();
    for (name, count) in flow.measured_mix().named() {
        mix.push(name, count);
    }

    let mut checks = Named::new();
    checks.push(
        "rejects",
        if sink.rejects == 0 && untimed.rejects == 0 {
            "ok".to_string()
        } else {
            format!(
                "measured: {}; untimed: {}",
                sink.reject_summary(),
                untimed.reject_summary()
            )
        },
    );
    checks.push(
        "validate",
        match engine.validate() {
            Ok(()) => "ok".to_string(),
            Err(message) => format!("FAILED: {message}"),
        },
    );
    if let Some(expected) = flow.expected_state_hash {
        checks.push(
            "state_hash_as_generated",
            if expected == state_hash {
                "ok".to_string()
            } else {
                format!("FAILED: the generator's engine reached {expected:#018x}")
            },
        );
        checks.push(
            "generation_rejects",
            if flow.generation_rejects == 0 {
                "ok".to_string()
            } else {
                format!("FAILED: {}", flow.generation_rejects)
            },
        );
    }
    let mut headline = None;
    if flow.kind == WorkloadKind::MassCancel {
        checks.push(
            "all_orders_cancelled",
            if sink.cancels == orders_prepared && sink.mass_cancel_reported == orders_prepared {
                "ok".to_string()
            } else {
                format!(
                    "FAILED: {orders_prepared} orders built, {} Canceled events, {} reported by MassCanceled",
                    sink.cancels, sink.mass_cancel_reported
                )
            },
        );
        headline = Some(Headline {
            name: "cancels_per_sec".to_string(),
            value: per_second(sink.cancels),
            unit: "orders cancelled/s".to_string(),
        });
    }

    let samples = histogram.len();
    let mut notes = Vec::new();
    if inputs.sample_every > 0 {
        notes.push(format!(
            "throughput includes the sampling's own cost (~{:.0} ns per timed op); --sample-every 0 measures \
             throughput alone",
            inputs.timer.overhead_ns()
        ));
        let beyond_p99_99 = samples as f64 * 0.0001;
        if beyond_p99_99 < 10.0 {
            notes.push(format!(
                "p99.99 stands on {beyond_p99_99:.1} samples above it: read it as a maximum, not a percentile \
                 (more ops or --sample-every 1 for more samples)"
            ));
        }
    }
    notes.push(format!(
        "flow generated in {:.2} s before measuring; engine started cold, no warm-up",
        inputs.generation_s
    ));
    notes.extend(flow.notes.iter().cloned());

    Report {
        mode: "engine".to_string(),
        workload: options.workload.name().to_string(),
        ops,
        seconds,
        ops_per_sec: per_second(ops),
        latency_ns: LatencyNs::from_histogram(histogram),
        latency_sampling: LatencySampling {
            method: describe_sampling(inputs.sample_every),
            every: inputs.sample_every,
            samples,
            timer: inputs.timer.describe(),
            timer_overhead_ns: (inputs.timer.overhead_ns() * 10.0).round() / 10.0,
            unit: flow.sample_unit.to_string(),
        },
        headline,
        baseline: None,
        counters,
        mix,
        checks,
        state_hash: Some(format!("{state_hash:#018x}")),
        env: inputs.env,
        notes,
        extra_rows: Vec::new(),
    }
}
