//! `crossline`: the appliance binary. It parses the command line and hands each subcommand to its module; the
//! matching itself lives in crossline-engine, the journal in crossline-journal.

use clap::{Parser, Subcommand};
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
    }
}
