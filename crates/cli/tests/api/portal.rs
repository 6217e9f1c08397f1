//! The merchant portal over HTTP: login and lockout, sessions, CSRF, tenant
//! isolation on every route, escaping, refunds made once, roles, amount errors.

use crate::helpers::{on_both_backends, pay_body, spawn_app, Backend, TestApp};
use backflow_domain::{ClientId, PaymentId};
use backflow_engine::portal::{NewPortalUser, PortalRole, LOCK_MS, SESSION_IDLE_MS};
use std::collections::HashMap;

const PASSWORD: &str = "correct horse battery";
const PAYMENT_PASSWORD: &str = "pay-secret-123";

/// A browser without script: cookies kept by hand, redirects not followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

/// An answer: status, `Location`, body.
struct Answer {
    status: u16,
    location: String,
    body: String,
    headers: reqwest::header::HeaderMap,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: app.url(""),
            cookies: HashMap::new(),
        }
    }

    async fn answer(&mut self, resp: reqwest::Response) -> Answer {
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().expect("cookie");
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').expect("cookie pair");
            match v.is_empty() {
                true => self.cookies.remove(k),
                false => self.cookies.insert(k.to_owned(), v.to_owned()),
            };
        }
        Answer {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get("location")
                .map(|l| l.to_str().expect("location").to_owned())
                .unwrap_or_default(),
            headers: resp.headers().clone(),
            body: resp.text().await.expect("body"),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> Answer {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("get");
        self.answer(resp).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("post");
        self.answer(resp).await
    }

    async fn login(&mut self, email: &str, password: &str) -> Answer {
        let page = self.get("/portal/login").await;
        let csrf = hidden(&page.body, "csrf");
        self.post(
            "/portal/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// The CSRF token of a logged-in page.
    async fn csrf(&mut self) -> String {
        hidden(&self.get("/portal/home").await.body, "csrf")
    }
}

/// The value of the first hidden input named `name`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("value") + 7;
    let end = rest[v..].find('"').expect("end");
    rest[v..v + end].to_owned()
}

async fn user(app: &TestApp, merchant: &str, email: &str, role: PortalRole) {
    app.engine
        .create_portal_user(NewPortalUser {
            merchant: ClientId::parse(merchant).expect("id"),
            email: email.into(),
            role,
            password: PASSWORD.into(),
            payment_password: PAYMENT_PASSWORD.into(),
        })
        .await
        .expect("portal user");
}

async fn refunds_of(app: &TestApp, payment: &str) -> usize {
    app.engine
        .store_for_tests()
        .refunds_of(&PaymentId::parse(payment).expect("id"))
        .await
        .expect("refunds")
        .len()
}

/// The refund form as the payment's page hands it out, then submitted; the answer.
async fn submit_refund(
    b: &mut Browser,
    payment: &str,
    amount: &str,
    reason: &str,
    pw: &str,
) -> Answer {
    let page = b.get(&format!("/portal/payments/{payment}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = hidden(&page.body, "form_token");
    let csrf = hidden(&page.body, "csrf");
    b.post(
        &format!("/portal/payments/{payment}/refund"),
        &[
            ("csrf", &csrf),
            ("form_token", &token),
            ("amount", amount),
            ("reason", reason),
            ("payment_password", pw),
        ],
    )
    .await
}

async fn login_locks_after_five_failures_and_sessions_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    user(
        &app,
        &app.merchant.client_id,
        "ann@shop.example",
        PortalRole::Viewer,
    )
    .await;
    let mut b = Browser::new(&app);
    let home = b.get("/portal/home").await;
    assert_eq!(
        (home.status, home.location.as_str()),
        (303, "/portal/login?expired=1")
    );
    for i in 1..=5 {
        let wrong = b.login("ann@shop.example", "wrong password").await;
        assert_eq!(wrong.status, 200);
        let expected = if i < 5 { "is wrong" } else { "is locked" };
        assert!(wrong.body.contains(expected), "attempt {i}: {}", wrong.body);
    }
    let locked = b.login("ann@shop.example", PASSWORD).await;
    assert!(
        locked.body.contains("Try again in 15 minutes"),
        "{}",
        locked.body
    );
    app.clock.advance_millis(LOCK_MS);
    let ok = b.login("ann@shop.example", PASSWORD).await;
    assert_eq!((ok.status, ok.location.as_str()), (303, "/portal/home"));
    let first_session = b.cookies["bf_portal"].clone();
    assert!(ok
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("HttpOnly; SameSite=Lax")));
    let home = b.get("/portal/home").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("ann@shop.example"));
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(home.headers["x-content-type-options"], "nosniff");

    // A new login rotates the session id and ends the old one.
    b.login("ann@shop.example", PASSWORD).await;
    assert_ne!(b.cookies["bf_portal"], first_session);
    let mut old = Browser::new(&app);
    old.cookies.insert("bf_portal".into(), first_session);
    assert_eq!(old.get("/portal/home").await.status, 303);

    // 30 minutes idle end the session: the login page, not an error.
    app.clock.advance_millis(SESSION_IDLE_MS);
    let expired = b.get("/portal/transactions").await;
    assert_eq!(
        (expired.status, expired.location.as_str()),
        (303, "/portal/login?expired=1")
    );
    let csrf_less = b.post("/portal/logout", &[]).await;
    assert_eq!(csrf_less.status, 303);
}
on_both_backends!(login_locks_after_five_failures_and_sessions_expire);

async fn posts_without_the_csrf_token_get_403(backend: Backend) {
    let app = spawn_app(backend).await;
    user(
        &app,
        &app.merchant.client_id,
        "bo@shop.example",
        PortalRole::Admin,
    )
    .await;
    let payment = app.paid_payment("USD", "1000").await;
    let mut b = Browser::new(&app);
    // The login form's own token: a POST without the cookie's is refused.
    let no_cookie = Browser::new(&app)
        .post(
            "/portal/login",
            &[
                ("csrf", "x"),
                ("email", "bo@shop.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(no_cookie.status, 403);
    b.login("bo@shop.example", PASSWORD).await;
    for (path, form) in [
        ("/portal/logout".to_owned(), vec![]),
        ("/portal/logout".to_owned(), vec![("csrf", "forged")]),
        (
            format!("/portal/payments/{payment}/refund"),
            vec![("amount", "1.00"), ("payment_password", PAYMENT_PASSWORD)],
        ),
        (
            format!("/portal/payments/{payment}/refund/confirm"),
            vec![("csrf", "")],
        ),
        (
            "/portal/settings/time-zone".to_owned(),
            vec![("offset", "+08:00")],
        ),
    ] {
        let refused = b.post(&path, &form).await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(
            refused.body.contains("Form expired"),
            "{path}: {}",
            refused.body
        );
    }
    // Still logged in: the refusals changed nothing.
    assert_eq!(b.get("/portal/home").await.status, 200);
    assert_eq!(refunds_of(&app, &payment).await, 0);
}
on_both_backends!(posts_without_the_csrf_token_get_403);

async fn another_merchants_payment_is_not_found_on_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.another_merchant(true).await;
    let paid = app
        .send(
            &app.signed_as(
                &other,
                "pay",
                serde_json::to_vec(&pay_body(
                    "GCASH",
                    "AGREEMENT_PAYMENT",
                    "USD",
                    "1000",
                    false,
                ))
                .unwrap(),
            ),
        )
        .await;
    let theirs = paid["paymentId"].as_str().expect("payment").to_owned();
    user(
        &app,
        &other.client_id,
        "them@other.example",
        PortalRole::Admin,
    )
    .await;
    let mut them = Browser::new(&app);
    them.login("them@other.example", PASSWORD).await;
    let confirm = submit_refund(&mut them, &theirs, "1.00", "", PAYMENT_PASSWORD).await;
    assert_eq!(confirm.status, 200);
    let token = hidden(&confirm.body, "form_token");
    let made = them
        .post(
            &format!("/portal/payments/{theirs}/refund/confirm"),
            &[
                ("csrf", &hidden(&confirm.body, "csrf")),
                ("form_token", &token),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let their_refund = made
        .location
        .trim_start_matches("/portal/refunds/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    user(
        &app,
        &app.merchant.client_id,
        "me@shop.example",
        PortalRole::Admin,
    )
    .await;
    let mut me = Browser::new(&app);
    me.login("me@shop.example", PASSWORD).await;
    let csrf = me.csrf().await;
    for path in [
        format!("/portal/payments/{theirs}"),
        format!("/portal/refunds/{their_refund}"),
    ] {
        assert_eq!(me.get(&path).await.status, 404, "{path}");
    }
    for (path, form) in [
        (
            format!("/portal/payments/{theirs}/refund"),
            vec![
                ("csrf", csrf.as_str()),
                ("form_token", token.as_str()),
                ("amount", "1.00"),
                ("payment_password", PAYMENT_PASSWORD),
            ],
        ),
        (
            format!("/portal/payments/{theirs}/refund/confirm"),
            vec![("csrf", csrf.as_str()), ("form_token", token.as_str())],
        ),
        (
            format!("/portal/notifications/{their_refund}/resend"),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        assert_eq!(me.post(&path, &form).await.status, 404, "{path}");
    }
    for q in [theirs.as_str(), their_refund.as_str()] {
        let list = me.get(&format!("/portal/transactions?q={q}")).await;
        assert!(list.body.contains("No transactions match"), "{q}");
        let csv = me.get(&format!("/portal/transactions.csv?q={q}")).await;
        assert!(!csv.body.contains(&theirs), "{q}");
    }
    assert_eq!(refunds_of(&app, &theirs).await, 1);
}
on_both_backends!(another_merchants_payment_is_not_found_on_every_route);

async fn a_refund_is_made_once_shown_escaped_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    user(
        &app,
        &app.merchant.client_id,
        "cy@shop.example",
        PortalRole::Refunder,
    )
    .await;
    let payment = app.paid_payment("USD", "10000").await;
    let mut b = Browser::new(&app);
    b.login("cy@shop.example", PASSWORD).await;

    // Bad amounts: a field error each, nothing made.
    for (amount, says) in [
        ("", "Enter the amount"),
        ("1.234", "at most 2 decimals"),
        ("-1", "more than zero"),
        ("1e3", "plain digits"),
        ("１０", "digits 0-9"),
    ] {
        let page = submit_refund(&mut b, &payment, amount, "", PAYMENT_PASSWORD).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(says), "{amount:?}: {}", page.body);
        assert!(
            page.body.contains("id=\"refund-amount-error\""),
            "{amount:?}"
        );
    }
    let over = submit_refund(&mut b, &payment, "100.01", "", PAYMENT_PASSWORD).await;
    assert!(over.body.contains("REFUND_AMOUNT_EXCEED"), "{}", over.body);
    assert!(over
        .body
        .contains("more than what can still be refunded (100.00 USD)"));
    let wrong = submit_refund(&mut b, &payment, "12.34", "", "not it").await;
    assert!(
        wrong.body.contains("payment password is wrong. 4 more"),
        "{}",
        wrong.body
    );
    assert_eq!(refunds_of(&app, &payment).await, 0);

    let reason = "<script>alert(1)</script>";
    let confirm = submit_refund(&mut b, &payment, "12.34", reason, PAYMENT_PASSWORD).await;
    assert!(
        confirm.body.contains("id=\"confirm-amount\">12.34 USD"),
        "{}",
        confirm.body
    );
    assert!(!confirm.body.contains(reason));
    let token = hidden(&confirm.body, "form_token");
    let csrf = hidden(&confirm.body, "csrf");
    assert_eq!(
        refunds_of(&app, &payment).await,
        0,
        "nothing before the confirmation"
    );
    let path = format!("/portal/payments/{payment}/refund/confirm");
    let form = [("csrf", csrf.as_str()), ("form_token", token.as_str())];
    let mut twin = Browser {
        cookies: b.cookies.clone(),
        ..Browser::new(&app)
    };
    let mut triplet = Browser {
        cookies: b.cookies.clone(),
        ..Browser::new(&app)
    };
    let (first, again) = tokio::join!(twin.post(&path, &form), triplet.post(&path, &form));
    let replay = b.post(&path, &form).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(first.location, again.location);
    assert_eq!(first.location, replay.location);
    assert_eq!(refunds_of(&app, &payment).await, 1);

    let page = b.get(&first.location).await;
    assert!(
        page.body.contains("&#60;script&#62;alert(1)")
            || page.body.contains("&lt;script&gt;alert(1)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(reason));
    assert!(page.body.contains("12.34 USD"));
    assert!(page.body.contains("No notification is sent"));
    let list = b.get(&format!("/portal/transactions?q={payment}")).await;
    assert!(
        list.body.contains("12.34 USD") && list.body.contains("portal"),
        "{}",
        list.body
    );
    let refund_id = first
        .location
        .trim_start_matches("/portal/refunds/")
        .split('?')
        .next()
        .unwrap();
    let by_refund = b.get(&format!("/portal/transactions?q={refund_id}")).await;
    assert!(by_refund.body.contains(&payment));
    let csv = b
        .get(&format!("/portal/transactions.csv?q={payment}"))
        .await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv.body.lines().count(), 3, "{}", csv.body);
    assert!(csv.body.contains(",refund,") || csv.body.contains("refund,"));
    assert!(app
        .engine
        .store_for_tests()
        .check_ledger()
        .await
        .expect("check")
        .is_empty());
}
on_both_backends!(a_refund_is_made_once_shown_escaped_and_listed);

async fn viewers_cannot_refund_and_wrong_payment_passwords_lock_refunds(backend: Backend) {
    let app = spawn_app(backend).await;
    user(
        &app,
        &app.merchant.client_id,
        "vi@shop.example",
        PortalRole::Viewer,
    )
    .await;
    user(
        &app,
        &app.merchant.client_id,
        "re@shop.example",
        PortalRole::Refunder,
    )
    .await;
    let payment = app.paid_payment("USD", "1000").await;
    let mut viewer = Browser::new(&app);
    viewer.login("vi@shop.example", PASSWORD).await;
    let page = viewer.get(&format!("/portal/payments/{payment}")).await;
    assert!(page.body.contains("cannot refund") && !page.body.contains("refund-form"));
    let csrf = viewer.csrf().await;
    for path in [
        format!("/portal/payments/{payment}/refund"),
        format!("/portal/payments/{payment}/refund/confirm"),
    ] {
        let refused = viewer
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("amount", "1.00"),
                    ("form_token", "x"),
                    ("payment_password", PAYMENT_PASSWORD),
                ],
            )
            .await;
        assert_eq!(refused.status, 403, "{path}");
    }
    assert_eq!(viewer.get("/portal/settings").await.status, 403);

    let mut refunder = Browser::new(&app);
    refunder.login("re@shop.example", PASSWORD).await;
    for _ in 0..4 {
        submit_refund(&mut refunder, &payment, "1.00", "", "wrong").await;
    }
    let locked = submit_refund(&mut refunder, &payment, "1.00", "", "wrong").await;
    assert!(
        locked.body.contains("Refunds are locked"),
        "{}",
        locked.body
    );
    let still = submit_refund(&mut refunder, &payment, "1.00", "", PAYMENT_PASSWORD).await;
    assert!(still.body.contains("Refunds are locked"));
    app.clock.advance_millis(LOCK_MS);
    refunder.login("re@shop.example", PASSWORD).await;
    let confirm = submit_refund(&mut refunder, &payment, "1.00", "", PAYMENT_PASSWORD).await;
    assert!(
        confirm.body.contains("Confirm the refund"),
        "{}",
        confirm.body
    );
    assert_eq!(refunds_of(&app, &payment).await, 0);
}
on_both_backends!(viewers_cannot_refund_and_wrong_payment_passwords_lock_refunds);
