//! A loopback JSON-RPC forwarder that counts the calls passing through it, by method, and the
//! `eth_getLogs` calls the node refused: the TRON catch-up puts it between the gateway (and the
//! raw fetch) and the stand-in, so that the ranges the reader halves show in the call count.
//! It forwards the bytes as they are; only requests and small answers are parsed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// An answer at least this long is a result, not a refusal; it is not parsed.
const REFUSAL_MAX_BYTES: usize = 4096;

/// Calls of one method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MethodCalls {
    pub(crate) calls: u64,
    /// Answered with a JSON-RPC error (single calls only).
    pub(crate) errors: u64,
}

/// Calls by method since the last [`RpcCounter::take`].
pub(crate) type CallCounts = BTreeMap<String, MethodCalls>;

struct Shared {
    upstream: String,
    client: reqwest::Client,
    counts: Mutex<CallCounts>,
}

/// A running forwarder.
pub(crate) struct RpcCounter {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl RpcCounter {
    /// Listens on a free loopback port and forwards every POST to `upstream`.
    pub(crate) async fn start(upstream: &str) -> anyhow::Result<RpcCounter> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            client: reqwest::Client::builder().no_proxy().build()?,
            counts: Mutex::new(CallCounts::new()),
        });
        let app = Router::new()
            .route("/", post(forward))
            .with_state(Arc::clone(&shared));
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.changed().await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Ok(RpcCounter {
            address,
            shared,
            stop,
            server,
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// The counts so far, which start again from zero.
    pub(crate) fn take(&self) -> CallCounts {
        std::mem::take(
            &mut *self
                .shared
                .counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

async fn forward(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let methods = methods_of(&body);
    let answer = shared
        .client
        .post(&shared.upstream)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let (status, answer) = match answer {
        Ok(response) => (response.status(), response.bytes().await),
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let refused = methods.len() == 1 && is_error(&answer);
    {
        let mut counts = shared.counts.lock().unwrap_or_else(PoisonError::into_inner);
        for method in methods {
            let entry = counts.entry(method).or_default();
            entry.calls += 1;
            entry.errors += u64::from(refused);
        }
    }
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, [(CONTENT_TYPE, "application/json")], answer).into_response()
}

/// The methods of a JSON-RPC request or batch.
fn methods_of(body: &[u8]) -> Vec<String> {
    let method = |call: &Value| call["method"].as_str().unwrap_or("?").to_owned();
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(calls)) => calls.iter().map(method).collect(),
        Ok(call) => vec![method(&call)],
        Err(_) => vec!["(not JSON)".into()],
    }
}

/// Whether a single call's answer is a JSON-RPC error.
fn is_error(answer: &[u8]) -> bool {
    answer.len() < REFUSAL_MAX_BYTES
        && serde_json::from_slice::<Value>(answer).is_ok_and(|value| value.get("error").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_of_calls_and_batches() {
        assert_eq!(
            methods_of(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[]}"#),
            vec!["eth_getLogs"]
        );
        assert_eq!(
            methods_of(br#"[{"method":"a"},{"method":"b"}]"#),
            vec!["a", "b"]
        );
        assert!(is_error(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"query returned more than 10000 results"}}"#
        ));
        assert!(!is_error(br#"{"jsonrpc":"2.0","id":1,"result":[]}"#));
    }
}
