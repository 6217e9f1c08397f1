//! `inquiryPayment`: a payment, its captures and its refunds.

use super::{engine_error, id};
use crate::result::AmsResult;
use crate::wire::{parse_body, time, WireAmount};
use crate::Call;
use backflow_domain::payment::PaymentStatus;
use backflow_domain::{PaymentId, PaymentRequestId};
use backflow_store::PaymentKey;
use serde::Deserialize;
use serde_json::{json, Value};

/// A payment named by `paymentId` or `paymentRequestId`; `paymentId` wins.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRef {
    payment_id: Option<String>,
    payment_request_id: Option<String>,
}

pub enum PaymentName {
    Id(PaymentId),
    RequestId(PaymentRequestId),
}

impl PaymentName {
    pub fn key(&self) -> PaymentKey<'_> {
        match self {
            Self::Id(id) => PaymentKey::Id(id),
            Self::RequestId(id) => PaymentKey::RequestId(id),
        }
    }
}

impl PaymentRef {
    pub fn parse(self) -> Result<PaymentName, AmsResult> {
        match (self.payment_id, self.payment_request_id) {
            (Some(pid), _) => Ok(PaymentName::Id(id(PaymentId::parse, pid)?)),
            (None, Some(rid)) => Ok(PaymentName::RequestId(id(PaymentRequestId::parse, rid)?)),
            (None, None) => Err(AmsResult::param_illegal(
                "paymentId or paymentRequestId is required.",
            )),
        }
    }
}

pub async fn handle(call: &Call<'_>, body: &[u8]) -> Result<Value, AmsResult> {
    let name = parse_body::<PaymentRef>(body)?.parse()?;
    let details = call
        .engine
        .inquire_payment(&call.merchant, name.key())
        .await
        .map_err(engine_error)?;
    let p = &details.payment;
    let status = match p.status {
        // An authorisation is a successful payment whose funds wait for capture.
        PaymentStatus::Success | PaymentStatus::Authorized => "SUCCESS",
        PaymentStatus::Processing => "PROCESSING",
        PaymentStatus::Fail => "FAIL",
        PaymentStatus::Cancelled => "CANCELLED",
    };
    let mut transactions = Vec::new();
    if p.is_authorization {
        transactions.push(transaction(
            "AUTHORIZATION",
            "SUCCESS",
            p.request_id.as_str(),
            p.id.as_str(),
            p.amount.into(),
            p.created_at,
        ));
    }
    for c in &details.captures {
        transactions.push(transaction(
            "CAPTURE",
            "SUCCESS",
            c.request_id.as_str(),
            c.id.as_str(),
            c.amount.into(),
            c.created_at,
        ));
    }
    for r in &details.refunds {
        let status = crate::wire::refund_status(r.status());
        transactions.push(transaction(
            "REFUND",
            status,
            r.request_id.as_str(),
            r.id.as_str(),
            r.amount.into(),
            r.finished_at().unwrap_or(r.created_at),
        ));
    }
    let mut v = json!({
        "result": AmsResult::success(),
        "paymentStatus": status,
        "paymentId": p.id.as_str(),
        "paymentRequestId": p.request_id.as_str(),
        "paymentAmount": WireAmount::from_money(p.amount),
        "paymentCreateTime": time(p.created_at),
        "paymentMethodType": p.method_type,
        "transactions": transactions,
    });
    if let Some(t) = p.paid_at {
        v["paymentTime"] = json!(time(t));
    }
    Ok(v)
}

fn transaction(
    kind: &str,
    status: &str,
    request_id: &str,
    id: &str,
    amount: WireAmount,
    at: backflow_domain::Timestamp,
) -> Value {
    json!({
        "transactionType": kind,
        "transactionStatus": status,
        "transactionRequestId": request_id,
        "transactionId": id,
        "transactionAmount": amount,
        "transactionTime": time(at),
        "transactionResult": AmsResult::success(),
    })
}
