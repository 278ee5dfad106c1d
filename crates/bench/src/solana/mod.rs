//! The Solana benchmarks: a gateway watching a local Surfnet cluster (the real SVM and token
//! programs behind Solana's JSON-RPC, started through node by `wcheckout_solana::surfnet`) at
//! `finalized`, reading through the counting forwarder.
//!
//! - [`cost`]: the RPC calls per minute of N open `SOL_USDT` orders, idle and with payments.
//! - [`latency`]: a transfer confirmed → its order's `PAID` webhook.
//! - [`catchup`]: transfers made while the gateway is stopped, credited after it starts.
//!
//! Each run starts its own cluster: deposit owners are derived from the same seed in every
//! fresh database, so a cluster shared between runs would hold earlier runs' balances.

pub(crate) mod catchup;
pub(crate) mod cost;
pub(crate) mod latency;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use wcheckout::config::{ChainConfig, Config, TokenConfig};
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_app::wire::CreateCheckoutOrderRequest;
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::token::ChainKey;
use wcheckout_solana::address::SolanaAddress;
use wcheckout_solana::rpc::{Commitment, SolanaRpc};
use wcheckout_solana::surfnet::{PACKAGE, Setup, Surfnet, modules_root};

use crate::gateway::{BenchGateway, base_config};
use crate::rpc_counter::CallCounts;

/// The chain key the gateway watches the cluster as.
pub(crate) const CHAIN: &str = "SOL";
/// Its token.
pub(crate) const TOKEN: &str = "SOL_USDT";
/// Payer wallets the cluster funds (only the first pays: its transfers are one after another).
const PAYERS: usize = 1;

/// Why the Solana benchmarks cannot run here, if they cannot.
pub(crate) fn tools_missing() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !node {
        return Some("`node` is not on the PATH".into());
    }
    modules_root()
        .is_none()
        .then(|| format!("node_modules/{PACKAGE} is missing: run `npm ci` at the repository root"))
}

/// A running Surfnet with one 6-decimal mint and a funded payer, and a client reading it
/// directly (not through the counter: the harness's own reads are not the gateway's).
pub(crate) struct Cluster {
    pub(crate) node: Surfnet,
    pub(crate) rpc: SolanaRpc,
    pub(crate) mint: SolanaAddress,
}

impl Cluster {
    pub(crate) async fn start() -> anyhow::Result<Cluster> {
        let setup = Setup::new(&[6], PAYERS, 1_000_000_000u64 * 1_000_000);
        let node = Surfnet::start(&setup).await.context("starting Surfnet")?;
        let rpc = SolanaRpc::new(std::slice::from_ref(&node.rpc_url), Duration::from_secs(20))?;
        let mint = *node.mints.first().context("Surfnet made no mint")?;
        Ok(Cluster { node, rpc, mint })
    }

    /// Pays `amount` base units to the deposit owner `to`; returns once the transfer is
    /// confirmed, with its signature.
    pub(crate) async fn pay(&self, to: &str, amount: u64) -> anyhow::Result<String> {
        Ok(self.node.pay(0, &self.mint, to, amount).await?)
    }

    /// The highest slot at `commitment` (tried 3 times: on a loaded machine Surfnet can miss
    /// the client's timeout once).
    pub(crate) async fn slot(&self, commitment: Commitment) -> anyhow::Result<u64> {
        let mut tries = 0;
        loop {
            match self.rpc.slot(commitment).await {
                Ok(slot) => return Ok(slot),
                Err(error) if tries >= 2 => return Err(error.into()),
                Err(_) => tries += 1,
            }
        }
    }

    /// The slot of a confirmed transaction.
    pub(crate) async fn slot_of(&self, signature: &str) -> anyhow::Result<u64> {
        let info = self
            .rpc
            .transaction(signature, Commitment::Confirmed)
            .await?
            .with_context(|| format!("transaction {signature} not found"))?;
        Ok(info.slot)
    }

    /// Waits until `slot` is finalized; when it was seen so (polled every 5 ms).
    pub(crate) async fn finalized(&self, slot: u64, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.slot(Commitment::Finalized).await? >= slot {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!("slot {slot} not finalized within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) async fn stop(self) {
        self.node.stop().await;
    }
}

/// The default configuration watching `cluster` as chain `SOL` (`family = "solana"`,
/// `finality = "finalized"`, the default) through `rpc_url` (the counter), with its mint as the
/// 6-decimal `SOL_USDT` priced at 1 USD; payouts off (detection is what is measured).
pub(crate) fn config_with_cluster(
    database_url: &str,
    cluster: &Cluster,
    rpc_url: &str,
) -> anyhow::Result<Config> {
    let mut config = base_config(database_url)?;
    config.chains.clear();
    config.tokens.clear();
    config.payouts.enabled = false;
    config.watcher.enabled = true;
    config.chains.insert(
        CHAIN.into(),
        ChainConfig {
            family: "solana".into(),
            network: None,
            chain_id: 0,
            display_name: Some("Solana (Surfnet)".into()),
            rpc_urls: vec![rpc_url.to_owned()],
            api_urls: Vec::new(),
            ws_url: None,
            confirmations: None,
            finality: Some("finalized".into()),
            enabled: true,
            explorer_tx_url: None,
            wallet_rpc_url: None,
            start_block: None,
        },
    );
    config.tokens.insert(
        TOKEN.into(),
        TokenConfig {
            contract: cluster.mint.to_string(),
            decimals: 6,
            payment_scale: 2,
            enabled: true,
            rate: "1".into(),
        },
    );
    Ok(config)
}

/// An order to pay: its number, deposit owner (base58) and amount in base units.
#[derive(Clone, Debug)]
pub(crate) struct Payable {
    pub(crate) order_no: String,
    pub(crate) owner: String,
    pub(crate) amount: u64,
}

/// Parallel order creators: the use case is what the API calls after checking the signature,
/// which is not what these benchmarks measure.
const CREATORS: u64 = 4;

/// Creates orders `from..to` (numbers `{prefix}-{n}`, `expiredIn` one week) for `app` through
/// the use case, `CREATORS` at a time; in number order.
pub(crate) async fn create_orders(
    gateway: &BenchGateway,
    app: &IssuedCredentials,
    prefix: &str,
    (from, to): (u64, u64),
) -> anyhow::Result<Vec<Payable>> {
    let app = Arc::new(gateway.app(app).await?);
    let mut tasks = Vec::new();
    for creator in 0..CREATORS {
        let (gateway, app) = (Arc::clone(&gateway.gateway), Arc::clone(&app));
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            let mut number = from + creator;
            while number < to {
                let order_no = format!("{prefix}-{number:06}");
                let body: CreateCheckoutOrderRequest = serde_json::from_value(json!({
                    "orderNo": order_no,
                    "orderAmount": format!("{}.{:02}", 1 + number % 90, number % 100),
                    "customerId": "c",
                    "token": TOKEN,
                    "expiredIn": 604_800,
                }))?;
                let view = gateway
                    .create_order(&app, body, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("creating an order: {e}"))?;
                let order = gateway
                    .store
                    .order_by_sysid(&view.sysid)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .context("the order just created")?;
                made.push((
                    number,
                    Payable {
                        order_no,
                        owner: order.deposit_address.to_string(),
                        amount: u64::try_from(order.paying_amount.base_units())?,
                    },
                ));
                number += CREATORS;
            }
            anyhow::Ok(made)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_by_key(|(number, _)| *number);
    Ok(all.into_iter().map(|(_, payable)| payable).collect())
}

/// Waits until the watcher has a cursor at `slot` or above (it has caught up to there).
pub(crate) async fn wait_for_cursor(
    gateway: &BenchGateway,
    slot: u64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let chain = ChainKey::parse(CHAIN).context("chain key")?;
    let deadline = Instant::now() + timeout;
    loop {
        let cursor = gateway.gateway.store.chain_cursor(&chain).await;
        let cursor = cursor.map_err(|e| anyhow::anyhow!("{e}"))?;
        if cursor.is_some_and(|c| c.processed.number >= slot) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the watcher's cursor did not reach slot {slot} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many orders are `PAID`.
pub(crate) async fn paid_orders(gateway: &BenchGateway) -> anyhow::Result<u64> {
    let counts = gateway
        .gateway
        .store
        .count_orders_by_status()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(counts
        .iter()
        .find(|(status, _)| *status == OrderStatus::Paid)
        .map_or(0, |(_, n)| *n))
}

/// Total calls of a count.
pub(crate) fn total(calls: &CallCounts) -> u64 {
    calls.values().map(|m| m.calls).sum()
}

/// `getSlot 12, getBlock 20, …`, most called first.
pub(crate) fn by_method(calls: &CallCounts) -> String {
    let mut list = calls.iter().collect::<Vec<_>>();
    list.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
    let text = list
        .iter()
        .map(|(method, m)| {
            if m.errors > 0 {
                format!("`{method}` {} ({} errors)", m.calls, m.errors)
            } else {
                format!("`{method}` {}", m.calls)
            }
        })
        .collect::<Vec<_>>();
    if text.is_empty() {
        "none".into()
    } else {
        text.join(", ")
    }
}

/// Calls per minute of each method over `elapsed`.
pub(crate) fn per_minute(calls: &CallCounts, elapsed: Duration) -> BTreeMap<String, f64> {
    let minutes = elapsed.as_secs_f64() / 60.0;
    calls
        .iter()
        .map(|(method, m)| (method.clone(), m.calls as f64 / minutes.max(1e-9)))
        .collect()
}

/// A fixed pseudo-random fraction in [0, 1) for `index` (splitmix64).
pub(crate) fn phase(index: u64) -> f64 {
    let mut z = index.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Surfnet's slot time, measured: confirmed slots produced over `elapsed`.
pub(crate) fn slot_ms(slots: u64, elapsed: Duration) -> Option<f64> {
    (slots > 0).then(|| elapsed.as_secs_f64() * 1000.0 / slots as f64)
}
