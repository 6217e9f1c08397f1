//! Parsed keys, cached per merchant so that no request parses key material.

use crate::error::{EngineError, Result};
use backflow_crypto::{decode_pem_body, SigningKey, VerifyingKey};
use backflow_domain::ClientId;
use backflow_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A merchant's keys: the platform key that signs what Backflow sends it, and
/// the merchant's registered public keys by version.
#[derive(Debug)]
pub struct MerchantCredentials {
    pub platform: SigningKey,
    pub public_keys: HashMap<u32, VerifyingKey>,
}

/// A cache of parsed credentials in front of the store.
pub struct KeyRing {
    store: Store,
    cache: RwLock<HashMap<ClientId, Arc<MerchantCredentials>>>,
}

impl KeyRing {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The merchant's credentials, from the cache when it has them.
    pub async fn merchant(&self, client_id: &ClientId) -> Result<Arc<MerchantCredentials>> {
        match self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(client_id).cloned())
        {
            Some(creds) => Ok(creds),
            None => self.reload(client_id).await,
        }
    }

    /// The merchant's credentials holding public key `version`. A version the
    /// cache does not know sends it back to the store once, for keys added since.
    pub async fn with_key_version(
        &self,
        client_id: &ClientId,
        version: u32,
    ) -> Result<Arc<MerchantCredentials>> {
        let creds = self.merchant(client_id).await?;
        if creds.public_keys.contains_key(&version) {
            return Ok(creds);
        }
        let creds = self.reload(client_id).await?;
        if creds.public_keys.contains_key(&version) {
            Ok(creds)
        } else {
            Err(EngineError::UnknownKeyVersion(version))
        }
    }

    async fn reload(&self, client_id: &ClientId) -> Result<Arc<MerchantCredentials>> {
        let creds = Arc::new(self.load(client_id).await?);
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(client_id.clone(), creds.clone());
        }
        Ok(creds)
    }

    async fn load(&self, client_id: &ClientId) -> Result<MerchantCredentials> {
        let keys = self
            .store
            .merchant_keys(client_id)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        let platform = SigningKey::from_pkcs8_der(&decode_pem_body(&keys.platform_private_key)?)?;
        let public_keys = keys
            .public_keys
            .iter()
            .map(|(v, k)| Ok((*v, VerifyingKey::from_base64(k)?)))
            .collect::<Result<_>>()?;
        Ok(MerchantCredentials {
            platform,
            public_keys,
        })
    }
}
