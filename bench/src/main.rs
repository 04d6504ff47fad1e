//! The `crossline-bench` binary: parses the command line, runs one mode, prints its table, and writes the JSON
//! and histogram files asked for. It exits non-zero when a run's checks fail (a reject where none is expected,
//! a broken engine invariant, a state hash that differs from the generator's), so scripts cannot mistake a
//! broken run for a fast one.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use crossline_bench::histogram::write_hgrm;
use crossline_bench::modes::engine::{self, EngineOptions};
use crossline_bench::timer::Timer;
use crossline_bench::workload::WorkloadKind;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "crossline-bench",
    version,
    about = "Crossline's benchmarking rig"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// The matching engine alone, in-process: generated flow in, counted events out.
    Engine {
        #[arg(long, value_enum)]
        workload: WorkloadKind,
        /// Measured commands (for mass-cancel: orders built and cancelled).
        #[arg(long, default_value_t = 1_000_000)]
        ops: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Time about one op in N (random gaps); 1 times every op, 0 none. Default: 16 (mass-cancel: 1).
        #[arg(long)]
        sample_every: Option<u32>,
        #[command(flatten)]
        output: Output,
    },
    /// Prints the exact definition of every workload.
    Workloads,
}

#[derive(Debug, clap::Args)]
struct Output {
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the latency histogram in HdrHistogram's percentile distribution format (values in microseconds).
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.mode {
        Mode::Workloads => {
            for workload in WorkloadKind::ALL {
                println!("{}\n", workload.definition());
            }
            Ok(())
        }
        Mode::Engine {
            workload,
            ops,
            seed,
            sample_every,
            output,
        } => {
            let timer = Timer::new(Duration::from_millis(50));
            let options = EngineOptions {
                workload,
                ops,
                seed,
                sample_every,
            };
            let run = engine::run(&options, &timer)?;
            print!("{}", run.report.render_table());
            if let Some(path) = &output.json {
                run.report.write_json(path)?;
            }
            if let Some(path) = &output.hgrm {
                let mut file = std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                );
                write_hgrm(&run.histogram, 1000.0, &mut file)
                    .and_then(|()| file.flush())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if !run.report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
    }
}
