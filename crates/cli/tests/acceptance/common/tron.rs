//! A TRON chain for payment tests: the TRON node stand-in in front of a real anvil chain with
//! the test stablecoins, configured as a `tron` family chain (reads through the stand-in's
//! `/jsonrpc`, payouts through its `/wallet/*` API).

use wcheckout::config::{ChainConfig, Config, TokenConfig};
use wcheckout_domain::address::TronAddress;
use wcheckout_evm::anvil;
use wcheckout_testkit::node_tools::tools_available;
use wcheckout_tron::standin::Standin;

use super::chain::TestChain;

/// The anvil chain id under the stand-in: a local one, so that a gateway can watch it beside
/// a test `ETH` chain (31337).
pub const TRON_TEST_CHAIN_ID: u64 = 31_338;

/// A transaction hash from anvil (`0x…`) as TRON names it: its txID, without the prefix.
pub fn txid(hash: &str) -> String {
    hash.trim_start_matches("0x").to_owned()
}

/// The stand-in and the chain it fronts. Field order: the stand-in stops before its anvil.
pub struct TronChain {
    pub standin: Standin,
    pub chain: TestChain,
}

impl TronChain {
    /// A fresh chain, or `None` (skipped with a message) when node, tronweb or anvil are missing.
    pub async fn start() -> Option<TronChain> {
        let anvil = anvil::find_binary().is_ok();
        if !tools_available("the TRON payment tests", &["tronweb"], anvil) {
            return None;
        }
        let chain = TestChain::start(TRON_TEST_CHAIN_ID).await;
        let standin = Standin::spawn(&chain.rpc_url).expect("the TRON stand-in starts");
        Some(TronChain { standin, chain })
    }

    /// The test USDT in TRON form.
    pub fn usdt(&self) -> TronAddress {
        TronAddress::from_evm(self.chain.usdt)
    }

    /// The test USDC in TRON form.
    pub fn usdc(&self) -> TronAddress {
        TronAddress::from_evm(self.chain.usdc)
    }

    /// Configures `config` to watch this chain as `key` (TRX) with tokens `{key}_USDT` and
    /// `{key}_USDC`, `confirmations` deep, polling fast.
    pub fn configure(&self, config: &mut Config, key: &str, confirmations: u32) {
        config.watcher.enabled = true;
        config.watcher.poll_interval_ms = 50;
        config.orders.expiry_interval_ms = 100;
        config.chains.insert(
            key.to_owned(),
            ChainConfig {
                family: "tron".into(),
                network: None,
                chain_id: TRON_TEST_CHAIN_ID,
                display_name: Some("TRON (stand-in)".into()),
                rpc_urls: vec![self.standin.jsonrpc_url()],
                api_urls: vec![self.standin.url().to_owned()],
                ws_url: None,
                confirmations: Some(confirmations),
                finality: Some("confirmations".into()),
                enabled: true,
                explorer_tx_url: None,
                wallet_rpc_url: None,
                start_block: None,
            },
        );
        for (asset, contract) in [("USDT", self.usdt()), ("USDC", self.usdc())] {
            config.tokens.insert(
                format!("{key}_{asset}"),
                TokenConfig {
                    contract: contract.to_string(),
                    decimals: 6,
                    payment_scale: 2,
                    enabled: true,
                    rate: "1".into(),
                },
            );
        }
    }

    /// The `[chains.TRX]`, `[tokens.TRX_USDT]` and `[tokens.TRX_USDC]` sections of a gateway's
    /// configuration file that watches this chain from `start_block`.
    pub fn config_sections(&self, confirmations: u32, start_block: u64) -> String {
        format!(
            r#"[chains.TRX]
family = "tron"
chain_id = {TRON_TEST_CHAIN_ID}
rpc_urls = ["{jsonrpc}"]
api_urls = ["{api}"]
finality = "confirmations"
confirmations = {confirmations}
start_block = {start_block}

[tokens.TRX_USDT]
contract = "{usdt}"
decimals = 6

[tokens.TRX_USDC]
contract = "{usdc}"
decimals = 6
"#,
            jsonrpc = self.standin.jsonrpc_url(),
            api = self.standin.url(),
            usdt = self.usdt(),
            usdc = self.usdc(),
        )
    }
}
