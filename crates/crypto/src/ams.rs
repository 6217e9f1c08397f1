//! The AMS signature scheme (docs/wire.md#request-signing).
//!
//! Signed content is `<METHOD> <path>\n<client-id>.<time>.<raw body>`, signed
//! with RSA-SHA256; the `signature` header carries it URL-encoded.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but unreserved characters is escaped, as Python's `quote_plus` does for base64.
const SIGNATURE_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The bytes a signature covers. The body is taken as received, never re-serialised.
pub fn signed_content(
    method: &str,
    path: &str,
    client_id: &str,
    time: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + path.len() + client_id.len() + time.len() + body.len() + 4,
    );
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(client_id.as_bytes());
    out.push(b'.');
    out.extend_from_slice(time.as_bytes());
    out.push(b'.');
    out.extend_from_slice(body);
    out
}

/// A parsed `signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub key_version: u32,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureHeaderError {
    #[error("the signature header has no signature")]
    Missing,
    #[error("the signature algorithm {0:?} is not RSA256")]
    Algorithm(String),
    #[error("the key version {0:?} is not a number")]
    KeyVersion(String),
    #[error("the signature is not URL-encoded base64")]
    Encoding,
}

/// Parses `algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>`,
/// with optional spaces after the commas and either case of percent escapes.
pub fn parse_signature_header(value: &str) -> Result<SignatureHeader, SignatureHeaderError> {
    let mut key_version = 1;
    let mut signature = None;
    for part in value.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "algorithm" if v.trim() != "RSA256" => {
                return Err(SignatureHeaderError::Algorithm(v.into()))
            }
            "keyVersion" => {
                key_version = v
                    .trim()
                    .parse()
                    .map_err(|_| SignatureHeaderError::KeyVersion(v.into()))?;
            }
            "signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let encoded = signature
        .filter(|s| !s.is_empty())
        .ok_or(SignatureHeaderError::Missing)?;
    let decoded = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| SignatureHeaderError::Encoding)?;
    let signature =
        crate::decode_signature_base64(&decoded).ok_or(SignatureHeaderError::Encoding)?;
    Ok(SignatureHeader {
        key_version,
        signature,
    })
}

/// Renders a `signature` header value with the signature URL-encoded.
pub fn signature_header(key_version: u32, signature: &[u8]) -> String {
    let encoded = utf8_percent_encode(&crate::b64(signature), SIGNATURE_ESCAPES).to_string();
    format!("algorithm=RSA256,keyVersion={key_version},signature={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_joins_the_parts() {
        assert_eq!(
            signed_content("POST", "/ams/api/v1/payments/refund", "C", "T", b"{}"),
            b"POST /ams/api/v1/payments/refund\nC.T.{}".to_vec()
        );
    }

    #[test]
    fn header_round_trips_and_tolerates_variants() {
        let sig = vec![0xfb, 0xff, 0xbf, 1, 2, 3];
        let h = signature_header(2, &sig);
        assert!(h.contains("%2B") || h.contains("%2F"), "{h}");
        assert_eq!(
            parse_signature_header(&h).unwrap(),
            SignatureHeader {
                key_version: 2,
                signature: sig.clone()
            }
        );
        let spaced = h.replace(',', ", ");
        assert_eq!(parse_signature_header(&spaced).unwrap().signature, sig);
        // Lower-case hex escapes (.NET) decode the same; base64 letters are case-sensitive, so only the escapes change here.
        let lower_hex = h
            .replace("%2B", "%2b")
            .replace("%2F", "%2f")
            .replace("%3D", "%3d");
        assert_eq!(parse_signature_header(&lower_hex).unwrap().signature, sig);
        assert_eq!(
            parse_signature_header("algorithm=RSA256,keyVersion=1"),
            Err(SignatureHeaderError::Missing)
        );
        assert!(matches!(
            parse_signature_header("algorithm=RSA512,signature=AA=="),
            Err(SignatureHeaderError::Algorithm(_))
        ));
        assert_eq!(
            parse_signature_header("signature=AQID")
                .unwrap()
                .key_version,
            1
        );
    }
}
