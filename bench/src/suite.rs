//! `crossline-bench suite`: the standard set, with fixed seeds and sizes, in one command. It runs the engine's four
//! workloads, the journal, the cold restart and the loopback echo (open and closed loop); writes each run's JSON
//! and `.hgrm` and the comparison charts (SVG) into the output directory (docs/bench/ by default); and regenerates
//! the section of BENCHMARKS.md between `<!-- suite:begin -->` and `<!-- suite:end -->` (the markers are added at
//! the end when absent). Text outside the markers is never changed. When a run's checks fail, its files are still
//! written but BENCHMARKS.md is left alone and the suite exits non-zero.
//!
//! `--quick` runs the same set with small sizes (well under a minute on a 2-vCPU box): a smoke run and what the
//! test runs, not figures to publish; the generated section says which it was.

use crate::env::Environment;
use crate::histogram::{human_ns, write_hgrm, LatencyNs};
use crate::live::{LiveOptions, ProgressOptions};
use crate::modes::echo::{self, EchoOptions, Load};
use crate::modes::engine::{self, EngineOptions};
use crate::modes::journal::{self, JournalOptions};
use crate::modes::restart::{self, RestartOptions};
use crate::plot::{self, Series};
use crate::progress;
use crate::report::{group_digits, write_json_file, Report};
use crate::timer::Timer;
use crate::workload::WorkloadKind;
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub const BEGIN_MARKER: &str = "<!-- suite:begin -->";
pub const END_MARKER: &str = "<!-- suite:end -->";

/// What `crossline-bench suite` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteOptions {
    pub quick: bool,
    /// Where the JSON, .hgrm and SVG files go (created if missing).
    pub out_dir: PathBuf,
    /// The markdown file whose generated section is rewritten.
    pub benchmarks_md: PathBuf,
    /// Parent of the journal and restart runs' scratch directories (default: the system temp dir).
    pub scratch_dir: Option<PathBuf>,
}

/// The fixed sizes of the standard set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteSizes {
    pub engine_ops: u64,
    pub journal_records: u64,
    pub restart_commands: u64,
    pub restart_snapshot_every: u64,
    pub segment_bytes: u64,
    pub echo_rate: u64,
    pub echo_duration: Duration,
}

impl SuiteSizes {
    pub fn new(quick: bool) -> SuiteSizes {
        if quick {
            SuiteSizes {
                engine_ops: 100_000,
                journal_records: 200_000,
                restart_commands: 300_000,
                restart_snapshot_every: 100_000,
                segment_bytes: 64 << 20,
                echo_rate: 20_000,
                echo_duration: Duration::from_secs(1),
            }
        } else {
            SuiteSizes {
                engine_ops: 1_000_000,
                journal_records: 5_000_000,
                restart_commands: 10_000_000,
                restart_snapshot_every: 1_000_000,
                segment_bytes: journal::DEFAULT_SEGMENT_BYTES,
                echo_rate: 100_000,
                echo_duration: Duration::from_secs(5),
            }
        }
    }
}

/// The engine runs' seed (as in BENCHMARKS.md's engine table).
pub const ENGINE_SEED: u64 = 3;
/// The other runs' seed.
pub const SEED: u64 = 1;

/// One row of the generated latency table.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteRow {
    /// The file stem of the run's outputs ("engine-liquibook").
    pub name: String,
    /// The equivalent single-mode command.
    pub command: String,
    pub throughput: String,
    pub latency_ns: Option<LatencyNs>,
    pub checks: String,
}

/// What the suite did: rows, restart phases, charts, and whether every check passed.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteOutcome {
    pub rows: Vec<SuiteRow>,
    pub restart: Vec<(String, String)>,
    pub charts: Vec<(String, PathBuf)>,
    pub env: Environment,
    pub wall: Duration,
    pub all_checks_passed: bool,
}

/// Runs the standard set, writes the files, regenerates the markdown section (only when every check passed).
/// `log` gets one line per run as it finishes.
pub fn run(options: &SuiteOptions, mut log: impl FnMut(&str)) -> anyhow::Result<SuiteOutcome> {
    let started = Instant::now();
    let sizes = SuiteSizes::new(options.quick);
    let out = &options.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let timer = Timer::new(Duration::from_millis(50));
    let mut rows = Vec::new();
    let mut charts = Vec::new();

    // The engine's workloads.
    let mut engine_series = Vec::new();
    let mut mass_cancel_series = Vec::new();
    for workload in WorkloadKind::ALL {
        let name = format!("engine-{}", workload.name());
        let run = engine::run(
            &EngineOptions {
                workload,
                ops: sizes.engine_ops,
                seed: ENGINE_SEED,
                sample_every: None,
            },
            &timer,
        )
        .with_context(|| format!("running {name}"))?;
        write_json_file(&run.report, &out.join(format!("{name}.json")))?;
        write_hgrm_file(&run.histogram, &out.join(format!("{name}.hgrm")))?;
        // A mass cancel is one command over many orders: its latency has its own chart.
        if workload == WorkloadKind::MassCancel {
            mass_cancel_series.push(Series::from_histogram("mass-cancel", &run.histogram));
        } else {
            engine_series.push(Series::from_histogram(workload.name(), &run.histogram));
        }
        let throughput = match &run.report.headline {
            Some(headline) => format!("{} {}", si(headline.value), headline.unit),
            None => format!("{} ops/s", si(run.report.ops_per_sec)),
        };
        let row = row(
            &name,
            format!(
                "engine --workload {} --ops {} --seed {ENGINE_SEED}",
                workload.name(),
                sizes.engine_ops
            ),
            throughput,
            &run.report,
        );
        log(&row.summary());
        rows.push(row);
    }
    charts.push(chart(
        out,
        "engine",
        "Engine alone: latency per command by workload",
        &engine_series,
    )?);
    charts.push(chart(
        out,
        "engine-mass-cancel",
        "Engine alone: latency per MassCancel command",
        &mass_cancel_series,
    )?);

    // The journal.
    let journal_options = JournalOptions {
        segment_bytes: sizes.segment_bytes,
        seed: SEED,
        dir: options.scratch_dir.clone(),
        ..JournalOptions::new(sizes.journal_records)
    };
    let journal_run = journal::run(&journal_options, &timer).context("running the journal")?;
    write_json_file(&journal_run.report, &out.join("journal.json"))?;
    write_hgrm_file(&journal_run.append_histogram, &out.join("journal.hgrm"))?;
    let row_journal = row(
        "journal",
        format!(
            "journal --records {} --record-bytes 64 --fsync none --segment-bytes {}",
            sizes.journal_records, sizes.segment_bytes
        ),
        format!(
            "{} records/s (replay {}/s)",
            si(journal_run.report.report.ops_per_sec),
            si(journal_run.report.replay_records_per_sec)
        ),
        &journal_run.report.report,
    );
    log(&row_journal.summary());
    rows.push(row_journal);
    charts.push(chart(
        out,
        "journal",
        "Journal: latency per append (fsync none)",
        &[Series::from_histogram(
            "append",
            &journal_run.append_histogram,
        )],
    )?);

    // The cold restart.
    let restart_options = RestartOptions {
        segment_bytes: sizes.segment_bytes,
        seed: SEED,
        dir: options.scratch_dir.clone(),
        ..RestartOptions::new(sizes.restart_commands, sizes.restart_snapshot_every)
    };
    let restart_report = restart::run(&restart_options, &timer).context("running the restart")?;
    write_json_file(&restart_report, &out.join("restart.json"))?;
    let phases = restart_report.phases_seconds;
    let ms = |seconds: f64| format!("{:.1} ms", seconds * 1e3);
    let mut restart_rows = vec![
        (
            "recover (scan and check the segments)".to_string(),
            ms(phases.recover),
        ),
        (
            "snapshot load + engine restore".to_string(),
            ms(phases.snapshot_load + phases.snapshot_restore),
        ),
        (
            format!(
                "replay of {} commands after the snapshot ({} commands/s)",
                group_digits(restart_report.suffix_commands),
                si(restart_report.suffix_replay_commands_per_sec)
            ),
            ms(phases.replay),
        ),
        (
            "**total, ready engine**".to_string(),
            format!("**{}**", ms(phases.total)),
        ),
    ];
    if let Some(full) = restart_report.full_replay_seconds {
        restart_rows.push((
            format!(
                "baseline: no snapshot, replay all {}",
                group_digits(sizes.restart_commands)
            ),
            ms(full),
        ));
    }
    let restart_checks = checks_text(&restart_report.report);
    log(&format!(
        "restart: ready in {} · checks {restart_checks}",
        ms(phases.total)
    ));
    let restart_ok = restart_report.checks_passed();

    // The loopback echo, open and closed loop.
    let mut echo_series = Vec::new();
    for load in [Load::OpenLoop, Load::ClosedLoop] {
        let name = format!("echo-{}", load.name().replace('_', "-"));
        let echo_options = EchoOptions {
            rate_per_sec: sizes.echo_rate,
            duration: sizes.echo_duration,
            load,
            seed: SEED,
            ..EchoOptions::default()
        };
        let live = LiveOptions {
            progress: progress::wanted(false, sizes.echo_duration).then(|| ProgressOptions {
                total: echo::planned_messages(sizes.echo_rate, sizes.echo_duration),
                unit: "msg".to_string(),
            }),
            hlog: None,
        };
        let run =
            echo::run_with_live(&echo_options, live).with_context(|| format!("running {name}"))?;
        write_json_file(&run.report, &out.join(format!("{name}.json")))?;
        write_hgrm_file(&run.histogram, &out.join(format!("{name}.hgrm")))?;
        echo_series.push(Series::from_histogram(
            load.name().replace('_', " "),
            &run.histogram,
        ));
        let row = row(
            &name,
            format!(
                "echo --rate {} --duration-s {}{}",
                sizes.echo_rate,
                sizes.echo_duration.as_secs_f64(),
                if load == Load::ClosedLoop {
                    " --closed-loop"
                } else {
                    ""
                }
            ),
            format!(
                "{} msg/s of {}",
                group_digits(run.report.achieved_rate_per_sec.round() as u64),
                group_digits(sizes.echo_rate)
            ),
            &run.report.report,
        );
        log(&row.summary());
        rows.push(row);
    }
    charts.push(chart(
        out,
        "echo",
        "Loopback echo: open loop (from planned send) against closed loop",
        &echo_series,
    )?);

    let all_checks_passed = restart_ok && rows.iter().all(|row| row.checks == "ok");
    let outcome = SuiteOutcome {
        rows,
        restart: restart_rows,
        charts,
        env: Environment::capture(SEED),
        wall: started.elapsed(),
        all_checks_passed,
    };
    if !outcome.all_checks_passed {
        bail!(
            "some runs' checks failed (see their JSON in {}); {} was left alone",
            out.display(),
            options.benchmarks_md.display()
        );
    }
    let section = render_section(&outcome, options);
    update_markdown(&options.benchmarks_md, &section)?;
    Ok(outcome)
}

impl SuiteRow {
    fn summary(&self) -> String {
        let p99 = self
            .latency_ns
            .map_or_else(|| "-".to_string(), |latency| human_ns(latency.p99 as f64));
        format!(
            "{}: {} · p99 {p99} · checks {}",
            self.name, self.throughput, self.checks
        )
    }
}

fn row(name: &str, command: String, throughput: String, report: &Report) -> SuiteRow {
    SuiteRow {
        name: name.to_string(),
        command,
        throughput,
        latency_ns: report.latency_ns,
        checks: checks_text(report),
    }
}

fn checks_text(report: &Report) -> String {
    if report.checks_passed() {
        "ok".to_string()
    } else {
        let failed: Vec<String> = report
            .checks
            .0
            .iter()
            .filter(|(_, outcome)| outcome != "ok")
            .map(|(name, outcome)| format!("{name}: {outcome}"))
            .collect();
        format!("FAILED ({})", failed.join("; "))
    }
}

fn chart(
    out: &Path,
    stem: &str,
    title: &str,
    series: &[Series],
) -> anyhow::Result<(String, PathBuf)> {
    let path = out.join(format!("{stem}.svg"));
    plot::write_svg(&path, title, series)?;
    Ok((title.to_string(), path))
}

fn write_hgrm_file(histogram: &Histogram<u64>, path: &Path) -> anyhow::Result<()> {
    let mut text = Vec::new();
    write_hgrm(histogram, 1000.0, &mut text).context("formatting a histogram")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// 4_080_000.0 -> "4.08M"; 15_200.0 -> "15.2k"; below 1,000 as is.
pub fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// The generated section, markers excluded.
pub fn render_section(outcome: &SuiteOutcome, options: &SuiteOptions) -> String {
    let mut md = String::new();
    let sizes = if options.quick { " --quick" } else { "" };
    let _ = writeln!(
        md,
        "## Standard suite (`crossline-bench suite`), generated\n"
    );
    let _ = writeln!(
        md,
        "Written by `cargo run --release -p crossline-bench -- suite{sizes}` on {} in {:.0} s; the next run replaces \
         everything between the suite markers. One run each (not a median of three), fixed seeds (engine {ENGINE_SEED}, \
         others {SEED}). Each run's JSON and `.hgrm` are in `{}`.",
        utc_now(),
        outcome.wall.as_secs_f64(),
        link(&options.benchmarks_md, &options.out_dir)
    );
    if options.quick {
        let _ = writeln!(
            md,
            "\n**Quick run**: small sizes for a smoke test, not figures to compare with the tables above."
        );
    }
    let _ = writeln!(md, "\nMachine: {}.\n", outcome.env.summary());
    let _ = writeln!(
        md,
        "| run | command (`crossline-bench ...`) | throughput | p50 | p90 | p99 | p99.9 | p99.99 | max | checks |"
    );
    let _ = writeln!(
        md,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for row in &outcome.rows {
        let latency = match row.latency_ns {
            Some(latency) => latency
                .values()
                .iter()
                .map(|&value| human_ns(value as f64))
                .collect::<Vec<String>>()
                .join(" | "),
            None => ["-"; 6].join(" | "),
        };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {latency} | {} |",
            row.name, row.command, row.throughput, row.checks
        );
    }
    let _ = writeln!(
        md,
        "\nCold restart (`restart --commands {} --snapshot-every {}`), page cache warm:\n",
        SuiteSizes::new(options.quick).restart_commands,
        SuiteSizes::new(options.quick).restart_snapshot_every
    );
    let _ = writeln!(md, "| phase | time |\n| --- | --- |");
    for (phase, time) in &outcome.restart {
        let _ = writeln!(md, "| {phase} | {time} |");
    }
    let _ = writeln!(
        md,
        "\nPercentile spectra (x: percentile on a log scale of 1 in N; y: latency, log scale):\n"
    );
    for (title, path) in &outcome.charts {
        let _ = writeln!(md, "![{title}]({})", link(&options.benchmarks_md, path));
    }
    md
}

/// `target` as a link from the markdown file: relative to its directory when it lies below it.
fn link(markdown: &Path, target: &Path) -> String {
    let absolute = |path: &Path| -> PathBuf {
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(path)
        };
        // Resolve what exists (the directory), keep the rest as written.
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => parent
                .canonicalize()
                .map(|parent| parent.join(name))
                .unwrap_or(path.clone()),
            _ => path,
        }
    };
    let markdown_dir = absolute(markdown)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target = absolute(target);
    match target.strip_prefix(&markdown_dir) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => target.display().to_string(),
    }
}

/// Replaces the text between the markers in `existing` with `section`; appends markers and section when there are
/// none. A marker counts only on a line of its own, so prose that quotes one is left alone. Errors when only one
/// marker is present, either is there twice, or they are out of order, rather than guess.
pub fn replace_section(existing: &str, section: &str) -> anyhow::Result<String> {
    let block = format!("{BEGIN_MARKER}\n{}{END_MARKER}", with_newline(section));
    match (marker_line(existing, BEGIN_MARKER)?, marker_line(existing, END_MARKER)?) {
        (Some(begin), Some(end)) if begin < end => Ok(format!(
            "{}{block}{}",
            &existing[..begin],
            &existing[end + END_MARKER.len()..]
        )),
        (None, None) => {
            let mut text = with_newline(existing);
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push('\n');
            }
            Ok(format!("{text}{block}\n"))
        }
        _ => bail!("the suite markers are incomplete or out of order; fix them by hand ({BEGIN_MARKER} then {END_MARKER})"),
    }
}

/// The byte offset of the line that is exactly `marker` (surrounding spaces aside), if there is one.
fn marker_line(text: &str, marker: &str) -> anyhow::Result<Option<usize>> {
    let mut offset = 0;
    let mut found = None;
    for line in text.split_inclusive('\n') {
        if line.trim() == marker {
            if found.is_some() {
                bail!("{marker} is there twice; fix it by hand");
            }
            found = Some(offset + (line.len() - line.trim_start().len()));
        }
        offset += line.len();
    }
    Ok(found)
}

fn with_newline(text: &str) -> String {
    let mut text = text.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn update_markdown(path: &Path, section: &str) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let updated =
        replace_section(&existing, section).with_context(|| path.display().to_string())?;
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

/// "2026-11-25 10:20 UTC".
pub fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let minutes = seconds % 86_400 / 60;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_and_nothing_else() {
        let hand = "# Benchmarks\n\nHand-written, naming `<!-- suite:begin -->` and `<!-- suite:end -->`.\n";
        let first = replace_section(hand, "one\n").expect("appends");
        assert_eq!(
            first,
            format!("{hand}\n{BEGIN_MARKER}\none\n{END_MARKER}\n")
        );
        let tail = format!("{first}\n## Later, by hand\n");
        let second = replace_section(&tail, "two").expect("replaces");
        assert_eq!(
            second,
            format!("{hand}\n{BEGIN_MARKER}\ntwo\n{END_MARKER}\n\n## Later, by hand\n")
        );
        assert_eq!(replace_section(&second, "two").expect("idempotent"), second);
        assert!(replace_section(&format!("{hand}{END_MARKER}\n{BEGIN_MARKER}\n"), "x").is_err());
        assert!(replace_section(&format!("{hand}{BEGIN_MARKER}\n"), "x").is_err());
        assert!(replace_section(&format!("{second}{BEGIN_MARKER}\n{END_MARKER}\n"), "x").is_err());
        assert_eq!(
            replace_section("", "x").expect("empty file"),
            format!("{BEGIN_MARKER}\nx\n{END_MARKER}\n")
        );
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn si_units() {
        assert_eq!(si(4_080_000.0), "4.08M");
        assert_eq!(si(15_200.0), "15.2k");
        assert_eq!(si(950.0), "950");
    }
}
