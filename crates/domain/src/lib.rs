//! The refund domain: pure types and rules, no I/O.
//!
//! Everything a door or the engine decides about money lives here, so that the
//! rules can be read in one place and tested without a database or a clock.

pub mod clock;
pub mod code;
pub mod fx;
pub mod ids;
pub mod ledger;
pub mod merchant;
pub mod method;
pub mod money;
pub mod payment;
pub mod refund;
pub mod settlement;

pub use clock::{Clock, Timestamp};
pub use code::{LegacyCode, ResultCode, ResultStatus};
pub use ids::*;
pub use money::{Currency, Money, MoneyError};
