//! `backflow reconcile`: check a day's reports and batches against the ledger.

use crate::commands::reports::{DayArgs, ReportsDirArgs};
use crate::storage::StorageArgs;
use clap::Args;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    reports: ReportsDirArgs,
    #[command(flatten)]
    day: DayArgs,
    /// Print JSON, for scripts.
    #[arg(long)]
    json: bool,
}

/// Prints every difference; fails when there is any.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let (day, merchant) = args.day.parse()?;
    let dir = args.reports.resolve(&args.storage);
    let engine = args.storage.engine().await?;
    let differences = engine.reconcile(&dir, day, merchant.as_ref()).await?;
    if args.json {
        let body = serde_json::json!({
            "date": day.to_string(),
            "reconciled": differences.is_empty(),
            "differences": differences.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else if differences.is_empty() {
        println!(
            "{day} reconciled: reports, ledger and settlement batches agree to the minor unit"
        );
    } else {
        for d in &differences {
            println!("DIFFERENCE {d}");
        }
    }
    match differences.len() {
        0 => Ok(()),
        n => anyhow::bail!("{n} difference(s) on {day}"),
    }
}
