//! Where the data lives: a SQLite file under the data directory unless a database URL is given.

use anyhow::Context;
use backflow_engine::channels::Channels;
use backflow_engine::clock::SystemClock;
use backflow_engine::Engine;
use backflow_store::{Store, WriterSettings};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Storage flags shared by every command.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the SQLite database, the TLS certificate and demo-merchant.json.
    #[arg(long, env = "BACKFLOW_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (postgres://user@host/db) to use instead of the embedded SQLite file.
    #[arg(long, env = "BACKFLOW_DATABASE_URL")]
    pub database_url: Option<String>,
    /// How many write transactions may wait for SQLite's one writer; past
    /// that, requests are answered at once with a retryable error.
    #[arg(long, env = "BACKFLOW_WRITER_QUEUE", default_value_t = WriterSettings::default().queue)]
    pub writer_queue: usize,
}

impl StorageArgs {
    /// The database URL in force: the flag, or `sqlite://DATA_DIR/backflow.db`.
    pub fn url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => {
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!(
                        "cannot create the data directory {}",
                        self.data_dir.display()
                    )
                })?;
                Ok(format!(
                    "sqlite://{}",
                    self.data_dir.join("backflow.db").display()
                ))
            }
        }
    }

    /// An engine over this storage, for admin commands (system clock, simulated channels).
    pub async fn engine(&self) -> anyhow::Result<Engine> {
        let store = self.open().await?;
        Ok(Engine::new(
            store,
            Arc::new(SystemClock),
            Channels::simulator(),
        ))
    }

    pub async fn open(&self) -> anyhow::Result<Store> {
        let url = self.url()?;
        Store::connect_with(
            &url,
            WriterSettings {
                queue: self.writer_queue,
            },
        )
        .await
        .with_context(|| format!("cannot open the database at {}", redact(&url)))
    }
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
