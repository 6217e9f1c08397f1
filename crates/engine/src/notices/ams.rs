//! AMS notification bodies (spec/ams.md, "notifyRefund"): JSON, signed by the
//! notifier with the merchant's platform key on every attempt.

use backflow_domain::payment::Payment;
use backflow_domain::refund::{Refund, RefundStatus};
use backflow_domain::{Money, Timestamp};
use backflow_store::Capture;
use serde_json::{json, Value};

fn amount(m: Money) -> Value {
    // Always a string of minor units: Go's SDK fails on a number.
    json!({"currency": m.currency.code(), "value": m.minor_string()})
}

fn success() -> Value {
    json!({"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success."})
}

fn time(t: Timestamp) -> String {
    t.to_iso8601()
}

/// `notifyType=REFUND_RESULT` for a refund that reached SUCCESS or FAIL.
pub fn refund_result(payment: &Payment, refund: &Refund) -> String {
    let succeeded = refund.status == RefundStatus::Success;
    let result = if succeeded {
        success()
    } else {
        let code = refund.result_code.as_deref().unwrap_or("PROCESS_FAIL");
        json!({"resultCode": code, "resultStatus": "F", "resultMessage": "The refund failed."})
    };
    let mut body = json!({
        "notifyType": "REFUND_RESULT",
        "result": result,
        "refundStatus": if succeeded { "SUCCESS" } else { "FAIL" },
        "refundRequestId": refund.request_id.as_str(),
        "refundId": refund.id.as_str(),
        "refundAmount": amount(refund.amount),
        "paymentId": payment.id.as_str(),
        "paymentRequestId": payment.request_id.as_str(),
    });
    if succeeded {
        if let Some(t) = refund.finished_at {
            body["refundTime"] = json!(time(t));
        }
        if let Some(settled) = refund.settled {
            body["grossSettlementAmount"] = amount(settled);
        }
    }
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
