//! What the gateway answers: XML documents (or plain text for files and
//! `notify_verify`), always HTTP 200, and the one place engine errors become
//! legacy error codes.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use backflow_crypto::legacy::{Charset, SignType};
use backflow_domain::payment::PaymentStatus;
use backflow_domain::refund::RefundRefused;
use backflow_domain::LegacyCode;
use backflow_engine::EngineError;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

/// The one place engine errors become legacy codes. `trade` is the status of
/// the payment the request named, when the door found one: the engine refuses
/// unpaid and closed payments alike, the legacy wire tells them apart.
pub(crate) fn legacy_code(e: &EngineError, trade: Option<PaymentStatus>) -> LegacyCode {
    let closed = matches!(trade, Some(PaymentStatus::Cancelled | PaymentStatus::Fail));
    match e {
        EngineError::RefundRefused(RefundRefused::OrderStatusInvalid) if closed => {
            LegacyCode::TradeHasClose
        }
        // A trade under chargeback reads as closed here.
        EngineError::RefundRefused(RefundRefused::ChargebackPending) => LegacyCode::TradeHasClose,
        EngineError::RefundRefused(r) => r.code().into(),
        EngineError::Injected(code) => (*code).into(),
        EngineError::UnknownMerchant => LegacyCode::IllegalPartner,
        EngineError::UnknownKeyVersion(_) => LegacyCode::IllegalSign,
        EngineError::PaymentNotFound | EngineError::RefundNotFound => {
            LegacyCode::PurchaseTradeNotExist
        }
        EngineError::PaymentStatusInvalid => LegacyCode::TradeHasClose,
        EngineError::CurrencyNotSupported
        | EngineError::CaptureAmountExceeds
        | EngineError::RepeatInconsistent
        | EngineError::Invalid(_) => LegacyCode::IllegalArgument,
        // The wire has no rate-limit code (docs/wire.md#forex_refund): ask for a retry.
        EngineError::TrafficLimited => LegacyCode::SystemException,
        EngineError::Store(_) | EngineError::Crypto(_) => {
            // Logged once here; the merchant retries with the same request.
            tracing::error!(error = %e, "legacy gateway: internal failure");
            LegacyCode::SystemException
        }
    }
}

/// An XML element: text, or child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    name: &'static str,
    attribute: Option<(&'static str, String)>,
    content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Text(String),
    Children(Vec<Element>),
}

impl Element {
    pub fn text(name: &'static str, text: impl Into<String>) -> Self {
        Self {
            name,
            attribute: None,
            content: Content::Text(text.into()),
        }
    }

    pub fn parent(name: &'static str, children: Vec<Element>) -> Self {
        Self {
            name,
            attribute: None,
            content: Content::Children(children),
        }
    }

    pub fn with_attribute(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attribute = Some((name, value.into()));
        self
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let mut start = w.create_element(self.name);
        if let Some((k, v)) = &self.attribute {
            start = start.with_attribute((*k, v.as_str()));
        }
        match &self.content {
            Content::Text(t) => start.write_text_content(BytesText::new(t))?,
            Content::Children(children) => {
                start.write_inner_content(|w| children.iter().try_for_each(|c| c.write(w)))?
            }
        };
        Ok(())
    }
}

/// The `<alipay>` document of a successful answer with nothing more to say.
pub(crate) fn success() -> Element {
    Element::parent("alipay", vec![Element::text("is_success", "T")])
}

/// `<is_success>F</is_success><error>CODE</error>`, with `sign` and
/// `sign_type` over `error=CODE` when the caller is known (Alipay signs its
/// failures for MD5 merchants too, docs/wire.md#forex_refund).
pub(crate) fn failure(code: LegacyCode, signature: Option<(String, SignType)>) -> Reply {
    let mut children = vec![
        Element::text("is_success", "F"),
        Element::text("error", code.as_str()),
    ];
    if let Some((sign, sign_type)) = signature {
        children.push(Element::text("sign", sign));
        children.push(Element::text("sign_type", sign_type.as_str()));
    }
    Reply::Xml(Element::parent("alipay", children))
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An XML document, `text/xml`.
    Xml(Element),
    /// Plain text: files, their error sentences, `notify_verify`.
    Text(String),
}

impl Reply {
    /// The HTTP answer, in `charset`. Always 200: legacy clients read the body, not the status.
    pub fn into_response(self, charset: Charset) -> Response {
        let (body, kind) = match self {
            Reply::Xml(root) => (xml_document(&root, charset), "text/xml"),
            Reply::Text(text) => (charset.encode(&text).into_owned(), "text/plain"),
        };
        let mut response = body.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("{kind}; charset={}", charset.name())) {
            response.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        response
    }
}

/// `<?xml version="1.0" encoding="…"?>` and the document, as bytes in `charset`.
fn xml_document(root: &Element, charset: Charset) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let written = w
        .write_event(Event::Decl(BytesDecl::new(
            "1.0",
            Some(charset.name()),
            None,
        )))
        .and_then(|()| root.write(&mut w));
    // Writing to memory cannot fail; should it, the client still gets a document to parse.
    let utf8 = match written {
        Ok(()) => String::from_utf8(w.into_inner()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let utf8 = if utf8.is_empty() {
        format!(
            r#"<?xml version="1.0" encoding="{}"?><alipay><is_success>F</is_success><error>SYSTEM_EXCEPTION</error></alipay>"#,
            charset.name()
        )
    } else {
        utf8
    };
    charset.encode(&utf8).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use backflow_domain::ResultCode;

    fn render(root: &Element, charset: Charset) -> String {
        let bytes = xml_document(root, charset);
        charset.decode(&bytes).unwrap()
    }

    #[test]
    fn success_is_a_bare_t() {
        assert_eq!(
            render(&success(), Charset::Utf8),
            r#"<?xml version="1.0" encoding="UTF-8"?><alipay><is_success>T</is_success></alipay>"#
        );
    }

    #[test]
    fn text_is_escaped_and_gbk_is_encoded() {
        let doc = Element::parent(
            "alipay",
            vec![Element::text("param", "退款 <&>").with_attribute("name", "reason\"")],
        );
        let bytes = xml_document(&doc, Charset::Gbk);
        assert!(
            bytes.windows(2).any(|w| w == [0xCD, 0xCB]),
            "GBK bytes for 退"
        );
        assert_eq!(
            render(&doc, Charset::Gbk),
            r#"<?xml version="1.0" encoding="GBK"?><alipay><param name="reason&quot;">退款 &lt;&amp;&gt;</param></alipay>"#
        );
    }

    #[test]
    fn refusals_map_to_legacy_codes() {
        let refused = |r| EngineError::RefundRefused(r);
        assert_eq!(
            legacy_code(
                &refused(RefundRefused::AmountExceeds { refundable: 1 }),
                None
            ),
            LegacyCode::ReturnAmountExceed
        );
        assert_eq!(
            legacy_code(
                &refused(RefundRefused::OrderStatusInvalid),
                Some(PaymentStatus::Cancelled)
            ),
            LegacyCode::TradeHasClose
        );
        assert_eq!(
            legacy_code(
                &refused(RefundRefused::OrderStatusInvalid),
                Some(PaymentStatus::Processing)
            ),
            LegacyCode::PurchaseTradeNotExist
        );
        assert_eq!(
            legacy_code(&refused(RefundRefused::RepeatInconsistent), None),
            LegacyCode::RepeatedRefundmentRequest
        );
        assert_eq!(
            legacy_code(
                &refused(RefundRefused::WindowExceeded { window_days: 365 }),
                None
            ),
            LegacyCode::RefundmentValidDateExceed
        );
        assert_eq!(
            legacy_code(&refused(RefundRefused::BelowMinimum { minimum: 50 }), None),
            LegacyCode::ReturnAmountExceed
        );
        assert_eq!(
            legacy_code(&refused(RefundRefused::ChargebackPending), None),
            LegacyCode::TradeHasClose
        );
        assert_eq!(
            legacy_code(&EngineError::Injected(ResultCode::RefundWindowExceed), None),
            LegacyCode::RefundmentValidDateExceed
        );
        assert_eq!(
            LegacyCode::from(ResultCode::ProcessFail),
            LegacyCode::SystemException
        );
    }
}
