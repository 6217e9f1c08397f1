//! The admin endpoints, for operators and the future portal:
//!
//! - `GET /admin/notifications?merchant=ID&status=S&limit=N`
//! - `GET /admin/notifications/{id}` (with the body and the delivery log)
//! - `POST /admin/notifications/{id}/resend`
//!
//! The server mounts these behind the one bearer-token check of its `/admin` API.

use crate::view::{NotificationDetail, NotificationView};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backflow_domain::ClientId;
use backflow_engine::Engine;
use backflow_store::{NotificationFilter, NotificationStatus, ResendOutcome};
use serde::Deserialize;
use serde_json::json;

/// The most rows one listing returns.
pub const MAX_LIST: u32 = 1000;

/// The notification admin routes over `engine`'s store and clock.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/admin/notifications", get(list))
        .route("/admin/notifications/{id}", get(detail))
        .route("/admin/notifications/{id}/resend", post(resend))
        .with_state(engine)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin request failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

#[derive(Deserialize)]
struct ListQuery {
    merchant: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

/// Parses list filters the same way for the endpoint and the CLI.
pub fn filter(
    merchant: Option<String>,
    status: Option<&str>,
    limit: Option<u32>,
) -> Result<NotificationFilter, String> {
    let client_id = merchant
        .map(|m| ClientId::parse(m).map_err(|e| e.to_string()))
        .transpose()?;
    let status = status
        .map(|s| {
            NotificationStatus::parse(&s.to_ascii_uppercase())
                .ok_or_else(|| format!("unknown status {s:?}: use PENDING, DELIVERED or GAVE_UP"))
        })
        .transpose()?;
    Ok(NotificationFilter {
        client_id,
        status,
        limit: limit.unwrap_or(100).clamp(1, MAX_LIST),
    })
}

async fn list(State(engine): State<Engine>, Query(q): Query<ListQuery>) -> Response {
    let filter = match filter(q.merchant, q.status.as_deref(), q.limit) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match NotificationView::list(&engine, &filter).await {
        Ok(list) => Json(json!({ "notifications": list })).into_response(),
        Err(e) => internal(e),
    }
}

async fn detail(State(engine): State<Engine>, Path(id): Path<String>) -> Response {
    match NotificationDetail::load(&engine, &id).await {
        Ok(Some(d)) => Json(d).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such notification"),
        Err(e) => internal(e),
    }
}

async fn resend(State(engine): State<Engine>, Path(id): Path<String>) -> Response {
    match engine.resend_notification(&id).await {
        Ok((ResendOutcome::Scheduled, now)) => {
            Json(json!({ "id": id, "status": "PENDING", "nextAttemptAt": now.to_iso8601() }))
                .into_response()
        }
        Ok((ResendOutcome::InFlight, _)) => error(
            StatusCode::CONFLICT,
            "an attempt is being delivered; resend once it is recorded",
        ),
        Ok((ResendOutcome::NotFound, _)) => error(StatusCode::NOT_FOUND, "no such notification"),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = filter(Some("SANDBOX_X".into()), Some("gave_up"), Some(5000)).unwrap();
        assert_eq!(f.status, Some(NotificationStatus::GaveUp));
        assert_eq!(f.limit, MAX_LIST);
        assert!(filter(None, Some("LOST"), None).is_err());
    }
}
