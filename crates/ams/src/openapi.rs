//! The door's OpenAPI 3.1 document (docs/operations.md#openapi), built from the
//! request types the operations parse and from the route list `router` serves.

use crate::ops;
use crate::wire::WireAmount;
use backflow_domain::code::ResultStatus;
use backflow_domain::ResultCode;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr,
    Required,
};
use utoipa::{PartialSchema, ToSchema};

/// The operations `dispatch` serves, each under both prefixes (docs/wire.md#paths-and-transport),
/// and the only values the request metrics take as an operation label.
pub const OPERATIONS: [&str; 6] = [
    "pay",
    "capture",
    "cancel",
    "inquiryPayment",
    "refund",
    "inquiryRefund",
];

/// The two path prefixes of the operations.
pub const PREFIXES: [&str; 2] = ["/ams/api/v1/payments/", "/ams/sandbox/api/v1/payments/"];

const SIGNING: &str =
    "RSA PKCS#1 v1.5 with SHA-256 over `POST <path>\\n<client-id>.<request-time>.<body>`: \
<path> as requested, without host or query; <body> the raw bytes sent. The header is \
`algorithm=RSA256,keyVersion=<n>,signature=<URL-encoded base64>`, checked with the merchant's \
registered public key number <n> (docs/wire.md#request-signing).";

const RESPONSE_SIGNING: &str =
    "Every answer is signed the same way with the merchant's platform key, \
over `POST <path>\\n<client-id>.<response-time>.<body>` (docs/wire.md#response-signing).";

/// `value` of an amount: a string of minor units; a JSON number is accepted too.
pub(crate) fn minor_units() -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]{1,18}$")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some(
            "Minor units of the currency, as a string; a number is accepted.",
        ))
        .into()
}

/// A flag sent as a JSON boolean or as the string `"true"`/`"false"`, in any case.
pub(crate) fn flexible_bool() -> Schema {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$")),
        )
        .into()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// The `result` object: every result code `ResultCode` knows, and its status.
fn result_schema() -> Schema {
    let codes: Vec<&str> = ResultCode::ALL.iter().map(|c| c.as_str()).collect();
    let statuses = [ResultStatus::S, ResultStatus::F, ResultStatus::U].map(ResultStatus::as_str);
    ObjectBuilder::new()
        .property("resultCode", string().enum_values(Some(codes)))
        .property("resultStatus", string().enum_values(Some(statuses)))
        .property("resultMessage", string())
        .required("resultCode")
        .required("resultStatus")
        .required("resultMessage")
        .into()
}

fn quote_schema() -> Schema {
    ObjectBuilder::new()
        .property("quoteId", string())
        .property("quoteCurrencyPair", string())
        .property("quotePrice", ObjectBuilder::new().schema_type(Type::Number))
        .property("quoteStartTime", string())
        .property("quoteExpiryTime", string())
        .property(
            "guaranteed",
            ObjectBuilder::new().schema_type(Type::Boolean),
        )
        .into()
}

/// An answer: `result` always, the named fields when there is something to report.
fn answer(fields: &[(&str, RefOr<Schema>)]) -> Schema {
    fields
        .iter()
        .fold(
            ObjectBuilder::new()
                .property("result", reference("Result"))
                .required("result"),
            |o, (name, schema)| o.property(*name, schema.clone()),
        )
        .into()
}

fn answers() -> Vec<(&'static str, Schema)> {
    let s = || RefOr::T(string().into());
    let amount = || reference("Amount");
    let refund = || {
        vec![
            ("refundRequestId", s()),
            ("refundId", s()),
            ("paymentId", s()),
            ("refundAmount", amount()),
            ("refundTime", s()),
            ("grossSettlementAmount", amount()),
            ("settlementQuote", reference("SettlementQuote")),
            (
                "acquirerInfo",
                RefOr::T(ObjectBuilder::new().schema_type(Type::Object).into()),
            ),
            ("acquirerReferenceNo", s()),
        ]
    };
    let mut inquiry = refund();
    inquiry.push((
        "refundStatus",
        RefOr::T(
            string()
                .enum_values(Some(["SUCCESS", "PROCESSING", "FAIL"]))
                .into(),
        ),
    ));
    let transaction = ObjectBuilder::new()
        .property("transactionType", string())
        .property("transactionStatus", string())
        .property("transactionRequestId", string())
        .property("transactionId", string())
        .property("transactionAmount", amount())
        .property("transactionTime", string())
        .property("transactionResult", reference("Result"));
    vec![
        (
            "pay",
            answer(&[
                ("paymentId", s()),
                ("paymentRequestId", s()),
                ("paymentAmount", amount()),
                ("paymentCreateTime", s()),
                ("paymentTime", s()),
                ("normalUrl", s()),
            ]),
        ),
        (
            "capture",
            answer(&[
                ("captureRequestId", s()),
                ("captureId", s()),
                ("paymentId", s()),
                ("captureAmount", amount()),
                ("captureTime", s()),
            ]),
        ),
        (
            "cancel",
            answer(&[
                ("paymentId", s()),
                ("paymentRequestId", s()),
                ("cancelTime", s()),
            ]),
        ),
        (
            "inquiryPayment",
            answer(&[
                (
                    "paymentStatus",
                    RefOr::T(
                        string()
                            .enum_values(Some(["SUCCESS", "PROCESSING", "FAIL", "CANCELLED"]))
                            .into(),
                    ),
                ),
                ("paymentId", s()),
                ("paymentRequestId", s()),
                ("paymentAmount", amount()),
                ("paymentCreateTime", s()),
                ("paymentTime", s()),
                ("paymentMethodType", s()),
                (
                    "transactions",
                    RefOr::T(ArrayBuilder::new().items(transaction).into()),
                ),
            ]),
        ),
        ("refund", answer(&refund())),
        ("inquiryRefund", answer(&inquiry)),
    ]
}

/// The request type each operation parses.
fn request_schema(operation: &str) -> (&'static str, RefOr<Schema>) {
    match operation {
        "pay" => ("PayRequest", ops::pay::Request::schema()),
        "capture" => ("CaptureRequest", ops::capture::Request::schema()),
        "refund" => ("RefundRequest", ops::refund::Request::schema()),
        "inquiryRefund" => (
            "InquiryRefundRequest",
            ops::inquiry_refund::Request::schema(),
        ),
        // `cancel` and `inquiryPayment`, which name a payment the same way.
        _ => ("PaymentRef", ops::inquiry_payment::PaymentRef::schema()),
    }
}

fn header_param(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string().min_length(Some(1))))
        .build()
}

fn signed_answer(description: &str, schema: RefOr<Schema>) -> ResponseBuilder {
    let header = |d: &str| {
        HeaderBuilder::new()
            .schema(string())
            .description(Some(d))
            .build()
    };
    ResponseBuilder::new()
        .description(description)
        .header("client-id", header("The caller's client id."))
        .header(
            "response-time",
            header("When the answer was signed, ISO 8601."),
        )
        .header("signature", header(RESPONSE_SIGNING))
        .content(
            "application/json; charset=UTF-8",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
}

fn operation(name: &str, prefix: &str) -> PathItem {
    let (request, _) = request_schema(name);
    let sandbox = prefix.contains("sandbox");
    let responses = ResponsesBuilder::new()
        .response(
            "200",
            signed_answer(
                "Every answer, refusals included, is HTTP 200 with a `result` (docs/wire.md#result-codes).",
                reference(&format!("{}Answer", upper_first(name))),
            ),
        )
        .response(
            "413",
            signed_answer(
                "The body is larger than 1 MiB: `PARAM_ILLEGAL`.",
                reference("ResultOnly"),
            ),
        );
    let op = OperationBuilder::new()
        .operation_id(Some(format!(
            "{}{}",
            if sandbox { "sandbox_" } else { "" },
            name
        )))
        .tag(if sandbox { "sandbox" } else { "ams" })
        .summary(Some(format!("AMS `{name}`")))
        .parameter(header_param("client-id", "The merchant's client id."))
        .parameter(header_param(
            "request-time",
            "Signed, not parsed: any format the SDKs send.",
        ))
        .parameter(header_param("signature", SIGNING))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(reference(request)))
                        .build(),
                )
                .build(),
        ))
        .responses(responses)
        .security(SecurityRequirement::new(
            "AmsSignature",
            Vec::<String>::new(),
        ));
    PathItem::new(HttpMethod::Post, op)
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn html(description: &str) -> ResponsesBuilder {
    ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new().description(description).content(
            "text/html; charset=utf-8",
            ContentBuilder::new().schema(Some(string())).build(),
        ),
    )
}

fn checkout() -> PathItem {
    let params = || {
        ["client_id", "payment_id"].map(|n| {
            ParameterBuilder::new()
                .name(n)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string()))
                .build()
        })
    };
    let mut item = PathItem::new(
        HttpMethod::Get,
        OperationBuilder::new()
            .operation_id(Some("checkout_page"))
            .tag("sandbox")
            .summary(Some(
                "The sandbox checkout page behind a cashier payment's normalUrl",
            ))
            .parameters(Some(params()))
            .responses(html("The page, or a note that there is no such payment.")),
    );
    item.merge_operations(PathItem::new(
        HttpMethod::Post,
        OperationBuilder::new()
            .operation_id(Some("checkout_pay"))
            .tag("sandbox")
            .summary(Some("The Pay button: completes the payment"))
            .parameters(Some(params()))
            .responses(html("The page after paying.")),
    ));
    item
}

/// The AMS door's document; `extend` adds the server's own routes.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for prefix in PREFIXES {
        for name in OPERATIONS {
            paths = paths.path(format!("{prefix}{name}"), operation(name, prefix));
        }
    }
    paths = paths.path("/sandbox/checkout/{client_id}/{payment_id}", checkout());
    let mut components = ComponentsBuilder::new()
        .schema(WireAmount::name(), WireAmount::schema())
        .schema("Result", result_schema())
        .schema("SettlementQuote", quote_schema())
        .schema("ResultOnly", answer(&[]))
        .schema("PaymentMethod", ops::pay::PaymentMethod::schema())
        .schema("SettlementStrategy", ops::pay::SettlementStrategy::schema())
        .schema("PaymentFactor", ops::pay::PaymentFactor::schema())
        .security_scheme(
            "AmsSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "signature",
                SIGNING,
            ))),
        );
    for name in OPERATIONS {
        let (request, schema) = request_schema(name);
        components = components.schema(request, schema);
    }
    for (name, schema) in answers() {
        components = components.schema(format!("{}Answer", upper_first(name)), schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Backflow AMS API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Antom's AMS payments and refund API as Backflow serves it (docs/wire.md).",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}
