//! The query side against real databases: a seeded random flow written to a journal, replayed by the stage, and
//! every row compared with the engine's events (`verify`); a failed transaction and a dropped stage; a restart from
//! a snapshot; the schema's migration from version 1; and the same comparison on PostgreSQL when
//! `CROSSLINE_TEST_POSTGRES_URL` names a database this test may empty.

use super::db::{open_db, progress, Cell, DbUrl, Param, QueryDb};
use super::schema::{self, TABLES};
use super::sqlite_db::SqliteDb;
use super::stage::{QueryStage, QueryStageOptions, StartFrom};
use super::{flow, verify, QueryLag};
use crate::config::Config;
use crate::pipeline::ledger::SessionLedger;
use crate::pipeline::state_snapshot;
use crossline_engine::{Command, Engine};
use crossline_journal::{JournalReader, SnapshotStore};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

const FLOW_COMMANDS: u64 = 12_000;

fn options(config: &Config, batch_max_commands: usize) -> QueryStageOptions {
    QueryStageOptions {
        batch_max_commands,
        batch_max_delay_ms: 1_000,
        audit_interval_s: 0,
        engine: config.engine_config(),
        start: StartFrom::Genesis,
    }
}

fn stage(journal: &Path, url: &DbUrl, options: QueryStageOptions) -> QueryStage {
    let db = open_db(url).expect("open the database");
    QueryStage::open(journal, None, db, options, Arc::new(QueryLag::default()))
        .expect("open the stage")
}

fn assert_matches_journal(db: &mut dyn QueryDb, journal: &Path, config: &Config, last_seq: u64) {
    let report = verify::verify(db, journal, config.engine_config()).expect("verify");
    assert_eq!(report.db_seq, last_seq);
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert!(report.executions > 1_000, "the flow trades: {report:?}");
    assert!(report.open_orders > 10, "orders rest: {report:?}");
    assert!(report.trading_actions > 0, "instruments halt: {report:?}");
}

fn int(db: &mut dyn QueryDb, sql: &str) -> i64 {
    db.select(sql, &[]).expect(sql).rows[0][0]
        .int()
        .unwrap_or(-1)
}

/// Every table and column in `TABLES`, and no other, in the database.
fn columns_sqlite(db: &mut SqliteDb) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (table, _) in TABLES {
        let rows = db
            .select(
                &format!("SELECT name FROM pragma_table_info('{table}')"),
                &[],
            )
            .expect("table info");
        for row in rows.rows {
            out.insert((table.to_string(), row[0].text()));
        }
    }
    out
}

fn expected_columns() -> BTreeSet<(String, String)> {
    TABLES
        .iter()
        .flat_map(|(table, columns)| columns.iter().map(|c| (table.to_string(), c.to_string())))
        .collect()
}

#[test]
fn the_sqlite_schema_has_exactly_the_listed_tables_and_columns() {
    let mut db = SqliteDb::in_memory().expect("sqlite");
    schema::migrate(&mut db, schema::LATEST_VERSION).expect("migrate");
    assert_eq!(
        db.schema_version().expect("version"),
        schema::LATEST_VERSION
    );
    assert_eq!(columns_sqlite(&mut db), expected_columns());
    // Migrating again is a no-op.
    assert_eq!(
        schema::migrate(&mut db, schema::LATEST_VERSION).expect("again"),
        schema::LATEST_VERSION
    );
}

#[test]
fn a_version_1_database_with_rows_migrates_to_version_2_and_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.sqlite3");
    {
        // The previous version's learner: schema 1, a few rows, progress at seq 3.
        let mut old = SqliteDb::open(&path).expect("sqlite");
        schema::migrate(&mut old, 1).expect("schema 1");
        old.execute_script(
            "INSERT INTO instruments VALUES (1, 'ACME', 1, 0, 100, 1, 1, 1000000, 1000, 'trading', 1, 1);
             INSERT INTO executions VALUES (3, 0, 5, 1, 7, 1, 2, 9, 1, 'buy', 1000000, 4, 0, 'taker', 120, 0);
             INSERT INTO balances VALUES (1, 0, 500, 20, 3);
             UPDATE progress SET applied_seq = 3, applied_timestamp_ns = 5 WHERE id = 1;",
        )
        .expect("v1 rows");
        assert_eq!(old.schema_version().expect("version"), 1);
        let v1_tables = int(
            &mut old,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'accounts'",
        );
        assert_eq!(v1_tables, 0, "version 1 has no accounts table");
    }
    // This version opens it: migration 2 runs, the rows stay, new columns and tables are there.
    let mut db = open_db(&DbUrl::Sqlite(path.clone())).expect("open and migrate");
    assert_eq!(db.schema_version().expect("version"), 2);
    assert_eq!(progress(db.as_mut()).expect("progress"), (3, 5));
    let old_row = db
        .select("SELECT order_id, fee, fee_tier FROM executions", &[])
        .expect("executions");
    assert_eq!(
        old_row.rows,
        vec![vec![Cell::Int(7), Cell::Int(120), Cell::Null]]
    );
    assert_eq!(int(db.as_mut(), "SELECT available FROM balances"), 500);
    assert_eq!(int(db.as_mut(), "SELECT COUNT(*) FROM accounts"), 0);
    let versions = db
        .select("SELECT version FROM schema_version ORDER BY version", &[])
        .expect("versions");
    assert_eq!(versions.rows, vec![vec![Cell::Int(1)], vec![Cell::Int(2)]]);
    drop(db);
    let mut reopened = SqliteDb::open(&path).expect("sqlite");
    assert_eq!(columns_sqlite(&mut reopened), expected_columns());
}

#[test]
fn a_random_flow_lands_in_sqlite_exactly_as_the_engine_reports_it() {
    let config = Config::embedded().expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let last_seq = flow::write_journal(&journal, &config, FLOW_COMMANDS, 11).expect("journal");
    let url = DbUrl::Sqlite(dir.path().join("query.sqlite3"));
    let mut stage = stage(&journal, &url, options(&config, 700));
    let summary = stage.run_to_end(|_| {}).expect("apply");
    assert_eq!(summary.db_seq, last_seq);
    assert!(summary.batches >= last_seq / 700);

    // Audit at the end: the snapshot, the history and the engine agree.
    let check = stage.audit_now().expect("audit");
    assert_eq!(check.seq, last_seq);
    assert!(check.balances_compared > 5);
    assert!(check.mismatches.is_empty(), "{:?}", check.mismatches);
    let audits = int(stage.db(), "SELECT COUNT(*) FROM audit_snapshots");
    assert_eq!(audits, 1);
    let audited_orders = int(stage.db(), "SELECT COUNT(*) FROM audit_open_orders");
    let open_orders = int(
        stage.db(),
        "SELECT COUNT(*) FROM orders WHERE status = 'open'",
    );
    assert_eq!(audited_orders, open_orders);

    // Fees by tier add up to the fee account's income, and every execution carries its tier.
    let untiered = int(
        stage.db(),
        "SELECT COUNT(*) FROM executions WHERE fee_tier IS NULL",
    );
    assert_eq!(untiered, 0);
    let fees = int(
        stage.db(),
        "SELECT CAST(SUM(fee) AS BIGINT) FROM executions WHERE fee_asset_id = 0",
    );
    let income = stage
        .engine()
        .balance(config.engine.fee_account, 0)
        .available as i64;
    assert_eq!(fees, income);
    drop(stage);

    let mut db = open_db(&url).expect("reopen");
    assert_matches_journal(db.as_mut(), &journal, &config, last_seq);
}

#[test]
fn a_failed_transaction_and_dropped_stages_neither_lose_nor_duplicate_a_row() {
    let config = Config::embedded().expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let last_seq = flow::write_journal(&journal, &config, FLOW_COMMANDS, 5).expect("journal");
    let path = dir.path().join("query.sqlite3");
    let url = DbUrl::Sqlite(path.clone());

    // A stage dropped between two batches.
    let mut first = stage(&journal, &url, options(&config, 300));
    for _ in 0..4 {
        first.poll().expect("poll");
    }
    let dropped_at = first.db_seq();
    assert!(dropped_at > 0 && dropped_at < last_seq);
    drop(first);

    // A transaction that fails halfway (a trigger refuses one execution): the batch rolls back whole.
    {
        let mut db = SqliteDb::open(&path).expect("sqlite");
        db.execute_script(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON executions WHEN NEW.seq > {} \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            dropped_at + 2_000
        ))
        .expect("trigger");
    }
    let mut second = stage(&journal, &url, options(&config, 300));
    assert_eq!(second.db_seq(), dropped_at);
    let error = second
        .run_to_end(|_| {})
        .expect_err("the trigger fails a batch");
    assert!(error.to_string().contains("refused by the test"), "{error}");
    let failed_at = second.db_seq();
    assert!(failed_at > dropped_at && failed_at <= dropped_at + 2_000);
    // The retry fails the same way and writes nothing.
    assert!(second.poll().is_err());
    assert_eq!(second.db_seq(), failed_at);
    drop(second);
    {
        let mut db = SqliteDb::open(&path).expect("sqlite");
        assert_eq!(progress(&mut db).expect("progress").0, failed_at);
        let beyond = int(
            &mut db,
            &format!("SELECT COUNT(*) FROM balance_changes WHERE seq > {failed_at}"),
        );
        assert_eq!(beyond, 0, "no row of the failed batch is in the database");
        db.execute_script("DROP TRIGGER refuse")
            .expect("drop trigger");
    }

    let mut third = stage(&journal, &url, options(&config, 300));
    assert_eq!(third.run_to_end(|_| {}).expect("apply").db_seq, last_seq);
    drop(third);
    let mut db = open_db(&url).expect("reopen");
    assert_matches_journal(db.as_mut(), &journal, &config, last_seq);
}

#[test]
fn a_restart_from_a_snapshot_before_the_database_seq_resumes_exactly_there() {
    let config = Config::embedded().expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let last_seq = flow::write_journal(&journal, &config, FLOW_COMMANDS, 3).expect("journal");
    let url = DbUrl::Sqlite(dir.path().join("query.sqlite3"));
    let mut first = stage(&journal, &url, options(&config, 500));
    for _ in 0..10 {
        first.poll().expect("poll");
    }
    let db_seq = first.db_seq();
    drop(first);

    // A snapshot 1000 commands before the database's seq, as the follower writes them.
    let snapshot_seq = db_seq - 1_000;
    let mut engine = Engine::new(config.engine_config()).expect("engine");
    let mut reader = JournalReader::open(&journal).expect("reader");
    let mut events = Vec::new();
    while engine.last_seq() < snapshot_seq {
        let record = reader.next_record().expect("read").expect("record");
        let command: Command =
            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command).expect("command");
        events.clear();
        engine.apply(&command, &mut events);
    }
    let sessions = config.users.len() + 1;
    let snapshots = dir.path().join("snapshots");
    std::fs::create_dir_all(&snapshots).expect("snapshot dir");
    let store = SnapshotStore::open(&snapshots).expect("store");
    store
        .write(
            snapshot_seq,
            &state_snapshot::encode(&engine, &SessionLedger::new(sessions)),
        )
        .expect("write snapshot");

    let mut opts = options(&config, 500);
    opts.start = StartFrom::Snapshots {
        dir: snapshots,
        sessions,
    };
    let mut second = stage(&journal, &url, opts);
    assert_eq!(second.start_seq(), snapshot_seq);
    assert_eq!(second.db_seq(), db_seq);
    assert_eq!(second.run_to_end(|_| {}).expect("apply").db_seq, last_seq);
    drop(second);
    let mut db = open_db(&url).expect("reopen");
    assert_matches_journal(db.as_mut(), &journal, &config, last_seq);
}

#[test]
fn a_learner_tailing_a_live_writer_reports_its_lag_and_catches_up() {
    use crossline_journal::{FsyncPolicy, JournalConfig, JournalWriter};
    let config = Config::embedded().expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    std::fs::create_dir_all(&journal).expect("dir");
    let (mut writer, _) = JournalWriter::open(
        &journal,
        JournalConfig {
            segment_bytes: 16 << 20,
            fsync: FsyncPolicy::None,
            first_seq: 1,
            ..JournalConfig::default()
        },
    )
    .expect("writer");
    let lag = Arc::new(QueryLag::default());
    let url = DbUrl::Sqlite(dir.path().join("query.sqlite3"));
    let mut stage = QueryStage::open(
        &journal,
        Some(writer.watermarks()),
        open_db(&url).expect("db"),
        options(&config, 100),
        Arc::clone(&lag),
    )
    .expect("stage");
    let mut flow = flow::Flow::new(&config, 9);
    let genesis = crate::config::genesis_commands(&config);
    let mut seq = 1;
    for body in genesis
        .into_iter()
        .chain((0..1_000).map(|i| flow.next(flow::FLOW_START_NS + i)))
    {
        writer
            .append(&Command {
                seq,
                timestamp_ns: flow::FLOW_START_NS + seq,
                body,
            })
            .expect("append");
        seq += 1;
    }
    writer.commit_batch().expect("commit");
    let last_seq = seq - 1;
    // Nothing read yet: the whole journal is lag.
    assert_eq!(stage.poll().expect("poll"), 100);
    assert!(lag.lag_commands() >= last_seq - 100);
    let later_ns = crate::pipeline::messages::wall_clock_ns() + 5_000_000;
    assert!(lag.lag_ms(later_ns) > 0);
    while stage.poll().expect("poll") > 0 {}
    stage.audit_now().expect("flush with an audit");
    assert_eq!(lag.lag_commands(), 0);
    assert_eq!(lag.lag_ms(u64::MAX), 0);
    assert_eq!(stage.db_seq(), last_seq);
    let mut text = String::new();
    lag.render_prometheus(0, &mut text);
    assert!(
        text.contains(&format!("crossline_query_db_seq {last_seq}")),
        "{text}"
    );
    writer.close().expect("close");
}

#[test]
fn the_same_flow_lands_in_postgresql_exactly_as_the_engine_reports_it() {
    let Ok(url) = std::env::var("CROSSLINE_TEST_POSTGRES_URL") else {
        println!("skipped: set CROSSLINE_TEST_POSTGRES_URL to a database this test may empty");
        return;
    };
    let url = DbUrl::parse(&url, Path::new(".")).expect("a postgres URL");
    assert!(matches!(url, DbUrl::Postgres(_)));
    let config = Config::embedded().expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let last_seq = flow::write_journal(&journal, &config, FLOW_COMMANDS / 2, 13).expect("journal");
    {
        let mut db = open_db(&url).expect("connect");
        db.reset().expect("empty the database");
    }
    // Half, a dropped stage, then the rest: the resume works on PostgreSQL too.
    let mut first = stage(&journal, &url, options(&config, 400));
    for _ in 0..3 {
        first.poll().expect("poll");
    }
    assert!(first.db_seq() > 0);
    drop(first);
    let mut second = stage(&journal, &url, options(&config, 400));
    assert_eq!(second.run_to_end(|_| {}).expect("apply").db_seq, last_seq);
    let check = second.audit_now().expect("audit");
    assert!(check.mismatches.is_empty(), "{:?}", check.mismatches);
    drop(second);

    let mut db = open_db(&url).expect("reopen");
    let report = verify::verify(db.as_mut(), &journal, config.engine_config()).expect("verify");
    assert_eq!(report.db_seq, last_seq);
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert!(report.executions > 500);
    let columns: BTreeSet<(String, String)> = db
        .select(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema()",
            &[],
        )
        .expect("columns")
        .rows
        .into_iter()
        .map(|row| (row[0].text(), row[1].text()))
        .filter(|(table, _)| TABLES.iter().any(|(t, _)| t == table))
        .collect();
    assert_eq!(columns, expected_columns());
    let fees = db
        .select(
            "SELECT fee_tier, CAST(SUM(fee) AS BIGINT) FROM executions GROUP BY fee_tier ORDER BY fee_tier",
            &[],
        )
        .expect("fees by tier");
    assert!(!fees.rows.is_empty());
    let _ = Param::Int(0);
}
