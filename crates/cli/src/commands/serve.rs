//! `backflow serve`.

use crate::demo::{ensure_demo_merchant, DEMO_FILE};
use crate::storage::StorageArgs;
use crate::tls::TlsFiles;
use crate::{Application, ServeConfig};
use backflow_engine::clock::SystemClock;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Plain HTTP listener.
    #[arg(long, env = "BACKFLOW_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// HTTPS listener (the official SDKs speak HTTPS).
    #[arg(long, env = "BACKFLOW_HTTPS_ADDR", default_value = "127.0.0.1:8443")]
    https_addr: SocketAddr,
    /// PEM certificate for HTTPS; without it a self-signed one is generated in the data directory.
    #[arg(long, env = "BACKFLOW_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "BACKFLOW_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let tls = args
        .tls_cert
        .zip(args.tls_key)
        .map(|(cert, key)| TlsFiles { cert, key });
    let data_dir = args.storage.data_dir.clone();
    let app = Application::build(ServeConfig {
        storage: args.storage,
        http_addr: args.http_addr,
        https_addr: Some(args.https_addr),
        tls,
        clock: Arc::new(SystemClock),
    })
    .await?;
    let demo = ensure_demo_merchant(app.engine(), &data_dir).await?;
    let https = app
        .https_addr()
        .map(|a| format!("https://{a}"))
        .unwrap_or_default();
    println!("Backflow is serving");
    println!("  HTTP   http://{}", app.http_addr());
    println!(
        "  HTTPS  {https}  (certificate: {})",
        data_dir.join("tls-cert.pem").display()
    );
    println!(
        "Demo merchant (sandbox), credentials in {}:",
        data_dir.join(DEMO_FILE).display()
    );
    println!("  clientId          {}", demo.client_id);
    println!("  legacy partner    {}", demo.legacy_partner_id);
    println!("  gateway URL       {https}  (SDK path prefix /ams/sandbox/api)");
    app.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
