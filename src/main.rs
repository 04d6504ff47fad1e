//! `crossline`: the appliance binary. It parses the command line and hands each subcommand to its module; the
//! matching itself lives in crossline-engine, the journal in crossline-journal.

mod admin;
mod admin_backend;
mod cluster;
mod cluster_cli;
mod config;
mod config_cli;
mod demo;
mod disk_space;
mod journal_cli;
mod metrics;
mod pipeline;
mod pipeline_bench;
mod query;
mod rebind;
mod replication;
mod serve;
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
    /// The pipeline in process, no sockets (run by `crossline-bench pipeline`).
    #[command(hide = true)]
    BenchPipeline {
        #[arg(long, default_value_t = 10_000_000)]
        ops: u64,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The query side's apply rate and lag (run by `crossline-bench query`).
    #[command(hide = true)]
    BenchQuery(query::bench::BenchQueryArgs),
    /// Ask the query database: trades, orders, balances, fees by tier, audit snapshots.
    Query(query::cli::QueryCli),
    /// Run the appliance until SIGTERM or Ctrl-C (embedded default configuration unless --config is given).
    Serve {
        /// A TOML configuration file (`crossline config example` prints a commented one).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Start the appliance in a temporary directory, trade through the client library, print what happened.
    Demo,
    /// Configuration: print the commented example, check a file, hash a password.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Look into a journal directory: inspect, verify, dump.
    Journal {
        #[command(subcommand)]
        action: JournalAction,
    },
    /// A clustered node's view of its cluster.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
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
    /// Check the host against the latency profile; exit code 0 ready, 1 warnings, 2 failures.
    Check {
        /// The appliance's configuration file (its [cores] and [journal] dir); default: gateway 0, engine 1.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Read /proc and /sys under this directory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Print the findings as a JSON array of {id, status, detail, fix}.
        #[arg(long)]
        json: bool,
    },
    /// Suggest a thread-to-core layout for this host's topology, as a [cores] section and kernel arguments.
    Plan {
        /// Read /sys under this directory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Print (--dry-run) or, as root, write the runtime-changeable settings; kernel arguments are only printed.
    Apply {
        /// Print the commands without running them.
        #[arg(long)]
        dry_run: bool,
        /// Read and write /proc and /sys under this directory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// The appliance's configuration file (its [cores]).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterAction {
    /// Role, Raft state, leader, term, committed seq and each peer's health, from the node's GET /health.
    Status {
        /// The node's configuration (for its admin address); the embedded default otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The node's admin address, instead of the configuration's.
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
        /// Print GET /health as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the embedded default configuration, every field commented.
    Example,
    /// Check a configuration file and say what is wrong with it, if anything.
    Check { file: PathBuf },
    /// Print the Argon2id hash of a password (read from stdin) for a [[users]] entry.
    HashPassword,
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
        Command::Serve { config } => {
            exit_with(config_cli::load(config.as_deref()).and_then(|c| serve::serve(&c)))
        }
        Command::Demo => exit_with(demo::run()),
        Command::Cluster {
            action:
                ClusterAction::Status {
                    config,
                    admin,
                    json,
                },
        } => exit_with(
            config_cli::load(config.as_deref())
                .and_then(|config| cluster_cli::status(&config, admin, json)),
        ),
        Command::BenchPipeline { ops, json } => exit_with(pipeline_bench::run(ops, json)),
        Command::BenchQuery(args) => exit_with(query::bench::run(&args)),
        Command::Query(cli) => exit_with(query::cli::run(cli)),
        Command::Config { action } => exit_with(match action {
            ConfigAction::Example => config_cli::example(),
            ConfigAction::Check { file } => config_cli::check(&file),
            ConfigAction::HashPassword => config_cli::hash_password(),
        }),
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
        Command::Tune {
            action: TuneAction::Check { config, root, json },
        } => exit_with(tune::run_check(&root, config.as_deref(), json)),
        Command::Tune {
            action: TuneAction::Plan { root },
        } => exit_with(tune::run_plan(&root)),
        Command::Tune {
            action:
                TuneAction::Apply {
                    dry_run,
                    root,
                    config,
                },
        } => exit_with(tune::run_apply(&root, config.as_deref(), dry_run)),
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
