//! The legacy gateway (`/gateway.do`), driven by a client that signs the way
//! Alipay's legacy clients do: query-string GET and form POST, MD5 and RSA2,
//! UTF-8 and GBK. Its signing is written here from docs/wire.md#legacy-signing,
//! independently of the server's.

use crate::helpers::{
    assert_ledger_sound, on_both_backends, spawn_app, spawn_app_with_writer, Backend, Receiver,
    Reply, TestApp,
};
use backflow_crypto::{b64, decode_pem_body, decode_signature_base64, SigningKey, VerifyingKey};
use backflow_domain::ledger::PostingKind;
use backflow_domain::payment::{Door, ProductCode};
use backflow_domain::{
    ClientId, Clock, Currency, Money, PaymentRequestId, RefundRequestId, Timestamp,
};
use backflow_engine::{MerchantSpec, PayCommand};
use backflow_store::{RefundKey, WriterSettings};
use md5::{Digest, Md5};
use std::sync::Arc;

// ---------------------------------------------------------------- the client

/// A legacy merchant's credentials, as the merchant holds them.
#[derive(Clone)]
struct LegacyMerchant {
    client_id: ClientId,
    partner: String,
    md5_key: String,
    /// The private key whose public half is registered (RSA2 requests).
    rsa: Option<Arc<SigningKey>>,
    /// The platform key that signs answers to RSA2 requests.
    platform: Option<VerifyingKey>,
}

impl LegacyMerchant {
    /// The demo merchant, from `demo-merchant.json` as a merchant would read it.
    fn demo(app: &TestApp) -> Self {
        let text = std::fs::read_to_string(app.data_dir.path().join("demo-merchant.json"))
            .expect("demo-merchant.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        let field = |k: &str| json[k].as_str().expect(k).to_owned();
        Self {
            client_id: ClientId::parse(field("clientId")).expect("id"),
            partner: field("legacyPartnerId"),
            md5_key: field("legacyMd5Key"),
            rsa: None,
            platform: None,
        }
    }

    /// Another sandbox merchant with a key pair it controls.
    async fn create(app: &TestApp) -> Self {
        let created = app
            .engine
            .create_merchant(MerchantSpec {
                name: "Legacy shop".into(),
                sandbox: true,
                ..MerchantSpec::default()
            })
            .await
            .expect("merchant");
        let pkcs8 = decode_pem_body(created.merchant_private_key_pkcs8.as_deref().expect("key"))
            .expect("base64");
        Self {
            client_id: created.client_id,
            partner: created.legacy_partner_id,
            md5_key: created.legacy_md5_key,
            rsa: Some(Arc::new(SigningKey::from_pkcs8_der(&pkcs8).expect("key"))),
            platform: Some(VerifyingKey::from_base64(&created.platform_public_key).expect("key")),
        }
    }

    fn call(&self, service: &str) -> Call {
        Call {
            merchant: self.clone(),
            params: vec![
                ("service".into(), service.into()),
                ("partner".into(), self.partner.clone()),
                ("_input_charset".into(), "utf-8".into()),
            ],
            charset: "utf-8",
            scheme: Scheme::Md5,
            sign_empty: false,
            tamper: None,
        }
    }

    /// `md5(content + key)`, lower-case hex.
    fn md5(&self, content: &[u8]) -> String {
        let mut h = Md5::new();
        h.update(content);
        h.update(self.md5_key.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `sign` is our MD5 signature over `pairs`.
    fn verifies(&self, pairs: &[(String, String)], sign: &str) -> bool {
        self.md5(&presign(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.as_bytes().to_vec())),
            false,
        )) == sign
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Md5,
    Rsa2,
}

/// The pre-sign string: sorted by key, empty values dropped unless asked, raw values.
fn presign(pairs: impl Iterator<Item = (String, Vec<u8>)>, keep_empty: bool) -> Vec<u8> {
    let mut pairs: Vec<_> = pairs
        .filter(|(k, v)| k != "sign" && k != "sign_type" && (keep_empty || !v.is_empty()))
        .collect();
    pairs.sort();
    let mut out = Vec::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&v);
    }
    out
}

/// Form-encodes bytes: unreserved characters kept, space as `+`, the rest `%XX`.
fn form_escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One request, built like a legacy client builds it.
struct Call {
    merchant: LegacyMerchant,
    params: Vec<(String, String)>,
    charset: &'static str,
    scheme: Scheme,
    sign_empty: bool,
    /// Replaces the signature after signing.
    tamper: Option<String>,
}

/// What the gateway answered.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    /// The text of the first `<tag>…</tag>`.
    fn xml(&self, tag: &str) -> Option<String> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&close)? + start;
        Some(self.body[start..end].to_owned())
    }

    /// `is_success` and `error`.
    fn outcome(&self) -> (String, String) {
        (
            self.xml("is_success").unwrap_or_default(),
            self.xml("error").unwrap_or_default(),
        )
    }

    /// The children of `<trade>` as pairs.
    fn trade(&self) -> Vec<(String, String)> {
        let mut rest = self.xml("trade").expect("trade").as_str().to_owned();
        let mut pairs = Vec::new();
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("tag") + start;
            let name = rest[start + 1..end].to_owned();
            let close = format!("</{name}>");
            let value_end = rest.find(&close).expect("close");
            pairs.push((name.clone(), rest[end + 1..value_end].to_owned()));
            rest = rest[value_end + close.len()..].to_owned();
        }
        pairs
    }
}

impl Call {
    fn param(mut self, k: &str, v: &str) -> Self {
        self.params.retain(|(key, _)| key != k);
        self.params.push((k.into(), v.into()));
        self
    }

    fn without(mut self, k: &str) -> Self {
        self.params.retain(|(key, _)| key != k);
        self
    }

    fn gbk(mut self) -> Self {
        self.charset = "gbk";
        self.param("_input_charset", "gbk")
    }

    fn rsa2(mut self) -> Self {
        self.scheme = Scheme::Rsa2;
        self
    }

    fn signing_empty_values(mut self) -> Self {
        self.sign_empty = true;
        self
    }

    fn tampered(mut self, sign: &str) -> Self {
        self.tamper = Some(sign.into());
        self
    }

    fn encoded(&self) -> Vec<(String, Vec<u8>)> {
        let encoding = encoding_rs::Encoding::for_label(self.charset.as_bytes()).expect("charset");
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), encoding.encode(v).0.into_owned()))
            .collect()
    }

    /// Every parameter with `sign` and `sign_type`, values as bytes in the charset.
    fn signed(&self) -> Vec<(String, Vec<u8>)> {
        let mut pairs = self.encoded();
        let content = presign(pairs.clone().into_iter(), self.sign_empty);
        let (sign, sign_type) = match self.scheme {
            Scheme::Md5 => (self.merchant.md5(&content), "MD5"),
            Scheme::Rsa2 => {
                let key = self.merchant.rsa.as_ref().expect("an RSA merchant");
                (b64(&key.sign_sha256(&content).expect("sign")), "RSA2")
            }
        };
        pairs.push((
            "sign".into(),
            self.tamper.clone().unwrap_or(sign).into_bytes(),
        ));
        pairs.push(("sign_type".into(), sign_type.as_bytes().to_vec()));
        pairs
    }

    fn query(pairs: &[(String, Vec<u8>)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_escape(k.as_bytes()), form_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// GET with everything in the query string.
    async fn get(&self, app: &TestApp) -> Answer {
        let url = app.url(&format!("/gateway.do?{}", Self::query(&self.signed())));
        answer(app.http.get(url).send().await.expect("send")).await
    }

    /// POST with `_input_charset` only in the URL and the rest as a form body.
    async fn post(&self, app: &TestApp) -> Answer {
        let (charset, body): (Vec<_>, Vec<_>) = self
            .signed()
            .into_iter()
            .partition(|(k, _)| k == "_input_charset");
        let url = app.url(&format!("/gateway.do?{}", Self::query(&charset)));
        let resp = app
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Self::query(&body))
            .send()
            .await
            .expect("send");
        answer(resp).await
    }
}

/// Reads an answer in the charset its content type names.
async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = resp.bytes().await.expect("body");
    let label = content_type.rsplit("charset=").next().unwrap_or("utf-8");
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::UTF_8);
    let body = encoding.decode(&bytes).0.into_owned();
    Answer {
        status,
        content_type,
        body,
    }
}

/// A sandbox legacy payment of `total_fee` USD, through `create_forex_trade`.
async fn paid_trade(
    app: &TestApp,
    m: &LegacyMerchant,
    out_trade_no: &str,
    total_fee: &str,
) -> Answer {
    let a = trade(m, out_trade_no, total_fee).post(app).await;
    assert_eq!(a.outcome(), ("T".into(), String::new()), "{}", a.body);
    a
}

fn trade(m: &LegacyMerchant, out_trade_no: &str, total_fee: &str) -> Call {
    m.call("create_forex_trade")
        .param("out_trade_no", out_trade_no)
        .param("subject", "order")
        .param("currency", "USD")
        .param("total_fee", total_fee)
        .param("product_code", "NEW_OVERSEAS_SELLER")
}

fn refund(m: &LegacyMerchant, out_trade_no: &str, out_return_no: &str, amount: &str) -> Call {
    m.call("forex_refund")
        .param("out_trade_no", out_trade_no)
        .param("out_return_no", out_return_no)
        .param("return_amount", amount)
        .param("currency", "USD")
        .param("gmt_return", "20261123 17:55:29")
        .param("product_code", "NEW_OVERSEAS_SELLER")
}

fn t() -> (String, String) {
    ("T".into(), String::new())
}

fn f(code: &str) -> (String, String) {
    ("F".into(), code.into())
}

/// With no room to wait for SQLite's writer, a refund the writer cannot take
/// now answers the wire's system error, signed, and writes nothing: sent
/// again once the writer is free, the same request makes the refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_writer_queue_answers_a_system_exception() {
    let app = spawn_app_with_writer(Backend::Sqlite, WriterSettings { queue: 0 }).await;
    let m = LegacyMerchant::demo(&app);
    // The scheduler's own writes refuse a request now and then; it is sent again.
    let busy = f("SYSTEM_EXCEPTION");
    let paid = loop {
        let a = trade(&m, "order-busy", "10.00").post(&app).await;
        if a.outcome() != busy {
            break a;
        }
    };
    assert_eq!(paid.outcome(), t(), "{}", paid.body);

    let held = app.hold_writer().await;
    let refused = refund(&m, "order-busy", "busy-1", "1.00").get(&app).await;
    assert_eq!(refused.outcome(), busy);
    assert_eq!(
        refused.xml("sign").expect("sign"),
        m.md5(b"error=SYSTEM_EXCEPTION")
    );
    drop(held);
    let mut made = refund(&m, "order-busy", "busy-1", "1.00").get(&app).await;
    while made.outcome() == busy {
        made = refund(&m, "order-busy", "busy-1", "1.00").get(&app).await;
    }
    assert_eq!(made.outcome(), t(), "{}", made.body);
}

// ---------------------------------------------------------- notifications

/// A legacy merchant's notification endpoint: answers `success`.
async fn legacy_receiver() -> (Receiver, String) {
    let receiver = Receiver::start(|_, _| Reply::Status(200, "success")).await;
    let url = receiver.url("/notify");
    (receiver, url)
}

/// Every notification received, as pairs.
fn received_forms(receiver: &Receiver) -> Vec<Vec<(String, String)>> {
    receiver
        .received()
        .iter()
        .map(|r| url_pairs(&r.body))
        .collect()
}

fn url_pairs(body: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .expect("form")
        .query_pairs()
        .into_owned()
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// Today in Beijing on the app's clock, `YYYYMMDD`.
fn beijing_today(app: &TestApp) -> String {
    let t = Timestamp(app.clock.now().millis() + 8 * 3_600_000).to_offset_datetime();
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

async fn notify_verify(app: &TestApp, partner: &str, notify_id: &str) -> String {
    let url = app.url(&format!(
        "/gateway.do?service=notify_verify&partner={partner}&notify_id={notify_id}"
    ));
    answer(app.http.get(url).send().await.expect("send"))
        .await
        .body
}

// ------------------------------------------------------------------ tests

/// The acceptance path: a sandbox trade, a partial sync refund, an async
/// refund of the rest with its notification, `notify_verify`, and the files.
async fn a_legacy_merchant_goes_through_the_whole_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = LegacyMerchant::demo(&app);
    let (receiver, notify_url) = legacy_receiver().await;

    let trade = paid_trade(&app, &m, "order-1", "100.00").await;
    assert_eq!(trade.status, 200);
    assert_eq!(trade.content_type, "text/xml; charset=UTF-8");
    let fields = trade.trade();
    assert_eq!(field(&fields, "trade_status"), "TRADE_FINISHED");
    assert_eq!(field(&fields, "total_fee"), "100.00");
    assert_eq!(trade.xml("sign_type").as_deref(), Some("MD5"));
    assert!(
        m.verifies(&fields, &trade.xml("sign").expect("sign")),
        "{}",
        trade.body
    );

    let sync = refund(&m, "order-1", "return-1", "30.00")
        .param("is_sync", "Y")
        .get(&app)
        .await;
    assert_eq!(sync.outcome(), t(), "{}", sync.body);
    assert!(
        sync.body
            .ends_with("<alipay><is_success>T</is_success></alipay>"),
        "nothing but T for MD5: {}",
        sync.body
    );
    assert_eq!(receiver.count(), 0);
    app.notifier.dispatch_due().await.expect("dispatch");
    assert!(receiver.count() == 0, "a sync refund is not notified");

    let rest = refund(&m, "order-1", "return-2", "70.00")
        .param("is_sync", "N")
        .param("notify_url", &notify_url)
        .post(&app)
        .await;
    assert_eq!(rest.outcome(), t(), "{}", rest.body);
    app.notifier.dispatch_due().await.expect("dispatch");
    let received = received_forms(&receiver);
    assert_eq!(received.len(), 1, "{:?}", receiver.received());
    let notice = &received[0];
    assert_eq!(field(notice, "notify_type"), "refund_status_sync");
    assert_eq!(field(notice, "out_trade_no"), "order-1");
    assert_eq!(field(notice, "out_return_no"), "return-2");
    assert_eq!(field(notice, "return_amount"), "70.00");
    assert_eq!(field(notice, "currency"), "USD");
    assert_eq!(field(notice, "refund_status"), "REFUND_SUCCESS");
    assert_eq!(field(notice, "sign_type"), "MD5");
    assert!(notice.iter().all(|(_, v)| !v.is_empty()), "{notice:?}");
    assert!(m.verifies(notice, field(notice, "sign")), "{notice:?}");
    let notify_id = field(notice, "notify_id");
    assert_eq!(notify_verify(&app, &m.partner, notify_id).await, "true");
    let other = LegacyMerchant::create(&app).await;
    assert_eq!(
        notify_verify(&app, &other.partner, notify_id).await,
        "false"
    );
    assert_eq!(
        notify_verify(&app, &m.partner, "0123456789abcdef0123456789abcdef").await,
        "false"
    );
    assert_eq!(notify_verify(&app, &m.partner, "").await, "invalid");

    // The files cover days before today (Beijing): move to the next day.
    let today = beijing_today(&app);
    app.clock.advance_days(1);
    let compare = m
        .call("forex_compare_file")
        .param("start_date", &today)
        .param("end_date", &today)
        .get(&app)
        .await;
    assert_eq!(compare.content_type, "text/plain; charset=UTF-8");
    let lines: Vec<Vec<&str>> = compare
        .body
        .lines()
        .map(|l| l.split('|').collect())
        .collect();
    assert_eq!(lines.len(), 3, "{}", compare.body);
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l[0] == id)
            .unwrap_or_else(|| panic!("{id}: {}", compare.body))
    };
    assert_eq!(row("order-1")[1..3], ["100.00", "USD"]);
    assert_eq!(row("order-1")[5], "P");
    assert_eq!(row("return-1")[1], "30.00");
    assert_eq!(row("return-1")[5], "R");
    assert_eq!(row("return-2")[1], "70.00");
    assert_eq!(row("return-2")[5], "R");
    assert_eq!(row("return-2")[8], "order-1", "a refund names its payment");
    assert!(lines
        .iter()
        .all(|l| l.len() == 9 && l[7] == "L" && l[3].starts_with(&today)));

    // What settled today happened yesterday; the liquidation file for today needs tomorrow.
    let settled = lines[0][4].get(..8).expect("settlement day").to_owned();
    app.clock.advance_days(1);
    let liquidation = m
        .call("forex_liquidation_file")
        .param("start_date", &settled)
        .param("end_date", &settled)
        .post(&app)
        .await;
    assert_eq!(liquidation.body.lines().count(), 3, "{}", liquidation.body);
    let nothing = m
        .call("forex_liquidation_file")
        .param("start_date", &today)
        .param("end_date", &today)
        .get(&app)
        .await;
    assert_eq!(nothing.body, "No balance amount data in the period");
    assert_ledger_sound(&app).await;
}
on_both_backends!(a_legacy_merchant_goes_through_the_whole_path);

/// Legacy error codes, each from the check that raises it.
async fn refusals_answer_legacy_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = LegacyMerchant::demo(&app);
    paid_trade(&app, &m, "order-e", "10.00").await;

    let unknown = m.call("forex_refund_v2").get(&app).await;
    assert_eq!(unknown.outcome(), f("ILLEGAL_SERVICE"));
    assert_eq!(unknown.status, 200);
    let no_charset = refund(&m, "order-e", "e-1", "1.00")
        .without("_input_charset")
        .get(&app)
        .await;
    assert_eq!(no_charset.outcome(), f("ILLEGAL_CHARSET"));
    let latin = refund(&m, "order-e", "e-1", "1.00")
        .param("_input_charset", "latin1")
        .get(&app)
        .await;
    assert_eq!(latin.outcome(), f("ILLEGAL_CHARSET"));
    let stranger = refund(&m, "order-e", "e-1", "1.00")
        .param("partner", "2088000000000000")
        .get(&app)
        .await;
    assert_eq!(stranger.outcome(), f("ILLEGAL_PARTNER"));
    assert_eq!(stranger.xml("sign"), None, "nobody to sign for");

    let forged = refund(&m, "order-e", "e-1", "1.00")
        .tampered("00000000000000000000000000000000")
        .get(&app)
        .await;
    assert_eq!(forged.outcome(), f("ILLEGAL_SIGN"));
    // Failures are signed for a known partner: MD5 over `error=CODE`.
    assert_eq!(forged.xml("sign_type").as_deref(), Some("MD5"));
    assert_eq!(
        forged.xml("sign").expect("sign"),
        m.md5(b"error=ILLEGAL_SIGN")
    );
    let mut dsa = refund(&m, "order-e", "e-1", "1.00").signed();
    dsa.retain(|(k, _)| k != "sign_type");
    dsa.push(("sign_type".into(), b"DSA".to_vec()));
    let url = app.url(&format!("/gateway.do?{}", Call::query(&dsa)));
    let dsa = answer(app.http.get(url).send().await.expect("send")).await;
    assert_eq!(dsa.outcome(), f("ILLEGAL_SIGN_TYPE"));

    // Compatibility: upper-case hex, and clients that sign empty values too.
    let mut upper = refund(&m, "order-e", "e-2", "1.00").signed();
    for (k, v) in &mut upper {
        if k == "sign" {
            *v = v.to_ascii_uppercase();
        }
    }
    let url = app.url(&format!("/gateway.do?{}", Call::query(&upper)));
    assert_eq!(
        answer(app.http.get(url).send().await.expect("send"))
            .await
            .outcome(),
        t()
    );
    let empty = refund(&m, "order-e", "e-3", "1.00")
        .param("reason", "")
        .signing_empty_values()
        .get(&app)
        .await;
    assert_eq!(empty.outcome(), t(), "{}", empty.body);

    for (call, code) in [
        (
            refund(&m, "no-such-order", "e-4", "1.00"),
            "PURCHASE_TRADE_NOT_EXIST",
        ),
        (refund(&m, "order-e", "e-5", "8.01"), "RETURN_AMOUNT_EXCEED"),
        (
            refund(&m, "order-e", "e-6", "1.00").param("currency", "EUR"),
            "CURRENCY_NOT_SAME",
        ),
        (refund(&m, "order-e", "e-7", "0.001"), "ILLEGAL_ARGUMENT"),
        (refund(&m, "order-e", "e-8", "0"), "ILLEGAL_ARGUMENT"),
        (
            refund(&m, "order-e", "e-9", "1.00").param("return_rmb_amount", "7.00"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-10", "1.00").param("currency", "CNY"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-11", "1.00").param("gmt_return", "2026/11/23"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-12", "1.00").param("is_sync", "maybe"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-13", "1.00").param("product_code", "OTHER"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-14", "1.00").param("split_fund_info", "{}"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-15", "1.00").param("reason", &"x".repeat(101)),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", &"r".repeat(65), "1.00"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-16", "1.00").without("out_return_no"),
            "ILLEGAL_ARGUMENT",
        ),
        (
            refund(&m, "order-e", "e-17", "1.00").param("reason", "sandbox:REFUND_WINDOW_EXCEED"),
            "REFUNDMENT_VALID_DATE_EXCEED",
        ),
    ] {
        assert_eq!(call.get(&app).await.outcome(), f(code));
    }

    // Idempotency on out_return_no: the same content answers as before, other content is refused.
    assert_eq!(
        refund(&m, "order-e", "e-2", "1.00")
            .get(&app)
            .await
            .outcome(),
        t()
    );
    assert_eq!(
        refund(&m, "order-e", "e-2", "2.00")
            .get(&app)
            .await
            .outcome(),
        f("REPEATED_REFUNDMENT_REQUEST")
    );
    let details = app
        .engine
        .inquire_payment(
            &m.client_id,
            backflow_store::PaymentKey::RequestId(&PaymentRequestId::parse("order-e").expect("id")),
        )
        .await
        .expect("payment");
    assert_eq!(details.refunds.len(), 2, "e-2 and e-3");

    // A payment made through the AMS door is not refunded through this one.
    let ams = app
        .engine
        .pay(PayCommand {
            merchant: m.client_id.clone(),
            door: Door::Ams,
            request_id: PaymentRequestId::parse("ams-order").expect("id"),
            amount: Money::new(Currency::parse("USD").expect("usd"), 1000),
            method_type: "ALIPAY_CN".into(),
            product_code: ProductCode::Agreement,
            is_authorization: false,
            settlement_currency: None,
            notify_url: None,
        })
        .await
        .expect("pay");
    assert_eq!(ams.status, backflow_domain::payment::PaymentStatus::Success);
    assert_eq!(
        refund(&m, "ams-order", "e-18", "1.00")
            .get(&app)
            .await
            .outcome(),
        f("PURCHASE_TRADE_NOT_EXIST")
    );
    let query = m
        .call("single_trade_query")
        .param("out_trade_no", "ams-order")
        .get(&app)
        .await;
    assert_eq!(query.outcome(), f("TRADE_NOT_EXIST"));

    // Unpaid and closed legacy payments.
    let unpaid = app
        .engine
        .pay(PayCommand {
            merchant: m.client_id.clone(),
            door: Door::Legacy,
            request_id: PaymentRequestId::parse("unpaid").expect("id"),
            amount: Money::new(Currency::parse("USD").expect("usd"), 1000),
            method_type: "ALIPAY_CN".into(),
            product_code: ProductCode::Cashier,
            is_authorization: false,
            settlement_currency: None,
            notify_url: None,
        })
        .await
        .expect("pay");
    assert_eq!(
        refund(&m, "unpaid", "e-19", "1.00")
            .get(&app)
            .await
            .outcome(),
        f("PURCHASE_TRADE_NOT_EXIST")
    );
    app.engine
        .cancel(&m.client_id, backflow_store::PaymentKey::Id(&unpaid.id))
        .await
        .expect("cancel");
    assert_eq!(
        refund(&m, "unpaid", "e-20", "1.00")
            .get(&app)
            .await
            .outcome(),
        f("TRADE_HAS_CLOSE")
    );
    let closed = m
        .call("single_trade_query")
        .param("trade_no", unpaid.id.as_str())
        .get(&app)
        .await;
    assert_eq!(field(&closed.trade(), "trade_status"), "TRADE_CLOSED");

    // The refund window is a year from payment.
    app.clock.advance_days(366);
    assert_eq!(
        refund(&m, "order-e", "e-21", "1.00")
            .get(&app)
            .await
            .outcome(),
        f("REFUNDMENT_VALID_DATE_EXCEED")
    );
}
on_both_backends!(refusals_answer_legacy_codes);

/// A merchant signing with RSA2 and writing in GBK.
async fn rsa2_and_gbk(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = LegacyMerchant::create(&app).await;
    let platform = m.platform.clone().expect("platform key");

    let trade = m
        .call("create_forex_trade_wap")
        .rsa2()
        .gbk()
        .param("out_trade_no", "gbk-order")
        .param("subject", "咖啡")
        .param("currency", "USD")
        .param("total_fee", "20.00")
        .get(&app)
        .await;
    assert_eq!(trade.outcome(), t(), "{}", trade.body);
    assert_eq!(trade.content_type, "text/xml; charset=GBK");
    assert!(trade
        .body
        .starts_with(r#"<?xml version="1.0" encoding="GBK"?>"#));
    assert!(
        trade.body.contains(r#"<param name="subject">咖啡</param>"#),
        "{}",
        trade.body
    );
    // Answers to RSA2 merchants are signed with their platform key.
    assert_eq!(trade.xml("sign_type").as_deref(), Some("RSA2"));
    let content = presign(
        trade.trade().into_iter().map(|(k, v)| (k, v.into_bytes())),
        false,
    );
    let sig = decode_signature_base64(&trade.xml("sign").expect("sign")).expect("base64");
    assert!(platform.verify_sha256(&content, &sig));

    // 买家主动要求退款 ("the buyer asked for a refund"), in GBK, by form POST.
    let reason = "买家主动要求退款";
    let a = refund(&m, "gbk-order", "gbk-return", "5.00")
        .rsa2()
        .gbk()
        .param("reason", reason)
        .param("is_sync", "y")
        .post(&app)
        .await;
    assert_eq!(a.outcome(), t(), "{}", a.body);
    let stored = app
        .engine
        .inquire_refund(
            &m.client_id,
            RefundKey::RequestId(&RefundRequestId::parse("gbk-return").expect("id")),
        )
        .await
        .expect("refund");
    assert_eq!(stored.reason.as_deref(), Some(reason));
    assert_eq!(stored.amount.minor, 500);

    // GBK bytes under a declared UTF-8 cannot be read.
    let mut wrong = refund(&m, "gbk-order", "gbk-2", "1.00").param("reason", reason);
    wrong.charset = "gbk";
    assert_eq!(wrong.get(&app).await.outcome(), f("ILLEGAL_CHARSET"));

    // A `+` in the signature that arrives unescaped reads as a space and still verifies.
    let pairs = (0..50)
        .map(|i| {
            refund(&m, "gbk-order", &format!("plus-{i}"), "1.00")
                .rsa2()
                .param("is_sync", "Y")
                .signed()
        })
        .find(|p| p.iter().any(|(k, v)| k == "sign" && v.contains(&b'+')))
        .expect("a signature with a +");
    let sign = pairs
        .iter()
        .find(|(k, _)| k == "sign")
        .expect("sign")
        .1
        .clone();
    let query: String = pairs
        .iter()
        .map(|(k, v)| {
            if k == "sign" {
                format!(
                    "sign={}",
                    String::from_utf8_lossy(v)
                        .replace('/', "%2F")
                        .replace('=', "%3D")
                )
            } else {
                format!("{k}={}", form_escape(v))
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let plus = answer(
        app.http
            .get(app.url(&format!("/gateway.do?{query}")))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        plus.outcome(),
        t(),
        "sign {} → {}",
        String::from_utf8_lossy(&sign),
        plus.body
    );

    // RSA2 failures carry an RSA2 signature over `error=CODE`.
    let over = refund(&m, "gbk-order", "over", "50.00")
        .rsa2()
        .get(&app)
        .await;
    assert_eq!(over.outcome(), f("RETURN_AMOUNT_EXCEED"));
    assert_eq!(over.xml("sign_type").as_deref(), Some("RSA2"));
    let sig = decode_signature_base64(&over.xml("sign").expect("sign")).expect("base64");
    assert!(platform.verify_sha256(b"error=RETURN_AMOUNT_EXCEED", &sig));
    // An MD5 request from the same merchant still works; a wrong RSA2 one does not.
    assert_eq!(
        refund(&m, "gbk-order", "md5-return", "1.00")
            .get(&app)
            .await
            .outcome(),
        t()
    );
    let forged = refund(&m, "gbk-order", "forged", "1.00")
        .rsa2()
        .tampered(&b64(&[7; 256]))
        .get(&app)
        .await;
    assert_eq!(forged.outcome(), f("ILLEGAL_SIGN"));

    let query = m
        .call("single_trade_query")
        .rsa2()
        .param("out_trade_no", "gbk-order")
        .get(&app)
        .await;
    assert_eq!(field(&query.trade(), "total_fee"), "20.00");
    assert_eq!(query.content_type, "text/xml; charset=UTF-8");
}
on_both_backends!(rsa2_and_gbk);

/// A short balance: a sync refund is refused; async refunds wait, retried every
/// 6 hours; one funded on day 179 succeeds and is notified, one never funded
/// fails at 180 days without a notification.
async fn async_refunds_wait_for_funds_for_180_days(backend: Backend) {
    let app = spawn_app(backend).await;
    let (receiver, notify_url) = legacy_receiver().await;
    let funded = LegacyMerchant::demo(&app);
    let never = LegacyMerchant::create(&app).await;
    let usd = Currency::parse("USD").expect("usd");
    for m in [&funded, &never] {
        paid_trade(&app, m, "wait-order", "10.00").await;
        // The merchant's balance goes elsewhere (a payout).
        app.engine
            .move_merchant_funds(
                &m.client_id,
                Money::new(usd, -1000),
                PostingKind::Adjustment,
                "payout",
            )
            .await
            .expect("payout");
        let sync = refund(m, "wait-order", "wait-sync", "4.00")
            .param("is_sync", "Y")
            .get(&app)
            .await;
        assert_eq!(sync.outcome(), f("MERCHANT_BALANCE_NOT_ENOUGH"));
        let waiting = refund(m, "wait-order", "wait-async", "4.00")
            .param("notify_url", &notify_url)
            .get(&app)
            .await;
        assert_eq!(waiting.outcome(), t(), "accepted: {}", waiting.body);
    }
    let status = |m: &LegacyMerchant| {
        let engine = app.engine.clone();
        let id = m.client_id.clone();
        async move {
            engine
                .inquire_refund(
                    &id,
                    RefundKey::RequestId(&RefundRequestId::parse("wait-async").expect("id")),
                )
                .await
                .expect("refund")
                .status()
        }
    };
    use backflow_domain::refund::RefundStatus;
    // A day at a time, as the scheduler would run: still waiting after 179 days.
    for _ in 0..179 {
        app.clock.advance_days(1);
        app.engine.run_due_jobs().await.expect("jobs");
    }
    assert_eq!(status(&funded).await, RefundStatus::WaitingFunds);
    assert_eq!(status(&never).await, RefundStatus::WaitingFunds);
    // The same request meanwhile answers as it did: accepted.
    assert_eq!(
        refund(&funded, "wait-order", "wait-async", "4.00")
            .param("notify_url", &notify_url)
            .get(&app)
            .await
            .outcome(),
        t()
    );

    app.engine
        .move_merchant_funds(
            &funded.client_id,
            Money::new(usd, 500),
            PostingKind::Funding,
            "top-up",
        )
        .await
        .expect("fund");
    app.clock.advance_millis(6 * 3_600_000);
    app.engine.run_due_jobs().await.expect("jobs");
    assert_eq!(status(&funded).await, RefundStatus::Success);
    assert_eq!(status(&never).await, RefundStatus::WaitingFunds);
    app.notifier.dispatch_due().await.expect("dispatch");
    let received = received_forms(&receiver);
    assert_eq!(received.len(), 1);
    assert_eq!(field(&received[0], "out_return_no"), "wait-async");
    assert_eq!(field(&received[0], "refund_status"), "REFUND_SUCCESS");
    assert!(funded.verifies(&received[0], field(&received[0], "sign")));

    app.clock.advance_days(1);
    app.engine.run_due_jobs().await.expect("jobs");
    assert_eq!(status(&never).await, RefundStatus::Fail);
    app.notifier.dispatch_due().await.expect("dispatch");
    assert_eq!(receiver.count(), 1, "a refund that expires is not notified");
    assert_eq!(
        refund(&never, "wait-order", "wait-async", "4.00")
            .param("notify_url", &notify_url)
            .get(&app)
            .await
            .outcome(),
        f("MERCHANT_BALANCE_NOT_ENOUGH")
    );
    assert_ledger_sound(&app).await;
}
on_both_backends!(async_refunds_wait_for_funds_for_180_days);

/// The files' date rules and plain-text answers, and the rate file.
async fn files_follow_the_date_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = LegacyMerchant::demo(&app);
    let file = |start: &str, end: &str| {
        m.call("forex_compare_file")
            .param("start_date", start)
            .param("end_date", end)
    };
    // The manual clock starts on 2026-11-18 in Beijing.
    let today = beijing_today(&app);
    for ((start, end), sentence) in [
        (("2026-11-01", "20261102"), "Date format incorrect YYYYMMDD"),
        (("20261101", ""), "Date format incorrect YYYYMMDD"),
        (
            ("20260230", "20260301"),
            "File download failed:Illegal Date period!",
        ),
        (
            ("20261105", "20261101"),
            "File download failed:Finish date ahead of begin date",
        ),
        (
            ("20261101", "20261111"),
            "File download failed:Over 10 days to Date period",
        ),
        (
            (today.as_str(), today.as_str()),
            "File download failed:Finish date not ahead of today",
        ),
        (
            ("20261101", "20261110"),
            "No balance account data in the period",
        ),
    ] {
        let a = file(start, end).get(&app).await;
        assert_eq!(a.body, sentence, "{start}..{end}");
        assert_eq!(a.content_type, "text/plain; charset=UTF-8");
    }
    let stranger = file("20261101", "20261102")
        .param("partner", "2088999999999999")
        .get(&app)
        .await;
    assert_eq!(stranger.outcome(), f("ILLEGAL_PARTNER"));
    assert_eq!(stranger.content_type, "text/xml; charset=UTF-8");

    // Rates: each currency's latest rate into CNY (the demo rates are from 2020).
    app.engine
        .import_fx_rates(&format!(
            "{}-{}-{},EUR/CNY,7.8123",
            &today[..4],
            &today[4..6],
            &today[6..]
        ))
        .await
        .expect("rates");
    let rates = m.call("forex_rate_file").get(&app).await;
    assert_eq!(
        rates.body,
        format!("{today}|000000|EUR|7.8123\n20200101|000000|USD|7.2\n")
    );
}
on_both_backends!(files_follow_the_date_rules);

/// Amounts carry the currency's exponent (JPY is integral), and CNY-priced
/// trades are refunded with `return_rmb_amount` while `currency` names the
/// currency they settle in.
async fn amounts_follow_the_trade_currency(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = LegacyMerchant::demo(&app);
    let yen = m
        .call("create_forex_trade")
        .param("out_trade_no", "yen-order")
        .param("subject", "order")
        .param("currency", "JPY")
        .param("total_fee", "1500")
        .get(&app)
        .await;
    assert_eq!(field(&yen.trade(), "total_fee"), "1500");
    let yen_refund = |no: &str, amount: &str| {
        refund(&m, "yen-order", no, amount)
            .param("currency", "JPY")
            .param("is_sync", "Y")
    };
    assert_eq!(
        yen_refund("yen-1", "100.5").get(&app).await.outcome(),
        f("ILLEGAL_ARGUMENT")
    );
    assert_eq!(yen_refund("yen-2", "500").get(&app).await.outcome(), t());

    let rmb = m
        .call("create_forex_trade")
        .param("out_trade_no", "rmb-order")
        .param("subject", "order")
        .param("currency", "USD")
        .param("rmb_fee", "72.00")
        .get(&app)
        .await;
    let fields = rmb.trade();
    assert_eq!(field(&fields, "rmb_fee"), "72.00");
    assert_eq!(field(&fields, "currency"), "USD");
    let rmb_refund = |no: &str| {
        m.call("forex_refund")
            .param("out_trade_no", "rmb-order")
            .param("out_return_no", no)
            .param("gmt_return", "2026-11-23 17:55:29")
            .param("is_sync", "Y")
    };
    let ok = rmb_refund("rmb-1")
        .param("currency", "USD")
        .param("return_rmb_amount", "7.20")
        .get(&app)
        .await;
    assert_eq!(ok.outcome(), t(), "{}", ok.body);
    let wrong_currency = rmb_refund("rmb-2")
        .param("currency", "EUR")
        .param("return_rmb_amount", "7.20")
        .get(&app)
        .await;
    assert_eq!(wrong_currency.outcome(), f("CURRENCY_NOT_SAME"));
    let foreign_amount = rmb_refund("rmb-3")
        .param("currency", "USD")
        .param("return_amount", "1.00")
        .get(&app)
        .await;
    assert_eq!(foreign_amount.outcome(), f("CURRENCY_NOT_SAME"));
    let stored = app
        .engine
        .inquire_refund(
            &m.client_id,
            RefundKey::RequestId(&RefundRequestId::parse("rmb-1").expect("id")),
        )
        .await
        .expect("refund");
    assert_eq!(stored.amount.currency.code(), "CNY");
    assert_eq!(stored.amount.minor, 720);
}
on_both_backends!(amounts_follow_the_trade_currency);
