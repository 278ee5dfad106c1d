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
            "{}: '{}' must be evm, tron or solana",
            at("family"),
            chain.family
        ));
    }
    problems.extend(network_problems(key, chain));
    problems.extend(chain_id_problems(key, family, chain));
    problems.extend(api_url_problems(key, family, &chain.api_urls));
    if family == Some(ChainFamily::Solana) {
        problems.extend(solana_problems(key, chain));
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
    let finality = match family {
        Some(ChainFamily::Solana) => solana_finality(key, chain),
        _ => block_finality(key, family, chain),
    };
    let finality = finality.map_err(|problem| problems.push(problem)).ok();
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

/// `chain_id`: required on families that have one, absent on Solana, which has none.
fn chain_id_problems(key: &str, family: Option<ChainFamily>, chain: &ChainConfig) -> Vec<String> {
    let at = format!("chains.{key}.chain_id");
    let presets = super::networks::preset_names(&chain.family);
    match family {
        Some(family) if !family.has_chain_id() && chain.chain_id != 0 => vec![format!(
            "{at}: a {} chain has no chain id; remove it (network = {presets} names the cluster)",
            family.name()
        )],
        Some(family) if !family.has_chain_id() => Vec::new(),
        _ if chain.chain_id == 0 => vec![format!(
            "{at}: required (a positive chain id, what the node answers to eth_chainId), or set \
             network = {presets}"
        )],
        _ => Vec::new(),
    }
}

/// Keys of EVM chains that mean nothing on Solana: refused rather than silently ignored.
fn solana_problems(key: &str, chain: &ChainConfig) -> Vec<String> {
    let at = |field: &str| format!("chains.{key}.{field}");
    let mut problems = Vec::new();
    if chain.ws_url.is_some() {
        problems.push(format!(
            "{}: not used on a Solana chain, which is read over rpc_urls",
            at("ws_url")
        ));
    }
    if chain.wallet_rpc_url.is_some() {
        problems.push(format!(
            "{}: only EVM chains offer their endpoint to a browser wallet",
            at("wallet_rpc_url")
        ));
    }
    if chain.start_block.is_some() {
        problems.push(format!(
            "{}: a Solana chain is read by deposit account, not by block; remove it",
            at("start_block")
        ));
    }
    problems
}

/// The finality of an EVM or TRON chain: `confirmations` (the default on EVM), `safe` or
/// `finalized` (the default on TRON, its solidified block).
fn block_finality(
    key: &str,
    family: Option<ChainFamily>,
    chain: &ChainConfig,
) -> Result<Finality, String> {
    let default_finality = match family {
        Some(ChainFamily::Tron) => "finalized",
        _ => "confirmations",
    };
    match (
        chain.finality.as_deref().unwrap_or(default_finality),
        chain.confirmations,
    ) {
        ("confirmations", Some(n)) => confirmation_count(key, n),
        ("confirmations", None) => Ok(Finality::Confirmations(default_confirmations(
            family,
            chain.chain_id,
        ))),
        ("safe", _) => Ok(Finality::Safe),
        ("finalized", _) => Ok(Finality::Finalized),
        (other, _) => Err(format!(
            "chains.{key}.finality: '{other}' must be confirmations, safe or finalized"
        )),
    }
}

/// The finality of a Solana chain: `finalized` (the default, the `finalized` commitment), or
/// `confirmed` with `confirmations` slots at the `confirmed` commitment (default 1: as soon as
/// the transfer's slot is confirmed).
fn solana_finality(key: &str, chain: &ChainConfig) -> Result<Finality, String> {
    match (
        chain.finality.as_deref().unwrap_or("finalized"),
        chain.confirmations,
    ) {
        ("finalized", None) => Ok(Finality::Finalized),
        ("finalized", Some(_)) => Err(format!(
            "chains.{key}.confirmations: counts slots after finality = \"confirmed\" only; \
             remove it, or set finality = \"confirmed\""
        )),
        ("confirmed", Some(n)) => confirmation_count(key, n),
        ("confirmed", None) => Ok(Finality::Confirmations(1)),
        (other, _) => Err(format!(
            "chains.{key}.finality: '{other}' must be finalized or confirmed on a Solana chain"
        )),
    }
}

fn confirmation_count(key: &str, n: u32) -> Result<Finality, String> {
    if (1..=10_000).contains(&n) {
        Ok(Finality::Confirmations(n))
    } else {
        Err(format!(
            "chains.{key}.confirmations: must be between 1 and 10000"
        ))
    }
}

/// `api_urls`: TRON's HTTP API, which payouts need, and nothing on an EVM or Solana chain.
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
        Some(family @ (ChainFamily::Evm | ChainFamily::Solana)) if !urls.is_empty() => {
            problems.push(format!(
                "{at}: only TRON chains have an HTTP API; {} chains use rpc_urls",
                family.name()
            ));
        }
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
