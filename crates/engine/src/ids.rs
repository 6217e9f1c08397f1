//! Identifiers Backflow assigns, shaped like Antom's: 35 digits, time first.
//!
//! The time runs down to the millisecond, so that identifiers made one after
//! another sort one after another: each table or index keyed by one takes its
//! new rows at its end (one page written per group of refunds), where random
//! digits after a whole second scattered them over the pages of that second.

use backflow_domain::Timestamp;
use rand::Rng;

/// What an identifier names; its code sits between the second and its millisecond.
#[derive(Debug, Clone, Copy)]
pub enum IdKind {
    Payment,
    Capture,
    Refund,
    Posting,
    SettlementBatch,
}

impl IdKind {
    fn code(self) -> &'static str {
        match self {
            Self::Payment => "1940",
            Self::Capture => "1941",
            Self::Refund => "1942",
            Self::Posting => "1949",
            Self::SettlementBatch => "1950",
        }
    }
}

pub fn new_id(kind: IdKind, now: Timestamp) -> String {
    format!(
        "{}{}{:03}{}",
        now.compact_date_time(),
        kind.code(),
        now.millis().rem_euclid(1000),
        // As many random values a millisecond as 17 digits gave a second.
        random_digits(14)
    )
}

pub fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// Random lower-case letters and digits, for secrets such as the legacy MD5 key.
pub fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_35_digits_and_distinct() {
        let a = new_id(IdKind::Refund, Timestamp(1_745_998_018_000));
        let b = new_id(IdKind::Refund, Timestamp(1_745_998_018_000));
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("202504300726581942"));
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
    }

    #[test]
    fn ids_sort_by_millisecond() {
        let at = |ms: i64| new_id(IdKind::Posting, Timestamp(1_745_998_018_000 + ms));
        assert!(at(0) < at(1));
        assert!(at(999) < at(1000));
        assert!(at(1000).starts_with("202504300726591949000"));
    }
}
