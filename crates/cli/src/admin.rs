//! The admin HTTP API, for operators and the portal: bearer-token protected.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backflow_domain::{ClientId, PaymentId};
use backflow_engine::{Engine, EngineError};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Admin routes under `/admin`, each requiring `Authorization: Bearer <token>`.
pub fn router(engine: Engine, token: Arc<str>) -> Router {
    Router::new()
        .route(
            "/admin/sandbox/{client_id}/refund-scripts",
            post(script_refund),
        )
        .route(
            "/admin/payments/{client_id}/{payment_id}/chargeback",
            post(chargeback),
        )
        .route("/admin/reports/{client_id}", get(crate::reports_api::list))
        .route(
            "/admin/reports/{client_id}/{name}",
            get(crate::reports_api::download),
        )
        .with_state(engine.clone())
        .merge(backflow_notify::admin_router(engine))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let token = token.clone();
                async move { authorize(&token, req, next).await }
            },
        ))
}

async fn authorize(token: &str, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare in constant time: the token guards every merchant's data.
    let ok = presented.is_some_and(|p| {
        p.len() == token.len()
            && p.bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "a valid admin bearer token is required"})),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
struct ScriptBody {
    script: String,
}

#[derive(Deserialize)]
struct ChargebackBody {
    pending: bool,
}

/// Opens or closes a chargeback on a card payment (an undecided chargeback blocks refunds).
async fn chargeback(
    State(engine): State<Engine>,
    Path((client_id, payment_id)): Path<(String, String)>,
    Json(body): Json<ChargebackBody>,
) -> Response {
    let (Ok(merchant), Ok(payment_id)) = (ClientId::parse(client_id), PaymentId::parse(payment_id))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "malformed client or payment id"})),
        )
            .into_response();
    };
    match engine
        .set_chargeback(&merchant, &payment_id, body.pending)
        .await
    {
        Ok(p) => {
            Json(json!({"paymentId": p.id.as_str(), "chargebackPending": p.chargeback_pending}))
                .into_response()
        }
        Err(e) => error_response(e),
    }
}

fn error_response(e: EngineError) -> Response {
    match e {
        EngineError::UnknownMerchant | EngineError::PaymentNotFound => {
            (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response()
        }
        EngineError::Invalid(_) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
        e => {
            tracing::error!(error = %e, "admin request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "internal error"})),
            )
                .into_response()
        }
    }
}

/// Queues a scripted outcome for a sandbox merchant's next refund (docs/sandbox.md).
async fn script_refund(
    State(engine): State<Engine>,
    Path(client_id): Path<String>,
    Json(body): Json<ScriptBody>,
) -> Response {
    let merchant = match ClientId::parse(client_id) {
        Ok(m) => m,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": e.to_string()})),
            )
                .into_response()
        }
    };
    match engine.script_sandbox_refund(&merchant, &body.script).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({"merchant": merchant.as_str(), "script": body.script.trim()})),
        )
            .into_response(),
        Err(e) => error_response(e),
    }
}
