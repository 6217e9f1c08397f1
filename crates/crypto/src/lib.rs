//! Keys and signatures, built on aws-lc-rs (constant-time RSA).
//!
//! Keys are parsed once into these types and kept; signing and verifying never
//! re-parse key material.

pub mod ams;
mod der;
pub mod legacy;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the key is not valid base64")]
    KeyEncoding,
    #[error("the key is not an RSA key of an accepted size: {0}")]
    KeyRejected(String),
    #[error("signing failed")]
    Signing,
}

/// A private RSA key that signs with PKCS#1 v1.5.
pub struct SigningKey {
    pair: KeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// From a PKCS#8 DER body (what Backflow stores).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| CryptoError::KeyRejected(e.to_string()))?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// From a PKCS#1 DER body (what the Python SDK takes).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = KeyPair::from_der(der).map_err(|e| CryptoError::KeyRejected(e.to_string()))?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| CryptoError::Signing)?;
        Ok(sig)
    }

    /// The matching public key as X.509 SubjectPublicKeyInfo DER.
    pub fn public_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.pair
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| CryptoError::KeyRejected(e.to_string()))
    }
}

/// A parsed RSA public key that verifies PKCS#1 v1.5 signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    sha256: ParsedPublicKey,
    sha1: ParsedPublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyingKey(..)")
    }
}

impl VerifyingKey {
    /// From X.509 SubjectPublicKeyInfo DER (or a bare PKCS#1 RSAPublicKey).
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let parse = |alg| {
            ParsedPublicKey::new(alg, der).map_err(|e| CryptoError::KeyRejected(e.to_string()))
        };
        Ok(Self {
            sha256: parse(&signature::RSA_PKCS1_2048_8192_SHA256)?,
            sha1: parse(&signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY)?,
        })
    }

    /// From the base64 body of a `BEGIN PUBLIC KEY` PEM (whitespace and PEM armour tolerated).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        Self::from_der(&decode_pem_body(text)?)
    }

    pub fn verify_sha256(&self, message: &[u8], sig: &[u8]) -> bool {
        self.sha256.verify_sig(message, sig).is_ok()
    }

    pub fn verify_sha1(&self, message: &[u8], sig: &[u8]) -> bool {
        self.sha1.verify_sig(message, sig).is_ok()
    }
}

/// A freshly generated RSA-2048 key pair in every encoding the SDKs ask for.
pub struct GeneratedKeyPair {
    pub pkcs8_der: Vec<u8>,
    pub pkcs1_der: Vec<u8>,
    pub spki_der: Vec<u8>,
}

impl GeneratedKeyPair {
    pub fn generate() -> Result<Self, CryptoError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| CryptoError::Signing)?;
        let pkcs8_der = pair
            .as_der()
            .map_err(|e| CryptoError::KeyRejected(e.to_string()))?
            .as_ref()
            .to_vec();
        let pkcs1_der = der::pkcs1_from_pkcs8(&pkcs8_der)
            .ok_or_else(|| CryptoError::KeyRejected("malformed PKCS#8".into()))?;
        let spki_der = SigningKey::from_pkcs8_der(&pkcs8_der)?.public_spki_der()?;
        Ok(Self {
            pkcs8_der,
            pkcs1_der,
            spki_der,
        })
    }
}

/// Base64 without line breaks.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes a base64 key body, tolerating PEM armour lines and whitespace.
pub fn decode_pem_body(text: &str) -> Result<Vec<u8>, CryptoError> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    B64.decode(body).map_err(|_| CryptoError::KeyEncoding)
}

/// Decodes base64 signature text, where a `+` may have arrived as a space.
pub fn decode_signature_base64(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .trim()
        .chars()
        .map(|c| if c == ' ' { '+' } else { c })
        .filter(|c| !c.is_whitespace())
        .collect();
    B64.decode(cleaned).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify_in_every_encoding() {
        let keys = GeneratedKeyPair::generate().unwrap();
        let from8 = SigningKey::from_pkcs8_der(&keys.pkcs8_der).unwrap();
        let from1 = SigningKey::from_pkcs1_der(&keys.pkcs1_der).unwrap();
        let verifier = VerifyingKey::from_base64(&b64(&keys.spki_der)).unwrap();
        let sig = from8.sign_sha256(b"hello").unwrap();
        assert!(verifier.verify_sha256(b"hello", &sig));
        assert!(!verifier.verify_sha256(b"hellO", &sig));
        // RSA PKCS#1 v1.5 is deterministic: both encodings are the same key.
        assert_eq!(from1.sign_sha256(b"hello").unwrap(), sig);
        assert!(!verifier.verify_sha1(b"hello", &sig));
    }

    #[test]
    fn pem_armour_and_spaces_are_tolerated() {
        let keys = GeneratedKeyPair::generate().unwrap();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            b64(&keys.spki_der)
        );
        assert!(VerifyingKey::from_base64(&pem).is_ok());
        assert!(VerifyingKey::from_base64("not a key").is_err());
        assert_eq!(
            decode_signature_base64("a b="),
            decode_signature_base64("a+b=")
        );
    }
}
