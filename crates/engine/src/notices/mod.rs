//! Notifications the engine owes, written as outbox rows in the caller's
//! transaction, and the rules a notification address must follow.
//!
//! A row is written together with the state change it reports, so a
//! notification is owed exactly when that change commits. The notifier
//! (crate `backflow-notify`) delivers the row later, signed and retried.

pub mod ams;
pub mod legacy;

use crate::error::{EngineError, Result};
use crate::ids::random_token;
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::{Door, Payment};
use backflow_domain::refund::Refund;
use backflow_domain::{ClientId, Timestamp};
use backflow_store::{Capture, NewNotification, NotificationKind, Tx};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Writes the notification owed for a refund that just became final, in the caller's transaction.
///
/// URL: the refund's `notify_url`, else the merchant's configured one; neither → no row.
/// Door AMS → `notifyType=REFUND_RESULT` JSON; door Legacy →
/// `notify_type=refund_status_sync` form (docs/wire.md, both).
pub async fn refund_final(
    tx: &mut Tx,
    merchant: &Merchant,
    payment: &Payment,
    refund: &Refund,
    now: Timestamp,
) -> Result<()> {
    if !refund.status().is_final() {
        return Err(EngineError::Invalid(format!(
            "refund {} is not final; there is no result to notify",
            refund.id
        )));
    }
    let Some(url) = address(refund.notify_url.as_deref(), merchant) else {
        return Ok(());
    };
    let render = |id: &str| match payment.door {
        Door::Ams => ams::refund_result(payment, refund),
        Door::Legacy => legacy::refund_status_sync(merchant, payment, refund, id, now),
    };
    let subject = (NotificationKind::RefundResult, refund.id.as_str());
    enqueue(tx, merchant, payment.door, subject, url, render, now).await
}

/// `notifyPayment` (AMS) or `trade_status_sync` (legacy) for a sandbox payment that succeeded.
pub async fn payment_succeeded(
    tx: &mut Tx,
    merchant: &Merchant,
    payment: &Payment,
    now: Timestamp,
) -> Result<()> {
    let Some(url) = address(payment.notify_url.as_deref(), merchant) else {
        return Ok(());
    };
    let render = |id: &str| match payment.door {
        Door::Ams => ams::payment_result(payment),
        Door::Legacy => legacy::trade_status_sync(merchant, payment, id, now),
    };
    let subject = (NotificationKind::PaymentResult, payment.id.as_str());
    enqueue(tx, merchant, payment.door, subject, url, render, now).await
}

/// `notifyCapture` for a capture that succeeded (AMS only).
pub async fn capture_succeeded(
    tx: &mut Tx,
    merchant: &Merchant,
    payment: &Payment,
    capture: &Capture,
    now: Timestamp,
) -> Result<()> {
    let Some(url) = address(payment.notify_url.as_deref(), merchant) else {
        return Ok(());
    };
    if payment.door != Door::Ams {
        return Ok(());
    }
    let body = ams::capture_result(payment, capture);
    enqueue(
        tx,
        merchant,
        Door::Ams,
        (NotificationKind::CaptureResult, capture.id.as_str()),
        url,
        |_| body,
        now,
    )
    .await
}

/// A fresh notification id. The legacy door renders it into its body as
/// `notify_id` (32 characters, like Alipay's), so it is chosen before the body.
pub fn new_notification_id() -> String {
    random_token(32)
}

/// The address a notification goes to: the one the request named wins over the merchant's.
fn address<'a>(requested: Option<&'a str>, merchant: &'a Merchant) -> Option<&'a str> {
    requested
        .or(merchant.notify_url.as_deref())
        .filter(|u| !u.is_empty())
}

/// Writes one outbox row, its first attempt due `now`; `render` makes the body
/// from the row's id (the legacy `notify_id`). A subject notified already
/// (same kind) keeps its first row.
async fn enqueue(
    tx: &mut Tx,
    merchant: &Merchant,
    protocol: Door,
    (kind, subject): (NotificationKind, &str),
    url: &str,
    render: impl FnOnce(&str) -> String,
    now: Timestamp,
) -> Result<()> {
    let id = new_notification_id();
    let body = render(&id);
    tx.insert_notification(&NewNotification {
        id,
        client_id: merchant.client_id.clone(),
        protocol,
        kind,
        subject_id: subject.to_owned(),
        url: url.to_owned(),
        body,
        created_at: now,
    })
    .await?;
    Ok(())
}

/// The longest notification address accepted, in characters.
pub const MAX_NOTIFY_URL_CHARS: usize = 1024;

/// Why a notification address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyUrlRefused {
    #[error("the notification URL is longer than 1024 characters")]
    TooLong,
    #[error("the notification URL is not a valid http or https URL")]
    Malformed,
    #[error("the notification URL must not carry user info")]
    UserInfo,
    #[error("the notification URL must not target a loopback, private or link-local address")]
    NotPublic,
}

/// Checks a notification address for `merchant`: http or https, at most 1024
/// characters, no user info, and, outside the sandbox, no literal address or
/// `localhost` name that is not public. Doors call it at request time
/// (`PARAM_ILLEGAL`); the notifier calls it again before each attempt and
/// filters what host names resolve to, against DNS rebinding.
pub fn check_notify_url(raw: &str, merchant: &ClientId) -> Result<Url, NotifyUrlRefused> {
    if raw.chars().count() > MAX_NOTIFY_URL_CHARS {
        return Err(NotifyUrlRefused::TooLong);
    }
    // The URL parser drops tabs and newlines silently; refuse them instead.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NotifyUrlRefused::Malformed);
    }
    let url = Url::parse(raw).map_err(|_| NotifyUrlRefused::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NotifyUrlRefused::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(NotifyUrlRefused::UserInfo);
    }
    let public = match url.host() {
        None => return Err(NotifyUrlRefused::Malformed),
        Some(Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
        // RFC 6761: these names always mean this host.
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    };
    if !public && !merchant.is_sandbox() {
        return Err(NotifyUrlRefused::NotPublic);
    }
    Ok(url)
}

/// IPv4 ranges that are not reachable on the public internet (RFC 6890 and friends).
const NON_PUBLIC_V4: &[(u32, u32)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network", the unspecified address
    (0x0A00_0000, 8),  // 10/8 private
    (0x6440_0000, 10), // 100.64/10 carrier-grade NAT
    (0x7F00_0000, 8),  // 127/8 loopback
    (0xA9FE_0000, 16), // 169.254/16 link-local (cloud metadata lives here)
    (0xAC10_0000, 12), // 172.16/12 private
    (0xC000_0000, 24), // 192.0.0/24 protocol assignments
    (0xC000_0200, 24), // 192.0.2/24 documentation
    (0xC058_6300, 24), // 192.88.99/24 6to4 relay
    (0xC0A8_0000, 16), // 192.168/16 private
    (0xC612_0000, 15), // 198.18/15 benchmarking
    (0xC633_6400, 24), // 198.51.100/24 documentation
    (0xCB00_7100, 24), // 203.0.113/24 documentation
    (0xE000_0000, 4),  // 224/4 multicast
    (0xF000_0000, 4),  // 240/4 reserved, broadcast
];

/// IPv6 ranges that are not public; those that embed an IPv4 address are judged by it instead.
const NON_PUBLIC_V6: &[(u128, u32)] = &[
    (0, 96),                      // ::/96 unspecified, loopback, IPv4-compatible
    (0x0064_ff9b_0001 << 80, 48), // 64:ff9b:1::/48 local-use NAT64
    (0x0100 << 112, 64),          // 100::/64 discard
    (0x2001 << 112, 23),          // 2001::/23 protocol assignments, Teredo
    (0x2001_0db8 << 96, 32),      // 2001:db8::/32 documentation
    (0xfc00 << 112, 7),           // fc00::/7 unique local
    (0xfe80 << 112, 10),          // fe80::/10 link-local
    (0xfec0 << 112, 10),          // fec0::/10 site-local (deprecated)
    (0xff00 << 112, 8),           // ff00::/8 multicast
];

fn in_range<T>(addr: T, (net, len): (T, u32), bits: u32) -> bool
where
    T: Copy + std::ops::Shr<u32, Output = T> + PartialEq,
{
    len == 0 || addr >> (bits - len) == net >> (bits - len)
}

/// Whether `ip` is a public unicast address a notification may be sent to
/// outside the sandbox: not loopback, private, link-local, unspecified,
/// unique-local, multicast or reserved.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let a = u32::from(v4);
            !NON_PUBLIC_V4.iter().any(|&r| in_range(a, r, 32))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_ip(IpAddr::V4(v4));
            }
            let a = u128::from(v6);
            !NON_PUBLIC_V6.iter().any(|&r| in_range(a, r, 128))
        }
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let a = u128::from(v6);
    let low32 = Ipv4Addr::from((a & 0xffff_ffff) as u32);
    if a >> 32 == 0xffff || a >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        Some(low32)
    } else if a >> 112 == 0x2002 {
        Some(Ipv4Addr::from(((a >> 80) & 0xffff_ffff) as u32))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant(sandbox: bool) -> ClientId {
        ClientId::parse(if sandbox { "SANDBOX_SHOP" } else { "SHOP" }).unwrap()
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn loopback_private_link_local_and_unspecified_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:0001::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn shape_rules_hold_for_everyone() {
        for sandbox in [false, true] {
            let m = merchant(sandbox);
            let ok = format!("https://shop.example/n?x={}", "a".repeat(999));
            assert_eq!(ok.len(), 1024);
            assert!(check_notify_url(&ok, &m).is_ok());
            let long = format!("https://shop.example/{}", "a".repeat(1004));
            assert_eq!(long.len(), 1025);
            assert_eq!(check_notify_url(&long, &m), Err(NotifyUrlRefused::TooLong));
            for bad in [
                "ftp://shop.example/n",
                "shop.example/n",
                "https://",
                "https://shop.example/a b",
                "https://shop.example/a\tb",
                "javascript:alert(1)",
            ] {
                assert_eq!(
                    check_notify_url(bad, &m),
                    Err(NotifyUrlRefused::Malformed),
                    "{bad}"
                );
            }
            for bad in ["https://user@shop.example/", "https://u:p@shop.example/"] {
                assert_eq!(
                    check_notify_url(bad, &m),
                    Err(NotifyUrlRefused::UserInfo),
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn non_public_targets_are_refused_outside_the_sandbox() {
        for url in [
            "http://127.0.0.1:8080/n",
            "http://127.1/n",
            "http://0x7f000001/n",
            "http://2130706433/n",
            "http://10.0.0.5/n",
            "http://192.168.0.10/n",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/n",
            "http://[fd00::1]/n",
            "http://[::ffff:127.0.0.1]/n",
            "http://0.0.0.0/n",
            "http://localhost:3000/n",
            "http://api.localhost/n",
            "http://LOCALHOST./n",
        ] {
            assert_eq!(
                check_notify_url(url, &merchant(false)),
                Err(NotifyUrlRefused::NotPublic),
                "{url}"
            );
            assert!(check_notify_url(url, &merchant(true)).is_ok(), "{url}");
        }
        assert!(check_notify_url("https://93.184.215.14/n", &merchant(false)).is_ok());
    }
}
