//! `wcheckout app …`: operator administration of apps.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use wcheckout_app::admin::{AppAdmin, AppChanges, AppSummary, IssuedCredentials};
use wcheckout_app::clock::SystemClock;
use wcheckout_app::secrets::SecretBox;

use crate::keys;
use crate::runtime::{load_config, open_store};

#[derive(Subcommand)]
pub enum AppCommand {
    /// Create an app and print its credentials (shown only this once).
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// Where webhooks go.
        #[arg(long)]
        webhook_url: Option<String>,
        /// Allowed caller networks, comma-separated CIDRs.
        #[arg(long, value_delimiter = ',')]
        ip_allow: Vec<String>,
        /// Print JSON: {"appId","apiKey","apiSecret","signKey"}.
        #[arg(long)]
        json: bool,
    },
    /// List apps.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one app (without secrets).
    Show {
        /// App id.
        app_id: String,
    },
    /// Change an app.
    Update(UpdateArgs),
    /// Issue a new apiSecret and signKey; tokens issued before stop working.
    RotateSecrets {
        /// App id.
        app_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct UpdateArgs {
    /// App id.
    app_id: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New webhook URL ("" removes it).
    #[arg(long)]
    webhook_url: Option<String>,
    /// New allow-list, comma-separated CIDRs ("" allows every address).
    #[arg(long)]
    ip_allow: Option<String>,
    /// Underpayment tolerance in percent of the amount due.
    #[arg(long)]
    tolerance_percent: Option<String>,
    /// Underpayment tolerance in whole tokens.
    #[arg(long)]
    tolerance_amount: Option<String>,
    /// Name on the payment page ("" removes it).
    #[arg(long)]
    display_name: Option<String>,
    /// Logo on the payment page: a PNG, JPEG, WebP, GIF or SVG file of at most 48 KiB
    /// ("" removes it). The page serves it itself.
    #[arg(long, value_name = "FILE")]
    logo: Option<String>,
    /// Theme colour #rrggbb ("" removes it).
    #[arg(long)]
    theme_color: Option<String>,
    /// Allow the app to call the API.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Refuse the app's tokens and calls.
    #[arg(long)]
    disable: bool,
}

fn print_credentials(credentials: &IssuedCredentials, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(credentials)?);
    } else {
        println!("appId:     {}", credentials.app_id);
        println!("apiKey:    {}", credentials.api_key);
        println!("apiSecret: {}", credentials.api_secret);
        println!("signKey:   {}", credentials.sign_key);
        println!("Store apiSecret and signKey now: they are not shown again.");
    }
    Ok(())
}

fn print_summary(app: &AppSummary) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(app)?);
    Ok(())
}

pub async fn run(config_file: Option<PathBuf>, command: AppCommand) -> anyhow::Result<()> {
    let config = load_config(config_file.as_deref())?;
    let keys = keys::resolve(&config)?;
    let store = open_store(&config).await?;
    let admin = AppAdmin::new(
        store.clone(),
        Arc::new(SecretBox::new(&keys.master_key)),
        Arc::new(SystemClock),
    );
    let result = execute(&admin, command).await;
    store.close().await;
    result
}

async fn execute(admin: &AppAdmin, command: AppCommand) -> anyhow::Result<()> {
    let fail = |e: wcheckout_app::ServiceError| anyhow::anyhow!(e.public_message());
    match command {
        AppCommand::Create {
            name,
            webhook_url,
            ip_allow,
            json,
        } => {
            let credentials = admin
                .create(&name, webhook_url.as_deref(), &ip_allow)
                .await
                .map_err(fail)?;
            print_credentials(&credentials, json)
        }
        AppCommand::List { json } => {
            let apps = admin.list().await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string(&apps)?);
            } else {
                for app in apps {
                    let state = if app.enabled { "enabled" } else { "disabled" };
                    println!("{}  {}  {}  {state}", app.app_id, app.api_key, app.name);
                }
            }
            Ok(())
        }
        AppCommand::Show { app_id } => print_summary(&admin.show(&app_id).await.map_err(fail)?),
        AppCommand::Update(args) => {
            let enabled = if args.enable {
                Some(true)
            } else if args.disable {
                Some(false)
            } else {
                None
            };
            let changes = AppChanges {
                name: args.name,
                webhook_url: args.webhook_url,
                ip_allow: args.ip_allow.map(|list| vec![list]),
                tolerance_percent: args.tolerance_percent,
                tolerance_amount: args.tolerance_amount,
                display_name: args.display_name,
                logo_url: args.logo.as_deref().map(logo_data_uri).transpose()?,
                theme_color: args.theme_color,
                enabled,
            };
            print_summary(&admin.update(&args.app_id, changes).await.map_err(fail)?)
        }
        AppCommand::RotateSecrets { app_id, json } => {
            print_credentials(&admin.rotate_secrets(&app_id).await.map_err(fail)?, json)
        }
    }
}

/// The logo file as a `data:` URI ("" stays "", which removes the logo).
fn logo_data_uri(path: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    if path.is_empty() {
        return Ok(String::new());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the logo {path}"))?;
    let content_type = image_type(&bytes)
        .with_context(|| format!("{path} is not a PNG, JPEG, WebP, GIF or SVG image"))?;
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(format!("data:{content_type};base64,{data}"))
}

/// The image type by the file's first bytes, not its name.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    let text_start = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_lowercase();
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF8") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if text_start.contains("<svg") {
        Some("image/svg+xml")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logo_files_are_recognised_by_content() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a"), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            image_type(b"<?xml version='1.0'?><SVG xmlns='http://www.w3.org/2000/svg'/>"),
            Some("image/svg+xml")
        );
        assert_eq!(image_type(b"<html><script>"), None);
        assert_eq!(logo_data_uri("").unwrap(), "");
        assert!(logo_data_uri("/nonexistent/logo.png").is_err());
    }
}
