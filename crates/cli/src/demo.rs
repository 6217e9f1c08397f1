//! The demo merchant created on first start, and how merchants' credentials are written out.

use backflow_engine::{CreatedMerchant, Engine, MerchantSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A merchant's credentials as `merchant create --json` prints them and `demo-merchant.json` holds them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MerchantCredentialsFile {
    pub client_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_private_key_pkcs1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_private_key_pkcs8: Option<String>,
    pub merchant_public_key: String,
    pub platform_public_key: String,
    pub legacy_partner_id: String,
    pub legacy_md5_key: String,
}

impl From<CreatedMerchant> for MerchantCredentialsFile {
    fn from(m: CreatedMerchant) -> Self {
        Self {
            client_id: m.client_id.to_string(),
            name: m.name,
            merchant_private_key_pkcs1: m.merchant_private_key_pkcs1,
            merchant_private_key_pkcs8: m.merchant_private_key_pkcs8,
            merchant_public_key: m.merchant_public_key,
            platform_public_key: m.platform_public_key,
            legacy_partner_id: m.legacy_partner_id,
            legacy_md5_key: m.legacy_md5_key,
        }
    }
}

pub const DEMO_FILE: &str = "demo-merchant.json";

/// The demo merchant: read from `DATA_DIR/demo-merchant.json` when the
/// database knows it, else created (a sandbox merchant) and written there.
pub async fn ensure_demo_merchant(
    engine: &Engine,
    data_dir: &Path,
) -> anyhow::Result<MerchantCredentialsFile> {
    let path = data_dir.join(DEMO_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(file) = serde_json::from_str::<MerchantCredentialsFile>(&text) {
            let id = backflow_domain::ClientId::parse(file.client_id.clone())?;
            if engine.merchant(&id).await?.is_some() {
                return Ok(file);
            }
        }
    }
    let created = engine
        .create_merchant(MerchantSpec {
            name: "Demo merchant".into(),
            sandbox: true,
            ..MerchantSpec::default()
        })
        .await?;
    let file = MerchantCredentialsFile::from(created);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, serde_json::to_string_pretty(&file)? + "\n")?;
    Ok(file)
}
