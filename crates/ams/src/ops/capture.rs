//! `capture`: take authorised card funds.

use super::{amount, engine_error, id};
use crate::result::AmsResult;
use crate::wire::{flexible_bool, parse_body, time, WireAmount};
use crate::Call;
use backflow_domain::{CaptureRequestId, PaymentId};
use backflow_engine::CaptureCommand;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CaptureRequest)]
pub(crate) struct Request {
    capture_request_id: String,
    payment_id: String,
    capture_amount: WireAmount,
    #[serde(default, deserialize_with = "flexible_bool")]
    #[schema(schema_with = crate::openapi::flexible_bool)]
    is_last_capture: Option<bool>,
}

pub async fn handle(call: &Call<'_>, body: &[u8]) -> Result<Value, AmsResult> {
    let req: Request = parse_body(body)?;
    let cmd = CaptureCommand {
        merchant: call.merchant.clone(),
        request_id: id(CaptureRequestId::parse, req.capture_request_id)?,
        payment_id: id(PaymentId::parse, req.payment_id)?,
        amount: amount("captureAmount", &req.capture_amount)?,
        is_last: req.is_last_capture.unwrap_or(false),
    };
    let (payment, capture) = call.engine.capture(cmd).await.map_err(engine_error)?;
    Ok(json!({
        "result": AmsResult::success(),
        "captureRequestId": capture.request_id.as_str(),
        "captureId": capture.id.as_str(),
        "paymentId": payment.id.as_str(),
        "captureAmount": WireAmount::from_money(capture.amount),
        "captureTime": time(capture.created_at),
    }))
}
