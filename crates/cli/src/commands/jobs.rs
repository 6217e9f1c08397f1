//! `backflow jobs …`: the scheduler's work, and the dead jobs an operator retries.

use crate::admin::JobView;
use crate::storage::StorageArgs;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs not yet done, oldest first.
    List(ListArgs),
    /// Run a dead job again now (the running server's scheduler runs it).
    Retry(RetryArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Only the dead jobs: those that failed too often to be run again on their own.
    #[arg(long)]
    dead: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The job id.
    id: String,
}

pub async fn run(command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List(args) => {
            let engine = args.storage.engine().await?;
            let jobs: Vec<JobView> = engine
                .jobs(args.dead)
                .await?
                .iter()
                .map(JobView::from)
                .collect();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
                return Ok(());
            }
            if jobs.is_empty() {
                println!("no jobs");
            }
            for j in &jobs {
                println!(
                    "{}  {:<7} {:<15} {} failures={} runAt={} {}",
                    j.id,
                    j.status,
                    j.kind,
                    j.subject,
                    j.failures,
                    j.run_at,
                    j.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        JobsCommand::Retry(args) => {
            let engine = args.storage.engine().await?;
            if !engine.retry_dead_job(&args.id).await? {
                anyhow::bail!("no dead job {}", args.id);
            }
            println!(
                "Job {} is due now; the server's scheduler runs it.",
                args.id
            );
            Ok(())
        }
    }
}
