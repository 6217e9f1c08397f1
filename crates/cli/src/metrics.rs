//! `/metrics`: Prometheus's text format.
//!
//! Counters and histograms are recorded where things happen (the doors, the
//! rate limiter); gauges of waiting work are read from the store when scraped,
//! so they are right on every node whatever wrote the rows.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use backflow_engine::Engine;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Latency buckets in seconds: a refund takes ~1 ms in process, a notification up to its timeout.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's one recorder; servers started in one process (tests) share it.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed; then this handle renders nothing of it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The `/metrics` route, with the recorder installed.
pub fn router() -> Router {
    handle();
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(Extension(engine): Extension<Engine>) -> Response {
    match engine.gauges().await {
        Ok(g) => {
            for (status, n) in &g.refunds_by_status {
                metrics::gauge!("backflow_refunds", "status" => status.clone()).set(*n as f64);
            }
            for (status, n) in &g.notifications_by_status {
                metrics::gauge!("backflow_notifications", "status" => status.clone())
                    .set(*n as f64);
            }
            let now = engine.clock().now();
            let oldest = g
                .oldest_pending_notification
                .map_or(0, |t| (now.millis() - t.millis()).max(0));
            metrics::gauge!("backflow_oldest_pending_notification_seconds")
                .set(oldest as f64 / 1000.0);
            metrics::gauge!("backflow_jobs_due").set(g.jobs_due as f64);
            metrics::gauge!("backflow_jobs_late").set(g.jobs_late as f64);
            if let Some(pool) = g.pool {
                metrics::gauge!("backflow_db_pool_connections", "state" => "open")
                    .set(f64::from(pool.open));
                metrics::gauge!("backflow_db_pool_connections", "state" => "in_use")
                    .set(f64::from(pool.in_use));
            }
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle().render(),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot read the gauges");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
