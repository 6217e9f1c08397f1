//! The merchant portal: the third door, where a merchant's staff log in, find
//! a payment and refund it by hand (docs/portal.md).
//!
//! Server-rendered pages from compile-time checked, auto-escaping templates;
//! no script. Every page reads and writes through the engine; the only rules
//! here are the portal's own (sessions, CSRF, who sees what).

mod auth;
mod chart;
mod format;
mod home;
mod pages;
mod payments;
mod settings;
mod transactions;

use askama::Template;
use auth::{Failure, Page};
use axum::extract::{OriginalUri, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use backflow_engine::Engine;

pub use auth::OverTls;

/// The portal's routes, under `/portal`.
pub fn router(engine: Engine) -> Router {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/portal/home") }))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/home", get(home::home))
        .route("/home/chart.svg", get(home::chart))
        .route("/transactions", get(transactions::list))
        .route("/transactions.csv", get(transactions::csv))
        .route("/payments/{id}", get(payments::payment))
        .route("/payments/{id}/refund", post(payments::check_refund))
        .route(
            "/payments/{id}/refund/confirm",
            post(payments::confirm_refund),
        )
        .route("/refunds/{id}", get(payments::refund))
        .route(
            "/notifications/{id}/resend",
            post(payments::resend_notification),
        )
        .route("/settings", get(settings::settings))
        .route("/settings/time-zone", post(settings::set_time_zone))
        .route("/static/portal.css", get(stylesheet))
        .fallback(not_found)
        .with_state(engine)
        .layer(middleware::from_fn(security_headers));
    Router::new().nest("/portal", pages)
}

/// `/portal/` goes home like `/portal`; anything else unknown is the 404 page.
async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    match uri.path() {
        "/portal/" => Redirect::to("/portal/home").into_response(),
        _ => Failure::NotFound.into_response(),
    }
}

/// What every portal answer carries: no script, no framing, no sniffing, no caching.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../static/portal.css"),
    )
        .into_response()
}

/// A rendered page.
fn html(page: &impl Template) -> Page {
    html_with(StatusCode::OK, page)
}

fn html_with(status: StatusCode, page: &impl Template) -> Page {
    let body = page.render().map_err(|e| {
        tracing::error!("portal template failed: {e}");
        Failure::Unavailable
    })?;
    Ok((
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response())
}
