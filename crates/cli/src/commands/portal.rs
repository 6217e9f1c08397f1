//! `backflow portal user …`: the merchant portal's users.

use crate::storage::StorageArgs;
use anyhow::Context;
use backflow_domain::ClientId;
use backflow_engine::ids::random_token;
use backflow_engine::portal::{NewPortalUser, PortalRole, PortalUser};
use backflow_engine::Engine;
use clap::{Args, Subcommand};
use std::io::BufRead;

#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Portal users: create, list, reset a password, disable.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user of a merchant; prints the passwords it generates.
    Create(CreateArgs),
    /// List users, of one merchant or of all.
    List(ListArgs),
    /// Set a new login password (or, with --payment, payment password); lifts its lock.
    ResetPassword(ResetArgs),
    /// Disable a user and end its sessions.
    Disable(EmailArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    #[arg(long)]
    email: String,
    /// viewer (reads only), refunder (also refunds) or admin (also settings).
    #[arg(long)]
    role: String,
    /// Read the login password from the first line of standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
    /// Read the payment password from the next line of standard input instead of generating one.
    #[arg(long)]
    payment_password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Only this merchant's users.
    #[arg(long)]
    merchant: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[arg(long)]
    email: String,
    /// Reset the payment password instead of the login password.
    #[arg(long)]
    payment: bool,
    /// Read the new password from standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct EmailArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[arg(long)]
    email: String,
}

/// A generated password: shown once, never stored in clear.
pub fn one_time_password() -> String {
    random_token(16)
}

/// The next line of standard input, or a generated password when not reading it.
fn secret(
    read: bool,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> anyhow::Result<(String, bool)> {
    if !read {
        return Ok((one_time_password(), true));
    }
    let line = lines
        .next()
        .context("standard input ended before the password")??;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

async fn user(engine: &Engine, email: &str) -> anyhow::Result<PortalUser> {
    engine
        .portal_user_by_email(email)
        .await?
        .with_context(|| format!("no portal user {email}"))
}

pub async fn run(command: PortalCommand) -> anyhow::Result<()> {
    let PortalCommand::User(command) = command;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    match command {
        UserCommand::Create(a) => {
            let role =
                PortalRole::parse(&a.role).context("--role: expected viewer, refunder or admin")?;
            let merchant = ClientId::parse(a.merchant).context("--merchant")?;
            let (password, generated) = secret(a.password_stdin, &mut lines)?;
            let (payment_password, payment_generated) =
                secret(a.payment_password_stdin, &mut lines)?;
            let engine = a.storage.engine().await?;
            let created = engine
                .create_portal_user(NewPortalUser {
                    merchant,
                    email: a.email,
                    role,
                    password: password.clone(),
                    payment_password: payment_password.clone(),
                })
                .await?;
            println!(
                "portal user {} ({}) of {}",
                created.email,
                created.role.as_str(),
                created.merchant
            );
            if generated {
                println!("  login password    {password}  (shown once)");
            }
            if payment_generated {
                println!("  payment password  {payment_password}  (shown once)");
            }
        }
        UserCommand::List(a) => {
            let merchant = a
                .merchant
                .map(ClientId::parse)
                .transpose()
                .context("--merchant")?;
            let engine = a.storage.engine().await?;
            let users = engine.portal_users(merchant.as_ref()).await?;
            if users.is_empty() {
                println!("no portal users");
            }
            for u in users {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.email,
                    u.merchant,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        UserCommand::ResetPassword(a) => {
            let (password, generated) = secret(a.password_stdin, &mut lines)?;
            let engine = a.storage.engine().await?;
            let u = user(&engine, &a.email).await?;
            engine
                .reset_portal_secret(&u, password.clone(), a.payment)
                .await?;
            let what = if a.payment {
                "payment password"
            } else {
                "login password"
            };
            match generated {
                true => println!("new {what} of {}: {password}  (shown once)", u.email),
                false => println!("{what} of {} changed", u.email),
            }
        }
        UserCommand::Disable(a) => {
            let engine = a.storage.engine().await?;
            let u = user(&engine, &a.email).await?;
            engine.disable_portal_user(&u).await?;
            println!("portal user {} disabled", u.email);
        }
    }
    Ok(())
}
