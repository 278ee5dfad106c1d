//! Operator administration of apps: create, list, show, update, rotate secrets. Secrets are
//! returned once, at creation or rotation, and stored only hashed or sealed.

use std::sync::Arc;

use serde::Serialize;
use wcheckout_domain::app::{App, Branding, IpNetwork, UnderpaymentTolerance};
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::Decimal;
use wcheckout_domain::ports::{Clock, Store};

use crate::error::ServiceError;
use crate::secrets::{SecretBox, hash_secret, random_alphanumeric, random_hex, random_token};

/// Credentials shown once. `Debug` leaves the secrets out.
#[derive(Serialize, serde::Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCredentials {
    /// The app id.
    pub app_id: String,
    /// Public key for the token endpoint.
    pub api_key: String,
    /// Secret for the token endpoint.
    pub api_secret: String,
    /// HMAC key for signatures.
    pub sign_key: String,
}

impl std::fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("app_id", &self.app_id)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// What an operator may change on an app; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppChanges {
    /// New name.
    pub name: Option<String>,
    /// New webhook URL; `Some("")` removes it.
    pub webhook_url: Option<String>,
    /// New allow-list; `Some(vec![])` allows every address.
    pub ip_allow: Option<Vec<String>>,
    /// Underpayment tolerance, percent.
    pub tolerance_percent: Option<String>,
    /// Underpayment tolerance, whole tokens.
    pub tolerance_amount: Option<String>,
    /// Page display name; `Some("")` removes it.
    pub display_name: Option<String>,
    /// Page logo as a `data:image/...;base64,` URI; `Some("")` removes it.
    pub logo_url: Option<String>,
    /// Page theme colour `#rrggbb`; `Some("")` removes it.
    pub theme_color: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// An app as operators see it (no secrets).
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    /// Id.
    pub app_id: String,
    /// Name.
    pub name: String,
    /// Public key.
    pub api_key: String,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// Allowed networks.
    pub ip_allow: Vec<String>,
    /// Tolerance, percent.
    pub tolerance_percent: String,
    /// Tolerance, whole tokens.
    pub tolerance_amount: String,
    /// Page display name.
    pub display_name: Option<String>,
    /// Page logo: its type and size (`image/png, 2048 bytes`).
    pub logo: Option<String>,
    /// Page theme colour.
    pub theme_color: Option<String>,
    /// Whether it may call the API.
    pub enabled: bool,
    /// Rotations so far plus one.
    pub secrets_version: i64,
    /// Created, UTC.
    pub created_time: String,
    /// Last changed, UTC.
    pub updated_time: String,
}

impl From<&App> for AppSummary {
    fn from(app: &App) -> Self {
        AppSummary {
            app_id: app.id.to_string(),
            name: app.name.clone(),
            api_key: app.api_key.clone(),
            webhook_url: app.webhook_url.clone(),
            ip_allow: app.ip_allow.iter().map(ToString::to_string).collect(),
            tolerance_percent: app.tolerance.percent.to_string(),
            tolerance_amount: app.tolerance.amount.to_string(),
            display_name: app.branding.display_name.clone(),
            logo: app
                .branding
                .logo_url
                .as_deref()
                .and_then(crate::page::decode_logo)
                .map(|logo| format!("{}, {} bytes", logo.content_type, logo.bytes.len())),
            theme_color: app.branding.theme_color.clone(),
            enabled: app.enabled,
            secrets_version: app.secrets_version,
            created_time: app.created_at.to_iso_micros(),
            updated_time: app.updated_at.to_iso_micros(),
        }
    }
}

/// App administration.
pub struct AppAdmin {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    clock: Arc<dyn Clock>,
}

fn invalid(field: &str, rule: &str) -> ServiceError {
    Rejection::invalid(field, rule).into()
}

impl AppAdmin {
    /// Administration over a store, with the master key's box.
    pub fn new(store: Arc<dyn Store>, secrets: Arc<SecretBox>, clock: Arc<dyn Clock>) -> AppAdmin {
        AppAdmin {
            store,
            secrets,
            clock,
        }
    }

    /// Creates an app and returns its credentials, the only time they are shown.
    pub async fn create(
        &self,
        name: &str,
        webhook_url: Option<&str>,
        ip_allow: &[String],
    ) -> Result<IssuedCredentials, ServiceError> {
        let now = self.clock.now();
        let mut app = App {
            id: AppId::new(format!("app_{}", random_hex(16))),
            name: String::new(),
            api_key: format!("ak_{}", random_hex(32)),
            api_secret_hash: String::new(),
            sign_key_sealed: String::new(),
            webhook_url: None,
            ip_allow: Vec::new(),
            tolerance: UnderpaymentTolerance::default(),
            branding: Branding::default(),
            secrets_version: 1,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        let changes = AppChanges {
            name: Some(name.to_owned()),
            webhook_url: webhook_url.map(str::to_owned),
            ip_allow: Some(ip_allow.to_vec()),
            ..AppChanges::default()
        };
        apply_changes(&mut app, changes)?;
        let credentials = self.new_secrets(&mut app);
        self.store.insert_app(&app).await?;
        Ok(credentials)
    }

    fn new_secrets(&self, app: &mut App) -> IssuedCredentials {
        let api_secret = random_token(32);
        let sign_key = random_alphanumeric(32);
        app.api_secret_hash = hash_secret(&api_secret);
        app.sign_key_sealed = self.secrets.seal(app.id.as_str(), &sign_key);
        IssuedCredentials {
            app_id: app.id.to_string(),
            api_key: app.api_key.clone(),
            api_secret,
            sign_key,
        }
    }

    /// Every app.
    pub async fn list(&self) -> Result<Vec<AppSummary>, ServiceError> {
        Ok(self
            .store
            .apps()
            .await?
            .iter()
            .map(AppSummary::from)
            .collect())
    }

    async fn find(&self, id: &str) -> Result<App, ServiceError> {
        let app = self.store.app(&AppId::new(id)).await?;
        app.ok_or_else(|| {
            Rejection::new(ErrorCode::NotFound, format!("app '{id}' not found")).into()
        })
    }

    /// One app.
    pub async fn show(&self, id: &str) -> Result<AppSummary, ServiceError> {
        Ok(AppSummary::from(&self.find(id).await?))
    }

    /// Changes an app.
    pub async fn update(&self, id: &str, changes: AppChanges) -> Result<AppSummary, ServiceError> {
        let mut app = self.find(id).await?;
        apply_changes(&mut app, changes)?;
        app.updated_at = self.clock.now();
        self.store.update_app(&app).await?;
        Ok(AppSummary::from(&app))
    }

    /// New `apiSecret` and `signKey`; every token issued before stops working.
    pub async fn rotate_secrets(&self, id: &str) -> Result<IssuedCredentials, ServiceError> {
        let mut app = self.find(id).await?;
        let credentials = self.new_secrets(&mut app);
        app.secrets_version = app.secrets_version.saturating_add(1);
        app.updated_at = self.clock.now();
        self.store.update_app(&app).await?;
        Ok(credentials)
    }
}

fn empty_is_none(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn apply_changes(app: &mut App, changes: AppChanges) -> Result<(), ServiceError> {
    if let Some(name) = changes.name {
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        app.name = name;
    }
    if let Some(url) = changes.webhook_url {
        let url = empty_is_none(url);
        if let Some(url) = &url {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.chars().any(char::is_whitespace) || url.len() > 2048 {
                return Err(invalid("webhook-url", "must be an http(s) URL"));
            }
        }
        app.webhook_url = url;
    }
    if let Some(list) = changes.ip_allow {
        app.ip_allow = list
            .iter()
            .flat_map(|item| item.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                IpNetwork::parse(item).ok_or_else(|| {
                    invalid(
                        "ip-allow",
                        &format!("'{item}' is not an IP address or CIDR network"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(percent) = changes.tolerance_percent {
        let value = Decimal::parse(&percent)
            .map_err(|_| invalid("tolerance-percent", "must be a number"))?;
        if value > Decimal::from_integer(100) {
            return Err(invalid("tolerance-percent", "must be between 0 and 100"));
        }
        app.tolerance.percent = value;
    }
    if let Some(amount) = changes.tolerance_amount {
        app.tolerance.amount =
            Decimal::parse(&amount).map_err(|_| invalid("tolerance-amount", "must be a number"))?;
    }
    apply_branding(
        &mut app.branding,
        changes.display_name,
        changes.logo_url,
        changes.theme_color,
    )?;
    if let Some(enabled) = changes.enabled {
        app.enabled = enabled;
    }
    Ok(())
}

/// A 48 KiB image in base64, with its `data:` header.
const MAX_LOGO_URI_LEN: usize = 65_600;

pub(crate) fn apply_branding(
    branding: &mut Branding,
    display_name: Option<String>,
    logo_url: Option<String>,
    theme_color: Option<String>,
) -> Result<(), ServiceError> {
    if let Some(name) = display_name {
        if name.chars().count() > 100 {
            return Err(invalid("display-name", "must be at most 100 characters"));
        }
        branding.display_name = empty_is_none(name);
    }
    if let Some(url) = logo_url {
        // The page loads nothing from elsewhere, so the logo lives in the database.
        let ok = url.is_empty() || crate::page::decode_logo(&url).is_some();
        if !ok || url.len() > MAX_LOGO_URI_LEN {
            return Err(invalid(
                "logo",
                "must be a PNG, JPEG, WebP, GIF or SVG image of at most 48 KiB",
            ));
        }
        branding.logo_url = empty_is_none(url);
    }
    if let Some(color) = theme_color {
        let ok = color.is_empty()
            || (color.len() == 7
                && color.starts_with('#')
                && color[1..].bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(invalid("theme-color", "must be #rrggbb"));
        }
        branding.theme_color = empty_is_none(color);
    }
    Ok(())
}
