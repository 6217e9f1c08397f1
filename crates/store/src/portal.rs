//! The merchant portal's rows: users, sessions, refund forms, preferences,
//! and the reads behind its pages (the transaction list, postings, charts).

use crate::db::{query, Param, Query, Row};
use crate::payments::{payment_from_row, PAYMENT_COLUMNS};
use crate::refunds::{refund_from_row, REFUND_COLUMNS};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Inserted, Result, Store};
use backflow_domain::payment::Payment;
use backflow_domain::refund::Refund;
use backflow_domain::{ClientId, Currency, Money, Timestamp};

/// A portal user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalUserRow {
    pub user_id: String,
    pub client_id: ClientId,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub payment_password_hash: String,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
    pub failed_payment_passwords: i64,
    pub refunds_locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
}

const USER_COLUMNS: &str =
    "user_id, client_id, email, role, password_hash, payment_password_hash, disabled, \
    failed_logins, locked_until, failed_payment_passwords, refunds_locked_until, created_at";

fn user_from_row(row: &Row) -> Result<PortalUserRow> {
    Ok(PortalUserRow {
        user_id: get_str(row, "user_id")?,
        client_id: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        email: get_str(row, "email")?,
        role: get_str(row, "role")?,
        password_hash: get_str(row, "password_hash")?,
        payment_password_hash: get_str(row, "payment_password_hash")?,
        disabled: get_i64(row, "disabled")? != 0,
        failed_logins: get_i64(row, "failed_logins")?,
        locked_until: get_opt_i64(row, "locked_until")?.map(Timestamp),
        failed_payment_passwords: get_i64(row, "failed_payment_passwords")?,
        refunds_locked_until: get_opt_i64(row, "refunds_locked_until")?.map(Timestamp),
        created_at: Timestamp(get_i64(row, "created_at")?),
    })
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSessionRow {
    pub session_id: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
}

/// A refund form: who it was issued to, for which payment, and what was
/// entered once the payment password was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFormRow {
    pub token: String,
    pub user_id: String,
    pub payment_id: String,
    pub amount: Option<Money>,
    pub reason: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Which payments the transaction list shows. Every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    pub from: Option<Timestamp>,
    /// Exclusive.
    pub to: Option<Timestamp>,
    pub payment_status: Option<String>,
    /// Payments with at least one refund in this status.
    pub refund_status: Option<String>,
    pub method: Option<String>,
    pub currency: Option<String>,
    /// A paymentId, paymentRequestId (legacy out_trade_no), refundId or
    /// refundRequestId (legacy out_return_no), matched exactly.
    pub search: Option<String>,
}

/// Where a page of the list starts: after this payment, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionCursor {
    pub created_at: Timestamp,
    pub payment_id: String,
}

/// A payment of the list, with its refunds (oldest first).
#[derive(Debug, Clone)]
pub struct TransactionRow {
    pub payment: Payment,
    pub refunds: Vec<Refund>,
}

/// A posting and its legs: (account, currency, amount in minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRow {
    pub posting_id: String,
    pub kind: String,
    pub created_at: Timestamp,
    pub legs: Vec<(String, String, i64)>,
}

/// Refunds created on one day (in the merchant's offset) and how many succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundDay {
    /// Days since the epoch, in the merchant's offset.
    pub day: i64,
    pub count: i64,
    pub succeeded: i64,
}

impl Store {
    /// Runs one statement as its own write transaction; the rows it changed.
    async fn write_one(&self, sql: &'static str, params: Vec<Param>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let changed = Query::new(sql, params).execute(tx.conn()).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn insert_portal_user(&self, u: &PortalUserRow) -> Result<Inserted> {
        static SQL: &str =
            "INSERT INTO portal_users (user_id, client_id, email, role, password_hash, \
            payment_password_hash, disabled, failed_logins, failed_payment_passwords, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, $7) ON CONFLICT DO NOTHING";
        let changed = self
            .write_one(
                SQL,
                vec![
                    (&u.user_id).into(),
                    u.client_id.as_str().into(),
                    (&u.email).into(),
                    (&u.role).into(),
                    (&u.password_hash).into(),
                    (&u.payment_password_hash).into(),
                    u.created_at.millis().into(),
                ],
            )
            .await?;
        Ok(Inserted::from_changed(changed))
    }

    pub async fn portal_user_by_email(&self, email: &str) -> Result<Option<PortalUserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM portal_users WHERE email = $1");
        let row = query(&sql).bind(email).fetch_optional(self.read()).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn portal_user(&self, user_id: &str) -> Result<Option<PortalUserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM portal_users WHERE user_id = $1");
        let row = query(&sql)
            .bind(user_id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A merchant's users, or every merchant's, by email.
    pub async fn portal_users(&self, merchant: Option<&ClientId>) -> Result<Vec<PortalUserRow>> {
        let rows = match merchant {
            Some(m) => {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM portal_users WHERE client_id = $1 ORDER BY email"
                );
                query(&sql).bind(m.as_str()).fetch_all(self.read()).await?
            }
            None => {
                let sql = format!("SELECT {USER_COLUMNS} FROM portal_users ORDER BY email");
                query(&sql).fetch_all(self.read()).await?
            }
        };
        rows.iter().map(user_from_row).collect()
    }

    /// Sets a new login password and lifts a login lock; whether the user exists.
    pub async fn set_portal_password(&self, user_id: &str, hash: &str) -> Result<bool> {
        static SQL: &str = "UPDATE portal_users SET password_hash = $2, failed_logins = 0, \
            locked_until = NULL WHERE user_id = $1";
        Ok(self
            .write_one(SQL, vec![user_id.into(), hash.into()])
            .await?
            > 0)
    }

    /// Sets a new payment password and lifts a refund lock.
    pub async fn set_portal_payment_password(&self, user_id: &str, hash: &str) -> Result<bool> {
        static SQL: &str = "UPDATE portal_users SET payment_password_hash = $2, \
            failed_payment_passwords = 0, refunds_locked_until = NULL WHERE user_id = $1";
        Ok(self
            .write_one(SQL, vec![user_id.into(), hash.into()])
            .await?
            > 0)
    }

    /// Disables a user and ends its sessions.
    pub async fn disable_portal_user(&self, user_id: &str) -> Result<bool> {
        let user_id = user_id.to_owned();
        let mut tx = self.begin().await?;
        let changed = query("UPDATE portal_users SET disabled = 1 WHERE user_id = $1")
            .bind(&user_id)
            .execute(tx.conn())
            .await?;
        query("DELETE FROM portal_sessions WHERE user_id = $1")
            .bind(&user_id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// Counts a failed login; once `limit` failed in a row, locks logins until `lock_until`.
    pub async fn record_failed_login(
        &self,
        user_id: &str,
        limit: i64,
        lock_until: Timestamp,
    ) -> Result<()> {
        static SQL: &str = "UPDATE portal_users SET \
            failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END, \
            locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END \
            WHERE user_id = $1";
        self.write_one(
            SQL,
            vec![user_id.into(), limit.into(), lock_until.millis().into()],
        )
        .await?;
        Ok(())
    }

    /// Counts a wrong payment password; once `limit` in a row, locks refunds until `lock_until`.
    pub async fn record_failed_payment_password(
        &self,
        user_id: &str,
        limit: i64,
        lock_until: Timestamp,
    ) -> Result<()> {
        static SQL: &str = "UPDATE portal_users SET \
            failed_payment_passwords = CASE WHEN failed_payment_passwords + 1 >= $2 THEN 0 \
                ELSE failed_payment_passwords + 1 END, \
            refunds_locked_until = CASE WHEN failed_payment_passwords + 1 >= $2 THEN $3 \
                ELSE refunds_locked_until END \
            WHERE user_id = $1";
        self.write_one(
            SQL,
            vec![user_id.into(), limit.into(), lock_until.millis().into()],
        )
        .await?;
        Ok(())
    }

    /// A login or payment password was right: the counts start again.
    pub async fn clear_portal_failures(&self, user_id: &str, payment: bool) -> Result<()> {
        let sql = match payment {
            true => "UPDATE portal_users SET failed_payment_passwords = 0, refunds_locked_until = NULL WHERE user_id = $1",
            false => "UPDATE portal_users SET failed_logins = 0, locked_until = NULL WHERE user_id = $1",
        };
        self.write_one(sql, vec![user_id.into()]).await?;
        Ok(())
    }

    /// Starts a session, ending the one it replaces (the id changes on every login).
    pub async fn start_portal_session(
        &self,
        s: &PortalSessionRow,
        replaces: Option<&str>,
    ) -> Result<()> {
        let s = s.clone();
        let replaces = replaces.map(str::to_owned);
        let mut tx = self.begin().await?;
        if let Some(old) = &replaces {
            query("DELETE FROM portal_sessions WHERE session_id = $1")
                .bind(old)
                .execute(tx.conn())
                .await?;
        }
        query("INSERT INTO portal_sessions (session_id, user_id, csrf_token, created_at, last_seen) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.session_id)
            .bind(&s.user_id)
            .bind(&s.csrf_token)
            .bind(s.created_at.millis())
            .bind(s.last_seen.millis())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn portal_session(&self, session_id: &str) -> Result<Option<PortalSessionRow>> {
        let row = query("SELECT session_id, user_id, csrf_token, created_at, last_seen FROM portal_sessions WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(self.read())
            .await?;
        row.map(|r| {
            Ok(PortalSessionRow {
                session_id: get_str(&r, "session_id")?,
                user_id: get_str(&r, "user_id")?,
                csrf_token: get_str(&r, "csrf_token")?,
                created_at: Timestamp(get_i64(&r, "created_at")?),
                last_seen: Timestamp(get_i64(&r, "last_seen")?),
            })
        })
        .transpose()
    }

    pub async fn touch_portal_session(&self, session_id: &str, now: Timestamp) -> Result<()> {
        static SQL: &str = "UPDATE portal_sessions SET last_seen = $2 WHERE session_id = $1";
        self.write_one(SQL, vec![session_id.into(), now.millis().into()])
            .await?;
        Ok(())
    }

    pub async fn end_portal_session(&self, session_id: &str) -> Result<()> {
        static SQL: &str = "DELETE FROM portal_sessions WHERE session_id = $1";
        self.write_one(SQL, vec![session_id.into()]).await?;
        Ok(())
    }

    pub async fn insert_refund_form(&self, f: &RefundFormRow) -> Result<()> {
        static SQL: &str =
            "INSERT INTO portal_refund_forms (token, user_id, payment_id, created_at) \
            VALUES ($1, $2, $3, $4)";
        self.write_one(
            SQL,
            vec![
                (&f.token).into(),
                (&f.user_id).into(),
                (&f.payment_id).into(),
                f.created_at.millis().into(),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn refund_form(&self, token: &str) -> Result<Option<RefundFormRow>> {
        let row = query(
            "SELECT token, user_id, payment_id, currency, amount, reason, verified_at, created_at \
            FROM portal_refund_forms WHERE token = $1",
        )
        .bind(token)
        .fetch_optional(self.read())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let amount = match (get_opt_str(&r, "currency")?, get_opt_i64(&r, "amount")?) {
            (Some(c), Some(minor)) => {
                Some(Money::new(Currency::parse(&c).map_err(corrupt)?, minor))
            }
            _ => None,
        };
        Ok(Some(RefundFormRow {
            token: get_str(&r, "token")?,
            user_id: get_str(&r, "user_id")?,
            payment_id: get_str(&r, "payment_id")?,
            amount,
            reason: get_opt_str(&r, "reason")?,
            verified_at: get_opt_i64(&r, "verified_at")?.map(Timestamp),
            created_at: Timestamp(get_i64(&r, "created_at")?),
        }))
    }

    /// Fixes what a form will refund, once; whether this call fixed it (a
    /// form already verified keeps its first amount and reason).
    pub async fn verify_refund_form(
        &self,
        token: &str,
        amount: Money,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        static SQL: &str =
            "UPDATE portal_refund_forms SET currency = $2, amount = $3, reason = $4, \
            verified_at = $5 WHERE token = $1 AND verified_at IS NULL";
        Ok(self
            .write_one(
                SQL,
                vec![
                    token.into(),
                    amount.currency.code().into(),
                    amount.minor.into(),
                    reason.into(),
                    now.millis().into(),
                ],
            )
            .await?
            > 0)
    }

    /// The UTC offset a merchant's portal pages show times in; 0 when never set.
    pub async fn portal_utc_offset_minutes(&self, merchant: &ClientId) -> Result<i64> {
        let row =
            query("SELECT utc_offset_minutes FROM portal_merchant_settings WHERE client_id = $1")
                .bind(merchant.as_str())
                .fetch_optional(self.read())
                .await?;
        row.map_or(Ok(0), |r| get_i64(&r, "utc_offset_minutes"))
    }

    pub async fn set_portal_utc_offset_minutes(
        &self,
        merchant: &ClientId,
        minutes: i64,
    ) -> Result<()> {
        static SQL: &str = "INSERT INTO portal_merchant_settings (client_id, utc_offset_minutes) \
            VALUES ($1, $2) ON CONFLICT (client_id) DO UPDATE SET utc_offset_minutes = $2";
        self.write_one(SQL, vec![merchant.as_str().into(), minutes.into()])
            .await?;
        Ok(())
    }

    /// One page of a merchant's payments, newest first, after `cursor`; each
    /// with its refunds. Keyset paging: the cost of a page does not grow with its depth.
    pub async fn portal_transactions(
        &self,
        merchant: &ClientId,
        filter: &TransactionFilter,
        cursor: Option<&TransactionCursor>,
        limit: usize,
    ) -> Result<Vec<TransactionRow>> {
        let mut params: Vec<Param> = vec![merchant.as_str().into()];
        let mut sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE client_id = $1");
        let mut bind = |sql: &mut String, clause: &str, value: Param| {
            params.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", params.len())));
        };
        if let Some(from) = filter.from {
            bind(&mut sql, " AND created_at >= ?", from.millis().into());
        }
        if let Some(to) = filter.to {
            bind(&mut sql, " AND created_at < ?", to.millis().into());
        }
        if let Some(s) = &filter.payment_status {
            bind(&mut sql, " AND status = ?", s.into());
        }
        if let Some(m) = &filter.method {
            bind(&mut sql, " AND method_type = ?", m.into());
        }
        if let Some(c) = &filter.currency {
            bind(&mut sql, " AND currency = ?", c.into());
        }
        if let Some(s) = &filter.refund_status {
            bind(
                &mut sql,
                " AND payment_id IN (SELECT payment_id FROM refunds WHERE client_id = $1 AND status = ?)",
                s.into(),
            );
        }
        if let Some(q) = &filter.search {
            bind(
                &mut sql,
                " AND (payment_id = ? OR payment_request_id = ? OR payment_id IN \
                 (SELECT payment_id FROM refunds WHERE client_id = $1 AND (refund_id = ? OR refund_request_id = ?)))",
                q.into(),
            );
        }
        if let Some(c) = cursor {
            bind(
                &mut sql,
                " AND (created_at < ? OR (created_at = ? AND payment_id < $PID))",
                c.created_at.millis().into(),
            );
            params.push((&c.payment_id).into());
            sql = sql.replace("$PID", &format!("${}", params.len()));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, payment_id DESC LIMIT {limit}"
        ));
        let rows = Query::new(&sql, params).fetch_all(self.read()).await?;
        let payments = rows
            .iter()
            .map(payment_from_row)
            .collect::<Result<Vec<_>>>()?;
        if payments.is_empty() {
            return Ok(Vec::new());
        }
        let mut params: Vec<Param> = vec![merchant.as_str().into()];
        let mut marks = Vec::with_capacity(payments.len());
        for p in &payments {
            params.push(p.id.as_str().into());
            marks.push(format!("${}", params.len()));
        }
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE client_id = $1 AND payment_id IN ({}) ORDER BY created_at, refund_id",
            marks.join(", ")
        );
        let refund_rows = Query::new(&sql, params).fetch_all(self.read()).await?;
        let refunds = refund_rows
            .iter()
            .map(refund_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(payments
            .into_iter()
            .map(|payment| TransactionRow {
                refunds: refunds
                    .iter()
                    .filter(|r| r.payment_id == payment.id)
                    .cloned()
                    .collect(),
                payment,
            })
            .collect())
    }

    /// The postings made for `reference` (a payment or refund id), oldest first.
    pub async fn postings_for(&self, reference: &str) -> Result<Vec<PostingRow>> {
        let rows = query(
            "SELECT p.posting_id, p.kind, p.created_at, l.account, l.currency, l.amount \
             FROM ledger_postings p JOIN ledger_legs l ON l.posting_id = p.posting_id \
             WHERE p.reference = $1 ORDER BY p.created_at, p.posting_id, l.leg_no",
        )
        .bind(reference)
        .fetch_all(self.read())
        .await?;
        let mut out: Vec<PostingRow> = Vec::new();
        for r in &rows {
            let id = get_str(r, "posting_id")?;
            let leg = (
                get_str(r, "account")?,
                get_str(r, "currency")?,
                get_i64(r, "amount")?,
            );
            match out.last_mut() {
                Some(last) if last.posting_id == id => last.legs.push(leg),
                _ => out.push(PostingRow {
                    posting_id: id,
                    kind: get_str(r, "kind")?,
                    created_at: Timestamp(get_i64(r, "created_at")?),
                    legs: vec![leg],
                }),
            }
        }
        Ok(out)
    }

    /// When the next scheduled step of `subject` (a refund id) runs, if one is due.
    pub async fn next_job_at(&self, subject: &str) -> Result<Option<Timestamp>> {
        let row = query("SELECT MIN(run_at) AS run_at FROM jobs WHERE subject = $1")
            .bind(subject)
            .fetch_one(self.read())
            .await?;
        Ok(get_opt_i64(&row, "run_at")?.map(Timestamp))
    }

    /// The ids of the notifications about `subject` (a refund id), oldest first.
    pub async fn notifications_about(
        &self,
        merchant: &ClientId,
        subject: &str,
    ) -> Result<Vec<String>> {
        let rows = query(
            "SELECT notification_id FROM notifications WHERE client_id = $1 AND subject_id = $2 ORDER BY created_at",
        )
        .bind(merchant.as_str())
        .bind(subject)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(|r| get_str(r, "notification_id")).collect()
    }

    /// A merchant's refunds per day since `since`, days counted in its offset.
    pub async fn portal_refund_days(
        &self,
        merchant: &ClientId,
        since: Timestamp,
        offset_ms: i64,
    ) -> Result<Vec<RefundDay>> {
        let rows = query(
            "SELECT (created_at + $3) / 86400000 AS day, COUNT(*) AS n, \
             SUM(CASE WHEN status = 'SUCCESS' THEN 1 ELSE 0 END) AS ok \
             FROM refunds WHERE client_id = $1 AND created_at >= $2 \
             GROUP BY (created_at + $3) / 86400000 ORDER BY day",
        )
        .bind(merchant.as_str())
        .bind(since.millis())
        .bind(offset_ms)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RefundDay {
                    day: get_i64(r, "day")?,
                    count: get_i64(r, "n")?,
                    succeeded: get_i64(r, "ok")?,
                })
            })
            .collect()
    }
}
