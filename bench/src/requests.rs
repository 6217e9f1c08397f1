//! The merchant's side of the wire, and the workloads: every request is
//! rendered and signed before timing starts, so the client spends no RSA time
//! while the server is measured.

use crate::wire::{self, Reply};
use anyhow::Context;
use backflow_crypto::ams::{parse_signature_header, signature_header, signed_content};
use backflow_crypto::{decode_pem_body, SigningKey, VerifyingKey};
use serde::Deserialize;
use serde_json::json;
use std::path::Path;

/// Where the AMS operations live.
const OPERATIONS: &str = "/ams/api/v1/payments/";

/// What every benchmark payment is worth, in USD cents: far more than its refunds take.
pub const PAYMENT_MINOR: i64 = 100_000_000;

/// A merchant's credentials as `backflow merchant create --json` prints them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub client_id: String,
    merchant_private_key_pkcs8: String,
    platform_public_key: String,
}

/// The merchant the load is sent as.
pub struct Merchant {
    pub client_id: String,
    key: SigningKey,
    platform: VerifyingKey,
}

impl Merchant {
    pub fn new(c: Credentials) -> anyhow::Result<Self> {
        Ok(Self {
            key: SigningKey::from_pkcs8_der(&decode_pem_body(&c.merchant_private_key_pkcs8)?)?,
            platform: VerifyingKey::from_base64(&c.platform_public_key)?,
            client_id: c.client_id,
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::new(serde_json::from_str(&text).context("not merchant credentials JSON")?)
    }

    /// Whether an answer to `op` carries a valid signature by the merchant's platform key.
    pub fn signed_by_platform(&self, op: &str, reply: &Reply) -> bool {
        let (Some(time), Some(sig)) = (reply.header("response-time"), reply.header("signature"))
        else {
            return false;
        };
        let Ok(sig) = parse_signature_header(sig) else {
            return false;
        };
        let content = signed_content(
            "POST",
            &format!("{OPERATIONS}{op}"),
            &self.client_id,
            time,
            reply.body(),
        );
        self.platform.verify_sha256(&content, &sig.signature)
    }
}

/// A request rendered to bytes, and the result code it must be answered with.
pub struct Request {
    pub bytes: Vec<u8>,
    pub expect: &'static str,
}

/// A request before it is signed.
pub struct Draft {
    op: &'static str,
    body: String,
    expect: &'static str,
}

impl Draft {
    fn refund(request_id: &str, payment_id: &str, minor: i64, expect: &'static str) -> Self {
        Self {
            op: "refund",
            body: json!({
                "refundRequestId": request_id,
                "paymentId": payment_id,
                "refundAmount": {"currency": "USD", "value": minor.to_string()},
            })
            .to_string(),
            expect,
        }
    }

    fn inquiry(request_id: &str) -> Self {
        Self {
            op: "inquiryRefund",
            body: json!({ "refundRequestId": request_id }).to_string(),
            expect: "SUCCESS",
        }
    }

    /// A wallet payment that succeeds at once.
    pub fn pay(request_id: &str) -> Self {
        Self {
            op: "pay",
            body: json!({
                "productCode": "AGREEMENT_PAYMENT",
                "paymentRequestId": request_id,
                "paymentAmount": {"currency": "USD", "value": PAYMENT_MINOR.to_string()},
                "paymentMethod": {"paymentMethodType": "GCASH"},
            })
            .to_string(),
            expect: "SUCCESS",
        }
    }
}

/// Signs drafts on every core (the order is kept) and renders them for `host`.
pub fn sign_all(merchant: &Merchant, host: &str, drafts: &[Draft]) -> Vec<Request> {
    // Opaque to the server (no replay window), so one value serves the whole run.
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        .to_string();
    let sign = |d: &Draft| {
        let path = format!("{OPERATIONS}{}", d.op);
        let content = signed_content("POST", &path, &merchant.client_id, &time, d.body.as_bytes());
        let signature = merchant
            .key
            .sign_sha256(&content)
            .expect("the merchant key signs");
        let headers = [
            ("client-id", merchant.client_id.as_str()),
            ("request-time", time.as_str()),
            ("signature", &signature_header(1, &signature)),
        ];
        Request {
            bytes: wire::post(host, &path, &headers, d.body.as_bytes()),
            expect: d.expect,
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = drafts.len().div_ceil(cores).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = drafts
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(sign).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("a signing thread"))
            .collect()
    })
}

/// What a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// New one-cent refunds, spread over the payments.
    Create,
    /// `inquiryRefund` by `refundRequestId` of refunds the create workload made.
    Inquiry,
    /// In every ten: six new refunds, one duplicate of an earlier refund (same
    /// `refundRequestId`, answered with that refund), one `REFUND_AMOUNT_EXCEED`,
    /// one `ORDER_NOT_EXIST`, one inquiry.
    Mix,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "refund create",
            Self::Inquiry => "inquiryRefund",
            Self::Mix => "mix",
        }
    }
}

/// The ids a run works with: its payments, and a token that keeps its request ids unique.
pub struct Plan {
    pub run: String,
    pub payments: Vec<String>,
}

impl Plan {
    /// The `refundRequestId` of the `i`th refund a phase creates.
    fn created_id(&self, phase: &str, i: usize) -> String {
        format!("{}-{phase}-{i}", self.run)
    }

    fn payment(&self, i: usize) -> &str {
        &self.payments[i % self.payments.len()]
    }

    /// `n` requests of `workload` for `phase`; inquiries and duplicates name
    /// the first `created` refunds of `created_phase`, which must exist by then.
    pub fn drafts(
        &self,
        workload: Workload,
        phase: &str,
        n: usize,
        created_phase: &str,
        created: usize,
    ) -> Vec<Draft> {
        // A stride coprime with most counts, so repeats do not walk the table in order.
        let earlier = |i: usize| (i * 7919) % created.max(1);
        (0..n)
            .map(|i| match workload {
                Workload::Create => {
                    Draft::refund(&self.created_id(phase, i), self.payment(i), 1, "SUCCESS")
                }
                Workload::Inquiry => Draft::inquiry(&self.created_id(created_phase, earlier(i))),
                Workload::Mix => match i % 10 {
                    0..=5 => {
                        Draft::refund(&self.created_id(phase, i), self.payment(i), 1, "SUCCESS")
                    }
                    6 => {
                        let j = earlier(i);
                        Draft::refund(
                            &self.created_id(created_phase, j),
                            self.payment(j),
                            1,
                            "SUCCESS",
                        )
                    }
                    7 => Draft::refund(
                        &format!("{}-{phase}-x{i}", self.run),
                        self.payment(i),
                        PAYMENT_MINOR + 1,
                        "REFUND_AMOUNT_EXCEED",
                    ),
                    8 => Draft::refund(
                        &format!("{}-{phase}-m{i}", self.run),
                        &format!("{}-missing-{i}", self.run),
                        1,
                        "ORDER_NOT_EXIST",
                    ),
                    _ => Draft::inquiry(&self.created_id(created_phase, earlier(i))),
                },
            })
            .collect()
    }
}
