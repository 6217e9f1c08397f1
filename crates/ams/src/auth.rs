//! Request authentication and response signing (docs/wire.md#request-signing,
//! docs/wire.md#response-signing).

use crate::result::AmsResult;
use axum::http::HeaderMap;
use backflow_crypto::ams::{parse_signature_header, signature_header, signed_content};
use backflow_crypto::SigningKey;
use backflow_domain::{ClientId, ResultCode};
use backflow_engine::Engine;

/// The caller's headers, read case-insensitively.
pub struct Caller {
    pub client_id: Option<String>,
    request_time: Option<String>,
    signature: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Caller {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            client_id: header(headers, "client-id"),
            request_time: header(headers, "request-time"),
            signature: header(headers, "signature"),
        }
    }

    /// Verifies the request's signature over the raw body; the merchant it names is the caller.
    pub async fn authenticate(
        &self,
        engine: &Engine,
        path: &str,
        body: &[u8],
    ) -> Result<ClientId, AmsResult> {
        let client_id = self
            .client_id
            .as_deref()
            .and_then(|c| ClientId::parse(c).ok())
            .ok_or_else(|| {
                AmsResult::new(
                    ResultCode::InvalidClient,
                    "The client-id header is missing or malformed.",
                )
            })?;
        let request_time = self
            .request_time
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AmsResult::param_illegal("The request-time header is missing."))?;
        let signature = self
            .signature
            .as_deref()
            .ok_or_else(|| {
                AmsResult::new(
                    ResultCode::InvalidSignature,
                    "The signature header is missing.",
                )
            })
            .and_then(|s| {
                parse_signature_header(s)
                    .map_err(|e| AmsResult::new(ResultCode::InvalidSignature, e.to_string()))
            })?;
        let creds = engine
            .keys()
            .with_key_version(&client_id, signature.key_version)
            .await
            .map_err(|e| AmsResult::from(&e))?;
        let key = &creds.public_keys[&signature.key_version];
        let content = signed_content("POST", path, client_id.as_str(), request_time, body);
        if key.verify_sha256(&content, &signature.signature) {
            Ok(client_id)
        } else {
            Err(AmsResult::of(ResultCode::InvalidSignature))
        }
    }
}

/// Signs a response body for `client_id` at `path`; returns the `signature` header value.
pub fn sign_response(
    key: &SigningKey,
    path: &str,
    client_id: &str,
    response_time: &str,
    body: &[u8],
) -> Option<String> {
    let content = signed_content("POST", path, client_id, response_time, body);
    key.sign_sha256(&content)
        .ok()
        .map(|sig| signature_header(1, &sig))
}
