//! Logging in and out, the session cookie, CSRF tokens, and what a refused
//! request gets: the login page, a 403 or 404 page, never a 500.

use crate::format::Zone;
use crate::html_with;
use crate::pages::{Chrome, ErrorPage, LoginPage};
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use backflow_engine::ids::random_token;
use backflow_engine::portal::{PortalError, PortalSession};
use backflow_engine::{Engine, EngineError};
use std::collections::HashMap;

/// Set by the server on its HTTPS listener: cookies are then `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

pub(crate) type Page = Result<Response, Failure>;
pub(crate) type Fields = HashMap<String, String>;

const SESSION_COOKIE: &str = "bf_portal";
/// The login form's CSRF token, before there is a session to hold one.
const LOGIN_COOKIE: &str = "bf_portal_login";

/// Why a page is not shown.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No live session: to the login page.
    LoggedOut,
    NotFound,
    /// A POST without the session's CSRF token.
    Csrf,
    /// The user's role does not allow it.
    Forbidden,
    BadRequest(String),
    /// The database or a template failed.
    Unavailable,
}

impl From<PortalError> for Failure {
    fn from(e: PortalError) -> Self {
        match e {
            PortalError::Forbidden => Self::Forbidden,
            PortalError::Engine(EngineError::PaymentNotFound | EngineError::RefundNotFound) => {
                Self::NotFound
            }
            e => {
                tracing::error!("portal: {e}");
                Self::Unavailable
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::LoggedOut => {
                return Redirect::to("/portal/login?expired=1").into_response();
            }
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page, or it belongs to another merchant.".to_owned(),
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form is no longer valid (it is too old or was not sent by this site). Go back, reload the page and try again.".to_owned(),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role does not allow this. Ask an administrator of your account.".to_owned(),
            ),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The portal could not complete this request. Try again in a moment.".to_owned(),
            ),
        };
        let page = ErrorPage {
            chrome: None,
            title,
            message,
        };
        html_with(status, &page).unwrap_or_else(|_| (status, title).into_response())
    }
}

/// A cookie's value from the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: Option<i64>, tls: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/portal; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if tls {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The live session of the request, or the login page.
pub(crate) async fn session(engine: &Engine, headers: &HeaderMap) -> Result<Signed, Failure> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Err(Failure::LoggedOut);
    };
    let session = engine
        .portal_session(&id)
        .await?
        .ok_or(Failure::LoggedOut)?;
    let minutes = engine
        .portal_utc_offset_minutes(&session.user.merchant)
        .await?;
    Ok(Signed {
        session,
        zone: Zone { minutes },
    })
}

/// A logged-in request: the session and the merchant's time zone.
pub(crate) struct Signed {
    pub session: PortalSession,
    pub zone: Zone,
}

impl Signed {
    pub fn chrome(&self) -> Option<Chrome> {
        let u = &self.session.user;
        Some(Chrome {
            email: u.email.clone(),
            role: u.role.as_str(),
            merchant: u.merchant.to_string(),
            csrf: self.session.csrf_token.clone(),
            is_admin: u.role.is_admin(),
            zone: self.zone.name(),
        })
    }

    /// The fields of a POST, once its CSRF token is the session's.
    pub fn checked(&self, form: Result<Form<Fields>, FormRejection>) -> Result<Fields, Failure> {
        let Form(fields) = form.map_err(|_| Failure::Csrf)?;
        match fields.get("csrf") {
            Some(t) if constant_time_eq(t, &self.session.csrf_token) => Ok(fields),
            _ => Err(Failure::Csrf),
        }
    }
}

/// A POST from a logged-in user: the session (or the login page), then the CSRF check.
pub(crate) async fn signed_post(
    engine: &Engine,
    headers: &HeaderMap,
    form: Result<Form<Fields>, FormRejection>,
) -> Result<(Signed, Fields), Failure> {
    let signed = session(engine, headers).await?;
    let fields = signed.checked(form)?;
    Ok((signed, fields))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(crate) async fn login_page(tls: Option<Extension<OverTls>>, Query(q): Query<Fields>) -> Page {
    let message = q
        .contains_key("expired")
        .then(|| "Your session ended. Log in again.".to_owned());
    login_form(tls.is_some(), String::new(), message, StatusCode::OK)
}

/// The login form with a fresh CSRF token in a cookie and in the form.
fn login_form(tls: bool, email: String, message: Option<String>, status: StatusCode) -> Page {
    let token = random_token(32);
    let page = LoginPage {
        chrome: None,
        csrf: token.clone(),
        email,
        message,
    };
    let mut response = html_with(status, &page)?;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, None, tls),
    );
    Ok(response)
}

pub(crate) async fn login(
    State(engine): State<Engine>,
    tls: Option<Extension<OverTls>>,
    headers: HeaderMap,
    form: Result<Form<Fields>, FormRejection>,
) -> Page {
    let tls = tls.is_some();
    let Form(fields) = form.map_err(|_| Failure::Csrf)?;
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    match (cookie(&headers, LOGIN_COOKIE), fields.get("csrf")) {
        (Some(c), Some(f)) if constant_time_eq(&c, f) => {}
        _ => return Err(Failure::Csrf),
    }
    let email = field("email");
    let old = cookie(&headers, SESSION_COOKIE);
    let refused = |m: String| login_form(tls, email.clone(), Some(m), StatusCode::OK);
    match engine
        .portal_login(&email, &field("password"), old.as_deref())
        .await
    {
        Ok(session) => {
            let mut response = Redirect::to("/portal/home").into_response();
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &session.id, None, tls),
            );
            h.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0), tls));
            Ok(response)
        }
        Err(PortalError::BadLogin) => refused(
            "The email or password is wrong. After 5 failed attempts in a row the account is locked for 15 minutes.".into(),
        ),
        Err(PortalError::LoginLocked { until }) => {
            let minutes = (until.millis() - engine.clock().now().millis() + 59_999) / 60_000;
            refused(format!(
                "This account is locked after 5 failed logins in a row. Try again in {minutes} minutes."
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn logout(
    State(engine): State<Engine>,
    tls: Option<Extension<OverTls>>,
    headers: HeaderMap,
    form: Result<Form<Fields>, FormRejection>,
) -> Page {
    let (signed, _) = signed_post(&engine, &headers, form).await?;
    engine.portal_logout(&signed.session.id).await?;
    let mut response = Redirect::to("/portal/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", Some(0), tls.is_some()),
    );
    Ok(response)
}
