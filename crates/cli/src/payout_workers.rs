//! Chain writers signing with keys from the operator's seed, and one payout engine per chain:
//! on EVM chains over JSON-RPC, on TRON over the node's HTTP API (`api_urls`), its reads of
//! blocks still through its Ethereum-compatible JSON-RPC (`rpc_urls`), on Solana over its
//! JSON-RPC (`rpc_urls`), the hot wallet paying every fee.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wcheckout_app::Gateway;
use wcheckout_app::payouts::PayoutEngine;
use wcheckout_app::reconciler::Reconciler;
use wcheckout_domain::address::ChainFamily;
use wcheckout_domain::chain::{ChainReader, ChainWriter};
use wcheckout_domain::token::{Chain, TokenRegistry};
use wcheckout_evm::reader::EvmChainReader;
use wcheckout_evm::writer::EvmChainWriter;
use wcheckout_solana::reader::SolanaChainReader;
use wcheckout_solana::rpc::SolanaRpc;
use wcheckout_solana::writer::SolanaChainWriter;
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
    /// Reads it (blocks and finality, for the payout engine).
    pub reader: Arc<dyn ChainReader>,
    /// Signs and sends on it.
    pub writer: Arc<dyn ChainWriter>,
}

/// The payout keys of every family, derived once.
struct SeedKeys {
    evm: wcheckout_evm::keys::PayoutKeys,
    tron: wcheckout_tron::keys::PayoutKeys,
    solana: Arc<wcheckout_solana::keys::SolanaKeys>,
}

/// Readers and writers of every configured chain.
pub fn chain_access(config: &Config, tokens: &TokenRegistry) -> anyhow::Result<Vec<ChainAccess>> {
    let seed = keys::resolve(config)?.seed;
    let keys = SeedKeys {
        evm: wcheckout_evm::keys::payout_keys(&seed)?,
        tron: wcheckout_tron::keys::payout_keys(&seed)?,
        solana: Arc::new(wcheckout_solana::keys::keys(&seed)?),
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
    let evm_reader = || -> anyhow::Result<Arc<EvmChainReader>> {
        let reader =
            EvmChainReader::new(chain.key.as_str(), &chain_config.rpc_urls, None, timeout)?
                .with_family(chain.family)
                .with_retries(config.payouts.rpc_attempts, RETRY_PAUSE)
                .with_hedge(Duration::from_millis(config.payouts.rpc_timeout_ms / 3));
        Ok(Arc::new(reader))
    };
    let (reader, writer): (Arc<dyn ChainReader>, Arc<dyn ChainWriter>) = match chain.family {
        ChainFamily::Evm => {
            let reader = evm_reader()?;
            let writer = EvmChainWriter::new(Arc::clone(&reader), keys.evm.clone(), chain.chain_id);
            (reader, Arc::new(writer))
        }
        ChainFamily::Tron => {
            let nodes = chain_config
                .api_urls
                .iter()
                .map(|url| TronNode::with_timeout(url, None, timeout))
                .collect::<Result<Vec<_>, _>>()
                .context("api_urls")?;
            let writer = TronChainWriter::new(nodes, keys.tron.clone())
                .with_retries(config.payouts.rpc_attempts, RETRY_PAUSE);
            (evm_reader()?, Arc::new(writer))
        }
        // One JSON-RPC client (failover across `rpc_urls`) for both: the reader at `finalized`
        // when the chain waits for finality and `confirmed` otherwise.
        ChainFamily::Solana => {
            let rpc =
                Arc::new(SolanaRpc::new(&chain_config.rpc_urls, timeout).context("rpc_urls")?);
            let commitment = crate::serve::solana_commitment(chain.finality);
            let reader = SolanaChainReader::new(Arc::clone(&rpc), commitment, None);
            let writer = SolanaChainWriter::new(rpc, Arc::clone(&keys.solana))
                .with_retries(config.payouts.rpc_attempts, RETRY_PAUSE);
            (Arc::new(reader), Arc::new(writer))
        }
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

/// The scheduled reconcilers of every chain, reading balances as the payout engines do.
pub fn reconcilers(
    config: &Config,
    gateway: &Arc<Gateway>,
    every: Duration,
) -> anyhow::Result<Vec<Reconciler>> {
    let reconcilers = chain_access(config, &gateway.tokens)?
        .into_iter()
        .map(|access| Reconciler::new(Arc::clone(gateway), access.chain, access.writer, every))
        .collect();
    Ok(reconcilers)
}
