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

/// The pause before a payout's node call is tried again (twice as long before a third try).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

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
            // Payouts ask short questions, ask again when an answer is late (after a third of
            // the timeout) and retry: a lost answer costs a second or two, not a round.
            let reader = EvmChainReader::new(
                chain.key.as_str(),
                &chain_config.rpc_urls,
                None,
                Duration::from_millis(config.payouts.rpc_timeout_ms),
            )
            .with_context(|| format!("chains.{}", chain.key))?
            .with_retries(config.payouts.rpc_attempts, RETRY_PAUSE)
            .with_hedge(Duration::from_millis(config.payouts.rpc_timeout_ms / 3));
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
