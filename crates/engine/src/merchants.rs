//! Creating merchants and the deployment's own key.

use crate::error::{EngineError, Result};
use crate::ids::{random_digits, random_token};
use crate::Engine;
use backflow_crypto::{b64, decode_pem_body, GeneratedKeyPair, SigningKey, VerifyingKey};
use backflow_domain::merchant::{Contract, Merchant};
use backflow_domain::{ClientId, Currency};
use backflow_store::NewMerchant;

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct MerchantSpec {
    pub name: String,
    /// Chosen by Backflow when absent.
    pub client_id: Option<String>,
    pub sandbox: bool,
    /// The merchant's own public key (base64 SPKI or PEM); Backflow generates a pair when absent.
    pub public_key: Option<String>,
    pub settlement_currency: Option<Currency>,
    pub notify_url: Option<String>,
    pub contract: Contract,
}

/// A created merchant and its credentials, as `merchant create --json` prints them.
#[derive(Debug, Clone)]
pub struct CreatedMerchant {
    pub client_id: ClientId,
    pub name: String,
    /// Present only when Backflow generated the merchant's key pair.
    pub merchant_private_key_pkcs1: Option<String>,
    pub merchant_private_key_pkcs8: Option<String>,
    pub merchant_public_key: String,
    pub platform_public_key: String,
    pub legacy_partner_id: String,
    pub legacy_md5_key: String,
}

/// The name of the deployment key in storage.
const DEPLOYMENT_KEY: &str = "deployment";

impl Engine {
    pub async fn create_merchant(&self, spec: MerchantSpec) -> Result<CreatedMerchant> {
        self.check_contract(&spec.contract)?;
        let client_id = match spec.client_id {
            Some(id) => ClientId::parse(id).map_err(|e| EngineError::Invalid(e.to_string()))?,
            None => {
                let prefix = if spec.sandbox {
                    ClientId::SANDBOX_PREFIX
                } else {
                    ""
                };
                ClientId::parse(format!("{prefix}{}", random_token(16).to_uppercase()))
                    .map_err(|e| EngineError::Invalid(e.to_string()))?
            }
        };
        let (merchant_public_key, private) = match spec.public_key {
            Some(text) => {
                let der = decode_pem_body(&text)?;
                VerifyingKey::from_der(&der)?;
                (b64(&der), None)
            }
            None => {
                let pair = GeneratedKeyPair::generate()?;
                (
                    b64(&pair.spki_der),
                    Some((b64(&pair.pkcs1_der), b64(&pair.pkcs8_der))),
                )
            }
        };
        let platform = GeneratedKeyPair::generate()?;
        let merchant = Merchant {
            client_id: client_id.clone(),
            name: spec.name.clone(),
            settlement_currency: spec.settlement_currency,
            notify_url: spec.notify_url,
            legacy_partner_id: format!("2088{}", random_digits(12)),
            legacy_md5_key: random_token(32),
            contract: spec.contract,
        };
        let mut tx = self.store().begin().await?;
        let inserted = tx
            .insert_merchant(
                &NewMerchant {
                    merchant: merchant.clone(),
                    public_key: merchant_public_key.clone(),
                    platform_private_key: b64(&platform.pkcs8_der),
                },
                self.now(),
            )
            .await?;
        if inserted == backflow_store::Inserted::Existing {
            return Err(EngineError::Invalid(format!(
                "client id {client_id} exists already"
            )));
        }
        tx.commit().await?;
        let (pkcs1, pkcs8) = private.unzip();
        Ok(CreatedMerchant {
            client_id,
            name: spec.name,
            merchant_private_key_pkcs1: pkcs1,
            merchant_private_key_pkcs8: pkcs8,
            merchant_public_key,
            platform_public_key: b64(&platform.spki_der),
            legacy_partner_id: merchant.legacy_partner_id,
            legacy_md5_key: merchant.legacy_md5_key,
        })
    }

    /// Replaces a merchant's settlement currency and contract terms.
    pub async fn set_contract(
        &self,
        merchant: &ClientId,
        settlement_currency: Option<Currency>,
        contract: &Contract,
    ) -> Result<()> {
        self.check_contract(contract)?;
        let mut tx = self.store().begin().await?;
        if !tx
            .set_contract(merchant, settlement_currency, contract)
            .await?
        {
            return Err(EngineError::UnknownMerchant);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets or clears the address notifications go to when a request names none.
    pub async fn set_notify_url(&self, merchant: &ClientId, url: Option<&str>) -> Result<()> {
        let mut tx = self.store().begin().await?;
        if !tx.set_merchant_notify_url(merchant, url).await? {
            return Err(EngineError::UnknownMerchant);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refuses terms this deployment cannot honour before they are stored.
    fn check_contract(&self, contract: &Contract) -> Result<()> {
        match &contract.refund_channel {
            Some(name) => self
                .inner
                .channels
                .check(name)
                .map_err(EngineError::Invalid),
            None => Ok(()),
        }
    }

    /// The key that signs answers to callers Backflow cannot name (an unknown
    /// client id), created on first use and shared by every node.
    pub async fn deployment_key(&self) -> Result<SigningKey> {
        let stored = match self.store().platform_key(DEPLOYMENT_KEY).await? {
            Some(k) => k,
            None => {
                let fresh = b64(&GeneratedKeyPair::generate()?.pkcs8_der);
                let mut tx = self.store().begin().await?;
                let k = tx.ensure_platform_key(DEPLOYMENT_KEY, &fresh).await?;
                tx.commit().await?;
                k
            }
        };
        Ok(SigningKey::from_pkcs8_der(&decode_pem_body(&stored)?)?)
    }
}
