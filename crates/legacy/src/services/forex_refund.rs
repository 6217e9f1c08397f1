//! `forex_refund`: a refund of a cross-border payment, answered at once
//! (`is_sync=Y`) or accepted and finished later with a notification (`is_sync=N`).

use super::{amount, cny, foreign_currency, optional, product_code, required, url, Call};
use crate::beijing;
use crate::reply::{legacy_code, success, Reply};
use backflow_domain::payment::Door;
use backflow_domain::refund::RefundState;
use backflow_domain::LegacyCode;
use backflow_domain::{PaymentRequestId, RefundRequestId, ResultCode};
use backflow_engine::{RefundCommand, RefundMode};
use backflow_store::PaymentKey;

/// How many entries `split_fund_info` may list.
const MAX_SPLITS: usize = 10;

pub(crate) async fn handle(call: &Call<'_>) -> Result<Reply, LegacyCode> {
    let p = call.params;
    let request_id = RefundRequestId::parse(required(p, "out_return_no")?)
        .map_err(|_| LegacyCode::IllegalArgument)?;
    let trade = PaymentRequestId::parse(required(p, "out_trade_no")?)
        .map_err(|_| LegacyCode::IllegalArgument)?;
    let currency = foreign_currency(required(p, "currency")?)?;
    let money = match (p.get("return_amount"), p.get("return_rmb_amount")) {
        (Some(a), None) => amount(currency, a)?,
        (None, Some(rmb)) => amount(cny()?, rmb)?,
        _ => return Err(LegacyCode::IllegalArgument),
    };
    beijing::parse_gmt(required(p, "gmt_return")?).ok_or(LegacyCode::IllegalArgument)?;
    let reason = optional(p, "reason", 100)?.map(str::to_owned);
    let notify_url = url(p, "notify_url")?;
    product_code(p)?;
    split_fund_info(p.get("split_fund_info"))?;
    let mode = match p.get("is_sync").map(str::to_ascii_uppercase).as_deref() {
        None | Some("N") => RefundMode::LegacyAsync,
        Some("Y") => RefundMode::LegacySync,
        Some(_) => return Err(LegacyCode::IllegalArgument),
    };

    let merchant = &call.caller.merchant.client_id;
    // The legacy door sees only payments made through it (docs/legacy.md).
    let payment = call
        .engine
        .payment(merchant, PaymentKey::RequestId(&trade))
        .await
        .map_err(|e| legacy_code(&e, None))?
        .filter(|p| p.door == Door::Legacy)
        .ok_or(LegacyCode::PurchaseTradeNotExist)?;
    // A CNY-priced payment is refunded in CNY; `currency` must still name the
    // currency it was settled in. Other payments' currency is checked by the rules.
    if money.currency != currency && currency != payment.settlement_currency {
        return Err(LegacyCode::CurrencyNotSame);
    }
    let refund = call
        .engine
        .refund(RefundCommand {
            merchant: merchant.clone(),
            request_id,
            payment_id: payment.id.clone(),
            amount: money,
            reason,
            notify_url,
            mode,
        })
        .await
        .map_err(|e| legacy_code(&e, Some(payment.status)))?;
    // A repeat answers as the original did: T unless the refund failed.
    match &refund.state {
        RefundState::Fail { code, .. } => Err(ResultCode::of_failure(Some(*code)).into()),
        RefundState::Processing { .. }
        | RefundState::WaitingFunds { .. }
        | RefundState::Success(_)
        | RefundState::Reversed { .. } => Ok(Reply::Xml(success())),
    }
}

/// `split_fund_info`: a JSON list of at most ten entries, passed through unread.
fn split_fund_info(value: Option<&str>) -> Result<(), LegacyCode> {
    let Some(text) = value else { return Ok(()) };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(entries)) if entries.len() <= MAX_SPLITS => Ok(()),
        _ => Err(LegacyCode::IllegalArgument),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_fund_info_is_a_short_json_list() {
        use super::split_fund_info;
        assert!(split_fund_info(None).is_ok());
        assert!(split_fund_info(Some(r#"[{"transIn":"2088","amount":"1.00"}]"#)).is_ok());
        assert!(split_fund_info(Some("{}")).is_err());
        assert!(split_fund_info(Some(&format!("[{}]", ["{}"; 11].join(",")))).is_err());
    }
}
