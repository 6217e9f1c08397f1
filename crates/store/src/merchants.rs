//! Merchants, their registered public keys and the platform's signing keys.

use crate::db::{query, Db, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Inserted, Result, Store, Tx};
use backflow_domain::merchant::{CommissionRefund, Contract, Merchant};
use backflow_domain::method::MethodOverride;
use backflow_domain::{ClientId, Currency, Timestamp};
use std::sync::LazyLock;

/// A merchant to create.
pub struct NewMerchant {
    pub merchant: Merchant,
    /// The merchant's RSA public key (base64 SPKI), registered as key version 1.
    pub public_key: String,
    /// The private key Backflow signs this merchant's responses with (base64 PKCS#8).
    pub platform_private_key: String,
}

/// Key material for one merchant, base64 as stored.
pub struct MerchantKeys {
    pub platform_private_key: String,
    /// (key version, base64 SPKI)
    pub public_keys: Vec<(u32, String)>,
}

fn contract_from_row(row: &Row) -> Result<Contract> {
    let refund = get_str(row, "commission_refund")?;
    let overrides = get_opt_str(row, "method_overrides")?.unwrap_or_default();
    let small = |v: Option<i64>| v.map(u32::try_from).transpose().map_err(corrupt);
    Ok(Contract {
        commission_bps: u32::try_from(get_i64(row, "commission_bps")?).map_err(corrupt)?,
        commission_refund: CommissionRefund::parse(&refund).ok_or_else(|| corrupt(refund))?,
        refund_window_days: small(get_opt_i64(row, "refund_window_days")?)?,
        overdraft_minor: get_i64(row, "overdraft_minor")?,
        card_acquirer: get_opt_str(row, "card_acquirer")?,
        rate_limit_per_second: small(get_opt_i64(row, "rate_limit_per_second")?)?,
        method_overrides: overrides
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .map(|s| MethodOverride::parse(s).map_err(corrupt))
            .collect::<Result<_>>()?,
        refund_channel: get_opt_str(row, "refund_channel")?,
    })
}

fn merchant_from_row(row: &Row) -> Result<Merchant> {
    let settlement_currency = get_opt_str(row, "settlement_currency")?
        .map(|c| Currency::parse(&c).map_err(corrupt))
        .transpose()?;
    Ok(Merchant {
        client_id: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        name: get_str(row, "name")?,
        settlement_currency,
        notify_url: get_opt_str(row, "notify_url")?,
        legacy_partner_id: get_str(row, "legacy_partner_id")?,
        legacy_md5_key: get_str(row, "legacy_md5_key")?,
        contract: contract_from_row(row)?,
    })
}

const MERCHANT_COLUMNS: &str = "client_id, name, settlement_currency, notify_url, legacy_partner_id, legacy_md5_key, \
    commission_bps, commission_refund, refund_window_days, overdraft_minor, card_acquirer, rate_limit_per_second, method_overrides, refund_channel";

async fn fetch_merchant(e: Db<'_>, client_id: &ClientId) -> Result<Option<Merchant>> {
    // Every refund reads its merchant: the statement is built once.
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE client_id = $1"));
    let row = query(&SQL)
        .bind(client_id.as_str())
        .fetch_optional(e)
        .await?;
    row.as_ref().map(merchant_from_row).transpose()
}

impl Store {
    pub async fn merchant(&self, client_id: &ClientId) -> Result<Option<Merchant>> {
        fetch_merchant(self.read(), client_id).await
    }

    /// The merchant a legacy `partner` id belongs to.
    pub async fn merchant_by_partner(&self, partner: &str) -> Result<Option<Merchant>> {
        let row = query(&format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE legacy_partner_id = $1"
        ))
        .bind(partner)
        .fetch_optional(self.read())
        .await?;
        row.as_ref().map(merchant_from_row).transpose()
    }

    pub async fn merchants(&self) -> Result<Vec<Merchant>> {
        let rows = query(&format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY created_at"
        ))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(merchant_from_row).collect()
    }

    pub async fn merchant_keys(&self, client_id: &ClientId) -> Result<Option<MerchantKeys>> {
        let Some(platform) =
            query("SELECT platform_private_key FROM merchants WHERE client_id = $1")
                .bind(client_id.as_str())
                .fetch_optional(self.read())
                .await?
        else {
            return Ok(None);
        };
        let rows = query("SELECT key_version, public_key FROM merchant_keys WHERE client_id = $1 ORDER BY key_version")
            .bind(client_id.as_str())
            .fetch_all(self.read())
            .await?;
        let public_keys = rows
            .iter()
            .map(|r| {
                Ok((
                    u32::try_from(get_i64(r, "key_version")?).map_err(corrupt)?,
                    get_str(r, "public_key")?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Some(MerchantKeys {
            platform_private_key: get_str(&platform, "platform_private_key")?,
            public_keys,
        }))
    }

    /// The deployment's own signing key, for answers to callers that are not a known merchant.
    pub async fn platform_key(&self, name: &str) -> Result<Option<String>> {
        let row = query("SELECT private_key FROM platform_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(self.read())
            .await?;
        row.map(|r| get_str(&r, "private_key")).transpose()
    }
}

impl Tx {
    pub async fn merchant(&mut self, client_id: &ClientId) -> Result<Option<Merchant>> {
        fetch_merchant(self.conn(), client_id).await
    }

    pub async fn insert_merchant(&mut self, new: &NewMerchant, now: Timestamp) -> Result<Inserted> {
        let m = &new.merchant;
        let changed = query(
            "INSERT INTO merchants (client_id, name, settlement_currency, notify_url, legacy_partner_id, \
             legacy_md5_key, platform_private_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(m.client_id.as_str())
        .bind(&m.name)
        .bind(m.settlement_currency.map(|c| c.code()))
        .bind(m.notify_url.as_deref())
        .bind(&m.legacy_partner_id)
        .bind(&m.legacy_md5_key)
        .bind(&new.platform_private_key)
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        if changed == 0 {
            return Ok(Inserted::Existing);
        }
        self.insert_public_key(&m.client_id, 1, &new.public_key, now)
            .await?;
        self.set_contract(&m.client_id, m.settlement_currency, &m.contract)
            .await?;
        Ok(Inserted::New)
    }

    /// Replaces a merchant's contract terms and settlement currency; false when there is no such merchant.
    pub async fn set_contract(
        &mut self,
        client_id: &ClientId,
        settlement_currency: Option<Currency>,
        c: &Contract,
    ) -> Result<bool> {
        let overrides: Vec<String> = c
            .method_overrides
            .iter()
            .map(|(m, o)| o.render(m))
            .collect();
        let updated = query(
            "UPDATE merchants SET settlement_currency = $1, commission_bps = $2, commission_refund = $3, refund_window_days = $4, \
             overdraft_minor = $5, card_acquirer = $6, rate_limit_per_second = $7, method_overrides = $8, \
             refund_channel = $9 WHERE client_id = $10",
        )
        .bind(settlement_currency.map(|c| c.code()))
        .bind(i64::from(c.commission_bps))
        .bind(c.commission_refund.as_str())
        .bind(c.refund_window_days.map(i64::from))
        .bind(c.overdraft_minor)
        .bind(c.card_acquirer.as_deref())
        .bind(c.rate_limit_per_second.map(i64::from))
        .bind((!overrides.is_empty()).then(|| overrides.join(";")))
        .bind(c.refund_channel.as_deref())
        .bind(client_id.as_str())
        .execute(self.conn())
        .await?;
        Ok(updated == 1)
    }

    pub async fn insert_public_key(
        &mut self,
        client_id: &ClientId,
        version: u32,
        key: &str,
        now: Timestamp,
    ) -> Result<()> {
        query("INSERT INTO merchant_keys (client_id, key_version, public_key, created_at) VALUES ($1, $2, $3, $4)")
            .bind(client_id.as_str())
            .bind(i64::from(version))
            .bind(key)
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Stores the deployment key unless one exists; returns the one that is stored.
    pub async fn ensure_platform_key(&mut self, name: &str, private_key: &str) -> Result<String> {
        query("INSERT INTO platform_keys (name, private_key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(private_key)
            .execute(self.conn())
            .await?;
        let row = query("SELECT private_key FROM platform_keys WHERE name = $1")
            .bind(name)
            .fetch_one(self.conn())
            .await?;
        get_str(&row, "private_key")
    }
}
