//! The SQLite backend: one file, in WAL mode with `synchronous = NORMAL` (a commit survives a process crash; a
//! power loss may lose the last commits, never tear one, and the learner then replays them from the journal).

use super::db::{Batch, Cell, Param, QueryDb, QueryError, Rows, Stmt};
use super::schema;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::Path;

pub struct SqliteDb {
    conn: Connection,
    /// Each statement in SQLite's spelling, by `Stmt` discriminant.
    sql: Vec<String>,
    pause_mid_transaction: Option<std::time::Duration>,
}

/// PostgreSQL's spelling to SQLite's: `$n` parameters become `?n`, GREATEST and LEAST become MAX and MIN.
pub fn to_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
        .replace("GREATEST(", "MAX(")
        .replace("LEAST(", "MIN(")
}

impl SqliteDb {
    pub fn open(path: &Path) -> Result<SqliteDb, QueryError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| {
                QueryError::Invalid(format!("creating {}: {error}", parent.display()))
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteDb {
            conn,
            sql: Stmt::ALL.iter().map(|s| to_sqlite(s.sql())).collect(),
            pause_mid_transaction: None,
        })
    }

    /// An in-memory database (tests).
    #[cfg(test)]
    pub fn in_memory() -> Result<SqliteDb, QueryError> {
        Ok(SqliteDb {
            conn: Connection::open_in_memory()?,
            sql: Stmt::ALL.iter().map(|s| to_sqlite(s.sql())).collect(),
            pause_mid_transaction: None,
        })
    }
}

struct Bound<'a>(&'a Param);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Param::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Param::U64(v) => match i64::try_from(*v) {
                Ok(v) => ToSqlOutput::Owned(Value::Integer(v)),
                Err(error) => return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(error))),
            },
            Param::Str(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl QueryDb for SqliteDb {
    fn schema_version(&mut self) -> Result<u32, QueryError> {
        self.conn
            .execute_batch(&schema::for_sqlite(schema::VERSION_TABLE))?;
        let version: Option<i64> =
            self.conn
                .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
                    row.get(0)
                })?;
        Ok(version.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32)
    }

    fn run_migration(&mut self, version: u32, script: &str) -> Result<(), QueryError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(&schema::for_sqlite(script))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at_ns) VALUES (?1, ?2)",
            rusqlite::params![i64::from(version), wall_clock_i64()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<(), QueryError> {
        let tx = self.conn.transaction()?;
        let mut bound: Vec<Bound<'_>> = Vec::with_capacity(32);
        let halfway = batch.rows() / 2;
        // Each statement looked up once per batch, not once per row.
        let mut prepared: Vec<Option<rusqlite::CachedStatement<'_>>> =
            (0..Stmt::ALL.len()).map(|_| None).collect();
        for (i, (stmt, params)) in batch.iter().enumerate() {
            if i == halfway {
                if let Some(pause) = self.pause_mid_transaction {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "mid-transaction {}", batch.last_seq);
                    let _ = out.flush();
                    std::thread::sleep(pause);
                }
            }
            let slot = &mut prepared[stmt as usize];
            if slot.is_none() {
                *slot = Some(tx.prepare_cached(&self.sql[stmt as usize])?);
            }
            let Some(statement) = slot.as_mut() else {
                continue;
            };
            bound.clear();
            bound.extend(params.iter().map(Bound));
            statement.execute(rusqlite::params_from_iter(bound.iter()))?;
        }
        drop(prepared);
        let mut progress = tx.prepare_cached(&self.sql[Stmt::UpdateProgress as usize])?;
        progress.execute(rusqlite::params![
            Bound(&Param::U64(batch.last_seq)),
            Bound(&Param::U64(batch.last_timestamp_ns)),
            wall_clock_i64()
        ])?;
        drop(progress);
        tx.commit()?;
        Ok(())
    }

    fn execute_script(&mut self, script: &str) -> Result<(), QueryError> {
        self.conn.execute_batch(script)?;
        Ok(())
    }

    fn set_pause_mid_transaction(&mut self, pause: std::time::Duration) {
        self.pause_mid_transaction = Some(pause);
    }

    fn select(&mut self, sql: &str, params: &[Param]) -> Result<Rows, QueryError> {
        let mut statement = self.conn.prepare(&to_sqlite(sql))?;
        let columns: Vec<String> = statement
            .column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let count = columns.len();
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter().map(Bound)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(count);
            for i in 0..count {
                cells.push(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Text(v.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Cell::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(cells);
        }
        Ok(Rows { columns, rows: out })
    }
}

pub fn wall_clock_i64() -> i64 {
    i64::try_from(crate::pipeline::messages::wall_clock_ns()).unwrap_or(i64::MAX)
}
