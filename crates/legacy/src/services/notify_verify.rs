//! `notify_verify`: did this gateway really send notification `notify_id` to `partner`?
//!
//! Unsigned, as the real gateway takes it. The answer is plain text: `true`,
//! `false`, or `invalid` for malformed input.

use crate::params::Params;
use crate::reply::Reply;
use backflow_domain::payment::Door;
use backflow_engine::Engine;

/// The longest `notify_id` looked up; ours are far shorter.
const MAX_NOTIFY_ID: usize = 128;

pub(crate) async fn handle(engine: &Engine, params: &Params) -> Reply {
    let (Some(partner), Some(notify_id)) = (params.get("partner"), params.get("notify_id")) else {
        return Reply::Text("invalid".into());
    };
    if notify_id.len() > MAX_NOTIFY_ID
        || !notify_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Reply::Text("invalid".into());
    }
    let sent = match (
        engine.merchant_by_partner(partner).await,
        engine.notification(notify_id).await,
    ) {
        (Ok(Some(merchant)), Ok(Some(n))) => {
            n.client_id == merchant.client_id && n.protocol == Door::Legacy && n.attempts > 0
        }
        (Ok(_), Ok(_)) => false,
        // Unconfirmed: the merchant leaves the notification unacknowledged and gets it again.
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "notify_verify: lookup failed");
            false
        }
    };
    Reply::Text(sent.to_string())
}
