//! `backflow sandbox …`: error injection for sandbox merchants (docs/sandbox.md).

use crate::storage::StorageArgs;
use backflow_domain::ClientId;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Script what a sandbox merchant's next refund meets, e.g. "UNKNOWN_EXCEPTION;delay=30".
    Script(ScriptArgs),
}

#[derive(Debug, Args)]
pub struct ScriptArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The sandbox merchant's client id (SANDBOX_…).
    #[arg(long)]
    merchant: String,
    /// CODE[;delay=SECONDS][;then=CODE][;reverse_after=SECONDS]
    script: String,
}

pub async fn run(command: SandboxCommand) -> anyhow::Result<()> {
    match command {
        SandboxCommand::Script(args) => {
            let merchant =
                ClientId::parse(args.merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
            args.storage
                .engine()
                .await?
                .script_sandbox_refund(&merchant, &args.script)
                .await?;
            println!("queued for {merchant}'s next refund: {}", args.script);
            Ok(())
        }
    }
}
