//! Writes gathered by a use case and applied together, all or nothing.
//!
//! A step that decides several writes (a reservation, the refund, what the
//! channel's answer makes of it) hands them on as one [`Writes`], so that the
//! balance changes among them run apart from the rest (see [`Tx::write`]), a
//! row inserted and changed is written once, and a floored change that is
//! refused undoes the others. What a batch did is a [`Written`]: a refusal
//! is an answer of the write, not an error.

use crate::db::{query, Param, Query};
use crate::ledger::BalanceChange;
use crate::{Backend, Result, StoreError, Tx};
use std::borrow::Cow;

/// One statement of a batch, with its parameters numbered from `$1`.
#[derive(Debug)]
struct Write {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    /// The row it inserts, when a later change of that row in the batch may
    /// be folded into it (see [`Writes::replace`]). A key of such a row
    /// found taken makes the batch [`Written::Existing`].
    row: Option<String>,
}

/// What a batch of writes did.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Every write of the batch stands.
    Applied,
    /// A floored debit of `account` was refused: none of the batch stands,
    /// and the transaction goes on.
    BelowFloor { account: String },
    /// The batch inserts a row whose key another transaction took meanwhile
    /// (a request id raced in on another payment). The transaction is
    /// spoiled, as PostgreSQL leaves it after a unique violation: drop it.
    Existing,
}

/// What an insert of a row with a business key found: the row is new, or
/// another request (or node) made one with that key first. Nothing is
/// refused and the transaction goes on.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    Existing,
}

impl Inserted {
    pub(crate) fn from_changed(changed: u64) -> Self {
        if changed == 0 {
            Self::Existing
        } else {
            Self::New
        }
    }

    /// For a row under a fresh key: finding it taken is an error, not an answer.
    pub fn must_be_new(self) -> Result<()> {
        match self {
            Self::New => Ok(()),
            Self::Existing => Err(StoreError::Duplicate),
        }
    }
}

impl Written {
    /// For a batch that nothing may refuse: a refusal means the stored
    /// balances or rows disagree with what the caller read under its locks.
    pub fn must_stand(self) -> Result<()> {
        match self {
            Self::Applied => Ok(()),
            Self::BelowFloor { account } => Err(StoreError::Corrupt(format!(
                "{account} refused a change that cannot go below its floor"
            ))),
            Self::Existing => Err(StoreError::Corrupt(
                "a row written under its lock exists already".into(),
            )),
        }
    }
}

/// Writes that need no answer but whether they changed their rows, applied
/// all or nothing by [`Tx::write`].
#[derive(Debug, Default)]
pub struct Writes {
    writes: Vec<Write>,
    /// Running balances changed, in order; they run apart from the other writes.
    balances: Vec<BalanceChange>,
}

impl Writes {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, sql: impl Into<Cow<'static, str>>, params: Vec<Param>) {
        self.writes.push(Write {
            sql: sql.into(),
            params,
            row: None,
        });
    }

    /// An insert of `row`, which a later [`Writes::replace`] may take the place of.
    pub(crate) fn push_insert(&mut self, row: String, sql: &'static str, params: Vec<Param>) {
        self.writes.push(Write {
            sql: sql.into(),
            params,
            row: Some(row),
        });
    }

    /// Puts a new insert of `row` (its `params`) in place of the batch's
    /// insert of it, so that a row created and changed in one batch is
    /// written once. False when the batch does not insert `row`.
    pub(crate) fn replace(&mut self, row: &str, params: impl FnOnce() -> Vec<Param>) -> bool {
        self.writes
            .iter_mut()
            .find(|w| w.row.as_deref() == Some(row))
            .map(|insert| insert.params = params())
            .is_some()
    }

    /// A change of a running balance. It is folded into the batch's last
    /// change of the same balance when neither can be refused: a refund that
    /// reserves and settles at once leaves its reserved balance as it was,
    /// and changes it not at all.
    pub(crate) fn change_balance(&mut self, change: BalanceChange) {
        let last = self
            .balances
            .iter_mut()
            .rev()
            .find(|b| b.same_balance(&change));
        match last {
            Some(last) if !last.refusable() && !change.refusable() => last.absorb(change),
            _ => self.balances.push(change),
        }
    }
}

/// Savepoint around a batch with floored statements, so that a refusal undoes the statements already run.
const SAVEPOINT: &str = "SAVEPOINT writes";
const ROLLBACK: &str = "ROLLBACK TO SAVEPOINT writes";
const RELEASE: &str = "RELEASE SAVEPOINT writes";

impl Tx {
    /// Applies a batch, all or nothing: when a floored balance change is
    /// refused, none of the batch stays and it answers [`Written::BelowFloor`].
    ///
    /// Balance changes keep their order among themselves. On PostgreSQL they
    /// run last: a changed row stays locked until the transaction commits,
    /// and the balance rows are the ones every transaction of a merchant
    /// needs. On SQLite, where nothing else writes meanwhile, they run first,
    /// so that a refusal usually comes before anything it would have to undo.
    pub async fn write(&mut self, writes: Writes) -> Result<Written> {
        let balances = writes
            .balances
            .into_iter()
            .filter(|b| !b.is_empty())
            .map(|b| {
                let refusable = b.refusable().then(|| b.account().to_owned());
                let (sql, params) = b.statement();
                (Cow::Borrowed(sql), params, refusable, false)
            });
        let others = writes
            .writes
            .into_iter()
            .map(|w| (w.sql, w.params, None, w.row.is_some()));
        let ordered: Vec<_> = match self.backend {
            Backend::Postgres => others.chain(balances).collect(),
            Backend::Sqlite => balances.chain(others).collect(),
        };
        // A refusal stops the batch: only one after other writes has anything to undo.
        // The savepoint of a batch that stands is released with the transaction.
        let guarded = ordered
            .iter()
            .skip(1)
            .any(|(_, _, floor_of, _)| floor_of.is_some());
        if guarded {
            query(SAVEPOINT).execute(self.conn()).await?;
        }
        for (sql, params, floor_of, keyed) in ordered {
            let changed = match Query::new(&sql, params).execute(self.conn()).await {
                Err(StoreError::Duplicate) if keyed => return Ok(Written::Existing),
                changed => changed?,
            };
            if let Some(account) = floor_of.filter(|_| changed == 0) {
                if guarded {
                    query(ROLLBACK).execute(self.conn()).await?;
                    query(RELEASE).execute(self.conn()).await?;
                }
                return Ok(Written::BelowFloor { account });
            }
        }
        Ok(Written::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::Writes;
    use crate::Floors;
    use backflow_domain::ledger::{refund_released, refund_reserved, refund_settled};
    use backflow_domain::{ClientId, Money, Timestamp};

    fn usd(minor: i64) -> Money {
        Money::new(backflow_domain::Currency::parse("USD").expect("USD"), minor)
    }

    /// (account, amount) of each balance statement the batch will run.
    fn balances(writes: &Writes) -> Vec<(String, i64)> {
        writes
            .balances
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| (b.account().to_owned(), b.amount()))
            .collect()
    }

    #[test]
    fn a_refund_reserved_and_settled_at_once_leaves_its_reserved_balance_alone() {
        let m = ClientId::parse("M1").expect("client id");
        let now = Timestamp::from_millis(0);
        let mut writes = Writes::new();
        writes.post(
            &refund_reserved(&m, "r1", usd(500)),
            "p1",
            now,
            Floors::enforced(0),
        );
        let settled = refund_settled(&m, "r1", usd(500), usd(500), usd(500), 0);
        writes.post(
            &settled,
            "p2",
            now,
            Floors {
                overdraft_minor: 0,
                enforce: false,
            },
        );
        // Scheme clearing, without a floor, keeps no running balance.
        assert_eq!(
            balances(&writes),
            [("merchant:M1:available".to_owned(), -500)]
        );
    }

    /// A refusable debit sees exactly the balance it would have seen
    /// unnetted: nothing after it is folded into a change before it.
    #[test]
    fn no_change_is_folded_across_a_refusable_debit() {
        let m = ClientId::parse("M1").expect("client id");
        let now = Timestamp::from_millis(0);
        let mut writes = Writes::new();
        let unenforced = Floors {
            overdraft_minor: 0,
            enforce: false,
        };
        writes.post(&refund_released(&m, "r0", usd(300)), "p0", now, unenforced);
        writes.post(
            &refund_reserved(&m, "r1", usd(500)),
            "p1",
            now,
            Floors::enforced(0),
        );
        writes.post(&refund_released(&m, "r1", usd(500)), "p2", now, unenforced);
        assert_eq!(
            balances(&writes),
            [
                ("merchant:M1:reserved".to_owned(), -300),
                ("merchant:M1:available".to_owned(), 300),
                ("merchant:M1:available".to_owned(), -500),
                ("merchant:M1:available".to_owned(), 500),
            ]
        );
    }
}
