//! Writes gathered by a use case and applied together, all or nothing.
//!
//! A step that decides several writes (a reservation, the refund, what the
//! channel's answer makes of it) hands them on as one [`Writes`], so that the
//! balance changes among them can run last (see [`Tx::write`]) and a floored
//! one that is refused undoes the others.

use crate::db::{query, Param, Query};
use crate::{Result, StoreError, Tx};
use std::borrow::Cow;

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
        // A refusal stops the batch: only one after other writes has anything to undo.
        // The savepoint of a batch that stands is released with the transaction.
        let guarded = writes.iter().skip(1).any(|w| w.floor_of.is_some());
        if guarded {
            query(SAVEPOINT).execute(self.conn()).await?;
        }
        for w in writes {
            let changed = Query::new(&w.sql, w.params).execute(self.conn()).await?;
            if let Some(account) = w.floor_of.filter(|_| changed == 0) {
                if guarded {
                    query(ROLLBACK).execute(self.conn()).await?;
                    query(RELEASE).execute(self.conn()).await?;
                }
                return Err(StoreError::BelowFloor { account });
            }
        }
        Ok(())
    }
}
