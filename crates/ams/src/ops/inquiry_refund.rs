//! `inquiryRefund`: where a refund stands.

use super::{engine_error, id};
use crate::result::AmsResult;
use crate::wire::{check_len, parse_body};
use crate::Call;
use backflow_domain::refund::RefundState;
use backflow_domain::{RefundId, RefundRequestId, ResultCode};
use backflow_store::RefundKey;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = InquiryRefundRequest)]
pub(crate) struct Request {
    refund_id: Option<String>,
    refund_request_id: Option<String>,
    merchant_account_id: Option<String>,
}

pub async fn handle(call: &Call<'_>, body: &[u8]) -> Result<Value, AmsResult> {
    let req: Request = parse_body(body)?;
    check_len("merchantAccountId", req.merchant_account_id.as_deref(), 32)?;
    // `refundId` wins when both are given.
    let refund = match (req.refund_id, req.refund_request_id) {
        (Some(rid), _) => {
            let rid = id(RefundId::parse, rid)?;
            call.engine
                .inquire_refund(&call.merchant, RefundKey::Id(&rid))
                .await
        }
        (None, Some(rrid)) => {
            let rrid = id(RefundRequestId::parse, rrid)?;
            call.engine
                .inquire_refund(&call.merchant, RefundKey::RequestId(&rrid))
                .await
        }
        (None, None) => {
            return Err(AmsResult::param_illegal(
                "refundId or refundRequestId is required.",
            ))
        }
    }
    .map_err(engine_error)?;
    let status = crate::wire::refund_status(refund.status());
    // ORDER_IS_CLOSED is usually returned in the inquiryRefund response (docs/wire.md#result-codes);
    // every other outcome is a successful inquiry reporting the refund's status.
    let result = match &refund.state {
        RefundState::Fail {
            code: ResultCode::OrderIsClosed,
            ..
        } => AmsResult::of(ResultCode::OrderIsClosed),
        _ => AmsResult::success(),
    };
    let mut v = backflow_engine::notices::ams::refund_fields(&refund);
    v["result"] = json!(result);
    v["refundStatus"] = json!(status);
    Ok(v)
}
