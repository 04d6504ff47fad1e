//! `crossline-bench replication`: the leader's throughput with Raft replication to N hot standbys, against the same
//! run on a standalone node (the report's `baseline`), and the standbys' replication lag.
//!
//! Both runs start real `crossline serve` processes on 127.0.0.1 (`modes::cluster_spawn`: the example
//! configuration, fixed free ports, threads not pinned, 8 MiB journal segments, the same ack policy and idle
//! strategy) and drive them with the wire mode's client (`modes::wire` with `Target::Connect`): OUCH over SoupBinTCP,
//! open loop from planned send times (or `--max`), latency to the first response. The baseline runs first, on one
//! node without a `[cluster]` section, and is stopped before the cluster starts, so the two never share the box.
//!
//! Replication lag comes from each standby's GET /metrics: the histogram `replication_lag_seconds` (from the
//! leader's sequencer stamping a command to the standby applying it) read before and after the measured run, so the
//! percentiles cover the run's commands only. Its buckets are powers of two: a percentile is the UPPER BOUND of the
//! bucket it falls in (at most twice the true value). `max` is the standby's exact maximum gauge (since it started).
//!
//! After the run the cluster must converge: every standby's engine_seq and state_hash equal the leader's (GET
//! /health), waited for a bounded time; the report says `converged`.

use crate::env::Environment;
use crate::modes::cluster_spawn::{gauge, Buckets, Cluster, ClusterSpec, HealthView, RaftTiming};
use crate::modes::wire::{self, Target, WireOptions, WireReport, WireWorkload};
use crate::report::{group_digits, Baseline};
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Goal of issue 7: throughput with replication at least this share of the baseline's.
pub const THROUGHPUT_RATIO_GOAL: f64 = 0.9;
/// Goal of issue 7: replication lag p99 below this.
pub const LAG_P99_GOAL_NS: u64 = 2_000_000;
const LEADER_TIMEOUT: Duration = Duration::from_secs(60);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// The histogram's names across versions of the exposition.
const LAG_HISTOGRAMS: [&str; 2] = ["replication_lag_seconds", "engine_replication_lag_seconds"];
const LAG_MAX_GAUGES: [&str; 2] = ["replication_lag_max_ns", "engine_replication_lag_max_ns"];

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationOptions {
    pub binary: PathBuf,
    /// Standbys beside the leader (1: a two-voter cluster).
    pub standbys: usize,
    pub rate_per_sec: u64,
    pub duration: Duration,
    pub max: bool,
    pub window: usize,
    pub sessions: usize,
    pub workload: WireWorkload,
    pub seed: u64,
    /// `[ack] policy` of every node (and of the baseline): local, durable or replicated.
    pub ack: String,
    pub idle: String,
    pub timing: RaftTiming,
    /// `[cluster] log_fsync` (None: the appliance's default).
    pub log_fsync: Option<bool>,
    pub no_baseline: bool,
    pub response_timeout: Duration,
}

/// Lag percentiles in nanoseconds. p50..p99_9 are bucket upper bounds (powers of two); `max` is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LagNs {
    pub p50: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandbyLag {
    pub node: usize,
    /// Commands applied (lag samples) during the measured run.
    pub samples: u64,
    pub lag_ns: Option<LagNs>,
    pub engine_seq: u64,
    pub state_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicationReport {
    /// The wire run against the leader, with `baseline` the same run against a standalone node.
    #[serde(flatten)]
    pub wire: WireReport,
    pub standbys: usize,
    pub voters: usize,
    pub ack: String,
    pub idle: String,
    pub raft_timing: RaftTiming,
    /// `[cluster] log_fsync` (None: the appliance's default, on).
    pub raft_log_fsync: Option<bool>,
    /// Throughput with replication over the baseline's.
    pub throughput_ratio_to_baseline: Option<f64>,
    pub throughput_ratio_goal: f64,
    /// Over every standby's samples of the run; p50/p99/p99_9 are bucket upper bounds.
    pub lag_ns: Option<LagNs>,
    pub lag_percentiles: String,
    pub lag_p99_goal_ns: u64,
    pub lag_samples: u64,
    pub per_standby: Vec<StandbyLag>,
    pub leader_engine_seq: u64,
    pub leader_state_hash: String,
    /// The leader's engine seq when the load stopped (0: it did not answer GET /health then).
    pub leader_seq_after_run: u64,
    /// The first leader still led when the nodes were compared.
    pub leader_kept_leadership: bool,
    /// Every node at the same engine seq and state hash, at least the leader's seq when the load stopped, with the
    /// same leader.
    pub converged: bool,
}

fn validate(options: &ReplicationOptions) -> anyhow::Result<()> {
    if options.standbys == 0 || options.standbys > 4 {
        bail!("--standbys must be in 1..=4");
    }
    if options.sessions == 0 || options.sessions > 3 {
        bail!("--sessions must be in 1..=3 (the example configuration's users)");
    }
    if !["local", "durable", "replicated"].contains(&options.ack.as_str()) {
        bail!("--ack must be local, durable or replicated");
    }
    Ok(())
}

fn wire_options(options: &ReplicationOptions, addr: std::net::SocketAddr) -> WireOptions {
    WireOptions {
        target: Target::Connect(addr),
        rate_per_sec: options.rate_per_sec,
        duration: options.duration,
        sessions: options.sessions,
        workload: options.workload,
        seed: options.seed,
        max: options.max,
        window: options.window,
        baseline: wire::BaselineSchedule::Off,
        echo_io: crate::modes::echo_io::EchoIo::Bare,
        slices: wire::DEFAULT_SLICES,
        response_timeout: options.response_timeout,
        keep_answers: false,
        // The cluster's nodes place their own threads.
        placement: crate::placement::Placement::Float,
    }
}

fn spec(options: &ReplicationOptions, nodes: usize, ack: &str) -> ClusterSpec {
    ClusterSpec {
        binary: options.binary.clone(),
        nodes,
        ack: ack.to_string(),
        idle: options.idle.clone(),
        timing: options.timing,
        log_fsync: options.log_fsync,
    }
}

/// Reads node `index`'s lag histogram (whichever name the exposition uses) and its maximum gauge.
fn read_lag(cluster: &Cluster, index: usize) -> anyhow::Result<(Buckets, Option<u64>)> {
    let text = cluster.metrics(index)?;
    let buckets = LAG_HISTOGRAMS
        .iter()
        .map(|name| Buckets::parse(&text, name))
        .find(|b| !b.0.is_empty())
        .with_context(|| format!("node {} exposes no replication lag histogram", index + 1))?;
    let max = LAG_MAX_GAUGES.iter().find_map(|name| gauge(&text, name));
    Ok((buckets, max))
}

fn lag_of(buckets: &Buckets, max_gauge: Option<u64>) -> Option<LagNs> {
    let p50 = buckets.quantile_upper_bound(0.5)?;
    let p99 = buckets.quantile_upper_bound(0.99)?;
    let p99_9 = buckets.quantile_upper_bound(0.999)?;
    let max = max_gauge
        .filter(|m| *m > 0)
        .or_else(|| buckets.max_upper_bound())?;
    Some(LagNs {
        p50,
        p99,
        p99_9,
        max,
    })
}

fn progress(line: &str) {
    eprintln!("replication: {line}");
}

pub fn run(options: &ReplicationOptions) -> anyhow::Result<ReplicationReport> {
    validate(options)?;
    let env = Environment::capture(options.seed);
    let voters = options.standbys + 1;

    // The baseline: one standalone node, same configuration otherwise ("replicated" needs a cluster, so a
    // standalone node acknowledges "local" then).
    let baseline = if options.no_baseline {
        None
    } else {
        let ack = if options.ack == "replicated" {
            "local"
        } else {
            options.ack.as_str()
        };
        progress(&format!("baseline: a standalone node, ack {ack}"));
        let mut node = Cluster::start(spec(options, 1, ack))?;
        let run = wire::run(&wire_options(options, node.addrs[0].order_entry))
            .context("the standalone baseline run")?;
        node.stop_all();
        progress(&format!(
            "baseline: {} msg/s achieved",
            group_digits(run.report.achieved_rate_per_sec.round() as u64)
        ));
        Some((run, ack.to_string()))
    };

    progress(&format!(
        "cluster: {voters} voters, ack {}, waiting for a leader",
        options.ack
    ));
    let mut cluster = Cluster::start(spec(options, voters, &options.ack))?;
    let started = Instant::now();
    let leader = cluster.wait_for_leader(None, LEADER_TIMEOUT)?;
    let standbys: Vec<usize> = (0..voters).filter(|i| *i != leader).collect();
    // Standbys have caught up with the leader's opening commands before the measurement starts.
    let (_, _) = cluster.wait_until_converged(CONVERGE_TIMEOUT);
    progress(&format!(
        "cluster: node {} leads ({:.1} s); driving it",
        leader + 1,
        started.elapsed().as_secs_f64()
    ));
    let before = standbys
        .iter()
        .map(|index| read_lag(&cluster, *index).map(|(b, _)| b))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let run = wire::run(&wire_options(options, cluster.addrs[leader].order_entry));
    let mut run = match run {
        Ok(run) => run,
        Err(error) => {
            let views = cluster.views();
            let output = cluster.output_tail();
            return Err(error.context(format!(
                "the replicated run (nodes: {views:?}; output: {output})"
            )));
        }
    };
    progress(&format!(
        "cluster: {} msg/s achieved; waiting for the standbys to converge",
        group_digits(run.report.achieved_rate_per_sec.round() as u64)
    ));
    // What the leader had when the load stopped: the standbys must reach it (with ack local a leader that loses
    // its leadership meanwhile has its unreplicated suffix cut, and the nodes could agree on less).
    let answered = run.report.messages_answered;
    let seq_after_run = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match cluster.health(leader) {
                Some(h) => break Some(h.engine_seq),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    let (agreed, views) = cluster.wait_until_converged(CONVERGE_TIMEOUT);
    let leader_view = views
        .iter()
        .find(|(index, _)| *index == leader)
        .and_then(|(_, view)| view.clone());
    let kept_leadership = leader_view.as_ref().is_some_and(|v| v.role == "leader");
    // Every answered message is a journaled command: the nodes must hold at least that many.
    let converged = agreed
        && kept_leadership
        && leader_view.as_ref().is_some_and(|v| {
            seq_after_run.is_some_and(|seq| v.engine_seq >= seq) && v.engine_seq >= answered
        });
    let seq_after_run = seq_after_run.unwrap_or(0);
    let mut per_standby = Vec::new();
    let mut total = Buckets::default();
    let mut max_all: Option<u64> = None;
    for (standby, before) in standbys.iter().zip(&before) {
        let (after, max) = read_lag(&cluster, *standby)?;
        let during = after.since(before);
        total = total.add(&during);
        max_all = max_all.max(max);
        let view: Option<&HealthView> = views
            .iter()
            .find(|(index, _)| index == standby)
            .and_then(|(_, view)| view.as_ref());
        per_standby.push(StandbyLag {
            node: standby + 1,
            samples: during.count(),
            lag_ns: lag_of(&during, max),
            engine_seq: view.map_or(0, |v| v.engine_seq),
            state_hash: view.map_or(String::new(), |v| v.state_hash.clone()),
        });
    }
    let clean = cluster.stop_all();
    let lag = lag_of(&total, max_all);

    // The report: the wire run's, with the standalone run as its baseline.
    let report = &mut run.report.report;
    report.mode = "replication".to_string();
    report.env = env;
    report.latency_sampling.unit = format!(
        "one OUCH message over SoupBinTCP on loopback to the leader's first response ({voters} voters, ack {})",
        options.ack
    );
    let ratio = baseline.as_ref().and_then(|(base, _)| {
        (base.report.achieved_rate_per_sec > 0.0).then(|| {
            (run.report.achieved_rate_per_sec / base.report.achieved_rate_per_sec * 1000.0).round()
                / 1000.0
        })
    });
    report.baseline = baseline.as_ref().map(|(base, ack)| Baseline {
        name: format!(
            "the same run against a standalone node (no [cluster], ack {ack}), same configuration otherwise, \
             same run"
        ),
        ops_per_sec: base.report.achieved_rate_per_sec,
        latency_ns: base.report.report.latency_ns,
    });
    report.notes.retain(|note| !note.starts_with("spawned on"));
    report.notes.push(format!(
        "{voters} nodes on 127.0.0.1 from the example configuration: threads not pinned, idle {}, 8 MiB journal \
         segments, journal fsync interval 10 ms, Raft heartbeat {} ms, election {}..{} ms, Raft log fsync {}",
        options.idle,
        options.timing.heartbeat_ms,
        options.timing.election_min_ms,
        options.timing.election_max_ms,
        match options.log_fsync {
            Some(true) | None => "on",
            Some(false) => "off",
        }
    ));
    report.notes.push(
        "lag percentiles are the upper bounds of the power-of-two buckets they fall in (at most 2x the true value); \
         lag max is the standbys' exact maximum since they started"
            .to_string(),
    );
    if let Some(ratio) = ratio {
        report.notes.push(format!(
            "throughput {:.1}% of the standalone baseline (goal >= {:.0}%): {}",
            ratio * 100.0,
            THROUGHPUT_RATIO_GOAL * 100.0,
            if ratio >= THROUGHPUT_RATIO_GOAL {
                "met"
            } else {
                "missed"
            }
        ));
    }
    if let Some(lag) = lag {
        report.notes.push(format!(
            "lag p99 <= {} ns (goal < {} ns): {}",
            group_digits(lag.p99),
            group_digits(LAG_P99_GOAL_NS),
            if lag.p99 < LAG_P99_GOAL_NS {
                "met"
            } else {
                "missed (or within the bucket's bound)"
            }
        ));
    }
    report.checks.push(
        "converged",
        if converged {
            "ok".to_string()
        } else {
            format!(
                "the standbys did not reach the leader's seq ({seq_after_run} when the load stopped, {answered} \
                 messages answered) and state hash, or the leader lost its leadership (agreed {agreed}, still leader {kept_leadership}): \
                 {views:?}"
            )
        },
    );
    if let Some((base, _)) = &baseline {
        report.checks.push(
            "baseline",
            if base.report.report.checks_passed() {
                "ok".to_string()
            } else {
                "the standalone run's checks failed".to_string()
            },
        );
    }
    if !clean {
        report
            .notes
            .push("a node did not stop within the timeout of SIGTERM and was killed".to_string());
    }
    report.counters.push("lag_samples", total.count());
    report.extra_rows.push((
        "baseline rate".to_string(),
        baseline.as_ref().map_or("n/a".to_string(), |(base, _)| {
            format!(
                "{} msg/s standalone · ratio {}",
                group_digits(base.report.achieved_rate_per_sec.round() as u64),
                ratio.map_or("n/a".to_string(), |r| format!("{r:.3}"))
            )
        }),
    ));
    report.extra_rows.push((
        "replication lag".to_string(),
        lag.map_or("no samples".to_string(), |l| {
            format!(
                "{} samples · p50 <= {} · p99 <= {} · p99.9 <= {} · max {} ns",
                group_digits(total.count()),
                group_digits(l.p50),
                group_digits(l.p99),
                group_digits(l.p99_9),
                group_digits(l.max)
            )
        }),
    ));
    report.extra_rows.push((
        "converged".to_string(),
        format!(
            "{converged} (leader seq {})",
            leader_view.as_ref().map_or(0, |v| v.engine_seq)
        ),
    ));

    Ok(ReplicationReport {
        wire: run.report,
        standbys: options.standbys,
        voters,
        ack: options.ack.clone(),
        idle: options.idle.clone(),
        raft_timing: options.timing,
        raft_log_fsync: options.log_fsync,
        throughput_ratio_to_baseline: ratio,
        throughput_ratio_goal: THROUGHPUT_RATIO_GOAL,
        lag_ns: lag,
        lag_percentiles:
            "p50, p99 and p99_9 are upper bounds of power-of-two buckets; max is exact".to_string(),
        lag_p99_goal_ns: LAG_P99_GOAL_NS,
        lag_samples: total.count(),
        per_standby,
        leader_engine_seq: leader_view.as_ref().map_or(0, |v| v.engine_seq),
        leader_state_hash: leader_view.map_or(String::new(), |v| v.state_hash),
        leader_seq_after_run: seq_after_run,
        leader_kept_leadership: kept_leadership,
        converged,
    })
}
