//! `backflow serve`.

use crate::demo::{ensure_demo_merchant, DEMO_FILE};
use crate::storage::StorageArgs;
use crate::tls::TlsFiles;
use crate::{Application, ServeConfig};
use anyhow::Context;
use backflow_domain::method::MethodOverride;
use backflow_engine::clock::SystemClock;
use backflow_engine::reports::DayClose;
use backflow_engine::EngineSettings;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// A file of payment-method capability changes, one `METHOD:key=value,…` per line (# comments).
    #[arg(long, env = "BACKFLOW_METHODS_FILE")]
    methods: Option<PathBuf>,
    /// Refund requests per second and merchant, unless its contract says otherwise.
    #[arg(long, env = "BACKFLOW_REFUND_RATE_LIMIT", default_value_t = 1000)]
    refund_rate_limit: u32,
    #[command(flatten)]
    reports: crate::commands::reports::ReportsDirArgs,
    /// Do not run settlement batches when a day ends (reports are still written).
    #[arg(long, env = "BACKFLOW_NO_SETTLEMENT")]
    no_settlement: bool,
    /// Bearer token for the /admin API; generated into DATA_DIR/admin-token when absent.
    #[arg(long, env = "BACKFLOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let tls = args
        .tls_cert
        .zip(args.tls_key)
        .map(|(cert, key)| TlsFiles { cert, key });
    let data_dir = args.storage.data_dir.clone();
    let method_overrides = match &args.methods {
        Some(path) => read_method_overrides(path)?,
        None => Vec::new(),
    };
    let day_close = DayClose {
        reports_dir: args.reports.resolve(&args.storage),
        settle: !args.no_settlement,
    };
    let admin_token = match args.admin_token {
        Some(t) => t,
        None => admin_token_file(&data_dir)?,
    };
    let app = Application::build(ServeConfig {
        storage: args.storage,
        http_addr: args.http_addr,
        https_addr: Some(args.https_addr),
        tls,
        clock: Arc::new(SystemClock),
        settings: EngineSettings {
            method_overrides,
            refund_rate_per_second: args.refund_rate_limit,
            day_close: Some(day_close),
        },
        admin_token,
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

fn read_method_overrides(path: &Path) -> anyhow::Result<Vec<(String, MethodOverride)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            MethodOverride::parse(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The admin token kept in the data directory, created on first start.
fn admin_token_file(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_owned());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let token = backflow_engine::ids::random_token(40);
    std::fs::write(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}
