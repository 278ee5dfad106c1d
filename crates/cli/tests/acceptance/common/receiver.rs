//! A real webhook receiver on a loopback port: it records every request (raw body, headers,
//! arrival time) and answers as a script says (status, body, delay), so tests can play an
//! integrator's endpoint that fails, times out, or is slow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The acknowledgement W Checkout documents.
pub const ACK: &str = r#"{"retcode":200,"retmsg":"SUCCESS"}"#;

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// HTTP 200 `{"retcode":200,"retmsg":"SUCCESS"}` at once.
    pub fn ok() -> Reply {
        Reply::status(200, ACK)
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Whether W Checkout's rule counts this answer as an acknowledgement.
    pub fn acknowledges(&self) -> bool {
        wcheckout_domain::webhook::acknowledged(self.status, self.body.as_bytes())
    }
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// When it arrived.
    pub at: Instant,
    pub path: String,
    pub headers: HeaderMap,
    /// The raw body bytes.
    pub body: Bytes,
    /// 1 for the first request carrying this `webhook-id`.
    pub nth_of_event: usize,
    /// 1 for the first request the receiver got at all.
    pub nth_overall: usize,
    /// The scripted answer.
    pub reply: Reply,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("webhook body is not JSON ({e}): {:?}", self.body))
    }

    pub fn event_id(&self) -> String {
        self.json()["eventId"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether the receiver acknowledged it (the delay may still have made the sender time out).
    pub fn acknowledged(&self) -> bool {
        self.reply.acknowledges()
    }
}

/// Decides the answer to a request.
pub type Script = Arc<dyn Fn(&Delivery) -> Reply + Send + Sync>;

#[derive(Default)]
struct Gauge {
    now: usize,
    max: usize,
}

struct Shared {
    script: Mutex<Script>,
    log: Mutex<Vec<Delivery>>,
    per_event: Mutex<HashMap<String, usize>>,
    in_flight: Mutex<HashMap<String, Gauge>>,
}

/// A listening receiver; it stops listening when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A script answering every request the same way.
pub fn always(reply: Reply) -> Script {
    Arc::new(move |_| reply.clone())
}

impl Receiver {
    /// A receiver on a free loopback port.
    pub async fn start(script: Script) -> Receiver {
        Receiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script).await
    }

    /// A receiver on `addr` (a port chosen earlier, where nothing listened until now).
    pub async fn start_on(addr: SocketAddr, script: Script) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("receiver cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            log: Mutex::new(Vec::new()),
            per_event: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        });
        // Webhooks are POSTs. Anything else is not recorded: the tests share one process, and
        // another test polling a port it picked (`free_port`) may reach this one once the
        // system has handed the same port out again.
        let app = Router::new()
            .fallback(axum::routing::post(handle).fallback(not_a_delivery))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            shared,
            server,
        }
    }

    /// Stops listening and waits until the port is free again.
    pub async fn stop(mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().unwrap() = script;
    }

    /// Every request so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests carrying `event_id`, in arrival order.
    pub fn deliveries_of(&self, event_id: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.header("webhook-id") == Some(event_id))
            .collect()
    }

    /// Requests to `path` being answered right now.
    pub fn in_flight(&self, path: &str) -> usize {
        let gauges = self.shared.in_flight.lock().unwrap();
        gauges.get(path).map_or(0, |g| g.now)
    }

    /// Most requests to `path` ever answered at the same time.
    pub fn max_in_flight(&self, path: &str) -> usize {
        let gauges = self.shared.in_flight.lock().unwrap();
        gauges.get(path).map_or(0, |g| g.max)
    }

    /// Polls the log every 50 ms until `probe` returns `Some`, at most `timeout`.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        probe: impl Fn(&[Delivery]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.deliveries();
            if let Some(found) = probe(&log) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; the receiver got {} request(s)",
                log.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn not_a_delivery() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let event = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let nth_of_event = {
        let mut counts = shared.per_event.lock().unwrap();
        let count = counts.entry(event).or_default();
        *count += 1;
        *count
    };
    let script = Arc::clone(&*shared.script.lock().unwrap());
    let mut delivery = Delivery {
        at,
        path: path.clone(),
        headers,
        body,
        nth_of_event,
        nth_overall: 0,
        reply: Reply::ok(),
    };
    {
        let mut log = shared.log.lock().unwrap();
        delivery.nth_overall = log.len() + 1;
        delivery.reply = script(&delivery);
        log.push(delivery.clone());
    }
    {
        let mut gauges = shared.in_flight.lock().unwrap();
        let gauge = gauges.entry(path.clone()).or_default();
        gauge.now += 1;
        gauge.max = gauge.max.max(gauge.now);
    }
    // Counted down even when the sender gives up and the connection (and this future) is dropped.
    let _done = InFlight {
        shared: Arc::clone(&shared),
        path,
    };
    let reply = delivery.reply;
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    (
        status,
        [("content-type", "application/json")],
        reply.body.clone(),
    )
        .into_response()
}

struct InFlight {
    shared: Arc<Shared>,
    path: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut gauges) = self.shared.in_flight.lock()
            && let Some(gauge) = gauges.get_mut(&self.path)
        {
            gauge.now = gauge.now.saturating_sub(1);
        }
    }
}
