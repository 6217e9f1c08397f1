//! A payment's page and its refund form, the confirmation, and a refund's page.

use crate::auth::{session, signed_post, Failure, Fields, Page, Signed};
use crate::format::{money, parse_amount, Zone};
use crate::html;
use crate::pages::{
    AttemptLine, ConfirmPage, NotificationLine, PaymentPage, PostingLine, RefundFormView,
    RefundPage, TimelineLine,
};
use crate::transactions::{payment_line, refund_line};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use backflow_domain::refund::{RefundRefused, RefundState, RefundStatus};
use backflow_domain::{Currency, Money, ResultCode};
use backflow_engine::portal::{PaymentView, PortalError};
use backflow_engine::{Engine, EngineError};
use backflow_store::{PostingRow, ResendOutcome};

fn postings(rows: &[PostingRow], zone: Zone) -> Vec<PostingLine> {
    rows.iter()
        .map(|p| PostingLine {
            kind: p.kind.clone(),
            created: zone.time(p.created_at),
            legs: p
                .legs
                .iter()
                .map(|(account, currency, amount)| {
                    let shown = Currency::parse(currency)
                        .map(|c| money(Money::new(c, *amount)))
                        .unwrap_or_else(|_| format!("{amount} {currency}"));
                    (account.clone(), shown)
                })
                .collect(),
        })
        .collect()
}

/// A refusal as a sentence a shop assistant understands, and its code.
fn refusal(e: &EngineError, currency: Currency) -> Option<(String, String)> {
    let minor = |m: i64| money(Money::new(currency, m));
    let sentence = match e {
        EngineError::RefundRefused(r) => match r {
            RefundRefused::OrderStatusInvalid => "This payment cannot be refunded in its current state.".to_owned(),
            RefundRefused::ChargebackPending => "The buyer has disputed this payment; it can be refunded once the dispute is decided.".to_owned(),
            RefundRefused::MethodNotSupported => "This payment method does not allow refunds.".to_owned(),
            RefundRefused::WindowExceeded { window_days } => format!("The time for refunding this payment ({window_days} days after it was paid) has passed."),
            RefundRefused::CurrencyMismatch => "A refund must be in the currency of the payment.".to_owned(),
            RefundRefused::PartialNotSupported => "This payment method only allows refunding the full amount.".to_owned(),
            RefundRefused::MultipleNotSupported => "This payment method allows only one refund per payment, and it has one.".to_owned(),
            RefundRefused::BelowMinimum { minimum } => format!("The amount is below the smallest refund this payment method allows ({}).", minor(*minimum)),
            RefundRefused::AmountExceeds { refundable } => format!("The amount is more than what can still be refunded ({}).", minor(*refundable)),
            RefundRefused::BalanceNotEnough => "Your balance cannot cover this refund.".to_owned(),
            RefundRefused::RepeatInconsistent => "This form was already used for a different refund. Open the payment again.".to_owned(),
        },
        EngineError::TrafficLimited => "Too many refunds at once. Try again in a moment.".to_owned(),
        EngineError::Injected(_) => "The sandbox refused this refund, as its script said.".to_owned(),
        EngineError::PaymentStatusInvalid => "This payment cannot be refunded in its current state.".to_owned(),
        _ => return None,
    };
    let code = match e {
        EngineError::RefundRefused(r) => r.code(),
        EngineError::TrafficLimited => ResultCode::RequestTrafficExceedLimit,
        EngineError::Injected(code) => *code,
        _ => ResultCode::OrderStatusInvalid,
    };
    Some((sentence, code.as_str().to_owned()))
}

async fn payment_view(engine: &Engine, signed: &Signed, id: &str) -> Result<PaymentView, Failure> {
    engine
        .portal_payment(&signed.session.user.merchant, id)
        .await?
        .ok_or(Failure::NotFound)
}

/// The payment's page, with a refund form (fresh, or as submitted with its errors).
async fn render_payment(
    engine: &Engine,
    signed: &Signed,
    view: &PaymentView,
    form: Option<RefundFormView>,
) -> Page {
    let zone = signed.zone;
    let p = &view.payment;
    let user = &signed.session.user;
    let (form, no_form) = if !user.role.may_refund() {
        (None, Some("Your role (viewer) cannot refund.".to_owned()))
    } else if view.refundable_minor == 0 {
        (
            None,
            Some("Nothing is left to refund on this payment.".to_owned()),
        )
    } else {
        let form = match form {
            Some(f) => f,
            None => RefundFormView {
                token: engine.open_refund_form(user, &p.id).await?,
                ..RefundFormView::default()
            },
        };
        (Some(form), None)
    };
    let settlement_money = Money::new(p.settlement_currency, p.settled_minor);
    html(&PaymentPage {
        chrome: signed.chrome(),
        payment: payment_line(p, &view.refunds, zone),
        settlement: money(settlement_money),
        commission: money(Money::new(p.settlement_currency, p.commission_minor)),
        refundable: money(Money::new(p.amount.currency, view.refundable_minor)),
        currency: p.amount.currency.code().to_owned(),
        postings: postings(&view.postings, zone),
        form,
        no_form,
    })
}

pub(crate) async fn payment(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let signed = session(&engine, &headers).await?;
    let view = payment_view(&engine, &signed, &id).await?;
    render_payment(&engine, &signed, &view, None).await
}

/// The refund form, submitted: the amount read, the payment password and the
/// rules checked, then the confirmation; or the form again with what is wrong.
pub(crate) async fn check_refund(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Fields>, FormRejection>,
) -> Page {
    let (signed, fields) = signed_post(&engine, &headers, form).await?;
    let view = payment_view(&engine, &signed, &id).await?;
    let user = &signed.session.user;
    if !user.role.may_refund() {
        return Err(Failure::Forbidden);
    }
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let currency = view.payment.amount.currency;
    let mut shown = RefundFormView {
        token: field("form_token"),
        amount: field("amount"),
        reason: field("reason"),
        ..RefundFormView::default()
    };
    let amount = match parse_amount(currency, &shown.amount) {
        Ok(a) => a,
        Err(e) => {
            shown.amount_error = Some(e);
            return render_payment(&engine, &signed, &view, Some(shown)).await;
        }
    };
    let reason = shown.reason.trim().to_owned();
    let checked = engine
        .check_portal_refund(
            user,
            &view,
            &shown.token,
            amount,
            (!reason.is_empty()).then_some(reason.as_str()),
            &field("payment_password"),
        )
        .await;
    let form = match checked {
        Ok(form) => form,
        Err(PortalError::WrongPaymentPassword { attempts_left }) => {
            shown.password_error = Some(format!(
                "The payment password is wrong. {attempts_left} more wrong {} and refunds are locked for 15 minutes.",
                if attempts_left == 1 { "try" } else { "tries" }
            ));
            return render_payment(&engine, &signed, &view, Some(shown)).await;
        }
        Err(PortalError::RefundsLocked { until }) => {
            shown.password_error = Some(format!(
                "Refunds are locked after 5 wrong payment passwords in a row. You can refund again after {}.",
                signed.zone.time(until)
            ));
            return render_payment(&engine, &signed, &view, Some(shown)).await;
        }
        Err(PortalError::FormExpired) => {
            shown.token = engine.open_refund_form(user, &view.payment.id).await?;
            shown.refusal = Some((
                "This refund form is too old. Check the amount and submit it again.".into(),
                "FORM_EXPIRED".into(),
            ));
            return render_payment(&engine, &signed, &view, Some(shown)).await;
        }
        Err(PortalError::Engine(e)) => match refusal(&e, currency) {
            Some(r) => {
                shown.refusal = Some(r);
                return render_payment(&engine, &signed, &view, Some(shown)).await;
            }
            None => return Err(PortalError::Engine(e).into()),
        },
        Err(e) => return Err(e.into()),
    };
    let amount = form.amount.unwrap_or(amount);
    let p = &view.payment;
    html(&ConfirmPage {
        chrome: signed.chrome(),
        payment_id: p.id.to_string(),
        method: p.method_type.clone(),
        paid: money(p.amount),
        amount: money(amount),
        reason: form.reason.clone().unwrap_or_else(|| "(none)".into()),
        refundable_after: money(Money::new(
            currency,
            (view.refundable_minor - amount.minor).max(0),
        )),
        token: form.token,
    })
}

/// The confirmation, submitted: the refund is made (once, however often this is sent).
pub(crate) async fn confirm_refund(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Fields>, FormRejection>,
) -> Page {
    let (signed, fields) = signed_post(&engine, &headers, form).await?;
    let view = payment_view(&engine, &signed, &id).await?;
    let token = fields.get("form_token").cloned().unwrap_or_default();
    let currency = view.payment.amount.currency;
    match engine
        .confirm_portal_refund(&signed.session.user, &view.payment, &token)
        .await
    {
        Ok(refund) => {
            Ok(Redirect::to(&format!("/portal/refunds/{}?made=1", refund.id)).into_response())
        }
        Err(PortalError::FormExpired) => {
            let shown = RefundFormView {
                token: engine
                    .open_refund_form(&signed.session.user, &view.payment.id)
                    .await?,
                refusal: Some((
                    "This refund form is too old or was never checked. Enter the refund again."
                        .into(),
                    "FORM_EXPIRED".into(),
                )),
                ..RefundFormView::default()
            };
            render_payment(&engine, &signed, &view, Some(shown)).await
        }
        Err(PortalError::Engine(e)) => match refusal(&e, currency) {
            Some(r) => {
                let shown = RefundFormView {
                    token: engine
                        .open_refund_form(&signed.session.user, &view.payment.id)
                        .await?,
                    refusal: Some(r),
                    ..RefundFormView::default()
                };
                // The rules may have changed since the check (another refund, the window).
                let view = payment_view(&engine, &signed, &id).await?;
                render_payment(&engine, &signed, &view, Some(shown)).await
            }
            None => Err(PortalError::Engine(e).into()),
        },
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn refund(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Fields>,
) -> Page {
    let signed = session(&engine, &headers).await?;
    let zone = signed.zone;
    let view = engine
        .portal_refund(&signed.session.user.merchant, &id)
        .await?
        .ok_or(Failure::NotFound)?;
    let r = &view.refund;
    let mut timeline = vec![TimelineLine {
        label: "Created".into(),
        at: zone.time(r.created_at),
    }];
    match r.status() {
        RefundStatus::Processing => timeline.push(TimelineLine {
            label: match view.next_step_at {
                Some(t) => format!(
                    "Processing; the channel's answer is expected at {}",
                    zone.time(t)
                ),
                None => "Processing".into(),
            },
            at: zone.time(r.created_at),
        }),
        RefundStatus::WaitingFunds => timeline.push(TimelineLine {
            label: match view.next_step_at {
                Some(t) => format!(
                    "Waiting for funds: your balance cannot cover it yet; next try at {}",
                    zone.time(t)
                ),
                None => "Waiting for funds".into(),
            },
            at: zone.time(r.created_at),
        }),
        RefundStatus::Success | RefundStatus::Fail => {}
    }
    if let Some(t) = r.finished_at() {
        timeline.push(TimelineLine {
            label: match r.result_code() {
                None => "Succeeded".into(),
                Some(code) => format!("Failed ({})", ResultCode::of_failure(Some(code)).as_str()),
            },
            at: zone.time(t),
        });
    }
    if let RefundState::Reversed { reversed_at, .. } = &r.state {
        timeline.push(TimelineLine {
            label: "Reversed: the buyer's bank sent the money back to you".into(),
            at: zone.time(*reversed_at),
        });
    }
    let currency = r.state.settlement_currency();
    let (held, settled, quote, returned) = match &r.state {
        RefundState::Processing { hold, .. } | RefundState::Fail { released: hold, .. } => {
            (hold.amount, None, hold.quote.as_ref(), 0)
        }
        RefundState::WaitingFunds { .. } => (Money::new(currency, 0), None, None, 0),
        RefundState::Success(s) | RefundState::Reversed { settlement: s, .. } => (
            s.held,
            Some(s.settled),
            s.quote.as_ref(),
            s.commission_returned,
        ),
    };
    let mut settlement = vec![("Held from your balance".to_owned(), money(held))];
    if let Some(s) = settled {
        settlement.push(("Settlement amount".into(), money(s)));
    }
    if let Some(quote) = quote {
        settlement.push((
            "FX rate".into(),
            format!(
                "1 {} = {} {} ({})",
                quote.base.code(),
                quote.rate.to_decimal_string(),
                quote.quote.code(),
                quote.rate_date
            ),
        ));
    }
    settlement.push((
        "Commission returned".into(),
        money(Money::new(currency, returned)),
    ));
    let notifications = view
        .notifications
        .iter()
        .map(|(n, attempts)| NotificationLine {
            id: n.id.clone(),
            status: n.status.as_str(),
            url: n.url.clone(),
            attempts: attempts
                .iter()
                .map(|a| AttemptLine {
                    at: zone.time(a.attempted_at),
                    status: a
                        .http_status
                        .map_or_else(|| a.error.clone().unwrap_or_default(), |s| s.to_string()),
                    latency: a.latency_ms.map(|l| format!("{l} ms")).unwrap_or_default(),
                    excerpt: a
                        .response_excerpt
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let notice = match (q.contains_key("made"), q.contains_key("resent")) {
        (true, _) => Some("The refund was submitted.".to_owned()),
        (_, true) => Some("The notification will be sent again now.".to_owned()),
        _ => None,
    };
    html(&RefundPage {
        chrome: signed.chrome(),
        refund: refund_line(r, zone),
        payment_id: view.payment.id.to_string(),
        reason: r.reason.clone().unwrap_or_default(),
        result_code: r
            .result_code()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        processing: !r.status().is_final(),
        timeline,
        settlement,
        postings: postings(&view.postings, zone),
        notifications,
        notice,
    })
}

pub(crate) async fn resend_notification(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Fields>, FormRejection>,
) -> Page {
    let (signed, _) = signed_post(&engine, &headers, form).await?;
    let outcome = engine
        .portal_resend_notification(&signed.session.user, &id)
        .await?;
    let subject = match outcome {
        None | Some((ResendOutcome::NotFound, _)) => return Err(Failure::NotFound),
        Some((ResendOutcome::InFlight, _)) => {
            return Err(Failure::BadRequest(
                "An attempt is being delivered right now. Try again in a moment.".into(),
            ))
        }
        Some((ResendOutcome::Scheduled, subject)) => subject,
    };
    Ok(Redirect::to(&format!("/portal/refunds/{subject}?resent=1")).into_response())
}
