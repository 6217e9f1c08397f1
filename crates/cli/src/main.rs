//! `backflow`: the refund platform's command line.

use anyhow::Context;
use backflow::demo::{ensure_demo_merchant, MerchantCredentialsFile, DEMO_FILE};
use backflow::storage::StorageArgs;
use backflow::tls::TlsFiles;
use backflow::{Application, ServeConfig};
use backflow_domain::Currency;
use backflow_engine::clock::SystemClock;
use backflow_engine::{Engine, MerchantSpec};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Backflow: an open-source refund platform, wire-compatible with Antom's refund APIs.
#[derive(Debug, Parser)]
#[command(name = "backflow", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the AMS API over HTTP and HTTPS, the sandbox checkout.
    Serve(ServeArgs),
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
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

#[derive(Debug, Subcommand)]
enum MerchantCommand {
    /// Create a merchant and print its credentials.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's display name.
    #[arg(long)]
    name: String,
    /// The client id; generated when absent. Ids starting SANDBOX_ are sandbox merchants.
    #[arg(long)]
    client_id: Option<String>,
    /// Generate a SANDBOX_ client id (ignored with --client-id).
    #[arg(long)]
    sandbox: bool,
    /// The merchant's RSA public key (PEM or base64 SPKI); without it Backflow generates a key pair.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Settlement currency (ISO 4217); defaults to each payment's currency.
    #[arg(long)]
    settlement_currency: Option<String>,
    /// Print the credentials as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Merchant(MerchantCommand::Create(args)) => create_merchant(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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

async fn create_merchant(args: CreateArgs) -> anyhow::Result<()> {
    let store = args.storage.open().await?;
    let engine = Engine::new(
        store,
        Arc::new(SystemClock),
        Box::new(backflow_engine::channels::Simulator),
    );
    let public_key = args
        .public_key
        .map(|p| {
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
        })
        .transpose()?;
    let settlement_currency = args
        .settlement_currency
        .map(|c| Currency::parse(&c).map_err(|e| anyhow::anyhow!("--settlement-currency: {e}")))
        .transpose()?;
    let created = engine
        .create_merchant(MerchantSpec {
            name: args.name,
            client_id: args.client_id,
            sandbox: args.sandbox,
            public_key,
            settlement_currency,
            notify_url: None,
        })
        .await?;
    let file = MerchantCredentialsFile::from(created);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else {
        println!("Created merchant {} ({})", file.client_id, file.name);
        println!("  legacy partner id  {}", file.legacy_partner_id);
        println!("  (use --json to print the keys)");
    }
    Ok(())
}
