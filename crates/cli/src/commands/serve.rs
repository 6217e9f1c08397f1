//! `backflow serve`.

use crate::demo::{ensure_demo_merchant, DEMO_FILE};
use crate::storage::StorageArgs;
use crate::tls::TlsFiles;
use crate::{Application, ServeConfig};
use anyhow::Context;
use backflow_domain::method::MethodOverride;
use backflow_engine::clock::SystemClock;
use backflow_engine::reports::DayClose;
use backflow_engine::{Deployment, EngineSettings};
use backflow_notify::NotifierConfig;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// `sandbox` (demo exchange rates, a demo merchant, refunds to the simulator) or `production`.
    #[arg(long, env = "BACKFLOW_DEPLOYMENT", default_value = "sandbox")]
    deployment: Deployment,
    /// Where refunds of merchants outside the sandbox go unless their contract names a channel;
    /// required in production (channels: simulator).
    #[arg(long, env = "BACKFLOW_REFUND_CHANNEL")]
    refund_channel: Option<String>,
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
    #[command(flatten)]
    notifier: NotifierArgs,
}

/// How the notifier delivers (see `backflow_notify::NotifierConfig`).
#[derive(Debug, Args)]
pub struct NotifierArgs {
    /// Seconds one notification POST may take, from connecting to the end of the answer.
    #[arg(long, env = "BACKFLOW_NOTIFY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    notify_timeout_secs: u64,
    /// Seconds a claimed notification stays this node's; must outlast the POST timeout.
    #[arg(long, env = "BACKFLOW_NOTIFY_CLAIM_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    notify_claim_secs: u64,
    /// Deliveries in flight on this node.
    #[arg(long, env = "BACKFLOW_NOTIFY_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    notify_concurrency: u64,
    /// Deliveries in flight on this node for one merchant.
    #[arg(long, env = "BACKFLOW_NOTIFY_PER_MERCHANT", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    notify_per_merchant: u64,
}

impl NotifierArgs {
    fn config(&self) -> anyhow::Result<NotifierConfig> {
        let config = NotifierConfig {
            post_timeout: Duration::from_secs(self.notify_timeout_secs),
            claim_ttl: Duration::from_secs(self.notify_claim_secs),
            max_in_flight: usize::try_from(self.notify_concurrency)?,
            max_in_flight_per_merchant: usize::try_from(self.notify_per_merchant)?,
            ..NotifierConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
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
    let notifier = args.notifier.config()?;
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
            deployment: args.deployment,
            refund_channel: args.refund_channel,
            method_overrides,
            refund_rate_per_second: args.refund_rate_limit,
            day_close: Some(day_close),
        },
        admin_token,
        notifier,
    })
    .await?;
    // Written before the banner: whoever waits for it may read the file.
    let demo = match args.deployment {
        Deployment::Sandbox => Some(ensure_demo_merchant(app.engine(), &data_dir).await?),
        Deployment::Production => None,
    };
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
    if let Some(demo) = demo {
        println!(
            "Demo merchant (sandbox), credentials in {}:",
            data_dir.join(DEMO_FILE).display()
        );
        println!("  clientId          {}", demo.client_id);
        println!("  legacy partner    {}", demo.legacy_partner_id);
        println!("  gateway URL       {https}  (SDK path prefix /ams/sandbox/api)");
        if let Some(login) = &demo.portal {
            println!("Merchant portal    http://{}/portal/", app.http_addr());
            println!("  login             {}", login.email);
            println!("  password          {}", login.password);
            println!("  payment password  {}", login.payment_password);
        }
    }
    app.run_until(stop_signal()).await
}

/// Ctrl-C, or the SIGTERM that service managers and container runtimes send.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: finishing requests and deliveries in flight");
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

#[cfg(test)]
mod tests {
    use super::NotifierArgs;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        notifier: NotifierArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<backflow_notify::NotifierConfig> {
        let flags = Flags::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?;
        flags.notifier.config()
    }

    #[test]
    fn notifier_flags_are_checked() {
        let c = parse(&["--notify-claim-secs", "3", "--notify-timeout-secs", "2"]).unwrap();
        assert_eq!(
            (c.claim_ttl, c.post_timeout),
            (Duration::from_secs(3), Duration::from_secs(2))
        );
        assert_eq!(c.max_in_flight_per_merchant, 4);
        // The claim must outlast the POST timeout; numbers are positive integers.
        assert!(parse(&["--notify-claim-secs", "5"]).is_err());
        assert!(parse(&["--notify-timeout-secs", "x"]).is_err());
        assert!(parse(&["--notify-concurrency", "0"]).is_err());
        assert_eq!(parse(&[]).unwrap().claim_ttl, Duration::from_secs(60));
    }
}
