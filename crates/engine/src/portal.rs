//! The merchant portal's use cases: its users and their sessions, what its
//! pages read, and refunds made by hand (docs/portal.md).
//!
//! A portal refund is the same refund use case as the API's
//! ([`RefundMode::Portal`]); its request id is derived from the refund form's
//! token, so a form submitted twice makes one refund.

use crate::error::EngineError;
use crate::ids::random_token;
use crate::{Engine, RefundCommand, RefundMode};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::Payment;
use backflow_domain::refund::{Refund, RefundContext};
use backflow_domain::{ClientId, Money, PaymentId, RefundId, RefundRequestId, Timestamp};
use backflow_store::{
    AttemptRow, BalanceRow, NotificationRow, PaymentKey, PortalSessionRow, PortalUserRow,
    PostingRow, RefundDay, RefundFormRow, RefundKey, ResendOutcome, TransactionCursor,
    TransactionFilter, TransactionRow,
};

/// Failed logins (or wrong payment passwords) in a row before the lock.
pub const MAX_FAILURES: i64 = 5;
/// How long a lock lasts.
pub const LOCK_MS: i64 = 15 * 60_000;
/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 30 * 60_000;
/// A refund form must be confirmed this soon after its payment password was accepted.
pub const FORM_CONFIRM_MS: i64 = 15 * 60_000;
/// Refund request ids of portal refunds start with this; the API may not use it.
pub const PORTAL_REQUEST_PREFIX: &str = "portal-";
/// Sessions are touched at most this often, so that reading pages does not write on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Whether a refund was made in the portal (it is never notified: docs/portal.md).
pub fn made_in_portal(request_id: &RefundRequestId) -> bool {
    request_id.as_str().starts_with(PORTAL_REQUEST_PREFIX)
}

/// What a portal user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalRole {
    /// Reads pages only.
    Viewer,
    /// Also refunds.
    Refunder,
    /// Also changes settings and resends notifications.
    Admin,
}

impl PortalRole {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => Self::Viewer,
            "refunder" => Self::Refunder,
            "admin" => Self::Admin,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Refunder => "refunder",
            Self::Admin => "admin",
        }
    }

    pub fn may_refund(self) -> bool {
        matches!(self, Self::Refunder | Self::Admin)
    }

    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }
}

/// A portal user, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalUser {
    pub id: String,
    pub merchant: ClientId,
    pub email: String,
    pub role: PortalRole,
    pub disabled: bool,
    pub created_at: Timestamp,
}

impl TryFrom<&PortalUserRow> for PortalUser {
    type Error = EngineError;
    fn try_from(r: &PortalUserRow) -> Result<Self, EngineError> {
        Ok(Self {
            id: r.user_id.clone(),
            merchant: r.client_id.clone(),
            email: r.email.clone(),
            role: PortalRole::parse(&r.role).ok_or_else(|| {
                EngineError::Invalid(format!("portal user {} has role {:?}", r.email, r.role))
            })?,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewPortalUser {
    pub merchant: ClientId,
    pub email: String,
    pub role: PortalRole,
    pub password: String,
    pub payment_password: String,
}

/// A live session and whose it is.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    pub csrf_token: String,
    pub user: PortalUser,
}

/// Why a portal step was refused, in the portal's terms.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("the email or password is wrong")]
    BadLogin,
    #[error("the account is locked after too many failed logins")]
    LoginLocked { until: Timestamp },
    #[error("the payment password is wrong")]
    WrongPaymentPassword { attempts_left: i64 },
    #[error("refunds are locked after too many wrong payment passwords")]
    RefundsLocked { until: Timestamp },
    #[error("this user may not do that")]
    Forbidden,
    #[error("the refund form is unknown or too old")]
    FormExpired,
    #[error("a password must have at least 8 characters")]
    WeakPassword,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<backflow_store::StoreError> for PortalError {
    fn from(e: backflow_store::StoreError) -> Self {
        Self::Engine(e.into())
    }
}

pub type PortalResult<T> = Result<T, PortalError>;

/// A payment as its page shows it.
#[derive(Debug, Clone)]
pub struct PaymentView {
    pub payment: Payment,
    pub refunds: Vec<Refund>,
    /// What may still be refunded, in the payment's minor units.
    pub refundable_minor: i64,
    pub postings: Vec<PostingRow>,
}

/// A refund as its page shows it.
#[derive(Debug, Clone)]
pub struct RefundView {
    pub refund: Refund,
    pub payment: Payment,
    pub postings: Vec<PostingRow>,
    /// When the refund's next scheduled step runs (a completion, a funds retry).
    pub next_step_at: Option<Timestamp>,
    pub notifications: Vec<(NotificationRow, Vec<AttemptRow>)>,
}

/// A merchant's money in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalBalance {
    pub currency: String,
    pub available: i64,
    pub reserved: i64,
}

async fn hash_secret(secret: String) -> PortalResult<String> {
    if secret.chars().count() < 8 {
        return Err(PortalError::WeakPassword);
    }
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| EngineError::Invalid(e.to_string()))
    })
    .await
    .map_err(|e| EngineError::Invalid(e.to_string()))?
    .map_err(PortalError::from)
}

async fn secret_matches(secret: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

impl Engine {
    /// Creates a portal user of an existing merchant.
    pub async fn create_portal_user(&self, new: NewPortalUser) -> PortalResult<PortalUser> {
        if self.store().merchant(&new.merchant).await?.is_none() {
            return Err(EngineError::UnknownMerchant.into());
        }
        let email = new.email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(EngineError::Invalid(format!("{email:?} is not an email address")).into());
        }
        let row = PortalUserRow {
            user_id: format!("pu_{}", random_token(20)),
            client_id: new.merchant,
            email,
            role: new.role.as_str().into(),
            password_hash: hash_secret(new.password).await?,
            payment_password_hash: hash_secret(new.payment_password).await?,
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            failed_payment_passwords: 0,
            refunds_locked_until: None,
            created_at: self.now(),
        };
        if self.store().insert_portal_user(&row).await? == backflow_store::Inserted::Existing {
            return Err(EngineError::Invalid(format!(
                "a portal user {} exists already",
                row.email
            ))
            .into());
        }
        Ok(PortalUser::try_from(&row)?)
    }

    pub async fn portal_users(&self, merchant: Option<&ClientId>) -> PortalResult<Vec<PortalUser>> {
        let rows = self.store().portal_users(merchant).await?;
        Ok(rows
            .iter()
            .map(PortalUser::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn portal_user_by_email(&self, email: &str) -> PortalResult<Option<PortalUser>> {
        let row = self
            .store()
            .portal_user_by_email(&email.trim().to_lowercase())
            .await?;
        Ok(row.as_ref().map(PortalUser::try_from).transpose()?)
    }

    /// Sets a user's login password (or payment password), lifting its lock.
    pub async fn reset_portal_secret(
        &self,
        user: &PortalUser,
        secret: String,
        payment: bool,
    ) -> PortalResult<()> {
        let hash = hash_secret(secret).await?;
        match payment {
            true => {
                self.store()
                    .set_portal_payment_password(&user.id, &hash)
                    .await?
            }
            false => self.store().set_portal_password(&user.id, &hash).await?,
        };
        Ok(())
    }

    pub async fn disable_portal_user(&self, user: &PortalUser) -> PortalResult<()> {
        self.store().disable_portal_user(&user.id).await?;
        Ok(())
    }

    /// Logs a user in: a new session (ending `replaces`), or why not.
    pub async fn portal_login(
        &self,
        email: &str,
        password: &str,
        replaces: Option<&str>,
    ) -> PortalResult<PortalSession> {
        let now = self.now();
        let Some(row) = self
            .store()
            .portal_user_by_email(&email.trim().to_lowercase())
            .await?
        else {
            return Err(PortalError::BadLogin);
        };
        if let Some(until) = row.locked_until.filter(|&u| u > now) {
            return Err(PortalError::LoginLocked { until });
        }
        let matches = secret_matches(password.to_owned(), row.password_hash.clone()).await;
        if !matches || row.disabled {
            if !row.disabled {
                let until = now.plus_millis(LOCK_MS);
                self.store()
                    .record_failed_login(&row.user_id, MAX_FAILURES, until)
                    .await?;
                if row.failed_logins + 1 >= MAX_FAILURES {
                    return Err(PortalError::LoginLocked { until });
                }
            }
            return Err(PortalError::BadLogin);
        }
        if row.failed_logins > 0 || row.locked_until.is_some() {
            self.store()
                .clear_portal_failures(&row.user_id, false)
                .await?;
        }
        let session = PortalSessionRow {
            session_id: random_token(40),
            user_id: row.user_id.clone(),
            csrf_token: random_token(32),
            created_at: now,
            last_seen: now,
        };
        self.store()
            .start_portal_session(&session, replaces)
            .await?;
        Ok(PortalSession {
            id: session.session_id,
            csrf_token: session.csrf_token,
            user: PortalUser::try_from(&row)?,
        })
    }

    /// The live session with this id, kept alive; `None` when unknown, idle too long, or its user disabled.
    pub async fn portal_session(&self, session_id: &str) -> PortalResult<Option<PortalSession>> {
        let now = self.now();
        let Some(s) = self.store().portal_session(session_id).await? else {
            return Ok(None);
        };
        if s.last_seen.plus_millis(SESSION_IDLE_MS) <= now {
            self.store().end_portal_session(session_id).await?;
            return Ok(None);
        }
        let Some(row) = self.store().portal_user(&s.user_id).await? else {
            return Ok(None);
        };
        if row.disabled {
            return Ok(None);
        }
        if s.last_seen.plus_millis(TOUCH_EVERY_MS) <= now {
            self.store().touch_portal_session(session_id, now).await?;
        }
        Ok(Some(PortalSession {
            id: s.session_id,
            csrf_token: s.csrf_token,
            user: PortalUser::try_from(&row)?,
        }))
    }

    pub async fn portal_logout(&self, session_id: &str) -> PortalResult<()> {
        self.store().end_portal_session(session_id).await?;
        Ok(())
    }

    /// The merchant a portal user belongs to.
    pub async fn portal_merchant(&self, user: &PortalUser) -> PortalResult<Merchant> {
        Ok(self
            .store()
            .merchant(&user.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?)
    }

    /// The merchant's portal pages show times at this offset from UTC.
    pub async fn portal_utc_offset_minutes(&self, merchant: &ClientId) -> PortalResult<i64> {
        Ok(self.store().portal_utc_offset_minutes(merchant).await?)
    }

    pub async fn set_portal_utc_offset_minutes(
        &self,
        merchant: &ClientId,
        minutes: i64,
    ) -> PortalResult<()> {
        if minutes.abs() > 14 * 60 {
            return Err(EngineError::Invalid("a UTC offset is at most 14 hours".into()).into());
        }
        self.store()
            .set_portal_utc_offset_minutes(merchant, minutes)
            .await?;
        Ok(())
    }

    /// One page of the merchant's transactions, newest first.
    pub async fn portal_transactions(
        &self,
        merchant: &ClientId,
        filter: &TransactionFilter,
        cursor: Option<&TransactionCursor>,
        limit: usize,
    ) -> PortalResult<Vec<TransactionRow>> {
        Ok(self
            .store()
            .portal_transactions(merchant, filter, cursor, limit)
            .await?)
    }

    /// A merchant's payment with its refunds; `None` for another merchant's.
    pub async fn portal_payment(
        &self,
        merchant: &ClientId,
        payment_id: &str,
    ) -> PortalResult<Option<PaymentView>> {
        let Ok(id) = PaymentId::parse(payment_id) else {
            return Ok(None);
        };
        let Some(payment) = self.store().payment(merchant, PaymentKey::Id(&id)).await? else {
            return Ok(None);
        };
        let refunds = self.store().refunds_of(&payment.id).await?;
        let outstanding: i64 = refunds
            .iter()
            .filter(|r| r.status().holds_funds())
            .map(|r| r.amount.minor)
            .sum();
        let postings = self.store().postings_for(payment.id.as_str()).await?;
        Ok(Some(PaymentView {
            refundable_minor: (payment.refundable_base() - outstanding).max(0),
            payment,
            refunds,
            postings,
        }))
    }

    /// A merchant's refund with what its page shows; `None` for another merchant's.
    pub async fn portal_refund(
        &self,
        merchant: &ClientId,
        refund_id: &str,
    ) -> PortalResult<Option<RefundView>> {
        let Ok(id) = RefundId::parse(refund_id) else {
            return Ok(None);
        };
        let Some(refund) = self.store().refund(merchant, RefundKey::Id(&id)).await? else {
            return Ok(None);
        };
        let payment = self
            .store()
            .payment(merchant, PaymentKey::Id(&refund.payment_id))
            .await?
            .ok_or(EngineError::PaymentNotFound)?;
        let postings = self.store().postings_for(refund.id.as_str()).await?;
        let next_step_at = match refund.status().is_final() {
            true => None,
            false => self.store().next_job_at(refund.id.as_str()).await?,
        };
        let mut notifications = Vec::new();
        for nid in self
            .store()
            .notifications_about(merchant, refund.id.as_str())
            .await?
        {
            if let Some(n) = self.store().notification(&nid).await? {
                let attempts = self.store().notification_attempts(&nid).await?;
                notifications.push((n, attempts));
            }
        }
        Ok(Some(RefundView {
            refund,
            payment,
            postings,
            next_step_at,
            notifications,
        }))
    }

    /// Delivers a merchant's notification again (admins only): how it went
    /// and what the notification is about; `None` when it is not the merchant's.
    pub async fn portal_resend_notification(
        &self,
        user: &PortalUser,
        notification_id: &str,
    ) -> PortalResult<Option<(ResendOutcome, String)>> {
        if !user.role.is_admin() {
            return Err(PortalError::Forbidden);
        }
        match self.store().notification(notification_id).await? {
            Some(n) if n.client_id == user.merchant => {
                let outcome = self
                    .store()
                    .resend_notification(notification_id, self.now())
                    .await?;
                Ok(Some((outcome, n.subject_id)))
            }
            _ => Ok(None),
        }
    }

    /// Available and reserved money per currency.
    pub async fn portal_balances(&self, merchant: &ClientId) -> PortalResult<Vec<PortalBalance>> {
        let rows: Vec<BalanceRow> = self.store().merchant_balances(merchant).await?;
        let mut out: Vec<PortalBalance> = Vec::new();
        for r in rows {
            let i = match out.iter().position(|b| b.currency == r.currency) {
                Some(i) => i,
                None => {
                    out.push(PortalBalance {
                        currency: r.currency.clone(),
                        available: 0,
                        reserved: 0,
                    });
                    out.len() - 1
                }
            };
            if r.account.ends_with(":available") {
                out[i].available += r.balance;
            } else if r.account.ends_with(":reserved") {
                out[i].reserved += r.balance;
            }
        }
        out.sort_by(|a, b| a.currency.cmp(&b.currency));
        Ok(out)
    }

    /// Refunds per day over the last `days` days, days at the merchant's offset.
    pub async fn portal_refund_days(
        &self,
        merchant: &ClientId,
        days: i64,
        offset_minutes: i64,
    ) -> PortalResult<Vec<RefundDay>> {
        let offset_ms = offset_minutes * 60_000;
        let today = (self.now().millis() + offset_ms).div_euclid(Timestamp::MS_PER_DAY);
        let since = Timestamp((today - days + 1) * Timestamp::MS_PER_DAY - offset_ms);
        Ok(self
            .store()
            .portal_refund_days(merchant, since, offset_ms)
            .await?)
    }

    /// Opens a refund form for one of the user's merchant's payments: its token.
    pub async fn open_refund_form(
        &self,
        user: &PortalUser,
        payment_id: &PaymentId,
    ) -> PortalResult<String> {
        if !user.role.may_refund() {
            return Err(PortalError::Forbidden);
        }
        let form = RefundFormRow {
            token: random_token(24),
            user_id: user.id.clone(),
            payment_id: payment_id.to_string(),
            amount: None,
            reason: None,
            verified_at: None,
            created_at: self.now(),
        };
        self.store().insert_refund_form(&form).await?;
        Ok(form.token)
    }

    /// The form `token` of this user for this payment, if still usable.
    async fn refund_form(
        &self,
        user: &PortalUser,
        payment: &Payment,
        token: &str,
    ) -> PortalResult<RefundFormRow> {
        let form = self
            .store()
            .refund_form(token)
            .await?
            .filter(|f| f.user_id == user.id && f.payment_id == payment.id.as_str())
            .ok_or(PortalError::FormExpired)?;
        if form
            .created_at
            .plus_millis(SESSION_IDLE_MS + FORM_CONFIRM_MS)
            <= self.now()
        {
            return Err(PortalError::FormExpired);
        }
        Ok(form)
    }

    /// Checks the payment password and the refund rules for what the form
    /// asks, and fixes amount and reason on the form: what the confirmation shows.
    pub async fn check_portal_refund(
        &self,
        user: &PortalUser,
        view: &PaymentView,
        token: &str,
        amount: Money,
        reason: Option<&str>,
        payment_password: &str,
    ) -> PortalResult<RefundFormRow> {
        if !user.role.may_refund() {
            return Err(PortalError::Forbidden);
        }
        let payment = &view.payment;
        let form = self.refund_form(user, payment, token).await?;
        if form.verified_at.is_some() {
            return Ok(form);
        }
        let now = self.now();
        let row = self
            .store()
            .portal_user(&user.id)
            .await?
            .ok_or(PortalError::Forbidden)?;
        if let Some(until) = row.refunds_locked_until.filter(|&u| u > now) {
            return Err(PortalError::RefundsLocked { until });
        }
        if !secret_matches(payment_password.to_owned(), row.payment_password_hash).await {
            let until = now.plus_millis(LOCK_MS);
            self.store()
                .record_failed_payment_password(&user.id, MAX_FAILURES, until)
                .await?;
            let left = MAX_FAILURES - row.failed_payment_passwords - 1;
            return Err(match left {
                0 => PortalError::RefundsLocked { until },
                left => PortalError::WrongPaymentPassword {
                    attempts_left: left,
                },
            });
        }
        if row.failed_payment_passwords > 0 {
            self.store().clear_portal_failures(&user.id, true).await?;
        }
        let merchant = self
            .store()
            .merchant(&user.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        let caps = self.capabilities(payment, &merchant.contract);
        let holding = view.refunds.iter().filter(|r| r.status().holds_funds());
        RefundContext {
            payment,
            caps: &caps,
            outstanding_minor: holding.clone().map(|r| r.amount.minor).sum(),
            prior_refunds: u32::try_from(holding.count()).unwrap_or(u32::MAX),
            now,
        }
        .check(amount)
        .map_err(EngineError::from)?;
        self.store()
            .verify_refund_form(token, amount, reason, now)
            .await?;
        self.refund_form(user, payment, token).await
    }

    /// Makes the refund a checked form describes, through the refund use case.
    /// The same form confirmed again answers with the same refund.
    pub async fn confirm_portal_refund(
        &self,
        user: &PortalUser,
        payment: &Payment,
        token: &str,
    ) -> PortalResult<Refund> {
        if !user.role.may_refund() {
            return Err(PortalError::Forbidden);
        }
        let form = self.refund_form(user, payment, token).await?;
        let (Some(amount), Some(verified_at)) = (form.amount, form.verified_at) else {
            return Err(PortalError::FormExpired);
        };
        let request_id = RefundRequestId::parse(format!("{PORTAL_REQUEST_PREFIX}{token}"))
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        // A form confirmed once may be confirmed again (a refresh) at any time: it answers.
        let made = self
            .store()
            .refund(&user.merchant, RefundKey::RequestId(&request_id))
            .await?;
        if let Some(refund) = made {
            return Ok(refund);
        }
        if verified_at.plus_millis(FORM_CONFIRM_MS) <= self.now() {
            return Err(PortalError::FormExpired);
        }
        Ok(self
            .refund(RefundCommand {
                merchant: user.merchant.clone(),
                request_id,
                payment_id: payment.id.clone(),
                amount,
                reason: form.reason,
                notify_url: None,
                mode: RefundMode::Portal,
            })
            .await?)
    }
}
