//! One file per service, and what they share: dispatch, authentication and field parsing.

mod create_forex_trade;
mod forex_compare_file;
mod forex_liquidation_file;
mod forex_rate_file;
mod forex_refund;
mod notify_verify;
mod report_file;
mod single_trade_query;

use crate::auth::Caller;
use crate::params::Params;
use crate::reply::{failure, Reply};
use backflow_domain::LegacyCode;
use backflow_domain::{Currency, Money};
use backflow_engine::Engine;

/// The services behind `/gateway.do` that take a signed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    ForexRefund,
    CreateForexTrade,
    SingleTradeQuery,
    CompareFile,
    LiquidationFile,
    RateFile,
}

impl Service {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "forex_refund" => Self::ForexRefund,
            // The WAP variant differs only in the buyer's page, which the sandbox skips.
            "create_forex_trade" | "create_forex_trade_wap" => Self::CreateForexTrade,
            "single_trade_query" => Self::SingleTradeQuery,
            "forex_compare_file" => Self::CompareFile,
            "forex_liquidation_file" => Self::LiquidationFile,
            "forex_rate_file" => Self::RateFile,
            _ => return None,
        })
    }
}

/// What a service needs: the engine, the authenticated caller and the parameters.
pub(crate) struct Call<'a> {
    pub engine: &'a Engine,
    pub caller: &'a Caller,
    pub params: &'a Params,
}

impl Call<'_> {
    /// A failure answer, signed for the caller.
    fn failure(&self, code: LegacyCode) -> Reply {
        failure(
            code,
            self.caller.sign(self.params, &[("error", code.as_str())]),
        )
    }
}

/// Answers one request. Checks run in this order: charset, service, partner,
/// sign type, signature; errors before the partner is known are unsigned.
pub(crate) async fn handle(engine: &Engine, params: &Params) -> Reply {
    let name = params.get("service").unwrap_or_default();
    if name == "notify_verify" {
        return notify_verify::handle(engine, params).await;
    }
    if params.declared_charset().is_none() {
        return failure(LegacyCode::IllegalCharset, None);
    }
    let Some(service) = Service::parse(name) else {
        return failure(LegacyCode::IllegalService, None);
    };
    let mut caller = match Caller::identify(engine, params).await {
        Ok(c) => c,
        Err(code) => return failure(code, None),
    };
    let authenticated = caller.authenticate(engine, params).await;
    let call = Call {
        engine,
        caller: &caller,
        params,
    };
    if let Err(code) = authenticated {
        return call.failure(code);
    }
    let outcome = match service {
        Service::ForexRefund => forex_refund::handle(&call).await,
        Service::CreateForexTrade => create_forex_trade::handle(&call).await,
        Service::SingleTradeQuery => single_trade_query::handle(&call).await,
        // Files answer their own errors in plain text.
        Service::CompareFile => Ok(forex_compare_file::handle(&call).await),
        Service::LiquidationFile => Ok(forex_liquidation_file::handle(&call).await),
        Service::RateFile => forex_rate_file::handle(&call).await,
    };
    outcome.unwrap_or_else(|code| call.failure(code))
}

/// A parameter that must be present and non-empty.
fn required<'p>(params: &'p Params, key: &str) -> Result<&'p str, LegacyCode> {
    params.get(key).ok_or(LegacyCode::IllegalArgument)
}

/// An optional parameter of at most `max` characters.
fn optional<'p>(params: &'p Params, key: &str, max: usize) -> Result<Option<&'p str>, LegacyCode> {
    match params.get(key) {
        Some(v) if v.chars().count() > max => Err(LegacyCode::IllegalArgument),
        other => Ok(other),
    }
}

/// The currency of a cross-border trade: one we serve, never CNY (CNY
/// amounts travel in the `rmb_` fields).
fn foreign_currency(code: &str) -> Result<Currency, LegacyCode> {
    Currency::parse(code)
        .ok()
        .filter(|c| c.code() != "CNY")
        .ok_or(LegacyCode::IllegalArgument)
}

fn cny() -> Result<Currency, LegacyCode> {
    Currency::parse("CNY").map_err(|_| LegacyCode::SystemException)
}

/// A legacy amount: a decimal in major units with at most two decimals (none
/// for JPY and KRW), from 0.01 to 1,000,000.00.
fn amount(currency: Currency, text: &str) -> Result<Money, LegacyCode> {
    let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
    let money = Money::parse_major(currency, text).map_err(|_| LegacyCode::IllegalArgument)?;
    let max = 1_000_000 * 10i64.pow(u32::from(currency.exponent()));
    if decimals > 2 || money.minor < 1 || money.minor > max {
        return Err(LegacyCode::IllegalArgument);
    }
    Ok(money)
}

/// A notification or return address: http(s), at most 200 characters, no spaces.
fn url(params: &Params, key: &str) -> Result<Option<String>, LegacyCode> {
    let Some(url) = optional(params, key, 200)? else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(LegacyCode::IllegalArgument)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || host.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(LegacyCode::IllegalArgument);
    }
    Ok(Some(url.to_owned()))
}

/// `product_code`, when given, names one of the two cross-border products.
fn product_code(params: &Params) -> Result<(), LegacyCode> {
    match params.get("product_code") {
        None | Some("NEW_OVERSEAS_SELLER" | "NEW_WAP_OVERSEAS_SELLER") => Ok(()),
        Some(_) => Err(LegacyCode::IllegalArgument),
    }
}

/// Records as the gateway's files write them: fields joined by `|`, each
/// record ended by `\n`, a field quoted only when it holds a `|`, a quote or
/// a line break (a merchant's own ids may).
fn pipe_separated<'a, R>(records: impl IntoIterator<Item = R>) -> Result<String, csv::Error>
where
    R: IntoIterator<Item = &'a str>,
{
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b'|')
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for record in records {
        writer.write_record(record)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    String::from_utf8(bytes).map_err(|e| csv::Error::from(std::io::Error::other(e)))
}

/// A file's answer: its records, or the gateway's sentence when they cannot be written.
fn file<'a, R>(records: impl IntoIterator<Item = R>) -> Reply
where
    R: IntoIterator<Item = &'a str>,
{
    match pipe_separated(records) {
        Ok(text) => Reply::Text(text),
        Err(e) => {
            tracing::error!(error = %e, "legacy file: cannot write the lines");
            Reply::Text(SYSTEM_EXCEPTION.into())
        }
    }
}

/// What the gateway answers when a file cannot be made.
const SYSTEM_EXCEPTION: &str = "System exception";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_quote_only_what_needs_it() {
        let ordinary = [
            [
                "2025043001",
                "12.50",
                "USD",
                "20250430152658",
                "",
                "P",
                "0.38",
                "P",
                "",
            ],
            [
                "r-1",
                "1.00",
                "USD",
                "20250430152658",
                "20250501000000",
                "R",
                "0.00",
                "L",
                "2025043001",
            ],
        ];
        let joined: String = ordinary.iter().map(|r| r.join("|") + "\n").collect();
        assert_eq!(pipe_separated(ordinary).unwrap(), joined);
        assert_eq!(
            pipe_separated([["a|b", "say \"hi\"", "two\nlines", ""]]).unwrap(),
            "\"a|b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\n"
        );
        assert_eq!(pipe_separated(Vec::<[&str; 2]>::new()).unwrap(), "");
    }

    #[test]
    fn amounts_follow_the_legacy_rules() {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let bhd = Currency::parse("BHD").unwrap();
        assert_eq!(amount(usd, "0.5").unwrap().minor, 50);
        assert_eq!(amount(usd, "1000000.00").unwrap().minor, 100_000_000);
        assert_eq!(amount(jpy, "500").unwrap().minor, 500);
        assert_eq!(amount(bhd, "1.25").unwrap().minor, 1250);
        for (c, bad) in [
            (usd, "0"),
            (usd, "0.00"),
            (usd, "1000000.01"),
            (usd, "0.001"),
            (usd, "-1"),
            (usd, "1e3"),
            (jpy, "500.0"),
            (bhd, "1.255"),
        ] {
            assert_eq!(amount(c, bad), Err(LegacyCode::IllegalArgument), "{bad}");
        }
    }

    #[test]
    fn cny_is_not_a_trade_currency() {
        assert!(foreign_currency("USD").is_ok());
        assert_eq!(foreign_currency("CNY"), Err(LegacyCode::IllegalArgument));
        assert_eq!(foreign_currency("usd"), Err(LegacyCode::IllegalArgument));
    }
}
