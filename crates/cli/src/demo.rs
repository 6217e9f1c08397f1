//! The demo merchant created on first start, and how merchants' credentials are written out.

use crate::commands::portal::one_time_password;
use backflow_domain::ClientId;
use backflow_engine::portal::{NewPortalUser, PortalRole, PortalUser};
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
    /// The demo merchant's portal login (demo-merchant.json only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalLogin>,
}

/// A portal user's login and payment password, as `demo-merchant.json` holds them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PortalLogin {
    pub email: String,
    pub password: String,
    pub payment_password: String,
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
            portal: None,
        }
    }
}

pub const DEMO_FILE: &str = "demo-merchant.json";

/// The demo merchant's portal user: an admin, so that every page can be tried.
pub const DEMO_PORTAL_EMAIL: &str = "demo@backflow.example";

/// The demo merchant: read from `DATA_DIR/demo-merchant.json` when the
/// database knows it, else created (a sandbox merchant) and written there,
/// with its portal user.
pub async fn ensure_demo_merchant(
    engine: &Engine,
    data_dir: &Path,
) -> anyhow::Result<MerchantCredentialsFile> {
    let path = data_dir.join(DEMO_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(mut file) = serde_json::from_str::<MerchantCredentialsFile>(&text) {
            let id = backflow_domain::ClientId::parse(file.client_id.clone())?;
            if engine.merchant(&id).await?.is_some() {
                let known = engine.portal_user_by_email(DEMO_PORTAL_EMAIL).await?;
                if file.portal.is_none() || known.is_none() {
                    file.portal = Some(demo_portal_user(engine, &id, known).await?);
                    std::fs::write(&path, serde_json::to_string_pretty(&file)? + "\n")?;
                }
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
    let id = created.client_id.clone();
    let mut file = MerchantCredentialsFile::from(created);
    let known = engine.portal_user_by_email(DEMO_PORTAL_EMAIL).await?;
    file.portal = Some(demo_portal_user(engine, &id, known).await?);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, serde_json::to_string_pretty(&file)? + "\n")?;
    Ok(file)
}

/// Creates the demo portal user (or gives the one left from an earlier demo
/// merchant new passwords): its login, with passwords made here.
async fn demo_portal_user(
    engine: &Engine,
    merchant: &ClientId,
    known: Option<PortalUser>,
) -> anyhow::Result<PortalLogin> {
    let login = PortalLogin {
        email: DEMO_PORTAL_EMAIL.into(),
        password: one_time_password(),
        payment_password: one_time_password(),
    };
    match known {
        Some(u) if &u.merchant == merchant => {
            engine
                .reset_portal_secret(&u, login.password.clone(), false)
                .await?;
            engine
                .reset_portal_secret(&u, login.payment_password.clone(), true)
                .await?;
        }
        Some(u) => anyhow::bail!(
            "the portal user {} belongs to another merchant ({})",
            u.email,
            u.merchant
        ),
        None => {
            engine
                .create_portal_user(NewPortalUser {
                    merchant: merchant.clone(),
                    email: login.email.clone(),
                    role: PortalRole::Admin,
                    password: login.password.clone(),
                    payment_password: login.payment_password.clone(),
                })
                .await?;
        }
    }
    Ok(login)
}
