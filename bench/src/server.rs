//! A Backflow server for a run: started on free local ports with a temporary
//! data directory (SQLite, or a fresh PostgreSQL database), stopped and
//! cleaned up afterwards.

use crate::requests::Credentials;
use crate::wire::{self, Connection};
use anyhow::{bail, Context};
use sqlx::Connection as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Where a started server keeps its data.
#[derive(Debug, Clone)]
pub enum Storage {
    Sqlite,
    /// A database is created on this server (URL of an existing database to connect through) and dropped after.
    Postgres {
        admin_url: String,
    },
}

/// A server this tool started.
pub struct Server {
    pub addr: SocketAddr,
    bin: PathBuf,
    child: Child,
    data_dir: PathBuf,
    database: Option<Database>,
}

/// A PostgreSQL database made for one run.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Server {
    pub async fn start(bin: &Path, storage: &Storage) -> anyhow::Result<Self> {
        let token = unique_token();
        let data_dir = std::env::temp_dir().join(format!("backflow-bench-{token}"));
        std::fs::create_dir_all(&data_dir)?;
        let database = match storage {
            Storage::Sqlite => None,
            Storage::Postgres { admin_url } => {
                Some(Database::create(admin_url, &format!("bf_bench_{token}")).await?)
            }
        };
        let (http, https) = (free_port()?, free_port()?);
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .args(storage_args(&data_dir, database.as_ref()))
            .args(["--http-addr", &http.to_string()])
            .args(["--https-addr", &https.to_string()])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut server = Self {
            addr: http,
            bin: bin.to_owned(),
            child,
            data_dir,
            database,
        };
        if let Err(e) = server.wait_ready().await {
            let log =
                std::fs::read_to_string(server.data_dir.join("server.log")).unwrap_or_default();
            server.stop().await;
            bail!("the server did not come up: {e:#}\n{log}");
        }
        Ok(server)
    }

    pub fn storage_name(&self) -> &'static str {
        match self.database {
            None => "SQLite",
            Some(_) => "PostgreSQL",
        }
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let request = wire::get(&self.addr.to_string(), "/readyz");
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("it exited with {status}");
            }
            if let Ok(mut conn) = Connection::open(self.addr).await {
                if conn.exchange(&request).await.is_ok_and(|r| r.status == 200) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("not ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A merchant whose contract lets the load through the rate limit, made
    /// with the CLI. A production one: a sandbox merchant's refunds also read
    /// its queue of scripted outcomes.
    pub async fn create_merchant(&self) -> anyhow::Result<Credentials> {
        let out = Command::new(&self.bin)
            .args(["merchant", "create", "--json", "--name", "bench"])
            .args(["--rate-limit", "1000000"])
            .args(storage_args(&self.data_dir, self.database.as_ref()))
            .env("RUST_LOG", "warn")
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "merchant create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).context("merchant create printed no credentials")
    }

    /// Where the server's CPU time is, in /proc.
    pub fn stat_path(&self) -> Option<String> {
        Some(format!("/proc/{}/stat", self.child.id()?))
    }

    /// Stops the server, then removes its data directory and database.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(db) = self.database.take() {
            if let Err(e) = db.drop_database().await {
                eprintln!("warning: cannot drop database {}: {e:#}", db.name);
            }
        }
    }
}

fn storage_args(data_dir: &Path, database: Option<&Database>) -> Vec<String> {
    let mut args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    if let Some(db) = database {
        args.extend(["--database-url".to_owned(), db.url.clone()]);
    }
    args
}

impl Database {
    async fn create(admin_url: &str, name: &str) -> anyhow::Result<Self> {
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("PostgreSQL is not reachable at {admin_url}"))?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: format!("{base}/{name}"),
        })
    }

    async fn drop_database(&self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn unique_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// The CPU time of the process a `/proc/PID/stat` file describes. Its
/// `utime` and `stime` fields count clock ticks, 100 a second on Linux.
pub fn process_cpu_time(stat_path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
