//! What the console does about apps (`admin` only): list them, create one, rotate its secrets,
//! set its webhook URL, IP allow-list and payment-page branding, each through the operator's app
//! administration ([`AppAdmin`], the use cases of the `app` command) and audited with the app's
//! id. Credentials come back to be shown once and are never audited or logged. An app-bound
//! operator sees and changes only its own app; another app is as absent as one that does not
//! exist.

use std::net::IpAddr;

use wcheckout_domain::app::{App, Branding};
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::time::Timestamp;

use crate::admin::{AppAdmin, AppChanges, AppSummary, IssuedCredentials, apply_branding};
use crate::console::actor_of;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::page::{PageState, PageStatus, PaymentPage, decode_logo};
use crate::secrets::hash_secret;

/// One app as its console page shows it.
#[derive(Debug, Clone)]
pub struct ConsoleApp {
    /// The app as the `app show` command shows it (no secrets).
    pub summary: AppSummary,
    /// Its branding as stored (the logo as its `data:` URI).
    pub branding: Branding,
}

/// A change an operator makes to an app from its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEdit {
    /// A new webhook URL; empty removes it.
    WebhookUrl(String),
    /// A new allow-list (addresses or CIDR networks, separated by commas or lines); empty
    /// allows every address.
    IpAllowlist(String),
    /// New branding of the payment page.
    Branding(BrandingDraft),
}

impl AppEdit {
    /// The audit log's name of it.
    pub const fn action(&self) -> ConsoleAction {
        match self {
            AppEdit::WebhookUrl(_) => ConsoleAction::SetWebhookUrl,
            AppEdit::IpAllowlist(_) => ConsoleAction::SetIpAllowlist,
            AppEdit::Branding(_) => ConsoleAction::SetBranding,
        }
    }
}

/// Branding as the form sends it: a display name and theme colour (empty removes them), and a
/// logo as a `data:` URI (empty keeps the current one) unless `remove_logo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandingDraft {
    /// Name shown to payers; empty shows the app's name.
    pub display_name: String,
    /// `#rrggbb`, or empty.
    pub theme_color: String,
    /// A new logo's `data:` URI, or empty to keep the current one.
    pub logo: String,
    /// Removes the logo.
    pub remove_logo: bool,
}

impl BrandingDraft {
    /// The draft over `current` as [`AppAdmin`] would store it, checked by the same rules.
    fn applied(&self, current: &Branding) -> Result<Branding, ServiceError> {
        let mut branding = current.clone();
        let logo = match (self.remove_logo, self.logo.trim()) {
            (true, _) => Some(String::new()),
            (false, "") => None,
            (false, uri) => Some(uri.to_owned()),
        };
        apply_branding(
            &mut branding,
            Some(self.display_name.trim().to_owned()),
            logo,
            Some(self.theme_color.trim().to_owned()),
        )?;
        Ok(branding)
    }

    fn changes(&self, current: &Branding) -> Result<AppChanges, ServiceError> {
        let branding = self.applied(current)?;
        Ok(AppChanges {
            display_name: Some(branding.display_name.unwrap_or_default()),
            logo_url: Some(branding.logo_url.unwrap_or_default()),
            theme_color: Some(branding.theme_color.unwrap_or_default()),
            ..AppChanges::default()
        })
    }
}

/// The entries of an allow-list as typed: one per line or between commas.
fn allowlist_entries(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r', ' ', '\t'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn refused(operator: &Operator, action: ConsoleAction) -> Result<(), ServiceError> {
    if may(operator.role, action) {
        return Ok(());
    }
    let refused = format!("role {} may not do {action}", operator.role);
    Err(ServiceError::rejected(ErrorCode::Conflict, refused))
}

/// The longest app id looked up (ids are `app_` and 16 hex digits).
const MAX_APP_ID_LEN: usize = 64;

impl Gateway {
    /// Whether sealed credentials (`sealed`, the cookie that carries them) are being shown for
    /// the first time. Their use is remembered, as a request signature's is, until `until`
    /// (when they expire anyway), so a replayed cookie shows nothing however fast it comes.
    pub async fn first_showing(
        &self,
        app: &str,
        sealed: &str,
        until: Timestamp,
    ) -> Result<bool, ServiceError> {
        let key = format!("console-credentials:{}", hash_secret(sealed));
        let first = self
            .store
            .first_use_of_signature(&AppId::new(app), &key, until)
            .await?;
        Ok(first)
    }

    fn app_admin(&self) -> AppAdmin {
        AppAdmin::new(self.store.clone(), self.secrets.clone(), self.clock.clone())
    }

    /// The app `id` when `operator` may see it.
    async fn visible_app(
        &self,
        operator: &Operator,
        id: &str,
    ) -> Result<Option<App>, ServiceError> {
        let plausible = !id.is_empty()
            && id.len() <= MAX_APP_ID_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plausible || !operator.sees_app(&AppId::new(id)) {
            return Ok(None);
        }
        Ok(self.store.app(&AppId::new(id)).await?)
    }

    /// The apps `operator` sees, oldest first.
    pub async fn console_apps(&self, operator: &Operator) -> Result<Vec<AppSummary>, ServiceError> {
        refused(operator, ConsoleAction::ManageApps)?;
        let apps = self.app_admin().list().await?;
        Ok(apps
            .into_iter()
            .filter(|app| operator.sees_app(&AppId::new(app.app_id.as_str())))
            .collect())
    }

    /// The app `id`, when `operator` may see it.
    pub async fn console_app(
        &self,
        operator: &Operator,
        id: &str,
    ) -> Result<Option<ConsoleApp>, ServiceError> {
        refused(operator, ConsoleAction::ManageApps)?;
        Ok(self.visible_app(operator, id).await?.map(|app| ConsoleApp {
            summary: AppSummary::from(&app),
            branding: app.branding,
        }))
    }

    /// Creates an app through [`AppAdmin::create`] and audits it with the new app's id (never
    /// its secrets). Only an operator who sees every app may: an app-bound one could not see it.
    pub async fn console_create_app(
        &self,
        operator: &Operator,
        client: IpAddr,
        name: &str,
        webhook_url: &str,
        ip_allow: &str,
    ) -> Result<IssuedCredentials, ServiceError> {
        refused(operator, ConsoleAction::CreateApp)?;
        if operator.app.is_some() {
            let refused = "an account bound to one app cannot create apps";
            return Err(ServiceError::rejected(ErrorCode::Conflict, refused));
        }
        let webhook_url = Some(webhook_url.trim()).filter(|url| !url.is_empty());
        let credentials = self
            .app_admin()
            .create(name.trim(), webhook_url, &allowlist_entries(ip_allow))
            .await?;
        let actor = actor_of(operator, client);
        let now = self.clock.now();
        audit(
            &*self.store,
            &actor,
            ConsoleAction::CreateApp,
            &credentials.app_id,
            now,
        )
        .await?;
        Ok(credentials)
    }

    /// New secrets for the app `id` through [`AppAdmin::rotate_secrets`], audited; `None` when
    /// the operator may not see it.
    pub async fn console_rotate_secrets(
        &self,
        operator: &Operator,
        client: IpAddr,
        id: &str,
    ) -> Result<Option<IssuedCredentials>, ServiceError> {
        refused(operator, ConsoleAction::RotateSecret)?;
        let Some(app) = self.visible_app(operator, id).await? else {
            return Ok(None);
        };
        let credentials = self.app_admin().rotate_secrets(app.id.as_str()).await?;
        let actor = actor_of(operator, client);
        let now = self.clock.now();
        audit(
            &*self.store,
            &actor,
            ConsoleAction::RotateSecret,
            app.id.as_str(),
            now,
        )
        .await?;
        Ok(Some(credentials))
    }

    /// Makes `edit` to the app `id` through [`AppAdmin::update`] (whose rules check it: a wrong
    /// field is refused naming it and changes nothing), audited; `None` when the operator may
    /// not see it.
    pub async fn console_edit_app(
        &self,
        operator: &Operator,
        client: IpAddr,
        id: &str,
        edit: &AppEdit,
    ) -> Result<Option<AppSummary>, ServiceError> {
        let action = edit.action();
        refused(operator, action)?;
        let Some(app) = self.visible_app(operator, id).await? else {
            return Ok(None);
        };
        let changes = match edit {
            AppEdit::WebhookUrl(url) => AppChanges {
                webhook_url: Some(url.trim().to_owned()),
                ..AppChanges::default()
            },
            AppEdit::IpAllowlist(text) => AppChanges {
                ip_allow: Some(allowlist_entries(text)),
                ..AppChanges::default()
            },
            AppEdit::Branding(draft) => draft.changes(&app.branding)?,
        };
        let after = self.app_admin().update(app.id.as_str(), changes).await?;
        let actor = actor_of(operator, client);
        let now = self.clock.now();
        audit(&*self.store, &actor, action, app.id.as_str(), now).await?;
        Ok(Some(after))
    }

    /// The payment page of a sample order of the app `id` with `draft` branding (the saved
    /// branding when `None`), changing nothing, and the logo's `data:` URI when it has one.
    /// `None` when the operator may not see the app.
    pub async fn console_branding_preview(
        &self,
        operator: &Operator,
        id: &str,
        draft: Option<&BrandingDraft>,
    ) -> Result<Option<(PaymentPage, Option<String>)>, ServiceError> {
        refused(operator, ConsoleAction::ManageApps)?;
        let Some(app) = self.visible_app(operator, id).await? else {
            return Ok(None);
        };
        let branding = match draft {
            Some(draft) => draft.applied(&app.branding)?,
            None => app.branding.clone(),
        };
        let logo = branding
            .logo_url
            .clone()
            .filter(|uri| decode_logo(uri).is_some());
        Ok(Some((self.sample_page(&app, branding), logo)))
    }

    /// A payment page of 10.00 of the first configured token, waiting for payment, as `app`
    /// with `branding` would show it.
    fn sample_page(&self, app: &App, branding: Branding) -> PaymentPage {
        let first = self
            .tokens
            .tokens()
            .find_map(|token| self.tokens.get(&token.id));
        let (symbol, contract, decimals, chain_name, family, chain_id, address) = match first {
            Some((token, chain)) => (
                token.id.asset().to_owned(),
                token.contract.to_string(),
                token.decimals,
                chain.display_name.clone(),
                chain.family,
                chain.chain_id,
                self.hot_wallets
                    .get(&chain.family)
                    .map_or_else(|| token.contract.to_string(), ToString::to_string),
            ),
            None => (
                "USDT".to_owned(),
                String::new(),
                6,
                "Ethereum".to_owned(),
                wcheckout_domain::address::ChainFamily::Evm,
                1,
                String::new(),
            ),
        };
        let units = TokenAmount::from_decimal(&Decimal::from_integer(10), decimals)
            .map(|amount| amount.base_units().to_string())
            .unwrap_or_default();
        PaymentPage {
            merchant_name: branding.display_name.unwrap_or_else(|| app.name.clone()),
            theme_color: branding.theme_color,
            has_logo: branding.logo_url.as_deref().and_then(decode_logo).is_some(),
            order_no: "PREVIEW-0001".to_owned(),
            order_amount: "10.00".to_owned(),
            fiat: "USD".to_owned(),
            paying_amount: "10.00".to_owned(),
            paying_amount_units: units.clone(),
            token_symbol: symbol,
            token_contract: contract,
            token_decimals: decimals,
            chain_name,
            chain_family: family,
            chain_id,
            wallet_rpc_url: None,
            deposit_address: address,
            // A preview is no order: no reference key.
            solana_reference: None,
            pc_callback_url: None,
            app_callback_url: None,
            status: PageStatus {
                state: PageState::Waiting,
                paid: "0".to_owned(),
                unconfirmed: "0".to_owned(),
                received: "0".to_owned(),
                remaining: "10.00".to_owned(),
                remaining_units: units,
                refunded: "0".to_owned(),
                confirmations: 0,
                required_confirmations: None,
                expires_in: 1800,
                tx_hash: None,
                tx_url: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_are_read_by_commas_and_lines() {
        let entries = allowlist_entries("10.0.0.0/8, 192.0.2.1\n2001:db8::/32\r\n\n");
        assert_eq!(entries, ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]);
        assert!(allowlist_entries(" \n ").is_empty());
    }

    #[test]
    fn a_draft_keeps_the_logo_unless_told() {
        let current = Branding {
            display_name: Some("Old".into()),
            logo_url: Some("data:image/png;base64,iVBORw0K".into()),
            theme_color: Some("#000000".into()),
        };
        let draft = BrandingDraft {
            display_name: " New ".into(),
            theme_color: String::new(),
            ..BrandingDraft::default()
        };
        let applied = draft.applied(&current).unwrap();
        assert_eq!(applied.display_name.as_deref(), Some("New"));
        assert_eq!(applied.theme_color, None);
        assert_eq!(applied.logo_url, current.logo_url);
        let removed = BrandingDraft {
            remove_logo: true,
            ..draft.clone()
        };
        assert_eq!(removed.applied(&current).unwrap().logo_url, None);
        let wrong = BrandingDraft {
            theme_color: "red".into(),
            ..draft
        };
        assert!(wrong.applied(&current).is_err());
    }
}
