//! Validation: every problem with a loaded configuration, each naming its key, before anything
//! starts.

use std::net::SocketAddr;

use wcheckout_domain::app::IpNetwork;
use wcheckout_domain::money::Decimal;

use super::schema::*;

impl Config {
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
}

/// An unknown `network`, or a `chain_id` that is not the network's (its contracts would be
/// watched on another chain).
pub(super) fn network_problems(key: &str, chain: &ChainConfig) -> Vec<String> {
    let Some(network) = &chain.network else {
        return Vec::new();
    };
    match super::networks::preset(&chain.family, network) {
        None => vec![format!(
            "chains.{key}.network: '{network}' must be {}",
            super::networks::preset_names(&chain.family)
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
