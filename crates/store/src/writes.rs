//! Writes sent together.
//!
//! SQLite runs each statement on its connection's own thread, so every
//! statement costs a hand-over there and back (four context switches, the
//! larger part of a refund's CPU time in the profile). A [`Writes`] batch is
//! sent to SQLite as one multi-statement query: one hand-over for all of it.
//! PostgreSQL's protocol takes one statement at a time, so there the batch
//! runs statement by statement, as before.

use crate::{Backend, Result, StoreError, Tx};
use sqlx::any::AnyArguments;
use sqlx::AnyConnection;
use sqlx::{Arguments, Executor};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// A value bound to a statement of a batch.
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

/// One statement of a batch, with its parameters numbered from `$1`.
#[derive(Debug)]
struct Write {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    /// It changes a running balance: a row that many transactions change.
    balance: bool,
    /// When set, the statement must change a row or the whole batch is
    /// refused as [`StoreError::BelowFloor`] for this account.
    floor_of: Option<String>,
}

/// Writes that need no answer but whether they changed their rows, applied
/// all or nothing by [`Tx::write`].
#[derive(Debug, Default)]
pub struct Writes {
    writes: Vec<Write>,
}

impl Writes {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, sql: impl Into<Cow<'static, str>>, params: Vec<Param>) {
        self.writes.push(Write {
            sql: sql.into(),
            params,
            balance: false,
            floor_of: None,
        });
    }

    /// A change of a running balance; with `floor_of`, one that changes no
    /// row when that account's floor refuses it.
    pub(crate) fn push_balance(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
        floor_of: Option<String>,
    ) {
        self.writes.push(Write {
            sql: sql.into(),
            params,
            balance: true,
            floor_of,
        });
    }
}

/// Savepoint around a batch with floored statements, so that a refusal undoes the statements already run.
const SAVEPOINT: &str = "SAVEPOINT writes";
const ROLLBACK: &str = "ROLLBACK TO SAVEPOINT writes";
const RELEASE: &str = "RELEASE SAVEPOINT writes";
/// Both, in one multi-statement query for SQLite.
const UNDO: &str = "ROLLBACK TO SAVEPOINT writes; RELEASE SAVEPOINT writes";

impl Tx {
    /// Applies a batch, all or nothing: when a floored statement changes no
    /// row, none of the batch stays and it fails with [`StoreError::BelowFloor`].
    ///
    /// Balance changes run last, in the order they were added: on PostgreSQL
    /// a changed row stays locked until the transaction commits, and the
    /// balance rows are the ones every transaction of a merchant needs.
    pub async fn write(&mut self, writes: Writes) -> Result<()> {
        let (mut writes, balances): (Vec<Write>, Vec<Write>) =
            writes.writes.into_iter().partition(|w| !w.balance);
        writes.extend(balances);
        match self.backend {
            Backend::Sqlite => self.write_at_once(writes).await,
            Backend::Postgres => self.write_one_by_one(writes).await,
        }
    }

    async fn write_at_once(&mut self, writes: Vec<Write>) -> Result<()> {
        // The statements after a refused one run too: the savepoint undoes them.
        let guarded = writes.len() > 1 && writes.iter().any(|w| w.floor_of.is_some());
        let mut sql = String::new();
        let mut args = AnyArguments::default();
        if guarded {
            sql.push_str(SAVEPOINT);
            sql.push_str(";\n");
        }
        for w in &writes {
            renumber(&w.sql, args.len(), &mut sql);
            sql.push_str(";\n");
            for p in &w.params {
                add(&mut args, p)?;
            }
        }
        let changed = rows_changed(self.conn(), &sql, args).await?;
        // One result per statement; the savepoint's comes first.
        let changed = &changed[usize::from(guarded)..];
        let refused = writes
            .into_iter()
            .zip(changed)
            .find_map(|(w, n)| w.floor_of.filter(|_| *n == 0));
        if let Some(account) = refused {
            if guarded {
                sqlx::query(UNDO).execute(self.conn()).await?;
            }
            return Err(StoreError::BelowFloor { account });
        }
        // The savepoint of a batch that stands is released with the transaction.
        Ok(())
    }

    async fn write_one_by_one(&mut self, writes: Vec<Write>) -> Result<()> {
        // A refusal stops the batch: only one after other writes has anything to undo.
        // The savepoint of a batch that stands is released with the transaction.
        let guarded = writes.iter().skip(1).any(|w| w.floor_of.is_some());
        if guarded {
            sqlx::query(SAVEPOINT).execute(self.conn()).await?;
        }
        for w in writes {
            let mut args = AnyArguments::default();
            for p in &w.params {
                add(&mut args, p)?;
            }
            let changed = sqlx::query_with(&w.sql, args)
                .execute(self.conn())
                .await?
                .rows_affected();
            if let Some(account) = w.floor_of.filter(|_| changed == 0) {
                if guarded {
                    sqlx::query(ROLLBACK).execute(self.conn()).await?;
                    sqlx::query(RELEASE).execute(self.conn()).await?;
                }
                return Err(StoreError::BelowFloor { account });
            }
        }
        Ok(())
    }
}

/// What each statement of a multi-statement query changed. Boxed, so that
/// the stream's lifetimes stay inside and callers' futures remain `Send`.
fn rows_changed<'c>(
    conn: &'c mut AnyConnection,
    sql: &'c str,
    args: AnyArguments<'c>,
) -> Pin<Box<dyn Future<Output = Result<Vec<u64>>> + Send + 'c>> {
    Box::pin(async move {
        let mut results = conn.execute_many(sqlx::query_with(sql, args));
        let mut changed = Vec::new();
        while let Some(result) = std::future::poll_fn(|cx| results.as_mut().poll_next(cx)).await {
            changed.push(result?.rows_affected());
        }
        Ok(changed)
    })
}

fn add(args: &mut AnyArguments<'_>, p: &Param) -> Result<()> {
    match p {
        Param::Int(v) => args.add(*v),
        Param::Text(v) => args.add(v.clone()),
    }
    .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))
}

/// Appends `sql` with each `$n` parameter renumbered `$(n + offset)`: the
/// statements of one multi-statement query share one parameter list.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            out.push_str(&(n + offset).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn parameters_are_renumbered_past_earlier_statements() {
        let mut out = String::new();
        renumber("UPDATE t SET a = $1 WHERE b = $2 AND c = $10", 3, &mut out);
        assert_eq!(out, "UPDATE t SET a = $4 WHERE b = $5 AND c = $13");
        out.clear();
        renumber("SELECT '$' || $1", 0, &mut out);
        assert_eq!(out, "SELECT '$' || $1");
    }
}
