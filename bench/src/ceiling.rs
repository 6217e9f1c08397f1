//! The signing ceiling: every AMS answer costs the server one RSA-2048
//! signature, so no server on this machine can answer faster than the rate at
//! which all its cores sign. Measured in-process, in the same run as the load,
//! so that figures are ratios that survive a noisy, shared machine.

use backflow_crypto::{GeneratedKeyPair, SigningKey};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Signatures per second on this machine, all cores busy.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    pub cores: usize,
    /// RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second, over all cores.
    pub signs_per_sec: f64,
}

/// Signs on every core for `duration` with backflow_crypto's `SigningKey`,
/// over a message the size of a refund answer's signed content.
pub fn measure(duration: Duration) -> anyhow::Result<Ceiling> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pair = GeneratedKeyPair::generate()?;
    let key = Arc::new(SigningKey::from_pkcs8_der(&pair.pkcs8_der)?);
    let message = vec![b'x'; 700];
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let counts = std::thread::scope(|s| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                let (key, message) = (&key, &message);
                s.spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        for _ in 0..8 {
                            key.sign_sha256(message)
                                .expect("signing with a generated key");
                        }
                        n += 8;
                    }
                    n
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(0))
            .sum::<u64>()
    });
    Ok(Ceiling {
        cores,
        signs_per_sec: counts as f64 / started.elapsed().as_secs_f64(),
    })
}
