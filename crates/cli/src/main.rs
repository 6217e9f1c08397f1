//! `backflow`: the refund platform's command line.

use backflow::commands::{
    fx, jobs, ledger, merchant, notifications, portal, reconcile, reports, sandbox, seed, serve,
    settle,
};
use backflow::logging::{self, LogFormat};
use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc: each request allocates and frees many small buffers on whichever
/// runtime thread runs it, where glibc's allocator spent 6% of the server's CPU
/// (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Backflow: an open-source refund platform, wire-compatible with Antom's refund APIs.
#[derive(Debug, Parser)]
#[command(
    name = "backflow",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BACKFLOW_GIT_REV"), ")"),
    about
)]
struct Cli {
    /// How log lines on standard error are written.
    #[arg(long, global = true, env = "BACKFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
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
    /// Scheduled jobs: list them, retry the dead ones.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Sandbox error injection.
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCommand),
    /// Fill the database with demo payments and refunds for one merchant.
    Seed(seed::SeedArgs),
    /// Print a shell completion script: `backflow completions bash > /etc/bash_completion.d/backflow`.
    Completions { shell: clap_complete::Shell },
    /// The merchant portal's users.
    #[command(subcommand)]
    Portal(portal::PortalCommand),
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
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Merchant(command) => merchant::run(command).await,
        Command::Notifications(command) => notifications::run(command).await,
        Command::Ledger(command) => ledger::run(command).await,
        Command::Fx(command) => fx::run(command).await,
        Command::Jobs(command) => jobs::run(command).await,
        Command::Sandbox(command) => sandbox::run(command).await,
        Command::Seed(args) => seed::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "backflow",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Portal(command) => portal::run(command).await,
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
