//! `backflow reports …`: write and list day reports (docs/reports.md).

use crate::storage::StorageArgs;
use backflow_domain::settlement::Day;
use backflow_domain::ClientId;
use backflow_engine::reports::list_reports;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Write the transaction details report of a day, for one merchant or all.
    Generate(GenerateArgs),
    /// List the reports kept for a merchant.
    List(ListArgs),
}

/// Where reports are kept.
#[derive(Debug, Clone, Args)]
pub struct ReportsDirArgs {
    /// Directory for reports (default: DATA_DIR/reports).
    #[arg(long, env = "BACKFLOW_REPORTS_DIR")]
    pub reports_dir: Option<PathBuf>,
}

impl ReportsDirArgs {
    pub fn resolve(&self, storage: &StorageArgs) -> PathBuf {
        self.reports_dir
            .clone()
            .unwrap_or_else(|| storage.data_dir.join("reports"))
    }
}

/// A day and, optionally, one merchant.
#[derive(Debug, Args)]
pub struct DayArgs {
    /// The UTC day, YYYY-MM-DD.
    #[arg(long)]
    pub date: String,
    /// Only this merchant (client id); every merchant otherwise.
    #[arg(long)]
    pub merchant: Option<String>,
}

impl DayArgs {
    pub fn parse(&self) -> anyhow::Result<(Day, Option<ClientId>)> {
        let day = Day::parse(&self.date)
            .ok_or_else(|| anyhow::anyhow!("--date: {:?} is not a YYYY-MM-DD day", self.date))?;
        let merchant = self
            .merchant
            .clone()
            .map(ClientId::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
        Ok((day, merchant))
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    reports: ReportsDirArgs,
    #[command(flatten)]
    day: DayArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    reports: ReportsDirArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
}

pub async fn run(command: ReportsCommand) -> anyhow::Result<()> {
    match command {
        ReportsCommand::Generate(args) => {
            let (day, merchant) = args.day.parse()?;
            let dir = args.reports.resolve(&args.storage);
            let engine = args.storage.engine().await?;
            let merchants = match merchant {
                Some(m) => vec![m],
                None => engine.merchant_ids().await?,
            };
            let style = ProgressStyle::with_template("{spinner} {msg}: {pos} rows ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            for m in &merchants {
                let bar = ProgressBar::new_spinner()
                    .with_style(style.clone())
                    .with_message(m.to_string());
                let generated = engine
                    .generate_transaction_details(&dir, m, day, |rows| bar.set_position(rows))
                    .await?;
                bar.finish_and_clear();
                println!(
                    "{}  {} rows  {}",
                    generated.merchant,
                    generated.rows,
                    generated.path.display()
                );
            }
            Ok(())
        }
        ReportsCommand::List(args) => {
            let merchant =
                ClientId::parse(args.merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
            let dir = args.reports.resolve(&args.storage);
            for (name, bytes) in list_reports(&dir, &merchant)? {
                println!("{name}  {bytes} bytes");
            }
            Ok(())
        }
    }
}
