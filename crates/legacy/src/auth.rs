//! Who is calling: the `partner`, and the request's signature (docs/wire.md#legacy-signing).

use crate::params::Params;
use crate::reply::legacy_code;
use backflow_crypto::legacy::{presign, verify, SignType, Signer, Verifier};
use backflow_domain::merchant::Merchant;
use backflow_domain::LegacyCode;
use backflow_engine::keys::MerchantCredentials;
use backflow_engine::Engine;
use std::sync::Arc;

/// A merchant named by a well-formed, registered `partner`.
pub(crate) struct Caller {
    pub merchant: Merchant,
    /// The request's `sign_type`; answers are signed the same way (RSA as RSA2).
    sign_type: SignType,
    /// The merchant's MD5 key in the request charset.
    md5_key: Vec<u8>,
    /// Loaded for RSA and RSA2 callers only.
    credentials: Option<Arc<MerchantCredentials>>,
}

/// A `partner`: 16 digits starting 2088.
fn well_formed_partner(p: &str) -> bool {
    p.len() == 16 && p.starts_with("2088") && p.bytes().all(|b| b.is_ascii_digit())
}

impl Caller {
    /// The merchant `partner` names: `ILLEGAL_PARTNER` when it is malformed or unknown.
    pub async fn identify(engine: &Engine, params: &Params) -> Result<Self, LegacyCode> {
        let partner = params
            .get("partner")
            .filter(|p| well_formed_partner(p))
            .ok_or(LegacyCode::IllegalPartner)?;
        let merchant = engine
            .merchant_by_partner(partner)
            .await
            .map_err(|e| legacy_code(&e, None))?
            .ok_or(LegacyCode::IllegalPartner)?;
        let md5_key = params
            .charset()
            .encode(&merchant.legacy_md5_key)
            .into_owned();
        Ok(Self {
            merchant,
            sign_type: SignType::Md5,
            md5_key,
            credentials: None,
        })
    }

    /// Checks `sign_type` and `sign`. RSA and RSA2 verify with any of the
    /// merchant's registered public keys, so that a key rotation needs no flag day.
    pub async fn authenticate(
        &mut self,
        engine: &Engine,
        params: &Params,
    ) -> Result<(), LegacyCode> {
        let sign_type = params
            .get("sign_type")
            .and_then(SignType::parse)
            .ok_or(LegacyCode::IllegalSignType)?;
        self.sign_type = sign_type;
        let sign = params.get("sign").ok_or(LegacyCode::IllegalSign)?;
        let verified = match sign_type {
            SignType::Md5 => verify(params.raw(), sign, Verifier::Md5 { key: &self.md5_key }),
            SignType::Rsa | SignType::Rsa2 => {
                let creds = engine
                    .keys()
                    .merchant(&self.merchant.client_id)
                    .await
                    .map_err(|e| legacy_code(&e, None))?;
                let verified = creds.public_keys.values().any(|key| {
                    let verifier = if sign_type == SignType::Rsa {
                        Verifier::Rsa(key)
                    } else {
                        Verifier::Rsa2(key)
                    };
                    verify(params.raw(), sign, verifier)
                });
                self.credentials = Some(creds);
                verified
            }
        };
        if verified {
            Ok(())
        } else {
            Err(LegacyCode::IllegalSign)
        }
    }

    fn signer(&self) -> Signer<'_> {
        match (&self.credentials, self.sign_type) {
            (Some(creds), SignType::Rsa | SignType::Rsa2) => Signer::Rsa2(&creds.platform),
            _ => Signer::Md5 { key: &self.md5_key },
        }
    }

    /// `sign` and `sign_type` over `pairs` (text, signed as bytes in `params`'
    /// charset); `None` if signing failed, which is logged.
    pub fn sign(&self, params: &Params, pairs: &[(&str, &str)]) -> Option<(String, SignType)> {
        let charset = params.charset();
        let encoded: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (charset.encode(k), charset.encode(v)))
            .collect();
        match self.signer().sign(&presign(encoded, false)) {
            Ok(signed) => Some(signed),
            Err(e) => {
                tracing::error!(error = %e, "legacy gateway: cannot sign an answer");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn partners_are_16_digits_starting_2088() {
        assert!(super::well_formed_partner("2088021017666931"));
        assert!(!super::well_formed_partner("1000000000000000"));
        assert!(!super::well_formed_partner("208802101766693"));
        assert!(!super::well_formed_partner("208802101766693x"));
    }
}
