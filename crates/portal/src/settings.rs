//! Settings (admins): the merchant's ids and addresses, its time zone, its users.

use crate::auth::{session, signed_post, Failure, Fields, Page};
use crate::html;
use crate::pages::{SettingsPage, UserLine};
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use backflow_engine::Engine;

/// `+08:00`, `-03:30`, `+00:00` as minutes east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

fn offset_text(minutes: i64) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

pub(crate) async fn settings(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Page {
    let signed = session(&engine, &headers).await?;
    let user = &signed.session.user;
    if !user.role.is_admin() {
        return Err(Failure::Forbidden);
    }
    let merchant = engine.portal_merchant(user).await?;
    let users = engine
        .portal_users(Some(&user.merchant))
        .await?
        .into_iter()
        .map(|u| UserLine {
            email: u.email,
            role: u.role.as_str(),
            state: if u.disabled { "disabled" } else { "active" },
        })
        .collect();
    html(&SettingsPage {
        chrome: signed.chrome(),
        client_id: merchant.client_id.to_string(),
        legacy_partner_id: merchant.legacy_partner_id.clone(),
        notify_url: merchant.notify_url.unwrap_or_else(|| "(none)".into()),
        offset: offset_text(signed.zone.minutes),
        users,
        notice: q.contains_key("saved").then(|| "Saved.".to_owned()),
    })
}

pub(crate) async fn set_time_zone(
    State(engine): State<Engine>,
    headers: HeaderMap,
    form: Result<Form<Fields>, FormRejection>,
) -> Page {
    let (signed, fields) = signed_post(&engine, &headers, form).await?;
    let user = &signed.session.user;
    if !user.role.is_admin() {
        return Err(Failure::Forbidden);
    }
    let offset = fields.get("offset").map(String::as_str).unwrap_or("");
    let minutes = parse_offset(offset).ok_or_else(|| {
        Failure::BadRequest("Write the offset from UTC as +HH:MM or -HH:MM, like +08:00.".into())
    })?;
    engine
        .set_portal_utc_offset_minutes(&user.merchant, minutes)
        .await?;
    Ok(Redirect::to("/portal/settings?saved=1").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_and_write_back() {
        assert_eq!(parse_offset("+08:00"), Some(480));
        assert_eq!(parse_offset("-03:30"), Some(-210));
        assert_eq!(parse_offset("+00:00"), Some(0));
        for bad in ["8", "+8:00", "+15:00", "+08:60", "UTC", ""] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        assert_eq!(offset_text(-210), "-03:30");
    }
}
