//! `crossline`: the appliance binary. It parses the command line and hands each subcommand to its module; the
//! matching itself lives in crossline-engine, the journal in crossline-journal.

mod journal_cli;

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
        Command::Journal { action } => exit_with(match action {
            JournalAction::Inspect { dir } => journal_cli::inspect(&dir),
            JournalAction::Verify { dir } => journal_cli::verify(&dir),
            JournalAction::Dump { dir, from, count } => journal_cli::dump(&dir, from, count),
        }),
    }
}
