//! `pay`: sandbox payments, so that there is something to refund.

use super::{amount, engine_error, id};
use crate::result::AmsResult;
use crate::wire::{check_len, check_notify_url, flexible_bool, parse_body, time, WireAmount};
use crate::Call;
use backflow_domain::payment::{Door, Payment, PaymentStatus, ProductCode};
use backflow_domain::ResultCode;
use backflow_domain::{Currency, PaymentRequestId};
use backflow_engine::PayCommand;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PayRequest)]
pub(crate) struct Request {
    product_code: String,
    payment_request_id: String,
    payment_amount: WireAmount,
    payment_method: PaymentMethod,
    payment_notify_url: Option<String>,
    payment_redirect_url: Option<String>,
    settlement_strategy: Option<SettlementStrategy>,
    payment_factor: Option<PaymentFactor>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentMethod {
    payment_method_type: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SettlementStrategy {
    settlement_currency: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentFactor {
    #[serde(default, deserialize_with = "flexible_bool")]
    #[schema(schema_with = crate::openapi::flexible_bool)]
    is_authorization: Option<bool>,
}

pub async fn handle(call: &Call<'_>, body: &[u8]) -> Result<Value, AmsResult> {
    let req: Request = parse_body(body)?;
    let product_code = ProductCode::parse(&req.product_code).ok_or_else(|| {
        AmsResult::param_illegal(format!(
            "productCode {:?} is not supported.",
            req.product_code
        ))
    })?;
    let request_id = id(PaymentRequestId::parse, req.payment_request_id)?;
    let method_type = req.payment_method.payment_method_type;
    if method_type.is_empty() || method_type.len() > 64 {
        return Err(AmsResult::param_illegal(
            "paymentMethod.paymentMethodType is required.",
        ));
    }
    check_notify_url(
        "paymentNotifyUrl",
        req.payment_notify_url.as_deref(),
        &call.merchant,
    )?;
    check_len(
        "paymentRedirectUrl",
        req.payment_redirect_url.as_deref(),
        2048,
    )?;
    let amount = amount("paymentAmount", &req.payment_amount)?;
    let settlement_currency = req
        .settlement_strategy
        .and_then(|s| s.settlement_currency)
        .map(|c| {
            Currency::parse(&c).map_err(|_| {
                AmsResult::new(
                    ResultCode::CurrencyNotSupport,
                    "settlementStrategy.settlementCurrency is not supported.",
                )
            })
        })
        .transpose()?;
    let payment = call
        .engine
        .pay(PayCommand {
            merchant: call.merchant.clone(),
            door: Door::Ams,
            request_id,
            amount,
            method_type,
            product_code,
            is_authorization: req
                .payment_factor
                .and_then(|f| f.is_authorization)
                .unwrap_or(false),
            settlement_currency,
            notify_url: req.payment_notify_url,
        })
        .await
        .map_err(engine_error)?;
    Ok(render(call, &payment))
}

fn render(call: &Call<'_>, p: &Payment) -> Value {
    let result = match p.status {
        PaymentStatus::Success | PaymentStatus::Authorized => AmsResult::success(),
        PaymentStatus::Processing => AmsResult::of(ResultCode::PaymentInProcess),
        PaymentStatus::Cancelled => {
            AmsResult::new(ResultCode::OrderIsClosed, "The payment was cancelled.")
        }
        PaymentStatus::Fail => AmsResult::new(ResultCode::ProcessFail, "The payment failed."),
    };
    let mut v = json!({
        "result": result,
        "paymentId": p.id.as_str(),
        "paymentRequestId": p.request_id.as_str(),
        "paymentAmount": WireAmount::from_money(p.amount),
        "paymentCreateTime": time(p.created_at),
    });
    if let Some(t) = p.paid_at {
        v["paymentTime"] = json!(time(t));
    }
    if p.status == PaymentStatus::Processing {
        v["normalUrl"] = json!(format!(
            "{}/sandbox/checkout/{}/{}",
            call.base_url, p.merchant, p.id
        ));
    }
    v
}
