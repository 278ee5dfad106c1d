//! `wcheckout serve`: wires the adapters to the use cases and runs the API and the workers
//! until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::sync::watch;
use wcheckout_app::addresses::AddressAllocator;
use wcheckout_app::chain_health::ChainHealthBoard;
use wcheckout_app::clock::SystemClock;
use wcheckout_app::lease::LeaseHolder;
use wcheckout_app::rates::FixedRates;
use wcheckout_app::secrets::SecretBox;
use wcheckout_app::token_limits::{LoginLimiter, TokenLimiter};
use wcheckout_app::watch_list::OpenDeposits;
use wcheckout_app::watcher::{ChainWatcher, WatcherSettings};
use wcheckout_app::webhooks::{DeliverySettings, WebhookDispatcher};
use wcheckout_app::{Gateway, Settings};
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::chain::ChainReader;
use wcheckout_domain::money::Decimal;
use wcheckout_domain::ports::{Clock, Store};
use wcheckout_domain::token::{Chain, Finality};
use wcheckout_evm::reader::EvmChainReader;
use wcheckout_http::webhook_client::{HttpWebhookSender, TargetPolicy};
use wcheckout_solana::payer::SolanaPayerTransactions;
use wcheckout_solana::reader::SolanaChainReader;
use wcheckout_solana::rpc::{Commitment, SolanaRpc};

use crate::application::{Application, Running};
use crate::config::{ChainConfig, Config, Mode, ProxyUrl};
use crate::keys;
use crate::runtime::{init_logging, load_config};

/// Builds the use-case context from configuration, keys and store.
pub fn build_gateway(
    config: &Config,
    keys: &keys::KeyMaterial,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Gateway> {
    let tokens = config
        .token_registry()
        .map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let spread = Decimal::parse(&config.rates.spread_percent)
        .map_err(|e| anyhow::anyhow!("rates.spread_percent: {e}"))?;
    let rates = FixedRates::new(config.token_rates(), spread).map_err(|e| anyhow::anyhow!(e))?;
    let addresses = AddressAllocator::new(
        Arc::clone(&store),
        Arc::new(crate::families::SeedDeposits::from_seed(&keys.seed)?),
        config.orders.address_block_size,
    );
    Ok(Gateway {
        store,
        clock,
        tokens: Arc::new(tokens),
        rates: Arc::new(rates),
        addresses,
        secrets: Arc::new(SecretBox::new(&keys.master_key)),
        settings: Settings {
            public_url: config.server.public_url.clone(),
            access_token_ttl_secs: config.auth.access_token_ttl_secs,
            refresh_token_ttl_secs: config.auth.refresh_token_ttl_secs,
            monitoring_window_secs: config.orders.monitoring_window_secs,
            expiry_grace_secs: config.orders.expiry_grace_secs,
            settlement_approval_above: config.settlement_approval_above(),
            bank_accounts: config.bank_accounts(),
            secure_cookies: config.server.mode == Mode::Production,
        },
        chain_health: Arc::new(ChainHealthBoard::new(config.watcher.max_head_age_secs)),
        outbox_signal: Arc::new(tokio::sync::Notify::new()),
        hot_wallets: crate::families::hot_wallets(&keys.seed)?,
        payout_signal: Arc::new(tokio::sync::Notify::new()),
        token_limits: TokenLimiter::default(),
        login_limits: LoginLimiter::default(),
        payer_transactions: payer_transactions(config)?,
    })
}

/// What builds the payment page's wallet transactions, for each Solana chain (over the chain's
/// JSON-RPC endpoints, with the watcher's timeout).
fn payer_transactions(
    config: &Config,
) -> anyhow::Result<
    std::collections::HashMap<
        wcheckout_domain::token::ChainKey,
        Arc<dyn wcheckout_domain::chain::PayerTransactions>,
    >,
> {
    let tokens = config
        .token_registry()
        .map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let timeout = Duration::from_millis(config.watcher.rpc_timeout_ms);
    let mut builders = std::collections::HashMap::new();
    for chain in tokens.chains().filter(|c| c.family == ChainFamily::Solana) {
        let rpc = SolanaRpc::new(&config.chains[chain.key.as_str()].rpc_urls, timeout)
            .with_context(|| format!("chains.{}", chain.key))?;
        let builder: Arc<dyn wcheckout_domain::chain::PayerTransactions> =
            Arc::new(SolanaPayerTransactions::new(rpc));
        builders.insert(chain.key.clone(), builder);
    }
    Ok(builders)
}

/// Runs the gateway until SIGINT or SIGTERM.
pub async fn run(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load_config(config_file.as_deref())?;
    init_logging(&config);
    let running = start(&config).await?;
    println!("wcheckout listening on {}", running.address);
    termination().await;
    running.stop().await
}

/// Builds the gateway from `config` and serves it in the background, with `/metrics`.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let application = Application::build(config, Arc::new(SystemClock)).await?;
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install metrics: {e}"))?;
    let running = application.start(Some(metrics))?;
    tracing::info!(address = %running.address, public_url = %config.server.public_url, mode = ?config.server.mode, "serving");
    Ok(running)
}

/// Starts the background workers: expiry, session purging, and per chain a watcher, a payout
/// engine and a reconciler.
pub fn spawn_workers(
    config: &Config,
    gateway: &Arc<Gateway>,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let expiry_interval = Duration::from_millis(config.orders.expiry_interval_ms);
    let mut workers = vec![
        tokio::spawn(wcheckout_app::expiry::run_expiry_worker(
            Arc::clone(gateway),
            expiry_interval,
            stopped.clone(),
        )),
        tokio::spawn(purge_sessions(Arc::clone(gateway), stopped.clone())),
    ];
    if config.watcher.enabled {
        for watcher in chain_watchers(config, gateway)? {
            workers.push(tokio::spawn(watcher.run(stopped.clone())));
        }
    }
    if config.webhooks.enabled {
        let dispatcher = Arc::new(webhook_dispatcher(config, gateway)?);
        workers.push(tokio::spawn(dispatcher.run(stopped.clone())));
    }
    if config.payouts.enabled {
        for engine in crate::payout_workers::payout_engines(config, gateway, &holder(config))? {
            workers.push(tokio::spawn(engine.run(stopped.clone())));
        }
        if let Some(every) = config.reconcile_every() {
            for reconciler in crate::payout_workers::reconcilers(config, gateway, every)? {
                workers.push(tokio::spawn(reconciler.run(stopped.clone())));
            }
        }
    }
    Ok(workers)
}

/// The webhook sender the configuration allows (target policy by mode unless set; direct
/// connections unless `webhooks.proxy_url` names the operator's egress proxy).
pub fn webhook_sender(config: &Config) -> anyhow::Result<HttpWebhookSender> {
    let (allow_private, require_https) = config.webhook_policy();
    HttpWebhookSender::new(
        TargetPolicy {
            allow_private,
            require_https,
        },
        config.webhooks.proxy_url.as_ref().map(ProxyUrl::as_str),
    )
    .map_err(|e| anyhow::anyhow!(e))
}

fn webhook_dispatcher(
    config: &Config,
    gateway: &Arc<Gateway>,
) -> anyhow::Result<WebhookDispatcher> {
    let settings = &config.webhooks;
    let delivery = DeliverySettings {
        retry_schedule_secs: settings.retry_schedule_secs.clone(),
        attempt_timeout: Duration::from_secs(settings.attempt_timeout_secs),
        concurrency: settings.concurrency,
        per_app_concurrency: settings.per_app_concurrency,
        poll_interval: Duration::from_millis(settings.poll_interval_ms),
    };
    Ok(WebhookDispatcher::new(
        Arc::clone(gateway),
        Arc::new(webhook_sender(config)?),
        delivery,
        holder(config),
    ))
}

/// One watcher per configured chain (disabled chains too: their orders still get paid).
pub fn chain_watchers(
    config: &Config,
    gateway: &Arc<Gateway>,
) -> anyhow::Result<Vec<ChainWatcher>> {
    let holder = holder(config);
    let settings = &config.watcher;
    gateway
        .tokens
        .chains()
        .map(|chain| {
            let chain_config = &config.chains[chain.key.as_str()];
            let reader = chain_reader(config, gateway, chain, chain_config)
                .with_context(|| format!("chains.{}", chain.key))?;
            let watcher_settings = WatcherSettings {
                max_blocks_per_scan: max_blocks_per_scan(
                    chain.family,
                    settings.max_blocks_per_scan,
                ),
                poll_interval: Duration::from_millis(settings.poll_interval_ms),
                start_block: chain_config.start_block,
                lease_ttl: Duration::from_secs(settings.lease_ttl_secs),
                max_reorg_depth: settings.max_reorg_depth,
                max_retry_wait: Duration::from_secs(settings.max_retry_secs.max(1)),
                ..WatcherSettings::default()
            };
            Ok(ChainWatcher::new(
                Arc::clone(gateway),
                chain.clone(),
                reader,
                watcher_settings,
                holder.clone(),
                Arc::clone(&gateway.chain_health),
            ))
        })
        .collect()
}

/// The watcher's reader of `chain`: JSON-RPC logs by block range on EVM and TRON; on Solana,
/// per deposit account over the chain's open orders.
fn chain_reader(
    config: &Config,
    gateway: &Arc<Gateway>,
    chain: &Chain,
    chain_config: &ChainConfig,
) -> anyhow::Result<Arc<dyn ChainReader>> {
    let timeout = Duration::from_millis(config.watcher.rpc_timeout_ms);
    if chain.family == ChainFamily::Solana {
        let rpc = SolanaRpc::new(&chain_config.rpc_urls, timeout)?;
        let watch_list = OpenDeposits::new(Arc::clone(gateway), &chain.key);
        let mut reader = SolanaChainReader::new(
            Arc::new(rpc),
            solana_commitment(chain.finality),
            Some(Arc::new(watch_list)),
        );
        // Sweeps are paid for by the hot wallet: its transactions show which deposit
        // accounts to list even when their amounts read as before.
        if let Address::Solana(hot_wallet) = gateway.hot_wallet(chain)? {
            reader = reader.with_hot_wallet(hot_wallet);
        }
        return Ok(Arc::new(reader));
    }
    let reader = EvmChainReader::new(
        chain.key.as_str(),
        &chain_config.rpc_urls,
        chain_config.ws_url.as_deref(),
        timeout,
    )?
    .with_family(chain.family);
    Ok(Arc::new(reader))
}

/// The commitment a Solana chain is read at: `finalized`, or `confirmed` when finality counts
/// slots after it.
pub fn solana_commitment(finality: Finality) -> Commitment {
    match finality {
        Finality::Finalized | Finality::Safe => Commitment::Finalized,
        Finality::Confirmations(_) => Commitment::Confirmed,
    }
}

/// TRON's nodes answer `eth_getLogs` for at most 5,000 blocks; wider configured scans are cut
/// to that (the reader halves a range refused for its results as well).
fn max_blocks_per_scan(family: ChainFamily, configured: u64) -> u64 {
    match family {
        ChainFamily::Tron => configured.min(TRON_MAX_LOG_BLOCKS),
        ChainFamily::Evm | ChainFamily::Solana => configured,
    }
}

/// The widest `eth_getLogs` range java-tron serves by default (`maxBlockRange`).
const TRON_MAX_LOG_BLOCKS: u64 = 5_000;

/// Names this run in leases: the gateway's identity (`server.instance_id`) and this process
/// (see `wcheckout_app::lease`).
fn holder(config: &Config) -> String {
    LeaseHolder::this_process(&config.server.instance_id).to_string()
}

/// Deletes expired tokens and remembered signatures once a minute.
async fn purge_sessions(gateway: Arc<Gateway>, mut stopped: watch::Receiver<bool>) {
    loop {
        if let Err(error) = gateway.store.purge_expired(gateway.clock.now()).await {
            tracing::warn!(%error, "purging expired sessions failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `wcheckout check-config`.
pub fn check_config(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load_config(config_file.as_deref())?;
    // Comments, so that the whole output is TOML: it can be read, diffed and loaded again.
    println!("# configuration is valid");
    println!("# the effective configuration (defaults, file, environment), secrets redacted");
    println!();
    print!("{}", config.to_redacted_toml()?);
    Ok(())
}
