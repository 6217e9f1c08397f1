//! The legacy gateway door: Alipay's cross-border online payment integration,
//! as merchant systems built for it still speak it (docs/wire.md#legacy-gateway).
//!
//! One route, `/gateway.do`, GET or POST, dispatching on `service`. Requests
//! are signed with MD5, RSA or RSA2 over their parameters; answers are XML
//! (plain text for files and `notify_verify`), always HTTP 200, in the
//! request's charset. The door parses, calls the engine and renders; no
//! business rule lives here.

mod auth;
mod beijing;
mod params;
mod reply;
mod services;

use crate::params::Params;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use backflow_crypto::legacy::Charset;
use backflow_domain::LegacyCode;
use backflow_engine::Engine;

/// The largest form body read; legacy requests are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The `/gateway.do` route.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/gateway.do", get(gateway).post(gateway))
        .with_state(engine)
}

async fn gateway(
    State(engine): State<Engine>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = uri.query().unwrap_or_default().as_bytes();
    // As a servlet container would: only a form body carries parameters.
    let form = if is_form(&headers) {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return reply::failure(LegacyCode::IllegalArgument, None)
                    .into_response(Charset::Utf8)
            }
        }
    } else {
        Bytes::new()
    };
    match Params::parse(query, &form) {
        Ok(params) => services::handle(&engine, &params)
            .await
            .into_response(params.charset()),
        Err(unreadable) => reply::failure(unreadable.code, None).into_response(unreadable.charset),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}
