//! The legacy gateway's signature scheme (docs/wire.md#legacy-signing).
//!
//! The signed content is every parameter but `sign` and `sign_type`, those with
//! an empty value left out, sorted by key bytes and joined as `key=value` with
//! `&`, values raw (not URL-encoded), as bytes in the request's charset. MD5
//! appends the merchant's key and hashes; RSA is SHA1withRSA and RSA2 is
//! SHA256withRSA, base64 on the wire.
//!
//! Backflow itself signs only with MD5 or RSA2: aws-lc-rs verifies SHA1 but
//! cannot sign with it, so answers and notifications to RSA merchants carry
//! `sign_type=RSA2`, signed with the merchant's platform key.

use crate::{b64, decode_signature_base64, CryptoError, SigningKey, VerifyingKey};
use md5::{Digest, Md5};
use std::borrow::Cow;

/// The charsets a legacy request may declare in `_input_charset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    /// GBK, as Alipay's Chinese-language clients send it (GB2312 is a subset).
    Gbk,
}

impl Charset {
    /// Parses `_input_charset`, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Self::Utf8),
            "gbk" | "gb2312" => Some(Self::Gbk),
            _ => None,
        }
    }

    /// The name used in `Content-Type` and the XML declaration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Gbk => "GBK",
        }
    }

    /// Text as bytes in this charset. Characters GBK cannot hold become numeric
    /// character references, as browsers submit them.
    pub fn encode(self, text: &str) -> Cow<'_, [u8]> {
        match self {
            Self::Utf8 => Cow::Borrowed(text.as_bytes()),
            Self::Gbk => encoding_rs::GBK.encode(text).0,
        }
    }

    /// Bytes in this charset as text; `None` when they are malformed.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Self::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_owned),
            Self::Gbk => encoding_rs::GBK
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(Cow::into_owned),
        }
    }
}

/// The `sign_type` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Md5,
    /// SHA1withRSA.
    Rsa,
    /// SHA256withRSA.
    Rsa2,
}

impl SignType {
    /// Parses `sign_type`; `md5` in lower case is accepted, as some clients send it.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Self::Md5),
            "RSA" => Some(Self::Rsa),
            "RSA2" => Some(Self::Rsa2),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Rsa => "RSA",
            Self::Rsa2 => "RSA2",
        }
    }
}

/// The pre-sign content of `params`: without `sign` and `sign_type`, without
/// empty values unless `keep_empty`, sorted by key bytes, joined `k=v&…`.
pub fn presign<K, V>(params: impl IntoIterator<Item = (K, V)>, keep_empty: bool) -> Vec<u8>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut pairs: Vec<(K, V)> = params
        .into_iter()
        .filter(|(k, v)| {
            let k = k.as_ref();
            k != b"sign" && k != b"sign_type" && (keep_empty || !v.as_ref().is_empty())
        })
        .collect();
    pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut out = Vec::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k.as_ref());
        out.push(b'=');
        out.extend_from_slice(v.as_ref());
    }
    out
}

/// Lower-case hex of MD5(content + key).
pub fn md5_sign(content: &[u8], key: &[u8]) -> String {
    let mut hasher = Md5::new();
    hasher.update(content);
    hasher.update(key);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What checks a request's `sign`.
#[derive(Debug, Clone, Copy)]
pub enum Verifier<'a> {
    /// The merchant's MD5 key, as bytes in the request charset.
    Md5 { key: &'a [u8] },
    /// SHA1withRSA with one of the merchant's registered public keys.
    Rsa(&'a VerifyingKey),
    /// SHA256withRSA with one of the merchant's registered public keys.
    Rsa2(&'a VerifyingKey),
}

impl Verifier<'_> {
    fn verifies(&self, content: &[u8], sign: &str) -> bool {
        match self {
            // Some clients send upper-case hex.
            Self::Md5 { key } => md5_sign(content, key).eq_ignore_ascii_case(sign.trim()),
            Self::Rsa(k) => {
                decode_signature_base64(sign).is_some_and(|s| k.verify_sha1(content, &s))
            }
            Self::Rsa2(k) => {
                decode_signature_base64(sign).is_some_and(|s| k.verify_sha256(content, &s))
            }
        }
    }
}

/// Whether `sign` signs `params` (raw bytes in the request charset). The
/// content without empty values is tried first; clients that sign empty
/// values too are accepted second.
pub fn verify<K, V>(params: &[(K, V)], sign: &str, verifier: Verifier<'_>) -> bool
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let pairs = || params.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
    if verifier.verifies(&presign(pairs(), false), sign) {
        return true;
    }
    let has_empty = pairs().any(|(_, v)| v.is_empty());
    has_empty && verifier.verifies(&presign(pairs(), true), sign)
}

/// What signs what Backflow sends a legacy merchant.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// The merchant's MD5 key.
    Md5 { key: &'a [u8] },
    /// The merchant's platform key, SHA256withRSA (see the module comment for why never SHA1).
    Rsa2(&'a SigningKey),
}

impl Signer<'_> {
    /// The `sign` for `content` (pre-sign bytes), and the `sign_type` to send with it.
    pub fn sign(&self, content: &[u8]) -> Result<(String, SignType), CryptoError> {
        match self {
            Self::Md5 { key } => Ok((md5_sign(content, key), SignType::Md5)),
            Self::Rsa2(k) => Ok((b64(&k.sign_sha256(content)?), SignType::Rsa2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GeneratedKeyPair;

    const KEY: &[u8] = b"10000000000000000000000000000000";

    #[test]
    fn spec_vector_forex_refund() {
        let content = "_input_charset=utf-8&currency=USD&gmt_return=20150101000000&out_return_no=1\
            &out_trade_no=12345678980&partner=1000000000000000&reason=reason&return_amount=0.01&service=forex_refund";
        assert_eq!(
            md5_sign(content.as_bytes(), KEY),
            "c9681fff5505fe993d1b2b8141308d0d"
        );
    }

    #[test]
    fn spec_vector_create_forex_trade() {
        let params = [
            ("service", "create_forex_trade"),
            ("notify_url", "https://example.com/notify"),
            ("subject", "test"),
            ("out_trade_no", "1"),
            ("currency", "EUR"),
            ("total_fee", "0.01"),
            ("_input_charset", "utf-8"),
            ("partner", "1000000000000000"),
        ];
        let content = presign(params, false);
        assert_eq!(md5_sign(&content, KEY), "f24fd4d76acabf860263a40805138380");
        let mut signed = params.to_vec();
        signed.push(("sign", "F24FD4D76ACABF860263A40805138380"));
        signed.push(("sign_type", "MD5"));
        assert!(verify(
            &signed,
            "F24FD4D76ACABF860263A40805138380",
            Verifier::Md5 { key: KEY }
        ));
        assert!(!verify(
            &signed,
            "f24fd4d76acabf860263a40805138381",
            Verifier::Md5 { key: KEY }
        ));
    }

    #[test]
    fn presign_drops_sign_and_empty_values_and_sorts_by_bytes() {
        let params = [
            ("b", "2"),
            ("sign", "x"),
            ("a", ""),
            ("B", "1"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(presign(params, false), b"B=1&b=2".to_vec());
        assert_eq!(presign(params, true), b"B=1&a=&b=2".to_vec());
    }

    #[test]
    fn clients_that_sign_empty_values_are_accepted() {
        let params = [
            ("partner", "2088"),
            ("reason", ""),
            ("service", "forex_refund"),
        ];
        let with_empty = md5_sign(&presign(params, true), KEY);
        let without = md5_sign(&presign(params, false), KEY);
        assert_ne!(with_empty, without);
        assert!(verify(&params, &with_empty, Verifier::Md5 { key: KEY }));
        assert!(verify(&params, &without, Verifier::Md5 { key: KEY }));
    }

    #[test]
    fn gbk_values_are_signed_as_gbk_bytes() {
        let reason = Charset::Gbk.encode("买家主动要求退款");
        assert_eq!(reason.len(), 16, "two bytes per character");
        assert_eq!(
            Charset::Gbk.decode(&reason).as_deref(),
            Some("买家主动要求退款")
        );
        let params = [(&b"reason"[..], &reason[..])];
        let sign = md5_sign(&presign(params, false), KEY);
        assert!(verify(&params, &sign, Verifier::Md5 { key: KEY }));
        let utf8 = [(&b"reason"[..], "买家主动要求退款".as_bytes())];
        assert!(!verify(&utf8, &sign, Verifier::Md5 { key: KEY }));
        assert_eq!(Charset::Utf8.decode(&reason), None);
        assert_eq!(Charset::parse("GB2312"), Some(Charset::Gbk));
        assert_eq!(Charset::parse("UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::parse("latin1"), None);
    }

    #[test]
    fn rsa2_and_rsa_verify_with_a_plus_turned_into_a_space() {
        let pair = GeneratedKeyPair::generate().unwrap();
        let signing = SigningKey::from_pkcs8_der(&pair.pkcs8_der).unwrap();
        let verifying = VerifyingKey::from_der(&pair.spki_der).unwrap();
        let params = [("partner", "2088"), ("service", "forex_refund")];
        let (sign, sign_type) = Signer::Rsa2(&signing)
            .sign(&presign(params, false))
            .unwrap();
        assert_eq!(sign_type, SignType::Rsa2);
        assert!(verify(&params, &sign, Verifier::Rsa2(&verifying)));
        assert!(verify(
            &params,
            &sign.replace('+', " "),
            Verifier::Rsa2(&verifying)
        ));
        assert!(!verify(&params, &sign, Verifier::Rsa(&verifying)));
        assert!(!verify(&params, "not base64!", Verifier::Rsa2(&verifying)));
    }

    /// SHA1withRSA, as RSA merchants sign: a signature made with OpenSSL
    /// (`openssl dgst -sha1 -sign`), since aws-lc-rs cannot sign with SHA1.
    #[test]
    fn rsa_sha1_verifies_an_openssl_signature() {
        const PUBLIC_KEY: &str = concat!(
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxlX0uosoqxC9rIpAPlnhVftAVllskkPZNfjj",
            "1cyS14y3jdvYC8o1hAuwnnvr35vndesRh9yOFCs3zCplFCRVd8auUptsoTjDlcnVIf5AA93yF7CpNHy8",
            "wVs29nbF5wca7dAmlaWS0NbWPbEz+F91vqgfFvN6EuEEto2VJttDLNJnjUhAqBrDn9KflmJ50pvls0Cu",
            "49zrcv9xsz+1b+jIhHVqllamrtxbaIFPXqhW3Gd5SmGqRS2xgxhPCPM2ofuxw2H+Wtrr1inpGhlwCJ6c",
            "RamyHC4HV69SlVAJnSAxO44x/26EcOPNQmwEukQDj1WMVrp3/zaiwwIGizvJ+3oF/QIDAQAB",
        );
        const SIGNATURE: &str = concat!(
            "SYgr91sv2l10kR59hPutGj093XK4IkFzLkSoxC4WldjVBYm6VEY3U8nuqV1xUSLU+K5qzucsOkyMBsxE",
            "s7O4xBseuiLUlEm42GjbUjfTrVmP3YuVVbmKZXlUgXzXNL9gA3WGkWJAeRYkgQdxWXzCeVl9sIn+pvsP",
            "JLU+waqvYx9/BSLjpmP2zpFZ3eBNnxVu9eHs5LtjB2WZ0ktZjL8F9zNfe+HwoPTXkWzHLG9EdvSCDZ5p",
            "OXWrP7549f6X1YDrD3kvuFJ6T7zAhC4t9kXtVAmXSKp976hJC+tw5mMzrl6EaDU5tMaCyRO51rHtB2Wr",
            "8Nxad62H+HGRTldBii5SUQ==",
        );
        let key = VerifyingKey::from_base64(PUBLIC_KEY).unwrap();
        let params = [
            ("service", "forex_refund"),
            ("partner", "2088101122136241"),
            ("out_return_no", "1"),
            ("_input_charset", "utf-8"),
            ("sign_type", "RSA"),
        ];
        assert!(verify(&params, SIGNATURE, Verifier::Rsa(&key)));
        assert!(verify(
            &params,
            &SIGNATURE.replace('+', " "),
            Verifier::Rsa(&key)
        ));
        assert!(!verify(&params, SIGNATURE, Verifier::Rsa2(&key)));
        assert!(!verify(&params[1..], SIGNATURE, Verifier::Rsa(&key)));
    }

    #[test]
    fn sign_types_parse() {
        assert_eq!(SignType::parse("md5"), Some(SignType::Md5));
        assert_eq!(SignType::parse("RSA2"), Some(SignType::Rsa2));
        assert_eq!(SignType::parse("DSA"), None);
    }
}
