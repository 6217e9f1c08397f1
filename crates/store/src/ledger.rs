//! The ledger: postings, their legs, and running balances with floors.

use crate::db::{query, Param, Row};
use crate::{get_i64, get_opt_i64, get_str, Result, Store, Tx, Writes, Written};
use backflow_domain::ledger::{Account, Posting};
use backflow_domain::{ClientId, Timestamp};

/// One account's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub account: String,
    pub currency: String,
    pub balance: i64,
    pub floor: Option<i64>,
}

/// A broken ledger invariant, as found by [`Store::check_ledger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerBreach {
    /// The legs of all postings in a currency do not sum to zero.
    Unbalanced { currency: String, sum: i64 },
    /// A stored balance differs from the sum of its legs.
    BalanceDrift {
        account: String,
        currency: String,
        stored: i64,
        legs: i64,
    },
    /// A balance is below its floor.
    BelowFloor {
        account: String,
        currency: String,
        balance: i64,
        floor: i64,
    },
    /// A merchant's reserved balance differs from what its processing refunds hold.
    ReservedDrift {
        account: String,
        currency: String,
        reserved: i64,
        held: i64,
    },
    /// A payment's live refunds exceed what it paid or captured.
    OverRefunded {
        payment_id: String,
        refunded: i64,
        refundable: i64,
    },
}

impl std::fmt::Display for LedgerBreach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unbalanced { currency, sum } => {
                write!(f, "legs in {currency} sum to {sum}, not 0")
            }
            Self::BalanceDrift {
                account,
                currency,
                stored,
                legs,
            } => {
                write!(
                    f,
                    "{account} {currency}: balance {stored} but its legs sum to {legs}"
                )
            }
            Self::BelowFloor {
                account,
                currency,
                balance,
                floor,
            } => {
                write!(
                    f,
                    "{account} {currency}: balance {balance} is below its floor {floor}"
                )
            }
            Self::ReservedDrift {
                account,
                currency,
                reserved,
                held,
            } => {
                write!(
                    f,
                    "{account} {currency}: reserved {reserved} but processing refunds hold {held}"
                )
            }
            Self::OverRefunded {
                payment_id,
                refunded,
                refundable,
            } => {
                write!(
                    f,
                    "payment {payment_id}: refunds {refunded} exceed {refundable}"
                )
            }
        }
    }
}

/// How a posting treats account floors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floors {
    /// The merchant's contracted overdraft: its available balance may go this far below zero.
    pub overdraft_minor: i64,
    /// Refuse a debit that would cross a floor. Off only for money that has
    /// already moved outside (a refund settled at a dearer rate than it held).
    pub enforce: bool,
}

impl Floors {
    pub fn enforced(overdraft_minor: i64) -> Self {
        Self {
            overdraft_minor,
            enforce: true,
        }
    }

    fn of(&self, account: &Account) -> Option<i64> {
        match account {
            Account::MerchantAvailable(_) => Some(-self.overdraft_minor),
            other => other.default_floor(),
        }
    }
}

/// A balance change whose floor check is part of the statement, so that
/// concurrent debits of one balance cannot both pass it. The stored floor
/// follows the contract. Parameters: amount, account, currency, floor, enforce.
const UPDATE_BALANCE: &str = "UPDATE ledger_balances SET balance = balance + $1, floor = $4 \
     WHERE account = $2 AND currency = $3 AND ($5 = 0 OR $1 >= 0 OR balance + $1 >= $4)";

/// [`UPDATE_BALANCE`], creating the balance when the account has none yet.
const UPSERT_BALANCE: &str = "INSERT INTO ledger_balances (account, currency, balance, floor) VALUES ($2, $3, $1, $4) \
     ON CONFLICT (account, currency) DO UPDATE SET balance = ledger_balances.balance + $1, floor = $4 \
     WHERE $5 = 0 OR $1 >= 0 OR ledger_balances.balance + $1 >= $4";

/// What one leg (or several of one batch) does to the running balance of an
/// account with a floor.
#[derive(Debug)]
pub(crate) struct BalanceChange {
    account: String,
    currency: &'static str,
    amount: i64,
    floor: i64,
    enforce: bool,
}

impl BalanceChange {
    /// A debit the account's floor may refuse.
    pub(crate) fn refusable(&self) -> bool {
        self.enforce && self.amount < 0
    }

    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    #[cfg(test)]
    pub(crate) fn amount(&self) -> i64 {
        self.amount
    }

    pub(crate) fn same_balance(&self, other: &Self) -> bool {
        self.account == other.account && self.currency == other.currency
    }

    /// Takes in a later change of the same balance; neither may be refusable.
    pub(crate) fn absorb(&mut self, later: Self) {
        self.amount += later.amount;
        self.floor = later.floor;
        self.enforce = later.enforce;
    }

    /// Changes nothing (legs that cancel out within a batch).
    pub(crate) fn is_empty(&self) -> bool {
        self.amount == 0
    }

    pub(crate) fn statement(&self) -> (&'static str, Vec<Param>) {
        // A debit below the floor of a fresh balance is refused whether or
        // not the balance exists yet, so it never creates one.
        let sql = match self.enforce && self.amount < self.floor {
            true => UPDATE_BALANCE,
            false => UPSERT_BALANCE,
        };
        let params = vec![
            self.amount.into(),
            self.account.as_str().into(),
            self.currency.into(),
            self.floor.into(),
            i64::from(self.enforce).into(),
        ];
        (sql, params)
    }
}

impl Writes {
    /// Adds a balanced posting: its row, its legs and its balance changes. A
    /// debit that would take a floored account below its floor refuses the
    /// whole batch: [`Written::BelowFloor`] (see [`Tx::write`]).
    pub fn post(&mut self, posting: &Posting, posting_id: &str, now: Timestamp, floors: Floors) {
        assert!(posting.is_balanced(), "unbalanced posting {posting:?}");
        let mut legs_sql = String::from(
            "INSERT INTO ledger_legs (posting_id, leg_no, account, currency, amount) VALUES ",
        );
        let mut legs = Vec::with_capacity(posting.legs.len() * 5);
        for (i, leg) in posting.legs.iter().enumerate() {
            let account = leg.account.key();
            let currency = leg.currency.code();
            let n = legs.len();
            if i > 0 {
                legs_sql.push_str(", ");
            }
            legs_sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            ));
            legs.extend([
                posting_id.into(),
                (i as i64).into(),
                account.as_str().into(),
                currency.into(),
                leg.amount.into(),
            ]);
            // Only accounts with a floor keep a running balance: it is there
            // to check debits against the floor. The others (scheme clearing,
            // the FX position, commission, funding) are changed by every
            // merchant's payments and refunds, and a row for each would be
            // locked by all of them in turn on PostgreSQL; their balance is
            // the sum of their legs.
            if let Some(floor) = floors.of(&leg.account) {
                self.change_balance(BalanceChange {
                    account,
                    currency,
                    amount: leg.amount,
                    floor,
                    enforce: floors.enforce,
                });
            }
        }
        self.push(
            "INSERT INTO ledger_postings (posting_id, kind, reference, created_at) VALUES ($1, $2, $3, $4)",
            vec![
                posting_id.into(),
                posting.kind.as_str().into(),
                posting.reference.as_str().into(),
                now.millis().into(),
            ],
        );
        if !posting.legs.is_empty() {
            self.push(legs_sql, legs);
        }
    }
}

impl Tx {
    /// Applies a balanced posting, all or nothing: a debit that would take a
    /// floored account below its floor answers [`Written::BelowFloor`] and
    /// leaves no trace in the transaction.
    pub async fn post(
        &mut self,
        posting: &Posting,
        posting_id: &str,
        now: Timestamp,
        floors: Floors,
    ) -> Result<Written> {
        let mut writes = Writes::new();
        writes.post(posting, posting_id, now, floors);
        self.write(writes).await
    }
}

impl Store {
    /// A merchant's balances: both its books, every currency.
    pub async fn merchant_balances(&self, merchant: &ClientId) -> Result<Vec<BalanceRow>> {
        // Exact account names: a pattern would read other merchants' rows
        // (`_`, in every sandbox id, matches any character in LIKE).
        let rows = query(
            "SELECT account, currency, balance, floor FROM ledger_balances WHERE account IN ($1, $2) ORDER BY account, currency",
        )
        .bind(Account::MerchantAvailable(merchant.clone()).key())
        .bind(Account::MerchantReserved(merchant.clone()).key())
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BalanceRow {
                    account: get_str(r, "account")?,
                    currency: get_str(r, "currency")?,
                    balance: get_i64(r, "balance")?,
                    floor: get_opt_i64(r, "floor")?,
                })
            })
            .collect()
    }

    /// Checks every ledger invariant; an empty list means the ledger is sound.
    pub async fn check_ledger(&self) -> Result<Vec<LedgerBreach>> {
        let mut breaches = Vec::new();
        for (sql, breach) in LEDGER_CHECKS {
            for r in &query(sql).fetch_all(self.read()).await? {
                breaches.push(breach(r)?);
            }
        }
        Ok(breaches)
    }
}

/// A query that finds the rows breaking one invariant, and how a row reads as the breach.
type LedgerCheck = (&'static str, fn(&Row) -> Result<LedgerBreach>);

/// The ledger's invariants.
const LEDGER_CHECKS: [LedgerCheck; 5] = [
    (
        "SELECT currency, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_legs GROUP BY currency HAVING SUM(amount) <> 0",
        |r| {
            Ok(LedgerBreach::Unbalanced {
                currency: get_str(r, "currency")?,
                sum: get_i64(r, "total")?,
            })
        },
    ),
    // A batch whose legs cancel out on a merchant's account changes no
    // balance row (see `Writes::change_balance`), so a merchant account's
    // legs without a row must sum to 0. Accounts without a floor, which
    // are not a merchant's, keep no row at all (see `Writes::post`).
    (
        "SELECT b.account, b.currency, b.balance, CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS legs \
         FROM ledger_balances b LEFT JOIN ledger_legs l ON l.account = b.account AND l.currency = b.currency \
         GROUP BY b.account, b.currency, b.balance HAVING b.balance <> COALESCE(SUM(l.amount), 0) \
         UNION ALL \
         SELECT l.account, l.currency, CAST(0 AS BIGINT) AS balance, CAST(SUM(l.amount) AS BIGINT) AS legs \
         FROM ledger_legs l WHERE l.account LIKE 'merchant:%' AND NOT EXISTS \
         (SELECT 1 FROM ledger_balances b WHERE b.account = l.account AND b.currency = l.currency) \
         GROUP BY l.account, l.currency HAVING SUM(l.amount) <> 0",
        |r| {
            Ok(LedgerBreach::BalanceDrift {
                account: get_str(r, "account")?,
                currency: get_str(r, "currency")?,
                stored: get_i64(r, "balance")?,
                legs: get_i64(r, "legs")?,
            })
        },
    ),
    (
        "SELECT account, currency, balance, floor FROM ledger_balances WHERE floor IS NOT NULL AND balance < floor",
        |r| {
            Ok(LedgerBreach::BelowFloor {
                account: get_str(r, "account")?,
                currency: get_str(r, "currency")?,
                balance: get_i64(r, "balance")?,
                floor: get_i64(r, "floor")?,
            })
        },
    ),
    (
        "SELECT b.account, b.currency, b.balance, CAST(COALESCE(SUM(r.held), 0) AS BIGINT) AS held \
         FROM ledger_balances b LEFT JOIN refunds r ON b.account = 'merchant:' || r.client_id || ':reserved' \
         AND r.held_currency = b.currency AND r.status = 'PROCESSING' \
         WHERE b.account LIKE 'merchant:%:reserved' GROUP BY b.account, b.currency, b.balance \
         HAVING b.balance <> COALESCE(SUM(r.held), 0)",
        |r| {
            Ok(LedgerBreach::ReservedDrift {
                account: get_str(r, "account")?,
                currency: get_str(r, "currency")?,
                reserved: get_i64(r, "balance")?,
                held: get_i64(r, "held")?,
            })
        },
    ),
    (
        "SELECT p.payment_id, CASE WHEN p.is_authorization <> 0 THEN p.captured ELSE p.amount END AS refundable, \
         CAST(SUM(r.amount) AS BIGINT) AS refunded FROM payments p JOIN refunds r ON r.payment_id = p.payment_id \
         WHERE r.status <> 'FAIL' GROUP BY p.payment_id, p.is_authorization, p.captured, p.amount \
         HAVING SUM(r.amount) > CASE WHEN p.is_authorization <> 0 THEN p.captured ELSE p.amount END",
        |r| {
            Ok(LedgerBreach::OverRefunded {
                payment_id: get_str(r, "payment_id")?,
                refunded: get_i64(r, "refunded")?,
                refundable: get_i64(r, "refundable")?,
            })
        },
    ),
];

#[cfg(test)]
mod tests {
    use crate::db::query;
    use crate::testing::{remove, scratch};
    use crate::{Floors, LedgerBreach, Written};
    use backflow_domain::ledger::refund_reserved;
    use backflow_domain::{ClientId, Currency, Money, Timestamp};

    /// Legs of an account with no balance row are checked too: they must
    /// cancel out, as the legs a batch nets away do.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn legs_without_a_balance_row_must_cancel_out() {
        let (store, path) = scratch("ledger").await;
        let m = ClientId::parse("M1").expect("client id");
        let usd = Currency::parse("USD").expect("USD");
        let mut tx = store.begin().await.expect("begin");
        let reserve = refund_reserved(&m, "r1", Money::new(usd, 500));
        let floors = Floors {
            overdraft_minor: 1_000,
            enforce: true,
        };
        let posted = tx.post(&reserve, "p1", Timestamp::from_millis(0), floors);
        assert_eq!(posted.await.expect("post"), Written::Applied);
        query("DELETE FROM ledger_balances WHERE account = $1")
            .bind("merchant:M1:reserved")
            .execute(tx.conn())
            .await
            .expect("delete");
        tx.commit().await.expect("commit");
        let breaches = store.check_ledger().await.expect("check");
        assert!(
            breaches.contains(&LedgerBreach::BalanceDrift {
                account: "merchant:M1:reserved".into(),
                currency: "USD".into(),
                stored: 0,
                legs: 500,
            }),
            "{breaches:?}"
        );
        store.close().await;
        remove(&path);
    }
}
