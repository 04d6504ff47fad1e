//! The `crossline-bench` binary: parses the command line, runs one mode, prints its table, and writes the JSON
//! and histogram files asked for. It exits non-zero when a run's checks fail (a reject where none is expected,
//! a broken engine invariant, a state hash that differs from the generator's), so scripts cannot mistake a
//! broken run for a fast one.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use crossline_bench::env::{command_line, Environment};
use crossline_bench::histogram::write_hgrm;
use crossline_bench::live::{HlogOptions, LiveOptions, ProgressOptions};
use crossline_bench::modes::cluster_spawn::RaftTiming;
use crossline_bench::modes::codec::{self, CodecOptions};
use crossline_bench::modes::echo::{self, EchoBackend, EchoOptions, EchoServerOptions, Load};
use crossline_bench::modes::echo_io::EchoIo;
use crossline_bench::modes::engine::{self, EngineOptions};
use crossline_bench::modes::failover::{self, FailoverOptions};
use crossline_bench::modes::feed_send::{self, FeedSendOptions};
use crossline_bench::modes::journal::{self, FsyncSetting, JournalOptions, DEFAULT_SEGMENT_BYTES};
use crossline_bench::modes::pipeline::{self, PipelineOptions};
use crossline_bench::modes::query::{self, QueryOptions};
use crossline_bench::modes::replication::{self, ReplicationOptions};
use crossline_bench::modes::restart::{self, RestartOptions};
use crossline_bench::modes::wire::{self, BaselineSchedule, Target, WireOptions, WireWorkload};
use crossline_bench::placement::Placement;
use crossline_bench::plot::{self, Series};
use crossline_bench::progress;
use crossline_bench::report::{write_json_file, Report};
use crossline_bench::search::{self, Objective, RateTarget, SearchOptions, SearchReport};
use crossline_bench::suite::{self, SuiteOptions};
use crossline_bench::timer::Timer;
use crossline_bench::workload::WorkloadKind;
use hdrhistogram::Histogram;
use std::io::Write;
use std::path::{Path, PathBuf};
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
        /// Instruments the flow spreads over (1: the single-instrument flow; xc-single takes only 1).
        #[arg(long, default_value_t = 1)]
        instruments: u32,
        /// Shape of the Pareto the instruments are drawn from (1.16: 80/20).
        #[arg(long, default_value_t = crossline_bench::workload::DEFAULT_PARETO_ALPHA)]
        pareto_alpha: f64,
        #[command(flatten)]
        output: Output,
    },
    /// The journal: append rate (and durable-watermark lag) against a raw copy into a mapped file, then replay.
    Journal {
        /// Records appended: the workload's commands (set-up first), cut to this count.
        #[arg(long, default_value_t = 5_000_000)]
        records: u64,
        /// Record size of the baseline copy, in bytes. The journal's own frames have a fixed size set by the
        /// Command type; the report says so when it differs.
        #[arg(long, default_value_t = 64)]
        record_bytes: usize,
        /// none | interval_ms=N | every_batch
        #[arg(long, default_value = "none")]
        fsync: FsyncSetting,
        /// Records per commit_batch.
        #[arg(long, default_value_t = 64)]
        batch: u32,
        /// Size of each journal segment file.
        #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES)]
        segment_bytes: u64,
        /// Where the commands come from.
        #[arg(long, value_enum, default_value = "liquibook")]
        workload: WorkloadKind,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Time about one append in N (random gaps); 1 times every append, 0 none.
        #[arg(long, default_value_t = 64)]
        sample_every: u32,
        #[command(flatten)]
        scratch: Scratch,
        #[command(flatten)]
        output: Output,
        /// Write the durable-watermark lag histogram (.hgrm, microseconds).
        #[arg(long, value_name = "FILE")]
        lag_hgrm: Option<PathBuf>,
    },
    /// Cold start to a ready engine: recover + newest snapshot + replay of the journal after it.
    Restart {
        /// Commands journaled (set-up included) while applied to an engine.
        #[arg(long, default_value_t = 10_000_000)]
        commands: u64,
        /// A snapshot after every N commands (never after the last, so a suffix is always replayed).
        #[arg(long, default_value_t = 1_000_000)]
        snapshot_every: u64,
        #[arg(long, value_enum, default_value = "xc-single")]
        workload: WorkloadKind,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Fsync policy while journaling: none | interval_ms=N | every_batch. The journal is closed (synced)
        /// before the restart whatever the policy.
        #[arg(long, default_value = "none")]
        fsync: FsyncSetting,
        /// Records per commit_batch while journaling.
        #[arg(long, default_value_t = 64)]
        batch: u32,
        /// Size of each journal segment file.
        #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES)]
        segment_bytes: u64,
        /// The engine's order pool (default: sized for the workload: 65,536 for xc-single, the generator's
        /// size otherwise).
        #[arg(long)]
        max_orders: Option<u32>,
        /// Skip the baseline: the same cold start without a snapshot (recover + replay of every command).
        #[arg(long)]
        no_full_replay: bool,
        /// Drop the journal's and snapshots' pages from the page cache before each cold start, so they are read
        /// from the device.
        #[arg(long)]
        evict_page_cache: bool,
        #[command(flatten)]
        scratch: Scratch,
        /// Write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// The bare echo baseline: an in-process crossline-net echo server on 127.0.0.1, offered an open-loop load
    /// (latency from each message's planned send time, so stalls count) or, with --closed-loop, a closed one.
    Echo {
        /// Target rate in messages per second; message i is planned at i / rate.
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        #[command(flatten)]
        echo: EchoArgs,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        output: Output,
    },
    /// The appliance over the wire: OUCH over SoupBinTCP on loopback, open loop from planned send times (or
    /// --max), with the bare echo baseline measured in the same run.
    Wire {
        /// Total messages per second over all sessions; message i is planned at i / rate.
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        /// Drive as fast as possible (a bounded window in flight per session) and report the sustained rate.
        #[arg(long)]
        max: bool,
        /// Messages in flight per session at most with --max.
        #[arg(long, default_value_t = 256)]
        window: usize,
        #[command(flatten)]
        wire: WireArgs,
        #[command(flatten)]
        output: Output,
    },
    /// The appliance's pipeline in process (ring -> sequencer -> journal -> matcher -> ring), no sockets, against
    /// a raw ring hop; runs the hidden `crossline bench-pipeline`.
    Pipeline {
        /// Commands sent through the pipeline.
        #[arg(long, default_value_t = 10_000_000)]
        ops: u64,
        /// The crossline binary (default: the one next to crossline-bench).
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// Write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// The query side: its sustained apply rate into SQLite or PostgreSQL (rows/s, orders/s) and, with --rate,
    /// its lag behind a leader at that rate; runs the hidden `crossline bench-query`.
    Query {
        /// Commands of the seeded flow replayed.
        #[arg(long, default_value_t = 200_000)]
        commands: u64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// sqlite://FILE or postgres://USER:PASSWORD@HOST/DB (emptied first); default: SQLite in a temporary
        /// directory.
        #[arg(long)]
        db: Option<String>,
        #[arg(long, default_value_t = 4096)]
        batch_max_commands: usize,
        /// Leader rate for the lag run, commands per second; 0 skips it.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        #[arg(long, default_value_t = 5.0)]
        duration_s: f64,
        /// The crossline binary (default: the one next to crossline-bench).
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// Write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Step-rate search: raise the offered rate step by step until a latency objective breaks; report every step
    /// and the highest rate that met it.
    Search {
        #[command(subcommand)]
        target: SearchTarget,
    },
    /// Draws .hgrm files (percentile distributions) as one percentile spectrum chart, overlaid, in SVG.
    Plot {
        /// The SVG file to write.
        #[arg(long, value_name = "FILE.svg")]
        out: PathBuf,
        /// The chart's title.
        #[arg(long, default_value = "Latency by percentile")]
        title: String,
        /// The .hgrm files; each series is named by its file name without the extension.
        #[arg(required = true, value_name = "HGRM")]
        inputs: Vec<PathBuf>,
    },
    /// The standard set (engine workloads, journal, restart, echo) with fixed seeds and sizes: JSON, .hgrm and
    /// SVG charts into --out-dir, and the generated section of BENCHMARKS.md.
    Suite {
        /// Small sizes (well under a minute): a smoke run, not figures to publish.
        #[arg(long)]
        quick: bool,
        #[arg(long, value_name = "DIR", default_value = "docs/bench")]
        out_dir: PathBuf,
        /// The markdown file whose section between <!-- suite:begin --> and <!-- suite:end --> is regenerated.
        #[arg(long, value_name = "FILE", default_value = "BENCHMARKS.md")]
        benchmarks_md: PathBuf,
        /// Parent of the journal and restart runs' scratch directories (default: the system temp dir).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// crossline-net's codecs alone: OUCH, ITCH and SoupBinTCP framing over a seeded mix, ns per message.
    Codec {
        /// Messages per timed batch (each operation is timed over this many, 5 times).
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// The feed's UDP send alone: ns per MoldUDP64 packet to a full loopback sink through the appliance's
    /// UdpFeedSender, against send_to on an unconnected socket (the baseline), alternating.
    FeedSend {
        /// Packets per timed batch (each row is timed over this many, 5 times).
        #[arg(long, default_value_t = 200_000)]
        packets: u64,
        /// Bytes per packet (58: a MoldUDP64 header and one ITCH Add Order).
        #[arg(long, default_value_t = 58)]
        packet_bytes: usize,
        /// Write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Raft replication: the leader's throughput with N hot standbys against the same run on a standalone node
    /// (the baseline), the standbys' replication lag, and whether they converge.
    Replication(ReplicationArgs),
    /// Failover: SIGKILL of the leader of a three-node cluster under light load, again and again; time to the first
    /// order acknowledged by the new leader, and every acknowledged order checked in its stream.
    Failover(FailoverArgs),
    /// Prints the exact definition of every workload.
    Workloads,
}

/// The options of `replication`.
#[derive(Debug, clap::Args)]
struct ReplicationArgs {
    /// Standbys beside the leader (1: a two-voter cluster, 2: three voters).
    #[arg(long, default_value_t = 1)]
    standbys: usize,
    /// Total messages per second over all sessions; message i is planned at i / rate.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Drive as fast as possible (a bounded window in flight per session) and report the sustained rate.
    #[arg(long)]
    max: bool,
    /// Messages in flight per session at most with --max.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Length of each run (baseline and replicated) in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// SoupBinTCP sessions (the example's users alice, bob, carol).
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    #[arg(long, value_enum, default_value = "mm-orders")]
    workload: WireWorkload,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ack policy of every node: local (the leader's throughput), durable or replicated (the baseline, which has
    /// no cluster, acknowledges local then).
    #[arg(long, default_value = "local")]
    ack: String,
    /// How the appliance's gateway and engine threads wait: backoff-park, spin-then-yield or busy-spin.
    #[arg(long, default_value = "backoff-park")]
    idle: String,
    #[command(flatten)]
    raft: RaftArgs,
    /// Skip the standalone baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Fail when messages are outstanding and no response arrives for this many seconds.
    #[arg(long, default_value_t = 10.0)]
    response_timeout_s: f64,
    /// The crossline binary (default: the one next to crossline-bench).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The options of `failover`.
#[derive(Debug, clap::Args)]
struct FailoverArgs {
    /// Leaders killed, one after the other.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Orders per second the client sends.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Load before each kill, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    #[command(flatten)]
    raft: RaftArgs,
    /// How the appliance's gateway and engine threads wait: backoff-park, spin-then-yield or busy-spin.
    #[arg(long, default_value = "backoff-park")]
    idle: String,
    /// Bound of every wait (a leader, the first acknowledgement after a kill, a replay, a rejoin), in seconds.
    #[arg(long, default_value_t = 60.0)]
    step_timeout_s: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The crossline binary (default: the one next to crossline-bench).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The Raft timing of a spawned cluster.
#[derive(Debug, clap::Args)]
struct RaftArgs {
    /// Default: the appliance's.
    #[arg(long, default_value_t = 40)]
    heartbeat_ms: u64,
    #[arg(long, default_value_t = 120)]
    election_min_ms: u64,
    #[arg(long, default_value_t = 200)]
    election_max_ms: u64,
    /// Sync the journal and the Raft index on append (`[cluster] log_fsync`; default: the appliance's, on).
    #[arg(long)]
    raft_log_fsync: Option<bool>,
}

impl RaftArgs {
    fn timing(&self) -> RaftTiming {
        RaftTiming {
            heartbeat_ms: self.heartbeat_ms,
            election_min_ms: self.election_min_ms,
            election_max_ms: self.election_max_ms,
        }
    }
}

/// The targets of `search`; each takes its own options and the search's.
#[derive(Debug, Subcommand)]
enum SearchTarget {
    /// The in-process echo server, one run per step.
    Echo {
        #[command(flatten)]
        echo: EchoArgs,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// The appliance over the wire (a fresh appliance per step with --spawn), open loop.
    Wire {
        #[command(flatten)]
        wire: WireArgs,
        #[command(flatten)]
        search: SearchArgs,
    },
}

/// The wire mode's options other than the rate (shared by `wire` and `search wire`).
#[derive(Debug, clap::Args)]
struct WireArgs {
    /// Start the crossline binary on a temporary configuration (ports 0, a temporary data directory).
    #[arg(long, conflicts_with = "connect")]
    spawn: bool,
    /// The crossline binary for --spawn (default: the one next to crossline-bench).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// With --spawn: this configuration instead of the example (it must have the sessions' users).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A running appliance's order entry address (its users alice, bob, carol, mm04...).
    #[arg(long, value_name = "ADDR")]
    connect: Option<std::net::SocketAddr>,
    /// Length of the send schedule (or of --max) in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// SoupBinTCP sessions, each its own user and account.
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    #[arg(long, value_enum, default_value = "mm-orders")]
    workload: WireWorkload,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How the bare echo baseline is measured: `interleaved` (the default with --spawn in open loop: the echo and
    /// the appliance take turns in --slices slices, the appliance paused while the echo runs, so both are
    /// measured over the same stretch of the box's time), `before` (the whole echo run first; the default with
    /// --connect or --max) or `none`.
    #[arg(long, value_enum, conflicts_with = "no_baseline")]
    baseline: Option<BaselineSchedule>,
    /// Slices of each side with --baseline interleaved.
    #[arg(long, default_value_t = wire::DEFAULT_SLICES)]
    slices: u32,
    /// What the baseline's echo server does with each message besides echoing it: `bare` (nothing; the goal is
    /// read against this one), `journal` (journals it with the appliance's journal before the echo), `feed`
    /// (publishes it in a datagram with the appliance's feed sender after the echo) or `journal-feed` (both), as
    /// the gateway does with an order: a diagnostic that shows what that I/O alone costs the tail.
    #[arg(long, value_enum, default_value = "bare")]
    echo_io: EchoIo,
    /// Skip the bare echo baseline (--baseline none).
    #[arg(long)]
    no_baseline: bool,
    /// Fail when messages are outstanding and no response arrives for this many seconds.
    #[arg(long, default_value_t = 10.0)]
    response_timeout_s: f64,
    /// Write every answered message as CSV: its planned send (ns from the schedule's start) and its latency (ns),
    /// in the order the answers arrived. The tail, one message at a time: where the slow answers sit in the run,
    /// and whether they come in bursts.
    #[arg(long, value_name = "FILE.csv")]
    answers_csv: Option<PathBuf>,
    /// Where the client and the server run: `split` (the spawned appliance's gateway and the echo baseline's
    /// server on the core this process may use that has taken the fewest device interrupts, the last on a tie; the
    /// client on the first other one; the default with --spawn in open loop on two cores or more) or `float`
    /// (nothing pinned; the default with --connect or --max).
    #[arg(long, value_enum)]
    placement: Option<Placement>,
}

impl WireArgs {
    fn options(&self, rate_per_sec: u64, max: bool, window: usize) -> anyhow::Result<WireOptions> {
        let target = match (self.spawn, self.connect) {
            (true, _) => Target::Spawn {
                binary: match &self.binary {
                    Some(path) => path.clone(),
                    None => wire::default_binary()?,
                },
                config: self.config.clone(),
            },
            (false, Some(addr)) => Target::Connect(addr),
            (false, None) => {
                bail!("say where the appliance is: --spawn (start one) or --connect ADDR")
            }
        };
        let baseline = match (self.no_baseline, self.baseline) {
            (true, _) => BaselineSchedule::Off,
            (false, Some(schedule)) => schedule,
            (false, None) => BaselineSchedule::default_for(&target, max),
        };
        let placement = self
            .placement
            .unwrap_or_else(|| wire::default_placement(&target, max));
        Ok(WireOptions {
            target,
            rate_per_sec,
            duration: seconds_arg("--duration-s", self.duration_s)?,
            sessions: self.sessions,
            workload: self.workload,
            seed: self.seed,
            max,
            window,
            baseline,
            echo_io: self.echo_io,
            slices: self.slices,
            response_timeout: seconds_arg("--response-timeout-s", self.response_timeout_s)?,
            keep_answers: self.answers_csv.is_some(),
            placement,
        })
    }
}

#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// The first rate offered, per second.
    #[arg(long, default_value_t = 10_000)]
    start_rate: u64,
    /// Each step offers the previous rate times this.
    #[arg(long, default_value_t = 1.5)]
    step_factor: f64,
    /// The highest rate offered; the search stops there even if the objective holds.
    #[arg(long, default_value_t = 1_000_000)]
    max_rate: u64,
    /// Comma-separated limits, each pNN<=VALUE or max<=VALUE with ns, us, ms or s.
    #[arg(long, default_value = "p99<=100us,p50<=10ms")]
    objective: Objective,
    /// A step counts only when at least this fraction of the offered rate was achieved.
    #[arg(long, default_value_t = 0.95)]
    min_achieved: f64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Write the search's report (every step) as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The echo mode's options other than the rate (shared by `echo` and `search echo`).
#[derive(Debug, clap::Args)]
struct EchoArgs {
    /// Length of the send schedule in seconds: rate * duration messages are sent.
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Bytes per message (16 of them carry the sequence number and planned send time).
    #[arg(long, default_value_t = 64)]
    message_bytes: usize,
    /// The echo server's reactor backend: auto | io_uring | epoll.
    #[arg(long, value_enum, default_value = "auto")]
    backend: EchoBackend,
    /// What the server does with each message besides echoing it: `bare` (nothing), `journal` (journals it with
    /// the appliance's journal before the echo), `feed` (publishes it in a datagram with the appliance's feed
    /// sender after the echo) or `journal-feed` (both).
    #[arg(long, value_enum, default_value = "bare")]
    io: EchoIo,
    /// Send each message only after the previous response and time it from the actual send. For comparison
    /// only: it hides stalls (coordinated omission).
    #[arg(long)]
    closed_loop: bool,
    /// Seeds the message filler.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fail when messages are outstanding and no echo arrives for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    response_timeout_s: f64,
}

impl EchoArgs {
    fn options(&self, rate_per_sec: u64) -> anyhow::Result<EchoOptions> {
        Ok(EchoOptions {
            rate_per_sec,
            duration: seconds_arg("--duration-s", self.duration_s)?,
            message_bytes: self.message_bytes,
            backend: self.backend,
            load: if self.closed_loop {
                Load::ClosedLoop
            } else {
                Load::OpenLoop
            },
            seed: self.seed,
            server: EchoServerOptions {
                io: self.io,
                ..EchoServerOptions::default()
            },
            response_timeout: seconds_arg("--response-timeout-s", self.response_timeout_s)?,
        })
    }
}

/// What a run shows and logs while it runs.
#[derive(Debug, clap::Args)]
struct LiveArgs {
    /// Write an HdrHistogram interval log (values in nanoseconds), one interval per --hlog-interval-ms.
    #[arg(long, value_name = "FILE")]
    hlog: Option<PathBuf>,
    /// Length of one interval of the --hlog log, in milliseconds (whole 100 ms steps).
    #[arg(long, default_value_t = 1000)]
    hlog_interval_ms: u64,
    /// No progress bar (it is drawn only when stderr is a terminal and the run is planned for over a second).
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct Scratch {
    /// The run creates its own directory inside DIR (default: the system temp dir) and removes it at the end.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Leave the run's directory (journal, snapshots) in place and print where it is.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, clap::Args)]
struct Output {
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the latency histogram in HdrHistogram's percentile distribution format (values in microseconds).
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
    /// Draw the latency percentile spectrum (log scale of 1 in N) as an SVG chart.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

impl Output {
    /// Writes the --hgrm and --plot files of `histogram` (the run named `name` in the chart).
    fn write_histogram(&self, histogram: &Histogram<u64>, name: &str) -> anyhow::Result<()> {
        if let Some(path) = &self.hgrm {
            write_hgrm_file(histogram, path)?;
        }
        if let Some(path) = &self.plot {
            plot::write_svg(
                path,
                &format!("crossline-bench {name}: latency by percentile"),
                &[Series::from_histogram(name, histogram)],
            )?;
        }
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.mode {
        Mode::Workloads => {
            for workload in WorkloadKind::ALL {
                println!("{}\n", workload.definition());
            }
            println!("{}", crossline_bench::workload::INSTRUMENTS_DEFINITION);
            Ok(())
        }
        Mode::Echo {
            rate,
            echo,
            live,
            output,
        } => {
            let options = echo.options(rate)?;
            let live = LiveOptions {
                progress: progress::wanted(live.quiet, options.duration).then(|| ProgressOptions {
                    total: echo::planned_messages(rate, options.duration),
                    unit: "msg".to_string(),
                }),
                hlog: live.hlog.map(|path| HlogOptions {
                    path,
                    interval: Duration::from_millis(live.hlog_interval_ms),
                    comments: vec![
                        format!("crossline-bench {}", env!("CARGO_PKG_VERSION")),
                        format!("command: {}", command_line(std::env::args())),
                        "values: message round-trip latency in nanoseconds, from the planned send time"
                            .to_string(),
                    ],
                }),
            };
            let run = echo::run_with_live(&options, live)?;
            print!("{}", run.report.report.render_table());
            if let Some(path) = &output.json {
                write_json_file(&run.report, path)?;
            }
            output.write_histogram(&run.histogram, &format!("echo {}", options.load.name()))?;
            if !run.report.report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
        Mode::Search {
            target: SearchTarget::Echo { echo, search },
        } => {
            let options = echo.options(1)?;
            let mut target = echo::EchoRateTarget {
                options,
                progress: !search.quiet,
            };
            run_search(&mut target, &search, echo.seed)
        }
        Mode::Search {
            target: SearchTarget::Wire { wire, search },
        } => {
            let options = wire.options(1, false, 1)?;
            let mut target = wire::WireRateTarget { options };
            run_search(&mut target, &search, wire.seed)
        }
        Mode::Wire {
            rate,
            max,
            window,
            wire: args,
            output,
        } => {
            let options = args.options(rate, max, window)?;
            let run = wire::run(&options)?;
            print!("{}", run.report.report.render_table());
            if let Some(path) = &args.answers_csv {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut out = std::io::BufWriter::new(file);
                wire::write_answers_csv(&run.answers, &mut out)
                    .and_then(|()| std::io::Write::flush(&mut out))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &output.json {
                write_json_file(&run.report, path)?;
            }
            if let Some(path) = &output.hgrm {
                write_hgrm_file(&run.histogram, path)?;
            }
            if let Some(path) = &output.plot {
                let mut series = vec![Series::from_histogram("crossline wire", &run.histogram)];
                if let Some(baseline) = &run.baseline_histogram {
                    series.push(Series::from_histogram("bare echo", baseline));
                }
                plot::write_svg(path, "crossline-bench wire: latency by percentile", &series)?;
            }
            if !run.report.report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
        Mode::Replication(args) => {
            let options = ReplicationOptions {
                binary: match args.binary {
                    Some(path) => path,
                    None => wire::default_binary()?,
                },
                standbys: args.standbys,
                rate_per_sec: args.rate,
                duration: seconds_arg("--duration-s", args.duration_s)?,
                max: args.max,
                window: args.window,
                sessions: args.sessions,
                workload: args.workload,
                seed: args.seed,
                ack: args.ack,
                idle: args.idle,
                timing: args.raft.timing(),
                log_fsync: args.raft.raft_log_fsync,
                no_baseline: args.no_baseline,
                response_timeout: seconds_arg("--response-timeout-s", args.response_timeout_s)?,
            };
            let report = replication::run(&options)?;
            print!("{}", report.wire.report.render_table());
            if let Some(path) = &args.json {
                write_json_file(&report, path)?;
            }
            if !report.wire.report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
        Mode::Failover(args) => {
            let options = FailoverOptions {
                binary: match args.binary {
                    Some(path) => path,
                    None => wire::default_binary()?,
                },
                kills: args.kills,
                rate_per_sec: args.rate,
                timing: args.raft.timing(),
                log_fsync: args.raft.raft_log_fsync,
                settle: Duration::from_millis(args.settle_ms),
                idle: args.idle,
                step_timeout: seconds_arg("--step-timeout-s", args.step_timeout_s)?,
                seed: args.seed,
            };
            let report = failover::run(&options)?;
            print!("{}", report.render_table());
            if let Some(path) = &args.json {
                write_json_file(&report, path)?;
            }
            if !report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
        Mode::Pipeline { ops, binary, json } => {
            let binary = match binary {
                Some(path) => path,
                None => wire::default_binary()?,
            };
            let report = pipeline::run(&PipelineOptions { binary, ops })?;
            finish(&report, &report.report, json.as_deref())
        }
        Mode::Query {
            commands,
            seed,
            db,
            batch_max_commands,
            rate,
            duration_s,
            binary,
            json,
        } => {
            let binary = match binary {
                Some(path) => path,
                None => wire::default_binary()?,
            };
            let report = query::run(&QueryOptions {
                binary,
                commands,
                seed,
                db,
                batch_max_commands,
                rate,
                duration_s,
            })?;
            finish(&report, &report.report, json.as_deref())
        }
        Mode::Codec {
            messages,
            seed,
            json,
        } => {
            let report = codec::run(&CodecOptions { messages, seed })?;
            finish(&report, &report.report, json.as_deref())
        }
        Mode::FeedSend {
            packets,
            packet_bytes,
            json,
        } => {
            let report = feed_send::run(&FeedSendOptions {
                packets,
                packet_bytes,
            })?;
            finish(&report, &report.report, json.as_deref())
        }
        Mode::Plot { out, title, inputs } => {
            plot::plot_hgrm_files(&out, &title, &inputs)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Mode::Suite {
            quick,
            out_dir,
            benchmarks_md,
            dir,
        } => {
            let options = SuiteOptions {
                quick,
                out_dir,
                benchmarks_md,
                scratch_dir: dir,
            };
            let outcome = suite::run(&options, |line| println!("{line}"))?;
            println!(
                "suite{} done in {:.1} s: files in {}, section regenerated in {}",
                if quick { " --quick" } else { "" },
                outcome.wall.as_secs_f64(),
                options.out_dir.display(),
                options.benchmarks_md.display()
            );
            Ok(())
        }
        Mode::Engine {
            workload,
            ops,
            seed,
            sample_every,
            instruments,
            pareto_alpha,
            output,
        } => {
            let timer = Timer::new(Duration::from_millis(50));
            let options = EngineOptions {
                workload,
                ops,
                seed,
                sample_every,
            };
            let instruments =
                crossline_bench::workload::Instruments::new(instruments, pareto_alpha);
            let run = engine::run_with(&options, instruments, &timer)?;
            print!("{}", run.report.render_table());
            if let Some(path) = &output.json {
                run.report.write_json(path)?;
            }
            output.write_histogram(&run.histogram, &format!("engine {}", workload.name()))?;
            if !run.report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
        Mode::Journal {
            records,
            record_bytes,
            fsync,
            batch,
            segment_bytes,
            workload,
            seed,
            sample_every,
            scratch,
            output,
            lag_hgrm,
        } => {
            let timer = Timer::new(Duration::from_millis(50));
            let options = JournalOptions {
                records,
                record_bytes,
                fsync: fsync.0,
                batch_records: batch,
                segment_bytes,
                workload,
                seed,
                sample_every,
                dir: scratch.dir,
                keep: scratch.keep,
            };
            let run = journal::run(&options, &timer)?;
            print!("{}", run.report.render_table());
            if let Some(path) = &output.json {
                write_json_file(&run.report, path)?;
            }
            output.write_histogram(&run.append_histogram, "journal append")?;
            if let Some(path) = &lag_hgrm {
                write_hgrm_file(&run.durable_lag_histogram, path)?;
            }
            if !run.report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
        Mode::Restart {
            commands,
            snapshot_every,
            workload,
            seed,
            fsync,
            batch,
            segment_bytes,
            max_orders,
            no_full_replay,
            evict_page_cache,
            scratch,
            json,
        } => {
            let timer = Timer::new(Duration::from_millis(50));
            let options = RestartOptions {
                commands,
                snapshot_every,
                workload,
                seed,
                fsync: fsync.0,
                batch_records: batch,
                segment_bytes,
                max_orders,
                full_replay: !no_full_replay,
                evict_page_cache,
                dir: scratch.dir,
                keep: scratch.keep,
            };
            let report = restart::run(&options, &timer)?;
            print!("{}", report.render_table());
            if let Some(path) = &json {
                write_json_file(&report, path)?;
            }
            if !report.checks_passed() {
                bail!("checks failed: see the table above");
            }
            Ok(())
        }
    }
}

/// Runs a step-rate search against `target`, printing each step as it completes.
fn run_search(target: &mut dyn RateTarget, args: &SearchArgs, seed: u64) -> anyhow::Result<()> {
    let options = SearchOptions {
        start_rate: args.start_rate,
        step_factor: args.step_factor,
        max_rate: args.max_rate,
        objective: args.objective.clone(),
        min_achieved: args.min_achieved,
    };
    options.validate()?;
    println!(
        "crossline-bench search · {} · objective {}",
        target.describe(),
        options.objective
    );
    println!("{}", SearchReport::header(&options.objective.to_string()));
    let report = search::search(target, &options, Environment::capture(seed), |step| {
        println!("{}", step.render_row());
    })?;
    println!("{}", report.verdict());
    println!("  env: {}", report.env.summary());
    if let Some(path) = &args.json {
        write_json_file(&report, path)?;
    }
    Ok(())
}

/// A positive, finite number of seconds from the command line.
fn seconds_arg(name: &str, seconds: f64) -> anyhow::Result<Duration> {
    if !seconds.is_finite() || seconds <= 0.0 {
        bail!("{name} must be a positive number of seconds, got {seconds}");
    }
    Duration::try_from_secs_f64(seconds).with_context(|| format!("{name} {seconds}"))
}

/// Writes `histogram` in HdrHistogram's percentile distribution format, values in microseconds.
fn write_hgrm_file(histogram: &Histogram<u64>, path: &Path) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    write_hgrm(histogram, 1000.0, &mut file)
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {}", path.display()))
}

/// Prints a mode's table, writes its JSON when asked, and fails the command when a check failed.
fn finish(
    report: &impl serde::Serialize,
    common: &Report,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    print!("{}", common.render_table());
    if let Some(path) = json {
        write_json_file(report, path)?;
    }
    if !common.checks_passed() {
        bail!("checks failed: see the table above");
    }
    Ok(())
}
