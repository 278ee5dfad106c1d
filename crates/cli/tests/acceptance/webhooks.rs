#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Webhook acceptance tests, in process, on both engines, against a real HTTP receiver on
//! loopback: what a paid, overpaid and cancelled order announce and how it is signed; retries
//! through a 500, a timeout and an unacknowledging 200; the schedule running out and an operator
//! resend; per-object order; a slow app not holding up the others.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::receiver::{Delivery, Receiver, Reply, always};
use crate::common::{Db, TestGateway, succeeded, usdt_order};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use wcheckout::config::Config;
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_app::events::envelope_event;
use wcheckout_client::signature::{standard_webhook_signature, verify_webhook};
use wcheckout_domain::events::EventType;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{
    ChangeSet, ChangeStore, Clock, DeliveryAttempt, OutboxEntry, OutboxFilter, OutboxStore,
};
use wcheckout_domain::webhook::DeliveryStatus;

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    wcheckout_app::clock::SystemClock.now().millis()
}

/// `Base64(HMAC-SHA512(signKey, TIMESTAMP + body))`, computed here without the product's code.
fn spec_signature(sign_key: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(sign_key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Standard Webhooks: `v1,` + `Base64(HMAC-SHA256(key, id.timestamp.body))`.
fn standard_signature(sign_key: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(sign_key.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks every header of a delivery against `sign_key`; returns the parsed body.
fn assert_signed(delivery: &Delivery, sign_key: &str) -> Value {
    let timestamp = delivery.header("TIMESTAMP").expect("TIMESTAMP header");
    let signature = delivery.header("SIGNATURE").expect("SIGNATURE header");
    let millis: i64 = timestamp.parse().expect("TIMESTAMP is a number");
    assert!(
        (now_ms() - millis).abs() < 120_000,
        "TIMESTAMP {timestamp} is epoch milliseconds of the attempt"
    );
    assert_eq!(
        verify_webhook(
            sign_key.as_bytes(),
            Some(timestamp),
            Some(signature),
            &delivery.body,
            now_ms()
        ),
        Ok(()),
        "verify_webhook refuses a real delivery"
    );
    assert_eq!(
        signature,
        spec_signature(sign_key, timestamp, &delivery.body),
        "SIGNATURE is not Base64(HMAC-SHA512(signKey, TIMESTAMP + raw body))"
    );
    assert!(
        verify_webhook(
            b"another key",
            Some(timestamp),
            Some(signature),
            &delivery.body,
            now_ms()
        )
        .is_err(),
        "another key verifies"
    );
    let body = delivery.json();
    let event_id = body["eventId"].as_str().unwrap();
    assert_eq!(delivery.header("webhook-id"), Some(event_id));
    let seconds = delivery
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    assert_eq!(
        seconds.parse::<i64>().unwrap(),
        millis.div_euclid(1000),
        "webhook-timestamp is the attempt's time in seconds"
    );
    let standard = delivery
        .header("webhook-signature")
        .expect("webhook-signature");
    assert_eq!(
        standard,
        standard_signature(sign_key, event_id, seconds, &delivery.body)
    );
    assert_eq!(
        standard,
        standard_webhook_signature(sign_key.as_bytes(), event_id, seconds, &delivery.body)
    );
    assert!(
        delivery
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        delivery.headers
    );
    body
}

/// The envelope has exactly `{eventId, eventType, timestamp, data}`, `timestamp` in seconds.
fn assert_envelope(body: &Value, event_type: &str) {
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["data", "eventId", "eventType", "timestamp"]),
        "{body}"
    );
    assert!(
        body["eventId"].as_str().unwrap().starts_with("evt_"),
        "{body}"
    );
    assert_eq!(body["eventType"], event_type, "{body}");
    let seconds = body["timestamp"].as_i64().expect("timestamp is an integer");
    assert!(
        (now_ms() / 1000 - seconds).abs() < 600,
        "timestamp {seconds} is not epoch seconds of the change"
    );
    assert!(body["data"].is_object(), "{body}");
}

/// `data` has exactly the fields of the info object, with the same values except `volatile`.
fn assert_same_object(data: &Value, info: &Value, volatile: &[&str]) {
    let data = data.as_object().unwrap();
    let info = info.as_object().unwrap();
    let data_keys: BTreeSet<&String> = data.keys().collect();
    let info_keys: BTreeSet<&String> = info.keys().collect();
    assert_eq!(
        data_keys, info_keys,
        "webhook data and info object differ in fields"
    );
    for (key, value) in data {
        if !volatile.contains(&key.as_str()) {
            assert_eq!(
                value, &info[key],
                "field {key}: webhook {value}, info {}",
                info[key]
            );
        }
    }
}

/// A delivery of `event_type` whose `data[field] == value`.
fn find<'a>(
    log: &'a [Delivery],
    event_type: &str,
    field: &str,
    value: &str,
) -> Option<&'a Delivery> {
    log.iter().find(|d| {
        let body = d.json();
        body["eventType"] == event_type && body["data"][field] == value
    })
}

async fn create_order(
    gw: &TestGateway,
    app: &IssuedCredentials,
    order_no: &str,
    amount: &str,
) -> Value {
    let customer = json!({"customerId": "c-hooks"});
    gw.created_order(app, usdt_order(order_no, amount, customer))
        .await
}

async fn cancel_order(gw: &TestGateway, app: &IssuedCredentials, order_no: &str) -> Value {
    let cancelled = succeeded(&gw.cancel_order(app, order_no).await);
    assert_eq!(cancelled["orderStatus"], "CANCELLED");
    cancelled
}

async fn app_with_hook(gw: &TestGateway, url: &str) -> IssuedCredentials {
    gw.admin.create("Hooks", Some(url), &[]).await.unwrap()
}

/// Waits (bounded) until the event's delivery is in `status`; returns it with its attempts.
async fn wait_status(
    gw: &TestGateway,
    event_id: &str,
    status: DeliveryStatus,
    timeout: Duration,
) -> (OutboxEntry, Vec<DeliveryAttempt>) {
    eventually(
        timeout,
        &format!("{event_id} {}", status.as_str()),
        || async {
            let found = gw.store.outbox_event(event_id).await.unwrap();
            found.filter(|(entry, _)| entry.status == status)
        },
    )
    .await
}

/// Webhooks fast enough for tests: short timeout and retries.
fn quick(config: &mut Config, timeout_secs: u64, schedule: &[i64]) {
    config.webhooks.attempt_timeout_secs = timeout_secs;
    config.webhooks.retry_schedule_secs = schedule.to_vec();
}

// ---------------------------------------------------------------------------------------------
// a. What paid, overpaid and cancelled orders announce
// ---------------------------------------------------------------------------------------------

async fn orders_announce_their_changes_signed(db: Db) {
    let receiver = Receiver::start(always(Reply::ok())).await;
    let chain = TestChain::start(31337).await;
    let Some(gw) = TestGateway::start_with(db, |c| chain.configure(c, "ETH", 1)).await else {
        return;
    };
    let app = app_with_hook(&gw, &receiver.url("/hooks/wcheckout")).await;
    let key = app.sign_key.clone();

    // Paid: a real ERC-20 transfer of exactly the amount due.
    let order = create_order(&gw, &app, "hook-paid", "12.5").await;
    let address = order["depositAddress"].as_str().unwrap().to_owned();
    let tx = chain.pay(1, chain.usdt, &address, usd("12.50")).await;
    let paid = receiver
        .wait_for(WAIT, "the PAID event", |log| {
            find(log, "CHECKOUT_ORDER_CHANGED", "orderNo", "hook-paid").cloned()
        })
        .await;
    assert_eq!(paid.path, "/hooks/wcheckout");
    let body = assert_signed(&paid, &key);
    assert_envelope(&body, "CHECKOUT_ORDER_CHANGED");
    let data = &body["data"];
    assert_eq!(data["orderStatus"], "PAID", "{body}");
    assert_eq!(data["txHash"], tx.as_str());
    assert_eq!(data["paidAmount"].to_string(), "12.5");
    assert_eq!(data["orderAmount"].to_string(), "12.5");
    assert_eq!(data["token"], "ETH_USDT");
    assert_eq!(data["depositAddress"], address.as_str());
    assert_eq!(data["sysid"], order["sysid"]);
    let info = gw.order(&app, "hook-paid").await;
    assert_same_object(data, &info, &["expiredIn", "confirmations"]);
    let event_id = body["eventId"].as_str().unwrap().to_owned();
    let (entry, attempts) = wait_status(&gw, &event_id, DeliveryStatus::Delivered, WAIT).await;
    assert_eq!(entry.attempts, 1);
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].http_status, Some(200));
    assert_eq!(
        entry.event.body.as_bytes(),
        &paid.body[..],
        "the stored body is what was posted"
    );

    // Overpaid: the order is PAID and the excess is an OVER_PAID abnormal payment.
    let order = create_order(&gw, &app, "hook-over", "10").await;
    let address = order["depositAddress"].as_str().unwrap().to_owned();
    let tx = chain.pay(2, chain.usdt, &address, usd("10.75")).await;
    let over_paid = receiver
        .wait_for(WAIT, "the ABNORMAL_PAYMENT event", |log| {
            find(log, "ABNORMAL_PAYMENT", "orderNo", "hook-over").cloned()
        })
        .await;
    let body = assert_signed(&over_paid, &key);
    assert_envelope(&body, "ABNORMAL_PAYMENT");
    let data = &body["data"];
    assert_eq!(data["type"], "OVER_PAID", "{body}");
    assert_eq!(data["status"], "PENDING");
    assert_eq!(data["amount"], "0.75");
    assert_eq!(data["pendingAmount"], "0.75");
    assert_eq!(data["hash"], tx.as_str());
    assert_eq!(data["token"], "ETH_USDT");
    for field in ["abnormalPaymentNo", "createdTime", "updatedTime"] {
        assert!(data[field].is_string(), "{field} in {body}");
    }
    let listed = gw
        .client(&app)
        .list_abnormal_payments(&json!({"orderNo": "hook-over"}))
        .await
        .unwrap();
    let records = listed.retdata()["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 1, "{}", listed.body);
    assert_same_object(data, &records[0], &[]);
    let paid = receiver
        .wait_for(WAIT, "the overpaid order's PAID event", |log| {
            find(log, "CHECKOUT_ORDER_CHANGED", "orderNo", "hook-over").cloned()
        })
        .await;
    let body = assert_signed(&paid, &key);
    assert_envelope(&body, "CHECKOUT_ORDER_CHANGED");
    assert_eq!(body["data"]["orderStatus"], "PAID");
    assert_eq!(body["data"]["paidAmount"].to_string(), "10.75");

    // Cancelled.
    create_order(&gw, &app, "hook-cancel", "3").await;
    let cancelled = cancel_order(&gw, &app, "hook-cancel").await;
    let delivery = receiver
        .wait_for(WAIT, "the CANCELLED event", |log| {
            find(log, "CHECKOUT_ORDER_CHANGED", "orderNo", "hook-cancel").cloned()
        })
        .await;
    let body = assert_signed(&delivery, &key);
    assert_envelope(&body, "CHECKOUT_ORDER_CHANGED");
    assert_eq!(body["data"]["orderStatus"], "CANCELLED");
    assert_same_object(&body["data"], &cancelled, &["expiredIn"]);

    // Every event went out once (each was acknowledged at once), and nothing else was sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = receiver.deliveries();
    let ids: HashSet<String> = log.iter().map(Delivery::event_id).collect();
    assert_eq!(
        ids.len(),
        log.len(),
        "an acknowledged event was delivered again"
    );
    let kinds: Vec<(String, String, String)> = log
        .iter()
        .map(|d| {
            let body = d.json();
            (
                body["eventType"].as_str().unwrap().to_owned(),
                body["data"]["orderNo"].as_str().unwrap().to_owned(),
                body["data"]["orderStatus"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        kinds,
        [
            ("ABNORMAL_PAYMENT", "hook-over", "-"),
            ("CHECKOUT_ORDER_CHANGED", "hook-cancel", "CANCELLED"),
            ("CHECKOUT_ORDER_CHANGED", "hook-over", "PAID"),
            ("CHECKOUT_ORDER_CHANGED", "hook-paid", "PAID"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
}

// ---------------------------------------------------------------------------------------------
// b. Retries: 500, timeout, unacknowledging 200, then success; the schedule running out; resend
// ---------------------------------------------------------------------------------------------

async fn retries_until_acknowledged_then_gives_up_and_resends(db: Db) {
    let script = Arc::new(|d: &Delivery| {
        match (
            d.json()["data"]["orderNo"].as_str().unwrap_or(""),
            d.nth_of_event,
        ) {
            ("retry-flaky", 1) => Reply::status(500, "internal error"),
            // Longer than the attempt timeout (1 s): the gateway gives up waiting.
            ("retry-flaky", 2) => Reply::ok().after(Duration::from_millis(2500)),
            ("retry-flaky", 3) => Reply::status(200, r#"{"retcode":500}"#),
            ("retry-flaky", _) => Reply::ok(),
            _ => Reply::status(500, "always down"),
        }
    });
    let receiver = Receiver::start(script).await;
    let Some(gw) = TestGateway::start_with(db, |c| quick(c, 1, &[1, 1, 1, 1])).await else {
        return;
    };
    let app = app_with_hook(&gw, &receiver.url("/hook")).await;

    create_order(&gw, &app, "retry-flaky", "5").await;
    cancel_order(&gw, &app, "retry-flaky").await;
    let first = receiver
        .wait_for(WAIT, "a first attempt", |log| log.first().cloned())
        .await;
    let event_id = first.event_id();
    let (entry, attempts) = wait_status(&gw, &event_id, DeliveryStatus::Delivered, WAIT).await;
    let seen = receiver.deliveries_of(&event_id);
    assert_eq!(seen.len(), 4, "attempts at the receiver");
    for delivery in &seen {
        assert_eq!(
            delivery.body, first.body,
            "every attempt posts the same bytes"
        );
        assert_eq!(delivery.event_id(), event_id);
        assert_signed(delivery, &app.sign_key);
    }
    let timestamps: HashSet<&str> = seen
        .iter()
        .map(|d| d.header("TIMESTAMP").unwrap())
        .collect();
    let signatures: HashSet<&str> = seen
        .iter()
        .map(|d| d.header("SIGNATURE").unwrap())
        .collect();
    assert_eq!(
        timestamps.len(),
        4,
        "each attempt is signed with its own TIMESTAMP"
    );
    assert_eq!(signatures.len(), 4, "each attempt has its own SIGNATURE");
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900),
            "retried after {gap:?}, not 1 s"
        );
    }
    assert!(
        seen[2].at - seen[1].at >= Duration::from_millis(1900),
        "the timed-out attempt lasted the 1 s timeout before the 1 s delay"
    );

    assert_eq!(entry.attempts, 4);
    assert_eq!(entry.event.body.as_bytes(), &first.body[..]);
    assert!(entry.delivered_at.is_some());
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    let url = receiver.url("/hook");
    assert!(
        attempts
            .iter()
            .all(|a| a.url.as_deref() == Some(url.as_str()))
    );
    let (http_500, timeout, not_acked, ok) =
        (&attempts[0], &attempts[1], &attempts[2], &attempts[3]);
    assert_eq!(http_500.http_status, Some(500));
    assert!(!http_500.delivered);
    assert!(
        http_500.error.as_deref().unwrap().contains("HTTP 500"),
        "{http_500:?}"
    );
    assert_eq!(http_500.response_excerpt.as_deref(), Some("internal error"));
    assert_eq!(timeout.http_status, None, "{timeout:?}");
    assert!(!timeout.delivered);
    assert!(
        timeout.error.as_deref().unwrap().contains("timed out"),
        "{timeout:?}"
    );
    assert!(
        (900..2400).contains(&timeout.duration_ms),
        "the attempt gave up after the 1 s timeout: {timeout:?}"
    );
    assert_eq!(not_acked.http_status, Some(200));
    assert!(!not_acked.delivered);
    assert!(
        not_acked
            .error
            .as_deref()
            .unwrap()
            .contains("without acknowledging"),
        "{not_acked:?}"
    );
    assert_eq!(
        not_acked.response_excerpt.as_deref(),
        Some(r#"{"retcode":500}"#)
    );
    assert_eq!(ok.http_status, Some(200));
    assert!(ok.delivered);
    assert_eq!(ok.error, None);
    assert_eq!(
        ok.response_excerpt.as_deref(),
        Some(crate::common::receiver::ACK)
    );

    // A receiver that always fails: 1 attempt + 4 retries, then FAILED and left alone.
    create_order(&gw, &app, "retry-down", "5").await;
    cancel_order(&gw, &app, "retry-down").await;
    let down = receiver
        .wait_for(WAIT, "the second event", |log| {
            find(log, "CHECKOUT_ORDER_CHANGED", "orderNo", "retry-down").cloned()
        })
        .await;
    let down_id = down.event_id();
    let (entry, attempts) = wait_status(&gw, &down_id, DeliveryStatus::Failed, WAIT).await;
    assert_eq!(entry.attempts, 5);
    assert_eq!(attempts.len(), 5);
    assert!(
        attempts
            .iter()
            .all(|a| a.http_status == Some(500) && !a.delivered)
    );
    assert!(
        entry.last_error.as_deref().unwrap().contains("HTTP 500"),
        "{entry:?}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        receiver.deliveries_of(&down_id).len(),
        5,
        "a FAILED event is not retried"
    );
    let listed = gw
        .store
        .list_outbox(
            &OutboxFilter {
                status: Some(DeliveryStatus::Failed),
                ..OutboxFilter::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].event.event_id, down_id);

    // The operator resends the failed events of the app once the receiver works again.
    receiver.set_script(always(Reply::ok()));
    let failed = OutboxFilter {
        app: Some(AppId::new(app.app_id.clone())),
        status: Some(DeliveryStatus::Failed),
        since: None,
    };
    assert_eq!(gw.gateway.resend_webhooks(&failed, None).await.unwrap(), 1);
    let (entry, attempts) = wait_status(&gw, &down_id, DeliveryStatus::Delivered, WAIT).await;
    assert_eq!(entry.attempts, 6);
    assert!(attempts[5].delivered);
    let again = receiver.deliveries_of(&down_id);
    assert_eq!(again.len(), 6);
    assert_eq!(again[5].body, down.body, "a resend posts the same body");
    assert_signed(&again[5], &app.sign_key);
    assert_eq!(gw.gateway.resend_webhooks(&failed, None).await.unwrap(), 0);
    // Resending one delivered event by id delivers it once more.
    let one = gw
        .gateway
        .resend_webhooks(&OutboxFilter::default(), Some(&event_id))
        .await
        .unwrap();
    assert_eq!(one, 1);
    let (entry, _) = eventually(WAIT, "the resent event delivered again", || async {
        let found = gw.store.outbox_event(&event_id).await.unwrap();
        found.filter(|(e, _)| e.status == DeliveryStatus::Delivered && e.attempts == 5)
    })
    .await;
    assert_eq!(entry.attempts, 5);
    assert_eq!(receiver.deliveries_of(&event_id).len(), 5);
}

// ---------------------------------------------------------------------------------------------
// c. Events of one object arrive in order; objects interleave
// ---------------------------------------------------------------------------------------------

const OBJECTS: usize = 4;
const PER_OBJECT: usize = 25;

fn sequenced_event(
    app: &AppId,
    object: usize,
    seq: usize,
    gw: &TestGateway,
) -> wcheckout_domain::events::OutboxEvent {
    envelope_event(
        EventType::CheckoutOrderChanged,
        app,
        format!("test:object-{object}"),
        &json!({"orderNo": format!("object-{object}"), "object": object, "seq": seq}),
        gw.clock.now(),
    )
}

/// `(object, seq)` of a delivery made by [`sequenced_event`].
fn object_and_seq(delivery: &Delivery) -> (usize, usize) {
    let data = &delivery.json()["data"];
    let number = |field: &str| usize::try_from(data[field].as_u64().unwrap()).unwrap();
    (number("object"), number("seq"))
}

async fn events_of_an_object_arrive_in_order(db: Db) {
    // The first 12 requests fail: every object's first event is retried a few times.
    let receiver = Receiver::start(Arc::new(|d: &Delivery| {
        if d.nth_overall <= 12 {
            Reply::status(500, "not yet")
        } else {
            Reply::ok()
        }
    }))
    .await;
    let Some(gw) = TestGateway::start_with(db, |c| quick(c, 2, &[1; 30])).await else {
        return;
    };
    let app = AppId::new(app_with_hook(&gw, &receiver.url("/hook")).await.app_id);
    // Five commits of twenty events, each commit a slice of every object's sequence.
    for round in 0..5 {
        let mut events = Vec::new();
        for seq in round * 5..(round + 1) * 5 {
            for object in 0..OBJECTS {
                events.push(sequenced_event(&app, object, seq, &gw));
            }
        }
        gw.store
            .commit(ChangeSet {
                events,
                ..ChangeSet::default()
            })
            .await
            .unwrap();
        gw.gateway.outbox_signal.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = OBJECTS * PER_OBJECT;
    let log = receiver
        .wait_for(Duration::from_secs(60), "every event acknowledged", |log| {
            let acked: HashSet<String> = log
                .iter()
                .filter(|d| d.acknowledged())
                .map(Delivery::event_id)
                .collect();
            (acked.len() == total).then(|| log.to_vec())
        })
        .await;
    assert!(log.iter().take(12).all(|d| !d.acknowledged()));

    let mut arrivals: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut acknowledged: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for delivery in &log {
        let (object, seq) = object_and_seq(delivery);
        arrivals.entry(object).or_default().push(seq);
        if delivery.acknowledged() {
            acknowledged.entry(object).or_default().push(seq);
        }
    }
    for (object, seqs) in &arrivals {
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "object {object}: a later event arrived before an earlier one: {seqs:?}"
        );
        assert_eq!(
            acknowledged[object],
            (0..PER_OBJECT).collect::<Vec<_>>(),
            "object {object}: each event acknowledged once, in order"
        );
    }
    let retried = arrivals.values().map(|s| s.len()).sum::<usize>() - total;
    assert_eq!(retried, 12, "only the 12 failed attempts were repeated");
    // Different objects do not wait for each other: their deliveries interleave.
    let order: Vec<usize> = log
        .iter()
        .filter(|d| d.acknowledged())
        .map(|d| object_and_seq(d).0)
        .collect();
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > OBJECTS * 2,
        "objects were delivered one after the other, not side by side: {order:?}"
    );
    for object in 0..OBJECTS {
        let first = order.iter().position(|o| *o == object).unwrap();
        let last = order.iter().rposition(|o| *o == object).unwrap();
        assert!(
            order[first..last].iter().any(|o| *o != object),
            "object {object} was delivered in one block: {order:?}"
        );
    }
    for delivery in log.iter().step_by(17) {
        let (entry, _) = gw
            .store
            .outbox_event(&delivery.event_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, DeliveryStatus::Delivered);
    }
}

// ---------------------------------------------------------------------------------------------
// d. A slow app does not hold up the others
// ---------------------------------------------------------------------------------------------

async fn a_slow_app_does_not_hold_up_others(db: Db) {
    let receiver = Receiver::start(Arc::new(|d: &Delivery| {
        if d.path == "/slow" {
            Reply::ok().after(Duration::from_secs(3))
        } else {
            Reply::ok()
        }
    }))
    .await;
    let Some(gw) = TestGateway::start_with(db, |c| quick(c, 15, &[15])).await else {
        return;
    };
    let per_app = gw_per_app_concurrency();
    let slow = AppId::new(app_with_hook(&gw, &receiver.url("/slow")).await.app_id);
    let fast = AppId::new(app_with_hook(&gw, &receiver.url("/fast")).await.app_id);
    let queue = |app: &AppId, prefix: &str, count: usize| {
        let events = (0..count)
            .map(|i| {
                envelope_event(
                    EventType::CheckoutOrderChanged,
                    app,
                    format!("test:{prefix}-{i}"),
                    &json!({"orderNo": format!("{prefix}-{i}")}),
                    gw.clock.now(),
                )
            })
            .collect::<Vec<_>>();
        ChangeSet {
            events,
            ..ChangeSet::default()
        }
    };
    gw.store.commit(queue(&slow, "slow", 200)).await.unwrap();
    gw.gateway.outbox_signal.notify_one();
    receiver
        .wait_for(WAIT, "the slow app's first requests", |log| {
            (log.iter().filter(|d| d.path == "/slow").count() >= per_app).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let queued = Instant::now();
    gw.store.commit(queue(&fast, "fast", 20)).await.unwrap();
    gw.gateway.outbox_signal.notify_one();
    let fast_log = receiver
        .wait_for(Duration::from_secs(20), "the fast app's 20 events", |log| {
            let fast: Vec<Delivery> = log.iter().filter(|d| d.path == "/fast").cloned().collect();
            (fast.len() >= 20).then_some(fast)
        })
        .await;
    let slowest = fast_log.iter().map(|d| d.at - queued).max().unwrap();
    eprintln!(
        "[{db:?}] fast app: 20 events delivered within {:.3} s while the slow app (3 s per \
         request, 200 queued) had {} requests in flight at most",
        slowest.as_secs_f64(),
        receiver.max_in_flight("/slow")
    );
    assert!(
        slowest <= Duration::from_millis(1500),
        "the fast app waited {slowest:?} behind the slow one"
    );
    assert!(
        receiver.max_in_flight("/slow") <= per_app,
        "the slow app had {} deliveries in flight, more than webhooks.per_app_concurrency = {per_app}",
        receiver.max_in_flight("/slow")
    );
}

fn gw_per_app_concurrency() -> usize {
    wcheckout::config::load(None)
        .unwrap()
        .webhooks
        .per_app_concurrency
}

/// A payment the watcher credits wakes the dispatcher: its PAID event is posted at once, not
/// at the dispatcher's next poll (here a minute away).
async fn a_credit_is_posted_without_waiting_for_the_poll(db: Db) {
    let receiver = Receiver::start(always(Reply::ok())).await;
    let chain = TestChain::start(31337).await;
    let Some(gw) = TestGateway::start_with(db, |c| {
        chain.configure(c, "ETH", 1);
        c.webhooks.poll_interval_ms = 60_000;
    })
    .await
    else {
        return;
    };
    let app = app_with_hook(&gw, &receiver.url("/hooks/wcheckout")).await;
    let order = create_order(&gw, &app, "hook-at-once", "3").await;
    let address = order["depositAddress"].as_str().unwrap().to_owned();
    // The dispatcher's first poll has passed by now; the next is a minute away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    chain.pay(1, chain.usdt, &address, usd("3")).await;
    let paid = receiver
        .wait_for(Duration::from_secs(10), "the PAID event", |log| {
            find(log, "CHECKOUT_ORDER_CHANGED", "orderNo", "hook-at-once").cloned()
        })
        .await;
    assert_eq!(paid.json()["data"]["orderStatus"], "PAID");
}

on_both_engines_with_db!(
    orders_announce_their_changes_signed,
    retries_until_acknowledged_then_gives_up_and_resends,
    events_of_an_object_arrive_in_order,
    a_slow_app_does_not_hold_up_others,
    a_credit_is_posted_without_waiting_for_the_poll,
);
