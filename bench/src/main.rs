//! `backflow-bench`: how fast Backflow answers signed refund traffic, as a
//! ratio to the RSA signing rate of the same machine, measured in the same run.
//!
//! Every AMS answer costs the server one RSA-2048 signature, so that rate is
//! the ceiling; ratios to it survive shared, noisy machines where absolute
//! figures do not. Requests are signed before the clock starts, so the client
//! spends no RSA time while the server is measured.

mod ceiling;
mod drive;
mod requests;
mod server;
mod wire;

use anyhow::{bail, Context};
use ceiling::Ceiling;
use clap::{Args, Parser, Subcommand, ValueEnum};
use drive::Run;
use requests::{Draft, Merchant, Plan, Workload};
use server::{Server, Storage};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "backflow-bench", about, version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a server per backend on free local ports, run every workload, print the figures.
    All(AllArgs),
    /// Run every workload against a Backflow server that is already running on this machine.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct AllArgs {
    /// Which storage the servers use.
    #[arg(long, value_enum, default_value = "both")]
    backend: Backends,
    /// A PostgreSQL database to connect through; each run creates its own database beside it and drops it after.
    #[arg(
        long,
        env = "BACKFLOW_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// The server binary; by default the `backflow` built beside this tool (built first under `cargo run`).
    #[arg(long)]
    backflow_bin: Option<PathBuf>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Backends {
    Both,
    Sqlite,
    Postgres,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The server's plain HTTP address; only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Credentials of the merchant to send as, as `backflow merchant create --json` prints them.
    /// Give it a high `--rate-limit`: the default of 1,000 refunds a second would throttle the load.
    #[arg(long)]
    credentials: PathBuf,
    /// The server's process id, for its CPU time per request.
    #[arg(long)]
    server_pid: Option<u32>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Clone, Args)]
struct LoadArgs {
    /// Payments the refunds are spread over; as in life, each sees a few refunds at most.
    #[arg(long, default_value_t = 20_000)]
    payments: usize,
    /// Requests in each closed-loop workload.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Connections of the closed loop.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Open-loop arrival rate, as a fraction of the signing ceiling (0.3: half the refund goal of 0.6).
    #[arg(long, default_value_t = 0.3)]
    open_loop_fraction: f64,
    /// Seconds of each open-loop workload.
    #[arg(long, default_value_t = 8)]
    open_loop_secs: u64,
    /// Most requests in flight in the open loop.
    #[arg(long, default_value_t = 128)]
    open_loop_connections: usize,
    /// Seconds of each measurement of the signing ceiling (one before each workload).
    #[arg(long, default_value_t = 2)]
    sign_secs: u64,
    /// Only these workloads (repeat the flag, or separate by commas), e.g. `create` for quick
    /// A/B runs; the closed-loop refund create also runs when another workload needs its refunds.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Phase>,
}

/// The workloads a run can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Create,
    Inquiry,
    Mix,
    OpenCreate,
    OpenInquiry,
    OpenMix,
}

impl Phase {
    /// Whether a run limited to `only` (all when empty) runs this phase: the
    /// closed create also runs for the others, which name the refunds it makes.
    fn runs(self, only: &[Phase]) -> bool {
        only.is_empty()
            || only.contains(&self)
            || (self == Self::Create && only.iter().any(|p| *p != Self::OpenCreate))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // One thread drives the load: it shares the machine with the server it measures.
    let outcome = match Cli::parse().command {
        Command::All(args) => all(args).await,
        Command::Run(args) => run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backflow-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn all(args: AllArgs) -> anyhow::Result<()> {
    let bin = backflow_binary(args.backflow_bin)?;
    let postgres = Storage::Postgres {
        admin_url: args.postgres_url,
    };
    let storages = match args.backend {
        Backends::Both => vec![Storage::Sqlite, postgres],
        Backends::Sqlite => vec![Storage::Sqlite],
        Backends::Postgres => vec![postgres],
    };
    print_machine();
    for storage in &storages {
        let server = Server::start(&bin, storage).await?;
        eprintln!(
            "{}: server on {}, setting up",
            server.storage_name(),
            server.addr
        );
        let measured = match server.create_merchant().await {
            Ok(creds) => match Merchant::new(creds) {
                Ok(merchant) => {
                    measure(server.addr, &merchant, server.stat_path(), &args.load).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let name = server.storage_name();
        server.stop().await;
        measured?.print(name);
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if !args.addr.ip().is_loopback() {
        bail!("only a server on this machine may be loaded (a loopback address)");
    }
    let merchant = Merchant::load(&args.credentials)?;
    print_machine();
    let server_stat = args.server_pid.map(|pid| format!("/proc/{pid}/stat"));
    measure(args.addr, &merchant, server_stat, &args.load)
        .await?
        .print("running server");
    Ok(())
}

/// The `backflow` binary beside this tool. Under `cargo run` it is built
/// first, so that figures are never those of a stale server.
fn backflow_binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(bin) = explicit {
        return Ok(bin);
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build measures nothing useful; use --release");
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("this tool's directory")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", "backflow", "--bin", "backflow"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.current_dir(env!("CARGO_MANIFEST_DIR")).status()?;
        if !status.success() {
            bail!("building the server failed");
        }
    }
    let bin = dir.join("backflow");
    if !bin.exists() {
        bail!(
            "no server at {}: run `cargo build --release -p backflow` or pass --backflow-bin",
            bin.display()
        );
    }
    Ok(bin)
}

fn print_machine() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Machine: {cores} cores ({model}), {memory_gib:.1} GiB memory; load average at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// One measured workload.
struct Row {
    workload: Workload,
    /// `closed, 32 connections` or `open, 2,340/s`.
    mode: String,
    open: bool,
    /// The signing ceiling, measured just before the workload ran.
    ceiling: Ceiling,
    run: Run,
    server_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
}

/// Everything measured against one server.
struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn print(&self, storage: &str) {
        let rates = self.rows.iter().map(|r| r.ceiling.signs_per_sec);
        let low = rates.clone().fold(f64::INFINITY, f64::min);
        let high = rates.fold(0.0, f64::max);
        let cores = self.rows.first().map_or(1, |r| r.ceiling.cores);
        println!();
        println!(
            "## {storage}: signing ceiling {low:.0} to {high:.0}/s ({:.0} to {:.0}/s per core x {cores} cores), measured before each workload",
            low / cores as f64,
            high / cores as f64
        );
        if high > low * 1.15 {
            println!();
            println!("Warning: the ceiling moved by more than 15% during the run; the machine was busy, repeat when it is quiet.");
        }
        println!();
        println!("| workload | mode | requests | req/s | ceiling/s | ratio | goal | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/req | client CPU µs/req | unexpected | answers |");
        println!("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.rows {
            let r = &row.run;
            let per_request = |cpu: Option<Duration>| {
                cpu.map_or("–".to_owned(), |d| {
                    format!("{:.0}", d.as_secs_f64() * 1e6 / r.requests.max(1) as f64)
                })
            };
            let answers: Vec<String> = r.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
                row.workload.name(),
                row.mode,
                r.requests,
                r.per_second(),
                row.ceiling.signs_per_sec,
                r.per_second() / row.ceiling.signs_per_sec,
                goal(storage, row.workload, row.open),
                r.ms(0.50),
                r.ms(0.90),
                r.ms(0.99),
                r.max_ms(),
                per_request(row.server_cpu),
                per_request(row.client_cpu),
                r.unexpected,
                answers.join(", ")
            );
        }
    }
}

/// The goals: closed-loop ratios to the ceiling, open-loop p99 at half the refund goal.
fn goal(storage: &str, workload: Workload, open: bool) -> &'static str {
    match (storage, workload, open) {
        (_, Workload::Create, true) => "p99 ≤ 10 ms",
        ("SQLite", Workload::Create, false) => "≥ 0.60",
        ("SQLite", Workload::Inquiry, false) => "≥ 0.70",
        ("PostgreSQL", Workload::Create | Workload::Inquiry, false) => "≥ 0.50",
        _ => "",
    }
}

/// Sets up payments, signs every workload, and runs them, each just after a
/// measurement of the signing ceiling.
async fn measure(
    addr: SocketAddr,
    merchant: &Merchant,
    server_stat: Option<String>,
    load: &LoadArgs,
) -> anyhow::Result<Report> {
    let sign_for = Duration::from_secs(load.sign_secs);
    let measure_ceiling =
        || async move { tokio::task::spawn_blocking(move || ceiling::measure(sign_for)).await? };
    let first = measure_ceiling().await?;
    let plan = setup_payments(addr, merchant, load.payments).await?;
    let open_rate = load.open_loop_fraction * first.signs_per_sec;
    let open_n = (open_rate * load.open_loop_secs as f64).ceil() as usize;
    let host = addr.to_string();
    // (workload, phase, open): phases name the refunds they create; inquiries
    // and duplicates name those of the closed create phase, which runs first.
    let all = [
        (Phase::Create, Workload::Create, "c", false),
        (Phase::Inquiry, Workload::Inquiry, "i", false),
        (Phase::Mix, Workload::Mix, "m", false),
        (Phase::OpenCreate, Workload::Create, "oc", true),
        (Phase::OpenInquiry, Workload::Inquiry, "oi", true),
        (Phase::OpenMix, Workload::Mix, "om", true),
    ];
    let phases: Vec<_> = all
        .iter()
        .filter(|(phase, ..)| phase.runs(&load.only))
        .map(|&(_, workload, name, open)| (workload, name, open))
        .collect();
    let open_phases = phases.iter().filter(|p| p.2).count();
    let closed_phases = phases.len() - open_phases;
    eprintln!(
        "signing {} requests",
        load.requests * closed_phases + open_n * open_phases
    );
    let signed: Vec<_> = phases
        .iter()
        .map(|&(workload, phase, open)| {
            let n = if open { open_n } else { load.requests };
            let drafts = plan.drafts(workload, phase, n, "c", load.requests);
            Arc::new(requests::sign_all(merchant, &host, &drafts))
        })
        .collect();
    let mut rows = Vec::new();
    for (&(workload, _, open), requests) in phases.iter().zip(signed) {
        let mode = if open {
            format!("open, {open_rate:.0}/s")
        } else {
            format!("closed, {} connections", load.concurrency)
        };
        eprintln!("{}: {mode}", workload.name());
        // Adjacent in time, so that a busy neighbour weighs on both alike.
        let ceiling = measure_ceiling().await?;
        let server_cpu_time = || server_stat.as_deref().and_then(server::process_cpu_time);
        let server_cpu = server_cpu_time();
        let client_cpu = self_cpu_time();
        let run = if open {
            drive::open_loop(addr, requests, open_rate, load.open_loop_connections).await
        } else {
            drive::closed_loop(addr, requests, load.concurrency).await
        };
        let since = |before: Option<Duration>, now: Option<Duration>| {
            now.zip(before).map(|(n, b)| n.saturating_sub(b))
        };
        rows.push(Row {
            workload,
            mode,
            open,
            ceiling,
            server_cpu: since(server_cpu, server_cpu_time()),
            client_cpu: since(client_cpu, self_cpu_time()),
            run,
        });
    }
    Ok(Report { rows })
}

fn self_cpu_time() -> Option<Duration> {
    server::process_cpu_time("/proc/self/stat")
}

/// Pays `n` wallet payments for the refunds to draw on, over a few
/// connections, and checks that answers carry the platform's signature.
async fn setup_payments(addr: SocketAddr, merchant: &Merchant, n: usize) -> anyhow::Result<Plan> {
    const CONNECTIONS: usize = 8;
    let run = format!(
        "b{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let drafts: Vec<Draft> = (0..n)
        .map(|i| Draft::pay(&format!("{run}-pay-{i}")))
        .collect();
    let signed = requests::sign_all(merchant, &addr.to_string(), &drafts);
    let mut first = wire::Connection::open(addr).await?;
    let reply = first.exchange(&signed[0].bytes).await?;
    if !merchant.signed_by_platform("pay", &reply) {
        bail!("the server's answer does not carry the platform's signature");
    }
    let signed = Arc::new(signed);
    let chunk = n.div_ceil(CONNECTIONS).max(1);
    let workers: Vec<_> = (0..n)
        .step_by(chunk)
        .map(|start| {
            let signed = signed.clone();
            tokio::spawn(async move {
                let mut conn = wire::Connection::open(addr).await?;
                let mut ids = Vec::with_capacity(chunk);
                // Paying again with the same request id answers the same payment.
                for request in signed.iter().skip(start).take(chunk) {
                    let reply = conn.exchange(&request.bytes).await?;
                    let body: serde_json::Value = serde_json::from_slice(reply.body())?;
                    let id = body["paymentId"]
                        .as_str()
                        .with_context(|| format!("pay failed: {body}"))?;
                    ids.push(id.to_owned());
                }
                anyhow::Ok(ids)
            })
        })
        .collect();
    let mut payments = Vec::with_capacity(n);
    for w in workers {
        payments.extend(w.await??);
    }
    Ok(Plan { run, payments })
}

#[cfg(test)]
mod tests {
    use super::Phase;

    #[test]
    fn a_limited_run_keeps_the_create_its_inquiries_need() {
        assert!(Phase::Mix.runs(&[]));
        assert!(Phase::Create.runs(&[Phase::Inquiry]));
        assert!(!Phase::Mix.runs(&[Phase::Inquiry]));
        assert!(!Phase::Create.runs(&[Phase::OpenCreate]));
        assert!(Phase::OpenCreate.runs(&[Phase::OpenCreate]));
    }
}
