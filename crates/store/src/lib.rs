//! Storage: one interface, two backends.
//!
//! The schema is written in the SQL that SQLite and PostgreSQL share, and every
//! query runs unchanged on both through sqlx's `Any` driver. What differs is
//! isolated in [`Backend`]: SQLite gets one writer connection (so write
//! transactions are serialised by construction, and committed in groups, see
//! `group.rs`) and a pool of readers; on PostgreSQL every node shares one pool
//! and money is serialised by row locks (`SELECT … FOR UPDATE`).

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
mod writes;

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
pub use writes::Writes;

use group::{GroupWriter, Unit};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};
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
    writer: Writer,
    reader: AnyPool,
}

/// Where write transactions run.
#[derive(Clone)]
enum Writer {
    /// PostgreSQL: transactions from the shared pool, serialised by row locks.
    Pool(AnyPool),
    /// SQLite: units of work on the one writer connection, committed in groups.
    Group(Arc<GroupWriter>),
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `url` (`sqlite://FILE` or `postgres://…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let url = if url.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            let mut writer = AnyConnection::connect(&url).await?;
            sqlite_pragmas(&mut writer).await?;
            MIGRATOR.run(&mut writer).await?;
            let reader = sqlite_readers(&url).await?;
            Self {
                backend: Backend::Sqlite,
                writer: Writer::Group(Arc::new(GroupWriter::start(writer))),
                reader,
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
                writer: Writer::Pool(pool.clone()),
                reader: pool,
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
        let work = match &self.writer {
            Writer::Pool(pool) => Work::Pooled(pool.begin().await?),
            Writer::Group(group) => Work::Unit(group.begin().await?),
        };
        Ok(Tx {
            work,
            backend: self.backend,
        })
    }

    /// A connection for reads that need no lock.
    fn read(&self) -> &AnyPool {
        &self.reader
    }

    /// Commits what is written and closes the connections.
    pub async fn close(&self) {
        match &self.writer {
            Writer::Pool(pool) => pool.close().await,
            Writer::Group(group) => group.flush().await,
        }
        self.reader.close().await;
    }
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // FULL: a commit is on disk before the refund's answer is sent.
    // temp_store=MEMORY: the undo copies savepoints keep (each write transaction
    // is one in a group commit) stay in memory instead of a temporary file.
    for pragma in [
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA temp_store=MEMORY",
        "PRAGMA busy_timeout=10000",
        "PRAGMA foreign_keys=ON",
    ] {
        conn.execute(pragma).await?;
    }
    Ok(())
}

async fn sqlite_readers(url: &str) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        // A local file does not go away like a server: no ping (a round trip to
        // the connection's thread) before each read.
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)))
        .connect(url)
        .await?)
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

    fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.work {
            Work::Pooled(tx) => tx,
            Work::Unit(unit) => unit.conn(),
        }
    }
}

fn get_str(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

fn get_i64(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
