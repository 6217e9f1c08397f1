//! Storage: one interface, two backends.
//!
//! The schema is written in the SQL that SQLite and PostgreSQL share, and every
//! query runs unchanged on both (`db.rs`: rusqlite in-thread for SQLite, sqlx
//! for PostgreSQL). What differs is isolated in [`Backend`]: SQLite gets one
//! writer connection (so write transactions are serialised by construction,
//! and committed in groups, see `group.rs`) and a few readers; on PostgreSQL
//! every node shares one pool and money is serialised by row locks
//! (`SELECT … FOR UPDATE`).

mod day_report;
mod db;
mod fx;
mod gauges;
mod group;
mod jobs;
mod ledger;
mod merchants;
mod outbox;
mod payments;
mod portal;
mod refunds;
mod reports;
mod sandbox;
mod settlement;
mod writes;

pub use day_report::{DayRow, DayRowKind};
pub use fx::FxRate;
pub use gauges::{Gauges, PoolGauges, LATE_AFTER_MS};
pub use jobs::Job;
pub use ledger::{BalanceRow, Floors, LedgerBreach};
pub use merchants::{MerchantKeys, NewMerchant};
pub use outbox::{
    AttemptResult, AttemptRow, ClaimRequest, NewNotification, NotificationFilter, NotificationKind,
    NotificationRow, NotificationStatus, ResendOutcome,
};
pub use payments::{Capture, PaymentKey};
pub use portal::{
    PortalSessionRow, PortalUserRow, PostingRow, RefundDay, RefundFormRow, TransactionCursor,
    TransactionFilter, TransactionRow,
};
pub use refunds::{RefundKey, RefundTotals};
pub use reports::{ReportTransaction, TransactionKind};
pub use writes::{Inserted, Writes, Written};

use db::{query, Db, Readers, Row, Value};
pub use group::WriterSettings;
pub use settlement::SettlementBatch;

use group::{GroupWriter, Unit};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection};
use std::sync::Arc;
use std::time::Duration;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// What a read must add to lock the rows it reads until the transaction ends.
    /// SQLite needs nothing: its single writer connection already serialises writes.
    fn lock_clause(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// What a read of work to claim adds so that concurrent claimers take
    /// disjoint rows instead of waiting for each other (outbox claims).
    fn skip_locked_clause(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a record with this key exists already")]
    Duplicate,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("the transaction's group commit failed: {0}")]
    GroupCommit(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// SQLite's writer has as many write transactions waiting as it allows
    /// ([`WriterSettings::queue`]): nothing was written; the caller may retry.
    #[error("the writer is busy: {waiting} write transactions wait for it")]
    Busy { waiting: usize },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate,
            _ => Self::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store: a writer for transactions and readers for inquiries.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    connections: Connections,
}

#[derive(Clone)]
enum Connections {
    /// PostgreSQL: transactions and reads from one pool, transactions
    /// serialised by row locks.
    Postgres(AnyPool),
    /// SQLite: units of work on the one writer connection, committed in
    /// groups, and reads on their own connections.
    Sqlite {
        writer: Arc<GroupWriter>,
        readers: Arc<Readers>,
    },
}

/// SQLite connections for reads: reads are short and run on the asking
/// task, so a few serve both runtime threads and the blocking ones.
const SQLITE_READERS: usize = 4;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `url` (`sqlite://FILE` or `postgres://…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, WriterSettings::default()).await
    }

    /// As [`Store::connect`], with SQLite's writer shared as `writer` says
    /// (PostgreSQL has no such writer: its pool bounds its connections).
    pub async fn connect_with(url: &str, writer: WriterSettings) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let path = db::sqlite_path(url);
            // Creates the file in WAL mode before sqlx migrates it.
            let conn = db::open_sqlite(path)?;
            let mut migrations =
                AnyConnection::connect(&format!("sqlite://{}", path.display())).await?;
            MIGRATOR.run(&mut migrations).await?;
            migrations.close().await?;
            Self {
                backend: Backend::Sqlite,
                connections: Connections::Sqlite {
                    writer: Arc::new(GroupWriter::start(conn, path, writer)?),
                    readers: Arc::new(Readers::open(path, SQLITE_READERS)?),
                },
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            MIGRATOR.run(&pool).await?;
            Self {
                backend: Backend::Postgres,
                connections: Connections::Postgres(pool),
            }
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(store)
    }

    /// PostgreSQL's pool occupancy; SQLite has one writer and fixed readers.
    pub fn pool_gauges(&self) -> Option<PoolGauges> {
        match &self.connections {
            Connections::Postgres(pool) => {
                let open = pool.size();
                let idle = u32::try_from(pool.num_idle()).unwrap_or(open);
                Some(PoolGauges {
                    open,
                    in_use: open.saturating_sub(idle),
                })
            }
            Connections::Sqlite { .. } => None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction: one use case, one transaction. On SQLite
    /// it holds the one writer until it ends, so a use case awaits nothing
    /// but its own statements in it; when the queue for the writer is full it
    /// fails at once with [`StoreError::Busy`] (see `group.rs`).
    pub async fn begin(&self) -> Result<Tx> {
        let work = match &self.connections {
            Connections::Postgres(pool) => Work::Pooled(pool.begin().await?),
            Connections::Sqlite { writer, .. } => Work::Unit(writer.begin().await?),
        };
        Ok(Tx {
            work,
            backend: self.backend,
        })
    }

    /// Runs `read`, whose answer reports what is stored (a refund, a
    /// payment), and returns once what it saw is on disk: on SQLite readers
    /// see a group committed before its WAL is synced (see `group.rs`).
    async fn durable_read<T>(
        &self,
        read: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let value = read.await?;
        if let Connections::Sqlite { writer, .. } = &self.connections {
            writer.durable(writer.seen()).await?;
        }
        Ok(value)
    }

    /// Answers once the database does: one cheap query, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        query("SELECT 1 AS one").fetch_one(self.read()).await?;
        Ok(())
    }

    /// Where reads that need no lock run.
    fn read(&self) -> Db<'_> {
        match &self.connections {
            Connections::Postgres(pool) => Db::PostgresPool(pool),
            Connections::Sqlite { readers, .. } => Db::SqliteReaders(readers),
        }
    }

    /// Commits what is written and closes the connections.
    pub async fn close(&self) {
        match &self.connections {
            Connections::Postgres(pool) => pool.close().await,
            // SQLite's connections close when the last handle goes.
            Connections::Sqlite { writer, .. } => writer.flush().await,
        }
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls it back.
pub struct Tx {
    work: Work,
    backend: Backend,
}

enum Work {
    Pooled(sqlx::Transaction<'static, sqlx::Any>),
    Unit(Unit),
}

impl Tx {
    /// Commits; on SQLite, returns once the group holding the transaction is on disk.
    pub async fn commit(self) -> Result<()> {
        match self.work {
            Work::Pooled(tx) => Ok(tx.commit().await?),
            Work::Unit(unit) => unit.commit().await,
        }
    }

    fn conn(&mut self) -> Db<'_> {
        match &mut self.work {
            Work::Pooled(tx) => Db::Postgres(tx),
            Work::Unit(unit) => Db::Sqlite(unit.conn()),
        }
    }
}

fn get_str(row: &Row, col: &str) -> Result<String> {
    get_opt_str(row, col)?.ok_or_else(|| corrupt(format!("{col} is NULL")))
}

fn get_opt_str(row: &Row, col: &str) -> Result<Option<String>> {
    match row.get(col)? {
        Value::Null => Ok(None),
        Value::Text(s) => Ok(Some(s.clone())),
        Value::Int(_) => Err(corrupt(format!("{col} holds a number, not text"))),
    }
}

fn get_i64(row: &Row, col: &str) -> Result<i64> {
    get_opt_i64(row, col)?.ok_or_else(|| corrupt(format!("{col} is NULL")))
}

fn get_opt_i64(row: &Row, col: &str) -> Result<Option<i64>> {
    match row.get(col)? {
        Value::Null => Ok(None),
        Value::Int(v) => Ok(Some(*v)),
        Value::Text(_) => Err(corrupt(format!("{col} holds text, not a number"))),
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::{Store, WriterSettings};
    use std::path::{Path, PathBuf};

    /// A store on a fresh database file, and the file.
    pub(crate) async fn scratch(name: &str) -> (Store, PathBuf) {
        scratch_with(name, WriterSettings::default()).await
    }

    /// As [`scratch`], with SQLite's writer shared as `settings` says.
    pub(crate) async fn scratch_with(name: &str, settings: WriterSettings) -> (Store, PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "backflow-{name}-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let store = Store::connect_with(&format!("sqlite://{}", path.display()), settings)
            .await
            .expect("store");
        (store, path)
    }

    pub(crate) fn remove(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
