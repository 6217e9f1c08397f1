//! Drivers: closed loop (fixed concurrency) and open loop (fixed arrival rate).
//!
//! Both stop by themselves: each sends its list of pre-signed requests once,
//! and every exchange has a timeout.

use crate::requests::Request;
use crate::wire::Connection;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one exchange may take before it counts as an error.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Latencies are recorded in microseconds, up to a minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What a run measured.
pub struct Run {
    pub requests: usize,
    pub elapsed: Duration,
    /// Microseconds; from the send (closed loop) or the intended send (open loop) to the full answer.
    pub latency_us: Histogram<u64>,
    /// Answers by result code (`HTTP <status>` when not 200, `ERROR` when none came).
    pub outcomes: BTreeMap<String, u64>,
    /// Answers whose result code was not the one their request must get.
    pub unexpected: u64,
}

impl Run {
    fn new() -> Self {
        Self {
            requests: 0,
            elapsed: Duration::ZERO,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            outcomes: BTreeMap::new(),
            unexpected: 0,
        }
    }

    fn merge(&mut self, other: Run) {
        self.requests += other.requests;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with the same bounds");
        for (code, n) in other.outcomes {
            *self.outcomes.entry(code).or_default() += n;
        }
        self.unexpected += other.unexpected;
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }

    fn record(&mut self, request: &Request, outcome: String, latency: Duration) {
        self.requests += 1;
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
        if outcome != request.expect {
            self.unexpected += 1;
        }
        *self.outcomes.entry(outcome).or_default() += 1;
    }
}

/// One worker's connection; reopened after a failed exchange.
struct Worker {
    addr: SocketAddr,
    conn: Option<Connection>,
}

impl Worker {
    /// Sends a request and names its outcome.
    async fn send(&mut self, request: &Request) -> String {
        let exchange = async {
            let conn = match self.conn.as_mut() {
                Some(c) => c,
                None => self.conn.insert(Connection::open(self.addr).await?),
            };
            conn.exchange(&request.bytes).await
        };
        match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
            Ok(Ok(reply)) if reply.status == 200 => {
                reply.result_code().unwrap_or("NO_RESULT").to_owned()
            }
            Ok(Ok(reply)) => format!("HTTP {}", reply.status),
            Ok(Err(_)) | Err(_) => {
                self.conn = None;
                "ERROR".to_owned()
            }
        }
    }
}

/// `concurrency` connections, each sending its next request as soon as the previous one is answered.
pub async fn closed_loop(addr: SocketAddr, requests: Arc<Vec<Request>>, concurrency: usize) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut worker = Worker { addr, conn: None };
                let mut run = Run::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(i) else {
                        break;
                    };
                    let sent = Instant::now();
                    let outcome = worker.send(request).await;
                    run.record(request, outcome, sent.elapsed());
                }
                run
            })
        })
        .collect();
    collect(workers, started).await
}

/// Request `i` is due at `i / rate` seconds after the start; its latency runs
/// from then, so time spent waiting for a free connection counts (no
/// coordinated omission). `connections` bounds the requests in flight.
pub async fn open_loop(
    addr: SocketAddr,
    requests: Arc<Vec<Request>>,
    rate_per_sec: f64,
    connections: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let start = tokio::time::Instant::from_std(started);
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut worker = Worker { addr, conn: None };
                let mut run = Run::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(i) else {
                        break;
                    };
                    let due = start + Duration::from_secs_f64(i as f64 / rate_per_sec);
                    tokio::time::sleep_until(due).await;
                    let outcome = worker.send(request).await;
                    run.record(request, outcome, due.elapsed());
                }
                run
            })
        })
        .collect();
    collect(workers, started).await
}

async fn collect(workers: Vec<tokio::task::JoinHandle<Run>>, started: Instant) -> Run {
    let mut total = Run::new();
    for w in workers {
        if let Ok(run) = w.await {
            total.merge(run);
        }
    }
    total.elapsed = started.elapsed();
    total
}
