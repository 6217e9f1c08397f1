//! `backflow fx …`: the exchange-rates table.

use crate::storage::StorageArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum FxCommand {
    /// Import rates from a CSV file of `date,pair,rate` rows (2026-11-25,USD/SGD,1.3456).
    Import(ImportArgs),
    /// List rates.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The CSV file.
    file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Only this day (YYYY-MM-DD).
    #[arg(long)]
    date: Option<String>,
}

pub async fn run(command: FxCommand) -> anyhow::Result<()> {
    match command {
        FxCommand::Import(args) => {
            let text = std::fs::read_to_string(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            let n = args.storage.engine().await?.import_fx_rates(&text).await?;
            println!("imported {n} rate(s)");
        }
        FxCommand::List(args) => {
            for r in args
                .storage
                .open()
                .await?
                .fx_rates(args.date.as_deref())
                .await?
            {
                println!(
                    "{},{}/{},{}",
                    r.date,
                    r.base,
                    r.quote,
                    r.rate.to_decimal_string()
                );
            }
        }
    }
    Ok(())
}
