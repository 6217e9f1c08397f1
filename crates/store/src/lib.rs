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
mod group;
mod jobs;
mod ledger;
mod merchants;
mod outbox;
mod payments;
mod refunds;
mod reports;
mod sandbox;
mod settlement;
mod writes;

pub use day_report::{DayRow, DayRowKind};
pub use fx::FxRate;
pub use jobs::Job;
pub use ledger::{BalanceRow, Floors, LedgerBreach};
pub use merchants::{MerchantKeys, NewMerchant};
pub use outbox::{
    AttemptResult, AttemptRow, ClaimRequest, NewNotification, NotificationFilter, NotificationKind,
    NotificationRow, NotificationStatus, ResendOutcome,
};
pub use payments::{Capture, PaymentKey};
pub use refunds::{RefundKey, RefundTotals};
pub use reports::{ReportTransaction, TransactionKind};
pub use settlement::SettlementBatch;
pub use writes::Writes;

use db::{Db, Readers, Row, Value};
use group::{GroupWriter, Unit};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

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
    #[error("account {account} cannot go below its floor")]
    BelowFloor { account: String },
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("the transaction's group commit failed: {0}")]
    GroupCommit(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
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
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let path = db::sqlite_path(url);
            // Creates the file in WAL mode before sqlx migrates it.
            let writer = db::open_sqlite(path)?;
            let mut migrations =
                AnyConnection::connect(&format!("sqlite://{}", path.display())).await?;
            MIGRATOR.run(&mut migrations).await?;
            migrations.close().await?;
            Self {
                backend: Backend::Sqlite,
                connections: Connections::Sqlite {
                    writer: Arc::new(GroupWriter::start(writer, path)?),
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

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction: one use case, one transaction.
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

    /// Runs `work` as one write transaction and answers once what it
    /// committed is on disk. `work` decides: [`Tx::commit`], or drop the
    /// transaction to roll it back. On SQLite the work is queued for the
    /// writer and run by the task holding it, back to back with the work
    /// queued beside it (see `group.rs`), so it must not wait on anything but
    /// its own statements, nor start another transaction; a caller gone
    /// before its work started leaves it unrun.
    pub async fn transact<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(Tx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Connections::Sqlite { writer, .. } = &self.connections else {
            return work(self.begin().await?).await;
        };
        let (answer, answered) = oneshot::channel();
        writer.submit(Box::new(QueuedWork { work, answer })).await;
        let (outcome, durability) = tokio::time::timeout(group::ACQUIRE_TIMEOUT, answered)
            .await
            .map_err(|_| group::writer_busy())?
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?;
        if let Some(durability) = durability {
            group::wait(durability).await?;
        }
        outcome
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

/// Work for SQLite's writer, and where its answer goes: the outcome, and
/// the wait for durability when it committed.
struct QueuedWork<F, T, E> {
    work: F,
    answer: oneshot::Sender<(Result<T, E>, Option<group::Durability>)>,
}

impl<T, E, F, Fut> group::Job for QueuedWork<F, T, E>
where
    F: FnOnce(Tx) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn wanted(&self) -> bool {
        !self.answer.is_closed()
    }

    fn run(
        self: Box<Self>,
        unit: Unit,
        handback: group::Handback,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let tx = Tx {
                work: Work::Unit(unit),
                backend: Backend::Sqlite,
            };
            let outcome = (self.work)(tx).await;
            let durability = db::lock(&handback).take();
            let _ = self.answer.send((outcome, durability));
        })
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.answer.send((Err(error.into()), None));
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
    use crate::Store;
    use std::path::{Path, PathBuf};

    /// A store on a fresh database file, and the file.
    pub(crate) async fn scratch(name: &str) -> (Store, PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "backflow-{name}-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
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
