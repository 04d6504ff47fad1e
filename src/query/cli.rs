//! `crossline query`: the common questions asked of the query database (trades, orders, balances, fees by tier,
//! audit snapshots, progress), and the offline tools (catch a database up with a journal, verify it against one).

use super::db::{open_db, DbUrl, Param, QueryDb, Rows};
use super::output::{render, Format};
use super::stage::{QueryStage, QueryStageOptions, StartFrom};
use super::{audit, flow, verify, QueryLag};
use crate::config::Config;
use crate::config_cli;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct QueryCli {
    /// The database: sqlite://FILE or postgres://USER:PASSWORD@HOST:PORT/DB (default: the configuration's
    /// [query] database_url).
    #[arg(long, global = true)]
    db: Option<String>,
    /// The configuration whose [node] and [query] name the database and [engine] sizes the replay (default: the
    /// embedded one).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: Format,
    #[command(subcommand)]
    action: QueryAction,
}

#[derive(Args, Debug, Default)]
struct Range {
    /// From this sequence number (inclusive).
    #[arg(long)]
    from_seq: Option<u64>,
    /// Up to this sequence number (inclusive).
    #[arg(long)]
    to_seq: Option<u64>,
    /// From this time (inclusive): YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or nanoseconds since the epoch.
    #[arg(long)]
    from_time: Option<String>,
    /// Before this time (exclusive), same forms.
    #[arg(long)]
    to_time: Option<String>,
}

#[derive(Subcommand, Debug)]
enum QueryAction {
    /// Executions (one row per side), oldest first.
    Trades {
        #[arg(long)]
        account: Option<u32>,
        #[arg(long)]
        symbol: Option<String>,
        #[command(flatten)]
        range: Range,
        #[arg(long, default_value_t = 1000)]
        limit: u64,
    },
    /// Open orders now, or every change of one order (--order-id).
    Orders {
        #[arg(long)]
        account: Option<u32>,
        #[arg(long)]
        symbol: Option<String>,
        /// The history of this order: every event, including the replacement that created it.
        #[arg(long)]
        order_id: Option<u64>,
    },
    /// Balances now, at a sequence number or time (from the history), or in an audit snapshot.
    Balances {
        #[arg(long)]
        account: Option<u32>,
        #[arg(long, conflicts_with_all = ["at_time", "audit"])]
        at_seq: Option<u64>,
        #[arg(long, conflicts_with = "audit")]
        at_time: Option<String>,
        /// The audit snapshot taken at this sequence number.
        #[arg(long)]
        audit: Option<u64>,
    },
    /// Fees charged, per account fee tier and fee asset.
    Fees {
        #[command(flatten)]
        range: Range,
    },
    /// The audit snapshots taken.
    Audits,
    /// The last applied sequence number, the schema version and the row counts.
    Status,
    /// Catch the database up with a journal directory at rest, then stop.
    Apply {
        /// Default: the configuration's journal directory.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Start the replay from this snapshot directory's newest snapshot at or before the database's seq.
        #[arg(long)]
        snapshots: Option<PathBuf>,
        #[arg(long)]
        batch_max_commands: Option<usize>,
        /// Take an audit snapshot at the end.
        #[arg(long)]
        audit: bool,
        /// Print the database's seq after each batch.
        #[arg(long)]
        progress: bool,
        /// Pause this long in the middle of every transaction (crash tests).
        #[arg(long, hide = true)]
        pause_mid_transaction_ms: Option<u64>,
    },
    /// Replay the journal and compare every row and balance in the database with the engine's events.
    Verify {
        /// Default: the configuration's journal directory.
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Write the query side's seeded random flow to a new journal (tests and benchmarks).
    #[command(hide = true)]
    WriteFlow {
        #[arg(long)]
        journal: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        commands: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Nanoseconds since the epoch from `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[Z]` (UTC) or a plain integer.
pub fn parse_time_ns(text: &str) -> anyhow::Result<u64> {
    if let Ok(ns) = text.parse::<u64>() {
        return Ok(ns);
    }
    let bad = || {
        anyhow::anyhow!("time {text:?}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or nanoseconds")
    };
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once(['T', ' ']).unwrap_or((text, "00:00:00"));
    let date: Vec<&str> = date.split('-').collect();
    let time: Vec<&str> = time.split(':').collect();
    if date.len() != 3 || time.len() != 3 {
        return Err(bad());
    }
    let year: i64 = date[0].parse().map_err(|_| bad())?;
    let month: u32 = date[1].parse().map_err(|_| bad())?;
    let day: u32 = date[2].parse().map_err(|_| bad())?;
    let hour: u64 = time[0].parse().map_err(|_| bad())?;
    let minute: u64 = time[1].parse().map_err(|_| bad())?;
    let second: u64 = time[2].parse().map_err(|_| bad())?;
    if !(1970..=2500).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let days = crate::admin::calendar::days_from_civil(year, month, day);
    let seconds = days as u64 * 86_400 + hour * 3_600 + minute * 60 + second;
    Ok(seconds * 1_000_000_000)
}

/// WHERE clauses with numbered parameters.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    params: Vec<Param>,
}

impl Filter {
    fn add(&mut self, clause: &str, param: Param) {
        self.params.push(param);
        self.clauses
            .push(clause.replace("$?", &format!("${}", self.params.len())));
    }

    fn range(&mut self, table: &str, range: &Range) -> anyhow::Result<()> {
        if let Some(seq) = range.from_seq {
            self.add(&format!("{table}.seq >= $?"), Param::U64(seq));
        }
        if let Some(seq) = range.to_seq {
            self.add(&format!("{table}.seq <= $?"), Param::U64(seq));
        }
        if let Some(time) = &range.from_time {
            self.add(
                &format!("{table}.timestamp_ns >= $?"),
                Param::U64(parse_time_ns(time)?),
            );
        }
        if let Some(time) = &range.to_time {
            self.add(
                &format!("{table}.timestamp_ns < $?"),
                Param::U64(parse_time_ns(time)?),
            );
        }
        Ok(())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn open(cli: &QueryCli, config: &Config) -> anyhow::Result<(DbUrl, Box<dyn QueryDb>)> {
    let url = match &cli.db {
        Some(url) => DbUrl::parse(url, Path::new("."))?,
        None => config.query_db_url()?,
    };
    let db = open_db(&url).with_context(|| format!("opening {}", url.display()))?;
    Ok((url, db))
}

pub fn run(cli: QueryCli) -> anyhow::Result<i32> {
    let config = config_cli::load(cli.config.as_deref())?;
    if let QueryAction::WriteFlow {
        journal,
        commands,
        seed,
    } = &cli.action
    {
        let last = flow::write_journal(journal, &config, *commands, *seed)?;
        println!("wrote seq 1..={last} to {}", journal.display());
        return Ok(0);
    }
    let (url, mut db) = open(&cli, &config)?;
    if let QueryAction::Apply {
        journal,
        snapshots,
        batch_max_commands,
        audit,
        progress,
        pause_mid_transaction_ms,
    } = cli.action
    {
        if let Some(ms) = pause_mid_transaction_ms {
            db.set_pause_mid_transaction(std::time::Duration::from_millis(ms));
        }
        let journal = journal.unwrap_or_else(|| config.journal_dir());
        let mut options = config.query_stage_options();
        options.start = match snapshots {
            Some(dir) => StartFrom::Snapshots {
                dir,
                sessions: config.users.len() + 1,
            },
            None => StartFrom::Genesis,
        };
        options.audit_interval_s = 0;
        if let Some(max) = batch_max_commands {
            options.batch_max_commands = max;
        }
        return apply(&journal, db, options, &url, audit, progress);
    }
    answer(db.as_mut(), cli.action, cli.format, &config)
}

fn apply(
    journal: &Path,
    db: Box<dyn QueryDb>,
    options: QueryStageOptions,
    url: &DbUrl,
    audit: bool,
    print_progress: bool,
) -> anyhow::Result<i32> {
    use std::io::Write as _;
    let lag = Arc::new(QueryLag::default());
    let mut stage = QueryStage::open(journal, None, db, options, lag)
        .with_context(|| format!("starting on {} into {}", journal.display(), url.display()))?;
    let started = std::time::Instant::now();
    let mut last_printed = stage.db_seq();
    let summary = stage.run_to_end(|seq| {
        if print_progress && seq != last_printed {
            last_printed = seq;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "db_seq {seq}");
            let _ = out.flush();
        }
    })?;
    if audit {
        let check = stage.audit_now()?;
        println!(
            "audit at seq {}: {} balances compared, {} mismatches",
            check.seq,
            check.balances_compared,
            check.mismatches.len()
        );
        for line in &check.mismatches {
            println!("  {line}");
        }
    }
    println!(
        "applied: {} commands read, {} written in {} batches ({} rows), database at seq {}, {:.3} s",
        summary.commands_read,
        summary.commands_written,
        summary.batches,
        summary.rows,
        summary.db_seq,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

fn print_verify(report: &verify::VerifyReport, format: Format) {
    if format == Format::Json {
        let json = serde_json::json!({
            "db_seq": report.db_seq,
            "executions": report.executions,
            "balance_changes": report.balance_changes,
            "order_events": report.order_events,
            "trading_actions": report.trading_actions,
            "balances": report.balances,
            "open_orders": report.open_orders,
            "mismatches": report.mismatches,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return;
    }
    println!(
        "database at seq {}: {} executions, {} order events, {} balance changes, {} trading actions, {} balances, {} open orders",
        report.db_seq,
        report.executions,
        report.order_events,
        report.balance_changes,
        report.trading_actions,
        report.balances,
        report.open_orders
    );
    if report.mismatches.is_empty() {
        println!("ok: the database matches the journal's events");
    } else {
        for line in &report.mismatches {
            println!("mismatch: {line}");
        }
    }
}

fn answer(
    db: &mut dyn QueryDb,
    action: QueryAction,
    format: Format,
    config: &Config,
) -> anyhow::Result<i32> {
    let show = |rows: Rows| {
        print!("{}", render(&rows, format));
        Ok(0)
    };
    match action {
        QueryAction::Trades {
            account,
            symbol,
            range,
            limit,
        } => {
            let mut filter = Filter::default();
            if let Some(account) = account {
                filter.add("e.account_id = $?", Param::U64(account.into()));
            }
            if let Some(symbol) = symbol {
                filter.add("i.symbol = $?", Param::Text(symbol));
            }
            filter.range("e", &range)?;
            let sql = format!(
                "SELECT e.seq, e.timestamp_ns, e.match_number, i.symbol, e.account_id, e.order_id, e.side, \
                 e.price, e.qty, e.liquidity, e.fee, e.fee_asset_id, e.fee_tier \
                 FROM executions e JOIN instruments i ON i.instrument_id = e.instrument_id{} \
                 ORDER BY e.seq, e.event_index LIMIT {limit}",
                filter.sql()
            );
            show(db.select(&sql, &filter.params)?)
        }
        QueryAction::Orders {
            account,
            symbol,
            order_id: Some(order_id),
        } => {
            if account.is_some() || symbol.is_some() {
                bail!("--order-id shows one order's history: leave out --account and --symbol");
            }
            show(db.select(
                "SELECT seq, event_index, timestamp_ns, order_id, related_order_id, account_id, kind, side, price, \
                 qty, leaves, reason FROM order_events \
                 WHERE order_id = $1 OR (kind = 'replaced' AND related_order_id = $1) ORDER BY seq, event_index",
                &[Param::U64(order_id)],
            )?)
        }
        QueryAction::Orders {
            account,
            symbol,
            order_id: None,
        } => {
            let mut filter = Filter::default();
            filter.add("o.status = $?", Param::Str("open"));
            if let Some(account) = account {
                filter.add("o.account_id = $?", Param::U64(account.into()));
            }
            if let Some(symbol) = symbol {
                filter.add("i.symbol = $?", Param::Text(symbol));
            }
            let sql = format!(
                "SELECT o.order_id, i.symbol, o.account_id, o.session_id, o.user_ref, o.side, o.price, o.qty, \
                 o.leaves, o.time_in_force, o.created_seq, o.updated_seq \
                 FROM orders o JOIN instruments i ON i.instrument_id = o.instrument_id{} ORDER BY o.order_id",
                filter.sql()
            );
            show(db.select(&sql, &filter.params)?)
        }
        QueryAction::Balances {
            account,
            at_seq,
            at_time,
            audit,
        } => {
            let mut rows = if let Some(seq) = audit {
                db.select(
                    "SELECT account_id, asset_id, available, reserved FROM audit_balances WHERE audit_seq = $1 \
                     ORDER BY account_id, asset_id",
                    &[Param::U64(seq)],
                )?
            } else if let Some(seq) = at_seq {
                db.select(audit::BALANCES_AT_SEQ_SQL, &[Param::U64(seq)])?
            } else if let Some(time) = at_time {
                let sql = audit::BALANCES_AT_SEQ_SQL.replace("seq <= $1", "timestamp_ns <= $1");
                db.select(&sql, &[Param::U64(parse_time_ns(&time)?)])?
            } else {
                db.select(
                    "SELECT account_id, asset_id, available, reserved FROM balances ORDER BY account_id, asset_id",
                    &[],
                )?
            };
            if let Some(account) = account {
                rows.rows
                    .retain(|row| row.first().and_then(|c| c.int()) == Some(i64::from(account)));
            }
            show(rows)
        }
        QueryAction::Fees { range } => {
            let mut filter = Filter::default();
            filter.range("e", &range)?;
            let sql = format!(
                "SELECT e.fee_tier, e.fee_asset_id, CAST(COUNT(*) AS BIGINT) AS executions, \
                 CAST(SUM(e.qty) AS BIGINT) AS qty, CAST(SUM(e.fee) AS BIGINT) AS fees \
                 FROM executions e{} GROUP BY e.fee_tier, e.fee_asset_id ORDER BY e.fee_tier, e.fee_asset_id",
                filter.sql()
            );
            show(db.select(&sql, &filter.params)?)
        }
        QueryAction::Audits => show(db.select(
            "SELECT audit_seq, timestamp_ns, taken_at_ns, balance_rows, open_orders, state_hash \
             FROM audit_snapshots ORDER BY audit_seq",
            &[],
        )?),
        QueryAction::Status => show(db.select(
            "SELECT p.applied_seq, p.applied_timestamp_ns, \
             (SELECT MAX(version) FROM schema_version) AS schema_version, \
             (SELECT COUNT(*) FROM executions) AS executions, \
             (SELECT COUNT(*) FROM order_events) AS order_events, \
             (SELECT COUNT(*) FROM balance_changes) AS balance_changes, \
             (SELECT COUNT(*) FROM audit_snapshots) AS audit_snapshots \
             FROM progress p WHERE p.id = 1",
            &[],
        )?),
        QueryAction::Apply { .. } | QueryAction::WriteFlow { .. } => {
            unreachable!("handled before the database is borrowed")
        }
        QueryAction::Verify { journal } => {
            let journal = journal.unwrap_or_else(|| config.journal_dir());
            let report = verify::verify(db, &journal, config.engine_config())?;
            print_verify(&report, format);
            Ok(if report.mismatches.is_empty() { 0 } else { 1 })
        }
    }
}
