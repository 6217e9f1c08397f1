//! `backflow merchant …`.

use crate::demo::MerchantCredentialsFile;
use crate::storage::StorageArgs;
use anyhow::Context;
use backflow_domain::Currency;
use backflow_engine::MerchantSpec;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant and print its credentials.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
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

pub async fn run(command: MerchantCommand) -> anyhow::Result<()> {
    match command {
        MerchantCommand::Create(args) => create(args).await,
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
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
    let engine = args.storage.engine().await?;
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
