#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Black-box webhook tests of the real `wcheckout` binary, on both engines, with a real
//! receiver on loopback: a backlog of 1,000 events survives a SIGKILL and goes out in order per
//! object after the restart; production mode refuses private and plain-HTTP targets (and stops
//! refusing when told to); the operator commands `wcheckout webhook list|show|resend|test`; and
//! the Node.js example receiver verifies and acknowledges real deliveries.
//!
//! Every wait is bounded; every child process is killed when its handle is dropped.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::Receiver as Lines;
use std::time::{Duration, Instant};

use crate::common::TEST_MNEMONIC;
use crate::common::process::{
    Cli, Creds, READY_TIMEOUT, STOP_TIMEOUT, call, config_head, stdout_lines, wait_bounded,
};
use crate::common::receiver::{ACK, Delivery, Receiver, Reply, always};
use crate::on_both_databases;
use serde_json::{Value, json};
use wcheckout_app::clock::SystemClock;
use wcheckout_app::events::envelope_event;
use wcheckout_client::Client;
use wcheckout_client::routes;
use wcheckout_client::signature::verify_webhook;
use wcheckout_domain::events::EventType;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{ChangeSet, ChangeStore, Clock, OutboxFilter, OutboxStore};
use wcheckout_domain::webhook::DeliveryStatus;
use wcheckout_store::{SqlStore, StoreOptions};
use wcheckout_testkit::TempDir;

const WAIT: Duration = Duration::from_secs(30);
const MASTER_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

// ---------------------------------------------------------------------------------------------
// Operator commands
// ---------------------------------------------------------------------------------------------

/// `webhook list --json` with extra arguments.
fn list(cli: &Cli, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["webhook", "list", "--json"];
    args.extend(extra);
    cli.json(&args).as_array().unwrap().clone()
}

/// `webhook show EVENT_ID`.
fn show(cli: &Cli, event_id: &str) -> Value {
    cli.json(&["webhook", "show", event_id])
}

/// Polls `webhook show` until `probe` accepts it (bounded).
async fn wait_show(cli: &Cli, event_id: &str, what: &str, probe: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let shown = show(cli, event_id);
        if probe(&shown) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {shown:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A directory with a sandbox configuration file: no chain watching, short webhook timings.
fn sandbox(dir: &Path, database_url: &str, webhooks: &str) -> Cli {
    let text = format!(
        r#"{head}
[watcher]
enabled = false

[logging]
level = "warn"

[webhooks]
{webhooks}
"#,
        head = config_head(database_url, MASTER_KEY),
    );
    Cli::configured(dir, &text)
}

/// `retry_schedule_secs = [1, 1, …]` (`count` times).
fn every_second(count: usize) -> String {
    format!("retry_schedule_secs = [{}]", vec!["1"; count].join(", "))
}

// ---------------------------------------------------------------------------------------------
// Apps and API calls
// ---------------------------------------------------------------------------------------------

/// An amount as a float-computing client prints it: more digits than an f64 holds, so any
/// re-rendering through a float shows as `19.99`.
const NOISY_AMOUNT: &str = "19.9900000000000001";

/// Creates and cancels an order: one `CHECKOUT_ORDER_CHANGED` (`CANCELLED`) event.
async fn create_and_cancel(client: &Client, order_no: &str) {
    let body = format!(
        r#"{{"orderNo":"{order_no}","orderAmount":{NOISY_AMOUNT},"customerId":"c","token":"ETH_USDT"}}"#
    );
    let created = call(client, "POST", routes::CREATE_ORDER, &body).await;
    assert_eq!(created["orderStatus"], "PAYING", "{created}");
    let cancel = routes::with_query(routes::CANCEL_ORDER, "orderNo", order_no);
    let cancelled = call(client, "GET", &cancel, "").await;
    assert_eq!(cancelled["orderStatus"], "CANCELLED", "{cancelled}");
}

fn now_ms() -> i64 {
    SystemClock.now().millis()
}

fn assert_verifies(delivery: &Delivery, sign_key: &str) {
    assert_eq!(
        verify_webhook(
            sign_key.as_bytes(),
            delivery.header("TIMESTAMP"),
            delivery.header("SIGNATURE"),
            &delivery.body,
            now_ms()
        ),
        Ok(()),
        "a delivery does not verify: {:?}",
        delivery.body
    );
}

/// The `webhook-id`s the receiver acknowledged.
fn acknowledged_ids(log: &[Delivery]) -> HashSet<String> {
    log.iter()
        .filter(|d| d.acknowledged())
        .filter_map(|d| d.header("webhook-id").map(str::to_owned))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// a. 1,000 undelivered events survive a SIGKILL
// ---------------------------------------------------------------------------------------------

/// Orders created and cancelled through the API (one event each).
const CANCELLED_ORDERS: usize = 200;
/// Objects with several events, written through the store, and events per object.
const BULK_OBJECTS: usize = 80;
const BULK_EVENTS: usize = 10;
const BACKLOG: usize = CANCELLED_ORDERS + BULK_OBJECTS * BULK_EVENTS;

async fn backlog_survives_sigkill(label: &str, database_url: &str) {
    let dir = TempDir::new();
    // The integrator's endpoint is down: it answers 500 until the gateway has been killed.
    let down = Receiver::start(always(Reply::status(500, "down for maintenance"))).await;
    let hook = down.addr;
    let webhooks = format!("attempt_timeout_secs = 2\n{}", every_second(100));
    let cli = sandbox(&dir.path, database_url, &webhooks);
    let creds = cli.create_app("Backlog", &["--webhook-url", &down.url("/hook")]);
    let app = AppId::new(creds.app_id.clone());
    let mut gateway = cli.serve("first");

    let client = Arc::new(creds.client(&gateway));
    let mut calls = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = Arc::clone(&client);
        calls.spawn(async move {
            for i in (worker..CANCELLED_ORDERS).step_by(8) {
                create_and_cancel(&client, &format!("kill-{i:03}")).await;
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    // Objects with several events each, written straight into the outbox, round by round.
    let store = SqlStore::open(
        database_url,
        &StoreOptions {
            max_connections: 2,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    for seq in 0..BULK_EVENTS {
        let events = (0..BULK_OBJECTS)
            .map(|object| {
                envelope_event(
                    EventType::CheckoutOrderChanged,
                    &app,
                    format!("bulk:object-{object}"),
                    &json!({"orderNo": format!("bulk-{object}"), "object": object, "seq": seq}),
                    SystemClock.now(),
                )
            })
            .collect();
        store
            .commit(ChangeSet {
                events,
                ..ChangeSet::default()
            })
            .await
            .unwrap();
    }
    let mut expected = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let entries = store
            .list_outbox(&OutboxFilter::default(), 5000)
            .await
            .unwrap();
        assert_eq!(entries.len(), BACKLOG);
        assert!(entries.iter().all(|e| e.status == DeliveryStatus::Pending));
        let tried = entries.iter().filter(|e| e.attempts >= 1).count();
        // Every object's first event is being tried and failing against the dead receiver.
        if tried >= CANCELLED_ORDERS + BULK_OBJECTS {
            expected.extend(entries.into_iter().map(|e| e.event.event_id));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{label}] only {tried} events were attempted before the SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Attempts in flight when the gateway dies: their claims must be taken over after the
    // restart, once their lease (twice the attempt timeout) has run out.
    down.set_script(always(
        Reply::status(500, "down for maintenance").after(Duration::from_millis(1500)),
    ));
    let deadline = Instant::now() + WAIT;
    while down.in_flight("/hook") < 4 {
        assert!(Instant::now() < deadline, "[{label}] no attempt in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight = down.in_flight("/hook");
    gateway.kill();
    drop(gateway);
    let refused = down.deliveries().len();
    down.stop().await;
    let receiver = Receiver::start_on(hook, always(Reply::ok())).await;
    let restarted = Instant::now();
    let gateway = cli.serve("restarted");
    let listening = restarted.elapsed();
    let log = receiver
        .wait_for(Duration::from_secs(180), "the whole backlog", |log| {
            (acknowledged_ids(log).len() >= BACKLOG).then(|| log.to_vec())
        })
        .await;
    let done = log.iter().map(|d| d.at).max().unwrap() - restarted;
    let duplicates = log.len() - acknowledged_ids(&log).len();
    eprintln!(
        "[{label}] backlog of {BACKLOG} events after SIGKILL ({refused} attempts answered 500 \
         before, {in_flight} in flight at the kill): gateway listening {:.3} s after the \
         restart, every event delivered {:.3} s after the restart ({} requests, {duplicates} \
         repeated)",
        listening.as_secs_f64(),
        done.as_secs_f64(),
        log.len()
    );
    assert_eq!(
        acknowledged_ids(&log),
        expected,
        "[{label}] delivered ids differ"
    );

    let mut cancelled = HashSet::new();
    let mut arrivals: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for delivery in &log {
        assert_verifies(delivery, creds.sign_key());
        let body = delivery.json();
        let data = &body["data"];
        if let Some(object) = data["object"].as_u64() {
            arrivals
                .entry(object)
                .or_default()
                .push(data["seq"].as_u64().unwrap());
        } else {
            assert_eq!(data["orderStatus"], "CANCELLED", "{body}");
            cancelled.insert(data["orderNo"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(cancelled.len(), CANCELLED_ORDERS);
    assert_eq!(arrivals.len(), BULK_OBJECTS);
    for (object, seqs) in &arrivals {
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "[{label}] object {object}: events out of order at the receiver: {seqs:?}"
        );
        let distinct: Vec<u64> = seqs
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(distinct, (0..BULK_EVENTS as u64).collect::<Vec<_>>());
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let delivered = OutboxFilter {
            status: Some(DeliveryStatus::Delivered),
            ..OutboxFilter::default()
        };
        let count = store.list_outbox(&delivered, 5000).await.unwrap().len();
        if count == BACKLOG {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{label}] {count} events recorded as delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
    drop(gateway);
}

on_both_databases!(backlog_survives_sigkill);

// ---------------------------------------------------------------------------------------------
// b. Production mode refuses private and plain-HTTP targets
// ---------------------------------------------------------------------------------------------

fn write_private(path: &Path, content: &str) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The single event of an app (bounded wait).
async fn only_event_of(cli: &Cli, app_id: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = list(cli, &["--app", app_id]);
        if let [event] = listed.as_slice() {
            return event["eventId"].as_str().unwrap().to_owned();
        }
        assert!(listed.len() <= 1, "{listed:?}");
        assert!(Instant::now() < deadline, "no event for {app_id}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn production_refuses_private_targets(label: &str, database_url: &str) {
    let receiver = Receiver::start(always(Reply::ok())).await;
    let dir = TempDir::new();
    let seed_file = dir.path.join("seed.secret");
    let master_key_file = dir.path.join("master.secret");
    write_private(&seed_file, TEST_MNEMONIC);
    write_private(&master_key_file, MASTER_KEY);
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"
mode = "production"
public_url = "https://pay.example.com"

[database]
url = "{database_url}"

[keys]
seed_file = "{seed}"
master_key_file = "{master}"

[watcher]
enabled = false

[logging]
level = "warn"

[webhooks]
attempt_timeout_secs = 2
{schedule}
"#,
        seed = seed_file.display(),
        master = master_key_file.display(),
        schedule = every_second(100),
    );
    let cli = Cli::configured(&dir.path, &text);
    let plain_url = receiver.url("/hook");
    let local_url = format!("https://localhost:{}/hook", receiver.addr.port());
    let plain = cli.create_app("Plain", &["--webhook-url", &plain_url]);
    let local = cli.create_app("Local TLS", &["--webhook-url", &local_url]);
    let mut gateway = cli.serve("production");
    create_and_cancel(&plain.client(&gateway), "prod-plain").await;
    create_and_cancel(&local.client(&gateway), "prod-local").await;
    let plain_event = only_event_of(&cli, &plain.app_id).await;
    let local_event = only_event_of(&cli, &local.app_id).await;

    let attempted = |shown: &Value| shown["attempts"].as_array().is_some_and(|a| a.len() >= 2);
    let shown = wait_show(&cli, &plain_event, "refused attempts", attempted).await;
    assert_eq!(shown["status"], "PENDING", "{shown:#}");
    for attempt in shown["attempts"].as_array().unwrap() {
        assert_eq!(attempt["url"], plain_url.as_str());
        assert_eq!(attempt["delivered"], false);
        assert_eq!(attempt["httpStatus"], Value::Null, "{attempt}");
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("https"), "[{label}] {error}");
    }
    let shown = wait_show(&cli, &local_event, "refused attempts", attempted).await;
    for attempt in shown["attempts"].as_array().unwrap() {
        assert_eq!(attempt["url"], local_url.as_str());
        assert_eq!(attempt["httpStatus"], Value::Null, "{attempt}");
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("internal address"), "[{label}] {error}");
        assert!(
            error.contains("127.0.0.1"),
            "[{label}] the refused address is named: {error}"
        );
    }
    assert!(
        shown["lastError"]
            .as_str()
            .unwrap()
            .contains("internal address")
    );
    let refused = cli
        .run_fails(&["webhook", "test", "--app", &plain.app_id])
        .both();
    assert!(refused.contains("must use https"), "{refused}");
    let refused = cli
        .run_fails(&["webhook", "test", "--app", &local.app_id])
        .both();
    assert!(refused.contains("internal address"), "{refused}");
    assert!(
        receiver.deliveries().is_empty(),
        "[{label}] a refused target got a request"
    );

    // The operator opens private targets and plain HTTP: the pending event goes out.
    gateway.kill();
    let opened = cli
        .with("WCHECKOUT__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .with("WCHECKOUT__WEBHOOKS__REQUIRE_HTTPS", "false");
    let gateway = opened.serve("opened");
    let delivered = receiver
        .wait_for(WAIT, "the plain app's event", |log| {
            log.iter()
                .find(|d| d.header("webhook-id") == Some(plain_event.as_str()))
                .cloned()
        })
        .await;
    assert_verifies(&delivered, plain.sign_key());
    assert_eq!(delivered.json()["data"]["orderNo"], "prod-plain");
    let shown = wait_show(&cli, &plain_event, "the plain app's event delivered", |s| {
        s["status"] == "DELIVERED"
    })
    .await;
    let last = shown["attempts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["httpStatus"], 200, "{last}");
    assert_eq!(last["delivered"], true);
    let tested = opened
        .run_ok(&["webhook", "test", "--app", &plain.app_id])
        .stdout;
    assert!(tested.contains("HTTP 200"), "{tested}");
    assert!(tested.contains("acknowledged"), "{tested}");
    assert!(
        receiver.deliveries_of(&local_event).is_empty(),
        "an https URL is never posted in clear text"
    );
    drop(gateway);
}

on_both_databases!(production_refuses_private_targets);

// ---------------------------------------------------------------------------------------------
// c. The operator commands
// ---------------------------------------------------------------------------------------------

fn flaky_down() -> crate::common::receiver::Script {
    Arc::new(|d: &Delivery| {
        if d.path == "/flaky" {
            Reply::status(500, "flaky down")
        } else {
            Reply::ok()
        }
    })
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["eventId"].as_str().unwrap().to_owned())
        .collect()
}

async fn operator_commands(label: &str, database_url: &str) {
    let receiver = Receiver::start(flaky_down()).await;
    let dir = TempDir::new();
    let webhooks = "attempt_timeout_secs = 2\nretry_schedule_secs = [1, 1]\npoll_interval_ms = 100";
    let cli = sandbox(&dir.path, database_url, webhooks);
    let shop = cli.create_app("Shop", &["--webhook-url", &receiver.url("/ok")]);
    let flaky = cli.create_app("Flaky", &["--webhook-url", &receiver.url("/flaky")]);
    let silent = cli.create_app("Silent", &[]);
    let gateway = cli.serve("operator");

    let shop_client = shop.client(&gateway);
    create_and_cancel(&shop_client, "shop-1").await;
    create_and_cancel(&shop_client, "shop-2").await;
    receiver
        .wait_for(WAIT, "the shop's two events", |log| {
            (acknowledged_ids(log).len() == 2).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let boundary = SystemClock.now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let flaky_client = flaky.client(&gateway);
    create_and_cancel(&flaky_client, "flaky-1").await;
    create_and_cancel(&flaky_client, "flaky-2").await;
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        let failed = list(&cli, &["--app", &flaky.app_id, "--status", "FAILED"]);
        if failed.len() == 2 {
            break failed;
        }
        assert!(
            Instant::now() < deadline,
            "[{label}] flaky events never FAILED: {failed:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // list
    let all = list(&cli, &[]);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(ids(&all[..2]), ids(&failed), "newest first");
    for entry in &all {
        let keys: std::collections::BTreeSet<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "appId",
                "attempts",
                "createdTime",
                "deliveredTime",
                "eventId",
                "eventType",
                "lastError",
                "nextAttemptTime",
                "object",
                "status"
            ]
            .into(),
            "{entry}"
        );
        assert_eq!(entry["eventType"], "CHECKOUT_ORDER_CHANGED");
        assert!(
            entry["object"].as_str().unwrap().starts_with("order:"),
            "{entry}"
        );
    }
    let shop_events = list(&cli, &["--app", &shop.app_id]);
    assert_eq!(shop_events.len(), 2);
    for entry in &shop_events {
        assert_eq!(entry["appId"], shop.app_id.as_str());
        assert_eq!(entry["status"], "DELIVERED");
        assert_eq!(entry["attempts"], 1);
        assert!(entry["deliveredTime"].is_string(), "{entry}");
        assert_eq!(entry["lastError"], Value::Null);
        assert_eq!(entry["nextAttemptTime"], Value::Null);
    }
    let failed_all = list(&cli, &["--status", "FAILED"]);
    assert_eq!(ids(&failed_all), ids(&failed));
    for entry in &failed_all {
        assert_eq!(entry["appId"], flaky.app_id.as_str());
        assert_eq!(entry["attempts"], 3, "1 attempt + 2 retries");
        assert!(
            entry["lastError"].as_str().unwrap().contains("HTTP 500"),
            "{entry}"
        );
        assert_eq!(entry["deliveredTime"], Value::Null);
    }
    assert_eq!(
        list(&cli, &["--status", "delivered"]).len(),
        2,
        "status is case-insensitive"
    );
    assert!(list(&cli, &["--status", "PENDING"]).is_empty());
    let since_ms = boundary.millis().to_string();
    assert_eq!(ids(&list(&cli, &["--since", &since_ms])), ids(&failed));
    let since_spaced = boundary.to_spaced_seconds();
    assert_eq!(ids(&list(&cli, &["--since", &since_spaced])), ids(&failed));
    let since_iso = boundary.to_iso_micros();
    assert_eq!(
        ids(&list(&cli, &["--since", &since_iso, "--app", &shop.app_id])),
        Vec::<String>::new()
    );
    let later = (now_ms() + 60_000).to_string();
    assert!(list(&cli, &["--since", &later]).is_empty());
    assert_eq!(ids(&list(&cli, &["--limit", "1"])), ids(&failed[..1]));
    let text = cli.run_ok(&["webhook", "list"]).stdout;
    assert_eq!(text.lines().count(), 4, "{text}");
    for entry in &all {
        let id = entry["eventId"].as_str().unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {text}"));
        assert!(line.contains("CHECKOUT_ORDER_CHANGED"), "{line}");
        assert!(line.contains(entry["status"].as_str().unwrap()), "{line}");
        if entry["status"] == "FAILED" {
            assert!(line.contains("attempts 3"), "{line}");
            assert!(line.contains("HTTP 500"), "{line}");
        }
    }
    let bad = cli
        .run_fails(&["webhook", "list", "--status", "LOST"])
        .both();
    assert!(bad.contains("not PENDING, DELIVERED or FAILED"), "{bad}");
    let bad = cli
        .run_fails(&["webhook", "list", "--since", "yesterday"])
        .both();
    assert!(bad.contains("is not a time"), "{bad}");

    // show
    let first_failed = failed[1]["eventId"].as_str().unwrap().to_owned();
    let second_failed = failed[0]["eventId"].as_str().unwrap().to_owned();
    let shown = show(&cli, &first_failed);
    assert_eq!(shown["eventId"], first_failed.as_str());
    assert_eq!(shown["status"], "FAILED");
    let posted = receiver.deliveries_of(&first_failed);
    assert_eq!(posted.len(), 3);
    assert_eq!(
        shown["body"],
        posted[0].json(),
        "show prints the posted body"
    );
    assert_eq!(shown["body"]["data"]["orderNo"], "flaky-1");
    let attempts = shown["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for (i, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt["attempt"], i + 1);
        assert_eq!(attempt["url"], receiver.url("/flaky").as_str());
        assert_eq!(attempt["httpStatus"], 500);
        assert_eq!(attempt["delivered"], false);
        assert_eq!(attempt["response"], "flaky down");
        assert!(
            attempt["error"].as_str().unwrap().contains("HTTP 500"),
            "{attempt}"
        );
        assert!(attempt["durationMs"].is_u64(), "{attempt}");
        assert!(attempt["startedTime"].is_string(), "{attempt}");
    }
    // The body exactly as delivered, byte for byte: alone with --body, verbatim in the JSON.
    let delivered = std::str::from_utf8(&posted[0].body).unwrap();
    assert!(delivered.contains(NOISY_AMOUNT), "{delivered}");
    assert_eq!(
        cli.run_ok(&["webhook", "show", "--body", &first_failed])
            .stdout,
        delivered
    );
    let pretty = cli.run_ok(&["webhook", "show", &first_failed]).stdout;
    assert!(pretty.contains(delivered), "{pretty}");
    let missing = cli
        .run_fails(&["webhook", "show", "evt_nothing_here"])
        .both();
    assert!(missing.contains("no event evt_nothing_here"), "{missing}");

    // resend
    receiver.set_script(always(Reply::ok()));
    let queued = cli.run_ok(&["webhook", "resend", &first_failed]).stdout;
    assert!(queued.contains("1 event(s) queued"), "{queued}");
    let shown = wait_show(&cli, &first_failed, "the resent event delivered", |s| {
        s["status"] == "DELIVERED"
    })
    .await;
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 4);
    assert_eq!(shown["attempts"][3]["delivered"], true);
    let again = receiver.deliveries_of(&first_failed);
    assert_eq!(again.len(), 4);
    assert_eq!(again[3].body, again[0].body);
    assert_verifies(&again[3], flaky.sign_key());
    assert_eq!(list(&cli, &["--status", "FAILED"]).len(), 1);
    let queued = cli
        .run_ok(&["webhook", "resend", "--app", &flaky.app_id, "--failed"])
        .stdout;
    assert!(queued.contains("1 event(s) queued"), "{queued}");
    wait_show(
        &cli,
        &second_failed,
        "the app's failed event delivered",
        |s| s["status"] == "DELIVERED",
    )
    .await;
    assert_eq!(receiver.deliveries_of(&second_failed).len(), 4);
    let none = cli
        .run_fails(&["webhook", "resend", "--app", &flaky.app_id, "--failed"])
        .both();
    assert!(none.contains("no event matched"), "{none}");
    let usage = cli.run_fails(&["webhook", "resend"]).both();
    assert!(usage.contains("EVENT_ID"), "{usage}");
    cli.run_fails(&["webhook", "resend", "--failed"]);
    let none = cli
        .run_fails(&[
            "webhook",
            "resend",
            "--app",
            &shop.app_id,
            "--since",
            &later,
        ])
        .both();
    assert!(none.contains("no event matched"), "{none}");
    // A delivered event resent by id goes out once more (the receiver dedupes by eventId).
    let shop_event = shop_events[0]["eventId"].as_str().unwrap().to_owned();
    cli.run_ok(&["webhook", "resend", &shop_event]);
    receiver
        .wait_for(WAIT, "the shop event again", |log| {
            (log.iter()
                .filter(|d| d.header("webhook-id") == Some(shop_event.as_str()))
                .count()
                == 2)
                .then_some(())
        })
        .await;

    // test
    let before = receiver.deliveries().len();
    let tested = cli
        .run_ok(&["webhook", "test", "--app", &shop.app_id])
        .stdout;
    let expected = format!("POST {}: HTTP 200", receiver.url("/ok"));
    assert!(tested.contains(&expected), "{tested}");
    assert!(tested.contains("acknowledged"), "{tested}");
    assert!(
        tested.contains(ACK),
        "the receiver's answer is shown: {tested}"
    );
    let log = receiver.deliveries();
    assert_eq!(log.len(), before + 1);
    let test_event = &log[before];
    assert_verifies(test_event, shop.sign_key());
    let body = test_event.json();
    assert_eq!(body["eventType"], "TEST");
    assert!(body["eventId"].as_str().unwrap().starts_with("evt_test_"));
    assert_eq!(test_event.header("webhook-id"), body["eventId"].as_str());
    assert_eq!(list(&cli, &[]).len(), 4, "a test event is not queued");
    receiver.set_script(flaky_down());
    let refused = cli.run(&["webhook", "test", "--app", &flaky.app_id]);
    assert!(!refused.status.success());
    assert!(refused.stdout.contains("HTTP 500"), "{}", refused.both());
    assert!(
        refused.stdout.contains("NOT acknowledged"),
        "{}",
        refused.both()
    );
    assert!(refused.stdout.contains("flaky down"), "{}", refused.both());
    let no_url = cli
        .run_fails(&["webhook", "test", "--app", &silent.app_id])
        .both();
    assert!(no_url.contains("has no webhook URL"), "{no_url}");
    let no_app = cli
        .run_fails(&["webhook", "test", "--app", "app_nobody"])
        .both();
    assert!(no_app.contains("no app app_nobody"), "{no_app}");
    drop(gateway);
}

on_both_databases!(operator_commands);

// ---------------------------------------------------------------------------------------------
// 3. The Node.js example receiver accepts real deliveries
// ---------------------------------------------------------------------------------------------

/// `node examples/webhook-receiver/receiver.mjs`, killed when dropped; its stdout lines
/// (one JSON object per delivery) on a channel.
struct NodeReceiver {
    child: Child,
    lines: Lines<String>,
    url: String,
}

impl NodeReceiver {
    fn start(sign_key: &str) -> NodeReceiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/webhook-receiver/receiver.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .env("WCHECKOUT_SIGN_KEY", sign_key)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node (Node.js is needed for the example receiver)");
        let lines = stdout_lines(&mut child);
        let mut receiver = NodeReceiver {
            child,
            lines,
            url: String::new(),
        };
        let line = receiver.next_line(READY_TIMEOUT);
        receiver.url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line of the Node receiver: {line}"))
            .to_owned();
        receiver
    }

    fn next_line(&self, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("the Node receiver printed nothing within {timeout:?}: {e}"))
    }

    /// The next JSON line with `kind: true` (bounded).
    fn next(&self, kind: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left);
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON from the Node receiver ({e}): {line}"));
            if value[kind] == true {
                return value;
            }
            eprintln!("node receiver: {line}");
        }
    }
}

impl Drop for NodeReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_bounded(&mut self.child, STOP_TIMEOUT);
    }
}

async fn node_receiver_verifies_real_deliveries(label: &str, database_url: &str) {
    let dir = TempDir::new();
    let webhooks = format!(
        "attempt_timeout_secs = 5\n{}\npoll_interval_ms = 100",
        every_second(30)
    );
    let cli = sandbox(&dir.path, database_url, &webhooks);
    let creds = cli.create_app("Node", &[]);
    let node = NodeReceiver::start(creds.sign_key());
    let hook = format!("{}/webhooks/wcheckout", node.url);
    cli.run_ok(&["app", "update", &creds.app_id, "--webhook-url", &hook]);
    let gateway = cli.serve("node");
    let client = creds.client(&gateway);

    create_and_cancel(&client, "node-1").await;
    let accepted = node.next("accepted");
    assert_eq!(
        accepted["eventType"], "CHECKOUT_ORDER_CHANGED",
        "{accepted}"
    );
    assert_eq!(accepted["data"]["orderNo"], "node-1");
    assert_eq!(accepted["data"]["orderStatus"], "CANCELLED");
    let event_id = accepted["eventId"].as_str().unwrap().to_owned();
    let shown = wait_show(&cli, &event_id, "the event delivered to Node", |s| {
        s["status"] == "DELIVERED"
    })
    .await;
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 1, "{shown:#}");
    assert_eq!(shown["attempts"][0]["httpStatus"], 200);
    assert_eq!(shown["attempts"][0]["response"], ACK);

    // Delivered again (an operator resend): acknowledged as a duplicate, not processed twice.
    cli.run_ok(&["webhook", "resend", &event_id]);
    let duplicate = node.next("duplicate");
    assert_eq!(duplicate["eventId"], event_id.as_str());
    wait_show(&cli, &event_id, "the duplicate acknowledged", |s| {
        s["status"] == "DELIVERED" && s["attempts"].as_array().unwrap().len() == 2
    })
    .await;

    // New secrets: the receiver still holds the old signKey and refuses the next delivery.
    let rotated = cli.run_ok(&["app", "rotate-secrets", &creds.app_id, "--json"]);
    let renewed = Creds::parse(&rotated.stdout);
    assert_eq!(
        cli.json(&["app", "show", &creds.app_id])["secretsVersion"],
        2
    );
    assert_ne!(renewed.sign_key(), creds.sign_key());
    let client = renewed.client(&gateway);
    create_and_cancel(&client, "node-2").await;
    let rejected = node.next("rejected");
    assert_eq!(
        rejected["reason"], "SIGNATURE does not match",
        "[{label}] {rejected}"
    );
    let listed = list(&cli, &["--app", &creds.app_id]);
    let newest = listed[0]["eventId"].as_str().unwrap().to_owned();
    assert_ne!(newest, event_id);
    let shown = wait_show(&cli, &newest, "the refused attempt", |s| {
        s["attempts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(shown["attempts"][0]["httpStatus"], 401, "{shown:#}");
    assert_eq!(shown["attempts"][0]["delivered"], false);
    assert_eq!(shown["status"], "PENDING");
    drop(gateway);
    drop(node);
}

on_both_databases!(node_receiver_verifies_real_deliveries);
