//! Chain writers signing with keys from the operator's seed, and one payout engine per chain:
//! on EVM chains over JSON-RPC, on TRON over the node's HTTP API (`api_urls`), its reads of
//! blocks still through its Ethereum-compatible JSON-RPC (`rpc_urls`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wcheckout_app::Gateway;
use wcheckout_app::payouts::PayoutEngine;
use wcheckout_domain::address::ChainFamily;
use wcheckout_domain::chain::ChainWriter;
use wcheckout_domain::token::{Chain, TokenRegistry};
use wcheckout_evm::reader::EvmChainReader;
use wcheckout_evm::writer::EvmChainWriter;
use wcheckout_tron::node::TronNode;
use wcheckout_tron::writer::TronChainWriter;

use crate::config::{ChainConfig, Config};
use crate::keys;

/// The pause before a payout's node call is tried again (twice as long before a third try).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// A chain with its reader and writer.
pub struct ChainAccess {
    /// The chain.
    pub chain: Chain,
    /// Reads it.
    pub reader: Arc<EvmChainReader>,
    /// Signs and sends on it.
    pub writer: Arc<dyn ChainWriter>,
}

/// The payout keys of every family, derived once.
struct SeedKeys {
    evm: wcheckout_evm::keys::PayoutKeys,
    tron: wcheckout_tron::keys::PayoutKeys,
}

/// Readers and writers of every configured chain.
pub fn chain_access(config: &Config, tokens: &TokenRegistry) -> anyhow::Result<Vec<ChainAccess>> {
    let seed = keys::resolve(config)?.seed;
    let keys = SeedKeys {
        evm: wcheckout_evm::keys::payout_keys(&seed)?,
        tron: wcheckout_tron::keys::payout_keys(&seed)?,
    };
    tokens
        .chains()
        .map(|chain| {
            let chain_config = &config.chains[chain.key.as_str()];
            access(config, chain, chain_config, &keys)
                .with_context(|| format!("chains.{}", chain.key))
        })
        .collect()
}

fn access(
    config: &Config,
    chain: &Chain,
    chain_config: &ChainConfig,
    keys: &SeedKeys,
) -> anyhow::Result<ChainAccess> {
    let timeout = Duration::from_millis(config.payouts.rpc_timeout_ms);
    // Payouts ask short questions, ask again when an answer is late (after a third of the
    // timeout) and retry: a lost answer costs a second or two, not a round.
    let reader = EvmChainReader::new(chain.key.as_str(), &chain_config.rpc_urls, None, timeout)?
        .with_family(chain.family)
        .with_retries(config.payouts.rpc_attempts, RETRY_PAUSE)
        .with_hedge(Duration::from_millis(config.payouts.rpc_timeout_ms / 3));
    let reader = Arc::new(reader);
    let writer: Arc<dyn ChainWriter> = match chain.family {
        ChainFamily::Evm => Arc::new(EvmChainWriter::new(
            Arc::clone(&reader),
            keys.evm.clone(),
            chain.chain_id,
        )),
        ChainFamily::Tron => {
            let nodes = chain_config
                .api_urls
                .iter()
                .map(|url| TronNode::with_timeout(url, None, timeout))
                .collect::<Result<Vec<_>, _>>()
                .context("api_urls")?;
            let writer = TronChainWriter::new(nodes, keys.tron.clone())
                .with_retries(config.payouts.rpc_attempts, RETRY_PAUSE);
            Arc::new(writer)
        }
        ChainFamily::Solana => anyhow::bail!("{}", crate::config::SOLANA_NOT_SERVED),
    };
    Ok(ChainAccess {
        chain: chain.clone(),
        reader,
        writer,
    })
}

/// The engines of every chain (disabled chains too: their refunds and settlements still go out).
pub fn payout_engines(
    config: &Config,
    gateway: &Arc<Gateway>,
    holder: &str,
) -> anyhow::Result<Vec<PayoutEngine>> {
    let settings = config.payout_settings();
    let engines = chain_access(config, &gateway.tokens)?
        .into_iter()
        .map(|access| {
            PayoutEngine::new(
                Arc::clone(gateway),
                access.chain,
                access.reader,
                access.writer,
                settings.clone(),
                holder.to_owned(),
            )
        })
        .collect();
    Ok(engines)
}
