//! Legacy notification bodies (docs/wire.md#refund-notification):
//! form-encoded, UTF-8, signed inside the body with the merchant's MD5 key.
//! No value is ever empty, since clients verify without empty values.

use backflow_crypto::legacy::{md5_sign, presign, SignType};
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::Payment;
use backflow_domain::refund::{Refund, RefundStatus};
use backflow_domain::{LegacyCode, Money, ResultCode, Timestamp};
use time::macros::{format_description, offset};
use url::form_urlencoded;

/// `yyyy-MM-dd HH:mm:ss` in Beijing time, as the legacy wire writes instants.
pub fn beijing_datetime(t: Timestamp) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset_datetime()
        .to_offset(offset!(+8))
        .format(&f)
        .unwrap_or_default()
}

/// The amount field of a legacy trade: CNY-priced payments carry theirs as `rmb_…`.
fn amount_field(money: Money, foreign: &'static str, rmb: &'static str) -> (&'static str, String) {
    let key = if money.currency.code() == "CNY" {
        rmb
    } else {
        foreign
    };
    (key, money.major_string())
}

/// `notify_type=refund_status_sync` for a legacy refund that became final.
/// `currency` is the trade's foreign currency, as the request named it.
pub fn refund_status_sync(
    merchant: &Merchant,
    payment: &Payment,
    refund: &Refund,
    notify_id: &str,
    now: Timestamp,
) -> String {
    let succeeded = refund.status() == RefundStatus::Success;
    let mut fields = vec![
        ("notify_type", "refund_status_sync".to_owned()),
        ("notify_id", notify_id.to_owned()),
        ("notify_time", beijing_datetime(now)),
        ("out_trade_no", payment.request_id.to_string()),
        ("out_return_no", refund.request_id.to_string()),
        amount_field(refund.amount, "return_amount", "return_rmb_amount"),
        ("currency", payment.settlement_currency.code().to_owned()),
        (
            "refund_status",
            if succeeded {
                "REFUND_SUCCESS"
            } else {
                "REFUND_FAIL"
            }
            .to_owned(),
        ),
    ];
    if !succeeded {
        let code = LegacyCode::from(ResultCode::of_failure(refund.result_code()));
        fields.push(("error_code", code.as_str().to_owned()));
    }
    signed_form(fields, &merchant.legacy_md5_key)
}

/// `notify_type=trade_status_sync` with `trade_status=TRADE_FINISHED` for a
/// sandbox payment made through `create_forex_trade`.
pub fn trade_status_sync(
    merchant: &Merchant,
    payment: &Payment,
    notify_id: &str,
    now: Timestamp,
) -> String {
    let fields = vec![
        ("notify_type", "trade_status_sync".to_owned()),
        ("notify_id", notify_id.to_owned()),
        ("notify_time", beijing_datetime(now)),
        ("out_trade_no", payment.request_id.to_string()),
        ("trade_no", payment.id.to_string()),
        ("trade_status", "TRADE_FINISHED".to_owned()),
        amount_field(payment.amount, "total_fee", "rmb_fee"),
        ("currency", payment.settlement_currency.code().to_owned()),
    ];
    signed_form(fields, &merchant.legacy_md5_key)
}

/// The fields without empty values, then `sign` (MD5 over them) and `sign_type`, form-encoded.
fn signed_form(mut fields: Vec<(&'static str, String)>, md5_key: &str) -> String {
    fields.retain(|(_, v)| !v.is_empty());
    let content = presign(fields.iter().map(|(k, v)| (k, v)), false);
    let sign = md5_sign(&content, md5_key.as_bytes());
    fields.push(("sign", sign));
    fields.push(("sign_type", SignType::Md5.as_str().to_owned()));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use backflow_crypto::legacy::{verify, Verifier};
    use backflow_domain::merchant::Contract;
    use backflow_domain::payment::{Door, PaymentStatus, ProductCode};
    use backflow_domain::refund::{Hold, RefundState, Settlement};
    use backflow_domain::{
        ClientId, Currency, PaymentId, PaymentRequestId, RefundId, RefundRequestId,
    };

    const KEY: &str = "10000000000000000000000000000000";

    fn merchant() -> Merchant {
        Merchant {
            client_id: ClientId::parse("SANDBOX_M").unwrap(),
            name: "M".into(),
            settlement_currency: None,
            notify_url: None,
            legacy_partner_id: "2088000000000001".into(),
            legacy_md5_key: KEY.into(),
            contract: Contract::default(),
        }
    }

    fn usd(minor: i64) -> Money {
        Money::new(Currency::parse("USD").unwrap(), minor)
    }

    fn payment() -> Payment {
        Payment {
            id: PaymentId::parse("P1").unwrap(),
            merchant: merchant().client_id,
            door: Door::Legacy,
            request_id: PaymentRequestId::parse("trade-1").unwrap(),
            amount: usd(1000),
            method_type: "ALIPAY_CN".into(),
            product_code: ProductCode::Cashier,
            status: PaymentStatus::Success,
            is_authorization: false,
            captured_minor: 0,
            capture_closed: false,
            settlement_currency: usd(0).currency,
            settled_minor: 1000,
            commission_minor: 0,
            acquirer: None,
            chargeback_pending: false,
            notify_url: None,
            created_at: Timestamp(0),
            paid_at: Some(Timestamp(0)),
        }
    }

    fn refund(status: RefundStatus, result_code: Option<ResultCode>) -> Refund {
        let state = match (status, result_code) {
            (RefundStatus::Fail, Some(code)) => RefundState::Fail {
                code,
                released: Hold {
                    amount: usd(1),
                    quote: None,
                },
                finished_at: Timestamp(0),
            },
            (RefundStatus::Success, None) => RefundState::Success(Settlement {
                held: usd(1),
                settled: usd(1),
                quote: None,
                commission_returned: 0,
                finished_at: Timestamp(0),
            }),
            other => panic!("no final refund is {other:?}"),
        };
        Refund {
            id: RefundId::parse("F1").unwrap(),
            merchant: merchant().client_id,
            request_id: RefundRequestId::parse("return-1").unwrap(),
            payment_id: PaymentId::parse("P1").unwrap(),
            amount: usd(1),
            reason: None,
            notify_url: None,
            notify_on_final: true,
            acquirer: None,
            created_at: Timestamp(0),
            state,
        }
    }

    fn parse(body: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    // 2025-04-30T07:26:58Z is 15:26:58 in Beijing.
    const NOW: Timestamp = Timestamp(1_745_998_018_000);

    #[test]
    fn a_successful_refund_notice_verifies_with_the_md5_key() {
        let body = refund_status_sync(
            &merchant(),
            &payment(),
            &refund(RefundStatus::Success, None),
            "n1",
            NOW,
        );
        let pairs = parse(&body);
        assert_eq!(field(&pairs, "notify_type"), Some("refund_status_sync"));
        assert_eq!(field(&pairs, "notify_time"), Some("2025-04-30 15:26:58"));
        assert_eq!(field(&pairs, "return_amount"), Some("0.01"));
        assert_eq!(field(&pairs, "currency"), Some("USD"));
        assert_eq!(field(&pairs, "refund_status"), Some("REFUND_SUCCESS"));
        assert_eq!(field(&pairs, "error_code"), None);
        assert_eq!(field(&pairs, "sign_type"), Some("MD5"));
        assert!(pairs.iter().all(|(_, v)| !v.is_empty()));
        let sign = field(&pairs, "sign").unwrap();
        assert!(verify(
            &pairs,
            sign,
            Verifier::Md5 {
                key: KEY.as_bytes()
            }
        ));
        assert!(
            body.contains("notify_time=2025-04-30+15%3A26%3A58"),
            "{body}"
        );
    }

    #[test]
    fn a_failed_refund_notice_names_the_legacy_code() {
        let body = refund_status_sync(
            &merchant(),
            &payment(),
            &refund(RefundStatus::Fail, Some(ResultCode::OrderIsClosed)),
            "n2",
            NOW,
        );
        let pairs = parse(&body);
        assert_eq!(field(&pairs, "refund_status"), Some("REFUND_FAIL"));
        assert_eq!(field(&pairs, "error_code"), Some("TRADE_HAS_CLOSE"));
    }

    #[test]
    fn cny_priced_trades_carry_rmb_amounts() {
        let mut p = payment();
        p.amount = Money::new(Currency::parse("CNY").unwrap(), 7000);
        let pairs = parse(&trade_status_sync(&merchant(), &p, "n3", NOW));
        assert_eq!(field(&pairs, "rmb_fee"), Some("70.00"));
        assert_eq!(field(&pairs, "total_fee"), None);
        assert_eq!(field(&pairs, "currency"), Some("USD"));
        assert_eq!(field(&pairs, "trade_status"), Some("TRADE_FINISHED"));
        assert!(verify(
            &pairs,
            field(&pairs, "sign").unwrap(),
            Verifier::Md5 {
                key: KEY.as_bytes()
            }
        ));
    }
}
