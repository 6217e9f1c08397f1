//! The admin API's reports: list a merchant's kept reports, download one (docs/reports.md).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use backflow_domain::ClientId;
use backflow_engine::reports::{list_reports, report_path};
use backflow_engine::Engine;
use serde_json::json;

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": message}))).into_response()
}

fn merchant_and_dir(
    engine: &Engine,
    client_id: String,
) -> Result<(ClientId, std::path::PathBuf), Box<Response>> {
    let merchant = ClientId::parse(client_id).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response()
    })?;
    let dir = engine
        .reports_dir()
        .ok_or_else(|| Box::new(not_found("this server keeps no reports")))?;
    Ok((merchant, dir.to_owned()))
}

/// `GET /admin/reports/{client_id}`: the merchant's reports, by name.
pub async fn list(State(engine): State<Engine>, Path(client_id): Path<String>) -> Response {
    let (merchant, dir) = match merchant_and_dir(&engine, client_id) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    match list_reports(&dir, &merchant) {
        Ok(files) => Json(json!({
            "merchant": merchant.as_str(),
            "reports": files.iter().map(|(name, bytes)| json!({"name": name, "bytes": bytes})).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot list reports");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "internal error"}))).into_response()
        }
    }
}

/// `GET /admin/reports/{client_id}/{name}`: one report, streamed as it is on disk.
pub async fn download(
    State(engine): State<Engine>,
    Path((client_id, name)): Path<(String, String)>,
) -> Response {
    let (merchant, dir) = match merchant_and_dir(&engine, client_id) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(path) = report_path(&dir, &merchant, &name) else {
        return not_found("no such report");
    };
    match tokio::fs::File::open(&path).await {
        Ok(file) => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        )
            .into_response(),
        Err(_) => not_found("no such report"),
    }
}
