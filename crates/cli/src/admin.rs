//! The admin HTTP API, for operators and the portal: bearer-token protected.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backflow_domain::{ClientId, PaymentId};
use backflow_engine::{Engine, EngineError};
use backflow_store::Job;
use serde::{Deserialize, Serialize};
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
        .route("/admin/jobs", get(jobs))
        .route("/admin/openapi.json", get(crate::openapi::admin_json))
        .route("/admin/jobs/{id}/retry", post(retry_job))
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

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct ScriptBody {
    script: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct ChargebackBody {
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

/// A job as the admin API and `backflow jobs list --json` show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub subject: String,
    /// PENDING or DEAD.
    pub status: &'static str,
    pub run_at: String,
    pub failures: i64,
    pub last_error: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id.clone(),
            kind: j.kind.clone(),
            subject: j.subject.clone(),
            status: if j.dead { "DEAD" } else { "PENDING" },
            run_at: j.run_at.to_iso8601(),
            failures: j.failures,
            last_error: j.last_error.clone(),
        }
    }
}

#[derive(Deserialize)]
struct JobsQuery {
    #[serde(default)]
    dead: bool,
}

/// `GET /admin/jobs[?dead=true]`: jobs not yet done, oldest first.
async fn jobs(State(engine): State<Engine>, Query(q): Query<JobsQuery>) -> Response {
    match engine.jobs(q.dead).await {
        Ok(jobs) => {
            let jobs: Vec<JobView> = jobs.iter().map(JobView::from).collect();
            Json(json!({ "jobs": jobs })).into_response()
        }
        Err(e) => error_response(e),
    }
}

/// `POST /admin/jobs/{id}/retry`: runs a dead job again now.
async fn retry_job(State(engine): State<Engine>, Path(id): Path<String>) -> Response {
    match engine.retry_dead_job(&id).await {
        Ok(true) => Json(json!({ "id": id, "status": "PENDING" })).into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such dead job" })),
        )
            .into_response(),
        Err(e) => error_response(e),
    }
}
