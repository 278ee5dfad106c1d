//! Loading: defaults, network presets, the file and the environment, layered; every problem
//! of the file named at once; the defaults that depend on other keys filled in.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Uncased;

use super::schema::*;

/// `WCHECKOUT__SERVER__LISTEN` → `server.listen`; chain and token keys keep their case
/// (`WCHECKOUT__CHAINS__ETH__RPC_URLS` → `chains.ETH.rpc_urls`).
pub(super) fn env_key(key: &str) -> String {
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
    let presets = super::networks::preset_layer(&user);
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
                    family: "evm".into(),
                    network: None,
                    chain_id: 31337,
                    display_name: Some("Ethereum (local devnet)".into()),
                    rpc_urls: vec!["http://127.0.0.1:8545".into()],
                    api_urls: Vec::new(),
                    ws_url: None,
                    confirmations: Some(1),
                    finality: None,
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
}
