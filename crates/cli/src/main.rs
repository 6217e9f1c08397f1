//! `backflow`: the refund platform's command line.

use backflow::commands::{
    fx, ledger, merchant, notifications, reconcile, reports, sandbox, serve, settle,
};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc: each request allocates and frees many small buffers on whichever
/// runtime thread runs it, where glibc's allocator spent 6% of the server's CPU
/// (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Serve(serve::ServeArgs),
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(merchant::MerchantCommand),
    /// The notification outbox: list, show, resend.
    #[command(subcommand)]
    Notifications(notifications::NotificationsCommand),
    /// Check the ledger and read balances.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Exchange rates.
    #[command(subcommand)]
    Fx(fx::FxCommand),
    /// Sandbox error injection.
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCommand),
    /// Day reports: generate, list.
    #[command(subcommand)]
    Reports(reports::ReportsCommand),
    /// Check a day's reports and settlement batches against the ledger; exits non-zero on any difference.
    Reconcile(reconcile::ReconcileArgs),
    /// Run the settlement batches due on a day.
    Settle(settle::SettleArgs),
    /// Set a merchant's settlement cycle and minimum settlement amount.
    SettleTerms(settle::TermsArgs),
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
    let outcome = match Cli::parse().command {
        Command::Serve(args) => serve::run(args).await,
        Command::Merchant(command) => merchant::run(command).await,
        Command::Notifications(command) => notifications::run(command).await,
        Command::Ledger(command) => ledger::run(command).await,
        Command::Fx(command) => fx::run(command).await,
        Command::Sandbox(command) => sandbox::run(command).await,
        Command::Reports(command) => reports::run(command).await,
        Command::Reconcile(args) => reconcile::run(args).await,
        Command::Settle(args) => settle::run(args).await,
        Command::SettleTerms(args) => settle::run_terms(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}
