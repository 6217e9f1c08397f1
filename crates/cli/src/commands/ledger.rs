//! `backflow ledger …`: check the ledger's invariants, read balances.

use crate::storage::StorageArgs;
use backflow_domain::{ClientId, Currency, Money};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Verify every invariant; exits non-zero on any breach.
    Check(CheckArgs),
    /// Print a merchant's balances.
    Balance(BalanceArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Debug, Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(command: LedgerCommand) -> anyhow::Result<()> {
    match command {
        LedgerCommand::Check(args) => {
            let breaches = args.storage.engine().await?.check_ledger().await?;
            if breaches.is_empty() {
                println!("ledger ok: every posting balances, balances match their legs and floors, no payment is over-refunded");
                return Ok(());
            }
            for b in &breaches {
                println!("BREACH {b}");
            }
            anyhow::bail!("{} ledger invariant(s) broken", breaches.len())
        }
        LedgerCommand::Balance(args) => {
            let merchant =
                ClientId::parse(args.merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
            let rows = args
                .storage
                .engine()
                .await?
                .merchant_balances(&merchant)
                .await?;
            if args.json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|r| serde_json::json!({"account": r.account, "currency": r.currency, "balance": r.balance, "floor": r.floor}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!("{:<48} {:>5} {:>20}", "account", "ccy", "balance");
            for r in &rows {
                let shown = Currency::parse(&r.currency)
                    .map(|c| Money::new(c, r.balance).major_string())
                    .unwrap_or_else(|_| r.balance.to_string());
                println!("{:<48} {:>5} {:>20}", r.account, r.currency, shown);
            }
            Ok(())
        }
    }
}
