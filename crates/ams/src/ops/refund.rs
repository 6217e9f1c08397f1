//! `refund`: the merchant asks for money back to the buyer.

use super::{amount, engine_error, id};
use crate::result::{refused, AmsResult};
use crate::wire::{check_len, check_notify_url, parse_body, time, WireAmount};
use crate::Call;
use backflow_domain::refund::{Refund, RefundRefused, RefundStatus};
use backflow_domain::{PaymentId, RefundRequestId};
use backflow_engine::{RefundCommand, RefundMode};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    refund_request_id: String,
    payment_id: String,
    refund_amount: WireAmount,
    refund_reason: Option<String>,
    refund_notify_url: Option<String>,
    reference_refund_id: Option<String>,
    capture_id: Option<String>,
}

pub async fn handle(call: &Call<'_>, body: &[u8]) -> Result<Value, AmsResult> {
    let req: Request = parse_body(body)?;
    let request_id = id(RefundRequestId::parse, req.refund_request_id)?;
    let payment_id = id(PaymentId::parse, req.payment_id)?;
    check_len("refundReason", req.refund_reason.as_deref(), 256)?;
    check_len("referenceRefundId", req.reference_refund_id.as_deref(), 64)?;
    check_len("captureId", req.capture_id.as_deref(), 64)?;
    check_notify_url("refundNotifyUrl", req.refund_notify_url.as_deref())?;
    let amount = amount("refundAmount", &req.refund_amount)?;
    let refund = call
        .engine
        .refund(RefundCommand {
            merchant: call.merchant.clone(),
            request_id,
            payment_id,
            amount,
            reason: req.refund_reason,
            notify_url: req.refund_notify_url,
            mode: RefundMode::Ams,
        })
        .await
        .map_err(engine_error)?;
    Ok(render(&refund))
}

/// The answer for a refund that exists, as it stands now.
fn render(r: &Refund) -> Value {
    let result = match r.status {
        RefundStatus::Success => AmsResult::success(),
        RefundStatus::Processing | RefundStatus::WaitingFunds => AmsResult::refund_in_process(),
        RefundStatus::Fail => failure_result(r.result_code.as_deref()),
    };
    let mut v = json!({
        "result": result,
        "refundRequestId": r.request_id.as_str(),
        "refundId": r.id.as_str(),
        "paymentId": r.payment_id.as_str(),
        "refundAmount": WireAmount::from_money(r.amount),
    });
    if let (RefundStatus::Success, Some(t)) = (r.status, r.finished_at) {
        v["refundTime"] = json!(time(t));
    }
    v
}

/// A failed refund answers with the code it failed with.
fn failure_result(failure: Option<&str>) -> AmsResult {
    match failure {
        Some("MERCHANT_BALANCE_NOT_ENOUGH") => refused(&RefundRefused::BalanceNotEnough),
        _ => AmsResult::failed("PROCESS_FAIL", "The refund failed."),
    }
}
