//! Configuration: a TOML file (every key documented in `config/wcheckout.example.toml`), each
//! key overridable by `WCHECKOUT__SECTION__KEY` environment variables, validated before anything
//! starts. With no file at all the gateway runs as a sandbox on 127.0.0.1:8080 with SQLite
//! under `./wcheckout-data/` and the devnet token table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Uncased;
use serde::{Deserialize, Serialize};
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::app::IpNetwork;
use wcheckout_domain::money::Decimal;
use wcheckout_domain::token::{Chain, ChainKey, Finality, Token, TokenId, TokenRegistry};

pub use crate::config_payouts::{
    BankAccountConfig, PayoutsConfig, SettlementsConfig, SweepsConfig,
};

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
pub struct ProxyUrl(String);

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
    /// A public network whose chain id, name, explorer link and stablecoins (`{KEY}_USDT`,
    /// `{KEY}_USDC`, `{KEY}_WUSD`) fill what the file does not set: `mainnet` or `sepolia`
    /// (see `config_networks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// EIP-155 chain id (required unless `network` gives it; 0 means not set).
    #[serde(default)]
    pub chain_id: u64,
    /// Name shown to payers.
    #[serde(default)]
    pub display_name: Option<String>,
    /// JSON-RPC endpoints, tried in order.
    pub rpc_urls: Vec<String>,
    /// WebSocket endpoint for new heads (optional; polling otherwise).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Blocks until a transfer is final (ignored with `finality = "safe"|"finalized"`).
    #[serde(default)]
    pub confirmations: Option<u32>,
    /// `confirmations`, `safe` or `finalized`.
    #[serde(default = "default_finality")]
    pub finality: String,
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

fn default_finality() -> String {
    "confirmations".into()
}

fn yes() -> bool {
    true
}

/// `[tokens.ID]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The ERC-20 contract (required unless the chain's `network` gives it; empty means not
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

fn two() -> u8 {
    2
}

fn one() -> String {
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

/// What stands in the printed configuration for a secret.
pub const REDACTED: &str = "[REDACTED]";

impl Config {
    /// The configuration as TOML, in the layout of `config/wcheckout.example.toml` (its sections
    /// in its order), every secret replaced by [`REDACTED`]: the seed, the master key, the
    /// webhook proxy URL and a password in the database URL.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        let redact = |secret: &mut Option<String>| {
            if secret.is_some() {
                *secret = Some(REDACTED.to_owned());
            }
        };
        redact(&mut shown.keys.seed);
        redact(&mut shown.keys.master_key);
        if shown.webhooks.proxy_url.is_some() {
            shown.webhooks.proxy_url = Some(ProxyUrl(REDACTED.to_owned()));
        }
        shown.database.url = without_password(&shown.database.url);
        toml::to_string(&shown)
    }
}

/// A URL with the password of its user part replaced: `postgres://u:pw@h/db` →
/// `postgres://u:[REDACTED]@h/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_part, host)) => match user_part.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:{REDACTED}@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// `WCHECKOUT__SERVER__LISTEN` → `server.listen`; chain and token keys keep their case
/// (`WCHECKOUT__CHAINS__ETH__RPC_URLS` → `chains.ETH.rpc_urls`).
fn env_key(key: &str) -> String {
    let parts: Vec<&str> = key.split("__").collect();
    let keeps_case =
        |i: usize| i == 1 && matches!(parts[0].to_ascii_lowercase().as_str(), "chains" | "tokens");
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if keeps_case(i) {
                part.to_ascii_uppercase()
            } else {
                part.to_ascii_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads defaults, then the file (if any), then the environment. On failure, every problem
/// found, each naming its key.
pub fn load(file: Option<&Path>) -> Result<Config, Vec<String>> {
    let mut user = Figment::new();
    if let Some(file) = file {
        if !file.exists() {
            return Err(vec![format!(
                "config file {} does not exist",
                file.display()
            )]);
        }
        user = user.merge(Toml::file(file));
    }
    // `lowercase(false)` must come after `map`: figment's `map` turns lowercasing back on.
    let env = Env::prefixed("WCHECKOUT__")
        .map(|key| Uncased::from(env_key(key.as_str())))
        .lowercase(false);
    user = user.merge(env);
    // Network presets go under the file and the environment, so that both override them.
    let presets = crate::config_networks::preset_layer(&user);
    let mut figment = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::defaults(presets))
        .merge(user);
    // Deserialization stops at the first bad key (unknown, wrong type, missing), which would
    // hide every other problem: name it, drop that key and read the rest again.
    let mut problems = Vec::new();
    let mut config = loop {
        let error = match figment.extract::<Config>() {
            Ok(config) => break config,
            Err(error) => error,
        };
        problems.push(describe(&error, problems.is_empty()));
        let Ok(mut value) = figment.extract::<figment::value::Value>() else {
            return Err(problems);
        };
        if problems.len() >= 100 || error.path.is_empty() || !remove_key(&mut value, &error.path) {
            return Err(problems);
        }
        figment = Figment::from(Serialized::defaults(value));
    };
    config.fill_defaults();
    if problems.is_empty() {
        return Ok(config);
    }
    problems.extend(config.problems());
    Err(problems)
}

/// `key: what is wrong (from where)`; where only while the providers are the original ones.
fn describe(error: &figment::Error, with_origin: bool) -> String {
    let mut key = error.path.join(".");
    let what = match &error.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            if error.path.last() != Some(field) {
                key = [key.as_str(), field.as_str()].join(".");
            }
            format!("unknown key (expected one of {})", expected.join(", "))
        }
        kind => kind.to_string(),
    };
    let origin = match &error.metadata {
        Some(meta) if with_origin => match &meta.source {
            Some(source) => format!(" (from {} {source})", meta.name),
            None => format!(" (from {})", meta.name),
        },
        _ => String::new(),
    };
    match key.trim_start_matches('.') {
        "" => format!("{what}{origin}"),
        key => format!("{key}: {what}{origin}"),
    }
}

/// Removes the key at `path` from a dictionary; false when there is none.
fn remove_key(value: &mut figment::value::Value, path: &[String]) -> bool {
    use figment::value::Value;
    match (value, path) {
        (Value::Dict(_, dict), [last]) => dict.remove(last).is_some(),
        (Value::Dict(_, dict), [first, rest @ ..]) => dict
            .get_mut(first)
            .is_some_and(|inner| remove_key(inner, rest)),
        _ => false,
    }
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
    (
        "ETH_WUSD",
        DEVNET_WUSD,
        crate::config_networks::WUSD_DECIMALS,
    ),
];

impl Config {
    fn fill_defaults(&mut self) {
        if self.server.public_url.is_empty() {
            self.server.public_url = format!("http://{}", self.server.listen);
        }
        self.server.public_url = self.server.public_url.trim_end_matches('/').to_owned();
        if self.server.instance_id.is_empty() {
            self.server.instance_id = wcheckout_app::lease::default_identity();
        }
        if self.database.url.is_empty() {
            self.database.url = format!(
                "sqlite://{}",
                self.server.data_dir.join("wcheckout.db").display()
            );
        }
        if self.chains.is_empty() && self.tokens.is_empty() {
            self.chains.insert(
                "ETH".into(),
                ChainConfig {
                    network: None,
                    chain_id: 31337,
                    display_name: Some("Ethereum (local devnet)".into()),
                    rpc_urls: vec!["http://127.0.0.1:8545".into()],
                    ws_url: None,
                    confirmations: Some(1),
                    finality: default_finality(),
                    enabled: true,
                    explorer_tx_url: None,
                    wallet_rpc_url: Some("http://127.0.0.1:8545".into()),
                    start_block: None,
                },
            );
            for (id, contract, decimals) in DEVNET_TOKENS {
                self.tokens.insert(
                    id.into(),
                    TokenConfig {
                        contract: contract.into(),
                        decimals,
                        payment_scale: 2,
                        enabled: true,
                        rate: one(),
                    },
                );
            }
        }
    }

    /// Every problem with the configuration, each naming its key; empty when it is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, message: String| {
            if !ok {
                problems.push(message);
            }
        };
        let server = &self.server;
        check(
            server.listen.parse::<SocketAddr>().is_ok(),
            format!(
                "server.listen: '{}' is not an address like 127.0.0.1:8080",
                server.listen
            ),
        );
        let https = server.public_url.starts_with("https://");
        check(
            https || server.public_url.starts_with("http://"),
            format!(
                "server.public_url: '{}' must start with http:// or https://",
                server.public_url
            ),
        );
        check(
            server.mode == Mode::Sandbox || https,
            "server.public_url: must be https:// in production mode".into(),
        );
        check(
            wcheckout_app::lease::valid_identity(&server.instance_id),
            format!(
                "server.instance_id: '{}' must be 1 to 64 letters, digits, '.', '_' or '-'",
                server.instance_id
            ),
        );
        for proxy in &server.trusted_proxies {
            check(
                IpNetwork::parse(proxy).is_some(),
                format!("server.trusted_proxies: '{proxy}' is not an IP address or CIDR network"),
            );
        }
        check(
            self.database.url.starts_with("sqlite:")
                || self.database.url.starts_with("postgres://")
                || self.database.url.starts_with("postgresql://"),
            "database.url: must start with sqlite:// or postgres://".into(),
        );
        check(
            self.database.max_connections >= 1,
            "database.max_connections: must be at least 1".into(),
        );
        let keys = &self.keys;
        check(
            !(keys.seed.is_some() && keys.seed_file.is_some()),
            "keys: set seed or seed_file, not both".into(),
        );
        check(
            !(keys.master_key.is_some() && keys.master_key_file.is_some()),
            "keys: set master_key or master_key_file, not both".into(),
        );
        if server.mode == Mode::Production {
            check(
                keys.seed.is_some() || keys.seed_file.is_some(),
                "keys.seed_file: production mode needs the seed from a file or WCHECKOUT__KEYS__SEED".into(),
            );
            check(
                keys.master_key.is_some() || keys.master_key_file.is_some(),
                "keys.master_key_file: production mode needs the master key from a file or \
                 WCHECKOUT__KEYS__MASTER_KEY"
                    .into(),
            );
        }
        check(
            (60..=86_400).contains(&self.auth.access_token_ttl_secs),
            "auth.access_token_ttl_secs: must be between 60 and 86400".into(),
        );
        check(
            self.auth.refresh_token_ttl_secs >= self.auth.access_token_ttl_secs,
            "auth.refresh_token_ttl_secs: must be at least auth.access_token_ttl_secs".into(),
        );
        check(
            (100..=60_000).contains(&self.orders.expiry_interval_ms),
            "orders.expiry_interval_ms: must be between 100 and 60000".into(),
        );
        check(
            (1..=10_000).contains(&self.orders.address_block_size),
            "orders.address_block_size: must be between 1 and 10000".into(),
        );
        check(
            (0..=366 * 24 * 3600).contains(&self.orders.monitoring_window_secs),
            "orders.monitoring_window_secs: must be between 0 and 31622400".into(),
        );
        check(
            (0..=86_400).contains(&self.orders.expiry_grace_secs),
            "orders.expiry_grace_secs: must be between 0 and 86400".into(),
        );
        let watcher = &self.watcher;
        check(
            (10..=60_000).contains(&watcher.poll_interval_ms),
            "watcher.poll_interval_ms: must be between 10 and 60000".into(),
        );
        check(
            (1..=100_000).contains(&watcher.max_blocks_per_scan),
            "watcher.max_blocks_per_scan: must be between 1 and 100000".into(),
        );
        check(
            (100..=120_000).contains(&watcher.rpc_timeout_ms),
            "watcher.rpc_timeout_ms: must be between 100 and 120000".into(),
        );
        check(
            (2..=600).contains(&watcher.lease_ttl_secs),
            "watcher.lease_ttl_secs: must be between 2 and 600".into(),
        );
        check(
            (1..=100_000).contains(&watcher.max_reorg_depth),
            "watcher.max_reorg_depth: must be between 1 and 100000".into(),
        );
        check(
            watcher.max_head_age_secs <= 7 * 86_400,
            "watcher.max_head_age_secs: must be between 0 and 604800".into(),
        );
        let webhooks = &self.webhooks;
        check(
            webhooks.retry_schedule_secs.len() <= 100
                && webhooks
                    .retry_schedule_secs
                    .iter()
                    .all(|s| (1..=7 * 86_400).contains(s)),
            "webhooks.retry_schedule_secs: at most 100 delays of 1 to 604800 seconds".into(),
        );
        check(
            (1..=120).contains(&webhooks.attempt_timeout_secs),
            "webhooks.attempt_timeout_secs: must be between 1 and 120".into(),
        );
        check(
            (1..=10_000).contains(&webhooks.concurrency),
            "webhooks.concurrency: must be between 1 and 10000".into(),
        );
        check(
            (1..=webhooks.concurrency.max(1)).contains(&webhooks.per_app_concurrency),
            "webhooks.per_app_concurrency: must be between 1 and webhooks.concurrency".into(),
        );
        check(
            (10..=60_000).contains(&webhooks.poll_interval_ms),
            "webhooks.poll_interval_ms: must be between 10 and 60000".into(),
        );
        if let Some(proxy_url) = &webhooks.proxy_url {
            check(
                wcheckout_http::webhook_client::check_proxy_url(proxy_url.as_str()).is_ok(),
                "webhooks.proxy_url: must be an http:// or https:// URL with a host".into(),
            );
        }
        check(
            Decimal::parse(&self.rates.spread_percent).is_ok(),
            format!(
                "rates.spread_percent: '{}' is not a non-negative number",
                self.rates.spread_percent
            ),
        );
        check(
            matches!(self.logging.format.as_str(), "text" | "json"),
            "logging.format: must be text or json".into(),
        );
        if let Err(error) = self.token_registry() {
            problems.extend(error);
        }
        problems.extend(self.payout_problems());
        problems
    }

    /// The chain and token table, or every problem found building it.
    pub fn token_registry(&self) -> Result<TokenRegistry, Vec<String>> {
        let mut problems = Vec::new();
        let chains = self
            .chains
            .iter()
            .filter_map(|(key, chain)| match chain_from_config(key, chain) {
                Ok(chain) => Some(chain),
                Err(errors) => {
                    problems.extend(errors);
                    None
                }
            })
            .collect::<Vec<_>>();
        let tokens = self
            .tokens
            .iter()
            .filter_map(|(id, token)| {
                match token_from_config(id, token, self.network_of_token(id)) {
                    Ok(token) => token,
                    Err(error) => {
                        problems.push(error);
                        None
                    }
                }
            })
            .collect::<Vec<_>>();
        if !problems.is_empty() {
            return Err(problems);
        }
        TokenRegistry::new(chains, tokens).map_err(|e| vec![format!("tokens: {e}")])
    }

    /// The `network` of the chain a token id names, if set.
    fn network_of_token(&self, id: &str) -> Option<&str> {
        let (chain, _) = id.split_once('_')?;
        self.chains.get(chain)?.network.as_deref()
    }

    /// `(token, rate)` pairs from `[tokens]`.
    pub fn token_rates(&self) -> Vec<(TokenId, Decimal)> {
        self.tokens
            .iter()
            .filter_map(|(id, t)| Some((TokenId::parse(id)?, Decimal::parse(&t.rate).ok()?)))
            .collect()
    }
}

fn chain_from_config(key: &str, chain: &ChainConfig) -> Result<Chain, Vec<String>> {
    let mut problems = Vec::new();
    let at = |field: &str| format!("chains.{key}.{field}");
    let chain_key = ChainKey::parse(key);
    if chain_key.is_none() {
        problems.push(format!(
            "chains.{key}: chain keys are 2-16 upper-case letters or digits (ETH, BSC)"
        ));
    }
    problems.extend(network_problems(key, chain));
    if chain.chain_id == 0 {
        problems.push(format!(
            "{}: required (a positive EIP-155 chain id), or set network = {}",
            at("chain_id"),
            crate::config_networks::preset_names()
        ));
    }
    if chain.rpc_urls.is_empty() {
        problems.push(format!(
            "{}: at least one RPC URL is required",
            at("rpc_urls")
        ));
    }
    for url in &chain.rpc_urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(format!(
                "{}: '{url}' must be an http(s) URL",
                at("rpc_urls")
            ));
        }
    }
    if let Some(ws) = chain
        .ws_url
        .as_ref()
        .filter(|ws| !(ws.starts_with("ws://") || ws.starts_with("wss://")))
    {
        problems.push(format!("{}: '{ws}' must be a ws(s) URL", at("ws_url")));
    }
    let finality = match (chain.finality.as_str(), chain.confirmations) {
        ("confirmations", Some(n)) if (1..=10_000).contains(&n) => Some(Finality::Confirmations(n)),
        ("confirmations", None) => Some(Finality::Confirmations(default_confirmations(
            chain.chain_id,
        ))),
        ("confirmations", Some(_)) => {
            problems.push(format!(
                "{}: must be between 1 and 10000",
                at("confirmations")
            ));
            None
        }
        ("safe", _) => Some(Finality::Safe),
        ("finalized", _) => Some(Finality::Finalized),
        (other, _) => {
            problems.push(format!(
                "{}: '{other}' must be confirmations, safe or finalized",
                at("finality")
            ));
            None
        }
    };
    match (chain_key, finality, problems.is_empty()) {
        (Some(key), Some(finality), true) => Ok(Chain {
            display_name: chain
                .display_name
                .clone()
                .unwrap_or_else(|| key.to_string()),
            key,
            chain_id: chain.chain_id,
            finality,
            enabled: chain.enabled,
            explorer_tx_url: chain.explorer_tx_url.clone(),
            wallet_rpc_url: chain.wallet_rpc_url.clone(),
        }),
        _ => Err(problems),
    }
}

/// An unknown `network`, or a `chain_id` that is not the network's (its contracts would be
/// watched on another chain).
fn network_problems(key: &str, chain: &ChainConfig) -> Vec<String> {
    let Some(network) = &chain.network else {
        return Vec::new();
    };
    match crate::config_networks::preset(network) {
        None => vec![format!(
            "chains.{key}.network: '{network}' must be {}",
            crate::config_networks::preset_names()
        )],
        Some(preset) if chain.chain_id != 0 && chain.chain_id != preset.chain_id => {
            vec![format!(
                "chains.{key}.chain_id: {} is not network '{network}' (chain id {}); remove \
                 chain_id or network",
                chain.chain_id, preset.chain_id
            )]
        }
        Some(_) => Vec::new(),
    }
}

/// decisions.md: Ethereum 12, BSC 15, Polygon 64, Base 10, Arbitrum 20, local devnet 1.
fn default_confirmations(chain_id: u64) -> u32 {
    match chain_id {
        1 => 12,
        56 => 15,
        137 => 64,
        8453 => 10,
        42161 => 20,
        _ => 1,
    }
}

/// The token, `None` for a disabled token without a contract (left out), or the problem.
fn token_from_config(
    id: &str,
    token: &TokenConfig,
    network: Option<&str>,
) -> Result<Option<Token>, String> {
    let token_id = TokenId::parse(id).ok_or_else(|| {
        format!("tokens.{id}: token ids are {{CHAIN}}_{{ASSET}} in upper case (ETH_USDT)")
    })?;
    if token.contract.is_empty() {
        return match (token.enabled, network) {
            (false, _) => Ok(None),
            (true, Some(network)) => Err(format!(
                "tokens.{id}.contract: network '{network}' has no official {asset} contract; set \
                 tokens.{id}.contract to the {asset} contract you accept, or \
                 tokens.{id}.enabled = false to offer no {id}",
                asset = token_id.asset()
            )),
            (true, None) => Err(format!(
                "tokens.{id}.contract: required (the ERC-20 contract address)"
            )),
        };
    }
    let contract = EvmAddress::parse(&token.contract)
        .map_err(|e| format!("tokens.{id}.contract: '{}' {e}", token.contract))?;
    if token.decimals > 36 {
        return Err(format!("tokens.{id}.decimals: must be at most 36"));
    }
    if token.payment_scale > token.decimals {
        return Err(format!(
            "tokens.{id}.payment_scale: must not exceed decimals ({})",
            token.decimals
        ));
    }
    let rate = Decimal::parse(&token.rate)
        .map_err(|_| format!("tokens.{id}.rate: '{}' is not a number", token.rate))?;
    if rate.is_zero() {
        return Err(format!("tokens.{id}.rate: must be greater than 0"));
    }
    Ok(Some(Token {
        id: token_id,
        contract,
        decimals: token.decimals,
        payment_scale: token.payment_scale,
        enabled: token.enabled,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_keep_chain_and_token_case() {
        assert_eq!(env_key("SERVER__LISTEN"), "server.listen");
        assert_eq!(env_key("CHAINS__ETH__RPC_URLS"), "chains.ETH.rpc_urls");
        assert_eq!(env_key("tokens__eth_usdt__rate"), "tokens.ETH_USDT.rate");
    }

    #[test]
    fn defaults_are_a_valid_sandbox() {
        let config = load(None).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.server.public_url, "http://127.0.0.1:8080");
        assert!(config.database.url.starts_with("sqlite://"));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let registry = config.token_registry().unwrap();
        assert_eq!(registry.tokens().count(), 3);
        let wusd = registry
            .get(&TokenId::parse("ETH_WUSD").unwrap())
            .unwrap()
            .0;
        assert_eq!(wusd.contract.to_checksum(), DEVNET_WUSD);
        assert_eq!(wusd.decimals, 18);
    }

    /// Loads `text` as a config file.
    fn load_text(name: &str, text: &str) -> Result<Config, Vec<String>> {
        let dir =
            std::env::temp_dir().join(format!("wcheckout-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("wcheckout.toml");
        std::fs::write(&file, text).unwrap();
        let loaded = load(Some(&file)).and_then(|config| {
            let problems = config.problems();
            if problems.is_empty() {
                Ok(config)
            } else {
                Err(problems)
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    }

    fn token<'a>(registry: &'a TokenRegistry, id: &str) -> Option<&'a Token> {
        registry
            .get(&TokenId::parse(id).unwrap())
            .map(|(token, _)| token)
    }

    const RPC: &str = "rpc_urls = [\"https://rpc.example\"]\n";

    #[test]
    fn the_mainnet_preset_fills_the_chain_and_its_stablecoins() {
        let config = load_text(
            "mainnet",
            &format!("[chains.ETH]\nnetwork = \"mainnet\"\n{RPC}"),
        )
        .unwrap();
        let chain = &config.chains["ETH"];
        assert_eq!(chain.chain_id, 1);
        let registry = config.token_registry().unwrap();
        let eth = registry.chain(&ChainKey::parse("ETH").unwrap()).unwrap();
        assert_eq!(eth.display_name, "Ethereum");
        assert_eq!(
            eth.finality,
            Finality::Confirmations(12),
            "Ethereum's default depth"
        );
        assert_eq!(
            eth.explorer_tx_url.as_deref(),
            Some("https://etherscan.io/tx/{tx}")
        );
        let expected = [
            ("ETH_USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
            ("ETH_USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6),
            ("ETH_WUSD", "0x7Cd017ca5ddb86861FA983a34b5F495C6F898c41", 18),
        ];
        assert_eq!(registry.tokens().count(), expected.len());
        for (id, contract, decimals) in expected {
            let token = token(&registry, id).unwrap();
            assert_eq!(token.contract.to_checksum(), contract, "{id}");
            assert_eq!(token.decimals, decimals, "{id}");
            assert_eq!(token.payment_scale, 2, "{id}");
            assert!(token.enabled, "{id}");
        }
        assert!(registry.payable("ETH_WUSD").is_ok());
    }

    #[test]
    fn every_preset_key_can_be_overridden() {
        let text = format!(
            "[chains.ETH]\nnetwork = \"mainnet\"\n{RPC}display_name = \"Main\"\n\
             finality = \"finalized\"\nexplorer_tx_url = \"https://x.example/{{tx}}\"\n\
             [tokens.ETH_WUSD]\ncontract = \"{DEVNET_WUSD}\"\ndecimals = 6\n\
             [tokens.ETH_USDC]\nenabled = false\n"
        );
        let config = load_text("override", &text).unwrap();
        let registry = config.token_registry().unwrap();
        let eth = registry.chain(&ChainKey::parse("ETH").unwrap()).unwrap();
        assert_eq!(eth.display_name, "Main");
        assert_eq!(eth.finality, Finality::Finalized);
        assert_eq!(
            eth.explorer_tx_url.as_deref(),
            Some("https://x.example/{tx}")
        );
        let wusd = token(&registry, "ETH_WUSD").unwrap();
        assert_eq!(wusd.contract.to_checksum(), DEVNET_WUSD);
        assert_eq!(wusd.decimals, 6);
        let usdc = token(&registry, "ETH_USDC").unwrap();
        assert!(!usdc.enabled, "disabled, still known for its orders");
        assert_eq!(
            usdc.contract.to_checksum(),
            "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
        );
        assert!(registry.payable("ETH_USDC").is_err());
    }

    #[test]
    fn the_sepolia_preset_asks_for_a_usdt_contract() {
        let bare = format!("[chains.ETH]\nnetwork = \"sepolia\"\n{RPC}");
        let problems = load_text("sepolia-bare", &bare).unwrap_err().join("\n");
        assert!(
            problems.contains(
                "tokens.ETH_USDT.contract: network 'sepolia' has no official USDT contract; set \
                 tokens.ETH_USDT.contract to the USDT contract you accept, or \
                 tokens.ETH_USDT.enabled = false to offer no ETH_USDT"
            ),
            "{problems}"
        );
        let without = format!("{bare}[tokens.ETH_USDT]\nenabled = false\n");
        let config = load_text("sepolia-without", &without).unwrap();
        assert_eq!(config.chains["ETH"].chain_id, 11_155_111);
        let registry = config.token_registry().unwrap();
        assert!(token(&registry, "ETH_USDT").is_none(), "left out");
        let usdc = token(&registry, "ETH_USDC").unwrap();
        assert_eq!(
            usdc.contract.to_checksum(),
            "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
        );
        let wusd = token(&registry, "ETH_WUSD").unwrap();
        assert_eq!(
            wusd.contract,
            EvmAddress::parse("0x371607f7463d27ae9deaf64ae00da9cbd4cf0065").unwrap()
        );
        assert_eq!(wusd.decimals, 18);
        let eth = registry.chain(&ChainKey::parse("ETH").unwrap()).unwrap();
        assert_eq!(eth.display_name, "Ethereum Sepolia");
        let with = format!("{bare}[tokens.ETH_USDT]\ncontract = \"{DEVNET_USDT}\"\n");
        let registry = load_text("sepolia-with", &with)
            .unwrap()
            .token_registry()
            .unwrap();
        let usdt = token(&registry, "ETH_USDT").unwrap();
        assert_eq!(
            (usdt.contract.to_checksum().as_str(), usdt.decimals),
            (DEVNET_USDT, 6)
        );
    }

    #[test]
    fn presets_follow_the_chain_key_and_refuse_a_wrong_network() {
        let text = format!(
            "[chains.SEPOLIA]\nnetwork = \"sepolia\"\n{RPC}[tokens.SEPOLIA_USDT]\nenabled = false\n"
        );
        let registry = load_text("key", &text).unwrap().token_registry().unwrap();
        assert!(token(&registry, "SEPOLIA_USDC").is_some());
        assert!(token(&registry, "SEPOLIA_WUSD").is_some());
        let unknown = format!("[chains.ETH]\nnetwork = \"goerli\"\n{RPC}");
        let problems = load_text("unknown", &unknown).unwrap_err().join("\n");
        assert!(
            problems.contains("chains.ETH.network: 'goerli' must be mainnet or sepolia"),
            "{problems}"
        );
        assert!(
            problems.contains("chains.ETH.chain_id: required"),
            "{problems}"
        );
        let mismatch = format!("[chains.ETH]\nnetwork = \"mainnet\"\nchain_id = 5\n{RPC}");
        let problems = load_text("mismatch", &mismatch).unwrap_err().join("\n");
        assert!(
            problems.contains("chains.ETH.chain_id: 5 is not network 'mainnet' (chain id 1)"),
            "{problems}"
        );
        let bare_token =
            format!("[chains.ETH]\nchain_id = 1\n{RPC}[tokens.ETH_USDT]\ndecimals = 6\n");
        let problems = load_text("bare-token", &bare_token).unwrap_err().join("\n");
        assert!(
            problems.contains("tokens.ETH_USDT.contract: required"),
            "{problems}"
        );
    }

    #[test]
    fn the_example_file_is_valid_and_documents_every_key() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/wcheckout.example.toml");
        let config = load(Some(&path)).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let example = std::fs::read_to_string(&path).unwrap();
        let defaults = toml::Value::try_from(load(None).unwrap()).unwrap();
        for (section, table) in defaults.as_table().unwrap() {
            assert!(
                example.contains(&format!("[{section}")),
                "[{section}] is not documented"
            );
            let keys = table.as_table().unwrap().values().flat_map(|v| match v {
                toml::Value::Table(inner) => inner.keys().cloned().collect::<Vec<_>>(),
                _ => Vec::new(),
            });
            let direct = table.as_table().unwrap().keys().cloned();
            for key in direct.chain(keys) {
                let documented = example.lines().any(|line| {
                    let line = line.trim_start_matches(['#', ' ']);
                    line.starts_with(&format!("{key} ="))
                        || line.starts_with(&format!("[{section}.{key}]"))
                });
                assert!(documented, "{section}.{key} is not in the example file");
            }
        }
        for key in [
            "seed_file",
            "seed",
            "master_key_file",
            "master_key",
            "network",
            "ws_url",
            "explorer_tx_url",
            "wallet_rpc_url",
            "start_block",
            "allow_private_targets",
            "require_https",
            "proxy_url",
            "approval_above",
            "account_name",
        ] {
            assert!(
                example.contains(&format!("# {key} =")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn unknown_keys_do_not_hide_other_problems() {
        let dir = std::env::temp_dir().join(format!("wcheckout-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("unknown.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"nowhere\"\nlisten_port = 1\n[bogus]\nx = 1\n",
        )
        .unwrap();
        let problems = load(Some(&file)).unwrap_err().join("\n");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            problems.contains("server.listen_port: unknown key"),
            "{problems}"
        );
        assert!(problems.contains("bogus: unknown key"), "{problems}");
        assert!(problems.contains("server.listen: 'nowhere'"), "{problems}");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &file,
            "[database]\nmax_connections = \"many\"\n[server]\nlisten = \"nowhere\"\n",
        )
        .unwrap();
        let problems = load(Some(&file)).unwrap_err().join("\n");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            problems.contains("database.max_connections: invalid type"),
            "{problems}"
        );
        assert!(problems.contains("server.listen: 'nowhere'"), "{problems}");
    }

    #[test]
    fn problems_name_their_keys() {
        let mut config = load(None).unwrap();
        config.server.listen = "nowhere".into();
        config.server.mode = Mode::Production;
        config.tokens.get_mut("ETH_USDT").unwrap().contract = "0x1234".into();
        let problems = config.problems().join("\n");
        assert!(problems.contains("server.listen: 'nowhere'"), "{problems}");
        assert!(
            problems.contains("server.public_url: must be https://"),
            "{problems}"
        );
        assert!(
            problems.contains("keys.seed_file: production mode"),
            "{problems}"
        );
        assert!(problems.contains("tokens.ETH_USDT.contract"), "{problems}");
    }

    #[test]
    fn printed_configuration_is_toml_in_the_example_layout_with_secrets_redacted() {
        let text = "[database]\nurl = \"postgres://gw:pg-secret@db:5432/wcheckout\"\n\
                    [keys]\nseed = \"abandon abandon abandon abandon abandon abandon abandon \
                    abandon abandon abandon abandon about\"\nmaster_key = \"\
                    2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b\"\n\
                    [webhooks]\nproxy_url = \"http://user:proxy-secret@proxy:3128\"\n";
        let config = load_text("printed", text).unwrap();
        let printed = config.to_redacted_toml().unwrap();
        for secret in ["pg-secret", "abandon", "2b2b", "proxy-secret"] {
            assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
        }
        assert!(printed.contains("url = \"postgres://gw:[REDACTED]@db:5432/wcheckout\""));
        // The sections of the example file, in its order.
        let example = include_str!("../../../config/wcheckout.example.toml");
        let sections = |text: &str| {
            text.lines()
                .filter(|l| l.starts_with('[') && !l.starts_with("[[") && !l.contains('.'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let printed_sections = sections(&printed);
        let mut order = sections(example)
            .into_iter()
            .filter(|s| printed_sections.contains(s));
        assert!(
            printed_sections
                .iter()
                .filter(|s| sections(example).contains(s))
                .all(|s| order.next().as_ref() == Some(s)),
            "{printed_sections:?}"
        );
        // Loaded again (secrets given back), it prints the same: it can be diffed.
        let given_back = printed
            .replace("[REDACTED]@db", "pg-secret@db")
            .replace(
                "seed = \"[REDACTED]\"",
                &format!("seed = {:?}", config.keys.seed.clone().unwrap()),
            )
            .replace(
                "master_key = \"[REDACTED]\"",
                &format!("master_key = {:?}", config.keys.master_key.clone().unwrap()),
            )
            .replace("\"[REDACTED]\"", "\"http://user:proxy-secret@proxy:3128\"");
        let again = load_text("printed-again", &given_back).unwrap();
        assert_eq!(again.to_redacted_toml().unwrap(), printed);
    }

    #[test]
    fn webhook_proxy_url_is_checked_and_never_shown() {
        let mut config = load(None).unwrap();
        config.webhooks.proxy_url = Some(ProxyUrl("socks5://user:secret@proxy:1080".into()));
        let problems = config.problems().join("\n");
        assert!(
            problems.contains("webhooks.proxy_url: must be an http"),
            "{problems}"
        );
        assert!(!problems.contains("secret"), "{problems}");
        config.webhooks.proxy_url = Some(ProxyUrl("http://user:secret@proxy.internal:3128".into()));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert!(!format!("{config:?}").contains("secret"));
    }
}
