//! Storage: one interface, two backends.
//!
//! The schema is written in the SQL that SQLite and PostgreSQL share, and every
//! query runs unchanged on both through sqlx's `Any` driver. What differs is
//! isolated in [`Backend`]: SQLite gets one writer connection (so write
//! transactions are serialised by construction) and a pool of readers; on
//! PostgreSQL every node shares one pool and money is serialised by row locks
//! (`SELECT … FOR UPDATE`).

mod fx;
mod jobs;
mod ledger;
mod merchants;
mod outbox;
mod payments;
mod refunds;
mod reports;
mod sandbox;

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

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
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
    writer: AnyPool,
    reader: AnyPool,
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
            let writer = sqlite_pool(&url, 1).await?;
            let reader = sqlite_pool(&url, 4).await?;
            Self {
                backend: Backend::Sqlite,
                writer,
                reader,
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Self {
                backend: Backend::Postgres,
                writer: pool.clone(),
                reader: pool,
            }
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        MIGRATOR.run(&store.writer).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction: one use case, one transaction.
    pub async fn begin(&self) -> Result<Tx> {
        let tx = match self.backend {
            // IMMEDIATE takes the write lock up front, so a transaction never
            // fails half-way because another process wrote first.
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(Tx {
            tx,
            backend: self.backend,
        })
    }

    /// A connection for reads that need no lock.
    fn read(&self) -> &AnyPool {
        &self.reader
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

async fn sqlite_pool(url: &str, max: u32) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // FULL: a commit is on disk before the refund's answer is sent.
                for pragma in [
                    "PRAGMA journal_mode=WAL",
                    "PRAGMA synchronous=FULL",
                    "PRAGMA busy_timeout=10000",
                    "PRAGMA foreign_keys=ON",
                ] {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls it back.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
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
