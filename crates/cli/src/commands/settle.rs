//! `backflow settle` and `backflow settle-terms`: settlement batches by hand, and the contract's cycle.

use crate::commands::reports::DayArgs;
use crate::storage::StorageArgs;
use backflow_domain::settlement::{SettlementCycle, SettlementTerms};
use backflow_domain::{ClientId, Money};
use clap::Args;

#[derive(Debug, Args)]
pub struct SettleArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The settlement day: batches due that day run.
    #[command(flatten)]
    day: DayArgs,
}

#[derive(Debug, Args)]
pub struct TermsArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    /// T+N (daily, N ≥ 1) or W+N (weekly, 2 ≤ N ≤ 5).
    #[arg(long, default_value = "T+1")]
    cycle: String,
    /// Funds below this (settlement minor units) wait for the next batch.
    #[arg(long, default_value_t = 0)]
    minimum_minor: i64,
}

pub async fn run(args: SettleArgs) -> anyhow::Result<()> {
    let (day, merchant) = args.day.parse()?;
    let engine = args.storage.engine().await?;
    let batches = engine.run_settlement(day, merchant.as_ref()).await?;
    if batches.is_empty() {
        println!("no settlement batch due on {day}");
    }
    for b in &batches {
        println!(
            "{}  {}  {} {}  {}",
            b.id,
            b.merchant,
            Money::major_string(&b.amount),
            b.amount.currency,
            b.status.as_str()
        );
    }
    Ok(())
}

pub async fn run_terms(args: TermsArgs) -> anyhow::Result<()> {
    let merchant =
        ClientId::parse(args.merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
    let cycle = SettlementCycle::parse(&args.cycle).ok_or_else(|| {
        anyhow::anyhow!(
            "--cycle: {:?} is not T+N (N ≥ 1) or W+N (2 ≤ N ≤ 5)",
            args.cycle
        )
    })?;
    let terms = SettlementTerms {
        cycle,
        minimum_minor: args.minimum_minor,
    };
    args.storage
        .engine()
        .await?
        .set_settlement_terms(&merchant, terms)
        .await?;
    println!(
        "{merchant}: settles {cycle}, minimum {}",
        args.minimum_minor
    );
    Ok(())
}
