//! A fast local webhook receiver: answers `{"retcode":200}` at once, counts deliveries and
//! optionally hands each one (with its arrival time) to the benchmark.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// One delivery as it arrived.
pub(crate) struct Arrival {
    /// Monotonic arrival time.
    pub(crate) at: Instant,
    /// Wall-clock arrival time (to compare with block timestamps).
    pub(crate) wall: SystemTime,
    /// The posted body.
    pub(crate) body: Bytes,
}

struct Shared {
    count: AtomicU64,
    sink: Option<mpsc::UnboundedSender<Arrival>>,
}

/// A running receiver.
pub(crate) struct Receiver {
    /// Where it listens.
    pub(crate) address: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

async fn receive(State(shared): State<Arc<Shared>>, body: Bytes) -> impl IntoResponse {
    let at = Instant::now();
    let wall = SystemTime::now();
    shared.count.fetch_add(1, Ordering::Relaxed);
    if let Some(sink) = &shared.sink {
        let _ = sink.send(Arrival { at, wall, body });
    }
    ([(CONTENT_TYPE, "application/json")], r#"{"retcode":200}"#)
}

impl Receiver {
    /// Listens on a free loopback port; with `sink`, every delivery is also sent there.
    pub(crate) async fn start(
        sink: Option<mpsc::UnboundedSender<Arrival>>,
    ) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            count: AtomicU64::new(0),
            sink,
        });
        let app = Router::new()
            .route("/hook/{app}", post(receive))
            .with_state(Arc::clone(&shared));
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.changed().await;
                })
                .await;
            if let Err(error) = served {
                eprintln!("webhook receiver failed: {error}");
            }
        });
        Ok(Receiver {
            address,
            shared,
            stop,
            server,
        })
    }

    /// The webhook URL for app number `app`.
    pub(crate) fn url(&self, app: usize) -> String {
        format!("http://{}/hook/{app}", self.address)
    }

    /// Deliveries received so far.
    pub(crate) fn count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Stops listening.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        // Idle keep-alive connections close on shutdown; never wait long for a stuck one.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.server).await;
    }
}
