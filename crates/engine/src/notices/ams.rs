//! AMS notification bodies (docs/wire.md#notifyrefund): JSON, signed by the
//! notifier with the merchant's platform key on every attempt.

use backflow_domain::fx::Quote;
use backflow_domain::payment::Payment;
use backflow_domain::refund::{Refund, RefundState, RefundStatus};
use backflow_domain::{Money, ResultCode, Timestamp};
use backflow_store::Capture;
use serde_json::{json, Value};

fn amount(m: Money) -> Value {
    // Always a string of minor units: Go's SDK fails on a number.
    json!({"currency": m.currency.code(), "value": m.minor_string()})
}

/// A `result` object: the code, its status and `message`.
fn result(code: ResultCode, message: &str) -> Value {
    json!({
        "resultCode": code.as_str(),
        "resultStatus": code.status().as_str(),
        "resultMessage": message,
    })
}

fn success() -> Value {
    result(ResultCode::Success, ResultCode::Success.message())
}

fn time(t: Timestamp) -> String {
    t.to_iso8601()
}

/// The fields every answer about an existing refund carries: `refund`,
/// `inquiryRefund` and `notifyRefund` render a refund the same way.
pub fn refund_fields(r: &Refund) -> Value {
    let mut v = json!({
        "refundRequestId": r.request_id.as_str(),
        "refundId": r.id.as_str(),
        "refundAmount": amount(r.amount),
    });
    if let RefundState::Success(s) | RefundState::Reversed { settlement: s, .. } = &r.state {
        v["refundTime"] = json!(time(s.finished_at));
    }
    if let Some((gross, q)) = r.state.settlement_amount() {
        v["grossSettlementAmount"] = amount(gross);
        v["settlementQuote"] = quote(q, r.finished_at().unwrap_or(r.created_at));
    }
    if let Some(a) = &r.acquirer {
        v["acquirerInfo"] = json!({
            "acquirerName": a.name,
            "acquirerMerchantId": a.merchant_id,
            "acquirerTransactionId": a.transaction_id,
            "referenceRequestId": r.id.as_str(),
            "acquirerResultCode": if r.status() == RefundStatus::Fail { "FAIL" } else { "SUCCESS" },
            "acquirerResultMessage": "success",
        });
        v["acquirerReferenceNo"] = json!(a.reference_no);
    }
    v
}

/// `settlementQuote`: `quotePrice` is a JSON number, `guaranteed` a JSON boolean (docs/wire.md#json-shapes).
fn quote(q: &Quote, at: Timestamp) -> Value {
    let price: Value = serde_json::from_str(&q.rate.to_decimal_string()).unwrap_or(Value::Null);
    json!({
        "quoteId": q.id(),
        "quoteCurrencyPair": q.pair(),
        "quotePrice": price,
        "quoteStartTime": time(at),
        "quoteExpiryTime": time(at.plus_days(1)),
        "guaranteed": false,
    })
}

/// `notifyType=REFUND_RESULT` for a refund that reached SUCCESS or FAIL.
pub fn refund_result(payment: &Payment, refund: &Refund) -> String {
    let succeeded = refund.status() == RefundStatus::Success;
    let result = if succeeded {
        success()
    } else {
        let code = ResultCode::of_failure(refund.result_code());
        result(code, ResultCode::ProcessFail.message())
    };
    let mut body = refund_fields(refund);
    body["notifyType"] = json!("REFUND_RESULT");
    body["result"] = result;
    body["refundStatus"] = json!(if succeeded { "SUCCESS" } else { "FAIL" });
    body["paymentId"] = json!(payment.id.as_str());
    body["paymentRequestId"] = json!(payment.request_id.as_str());
    body.to_string()
}

/// `notifyType=PAYMENT_RESULT` for a sandbox payment that succeeded.
pub fn payment_result(payment: &Payment) -> String {
    let mut body = json!({
        "notifyType": "PAYMENT_RESULT",
        "result": success(),
        "paymentRequestId": payment.request_id.as_str(),
        "paymentId": payment.id.as_str(),
        "paymentAmount": amount(payment.amount),
        "paymentCreateTime": time(payment.created_at),
    });
    if let Some(t) = payment.paid_at {
        body["paymentTime"] = json!(time(t));
    }
    body.to_string()
}

/// `notifyType=CAPTURE_RESULT` for a capture that succeeded.
pub fn capture_result(payment: &Payment, capture: &Capture) -> String {
    json!({
        "notifyType": "CAPTURE_RESULT",
        "result": success(),
        "captureRequestId": capture.request_id.as_str(),
        "captureId": capture.id.as_str(),
        "paymentId": payment.id.as_str(),
        "captureAmount": amount(capture.amount),
        "captureTime": time(capture.created_at),
    })
    .to_string()
}
