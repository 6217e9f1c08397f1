//! `refund`: the merchant asks for money back to the buyer.

use super::{amount, engine_error, id};
use crate::result::AmsResult;
use crate::wire::{check_len, check_notify_url, parse_body, WireAmount};
use crate::Call;
use backflow_domain::refund::{Refund, RefundState};
use backflow_domain::{PaymentId, RefundRequestId, ResultCode};
use backflow_engine::{RefundCommand, RefundMode};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RefundRequest)]
pub(crate) struct Request {
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
    check_notify_url(
        "refundNotifyUrl",
        req.refund_notify_url.as_deref(),
        &call.merchant,
    )?;
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
    let result = match &r.state {
        RefundState::Success(_) | RefundState::Reversed { .. } => AmsResult::success(),
        RefundState::Processing {
            timed_out: true, ..
        } => AmsResult::new(
            ResultCode::UnknownException,
            "The result is not known yet; retry with the same refundRequestId.",
        ),
        RefundState::Processing { .. } | RefundState::WaitingFunds { .. } => {
            AmsResult::of(ResultCode::RefundInProcess)
        }
        RefundState::Fail { code, .. } => AmsResult::new(
            ResultCode::of_failure(Some(*code)),
            "The refund failed; use a new refundRequestId to try again.",
        ),
    };
    let mut v = backflow_engine::notices::ams::refund_fields(r);
    v["result"] = serde_json::json!(result);
    v["paymentId"] = serde_json::json!(r.payment_id.as_str());
    v
}
