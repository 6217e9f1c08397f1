//! The AMS door: Antom's payments API as the official SDKs speak it.
//!
//! Every request is authenticated over its raw body bytes; every answer, errors
//! included, is HTTP 200 with a `result` object and is signed with lower-case
//! header names. The door parses, calls one engine use case and renders; no
//! business rule lives here.

mod auth;
mod checkout;
pub mod openapi;
mod ops;
pub mod result;
mod wire;

use crate::result::AmsResult;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use backflow_crypto::SigningKey;
use backflow_domain::{ClientId, ResultCode, Timestamp};
use backflow_engine::Engine;
use std::sync::Arc;

/// The largest request body accepted; larger ones get HTTP 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the door's handlers share.
#[derive(Clone)]
pub struct AmsState {
    pub engine: Engine,
    /// Signs answers to callers that are not a known merchant.
    pub deployment_key: Arc<SigningKey>,
}

/// The AMS routes, under both the production and the sandbox prefix.
pub fn router(state: AmsState) -> Router {
    Router::new()
        .route("/ams/api/v1/payments/{operation}", post(dispatch))
        .route("/ams/sandbox/api/v1/payments/{operation}", post(dispatch))
        .route(
            "/sandbox/checkout/{client_id}/{payment_id}",
            get(checkout::page).post(checkout::pay),
        )
        .with_state(state)
}

/// What an operation needs besides its body.
pub(crate) struct Call<'a> {
    pub engine: &'a Engine,
    pub merchant: ClientId,
    /// `scheme://host` of this server as the caller reached it, for links such as `normalUrl`.
    pub base_url: String,
}

/// The scheme of the listener a request came in on, set by the server on its TLS listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerScheme(pub &'static str);

async fn dispatch(
    State(state): State<AmsState>,
    Path(operation): Path<String>,
    scheme: Option<Extension<ListenerScheme>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Absolute-form request lines (the Python SDK's) carry a host; only the path is signed.
    let path = uri.path().to_owned();
    let caller = auth::Caller::from_headers(&headers);
    let (status, reply) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Err(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            result_only(AmsResult::param_illegal(format!(
                "The body is larger than {MAX_BODY_BYTES} bytes."
            ))),
        ),
        Ok(bytes) => {
            let scheme = uri
                .scheme_str()
                .or(scheme.map(|Extension(ListenerScheme(s))| s))
                .unwrap_or("http");
            let base = base_url(&headers, scheme);
            (
                StatusCode::OK,
                handle(&state, &operation, &caller, &path, base, &bytes).await,
            )
        }
    };
    signed_response(&state, status, &path, caller.client_id.as_deref(), reply).await
}

async fn handle(
    state: &AmsState,
    operation: &str,
    caller: &auth::Caller,
    path: &str,
    base_url: String,
    body: &Bytes,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    let merchant = match caller.authenticate(&state.engine, path, body).await {
        Ok(m) => m,
        Err(r) => {
            metrics::counter!("backflow_authentication_failures_total", "door" => "ams")
                .increment(1);
            return result_only(r);
        }
    };
    let call = Call {
        engine: &state.engine,
        merchant,
        base_url,
    };
    let outcome = match operation {
        "pay" => ops::pay::handle(&call, body).await,
        "capture" => ops::capture::handle(&call, body).await,
        "cancel" => ops::cancel::handle(&call, body).await,
        "inquiryPayment" => ops::inquiry_payment::handle(&call, body).await,
        "refund" => ops::refund::handle(&call, body).await,
        "inquiryRefund" => ops::inquiry_refund::handle(&call, body).await,
        other => Err(AmsResult::new(
            ResultCode::NoInterfaceDef,
            format!("No interface {other} is defined."),
        )),
    };
    let reply = outcome.unwrap_or_else(result_only);
    record(operation, &reply, started.elapsed());
    reply
}

/// Counts an authenticated request by operation and result, and times it.
fn record(operation: &str, reply: &serde_json::Value, took: std::time::Duration) {
    // Only known operations become label values, so a caller cannot grow the series.
    let operation = if openapi::OPERATIONS.contains(&operation) {
        operation.to_owned()
    } else {
        "other".to_owned()
    };
    let result = &reply["result"];
    let label = |field: &str| result[field].as_str().unwrap_or("").to_owned();
    metrics::counter!(
        "backflow_api_requests_total",
        "door" => "ams",
        "operation" => operation.clone(),
        "status" => label("resultStatus"),
        "code" => label("resultCode"),
    )
    .increment(1);
    metrics::histogram!("backflow_api_request_seconds", "door" => "ams", "operation" => operation)
        .record(took.as_secs_f64());
}

fn result_only(result: AmsResult) -> serde_json::Value {
    serde_json::json!({ "result": result })
}

fn base_url(headers: &HeaderMap, scheme: &str) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("{scheme}://{host}")
}

/// Renders and signs an answer: with the merchant's platform key when the
/// caller is a known merchant, else with the deployment key.
async fn signed_response(
    state: &AmsState,
    status: StatusCode,
    path: &str,
    client_id: Option<&str>,
    reply: serde_json::Value,
) -> Response {
    let body = serde_json::to_vec(&reply).unwrap_or_default();
    let client_id = client_id.unwrap_or_default();
    let merchant_key = match ClientId::parse(client_id) {
        Ok(id) => state.engine.keys().merchant(&id).await.ok(),
        Err(_) => None,
    };
    let key = merchant_key
        .as_ref()
        .map_or(state.deployment_key.as_ref(), |c| &c.platform);
    let response_time = Timestamp::to_iso8601(state.engine.clock().now());
    let signature = auth::sign_response(key, path, client_id, &response_time, &body);
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Ok(v) = HeaderValue::from_str(client_id) {
        h.insert("client-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&response_time) {
        h.insert("response-time", v);
    }
    if let Some(v) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
        h.insert("signature", v);
    }
    response
}
