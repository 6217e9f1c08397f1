//! The retry schedule (docs/wire.md#retry-schedule): the first attempt at
//! once, then 2m, 10m, 10m, 1h, 2h, 6h and 15h after the previous try; 8
//! attempts in all, then give up.

use backflow_domain::Timestamp;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// How long after a missed attempt the next one is due; attempt `n + 2` waits `RETRY_DELAYS_MS[n]`.
pub const RETRY_DELAYS_MS: [i64; 7] = [
    2 * MINUTE_MS,
    10 * MINUTE_MS,
    10 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    6 * HOUR_MS,
    15 * HOUR_MS,
];

/// Attempts in one schedule: the first plus one per delay.
pub const MAX_ATTEMPTS: u32 = RETRY_DELAYS_MS.len() as u32 + 1;

/// When the attempt after attempt `n` (1-based, within its schedule) is due,
/// given that `n` missed at `tried_at`; `None` once the schedule is spent.
pub fn next_attempt_after_miss(n: u32, tried_at: Timestamp) -> Option<Timestamp> {
    let index = usize::try_from(n.checked_sub(1)?).ok()?;
    RETRY_DELAYS_MS
        .get(index)
        .map(|&delay| tried_at.plus_millis(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_attempts_within_25_hours() {
        let mut t = Timestamp(0);
        let mut attempts = 1;
        while let Some(next) = next_attempt_after_miss(attempts, t) {
            t = next;
            attempts += 1;
        }
        assert_eq!(attempts, 8);
        assert_eq!(MAX_ATTEMPTS, 8);
        // 2m + 10m + 10m + 1h + 2h + 6h + 15h
        assert_eq!(t.millis(), (22 + 24 * 60) * MINUTE_MS);
        assert!(t.millis() < 25 * HOUR_MS);
    }

    #[test]
    fn delays_follow_the_spec() {
        let at = |n| next_attempt_after_miss(n, Timestamp(0)).map(Timestamp::millis);
        assert_eq!(at(1), Some(2 * MINUTE_MS));
        assert_eq!(at(2), Some(10 * MINUTE_MS));
        assert_eq!(at(3), Some(10 * MINUTE_MS));
        assert_eq!(at(4), Some(HOUR_MS));
        assert_eq!(at(7), Some(15 * HOUR_MS));
        assert_eq!(at(8), None);
        assert_eq!(at(0), None);
    }
}
