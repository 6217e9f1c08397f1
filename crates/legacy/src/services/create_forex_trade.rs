//! `create_forex_trade` and `create_forex_trade_wap`: sandbox payments.
//!
//! In production these send the buyer's browser to Alipay's cashier. The
//! sandbox has no buyer: the payment is made with the ALIPAY_CN wallet and
//! completed at once, and the answer is the trade as `single_trade_query`
//! shows it.

use super::single_trade_query::trade_answer;
use super::{amount, cny, foreign_currency, optional, product_code, required, url, Call};
use crate::reply::{legacy_code, Reply};
use backflow_domain::payment::{Door, ProductCode};
use backflow_domain::LegacyCode;
use backflow_domain::PaymentRequestId;
use backflow_engine::PayCommand;

/// The wallet a legacy cross-border payment is made with.
const METHOD: &str = "ALIPAY_CN";

pub(crate) async fn handle(call: &Call<'_>) -> Result<Reply, LegacyCode> {
    let p = call.params;
    let request_id = PaymentRequestId::parse(required(p, "out_trade_no")?)
        .map_err(|_| LegacyCode::IllegalArgument)?;
    optional(p, "subject", 256)?.ok_or(LegacyCode::IllegalArgument)?;
    optional(p, "body", 400)?;
    // `currency` is the currency the merchant is settled in; the price is in it
    // (`total_fee`) or in CNY (`rmb_fee`).
    let currency = foreign_currency(required(p, "currency")?)?;
    let money = match (p.get("total_fee"), p.get("rmb_fee")) {
        (Some(fee), None) => amount(currency, fee)?,
        (None, Some(rmb)) => amount(cny()?, rmb)?,
        _ => return Err(LegacyCode::IllegalArgument),
    };
    let notify_url = url(p, "notify_url")?;
    url(p, "return_url")?;
    product_code(p)?;
    let merchant = &call.caller.merchant.client_id;
    let engine_error = |e| legacy_code(&e, None);
    let payment = call
        .engine
        .pay(PayCommand {
            merchant: merchant.clone(),
            door: Door::Legacy,
            request_id,
            amount: money,
            method_type: METHOD.to_owned(),
            product_code: ProductCode::Cashier,
            is_authorization: false,
            settlement_currency: Some(currency),
            notify_url,
        })
        .await
        .map_err(engine_error)?;
    // The sandbox buyer pays at once; completing a paid payment again is a no-op,
    // so a repeated request answers with the same trade.
    let payment = call
        .engine
        .complete_checkout(merchant, &payment.id)
        .await
        .map_err(engine_error)?;
    Ok(trade_answer(call, &payment))
}
