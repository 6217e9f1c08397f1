//! Day reports and reconciliation (docs/reports.md).
//!
//! The transaction details report lists a merchant's transactions of a UTC
//! day in Antom's layout: a header row, one row a transaction, and `<END>`
//! alone on the last line. Rows are streamed from the store to the file, so
//! memory stays flat whatever the day's size. Reconciliation checks the
//! file against the ledger, settlement batches against their postings, and
//! every payment refunded that day against what it paid.

use crate::error::EngineError;
use crate::ids::{new_id, IdKind};
use crate::Engine;
use backflow_domain::settlement::{BatchStatus, Day};
use backflow_domain::{ClientId, Currency, Money, Timestamp};
use backflow_store::{DayRow, DayRowKind, Inserted, Job, StoreError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The last line of every report.
pub const END: &str = "<END>";

/// The transaction details report's columns, in order.
pub const COLUMNS: [&str; 23] = [
    "customerId",
    "acquirer",
    "acquirerReferenceNo",
    "referenceMerchantId",
    "referenceStoreId",
    "transactionId",
    "originalTransactionId",
    "transactionRequestId",
    "referenceTransactionId",
    "transactionType",
    "paymentMethodType",
    "productCode",
    "transactionCreationTime",
    "transactionCompletionTime",
    "transactionAmountValue",
    "transactionCurrency",
    "settlementAmountValue",
    "settlementCurrency",
    "quoteCurrencyPair",
    "quotePrice",
    "feeAmountValue",
    "feeCurrency",
    "remarks",
];

/// How many rows a report writes between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;

/// The acquirer named when no external one processed the transaction.
pub const OWN_ACQUIRER: &str = "BACKFLOW";

/// What the scheduler does when a UTC day ends: settle, write the day's
/// reports under `reports_dir`, reconcile them.
#[derive(Debug, Clone)]
pub struct DayClose {
    pub reports_dir: PathBuf,
    /// Whether the day's settlement batches run too.
    pub settle: bool,
}

/// The job that closes a day; its subject is the day (`YYYY-MM-DD`).
pub(crate) const CLOSE_DAY: &str = "CLOSE_DAY";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        Self::Engine(e.into())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A client id as a file name: letters, digits, `_` and `-` as they are,
/// any other byte as `%XX`, so that no id names a path outside the reports.
fn file_safe(merchant: &ClientId) -> String {
    merchant
        .as_str()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Where a merchant's reports are kept: `DIR/CLIENT_ID/`.
fn merchant_folder(dir: &Path, merchant: &ClientId) -> PathBuf {
    dir.join(file_safe(merchant))
}

/// `DIR/CLIENT_ID/transactionDetails_CLIENT_ID_YYYYMMDD.csv`.
pub fn transaction_details_path(dir: &Path, merchant: &ClientId, day: Day) -> PathBuf {
    merchant_folder(dir, merchant).join(format!(
        "transactionDetails_{}_{}.csv",
        file_safe(merchant),
        day.compact()
    ))
}

/// The reports kept for a merchant: (file name, bytes), by name.
pub fn list_reports(dir: &Path, merchant: &ClientId) -> Result<Vec<(String, u64)>, ReportError> {
    let folder = merchant_folder(dir, merchant);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&folder)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(&folder))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") {
            out.push((name, entry.metadata().map_err(io(&folder))?.len()));
        }
    }
    out.sort();
    Ok(out)
}

/// The file of a merchant's report called `name`, when there is one: a bare
/// `.csv` file name, never a path out of the merchant's folder.
pub fn report_path(dir: &Path, merchant: &ClientId, name: &str) -> Option<PathBuf> {
    let plain = name.ends_with(".csv")
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.contains("..");
    let path = merchant_folder(dir, merchant).join(name);
    (plain && path.is_file()).then_some(path)
}

/// A written report.
#[derive(Debug, Clone)]
pub struct Generated {
    pub merchant: ClientId,
    pub path: PathBuf,
    pub rows: u64,
}

/// The signs a row's amounts take from the merchant's side: money in is
/// positive, money out negative; a fee charged is negative, one given back positive.
fn signs(kind: DayRowKind) -> (i64, i64, i64) {
    // (transaction amount, settlement amount, fee)
    match kind {
        DayRowKind::Payment | DayRowKind::Capture => (1, 1, -1),
        DayRowKind::Refund => (-1, -1, 1),
        DayRowKind::RefundReversal => (1, 1, 0),
        DayRowKind::Cancel => (-1, 0, 0),
    }
}

/// The row's fields, in [`COLUMNS`] order.
fn record(merchant: &ClientId, row: &DayRow) -> [String; 23] {
    let (amount_sign, settled_sign, fee_sign) = signs(row.kind);
    let settlement = row.settled.currency;
    let transaction_id = match row.kind {
        // A reversal has no id of its own: it is named after its refund.
        DayRowKind::RefundReversal => format!("{}-REVERSAL", row.transaction_id),
        _ => row.transaction_id.clone(),
    };
    let (pair, price) = row.quote.clone().unwrap_or_default();
    [
        merchant.to_string(),
        row.acquirer
            .clone()
            .unwrap_or_else(|| OWN_ACQUIRER.to_owned()),
        row.acquirer_reference_no.clone().unwrap_or_default(),
        String::new(),
        String::new(),
        transaction_id,
        row.original_id.clone().unwrap_or_default(),
        row.request_id.clone(),
        String::new(),
        row.kind.as_str().to_owned(),
        row.method_type.clone(),
        row.product_code.clone(),
        row.created_at.to_iso8601(),
        row.completed_at.to_iso8601(),
        Money::new(row.amount.currency, amount_sign * row.amount.minor).major_string(),
        row.amount.currency.code().to_owned(),
        Money::new(settlement, settled_sign * row.settled.minor).major_string(),
        settlement.code().to_owned(),
        pair,
        price,
        Money::new(settlement, fee_sign * row.fee_minor).major_string(),
        settlement.code().to_owned(),
        row.reason.clone().unwrap_or_default(),
    ]
}

/// Parses a signed amount in major units, as [`record`] writes it.
fn parse_signed(currency: Currency, s: &str) -> Option<i64> {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s),
    };
    Money::parse_major(currency, digits)
        .ok()
        .map(|m| sign * m.minor)
}

/// One report row as reconciliation reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The ledger posting reference it moved money under: its own id, or its refund's for a reversal.
    pub reference: String,
    pub currency: Currency,
    /// settlementAmountValue + feeAmountValue, in minor units.
    pub net_minor: i64,
}

/// Reads a transaction details report, handing each row to `each`. A file
/// without its header or its `<END>` line, or with a row that does not
/// parse, is malformed.
pub fn read_transaction_details(
    path: &Path,
    mut each: impl FnMut(ReportLine),
) -> Result<u64, ReportError> {
    let malformed = |message: String| ReportError::Malformed {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(io(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(BufReader::new(file));
    let mut records = reader.records();
    let header = records
        .next()
        .ok_or_else(|| malformed("empty file".into()))?
        .map_err(|e| malformed(e.to_string()))?;
    if !header.iter().eq(COLUMNS) {
        return Err(malformed(
            "the header row is not the report's columns".into(),
        ));
    }
    let column = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap_or(0);
    let (id, original, kind, settled, currency, fee) = (
        column("transactionId"),
        column("originalTransactionId"),
        column("transactionType"),
        column("settlementAmountValue"),
        column("settlementCurrency"),
        column("feeAmountValue"),
    );
    let mut rows = 0;
    while let Some(record) = records.next() {
        let record = record.map_err(|e| malformed(e.to_string()))?;
        // The end marker is a record of one field; a row always has them all,
        // so an `<END>` inside a quoted reason never ends the file.
        if record.len() == 1 && &record[0] == END {
            return match records.next() {
                None => Ok(rows),
                Some(_) => Err(malformed(format!("rows after the {END} line"))),
            };
        }
        rows += 1;
        if record.len() != COLUMNS.len() {
            return Err(malformed(format!("row {rows} has {} fields", record.len())));
        }
        let bad = |what: &str| malformed(format!("row {rows}: {what}"));
        let c = Currency::parse(&record[currency]).map_err(|_| bad("settlementCurrency"))?;
        let net = parse_signed(c, &record[settled])
            .zip(parse_signed(c, &record[fee]))
            .map(|(s, f)| s + f)
            .ok_or_else(|| bad("an amount does not parse in its currency"))?;
        let reference = match DayRowKind::parse(&record[kind]) {
            Some(DayRowKind::RefundReversal) => &record[original],
            Some(_) => &record[id],
            None => return Err(bad("unknown transactionType")),
        };
        each(ReportLine {
            reference: reference.to_owned(),
            currency: c,
            net_minor: net,
        });
    }
    Err(malformed(format!("no {END} line: the file is cut short")))
}

/// A difference reconciliation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The day's transaction details report is not there.
    ReportMissing {
        merchant: ClientId,
        path: PathBuf,
    },
    ReportMalformed {
        merchant: ClientId,
        message: String,
    },
    /// The report's net in a currency is not what the ledger moved that day.
    DayTotal {
        merchant: ClientId,
        currency: Currency,
        report_minor: i64,
        ledger_minor: i64,
        /// The transactions that differ: (reference, report, ledger).
        references: Vec<(String, i64, i64)>,
    },
    /// A batch's amount is not the funds it covers, or not what its posting paid out.
    Batch {
        merchant: ClientId,
        batch_id: String,
        currency: Currency,
        amount_minor: i64,
        funds_minor: i64,
        paid_out_minor: i64,
    },
    OverRefunded {
        merchant: ClientId,
        payment_id: String,
        refunded_minor: i64,
        paid_minor: i64,
    },
}

impl Difference {
    pub fn to_json(&self) -> Value {
        match self {
            Self::ReportMissing { merchant, path } => {
                json!({"kind": "REPORT_MISSING", "merchant": merchant.as_str(), "path": path.display().to_string()})
            }
            Self::ReportMalformed { merchant, message } => {
                json!({"kind": "REPORT_MALFORMED", "merchant": merchant.as_str(), "message": message})
            }
            Self::DayTotal {
                merchant,
                currency,
                report_minor,
                ledger_minor,
                references,
            } => json!({
                "kind": "DAY_TOTAL", "merchant": merchant.as_str(), "currency": currency.code(),
                "reportMinor": report_minor, "ledgerMinor": ledger_minor,
                "transactions": references.iter().map(|(r, rep, led)| json!({"reference": r, "reportMinor": rep, "ledgerMinor": led})).collect::<Vec<_>>(),
            }),
            Self::Batch {
                merchant,
                batch_id,
                currency,
                amount_minor,
                funds_minor,
                paid_out_minor,
            } => json!({
                "kind": "SETTLEMENT_BATCH", "merchant": merchant.as_str(), "settlementBatchId": batch_id,
                "currency": currency.code(), "amountMinor": amount_minor, "fundsMinor": funds_minor,
                "paidOutMinor": paid_out_minor,
            }),
            Self::OverRefunded {
                merchant,
                payment_id,
                refunded_minor,
                paid_minor,
            } => json!({
                "kind": "OVER_REFUNDED", "merchant": merchant.as_str(), "paymentId": payment_id,
                "refundedMinor": refunded_minor, "paidMinor": paid_minor,
            }),
        }
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ReportMissing { merchant, path } => {
                write!(f, "{merchant}: no report at {}", path.display())
            }
            Self::ReportMalformed { merchant, message } => {
                write!(f, "{merchant}: malformed report: {message}")
            }
            Self::DayTotal {
                merchant,
                currency,
                report_minor,
                ledger_minor,
                references,
            } => {
                write!(
                    f,
                    "{merchant} {currency}: the report nets {report_minor} but the ledger moved {ledger_minor} (minor units)"
                )?;
                for (reference, report, ledger) in references {
                    write!(f, "\n  {reference}: report {report}, ledger {ledger}")?;
                }
                Ok(())
            }
            Self::Batch {
                merchant,
                batch_id,
                currency,
                amount_minor,
                funds_minor,
                paid_out_minor,
            } => write!(
                f,
                "{merchant} batch {batch_id} {currency}: amount {amount_minor}, funds covered {funds_minor}, paid out {paid_out_minor}"
            ),
            Self::OverRefunded {
                merchant,
                payment_id,
                refunded_minor,
                paid_minor,
            } => write!(
                f,
                "{merchant} payment {payment_id}: refunded {refunded_minor} of {paid_minor}"
            ),
        }
    }
}

impl Engine {
    /// Where the scheduler keeps reports, when it closes days.
    pub fn reports_dir(&self) -> Option<&Path> {
        self.inner
            .settings
            .day_close
            .as_ref()
            .map(|c| c.reports_dir.as_path())
    }

    /// The merchant named, or every merchant.
    pub(crate) async fn merchants_or_all(
        &self,
        merchant: Option<&ClientId>,
    ) -> Result<Vec<ClientId>, EngineError> {
        match merchant {
            Some(m) => {
                self.store()
                    .merchant(m)
                    .await?
                    .ok_or(EngineError::UnknownMerchant)?;
                Ok(vec![m.clone()])
            }
            None => Ok(self
                .store()
                .merchants()
                .await?
                .into_iter()
                .map(|m| m.client_id)
                .collect()),
        }
    }

    /// Writes the merchant's transaction details report of `day` under
    /// `dir`, replacing any earlier one. `progress` hears the rows written so far.
    pub async fn generate_transaction_details(
        &self,
        dir: &Path,
        merchant: &ClientId,
        day: Day,
        mut progress: impl FnMut(u64),
    ) -> Result<Generated, ReportError> {
        let path = transaction_details_path(dir, merchant, day);
        let folder = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(folder).map_err(io(folder))?;
        // Written aside and renamed: a report is listed only once it is whole.
        let partial = path.with_extension("csv.partial");
        let file = File::create(&partial).map_err(io(&partial))?;
        let mut out = csv::Writer::from_writer(BufWriter::new(file));
        let csv_error = |e: csv::Error| ReportError::Io {
            path: partial.clone(),
            source: e.into(),
        };
        out.write_record(COLUMNS).map_err(csv_error)?;
        let mut rows = 0u64;
        let mut next_progress = PROGRESS_EVERY;
        let mut failed = None;
        let streamed = self
            .store()
            .day_rows(merchant, day.start(), day.plus(1).start(), |row| {
                if let Err(e) = out.write_record(record(merchant, &row)) {
                    failed = Some(e);
                    return Err(StoreError::Unavailable(
                        "the report could not be written".into(),
                    ));
                }
                rows += 1;
                if rows == next_progress {
                    progress(rows);
                    next_progress += PROGRESS_EVERY;
                }
                Ok(())
            })
            .await;
        if let Some(e) = failed {
            return Err(csv_error(e));
        }
        streamed?;
        let mut file = out
            .into_inner()
            .map_err(|e| csv_error(e.into_error().into()))?;
        writeln!(file, "{END}").map_err(io(&partial))?;
        file.flush().map_err(io(&partial))?;
        drop(file);
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        progress(rows);
        Ok(Generated {
            merchant: merchant.clone(),
            path,
            rows,
        })
    }

    /// Reconciles `day` for one merchant or all, against the reports under `dir`.
    pub async fn reconcile(
        &self,
        dir: &Path,
        day: Day,
        merchant: Option<&ClientId>,
    ) -> Result<Vec<Difference>, ReportError> {
        let mut differences = Vec::new();
        for m in self.merchants_or_all(merchant).await? {
            self.reconcile_report(dir, day, &m, &mut differences)
                .await?;
            self.reconcile_batches(day, &m, &mut differences).await?;
            let (from, to) = (day.start(), day.plus(1).start());
            for (payment_id, refunded, paid) in
                self.store().over_refunded_payments(&m, from, to).await?
            {
                differences.push(Difference::OverRefunded {
                    merchant: m.clone(),
                    payment_id,
                    refunded_minor: refunded,
                    paid_minor: paid,
                });
            }
        }
        Ok(differences)
    }

    async fn reconcile_report(
        &self,
        dir: &Path,
        day: Day,
        merchant: &ClientId,
        differences: &mut Vec<Difference>,
    ) -> Result<(), ReportError> {
        let path = transaction_details_path(dir, merchant, day);
        if !path.exists() {
            differences.push(Difference::ReportMissing {
                merchant: merchant.clone(),
                path,
            });
            return Ok(());
        }
        let mut report: BTreeMap<Currency, i64> = BTreeMap::new();
        let read = read_transaction_details(&path, |line| {
            *report.entry(line.currency).or_default() += line.net_minor;
        });
        match read {
            Ok(_) => {}
            Err(ReportError::Malformed { message, .. }) => {
                differences.push(Difference::ReportMalformed {
                    merchant: merchant.clone(),
                    message,
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let (from, to) = (day.start(), day.plus(1).start());
        let ledger: BTreeMap<Currency, i64> = self
            .store()
            .merchant_funds(merchant, from, to)
            .await?
            .into_iter()
            .collect();
        let currencies: BTreeSet<Currency> = report.keys().chain(ledger.keys()).copied().collect();
        for currency in currencies {
            let report_minor = report.get(&currency).copied().unwrap_or(0);
            let ledger_minor = ledger.get(&currency).copied().unwrap_or(0);
            if report_minor == ledger_minor {
                continue;
            }
            let references = self
                .differing_references(&path, merchant, currency, from, to)
                .await?;
            differences.push(Difference::DayTotal {
                merchant: merchant.clone(),
                currency,
                report_minor,
                ledger_minor,
                references,
            });
        }
        Ok(())
    }

    /// The transactions a day's total differs by: read only when it does, so
    /// that a day that reconciles is never held in memory.
    async fn differing_references(
        &self,
        path: &Path,
        merchant: &ClientId,
        currency: Currency,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, i64, i64)>, ReportError> {
        let mut report: HashMap<String, i64> = HashMap::new();
        read_transaction_details(path, |line| {
            if line.currency == currency {
                *report.entry(line.reference).or_default() += line.net_minor;
            }
        })?;
        let mut out = Vec::new();
        for (reference, ledger) in self
            .store()
            .merchant_funds_by_reference(merchant, currency, from, to)
            .await?
        {
            let reported = report.remove(&reference).unwrap_or(0);
            if reported != ledger {
                out.push((reference, reported, ledger));
            }
        }
        out.extend(
            report
                .into_iter()
                .filter(|(_, v)| *v != 0)
                .map(|(r, v)| (r, v, 0)),
        );
        out.sort();
        Ok(out)
    }

    async fn reconcile_batches(
        &self,
        day: Day,
        merchant: &ClientId,
        differences: &mut Vec<Difference>,
    ) -> Result<(), ReportError> {
        for batch in self
            .store()
            .settlement_batches_on(day, Some(merchant))
            .await?
        {
            let currency = batch.amount.currency;
            let funds = self
                .store()
                .merchant_funds(merchant, batch.covers_from, batch.covers_to)
                .await?
                .into_iter()
                .find(|(c, _)| *c == currency)
                .map_or(0, |(_, f)| f);
            let paid_out = match (&batch.posting_id, batch.status) {
                (Some(posting), BatchStatus::Settled) => {
                    -self.store().posting_effect(posting, merchant).await?
                }
                // A batch waiting for funds has paid nothing out yet.
                _ => batch.amount.minor,
            };
            if funds != batch.amount.minor || paid_out != batch.amount.minor {
                differences.push(Difference::Batch {
                    merchant: merchant.clone(),
                    batch_id: batch.id,
                    currency,
                    amount_minor: batch.amount.minor,
                    funds_minor: funds,
                    paid_out_minor: paid_out,
                });
            }
        }
        Ok(())
    }

    /// Plans the close of today, once for the deployment (the job is named by
    /// the day), when the deployment closes days.
    pub async fn plan_day_close(&self) -> Result<(), EngineError> {
        if self.inner.settings.day_close.is_none() {
            return Ok(());
        }
        self.schedule_day_close(Day::of(self.now())).await
    }

    async fn schedule_day_close(&self, day: Day) -> Result<(), EngineError> {
        let mut tx = self.store().begin().await?;
        let planned = tx
            .insert_job(
                &format!("close-day-{day}"),
                CLOSE_DAY,
                &day.to_string(),
                "",
                day.plus(1).start(),
                self.now(),
            )
            .await;
        // `Existing`: planned already, by this node or another.
        if planned? == Inserted::New {
            tx.commit().await?;
        }
        Ok(())
    }

    /// The close of a day (a scheduled job): the batches due the next day,
    /// the day's reports, their reconciliation; then the next day's close is
    /// planned. Failures are logged: the reports can be made again by hand.
    pub(crate) async fn close_day(&self, job: &Job) -> Result<(), EngineError> {
        let day = Day::parse(&job.subject).ok_or_else(|| {
            EngineError::Store(StoreError::Corrupt(format!(
                "job {} names no day: {:?}",
                job.id, job.subject
            )))
        })?;
        if let Some(close) = self.inner.settings.day_close.clone() {
            if close.settle {
                match self.run_settlement(day.plus(1), None).await {
                    Ok(batches) => {
                        for b in batches
                            .iter()
                            .filter(|b| b.status == BatchStatus::WaitingFunds)
                        {
                            tracing::warn!(batch = %b.id, merchant = %b.merchant, amount = b.amount.minor, "settlement batch waits for funds");
                        }
                    }
                    Err(e) => tracing::error!(%day, error = %e, "settlement failed"),
                }
            }
            self.report_day(&close.reports_dir, day).await;
        }
        self.schedule_day_close(day.plus(1)).await?;
        let mut tx = self.store().begin().await?;
        tx.finish_job(&job.id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn report_day(&self, dir: &Path, day: Day) {
        let merchants = match self.merchants_or_all(None).await {
            Ok(m) => m,
            Err(e) => return tracing::error!(%day, error = %e, "cannot list merchants for reports"),
        };
        for m in &merchants {
            if let Err(e) = self.generate_transaction_details(dir, m, day, |_| {}).await {
                tracing::error!(%day, merchant = %m, error = %e, "transaction details report failed");
            }
        }
        match self.reconcile(dir, day, None).await {
            Ok(differences) if differences.is_empty() => {
                tracing::info!(%day, merchants = merchants.len(), "day reconciled")
            }
            Ok(differences) => {
                for d in &differences {
                    tracing::error!(%day, difference = %d, "RECONCILIATION DIFFERENCE");
                }
            }
            Err(e) => tracing::error!(%day, error = %e, "reconciliation failed"),
        }
    }
}

/// A new batch id: time-ordered digits, like every id Backflow gives.
pub(crate) fn new_batch_id(now: Timestamp) -> String {
    new_id(IdKind::SettlementBatch, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: DayRowKind, reason: Option<&str>) -> DayRow {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        DayRow {
            kind,
            transaction_id: "20261204000000194200012345678901234".into(),
            original_id: Some("20261204000000194000012345678901234".into()),
            request_id: "req-1".into(),
            method_type: "GCASH".into(),
            product_code: "AGREEMENT_PAYMENT".into(),
            acquirer: None,
            acquirer_reference_no: None,
            created_at: Timestamp(1_795_000_000_000),
            completed_at: Timestamp(1_795_000_000_000),
            amount: Money::new(jpy, 1205),
            settled: Money::new(usd, 1005),
            fee_minor: 25,
            quote: None,
            reason: reason.map(str::to_owned),
        }
    }

    fn write(rows: &[DayRow]) -> Vec<u8> {
        let m = ClientId::parse("M1").unwrap();
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(COLUMNS).unwrap();
        for r in rows {
            out.write_record(record(&m, r)).unwrap();
        }
        let mut bytes = out.into_inner().unwrap();
        bytes.extend_from_slice(b"<END>\n");
        bytes
    }

    #[test]
    fn amounts_are_major_units_with_the_currency_exponent() {
        let m = ClientId::parse("M1").unwrap();
        let payment = record(&m, &row(DayRowKind::Payment, None));
        assert_eq!(payment[14], "1205", "JPY has no decimals");
        assert_eq!(payment[16], "10.05");
        assert_eq!(payment[20], "-0.25", "a fee charged is negative");
        let refund = record(&m, &row(DayRowKind::Refund, None));
        assert_eq!(
            (refund[14].as_str(), refund[16].as_str()),
            ("-1205", "-10.05")
        );
        assert_eq!(refund[20], "0.25", "commission given back");
        let reversal = record(&m, &row(DayRowKind::RefundReversal, None));
        assert!(reversal[5].ends_with("-REVERSAL"));
        assert_eq!(reversal[16], "10.05");
    }

    #[test]
    fn a_reason_cannot_end_the_file_early() {
        let dir = std::env::temp_dir().join(format!("bf-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("evil.csv");
        let evil = "broken, \"badly\"\n<END>\nreally";
        let bytes = write(&[
            row(DayRowKind::Refund, Some(evil)),
            row(DayRowKind::Payment, None),
        ]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.ends_with("\n<END>\n"));
        assert!(
            text.contains("\"broken, \"\"badly\"\"\n<END>\nreally\""),
            "{text}"
        );
        std::fs::write(&path, &bytes).unwrap();
        let mut lines = Vec::new();
        let rows = read_transaction_details(&path, |l| lines.push(l)).unwrap();
        assert_eq!(rows, 2);
        assert_eq!(lines[0].net_minor, -1005 + 25);
        assert_eq!(lines[1].net_minor, 1005 - 25);
        // The reason reads back whole.
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(bytes.as_slice());
        let first = reader.records().next().unwrap().unwrap();
        assert_eq!(&first[22], evil);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_client_id_names_a_path_outside_the_reports() {
        let dir = Path::new("/reports");
        let m = ClientId::parse("../x/y").unwrap();
        let day = Day::parse("2026-12-04").unwrap();
        assert_eq!(
            transaction_details_path(dir, &m, day),
            Path::new("/reports/%2E%2E%2Fx%2Fy/transactionDetails_%2E%2E%2Fx%2Fy_20261204.csv")
        );
        assert!(
            report_path(dir, &ClientId::parse("M1").unwrap(), "../../etc/passwd.csv").is_none()
        );
    }

    #[test]
    fn a_cut_short_or_padded_file_is_malformed() {
        let dir = std::env::temp_dir().join(format!("bf-report-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cut.csv");
        let bytes = write(&[row(DayRowKind::Payment, None)]);
        let cut = &bytes[..bytes.len() - "<END>\n".len()];
        std::fs::write(&path, cut).unwrap();
        assert!(matches!(
            read_transaction_details(&path, |_| {}),
            Err(ReportError::Malformed { .. })
        ));
        let mut padded = bytes.clone();
        padded.extend_from_slice(b"more\n");
        std::fs::write(&path, padded).unwrap();
        assert!(matches!(
            read_transaction_details(&path, |_| {}),
            Err(ReportError::Malformed { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
