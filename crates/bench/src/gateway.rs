//! A full gateway in this process, built by `wcheckout serve`'s own `Application`: store, use
//! cases, HTTP API on a loopback port, and the configured background workers.
//!
//! The process-wide Prometheus recorder can be installed only once and the harness starts
//! several gateways, so it is installed once here and its handle given to each.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wcheckout::application::{Application, Running, bind};
use wcheckout::config::{ChainConfig, Config, TokenConfig};
use wcheckout_app::Gateway;
use wcheckout_app::admin::{AppAdmin, IssuedCredentials};
use wcheckout_app::clock::SystemClock;
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::app::App;
use wcheckout_domain::ids::AppId;

use crate::chain::WatchedChain;

/// Deposit addresses come from this seed; not anvil's, so they never coincide with payers.
const BENCH_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

static METRICS: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

fn metrics() -> anyhow::Result<PrometheusHandle> {
    let installed = METRICS.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| e.to_string())
    });
    installed
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install metrics: {e}"))
}

/// The default configuration (`config::load(None)`, so `WCHECKOUT__*` variables apply) on
/// `database_url`, with fixed keys and a free loopback port.
pub(crate) fn base_config(database_url: &str) -> anyhow::Result<Config> {
    let mut config = wcheckout::config::load(None)
        .map_err(|problems| anyhow::anyhow!("configuration: {}", problems.join("; ")))?;
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = std::env::temp_dir();
    config.database.url = database_url.to_owned();
    config.keys.seed = Some(BENCH_MNEMONIC.into());
    config.keys.master_key = Some("22".repeat(32));
    Ok(config)
}

/// [`base_config`] with one chain, `ETH` on EVM or `TRX` on TRON (1 confirmation), and its
/// 6-decimal `ETH_USDT` / `TRX_USDT` at `token` (an anvil contract, written in the family's own
/// form), priced at 1 USD: the node the detection and catch-up benchmarks pay on.
pub(crate) fn config_with_chain(
    database_url: &str,
    chain: &WatchedChain,
    token: EvmAddress,
) -> anyhow::Result<Config> {
    let mut config = base_config(database_url)?;
    config.chains.clear();
    config.tokens.clear();
    let family = chain.family;
    config.chains.insert(
        family.chain_key().into(),
        ChainConfig {
            family: family.domain().as_str().into(),
            network: None,
            chain_id: chain.chain_id,
            display_name: None,
            rpc_urls: vec![chain.rpc_url.clone()],
            api_urls: chain.api_url.iter().cloned().collect(),
            ws_url: chain.ws_url.clone(),
            confirmations: Some(1),
            finality: Some("confirmations".into()),
            enabled: true,
            explorer_tx_url: None,
            wallet_rpc_url: None,
            start_block: None,
        },
    );
    config.tokens.insert(
        family.token_key().into(),
        TokenConfig {
            contract: family.contract_text(token),
            decimals: 6,
            payment_scale: 2,
            enabled: true,
            rate: "1".into(),
        },
    );
    Ok(config)
}

/// A running gateway.
pub(crate) struct BenchGateway {
    /// Its use cases.
    pub(crate) gateway: Arc<Gateway>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base_url: String,
    /// The configuration it runs with (its `public_url` set to the bound address).
    pub(crate) config: Config,
    running: Running,
}

impl BenchGateway {
    /// Binds, then builds and starts the gateway as `wcheckout serve` does (store migrated, API
    /// and workers running), with the harness's shared metrics recorder.
    pub(crate) async fn start(mut config: Config) -> anyhow::Result<BenchGateway> {
        let listener = bind(&config.server.listen).await?;
        let address: SocketAddr = listener.local_addr()?;
        config.server.listen = address.to_string();
        config.server.public_url = format!("http://{address}");
        let problems = config.problems();
        if !problems.is_empty() {
            bail!("invalid configuration: {}", problems.join("; "));
        }
        let application = Application::build_on(listener, &config, Arc::new(SystemClock)).await?;
        let running = application.start(Some(metrics()?))?;
        Ok(BenchGateway {
            gateway: Arc::clone(&running.gateway),
            base_url: format!("http://{address}"),
            config,
            running,
        })
    }

    /// A receiver that turns true when the gateway stops (for workers the harness adds).
    pub(crate) fn stopped(&self) -> watch::Receiver<bool> {
        self.running.stopped()
    }

    /// Adds a worker that the gateway waits for when it stops.
    pub(crate) fn add_worker(&mut self, worker: JoinHandle<()>) {
        self.running.add_worker(worker);
    }

    /// Operator administration of apps (like `wcheckout apps`).
    pub(crate) fn admin(&self) -> AppAdmin {
        AppAdmin::new(
            self.gateway.store.clone(),
            self.gateway.secrets.clone(),
            self.gateway.clock.clone(),
        )
    }

    /// A new app whose webhooks go to `webhook_url`.
    pub(crate) async fn create_app(
        &self,
        name: &str,
        webhook_url: &str,
    ) -> anyhow::Result<IssuedCredentials> {
        self.admin()
            .create(name, Some(webhook_url), &[])
            .await
            .map_err(|e| anyhow::anyhow!("creating an app: {e}"))
    }

    /// The app behind `issued`, as the use cases take it.
    pub(crate) async fn app(&self, issued: &IssuedCredentials) -> anyhow::Result<App> {
        let app = self.gateway.store.app(&AppId::new(&issued.app_id)).await;
        app.map_err(|e| anyhow::anyhow!("{e}"))?
            .context("the app just created")
    }

    /// Stops the API and the workers (letting in-flight work finish) and closes the store.
    pub(crate) async fn stop(self) {
        if let Err(error) = self.running.stop().await {
            eprintln!("stopping the gateway: {error:#}");
        }
    }
}
