//! A real browser for end-to-end tests: Debian's `chromium`, headless, driven
//! over WebDriver by Debian's `chromedriver` (docs/portal-testing.md).
//!
//! [`Browser::start`] runs `chromedriver` on a free port and opens a session
//! with a fresh profile; [`Browser::screenshot`] saves what the page shows
//! under `target/portal-screenshots/`; dropping the browser ends the session's
//! driver and removes the profile. A machine without the packages fails the
//! test, saying what to install: browser tests are never skipped.

use crate::helpers::{code, spawn_app, Backend};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long chromedriver may take to listen, and a page element to appear.
const READY_WITHIN: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    /// Ends chromedriver, and with it any Chromium it still runs, when the browser goes.
    _driver: DriverGuard,
    /// Chromium's `--user-data-dir`, removed on drop.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Self {
        let chromium = chromium_binary();
        let chromedriver = on_path("chromedriver").unwrap_or_else(|| missing("chromedriver"));
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            // Its own process group, so that Chromium ends with it (see `DriverGuard`).
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        // Owned from here on, so that a failure below still ends the driver.
        let driver = DriverGuard(driver);
        wait_until_listening(port);
        let profile = tempfile::tempdir().expect("profile directory");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not open Chromium: {e}"));
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits until its document has loaded.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The text of the element `css` finds, waiting for it to appear.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// The element `css` finds, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(READY_WITHIN)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Saves what the window shows as `target/portal-screenshots/NAME.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the session (Chromium quits), then the driver.
    pub async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("end the browser session");
    }
}

/// Kills chromedriver and what it started (Chromium) when dropped: on a
/// panic too, so that no test leaves a browser running.
struct DriverGuard(Child);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/portal-screenshots`, beside the tests' scratch directory.
pub fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("portal-screenshots")
}

/// Debian's Chromium itself, not its launcher script (which chromedriver would run as well,
/// but it prints warnings of its own on some machines).
fn chromium_binary() -> PathBuf {
    let real = Path::new("/usr/lib/chromium/chromium");
    if real.is_file() {
        return real.to_path_buf();
    }
    on_path("chromium").unwrap_or_else(|| missing("chromium"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is not installed: the browser tests need Debian's chromium and chromium-driver \
         packages (`apt-get install -y chromium chromium-driver`; scripts/test installs them)"
    )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + READY_WITHIN;
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port} within {READY_WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The harness against a page the server serves: a buyer pays a cashier
/// payment on the sandbox checkout page, in Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_on_the_checkout_page_in_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = app
        .call(
            "pay",
            json!({
                "productCode": "CASHIER_PAYMENT",
                "paymentRequestId": "browser-cashier-1",
                "paymentAmount": {"currency": "JPY", "value": "1500"},
                "paymentMethod": {"paymentMethodType": "ALIPAY_HK"},
                "env": {"terminalType": "WEB"},
            }),
        )
        .await;
    assert_eq!(code(&body), ("PAYMENT_IN_PROCESS", "U"));
    let url = body["normalUrl"].as_str().expect("normalUrl");

    let browser = Browser::start().await;
    browser.open(url).await;
    assert_eq!(
        browser.client.title().await.expect("title"),
        "Backflow sandbox checkout"
    );
    assert_eq!(browser.text("#amount").await, "1500 JPY");
    assert_eq!(browser.text("#status").await, "Status: PROCESSING");
    let before = browser.screenshot("checkout-before-paying").await;

    browser.find("#pay").await.click().await.expect("click Pay");
    assert_eq!(browser.text("#done").await, "Paid.");
    assert_eq!(browser.text("#status").await, "Status: SUCCESS");
    let after = browser.screenshot("checkout-paid").await;
    browser.close().await;

    for shot in [before, after] {
        let png = std::fs::read(&shot).expect("screenshot file");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1_000,
            "{} is not a picture",
            shot.display()
        );
    }
    let merchant = backflow_domain::ClientId::parse(app.merchant.client_id.clone()).expect("id");
    let id =
        backflow_domain::PaymentId::parse(body["paymentId"].as_str().expect("id")).expect("id");
    let paid = app
        .engine
        .inquire_payment(&merchant, backflow_store::PaymentKey::Id(&id))
        .await
        .expect("payment");
    assert_eq!(paid.payment.status.as_str(), "SUCCESS");
}
