//! The configuration's schema: every section and key, with its default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::payouts::{BankAccountConfig, PayoutsConfig, SettlementsConfig, SweepsConfig};

/// Whether the gateway runs for real money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Local trials: generated keys allowed, private webhook targets allowed.
    Sandbox,
    /// Real money: explicit keys, HTTPS public URL.
    Production,
}

/// `[server]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Public base URL (payment pages); defaults to `http://{listen}`.
    pub public_url: String,
    /// `sandbox` or `production`.
    pub mode: Mode,
    /// Proxies whose `X-Forwarded-For` is believed (CIDR list).
    pub trusted_proxies: Vec<String>,
    /// Directory for the embedded database and generated keys.
    pub data_dir: PathBuf,
    /// This gateway's stable name in leases (default: the host name). A restarted process with
    /// the same name takes its own leases back at once; give each gateway its own.
    pub instance_id: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            mode: Mode::Sandbox,
            trusted_proxies: Vec::new(),
            data_dir: PathBuf::from("./wcheckout-data"),
            instance_id: String::new(),
        }
    }
}

/// `[database]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` or `postgres://USER@HOST:PORT/DB`; defaults to SQLite in `data_dir`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 16,
        }
    }
}

/// `[keys]`. Secrets belong in files or the environment, never in a shared config file.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// File holding the BIP-39 mnemonic.
    pub seed_file: Option<PathBuf>,
    /// The mnemonic itself (use `WCHECKOUT__KEYS__SEED`).
    pub seed: Option<String>,
    /// File holding the 32-byte master key as 64 hex digits.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself (use `WCHECKOUT__KEYS__MASTER_KEY`).
    pub master_key: Option<String>,
}

impl std::fmt::Debug for KeysConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |set: bool| if set { "[REDACTED]" } else { "unset" };
        f.debug_struct("KeysConfig")
            .field("seed_file", &self.seed_file)
            .field("seed", &shown(self.seed.is_some()))
            .field("master_key_file", &self.master_key_file)
            .field("master_key", &shown(self.master_key.is_some()))
            .finish()
    }
}

/// `[auth]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Access token lifetime.
    pub access_token_ttl_secs: i64,
    /// Refresh token lifetime.
    pub refresh_token_ttl_secs: i64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_token_ttl_secs: 1800,
            refresh_token_ttl_secs: 7 * 24 * 3600,
        }
    }
}

/// `[orders]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersConfig {
    /// How often the expiry worker looks for ended payment windows.
    pub expiry_interval_ms: u64,
    /// Deposit address indexes reserved per database round trip.
    pub address_block_size: u64,
    /// How long after its payment window an order's deposit address is still watched
    /// (late payments and overpayments are recorded within it).
    pub monitoring_window_secs: i64,
    /// How long an ended order waits for a lagging chain watcher before it expires anyway.
    pub expiry_grace_secs: i64,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        OrdersConfig {
            expiry_interval_ms: 1000,
            address_block_size: 20,
            monitoring_window_secs: 7 * 24 * 3600,
            expiry_grace_secs: 900,
        }
    }
}

/// `[watcher]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatcherConfig {
    /// Whether this process watches the chains. Several processes may (one leads per chain);
    /// API-only processes can turn it off.
    pub enabled: bool,
    /// Wait between rounds when caught up and no WebSocket announces new heads.
    pub poll_interval_ms: u64,
    /// Most blocks per `eth_getLogs` range (providers cap it).
    pub max_blocks_per_scan: u64,
    /// Timeout of one RPC call before the next endpoint is tried.
    pub rpc_timeout_ms: u64,
    /// How long a watcher's lease lasts; another process takes over after it.
    pub lease_ttl_secs: u64,
    /// Reorg checkpoints examined when looking for where the chain forked.
    pub max_reorg_depth: u32,
    /// A chain whose newest head is older than this many seconds is stalled: `/health` says
    /// `degraded` (0: never).
    pub max_head_age_secs: u64,
    /// While rounds fail (the node down), the wait between attempts doubles up to this.
    pub max_retry_secs: u64,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        WatcherConfig {
            enabled: true,
            poll_interval_ms: 1000,
            max_blocks_per_scan: 1000,
            rpc_timeout_ms: 10_000,
            lease_ttl_secs: 15,
            max_reorg_depth: 256,
            max_head_age_secs: 120,
            max_retry_secs: 30,
        }
    }
}

/// `[webhooks]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Whether this process delivers webhooks (several may; each event goes to one at a time).
    pub enabled: bool,
    /// Let webhooks reach private, loopback and link-local addresses (default: sandbox yes,
    /// production no).
    pub allow_private_targets: Option<bool>,
    /// Refuse `http://` webhook URLs (default: production yes, sandbox no).
    pub require_https: Option<bool>,
    /// Seconds before each retry after a failed attempt.
    pub retry_schedule_secs: Vec<i64>,
    /// Longest an attempt may take.
    pub attempt_timeout_secs: u64,
    /// Deliveries in flight at once in this process.
    pub concurrency: usize,
    /// Deliveries in flight at once to one app.
    pub per_app_concurrency: usize,
    /// How often to look for due events when no new event announces itself.
    pub poll_interval_ms: u64,
    /// The operator's egress proxy for webhooks; none means direct connections (proxies in
    /// the environment are ignored).
    pub proxy_url: Option<ProxyUrl>,
}

/// `webhooks.proxy_url`, which may carry credentials: shown redacted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProxyUrl(pub(super) String);

impl ProxyUrl {
    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            enabled: true,
            allow_private_targets: None,
            require_https: None,
            retry_schedule_secs: wcheckout_domain::webhook::RETRY_SCHEDULE_SECS.to_vec(),
            attempt_timeout_secs: wcheckout_domain::webhook::ATTEMPT_TIMEOUT_SECS,
            concurrency: 64,
            per_app_concurrency: 8,
            poll_interval_ms: 500,
            proxy_url: None,
        }
    }
}

impl Config {
    /// The webhook target policy, with the mode deciding what is not set.
    pub fn webhook_policy(&self) -> (bool, bool) {
        let sandbox = self.server.mode == Mode::Sandbox;
        let allow_private = self.webhooks.allow_private_targets.unwrap_or(sandbox);
        let require_https = self.webhooks.require_https.unwrap_or(!sandbox);
        (allow_private, require_https)
    }
}

/// `[rates]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RatesConfig {
    /// Added to every token's rate, in percent.
    pub spread_percent: String,
}

impl Default for RatesConfig {
    fn default() -> Self {
        RatesConfig {
            spread_percent: "0".into(),
        }
    }
}

/// `[logging]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter (`info`, `wcheckout=debug,info`).
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// `[chains.KEY]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// How the chain is built: `evm` (the default), `tron` or `solana`.
    #[serde(default = "evm", skip_serializing_if = "is_evm")]
    pub family: String,
    /// A public network whose chain id, name, explorer link and stablecoins (`{KEY}_USDT`,
    /// `{KEY}_USDC`, `{KEY}_WUSD`) fill what the file does not set: `mainnet` or `sepolia`
    /// (`mainnet` or `nile` on TRON, `mainnet` or `devnet` on Solana; see `networks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// EIP-155 chain id (required unless `network` gives it; 0 means not set). Never set on
    /// Solana, which has none.
    #[serde(default)]
    pub chain_id: u64,
    /// Name shown to payers.
    #[serde(default)]
    pub display_name: Option<String>,
    /// JSON-RPC endpoints, tried in order (on TRON the node's Ethereum-compatible `/jsonrpc`).
    pub rpc_urls: Vec<String>,
    /// TRON only: the node's HTTP API (`/wallet/*`), which payouts are sent through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_urls: Vec<String>,
    /// WebSocket endpoint for new heads (optional; polling otherwise).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Blocks until a transfer is final (ignored with `finality = "safe"|"finalized"`); on
    /// Solana, slots at the `confirmed` commitment, with `finality = "confirmed"` only.
    #[serde(default)]
    pub confirmations: Option<u32>,
    /// `confirmations`, `safe` or `finalized` (default: `finalized` on TRON, the solidified
    /// block; `confirmations` elsewhere). On Solana `finalized` (the default) or `confirmed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<String>,
    /// Whether orders may be created on it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Explorer link for a transaction, `{tx}` standing for the hash.
    #[serde(default)]
    pub explorer_tx_url: Option<String>,
    /// Public JSON-RPC endpoint the payment page offers a browser wallet that lacks the chain
    /// (`wallet_addEthereumChain`); never the gateway's own, possibly private, endpoints.
    #[serde(default)]
    pub wallet_rpc_url: Option<String>,
    /// First block to scan when the gateway watches this chain for the first time
    /// (default: the head at that moment). Afterwards the stored cursor decides.
    #[serde(default)]
    pub start_block: Option<u64>,
}

fn evm() -> String {
    "evm".into()
}

fn is_evm(family: &str) -> bool {
    family == "evm"
}

pub(super) fn yes() -> bool {
    true
}

/// `[tokens.ID]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token contract: ERC-20, TRC-20, or the SPL mint on Solana (required unless the chain's `network` gives it; empty means not
    /// set, which only a disabled token may be: it is then left out).
    #[serde(default)]
    pub contract: String,
    /// The contract's decimals.
    pub decimals: u8,
    /// Decimals of paying amounts (rounded up).
    #[serde(default = "two")]
    pub payment_scale: u8,
    /// Whether new orders may use it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Token units per USD before the spread.
    #[serde(default = "one")]
    pub rate: String,
}

pub(super) fn two() -> u8 {
    2
}

pub(super) fn one() -> String {
    "1".into()
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[keys]`.
    pub keys: KeysConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `[orders]`.
    pub orders: OrdersConfig,
    /// `[watcher]`.
    pub watcher: WatcherConfig,
    /// `[webhooks]`.
    pub webhooks: WebhooksConfig,
    /// `[payouts]`.
    pub payouts: PayoutsConfig,
    /// `[sweeps]`.
    pub sweeps: SweepsConfig,
    /// `[settlements]`.
    pub settlements: SettlementsConfig,
    /// `[rates]`.
    pub rates: RatesConfig,
    /// `[logging]`.
    pub logging: LoggingConfig,
    /// `[bank_accounts.ID]`.
    pub bank_accounts: BTreeMap<String, BankAccountConfig>,
    /// `[chains.KEY]`; none means the sandbox devnet chain.
    pub chains: BTreeMap<String, ChainConfig>,
    /// `[tokens.ID]`; none means the sandbox devnet tokens.
    pub tokens: BTreeMap<String, TokenConfig>,
}

/// The sandbox devnet: chain id 31337 on 127.0.0.1:8545, its tokens at the addresses the first
/// three contracts deployed by anvil's first account always get: USDT and USDC (6 decimals),
/// then WUSD (18 decimals, as the real one).
pub const DEVNET_USDT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
/// See [`DEVNET_USDT`].
pub const DEVNET_USDC: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
/// See [`DEVNET_USDT`].
pub const DEVNET_WUSD: &str = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
/// The devnet tokens: id, contract, decimals.
pub const DEVNET_TOKENS: [(&str, &str, u8); 3] = [
    ("ETH_USDT", DEVNET_USDT, 6),
    ("ETH_USDC", DEVNET_USDC, 6),
    ("ETH_WUSD", DEVNET_WUSD, super::networks::WUSD_DECIMALS),
];
