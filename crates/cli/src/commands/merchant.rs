//! `backflow merchant …`: create merchants, set their contracts, move their money.

use crate::demo::MerchantCredentialsFile;
use crate::storage::StorageArgs;
use anyhow::Context;
use backflow_domain::ledger::PostingKind;
use backflow_domain::merchant::{CommissionRefund, Contract};
use backflow_domain::method::MethodOverride;
use backflow_domain::{ClientId, Currency, Money};
use backflow_engine::MerchantSpec;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant and print its credentials.
    Create(CreateArgs),
    /// Set a merchant's contract: settlement currency, commission, refund window, overdraft, routing, limits.
    Contract(ContractCommandArgs),
    /// Add money to a merchant's available balance (a top-up).
    Fund(MoveArgs),
    /// Correct a merchant's available balance up or down (negative amounts debit).
    Adjust(MoveArgs),
    /// Set or clear the address notifications go to when a request names none.
    SetNotifyUrl(crate::commands::notifications::SetNotifyUrlArgs),
}

/// Contract terms, shared by `create` and `contract`.
#[derive(Debug, Args)]
pub struct ContractArgs {
    /// Settlement currency (ISO 4217); defaults to each payment's currency.
    #[arg(long)]
    settlement_currency: Option<String>,
    /// Commission on each payment, in basis points (250 = 2.5%).
    #[arg(long, default_value_t = 0)]
    commission_bps: u32,
    /// Whether refunds return the commission: none, proportional or full.
    #[arg(long, default_value = "none")]
    commission_refund: String,
    /// Refund window in days, replacing every method's own.
    #[arg(long)]
    refund_window_days: Option<u32>,
    /// How far the available balance may go below zero, in minor units of the settlement currency.
    #[arg(long, default_value_t = 0)]
    overdraft: i64,
    /// Acquirer card payments are routed through (APO), e.g. 2C2P_SG or 2C2P_HK.
    #[arg(long)]
    card_acquirer: Option<String>,
    /// Refund requests allowed per second (default: the server's --refund-rate-limit).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// The channel refunds go to (default: the server's --refund-channel; the simulator for sandbox merchants).
    #[arg(long)]
    refund_channel: Option<String>,
    /// Change a payment method's capabilities, e.g. "QRIS:window_days=14,partial_allowed=false". Repeatable.
    #[arg(long = "method")]
    methods: Vec<String>,
}

impl ContractArgs {
    fn parse(&self) -> anyhow::Result<(Option<Currency>, Contract)> {
        let settlement_currency = self
            .settlement_currency
            .as_deref()
            .map(|c| Currency::parse(c).map_err(|e| anyhow::anyhow!("--settlement-currency: {e}")))
            .transpose()?;
        let commission_refund =
            CommissionRefund::parse(&self.commission_refund).ok_or_else(|| {
                anyhow::anyhow!("--commission-refund: expected none, proportional or full")
            })?;
        if self.commission_bps > 10_000 {
            anyhow::bail!("--commission-bps: at most 10000 (100%)");
        }
        if self.overdraft < 0 {
            anyhow::bail!("--overdraft: a limit is not negative");
        }
        let method_overrides = self
            .methods
            .iter()
            .map(|m| MethodOverride::parse(m).map_err(|e| anyhow::anyhow!("--method: {e}")))
            .collect::<anyhow::Result<_>>()?;
        let contract = Contract {
            commission_bps: self.commission_bps,
            commission_refund,
            refund_window_days: self.refund_window_days,
            overdraft_minor: self.overdraft,
            card_acquirer: self.card_acquirer.clone(),
            rate_limit_per_second: self.rate_limit,
            method_overrides,
            refund_channel: self.refund_channel.clone(),
        };
        Ok((settlement_currency, contract))
    }
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
    #[command(flatten)]
    contract: ContractArgs,
    /// Print the credentials as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ContractCommandArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    #[command(flatten)]
    contract: ContractArgs,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    /// Amount in major units, e.g. 100.00 (JPY: 100); `adjust` accepts a leading minus.
    #[arg(long, allow_hyphen_values = true)]
    amount: String,
    /// ISO 4217 currency.
    #[arg(long)]
    currency: String,
    /// A note kept with the ledger posting.
    #[arg(long, default_value = "manual")]
    reference: String,
}

pub async fn run(command: MerchantCommand) -> anyhow::Result<()> {
    match command {
        MerchantCommand::Create(args) => create(args).await,
        MerchantCommand::Contract(args) => {
            let merchant = client_id(&args.merchant)?;
            let (currency, contract) = args.contract.parse()?;
            args.storage
                .engine()
                .await?
                .set_contract(&merchant, currency, &contract)
                .await?;
            println!("Contract of {merchant} updated.");
            Ok(())
        }
        MerchantCommand::Fund(args) => move_funds(args, PostingKind::Funding, false).await,
        MerchantCommand::Adjust(args) => move_funds(args, PostingKind::Adjustment, true).await,
        MerchantCommand::SetNotifyUrl(args) => {
            crate::commands::notifications::set_notify_url(args).await
        }
    }
}

fn client_id(text: &str) -> anyhow::Result<ClientId> {
    ClientId::parse(text).map_err(|e| anyhow::anyhow!("--merchant: {e}"))
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let public_key = args
        .public_key
        .map(|p| {
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
        })
        .transpose()?;
    let (settlement_currency, contract) = args.contract.parse()?;
    let engine = args.storage.engine().await?;
    let created = engine
        .create_merchant(MerchantSpec {
            name: args.name,
            client_id: args.client_id,
            sandbox: args.sandbox,
            public_key,
            settlement_currency,
            notify_url: None,
            contract,
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

async fn move_funds(args: MoveArgs, kind: PostingKind, signed: bool) -> anyhow::Result<()> {
    let merchant = client_id(&args.merchant)?;
    let currency =
        Currency::parse(&args.currency).map_err(|e| anyhow::anyhow!("--currency: {e}"))?;
    let (negative, digits) = match args.amount.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, args.amount.as_str()),
    };
    let mut money =
        Money::parse_major(currency, digits).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    if negative {
        money.minor = -money.minor;
    }
    args.storage
        .engine()
        .await?
        .move_merchant_funds(&merchant, money, kind, &args.reference)
        .await?;
    println!(
        "{} {} {} {}",
        kind.as_str(),
        merchant,
        money.major_string(),
        currency
    );
    Ok(())
}
