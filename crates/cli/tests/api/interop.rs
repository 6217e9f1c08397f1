//! Antom's official Python SDK (global-alipay-sdk-python 1.0.1), unchanged, against a real server over HTTPS.
//!
//! The SDK always dials port 443; `tests/interop/sdk_refund.py` patches only the port of its
//! HTTPS connection to the server's random HTTPS port (see the script's header).

use crate::helpers::{spawn_app, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_pays_refunds_and_inquires_over_https() {
    let app = spawn_app(Backend::Sqlite).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/sdk_refund.py"
    );
    let output =
        tokio::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(script)
            .env("BACKFLOW_HTTPS_PORT", app.https_addr.port().to_string())
            .env(
                "BACKFLOW_CREDENTIALS",
                app.data_dir.path().join("demo-merchant.json"),
            )
            .output()
            .await
            .expect("python3 must be installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("interop: all expectations met"), "{stdout}");
}
