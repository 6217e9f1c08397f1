//! Statements, parameters and rows, the same on both backends.
//!
//! PostgreSQL is reached through sqlx. SQLite is driven in-thread by rusqlite:
//! a statement runs on the task that asks for it, a few microseconds, where
//! sqlx would hand it to the connection's own thread and back (four context
//! switches each, a quarter of the server's CPU under load in the profile).

use crate::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use sqlx::any::{AnyArguments, AnyRow, AnyTypeInfoKind};
use sqlx::{AnyConnection, AnyPool, Arguments, Column, Row as _, ValueRef as _};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// A value bound to a statement, or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

/// Where a statement runs.
pub(crate) enum Db<'c> {
    /// A PostgreSQL transaction's connection.
    Postgres(&'c mut AnyConnection),
    /// Any connection of the PostgreSQL pool, for reads.
    PostgresPool(&'c AnyPool),
    /// SQLite's writer connection, held by a unit of work. (Its lock is never
    /// contended: only the writer's holder takes it, see [`lock_writer`].)
    Sqlite(&'c Mutex<rusqlite::Connection>),
    /// SQLite's read connections.
    SqliteReaders(&'c Readers),
}

/// A statement and its parameters, numbered from `$1`.
pub(crate) struct Query<'q> {
    sql: &'q str,
    params: Vec<Param>,
}

pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        params: Vec::new(),
    }
}

impl<'q> Query<'q> {
    pub(crate) fn new(sql: &'q str, params: Vec<Param>) -> Self {
        Self { sql, params }
    }

    pub(crate) fn bind(mut self, v: impl Into<Param>) -> Self {
        self.params.push(v.into());
        self
    }

    pub(crate) async fn fetch_all(self, db: Db<'_>) -> Result<Vec<Row>> {
        Ok(self.run(db, usize::MAX).await?.0)
    }

    pub(crate) async fn fetch_optional(self, db: Db<'_>) -> Result<Option<Row>> {
        Ok(self.run(db, 1).await?.0.pop())
    }

    /// The one row a statement always returns (an aggregate, a `RETURNING`).
    pub(crate) async fn fetch_one(self, db: Db<'_>) -> Result<Row> {
        let sql = self.sql;
        self.fetch_optional(db)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no row for {sql}")))
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) async fn execute(self, db: Db<'_>) -> Result<u64> {
        Ok(self.run(db, 0).await?.1)
    }

    /// Up to `limit` rows, and the rows changed.
    async fn run(self, db: Db<'_>, limit: usize) -> Result<(Vec<Row>, u64)> {
        match db {
            Db::Postgres(conn) => self.run_sqlx(conn, limit).await,
            Db::PostgresPool(pool) => self.run_sqlx(pool, limit).await,
            Db::Sqlite(conn) => run_sqlite(&lock_writer(conn), self.sql, &self.params, limit),
            Db::SqliteReaders(readers) => {
                readers.with(|conn| run_sqlite(conn, self.sql, &self.params, limit))
            }
        }
    }

    /// Hands each row to `each` as it is read, never holding more than one:
    /// for reads as long as a day's transactions.
    pub(crate) async fn for_each(
        self,
        db: Db<'_>,
        mut each: impl FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        match db {
            Db::Postgres(conn) => self.each_sqlx(conn, each).await,
            Db::PostgresPool(pool) => self.each_sqlx(pool, each).await,
            Db::Sqlite(conn) => sqlite_rows(&lock(conn), self.sql, &self.params, &mut |row| {
                each(row).map(|()| true)
            })
            .map(drop),
            Db::SqliteReaders(readers) => readers.with(|conn| {
                sqlite_rows(conn, self.sql, &self.params, &mut |row| {
                    each(row).map(|()| true)
                })
                .map(drop)
            }),
        }
    }

    fn sqlx_args(&self) -> Result<AnyArguments<'_>> {
        let mut args = AnyArguments::default();
        for p in &self.params {
            match p {
                Param::Int(v) => args.add(*v),
                Param::Text(v) => args.add(v.clone()),
            }
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
        }
        Ok(args)
    }

    async fn each_sqlx<'e, E>(self, e: E, mut each: impl FnMut(Row) -> Result<()>) -> Result<()>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        use futures_util::TryStreamExt;
        let args = self.sqlx_args()?;
        let mut rows = sqlx::query_with(self.sql, args).fetch(e);
        while let Some(row) = rows.try_next().await? {
            each(Row::from_sqlx(&row)?)?;
        }
        Ok(())
    }

    async fn run_sqlx<'e, E>(self, e: E, limit: usize) -> Result<(Vec<Row>, u64)>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let args = self.sqlx_args()?;
        let q = sqlx::query_with(self.sql, args);
        if limit == 0 {
            return Ok((Vec::new(), q.execute(e).await?.rows_affected()));
        }
        let rows = match limit {
            1 => q.fetch_optional(e).await?.into_iter().collect(),
            _ => q.fetch_all(e).await?,
        };
        Ok((rows.iter().map(Row::from_sqlx).collect::<Result<_>>()?, 0))
    }
}

fn run_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param],
    limit: usize,
) -> Result<(Vec<Row>, u64)> {
    let mut out = Vec::new();
    let changed = sqlite_rows(conn, sql, params, &mut |row| {
        if out.len() < limit {
            out.push(row);
        }
        Ok(out.len() < limit)
    })?;
    Ok((out, changed))
}

/// Runs a statement, handing its rows to `each` until it answers false; the rows changed.
fn sqlite_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param],
    each: &mut dyn FnMut(Row) -> Result<bool>,
) -> Result<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    for i in 1..=stmt.parameter_count() {
        // `$n` names its parameter; SQLite numbers a name once, where it first appears.
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(i);
        let value = n
            .checked_sub(1)
            .and_then(|i| params.get(i))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("statement parameter ${n} is not bound: {sql}"))
            })?;
        stmt.raw_bind_parameter(i, value)?;
    }
    if stmt.column_count() == 0 {
        return Ok(stmt.raw_execute()? as u64);
    }
    let names: Arc<[String]> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let mut rows = stmt.raw_query();
    loop {
        let Some(row) = rows.next()? else { break };
        let values = (0..names.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?
                            .to_owned(),
                    ),
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "column {} holds a {:?}",
                            names[i],
                            other.data_type()
                        )))
                    }
                })
            })
            .collect::<Result<_>>()?;
        let row = Row {
            names: names.clone(),
            values,
        };
        if !each(row)? {
            break;
        }
    }
    Ok(0)
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(Some(v)) => ToSqlOutput::Owned(SqlValue::Integer(*v)),
            Param::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Int(None) | Param::Text(None) => ToSqlOutput::Owned(SqlValue::Null),
        })
    }
}

/// A value read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// A row, its values by column name.
#[derive(Debug)]
pub(crate) struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values` by `names`, as a query would read it.
    #[cfg(test)]
    pub(crate) fn new(names: &[&str], values: Vec<Value>) -> Self {
        let names = names.iter().map(|n| (*n).to_owned()).collect();
        Self { names, values }
    }

    fn from_sqlx(row: &AnyRow) -> Result<Self> {
        let names: Arc<[String]> = row.columns().iter().map(|c| c.name().to_owned()).collect();
        let values = (0..names.len())
            .map(|i| {
                let raw = row.try_get_raw(i)?;
                if raw.is_null() {
                    return Ok(Value::Null);
                }
                let ty = raw.type_info();
                if ty.kind().is_integer() {
                    Ok(Value::Int(row.try_get::<i64, _>(i)?))
                } else if ty.kind() == AnyTypeInfoKind::Bool {
                    Ok(Value::Int(i64::from(row.try_get::<bool, _>(i)?)))
                } else {
                    Ok(Value::Text(row.try_get::<String, _>(i)?))
                }
            })
            .collect::<Result<_>>()?;
        Ok(Self { names, values })
    }

    pub(crate) fn get(&self, col: &str) -> Result<&Value> {
        self.names
            .iter()
            .position(|n| n == col)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }
}

/// SQLite's read connections; a read runs on whichever is free.
pub(crate) struct Readers {
    conns: Vec<Mutex<rusqlite::Connection>>,
    next: AtomicUsize,
}

impl Readers {
    pub(crate) fn open(path: &Path, count: usize) -> Result<Self> {
        let conns = (0..count)
            .map(|_| open_sqlite(path).map(Mutex::new))
            .collect::<Result<_>>()?;
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> T) -> T {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let free = (0..n).find_map(|i| self.conns[(start + i) % n].try_lock().ok());
        let mut conn = free.unwrap_or_else(|| lock(&self.conns[start % n]));
        f(&mut conn)
    }
}

/// A lock; a panic while it was held left what it guards usable (a connection, a queue).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The writer connection's lock. Only the holder of the writer (see
/// `group.rs`) takes it, and a statement never awaits while it holds it, so
/// it is never contended: debug builds panic when it is, for then two tasks
/// would be using the one write transaction.
pub(crate) fn lock_writer(
    conn: &Mutex<rusqlite::Connection>,
) -> MutexGuard<'_, rusqlite::Connection> {
    match conn.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            if cfg!(debug_assertions) {
                panic!("the writer connection is in use by another task");
            }
            lock(conn)
        }
    }
}

/// Opens the database file with the settings every connection shares.
pub(crate) fn open_sqlite(path: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    // FULL here, which the readers and the checkpointer keep (they commit
    // nothing). The writer lowers it to NORMAL: its commits are synced by a
    // thread of their own before they answer, as FULL would sync them
    // (`GroupWriter::start` in group.rs).
    // temp_store=MEMORY: the undo copies savepoints keep (each write transaction
    // is one in a group commit) stay in memory instead of a temporary file.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; \
         PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The file a `sqlite:` URL names (`sqlite://FILE`, `sqlite:FILE`, with or without `?options`).
pub(crate) fn sqlite_path(url: &str) -> &Path {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Path::new(rest.split('?').next().unwrap_or(rest))
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Self::Duplicate
            }
            _ => Self::Sqlite(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file() {
        assert_eq!(sqlite_path("sqlite://data/x.db"), Path::new("data/x.db"));
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Path::new("/tmp/x.db")
        );
        assert_eq!(sqlite_path("sqlite:x.db"), Path::new("x.db"));
    }

    #[test]
    fn numbered_parameters_bind_by_number_wherever_they_appear() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let (rows, _) = run_sqlite(
            &conn,
            "SELECT $2 AS b, $1 AS a, $2 || $1 AS ba",
            &["x".into(), "y".into()],
            usize::MAX,
        )
        .unwrap();
        assert_eq!(rows[0].get("b").unwrap(), &Value::Text("y".into()));
        assert_eq!(rows[0].get("a").unwrap(), &Value::Text("x".into()));
        assert_eq!(rows[0].get("ba").unwrap(), &Value::Text("yx".into()));
    }

    #[test]
    fn a_unique_violation_is_a_duplicate() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        run_sqlite(&conn, "INSERT INTO t (k) VALUES ($1)", &["a".into()], 0).unwrap();
        let again = run_sqlite(&conn, "INSERT INTO t (k) VALUES ($1)", &["a".into()], 0);
        assert!(matches!(again, Err(StoreError::Duplicate)));
    }
}
