//! `single_trade_query`: a payment as it stands, by `out_trade_no` or `trade_no`.

use super::Call;
use crate::beijing::datetime;
use crate::reply::{legacy_code, Element, Reply};
use backflow_domain::payment::{Door, Payment, PaymentStatus};
use backflow_domain::LegacyCode;
use backflow_domain::{PaymentId, PaymentRequestId};
use backflow_engine::EngineError;
use backflow_store::PaymentKey;

pub(crate) async fn handle(call: &Call<'_>) -> Result<Reply, LegacyCode> {
    let p = call.params;
    let merchant = &call.caller.merchant.client_id;
    let found = match (p.get("trade_no"), p.get("out_trade_no")) {
        (Some(id), _) => {
            let id = PaymentId::parse(id).map_err(|_| LegacyCode::IllegalArgument)?;
            call.engine
                .inquire_payment(merchant, PaymentKey::Id(&id))
                .await
        }
        (None, Some(id)) => {
            let id = PaymentRequestId::parse(id).map_err(|_| LegacyCode::IllegalArgument)?;
            call.engine
                .inquire_payment(merchant, PaymentKey::RequestId(&id))
                .await
        }
        (None, None) => return Err(LegacyCode::IllegalArgument),
    };
    let payment = match found {
        Ok(details) if details.payment.door == Door::Legacy => details.payment,
        // The query's own name for a payment it cannot find.
        Ok(_) | Err(EngineError::PaymentNotFound) => return Err(LegacyCode::TradeNotExist),
        Err(e) => return Err(legacy_code(&e, None)),
    };
    Ok(trade_answer(call, &payment))
}

/// The `trade_status` a payment shows on the legacy wire.
fn trade_status(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Processing | PaymentStatus::Authorized => "WAIT_BUYER_PAY",
        PaymentStatus::Success => "TRADE_FINISHED",
        PaymentStatus::Cancelled | PaymentStatus::Fail => "TRADE_CLOSED",
    }
}

/// `<alipay><is_success>T</is_success><request>…</request><response><trade>…</trade></response><sign>…</sign><sign_type>…</sign_type></alipay>`.
/// The signature covers the trade's fields, as a pre-sign string.
pub(crate) fn trade_answer(call: &Call<'_>, payment: &Payment) -> Reply {
    let amount_field = if payment.amount.currency.code() == "CNY" {
        "rmb_fee"
    } else {
        "total_fee"
    };
    let mut fields: Vec<(&'static str, String)> = vec![
        ("out_trade_no", payment.request_id.to_string()),
        ("trade_no", payment.id.to_string()),
        (amount_field, payment.amount.major_string()),
        ("currency", payment.settlement_currency.code().to_owned()),
        ("trade_status", trade_status(payment.status).to_owned()),
        ("gmt_create", datetime(payment.created_at)),
    ];
    if let Some(paid) = payment.paid_at {
        fields.push(("gmt_payment", datetime(paid)));
    }
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signature = call.caller.sign(call.params, &pairs);
    let request = call
        .params
        .iter()
        .filter(|(k, _)| *k != "sign" && *k != "sign_type")
        .map(|(k, v)| Element::text("param", v).with_attribute("name", k))
        .collect();
    let trade = fields
        .into_iter()
        .map(|(k, v)| Element::text(k, v))
        .collect();
    let mut children = vec![
        Element::text("is_success", "T"),
        Element::parent("request", request),
        Element::parent("response", vec![Element::parent("trade", trade)]),
    ];
    if let Some((sign, sign_type)) = signature {
        children.push(Element::text("sign", sign));
        children.push(Element::text("sign_type", sign_type.as_str()));
    }
    Reply::Xml(Element::parent("alipay", children))
}
