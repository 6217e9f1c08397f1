//! The pages and what they show, already written out as text: templates only lay it out.

use askama::Template;

/// The header of a logged-in page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub email: String,
    pub role: &'static str,
    pub merchant: String,
    pub csrf: String,
    pub is_admin: bool,
    /// The time zone times are shown in.
    pub zone: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Option<Chrome>,
    pub title: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Option<Chrome>,
    pub csrf: String,
    pub email: String,
    pub message: Option<String>,
}

pub struct BalanceLine {
    pub currency: String,
    pub available: String,
    pub reserved: String,
}

pub struct DayLine {
    pub date: String,
    pub count: i64,
    pub success_rate: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Option<Chrome>,
    pub balances: Vec<BalanceLine>,
    pub days: Vec<DayLine>,
    pub total: i64,
    pub success_rate: String,
}

pub struct RefundLine {
    pub refund_id: String,
    pub request_id: String,
    pub amount: String,
    pub status: &'static str,
    pub created: String,
    pub origin: &'static str,
}

pub struct TransactionLine {
    pub payment_id: String,
    pub request_id: String,
    pub door: &'static str,
    pub method: String,
    pub amount: String,
    pub status: &'static str,
    pub created: String,
    pub refunds: Vec<RefundLine>,
}

/// The filters as typed, echoed into the form.
#[derive(Default, Clone)]
pub struct FilterValues {
    pub from: String,
    pub to: String,
    pub status: String,
    pub method: String,
    pub currency: String,
    pub q: String,
}

pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "transactions.html")]
pub struct TransactionsPage {
    pub chrome: Option<Chrome>,
    pub filters: FilterValues,
    pub statuses: Vec<StatusOption>,
    pub error: Option<String>,
    pub rows: Vec<TransactionLine>,
    /// The query string of the next page, when there is one.
    pub next: Option<String>,
    /// The query string of the filters alone (first page, CSV).
    pub query: String,
}

pub struct PostingLine {
    pub kind: String,
    pub created: String,
    pub legs: Vec<(String, String)>,
}

pub struct TimelineLine {
    pub label: String,
    pub at: String,
}

#[derive(Default)]
pub struct RefundFormView {
    pub token: String,
    pub amount: String,
    pub reason: String,
    pub amount_error: Option<String>,
    pub password_error: Option<String>,
    /// A refusal: the sentence and the code beside it.
    pub refusal: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "payment.html")]
pub struct PaymentPage {
    pub chrome: Option<Chrome>,
    pub payment: TransactionLine,
    pub settlement: String,
    pub commission: String,
    pub refundable: String,
    pub currency: String,
    pub postings: Vec<PostingLine>,
    /// The refund form, for users who may refund while something is refundable.
    pub form: Option<RefundFormView>,
    /// Why there is no form.
    pub no_form: Option<String>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Option<Chrome>,
    pub payment_id: String,
    pub method: String,
    pub paid: String,
    pub amount: String,
    pub reason: String,
    pub refundable_after: String,
    pub token: String,
}

pub struct AttemptLine {
    pub at: String,
    pub status: String,
    pub latency: String,
    pub excerpt: String,
}

pub struct NotificationLine {
    pub id: String,
    pub status: &'static str,
    pub url: String,
    pub attempts: Vec<AttemptLine>,
}

#[derive(Template)]
#[template(path = "refund.html")]
pub struct RefundPage {
    pub chrome: Option<Chrome>,
    pub refund: RefundLine,
    pub payment_id: String,
    pub reason: String,
    pub result_code: String,
    pub processing: bool,
    pub timeline: Vec<TimelineLine>,
    pub settlement: Vec<(String, String)>,
    pub postings: Vec<PostingLine>,
    pub notifications: Vec<NotificationLine>,
    pub notice: Option<String>,
}

pub struct UserLine {
    pub email: String,
    pub role: &'static str,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Option<Chrome>,
    pub client_id: String,
    pub legacy_partner_id: String,
    pub notify_url: String,
    pub offset: String,
    pub users: Vec<UserLine>,
    pub notice: Option<String>,
}
