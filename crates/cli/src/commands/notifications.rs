//! `backflow notifications …` (the delivery log, resends) and
//! `backflow merchant set-notify-url`.

use crate::storage::StorageArgs;
use anyhow::Context;
use backflow_domain::ClientId;
use backflow_engine::notices::check_notify_url;
use backflow_engine::EngineError;
use backflow_notify::{list_filter, NotificationDetail, NotificationView};
use backflow_store::ResendOutcome;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// List notifications, newest first.
    List(ListArgs),
    /// Show one notification: its body and every attempt.
    Show(ShowArgs),
    /// Start a new delivery schedule for a notification, first attempt now (the running server sends it).
    Resend(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Only this merchant's notifications.
    #[arg(long)]
    merchant: Option<String>,
    /// Only notifications in this state: PENDING, DELIVERED or GAVE_UP.
    #[arg(long)]
    status: Option<String>,
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The notification id.
    id: String,
}

/// `merchant set-notify-url`: where notifications go when a request names no address.
#[derive(Debug, Args)]
pub struct SetNotifyUrlArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    /// The address (http or https, at most 1024 characters, no user info; public unless sandbox).
    #[arg(required_unless_present = "clear", conflicts_with = "clear")]
    url: Option<String>,
    /// Remove the merchant's address.
    #[arg(long)]
    clear: bool,
}

pub async fn run(command: NotificationsCommand) -> anyhow::Result<()> {
    match command {
        NotificationsCommand::List(args) => list(args).await,
        NotificationsCommand::Show(args) => show(args).await,
        NotificationsCommand::Resend(args) => resend(args).await,
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let filter = list_filter(args.merchant, args.status.as_deref(), Some(args.limit))
        .map_err(anyhow::Error::msg)?;
    let engine = args.storage.engine().await?;
    let list = NotificationView::list(&engine, &filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("no notifications");
    }
    for n in &list {
        println!(
            "{}  {:<9} {:<6} {:<14} {:<36} attempts={} next={} {}",
            n.id,
            n.status,
            n.protocol,
            n.kind,
            n.subject_id,
            n.attempts,
            n.next_attempt_at.as_deref().unwrap_or("-"),
            n.url
        );
    }
    Ok(())
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let engine = args.storage.engine().await?;
    let detail = NotificationDetail::load(&engine, &args.id)
        .await?
        .with_context(|| format!("no notification {}", args.id))?;
    println!("{}", serde_json::to_string_pretty(&detail)?);
    Ok(())
}

async fn resend(args: ShowArgs) -> anyhow::Result<()> {
    let engine = args.storage.engine().await?;
    match engine.resend_notification(&args.id).await?.0 {
        ResendOutcome::Scheduled => {
            println!(
                "Notification {} is due now; the server's notifier sends it.",
                args.id
            );
            Ok(())
        }
        ResendOutcome::InFlight => anyhow::bail!(
            "notification {} is being delivered right now; try again once the attempt is recorded",
            args.id
        ),
        ResendOutcome::NotFound => anyhow::bail!("no notification {}", args.id),
    }
}

/// Sets or clears the merchant's default notification address.
pub async fn set_notify_url(args: SetNotifyUrlArgs) -> anyhow::Result<()> {
    let merchant =
        ClientId::parse(args.merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
    if let Some(url) = &args.url {
        check_notify_url(url, &merchant).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    }
    let engine = args.storage.engine().await?;
    match engine.set_notify_url(&merchant, args.url.as_deref()).await {
        Err(EngineError::UnknownMerchant) => anyhow::bail!("no merchant {merchant}"),
        other => other?,
    }
    match &args.url {
        Some(url) => println!(
            "Notifications for {merchant} go to {url} unless a request names another address."
        ),
        None => println!("{merchant} has no default notification address now."),
    }
    Ok(())
}
