//! `backflow seed`: demo history for one merchant (docs/portal-testing.md).

use crate::storage::StorageArgs;
use anyhow::Context;
use backflow_domain::ClientId;
use backflow_engine::seed::SeedPlan;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The merchant's client id.
    #[arg(long)]
    merchant: String,
    /// How many payments to add.
    #[arg(long)]
    payments: u64,
    /// Refunds per successful payment on average (0.3: three for every ten payments).
    #[arg(long, default_value_t = 0.3)]
    refunds_per_payment: f64,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Makes a run repeatable: the same seed gives the same methods, amounts and states.
    #[arg(long)]
    rng_seed: Option<u64>,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let merchant =
        ClientId::parse(args.merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
    let rng_seed = args.rng_seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let plan = SeedPlan {
        merchant: merchant.clone(),
        payments: args.payments,
        refunds_per_payment: args.refunds_per_payment,
        days: args.days,
        rng_seed,
    };
    let engine = args.storage.engine().await?;
    // Drawn on standard error, and only on a terminal.
    let bar = ProgressBar::new(args.payments).with_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} payments, {per_sec}, {eta} left",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let tally = engine.seed(&plan, |done| bar.set_position(done)).await;
    bar.finish_and_clear();
    engine.close().await;
    let tally = tally?;
    println!(
        "seeded {} payments and {} refunds for {merchant} in {:.1} s (rng seed {rng_seed})",
        tally.payments,
        tally.refunds,
        started.elapsed().as_secs_f64()
    );
    println!("payments: {}", states(&tally.payment_states));
    println!("refunds: {}", states(&tally.refund_states));
    println!("top-ups: {}", tally.top_ups);
    Ok(())
}

/// `SUCCESS 970, FAIL 12, …`
fn states(counts: &BTreeMap<&'static str, u64>) -> String {
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    parts.join(", ")
}
