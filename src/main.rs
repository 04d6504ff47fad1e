//! `crossline`: the appliance binary. It parses the command line and hands each subcommand to its module; the
//! matching itself lives in crossline-engine, the journal in crossline-journal.

mod journal_cli;
mod tune;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "crossline",
    version,
    about = "Crossline: a low-latency order-matching appliance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the version, the engine's snapshot format and the build's target.
    Version,
    /// Look into a journal directory: inspect, verify, dump.
    Journal {
        #[command(subcommand)]
        action: JournalAction,
    },
    /// What the host does to a latency-critical appliance.
    Tune {
        #[command(subcommand)]
        action: TuneAction,
    },
}

#[derive(Subcommand, Debug)]
enum TuneAction {
    /// A hiccup meter: a pinned busy loop records every gap between clock reads.
    Jitter {
        #[arg(long, default_value_t = 10.0)]
        duration_s: f64,
        /// Pin the meter to this core (as numbered by the kernel).
        #[arg(long)]
        core: Option<usize>,
        /// Gaps at or above this many nanoseconds count as hiccups.
        #[arg(long, default_value_t = 10_000)]
        hiccup_threshold_ns: u64,
        /// Also write the report as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum JournalAction {
    /// Segments, record counts, sequence range, and any torn tail.
    Inspect { dir: PathBuf },
    /// Check every header and record; the exit code is the verdict (0 good, 1 problems, 2 unusable path).
    Verify { dir: PathBuf },
    /// Print commands as text, from a sequence number.
    Dump {
        dir: PathBuf,
        /// First sequence number to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// How many commands to print.
        #[arg(long, default_value_t = 100)]
        count: u64,
    },
}

/// Turns a subcommand's exit code into the process's.
fn exit_with(result: anyhow::Result<i32>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("crossline {}", env!("CARGO_PKG_VERSION"));
            println!(
                "engine snapshot format {}",
                crossline_engine::SNAPSHOT_FORMAT_VERSION
            );
            println!("target {}-{}", std::env::consts::ARCH, std::env::consts::OS);
            ExitCode::SUCCESS
        }
        Command::Tune {
            action:
                TuneAction::Jitter {
                    duration_s,
                    core,
                    hiccup_threshold_ns,
                    json,
                },
        } => {
            let options = tune::jitter::JitterOptions {
                duration_s,
                core,
                hiccup_threshold_ns,
                json,
            };
            exit_with(run_jitter(&options))
        }
        Command::Journal { action } => exit_with(match action {
            JournalAction::Inspect { dir } => journal_cli::inspect(&dir),
            JournalAction::Verify { dir } => journal_cli::verify(&dir),
            JournalAction::Dump { dir, from, count } => journal_cli::dump(&dir, from, count),
        }),
    }
}

fn run_jitter(options: &tune::jitter::JitterOptions) -> anyhow::Result<i32> {
    let report = tune::jitter::run(options)?;
    report.print();
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(0)
}
