//! Merchants and their contract terms.

use crate::ids::ClientId;
use crate::money::Currency;

/// A merchant, as the engine sees it. Key material lives with the store and the engine's key cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub client_id: ClientId,
    pub name: String,
    /// The currency the merchant is settled in; `None` settles in each payment's currency.
    pub settlement_currency: Option<Currency>,
    /// Where notifications go when a request names no address.
    pub notify_url: Option<String>,
    /// The legacy gateway's `partner` (16 digits, starting 2088).
    pub legacy_partner_id: String,
    /// The legacy gateway's 32-character MD5 key.
    pub legacy_md5_key: String,
}
