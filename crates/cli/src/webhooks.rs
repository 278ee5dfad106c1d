//! `wcheckout webhook …`: the delivery log and resending, for operators.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::ExposeSecret;
use serde_json::json;
use wcheckout_app::clock::SystemClock;
use wcheckout_app::secrets::{SecretBox, random_hex};
use wcheckout_app::webhooks::delivery_headers;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{
    Clock, DeliveryAttempt, OutboxEntry, OutboxFilter, Store, WebhookSender,
};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::webhook::{DeliveryStatus, acknowledged};

use crate::keys;
use crate::runtime::{load_config, open_store};
use crate::serve::webhook_sender;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// List events, newest first.
    List {
        /// Only this app's.
        #[arg(long)]
        app: Option<String>,
        /// Only PENDING, DELIVERED or FAILED ones.
        #[arg(long)]
        status: Option<String>,
        /// Only those created at or after (epoch ms, `yyyy-MM-dd HH:mm:ss` or ISO 8601, UTC).
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one event with its body (the exact bytes delivered) and every attempt.
    Show {
        /// The eventId.
        event_id: String,
        /// Print only the body, byte for byte as it was delivered (to check a signature).
        #[arg(long)]
        body: bool,
    },
    /// Deliver again: one event, or an app's failed events.
    Resend(ResendArgs),
    /// Send a signed test event to an app's webhook URL now and show the answer.
    Test {
        /// The app.
        #[arg(long)]
        app: String,
    },
}

#[derive(Args)]
pub struct ResendArgs {
    /// The eventId to deliver again.
    event_id: Option<String>,
    /// Every matching event of this app.
    #[arg(long, conflicts_with = "event_id")]
    app: Option<String>,
    /// Only failed events (with --app).
    #[arg(long, requires = "app")]
    failed: bool,
    /// Only events created at or after this time (with --app).
    #[arg(long, requires = "app")]
    since: Option<String>,
}

fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_flexible(text).with_context(|| {
        format!("'{text}' is not a time (epoch ms, yyyy-MM-dd HH:mm:ss, ISO 8601)")
    })
}

fn parse_status(text: &str) -> anyhow::Result<DeliveryStatus> {
    DeliveryStatus::parse(&text.to_ascii_uppercase())
        .with_context(|| format!("'{text}' is not PENDING, DELIVERED or FAILED"))
}

pub async fn run(config_file: Option<PathBuf>, command: WebhookCommand) -> anyhow::Result<()> {
    let config = load_config(config_file.as_deref())?;
    let store = open_store(&config).await?;
    let result = match command {
        WebhookCommand::List {
            app,
            status,
            since,
            limit,
            json,
        } => {
            let filter = OutboxFilter {
                app: app.map(AppId::new),
                status: status.as_deref().map(parse_status).transpose()?,
                since: since.as_deref().map(parse_time).transpose()?,
            };
            list(store.as_ref(), &filter, limit, json).await
        }
        WebhookCommand::Show { event_id, body } => show(store.as_ref(), &event_id, body).await,
        WebhookCommand::Resend(args) => resend(store.as_ref(), args).await,
        WebhookCommand::Test { app } => {
            let keys = keys::resolve(&config)?;
            let secrets = SecretBox::new(&keys.master_key);
            let timeout = std::time::Duration::from_secs(config.webhooks.attempt_timeout_secs);
            let sender = webhook_sender(&config)?;
            test(store.as_ref(), &secrets, (&sender, timeout), &app).await
        }
    };
    store.close().await;
    result
}

fn entry_json(entry: &OutboxEntry) -> serde_json::Value {
    json!({
        "eventId": entry.event.event_id,
        "eventType": entry.event.event_type.as_str(),
        "appId": entry.event.app_id.as_str(),
        "object": entry.event.object_key,
        "status": entry.status.as_str(),
        "attempts": entry.attempts,
        "createdTime": entry.event.created_at.to_iso_micros(),
        "nextAttemptTime": (entry.status == DeliveryStatus::Pending).then(|| entry.next_attempt_at.to_iso_micros()),
        "deliveredTime": entry.delivered_at.map(|t| t.to_iso_micros()),
        "lastError": entry.last_error,
    })
}

fn attempt_json(attempt: &DeliveryAttempt) -> serde_json::Value {
    json!({
        "attempt": attempt.attempt,
        "startedTime": attempt.started_at.to_iso_micros(),
        "durationMs": attempt.duration_ms,
        "url": attempt.url,
        "httpStatus": attempt.http_status,
        "delivered": attempt.delivered,
        "error": attempt.error,
        "response": attempt.response_excerpt,
    })
}

async fn list(
    store: &dyn Store,
    filter: &OutboxFilter,
    limit: u32,
    as_json: bool,
) -> anyhow::Result<()> {
    let entries = store.list_outbox(filter, limit).await?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&entries.iter().map(entry_json).collect::<Vec<_>>())?
        );
        return Ok(());
    }
    for entry in &entries {
        println!(
            "{}  {:<24} {:<9} attempts {:<2} {}  {}",
            entry.event.event_id,
            entry.event.event_type.as_str(),
            entry.status.as_str(),
            entry.attempts,
            entry.event.created_at.to_spaced_seconds(),
            entry.last_error.as_deref().unwrap_or(""),
        );
    }
    Ok(())
}

async fn show(store: &dyn Store, event_id: &str, body_only: bool) -> anyhow::Result<()> {
    let (entry, attempts) = store
        .outbox_event(event_id)
        .await?
        .with_context(|| format!("no event {event_id}"))?;
    if body_only {
        print!("{}", entry.event.body);
        return Ok(());
    }
    let mut shown = entry_json(&entry);
    shown["attempts"] = json!(attempts.iter().map(attempt_json).collect::<Vec<_>>());
    // The body is written as the bytes that were delivered: parsed into a `Value` its numbers
    // would come back re-rendered through binary floating point (`19.99` for what was sent as
    // `19.9900000000000001`). Only a body that is not JSON is shown as a string.
    let body = serde_json::value::RawValue::from_string(entry.event.body.clone());
    let text = match body {
        Ok(raw) => serde_json::to_string_pretty(&ShownEvent {
            entry: shown,
            body: &raw,
        })?,
        Err(_) => {
            shown["body"] = json!(entry.event.body);
            serde_json::to_string_pretty(&shown)?
        }
    };
    println!("{text}");
    Ok(())
}

/// An event as `webhook show` prints it: its fields, then its body verbatim.
#[derive(serde::Serialize)]
struct ShownEvent<'a> {
    #[serde(flatten)]
    entry: serde_json::Value,
    body: &'a serde_json::value::RawValue,
}

async fn resend(store: &dyn Store, args: ResendArgs) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let count = match (&args.event_id, &args.app) {
        (Some(event_id), _) => {
            store
                .requeue(&OutboxFilter::default(), Some(event_id), now)
                .await?
        }
        (None, Some(app)) => {
            let filter = OutboxFilter {
                app: Some(AppId::new(app.clone())),
                status: args.failed.then_some(DeliveryStatus::Failed),
                since: args.since.as_deref().map(parse_time).transpose()?,
            };
            store.requeue(&filter, None, now).await?
        }
        (None, None) => bail!("give an EVENT_ID, or --app APP (with --failed and/or --since)"),
    };
    if count == 0 {
        bail!("no event matched");
    }
    println!(
        "{count} event(s) queued for delivery; a running gateway delivers them within a second"
    );
    Ok(())
}

/// Sends a signed test event through `sender` with the configured attempt timeout.
async fn test(
    store: &dyn Store,
    secrets: &SecretBox,
    (sender, timeout): (&dyn WebhookSender, std::time::Duration),
    app_id: &str,
) -> anyhow::Result<()> {
    let app = store
        .app(&AppId::new(app_id))
        .await?
        .with_context(|| format!("no app {app_id}"))?;
    let url = app.webhook_url.clone().with_context(|| {
        format!("app {app_id} has no webhook URL (wcheckout app update {app_id} --webhook-url URL)")
    })?;
    let sign_key = secrets
        .open(app.id.as_str(), &app.sign_key_sealed)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = SystemClock.now();
    let event_id = format!("evt_test_{}", random_hex(16));
    let body = json!({
        "eventId": event_id,
        "eventType": "TEST",
        "timestamp": now.seconds(),
        "data": {"message": "wcheckout webhook test", "appId": app.id.as_str()},
    })
    .to_string();
    let headers = delivery_headers(&event_id, sign_key.expose_secret().as_bytes(), &body, now);
    match sender.post(&url, &headers, &body, timeout).await {
        Ok(answer) => {
            let ok = acknowledged(answer.status, &answer.body);
            println!(
                "POST {url}: HTTP {} — {}",
                answer.status,
                if ok {
                    "acknowledged"
                } else {
                    "NOT acknowledged"
                }
            );
            println!("{}", String::from_utf8_lossy(&answer.body));
            if !ok {
                bail!("the receiver must answer 2xx with an empty body, retcode 200 or SUCCESS");
            }
            Ok(())
        }
        Err(error) => bail!("POST {url} failed: {error}"),
    }
}
