//! Conversion: the chain and token table and the rates the domain works with, from the
//! configuration.

use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::money::Decimal;
use wcheckout_domain::token::{Chain, ChainKey, Finality, Token, TokenId, TokenRegistry};

use super::schema::*;
use super::validate::network_problems;

impl Config {
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
                let (family, network) = self.chain_of_token(id);
                match token_from_config(id, token, family, network) {
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

    /// The family (EVM when unknown: the registry reports a missing chain) and the `network`,
    /// if set, of the chain a token id names.
    fn chain_of_token(&self, id: &str) -> (ChainFamily, Option<&str>) {
        let chain = id
            .split_once('_')
            .and_then(|(chain, _)| self.chains.get(chain));
        let family = chain
            .and_then(|chain| ChainFamily::parse(&chain.family))
            .unwrap_or(ChainFamily::Evm);
        (family, chain.and_then(|chain| chain.network.as_deref()))
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
    let family = ChainFamily::parse(&chain.family);
    if family.is_none() {
        problems.push(format!(
            "{}: '{}' must be evm or tron",
            at("family"),
            chain.family
        ));
    }
    problems.extend(network_problems(key, chain));
    if chain.chain_id == 0 {
        problems.push(format!(
            "{}: required (a positive chain id, what the node answers to eth_chainId), or set \
             network = {}",
            at("chain_id"),
            super::networks::preset_names(&chain.family)
        ));
    }
    problems.extend(api_url_problems(key, family, &chain.api_urls));
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
    let default_finality = match family {
        Some(ChainFamily::Tron) => "finalized",
        _ => "confirmations",
    };
    let finality = match (
        chain.finality.as_deref().unwrap_or(default_finality),
        chain.confirmations,
    ) {
        ("confirmations", Some(n)) if (1..=10_000).contains(&n) => Some(Finality::Confirmations(n)),
        ("confirmations", None) => Some(Finality::Confirmations(default_confirmations(
            family,
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
    match (chain_key, family, finality, problems.is_empty()) {
        (Some(key), Some(family), Some(finality), true) => Ok(Chain {
            family,
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

/// `api_urls`: TRON's HTTP API, which payouts need, and nothing on an EVM chain.
fn api_url_problems(key: &str, family: Option<ChainFamily>, urls: &[String]) -> Vec<String> {
    let at = format!("chains.{key}.api_urls");
    let mut problems: Vec<String> = urls
        .iter()
        .filter(|url| !(url.starts_with("http://") || url.starts_with("https://")))
        .map(|url| format!("{at}: '{url}' must be an http(s) URL"))
        .collect();
    match family {
        Some(ChainFamily::Tron) if urls.is_empty() => problems.push(format!(
            "{at}: at least one URL of the node's HTTP API is required on a TRON chain \
             (https://api.trongrid.io, or your node's :8090)"
        )),
        Some(ChainFamily::Evm) if !urls.is_empty() => problems.push(format!(
            "{at}: only TRON chains have an HTTP API; an EVM chain uses rpc_urls"
        )),
        _ => {}
    }
    problems
}

/// Default confirmations by chain (docs/chains.md): TRON 20; by chain id Ethereum 12, BSC 15,
/// Polygon 64, Base 10, Arbitrum 20, anything else (a local devnet) 1.
fn default_confirmations(family: Option<ChainFamily>, chain_id: u64) -> u32 {
    if family == Some(ChainFamily::Tron) {
        return 20;
    }
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
    family: ChainFamily,
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
                "tokens.{id}.contract: required (the token contract's address, {})",
                family.address_form()
            )),
        };
    }
    let contract = Address::parse(family, &token.contract)
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
