//! Chain writers signing with keys from the operator's seed, and one payout engine per chain.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wcheckout_app::Gateway;
use wcheckout_app::payouts::PayoutEngine;
use wcheckout_domain::token::{Chain, TokenRegistry};
use wcheckout_evm::reader::EvmChainReader;
use wcheckout_evm::writer::EvmChainWriter;

use crate::config::Config;
use crate::keys;

/// A chain with its reader and writer.
pub struct ChainAccess {
    /// The chain.
    pub chain: Chain,
    /// Reads it.
    pub reader: Arc<EvmChainReader>,
    /// Signs and sends on it.
    pub writer: Arc<EvmChainWriter>,
}

/// Readers and writers of every configured chain.
pub fn chain_access(config: &Config, tokens: &TokenRegistry) -> anyhow::Result<Vec<ChainAccess>> {
    let seed = keys::resolve(config)?.seed;
    let payout_keys = wcheckout_evm::keys::payout_keys(&seed)?;
    tokens
        .chains()
        .map(|chain| {
            let chain_config = &config.chains[chain.key.as_str()];
            let reader = EvmChainReader::new(
                chain.key.as_str(),
                &chain_config.rpc_urls,
                None,
                Duration::from_millis(config.watcher.rpc_timeout_ms),
            )
            .with_context(|| format!("chains.{}", chain.key))?;
            let reader = Arc::new(reader);
            let writer =
                EvmChainWriter::new(Arc::clone(&reader), payout_keys.clone(), chain.chain_id);
            Ok(ChainAccess {
                chain: chain.clone(),
                reader,
                writer: Arc::new(writer),
            })
        })
        .collect()
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
