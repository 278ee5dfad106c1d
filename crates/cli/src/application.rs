//! The gateway as one value, built one way: `serve`, the sandbox, the acceptance tests and the
//! benchmarks all start it here, so what they exercise is what production runs.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wcheckout_app::Gateway;
use wcheckout_domain::app::IpNetwork;
use wcheckout_domain::ports::Clock;
use wcheckout_http::AppState;
use wcheckout_store::SqlStore;

use crate::config::Config;
use crate::keys;
use crate::runtime::open_store;
use crate::serve::{build_gateway, spawn_workers};

/// A gateway built from its configuration, bound, not serving yet.
pub struct Application {
    config: Config,
    gateway: Arc<Gateway>,
    store: Arc<SqlStore>,
    listener: TcpListener,
}

impl Application {
    /// Binds `server.listen`, then builds as [`Application::build_on`] does.
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let listener = bind(&config.server.listen).await?;
        Application::build_on(listener, config, clock).await
    }

    /// Builds on a listener bound beforehand (to learn an ephemeral port before
    /// `server.public_url` is set): resolves the keys, opens and migrates the store and wires
    /// the use cases, with `clock` as their time.
    pub async fn build_on(
        listener: TcpListener,
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let keys = keys::resolve(config)?;
        let store = open_store(config).await?;
        tracing::info!(engine = ?store.engine(), "database ready");
        let gateway = Arc::new(build_gateway(config, &keys, store.clone(), clock)?);
        Ok(Application {
            config: config.clone(),
            gateway,
            store,
            listener,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves the API in the background (with `/metrics` when a recorder is given: there is
    /// one per process) and starts the workers the configuration enables.
    pub fn start(self, metrics: Option<PrometheusHandle>) -> anyhow::Result<Running> {
        let address = self.address()?;
        let trusted = self
            .config
            .server
            .trusted_proxies
            .iter()
            .filter_map(|p| IpNetwork::parse(p))
            .collect();
        let state = AppState {
            gateway: Arc::clone(&self.gateway),
            trusted_proxies: Arc::new(trusted),
            metrics,
        };
        let (stop, stopped) = watch::channel(false);
        let workers = spawn_workers(&self.config, &self.gateway, &stopped)?;
        let app = wcheckout_http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let mut shutdown = stopped.clone();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.changed().await;
                })
                .await
        });
        Ok(Running {
            address,
            gateway: self.gateway,
            store: self.store,
            stop,
            stopped,
            server,
            workers,
        })
    }
}

/// Binds the API's listener.
pub async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {listen}"))
}

/// A gateway serving in the background.
pub struct Running {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its use cases (for in-process operator actions such as the sandbox's demo order).
    pub gateway: Arc<Gateway>,
    /// Its store.
    pub store: Arc<SqlStore>,
    stop: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// A receiver that turns true when the gateway stops (for workers a caller adds).
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stopped.clone()
    }

    /// Adds a worker that [`Running::stop`] waits for.
    pub fn add_worker(&mut self, worker: JoinHandle<()>) {
        self.workers.push(worker);
    }

    /// Tells the server and the workers to stop, without waiting (for a `Drop`).
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops accepting, lets in-flight requests finish, stops the workers, closes the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        self.signal_stop();
        let served = self.server.await.context("server task failed")?;
        for worker in self.workers {
            let _ = worker.await;
        }
        self.store.close().await;
        served.context("server failed")
    }
}
