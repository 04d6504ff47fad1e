//! The PostgreSQL backend: the synchronous `postgres` client, statements prepared once per connection, every
//! batch in one transaction (committed with the server's own durability settings).

use super::db::{Batch, Cell, Param, QueryDb, QueryError, Rows, Stmt};
use super::schema;
use postgres::types::private::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

pub struct PostgresDb {
    client: Client,
    /// Prepared on the first batch (the tables must exist), by `Stmt` discriminant.
    prepared: Vec<Statement>,
}

impl PostgresDb {
    pub fn connect(url: &str) -> Result<PostgresDb, QueryError> {
        let mut client = Client::connect(url, NoTls)?;
        // Notices about objects that already exist are not errors worth printing.
        client.batch_execute("SET client_min_messages = warning")?;
        Ok(PostgresDb {
            client,
            prepared: Vec::new(),
        })
    }

    fn prepare_all(&mut self) -> Result<(), QueryError> {
        if self.prepared.len() == Stmt::ALL.len() {
            return Ok(());
        }
        self.prepared.clear();
        for stmt in Stmt::ALL {
            self.prepared.push(self.client.prepare(stmt.sql())?);
        }
        Ok(())
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Str(s) => s.to_sql(ty, out),
            Param::Text(s) => s.as_str().to_sql(ty, out),
            Param::Int(_) | Param::U64(_) => {
                let value = self.as_i64()?.unwrap_or(0);
                if *ty == Type::INT4 {
                    i32::try_from(value)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(value)?.to_sql(ty, out)
                } else {
                    value.to_sql(ty, out)
                }
            }
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::INT2 | Type::TEXT | Type::VARCHAR | Type::BPCHAR
        )
    }

    to_sql_checked!();
}

fn dyn_params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl QueryDb for PostgresDb {
    fn schema_version(&mut self) -> Result<u32, QueryError> {
        self.client
            .batch_execute(&schema::for_postgres(schema::VERSION_TABLE))?;
        let row = self
            .client
            .query_one("SELECT MAX(version) FROM schema_version", &[])?;
        let version: Option<i64> = row.try_get(0)?;
        Ok(version.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32)
    }

    fn run_migration(&mut self, version: u32, script: &str) -> Result<(), QueryError> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute(&schema::for_postgres(script))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at_ns) VALUES ($1, $2)",
            &[&i64::from(version), &super::sqlite_db::wall_clock_i64()],
        )?;
        tx.commit()?;
        self.prepared.clear();
        Ok(())
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<(), QueryError> {
        self.prepare_all()?;
        let mut tx = self.client.transaction()?;
        for (stmt, params) in batch.iter() {
            tx.execute(&self.prepared[stmt as usize], &dyn_params(params))?;
        }
        tx.execute(
            &self.prepared[Stmt::UpdateProgress as usize],
            &dyn_params(&[
                Param::U64(batch.last_seq),
                Param::U64(batch.last_timestamp_ns),
                Param::Int(super::sqlite_db::wall_clock_i64()),
            ]),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn execute_script(&mut self, script: &str) -> Result<(), QueryError> {
        self.client.batch_execute(script)?;
        self.prepared.clear();
        Ok(())
    }

    fn select(&mut self, sql: &str, params: &[Param]) -> Result<Rows, QueryError> {
        let statement = self.client.prepare(sql)?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let rows = self.client.query(&statement, &dyn_params(params))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(columns.len());
            for (i, column) in row.columns().iter().enumerate() {
                let ty = column.type_();
                let cell = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)?
                        .map(|v| Cell::Int(i64::from(v)))
                } else if *ty == Type::INT2 {
                    row.try_get::<_, Option<i16>>(i)?
                        .map(|v| Cell::Int(i64::from(v)))
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)?
                        .map(|v| Cell::Int(i64::from(v)))
                } else if matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME) {
                    row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
                } else {
                    return Err(QueryError::Invalid(format!(
                        "column {} has type {ty}, which the query side does not read (CAST it to BIGINT or TEXT)",
                        column.name()
                    )));
                };
                cells.push(cell.unwrap_or(Cell::Null));
            }
            out.push(cells);
        }
        Ok(Rows { columns, rows: out })
    }
}
