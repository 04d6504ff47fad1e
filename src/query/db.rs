//! The one small interface both databases implement: migrate, read the last applied sequence number, write a
//! batch of rows together with that number in one transaction, and answer a read-only query.
//!
//! Statements are written once, with `$1`-style parameters (PostgreSQL's; the SQLite backend turns them into its
//! `?1`), in the SQL both databases speak; where a function's name differs, the text uses PostgreSQL's
//! (`GREATEST`, `LEAST`) and the SQLite backend renames it.

use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("database URL {url:?}: {why}")]
    BadUrl { url: String, why: String },
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("value {value} does not fit a signed 64-bit column")]
    OutOfRange { value: u64 },
    #[error("the database's schema version {found} is newer than this build's {supported}")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("journal: {0}")]
    Journal(String),
    #[error("{0}")]
    Invalid(String),
}

/// A value bound to a statement's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    /// Checked against `i64::MAX` when bound: a value that does not fit fails the transaction.
    U64(u64),
    Str(&'static str),
    Text(String),
}

impl Param {
    pub fn as_i64(&self) -> Result<Option<i64>, QueryError> {
        match *self {
            Param::Int(v) => Ok(Some(v)),
            Param::U64(v) => i64::try_from(v)
                .map(Some)
                .map_err(|_| QueryError::OutOfRange { value: v }),
            Param::Str(_) | Param::Text(_) => Ok(None),
        }
    }
}

/// A value read back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(v) => v.to_string(),
            Cell::Text(t) => t.clone(),
        }
    }
}

/// A result set: column names and rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Every statement the learner writes with. The discriminant indexes each backend's prepared statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stmt {
    InsertInstrument,
    UpdateInstrumentStatus,
    UpdateInstrumentReference,
    InsertTradingAction,
    UpsertOrder,
    UpdateOrderExecuted,
    UpdateOrderReduced,
    UpdateOrderLeaves,
    UpdateOrderReplaced,
    UpdateOrderAmended,
    InsertOrderEvent,
    InsertExecution,
    InsertBalanceChange,
    UpsertBalance,
    UpsertCandle,
    UpsertFeeTier,
    UpsertAccount,
    UpdateProgress,
    InsertAuditSnapshot,
    InsertAuditBalance,
    InsertAuditOrder,
}

impl Stmt {
    pub const ALL: [Stmt; 21] = [
        Stmt::InsertInstrument,
        Stmt::UpdateInstrumentStatus,
        Stmt::UpdateInstrumentReference,
        Stmt::InsertTradingAction,
        Stmt::UpsertOrder,
        Stmt::UpdateOrderExecuted,
        Stmt::UpdateOrderReduced,
        Stmt::UpdateOrderLeaves,
        Stmt::UpdateOrderReplaced,
        Stmt::UpdateOrderAmended,
        Stmt::InsertOrderEvent,
        Stmt::InsertExecution,
        Stmt::InsertBalanceChange,
        Stmt::UpsertBalance,
        Stmt::UpsertCandle,
        Stmt::UpsertFeeTier,
        Stmt::UpsertAccount,
        Stmt::UpdateProgress,
        Stmt::InsertAuditSnapshot,
        Stmt::InsertAuditBalance,
        Stmt::InsertAuditOrder,
    ];

    /// The statement in PostgreSQL's spelling.
    pub fn sql(self) -> &'static str {
        match self {
            Stmt::InsertInstrument => {
                "INSERT INTO instruments (instrument_id, symbol, base_asset_id, quote_asset_id, tick, lot_size, \
                 quote_per_price_lot, reference_price, band_bps, status, added_seq, updated_seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'trading', $10, $10)"
            }
            Stmt::UpdateInstrumentStatus => {
                "UPDATE instruments SET status = $2, updated_seq = $3 WHERE instrument_id = $1"
            }
            Stmt::UpdateInstrumentReference => {
                "UPDATE instruments SET reference_price = $2, updated_seq = $3 WHERE instrument_id = $1"
            }
            Stmt::InsertTradingAction => {
                "INSERT INTO trading_actions (seq, event_index, timestamp_ns, instrument_id, status, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            }
            Stmt::UpsertOrder => {
                "INSERT INTO orders (order_id, account_id, session_id, user_ref, instrument_id, side, price, qty, \
                 leaves, time_in_force, status, created_seq, created_timestamp_ns, updated_seq, \
                 updated_timestamp_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12, $11, $12) \
                 ON CONFLICT (order_id) DO UPDATE SET price = excluded.price, qty = excluded.qty, \
                 leaves = excluded.leaves, status = 'open', updated_seq = excluded.updated_seq, \
                 updated_timestamp_ns = excluded.updated_timestamp_ns"
            }
            Stmt::UpdateOrderExecuted => {
                "UPDATE orders SET leaves = $2, status = $3, updated_seq = $4, updated_timestamp_ns = $5 \
                 WHERE order_id = $1"
            }
            Stmt::UpdateOrderReduced => {
                "UPDATE orders SET leaves = leaves - $2, \
                 status = CASE WHEN leaves <= $2 THEN 'canceled' ELSE status END, \
                 updated_seq = $3, updated_timestamp_ns = $4 WHERE order_id = $1"
            }
            Stmt::UpdateOrderLeaves => {
                "UPDATE orders SET leaves = $2, status = $3, updated_seq = $4, updated_timestamp_ns = $5 \
                 WHERE order_id = $1"
            }
            Stmt::UpdateOrderReplaced => {
                "UPDATE orders SET leaves = 0, status = 'replaced', updated_seq = $2, updated_timestamp_ns = $3 \
                 WHERE order_id = $1"
            }
            Stmt::UpdateOrderAmended => {
                "UPDATE orders SET user_ref = $2, price = $3, leaves = $4, status = 'open', updated_seq = $5, \
                 updated_timestamp_ns = $6 WHERE order_id = $1"
            }
            Stmt::InsertOrderEvent => {
                "INSERT INTO order_events (seq, event_index, timestamp_ns, order_id, related_order_id, account_id, \
                 session_id, user_ref, instrument_id, kind, side, price, qty, leaves, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            }
            Stmt::InsertExecution => {
                "INSERT INTO executions (seq, event_index, timestamp_ns, match_number, order_id, account_id, \
                 session_id, user_ref, instrument_id, side, price, qty, leaves, liquidity, fee, fee_asset_id, \
                 fee_tier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            }
            Stmt::InsertBalanceChange => {
                "INSERT INTO balance_changes (seq, account_id, asset_id, timestamp_ns, available, reserved, cause) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            }
            Stmt::UpsertBalance => {
                "INSERT INTO balances (account_id, asset_id, available, reserved, updated_seq) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, asset_id) DO UPDATE SET \
                 available = excluded.available, reserved = excluded.reserved, updated_seq = excluded.updated_seq"
            }
            Stmt::UpsertCandle => {
                "INSERT INTO candles (instrument_id, interval_s, start_ns, open, high, low, close, volume, trades, \
                 updated_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (instrument_id, interval_s, start_ns) DO UPDATE SET \
                 high = GREATEST(candles.high, excluded.high), low = LEAST(candles.low, excluded.low), \
                 close = excluded.close, volume = candles.volume + excluded.volume, \
                 trades = candles.trades + excluded.trades, updated_seq = excluded.updated_seq"
            }
            Stmt::UpsertFeeTier => {
                "INSERT INTO fee_tiers (tier, maker_fee_ppm, taker_fee_ppm, updated_seq) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tier) DO UPDATE SET maker_fee_ppm = excluded.maker_fee_ppm, \
                 taker_fee_ppm = excluded.taker_fee_ppm, updated_seq = excluded.updated_seq"
            }
            Stmt::UpsertAccount => {
                "INSERT INTO accounts (account_id, fee_tier, stp_group, order_entry_enabled, updated_seq) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET \
                 fee_tier = excluded.fee_tier, stp_group = excluded.stp_group, \
                 order_entry_enabled = excluded.order_entry_enabled, updated_seq = excluded.updated_seq"
            }
            Stmt::UpdateProgress => {
                "UPDATE progress SET applied_seq = $1, applied_timestamp_ns = $2, updated_at_ns = $3 WHERE id = 1"
            }
            Stmt::InsertAuditSnapshot => {
                "INSERT INTO audit_snapshots (audit_seq, timestamp_ns, taken_at_ns, balance_rows, open_orders, \
                 state_hash) VALUES ($1, $2, $3, $4, $5, $6)"
            }
            Stmt::InsertAuditBalance => {
                "INSERT INTO audit_balances (audit_seq, account_id, asset_id, available, reserved) \
                 VALUES ($1, $2, $3, $4, $5)"
            }
            Stmt::InsertAuditOrder => {
                "INSERT INTO audit_open_orders (audit_seq, order_id, account_id, session_id, user_ref, \
                 instrument_id, side, price, leaves, display, is_quote) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            }
        }
    }

    /// How many parameters the statement binds.
    pub fn param_count(self) -> usize {
        let sql = self.sql();
        (1..=32)
            .rev()
            .find(|n| sql.contains(&format!("${n}")))
            .unwrap_or(0)
    }
}

/// Rows to write in one transaction, and the sequence number (and its command's time) they bring the database to.
#[derive(Debug, Default)]
pub struct Batch {
    pub ops: Vec<(Stmt, usize)>,
    pub params: Vec<Param>,
    /// The last command whose rows are in the batch; the transaction sets `progress` to it.
    pub last_seq: u64,
    pub last_timestamp_ns: u64,
    /// Commands the batch covers.
    pub commands: u64,
}

impl Batch {
    pub fn push(&mut self, stmt: Stmt, params: impl IntoIterator<Item = Param>) {
        let start = self.params.len();
        self.params.extend(params);
        debug_assert_eq!(self.params.len() - start, stmt.param_count(), "{stmt:?}");
        self.ops.push((stmt, start));
    }

    /// Each statement with its parameters, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Stmt, &[Param])> {
        self.ops.iter().enumerate().map(|(i, &(stmt, start))| {
            let end = self.ops.get(i + 1).map_or(self.params.len(), |next| next.1);
            (stmt, &self.params[start..end])
        })
    }

    pub fn rows(&self) -> usize {
        self.ops.len()
    }

    pub fn clear(&mut self) {
        self.ops.clear();
        self.params.clear();
        self.commands = 0;
    }
}

/// The database the learner writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbUrl {
    /// `sqlite://relative/path` (relative to `base_dir`), `sqlite:///absolute/path`, or `postgres://...`
    /// (also `postgresql://...`), in libpq's URL form.
    pub fn parse(url: &str, base_dir: &Path) -> Result<DbUrl, QueryError> {
        let bad = |why: &str| QueryError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("names no file"));
            }
            let path = Path::new(path);
            return Ok(DbUrl::Sqlite(if path.is_absolute() {
                path.to_path_buf()
            } else {
                base_dir.join(path)
            }));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        Err(bad("must start with sqlite:// or postgres://"))
    }

    /// The URL without a password, for messages.
    pub fn display(&self) -> String {
        match self {
            DbUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DbUrl::Postgres(url) => redact_password(url),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A query database.
pub trait QueryDb: Send {
    /// The schema version the database is at (0: empty).
    fn schema_version(&mut self) -> Result<u32, QueryError>;
    /// Runs one migration's script and records `version` in `schema_version`, in one transaction.
    fn run_migration(&mut self, version: u32, script: &str) -> Result<(), QueryError>;
    /// Writes every row of the batch and moves `progress` to its last sequence number, in one transaction.
    fn write_batch(&mut self, batch: &Batch) -> Result<(), QueryError>;
    /// A read-only query with `$1`-style parameters.
    fn select(&mut self, sql: &str, params: &[Param]) -> Result<Rows, QueryError>;
    /// Runs statements that return nothing (DDL), outside any batch.
    fn execute_script(&mut self, script: &str) -> Result<(), QueryError>;
    /// Drops every table of the schema (benchmarks and tests on a shared server).
    fn reset(&mut self) -> Result<(), QueryError> {
        for (table, _) in super::schema::TABLES.iter().rev() {
            self.execute_script(&format!("DROP TABLE IF EXISTS {table}"))?;
        }
        Ok(())
    }
    /// Crash tests: pause this long halfway through every batch's transaction, after printing
    /// `mid-transaction` on stdout. Backends that cannot ignore it.
    fn set_pause_mid_transaction(&mut self, _pause: std::time::Duration) {}
}

/// Opens (creating if need be) the database and migrates it to this build's schema.
pub fn open_db(url: &DbUrl) -> Result<Box<dyn QueryDb>, QueryError> {
    let mut db: Box<dyn QueryDb> = match url {
        DbUrl::Sqlite(path) => Box::new(super::sqlite_db::SqliteDb::open(path)?),
        DbUrl::Postgres(url) => Box::new(super::postgres_db::PostgresDb::connect(url)?),
    };
    super::schema::migrate(db.as_mut(), super::schema::LATEST_VERSION)?;
    Ok(db)
}

/// The last applied sequence number and its command's time.
pub fn progress(db: &mut dyn QueryDb) -> Result<(u64, u64), QueryError> {
    let rows = db.select(
        "SELECT applied_seq, applied_timestamp_ns FROM progress WHERE id = 1",
        &[],
    )?;
    let Some(row) = rows.rows.first() else {
        return Err(QueryError::Invalid(String::from(
            "the progress table has no row",
        )));
    };
    let seq = row.first().and_then(Cell::int).unwrap_or(0);
    let ts = row.get(1).and_then(Cell::int).unwrap_or(0);
    Ok((seq.max(0) as u64, ts.max(0) as u64))
}
