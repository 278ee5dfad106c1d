//! The chain the detection and catch-up benchmarks pay on: one anvil node with the workload,
//! read by the gateway either as an EVM chain (anvil's JSON-RPC and its WebSocket new heads) or
//! as a TRON chain through the TRON node stand-in's `/jsonrpc` in front of the same anvil (no
//! WebSocket: TRON nodes offer no `newHeads` subscription, so the watcher polls).
//!
//! The harness itself always talks to anvil directly (deploying, minting, paying, reading
//! receipts and timestamps), so both families carry the same workload; only the gateway's
//! reads go through the stand-in.

use anyhow::Context;
use wcheckout_domain::address::{Address, ChainFamily, EvmAddress};
use wcheckout_evm::anvil::{self, Anvil, AnvilOptions};
use wcheckout_tron::standin::{LogLimits, Standin};

/// The family the gateway is told the chain is.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Family {
    /// anvil read as an EVM chain, `ETH` / `ETH_USDT`, with `ws_url`.
    #[default]
    Evm,
    /// anvil behind the TRON node stand-in, read as `TRX` / `TRX_USDT` through `/jsonrpc`.
    Tron,
}

impl Family {
    /// The chain's key in the gateway's configuration.
    pub(crate) fn chain_key(self) -> &'static str {
        match self {
            Family::Evm => "ETH",
            Family::Tron => "TRX",
        }
    }

    /// The benchmarks' token.
    pub(crate) fn token_key(self) -> &'static str {
        match self {
            Family::Evm => "ETH_USDT",
            Family::Tron => "TRX_USDT",
        }
    }

    /// The core's family.
    pub(crate) fn domain(self) -> ChainFamily {
        match self {
            Family::Evm => ChainFamily::Evm,
            Family::Tron => ChainFamily::Tron,
        }
    }

    /// For headings: `EVM`, `TRON`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::Evm => "EVM",
            Family::Tron => "TRON",
        }
    }

    /// The blocks per `eth_getLogs` the watcher asks for with `configured` set: `wcheckout
    /// serve` cuts a TRON chain's to the 5,000 blocks java-tron serves.
    pub(crate) fn scan_blocks(self, configured: u64) -> u64 {
        match self {
            Family::Evm => configured.max(1),
            Family::Tron => configured.clamp(1, LogLimits::JAVA_TRON.blocks),
        }
    }

    /// `evm_token` (a contract on anvil) as the gateway's configuration writes it.
    pub(crate) fn contract_text(self, evm_token: EvmAddress) -> String {
        Address::from_account_bytes(self.domain(), *evm_token.as_bytes())
            .map_or_else(|| evm_token.to_string(), |address| address.to_string())
    }

    /// Why this family's benchmark cannot run here, if it cannot.
    pub(crate) fn tools_missing(self) -> Option<String> {
        if let Err(error) = anvil::find_binary() {
            return Some(format!(
                "anvil is missing ({error}): run `npm ci` at the repository root, or set \
                 $WCHECKOUT_ANVIL"
            ));
        }
        (self == Family::Tron && !Standin::tools_present()).then(|| {
            "the TRON node stand-in needs `node` and tronweb: run `npm ci` at the repository \
             root"
                .to_owned()
        })
    }
}

/// How the gateway reaches the chain.
#[derive(Clone, Debug)]
pub(crate) struct WatchedChain {
    pub(crate) family: Family,
    /// The JSON-RPC the gateway reads: anvil's, or the stand-in's `/jsonrpc`.
    pub(crate) rpc_url: String,
    /// EVM: anvil's WebSocket, whose new heads wake the watcher. TRON: none.
    pub(crate) ws_url: Option<String>,
    /// TRON: the stand-in's HTTP API (`api_urls`, required on a TRON chain; payouts only).
    pub(crate) api_url: Option<String>,
    pub(crate) chain_id: u64,
}

/// anvil and, for TRON, the stand-in in front of it. Field order: the stand-in stops first.
pub(crate) struct Node {
    family: Family,
    standin: Option<Standin>,
    anvil: Anvil,
}

impl Node {
    /// Starts anvil (default options: automine) and, for TRON, the stand-in with java-tron's
    /// `eth_getLogs` limits (5,000 blocks, 10,000 results).
    pub(crate) async fn start(family: Family) -> anyhow::Result<Node> {
        let anvil = tokio::task::spawn_blocking(|| Anvil::spawn(&AnvilOptions::default()))
            .await?
            .context(
                "starting anvil (run `npm ci` at the repository root, or set $WCHECKOUT_ANVIL)",
            )?;
        let standin = match family {
            Family::Evm => None,
            Family::Tron => {
                let url = anvil.rpc_url();
                let started = tokio::task::spawn_blocking(move || Standin::spawn(&url)).await?;
                match started {
                    Ok(standin) => Some(standin),
                    Err(error) => {
                        tokio::task::spawn_blocking(move || anvil.stop()).await?;
                        return Err(error).context("starting the TRON node stand-in");
                    }
                }
            }
        };
        Ok(Node {
            family,
            standin,
            anvil,
        })
    }

    /// anvil's JSON-RPC, where the harness sends its transactions and reads receipts.
    pub(crate) fn anvil_url(&self) -> String {
        self.anvil.rpc_url()
    }

    /// The chain as the gateway is told to read it; `rpc_url` overrides the JSON-RPC it reads
    /// (a counting proxy in front of it).
    pub(crate) fn watched(&self, rpc_url: Option<String>) -> WatchedChain {
        let (read_url, ws_url, api_url) = match &self.standin {
            Some(standin) => (standin.jsonrpc_url(), None, Some(standin.url().to_owned())),
            None => (self.anvil.rpc_url(), Some(self.anvil.ws_url()), None),
        };
        WatchedChain {
            family: self.family,
            rpc_url: rpc_url.unwrap_or(read_url),
            ws_url,
            api_url,
            chain_id: self.anvil.chain_id(),
        }
    }

    /// The JSON-RPC the gateway reads when nothing is in between.
    pub(crate) fn read_url(&self) -> String {
        self.watched(None).rpc_url
    }

    /// Stops the stand-in, then anvil.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let Node { standin, anvil, .. } = self;
        drop(standin);
        tokio::task::spawn_blocking(move || anvil.stop()).await?;
        Ok(())
    }
}
