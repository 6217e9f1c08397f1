//! The sandbox checkout page behind a cashier payment's `normalUrl`: the buyer's
//! side of a payment, with a Pay button that completes it.

use crate::AmsState;
use axum::extract::{Path, State};
use axum::response::Html;
use backflow_domain::payment::{Payment, PaymentStatus};
use backflow_domain::{ClientId, PaymentId};
use backflow_engine::EngineError;
use backflow_store::PaymentKey;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page_for(payment: Option<&Payment>, note: &str) -> Html<String> {
    let body = match payment {
        None => "<p>No such payment.</p>".to_owned(),
        Some(p) => {
            let button = if p.status == PaymentStatus::Processing {
                r#"<form method="post"><button id="pay" type="submit">Pay</button></form>"#
            } else {
                ""
            };
            format!(
                "<p>Payment <code>{}</code></p><p id=\"amount\">{} {}</p><p>Method: {}</p><p id=\"status\">Status: {}</p>{button}",
                escape(p.id.as_str()),
                escape(&p.amount.major_string()),
                p.amount.currency,
                escape(&p.method_type),
                p.status.as_str(),
            )
        }
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Backflow sandbox checkout</title></head>\
         <body><h1>Backflow sandbox checkout</h1>{note}{body}</body></html>"
    ))
}

fn parse(client_id: String, payment_id: String) -> Option<(ClientId, PaymentId)> {
    Some((
        ClientId::parse(client_id).ok()?,
        PaymentId::parse(payment_id).ok()?,
    ))
}

async fn stored(state: &AmsState, merchant: &ClientId, id: &PaymentId) -> Option<Payment> {
    state
        .engine
        .payment(merchant, PaymentKey::Id(id))
        .await
        .ok()
        .flatten()
}

pub async fn page(
    State(state): State<AmsState>,
    Path((client_id, payment_id)): Path<(String, String)>,
) -> Html<String> {
    let Some((merchant, id)) = parse(client_id, payment_id) else {
        return page_for(None, "");
    };
    page_for(stored(&state, &merchant, &id).await.as_ref(), "")
}

pub async fn pay(
    State(state): State<AmsState>,
    Path((client_id, payment_id)): Path<(String, String)>,
) -> Html<String> {
    let Some((merchant, id)) = parse(client_id, payment_id) else {
        return page_for(None, "");
    };
    if !merchant.is_sandbox() {
        return page_for(None, "<p>Only sandbox payments can be paid here.</p>");
    }
    match state.engine.complete_checkout(&merchant, &id).await {
        Ok(p) => page_for(Some(&p), "<p id=\"done\">Paid.</p>"),
        Err(EngineError::PaymentNotFound) => page_for(None, ""),
        Err(e) => page_for(
            stored(&state, &merchant, &id).await.as_ref(),
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
    }
}
