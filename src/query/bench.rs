//! `crossline bench-query` (hidden; `crossline-bench query` runs it): the query side's sustained apply rate, and
//! its lag behind a paced leader.
//!
//! Apply rate: the seeded flow (`flow.rs`, the embedded configuration) is written to a journal in a temporary
//! directory, then a `QueryStage` on a fresh database replays it to the end. Reported: commands, rows and orders
//! (rows of `orders`: every order and quote side that rested or traded) per second of the replay, from the first
//! record read to the last commit.
//!
//! Lag (with `--rate`): a journal writer in this process appends the flow at `--rate` commands per second, each
//! stamped with the wall clock, for `--duration-s`; the stage tails it through the writer's watermarks on its own
//! thread, as a learner does. The lag (journaled commands not yet committed, and the age of the oldest) is sampled
//! every 10 ms; reported: its percentiles and maximum, and whether the writer kept its rate.

use super::db::{open_db, DbUrl, QueryError};
use super::flow::{self, Flow};
use super::lag::QueryLag;
use super::stage::{QueryStage, QueryStageOptions, StartFrom};
use crate::config::{genesis_commands, Config};
use crate::pipeline::messages::wall_clock_ns;
use anyhow::Context;
use crossline_engine::Command;
use crossline_journal::{FsyncPolicy, JournalConfig, JournalWriter};
use hdrhistogram::Histogram;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchQueryArgs {
    /// Commands of the flow replayed for the apply rate.
    #[arg(long, default_value_t = 200_000)]
    pub commands: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The database (default: a SQLite file in the temporary directory). A PostgreSQL database is emptied first.
    #[arg(long)]
    pub db: Option<String>,
    #[arg(long, default_value_t = 4096)]
    pub batch_max_commands: usize,
    #[arg(long, default_value_t = 50)]
    pub batch_max_delay_ms: u64,
    /// Leader rate for the lag run, commands per second; 0 skips it.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    #[arg(long, default_value_t = 5.0)]
    pub duration_s: f64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "crossline-bench-query-{}-{}",
        std::process::id(),
        wall_clock_ns()
    ));
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(TempDir(path))
}

fn fresh_db(args: &BenchQueryArgs, dir: &Path, name: &str) -> Result<DbUrl, QueryError> {
    let url = match &args.db {
        Some(url) => DbUrl::parse(url, dir)?,
        None => DbUrl::Sqlite(dir.join(name)),
    };
    if let DbUrl::Postgres(_) = url {
        let mut db = open_db(&url)?;
        db.reset()?;
    }
    Ok(url)
}

fn options(args: &BenchQueryArgs, config: &Config) -> QueryStageOptions {
    QueryStageOptions {
        batch_max_commands: args.batch_max_commands,
        batch_max_delay_ms: args.batch_max_delay_ms,
        audit_interval_s: 0,
        engine: config.engine_config(),
        start: StartFrom::Genesis,
    }
}

pub fn run(args: &BenchQueryArgs) -> anyhow::Result<i32> {
    let config = Config::embedded()?;
    let dir = temp_dir()?;
    let journal = dir.0.join("journal");
    let written = Instant::now();
    let last_seq = flow::write_journal(&journal, &config, args.commands, args.seed)?;
    let journal_s = written.elapsed().as_secs_f64();

    let url = fresh_db(args, &dir.0, "apply.sqlite3")?;
    let db = open_db(&url)?;
    let lag = Arc::new(QueryLag::default());
    let mut stage = QueryStage::open(&journal, None, db, options(args, &config), lag)?;
    let started = Instant::now();
    let summary = stage.run_to_end(|_| {})?;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let orders = stage
        .db()
        .select("SELECT COUNT(*) FROM orders", &[])?
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|c| c.int())
        .unwrap_or(0) as u64;
    let executions = stage
        .db()
        .select("SELECT COUNT(*) FROM executions", &[])?
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|c| c.int())
        .unwrap_or(0) as u64;
    drop(stage);
    let database = match &url {
        DbUrl::Sqlite(_) => "sqlite",
        DbUrl::Postgres(_) => "postgres",
    };
    let apply = json!({
        "database": database,
        "commands": summary.commands_written,
        "last_seq": last_seq,
        "rows": summary.rows,
        "orders": orders,
        "executions": executions,
        "batches": summary.batches,
        "batch_max_commands": args.batch_max_commands,
        "seconds": seconds,
        "commands_per_sec": summary.commands_written as f64 / seconds,
        "rows_per_sec": summary.rows as f64 / seconds,
        "orders_per_sec": orders as f64 / seconds,
        "journal_write_seconds": journal_s,
    });

    let lag_report = if args.rate > 0 {
        let url = fresh_db(args, &dir.0, "lag.sqlite3")?;
        Some(lag_run(args, &config, &dir.0.join("lag-journal"), &url)?)
    } else {
        None
    };
    let report = json!({ "apply": apply, "lag": lag_report });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "apply into {database}: {} commands, {} rows, {} orders in {seconds:.3} s: {:.0} commands/s, {:.0} rows/s, {:.0} orders/s",
            summary.commands_written,
            summary.rows,
            orders,
            apply["commands_per_sec"].as_f64().unwrap_or(0.0),
            apply["rows_per_sec"].as_f64().unwrap_or(0.0),
            apply["orders_per_sec"].as_f64().unwrap_or(0.0),
        );
        if let Some(lag) = &report["lag"].as_object() {
            println!("lag: {}", serde_json::to_string(lag)?);
        }
    }
    Ok(0)
}

fn lag_run(
    args: &BenchQueryArgs,
    config: &Config,
    journal: &Path,
    url: &DbUrl,
) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(journal)?;
    let (mut writer, _) = JournalWriter::open(
        journal,
        JournalConfig {
            segment_bytes: 64 << 20,
            fsync: FsyncPolicy::None,
            first_seq: 1,
            ..JournalConfig::default()
        },
    )?;
    let watermarks = writer.watermarks();
    let lag = Arc::new(QueryLag::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stage = QueryStage::open(
        journal,
        Some(Arc::clone(&watermarks)),
        open_db(url)?,
        options(args, config),
        Arc::clone(&lag),
    )?;
    let learner = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("query".into())
            .spawn(move || stage.run(&stop))?
    };
    let leader_done = Arc::new(AtomicBool::new(false));
    let leader = {
        let config = config.clone();
        let rate = args.rate;
        let duration = Duration::from_secs_f64(args.duration_s);
        let seed = args.seed;
        let leader_done = Arc::clone(&leader_done);
        std::thread::Builder::new().name("leader".into()).spawn(
            move || -> anyhow::Result<(JournalWriter, u64, f64)> {
                let mut flow = Flow::new(&config, seed);
                let mut genesis = genesis_commands(&config).into_iter();
                let started = Instant::now();
                let mut seq = writer.next_seq();
                let mut sent = 0u64;
                while started.elapsed() < duration {
                    // Commands due by now, in batches of at most 1 ms of the rate.
                    let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                    let batch_end = due.min(sent + (rate / 1000).max(1));
                    if sent >= batch_end {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    while sent < batch_end {
                        let timestamp_ns = wall_clock_ns();
                        let body = genesis.next().unwrap_or_else(|| flow.next(timestamp_ns));
                        writer.append(&Command {
                            seq,
                            timestamp_ns,
                            body,
                        })?;
                        seq += 1;
                        sent += 1;
                    }
                    writer.commit_batch()?;
                }
                let seconds = started.elapsed().as_secs_f64();
                leader_done.store(true, Ordering::Release);
                // The writer stays open until the learner has caught up.
                Ok((writer, sent, seconds))
            },
        )?
    };
    let mut lag_ms = Histogram::<u64>::new(3)?;
    let mut lag_commands = Histogram::<u64>::new(3)?;
    while !leader_done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(10));
        lag_ms.record(lag.lag_ms(wall_clock_ns()))?;
        lag_commands.record(lag.lag_commands())?;
    }
    let (writer, sent, leader_s) = leader
        .join()
        .map_err(|_| anyhow::anyhow!("the leader thread panicked"))??;
    let catch_up = Instant::now();
    while lag.db_seq.load(Ordering::Acquire) < sent && catch_up.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let catch_up_ms = catch_up.elapsed().as_secs_f64() * 1e3;
    stop.store(true, Ordering::Release);
    let summary = learner
        .join()
        .map_err(|_| anyhow::anyhow!("the learner thread panicked"))??;
    writer.close()?;
    let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    Ok(json!({
        "rate_target": args.rate,
        "rate_achieved": sent as f64 / leader_s.max(1e-9),
        "commands": sent,
        "db_seq": summary.db_seq,
        "samples": lag_ms.len(),
        "lag_ms": { "p50": p(&lag_ms, 0.5), "p99": p(&lag_ms, 0.99), "max": lag_ms.max() },
        "lag_commands": { "p50": p(&lag_commands, 0.5), "p99": p(&lag_commands, 0.99), "max": lag_commands.max() },
        "catch_up_after_leader_ms": catch_up_ms,
        "batches": summary.batches,
    }))
}
