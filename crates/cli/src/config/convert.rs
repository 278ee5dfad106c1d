//! Conversion: the chain and token table and the rates the domain works with, from the
//! configuration.

use wcheckout_domain::address::EvmAddress;
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
            super::networks::preset_names()
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

/// Default confirmations by chain id (docs/chains.md): Ethereum 12, BSC 15, Polygon 64, Base 10,
/// Arbitrum 20, anything else (a local devnet) 1.
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
