//! `cancel`: close a payment that was not paid or captured.

use super::engine_error;
use crate::ops::inquiry_payment::PaymentRef;
use crate::result::AmsResult;
use crate::wire::{parse_body, time};
use crate::Call;
use serde_json::{json, Value};

pub async fn handle(call: &Call<'_>, body: &[u8]) -> Result<Value, AmsResult> {
    let name = parse_body::<PaymentRef>(body)?.parse()?;
    let payment = call
        .engine
        .cancel(&call.merchant, name.key())
        .await
        .map_err(engine_error)?;
    Ok(json!({
        "result": AmsResult::success(),
        "paymentId": payment.id.as_str(),
        "paymentRequestId": payment.request_id.as_str(),
        "cancelTime": time(call.engine.clock().now()),
    }))
}
