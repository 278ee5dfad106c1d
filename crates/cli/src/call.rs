//! `wcheckout sign` and `wcheckout call`: signing without hand-computed HMACs.

use std::io::Read;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use wcheckout_client::signature::{SignedParts, sign_request};
use wcheckout_client::{Client, Credentials};

#[derive(Args)]
pub struct SignArgs {
    /// The app's signKey.
    #[arg(long, env = "WCHECKOUT_SIGN_KEY", hide_env_values = true)]
    sign_key: String,
    /// HTTP method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// Path with optional query string (`/checkout/order/info?orderNo=1`).
    #[arg(long)]
    path: String,
    /// Exact body text to send.
    #[arg(long, default_value = "")]
    body: String,
    /// Epoch milliseconds (default: now).
    #[arg(long)]
    timestamp: Option<String>,
}

fn now_ms() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    since.as_millis().to_string()
}

/// Prints the `SIGNATURE` and `TIMESTAMP` headers for a request.
pub fn sign(args: &SignArgs) -> anyhow::Result<()> {
    let timestamp = args.timestamp.clone().unwrap_or_else(now_ms);
    let (path, query) = args.path.split_once('?').unwrap_or((&args.path, ""));
    let method = args.method.to_ascii_uppercase();
    let parts = SignedParts {
        method: &method,
        path,
        query,
        body: args.body.as_bytes(),
    };
    println!(
        "SIGNATURE: {}",
        sign_request(args.sign_key.as_bytes(), &parts, &timestamp)
    );
    println!("TIMESTAMP: {timestamp}");
    Ok(())
}

#[derive(Args)]
pub struct CallArgs {
    /// Gateway base URL.
    #[arg(long, env = "WCHECKOUT_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// JSON file from `wcheckout app create --json` holding apiKey, apiSecret and signKey.
    #[arg(long, env = "WCHECKOUT_CREDENTIALS")]
    credentials: Option<PathBuf>,
    /// apiKey (instead of --credentials).
    #[arg(long, env = "WCHECKOUT_API_KEY")]
    api_key: Option<String>,
    /// apiSecret (instead of --credentials).
    #[arg(long, env = "WCHECKOUT_API_SECRET", hide_env_values = true)]
    api_secret: Option<String>,
    /// signKey (instead of --credentials).
    #[arg(long, env = "WCHECKOUT_SIGN_KEY", hide_env_values = true)]
    sign_key: Option<String>,
    /// HTTP method.
    method: String,
    /// Path with optional query string.
    path: String,
    /// Body text; `-` reads it from standard input.
    body: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsFile {
    api_key: String,
    api_secret: String,
    sign_key: String,
}

fn credentials(args: &CallArgs) -> anyhow::Result<Credentials> {
    if let Some(file) = &args.credentials {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let parsed: CredentialsFile = serde_json::from_str(&text)
            .context("credentials file must be the JSON of `app create --json`")?;
        return Ok(Credentials {
            api_key: parsed.api_key,
            api_secret: parsed.api_secret,
            sign_key: parsed.sign_key,
        });
    }
    match (&args.api_key, &args.api_secret, &args.sign_key) {
        (Some(api_key), Some(api_secret), Some(sign_key)) => Ok(Credentials {
            api_key: api_key.clone(),
            api_secret: api_secret.clone(),
            sign_key: sign_key.clone(),
        }),
        _ => anyhow::bail!("give --credentials FILE, or --api-key, --api-secret and --sign-key"),
    }
}

/// Sends the request and prints the response body; the signature check goes to stderr.
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.url, credentials(&args)?);
    let body = match args.body.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text
        }
        Some(text) => text.to_owned(),
        None => String::new(),
    };
    let response = client
        .call(&args.method.to_ascii_uppercase(), &args.path, &body)
        .await?;
    match serde_json::from_str::<serde_json::Value>(&response.body) {
        Ok(json) => println!("{}", serde_json::to_string_pretty(&json)?),
        Err(_) => println!("{}", response.body),
    }
    let check = match response.signature_valid {
        Some(true) => "response signature: valid",
        Some(false) => "response signature: INVALID",
        None => "response signature: absent",
    };
    eprintln!("HTTP {}; {check}", response.status);
    Ok(())
}
