//! A Solana chain for payment tests: surfpool's Surfnet (the real SVM and token programs behind
//! Solana's JSON-RPC) with two 6-decimal mints as `SOL_USDT` and `SOL_USDC`, and payer wallets
//! that pay through `@solana/web3.js`.

use wcheckout::config::{ChainConfig, Config, TokenConfig};
use wcheckout_domain::money::TokenAmount;
use wcheckout_solana::address::SolanaAddress;
use wcheckout_solana::surfnet::{PACKAGE, Setup, Surfnet};
use wcheckout_testkit::node_tools::tools_available;

/// Payers, numbered 1..=PAYERS as on the anvil chains.
pub const PAYERS: usize = 5;

/// The secret of a wallet every cluster funds as it funds the payers (100 SOL and the same
/// token balances), for tests that sign as a payer's own wallet would (the payment page's
/// wallet). It is also the test mints' authority.
pub const WALLET_SECRET: [u8; 32] = [0x5a; 32];

/// The wallet of [`WALLET_SECRET`].
pub fn wallet() -> wcheckout_solana::keys::Keypair {
    wcheckout_solana::keys::Keypair::from_secret(&WALLET_SECRET)
}

/// The running cluster.
pub struct SolanaChain {
    pub node: Surfnet,
}

impl SolanaChain {
    /// A fresh cluster, or `None` (skipped with a message) when node or Surfnet is missing.
    pub async fn start() -> Option<SolanaChain> {
        SolanaChain::start_funding(Vec::new()).await
    }

    /// The same, with each key of `fund` (32-byte ed25519 secrets, hex: the hot wallet's) given
    /// 100 SOL and 1,000,000 of each mint; the first is the mints' authority.
    pub async fn start_funding(fund: Vec<String>) -> Option<SolanaChain> {
        if !tools_available("the Solana payment tests", &[PACKAGE], true) {
            return None;
        }
        let mut setup = Setup::new(&[6, 6], PAYERS, 1_000_000_000_000);
        setup.fund = fund;
        setup.fund.push(hex::encode(WALLET_SECRET));
        let node = Surfnet::start(&setup).await.expect("Surfnet starts");
        Some(SolanaChain { node })
    }

    /// The test USDT mint.
    pub fn usdt(&self) -> SolanaAddress {
        self.node.mints[0]
    }

    /// The test USDC mint.
    pub fn usdc(&self) -> SolanaAddress {
        self.node.mints[1]
    }

    /// Payer `payer` (1..=PAYERS) sends `amount` of `mint` to the owner `to`; the signature.
    pub async fn pay(
        &self,
        payer: usize,
        mint: SolanaAddress,
        to: &str,
        amount: TokenAmount,
    ) -> String {
        let units = u64::try_from(amount.base_units()).unwrap();
        self.node.pay(payer - 1, &mint, to, units).await.unwrap()
    }

    /// Configures `config` to watch this cluster as `key` (SOL), with tokens `{key}_USDT` and
    /// `{key}_USDC`, polling fast: final at `finalized`, or with `confirmed_slots`, that many
    /// slots at `confirmed`. Payouts are off (the payout tests turn them on).
    pub fn configure(&self, config: &mut Config, key: &str, confirmed_slots: Option<u32>) {
        config.watcher.enabled = true;
        config.watcher.poll_interval_ms = 50;
        config.orders.expiry_interval_ms = 100;
        config.payouts.enabled = false;
        config.chains.insert(
            key.to_owned(),
            ChainConfig {
                family: "solana".into(),
                network: None,
                chain_id: 0,
                display_name: Some("Solana (Surfnet)".into()),
                rpc_urls: vec![self.node.rpc_url.clone()],
                api_urls: Vec::new(),
                ws_url: None,
                confirmations: confirmed_slots,
                finality: Some(
                    if confirmed_slots.is_some() {
                        "confirmed"
                    } else {
                        "finalized"
                    }
                    .into(),
                ),
                enabled: true,
                explorer_tx_url: None,
                wallet_rpc_url: None,
                start_block: None,
            },
        );
        for (asset, mint) in [("USDT", self.usdt()), ("USDC", self.usdc())] {
            config.tokens.insert(
                format!("{key}_{asset}"),
                TokenConfig {
                    contract: mint.to_string(),
                    decimals: 6,
                    payment_scale: 2,
                    enabled: true,
                    rate: "1".into(),
                },
            );
        }
    }

    /// The `[chains.SOL]`, `[tokens.SOL_USDT]`, `[tokens.SOL_USDC]` and `[payouts]` (off)
    /// sections of a gateway's configuration file that watches this cluster.
    pub fn config_sections(&self) -> String {
        format!(
            r#"[payouts]
enabled = false

[chains.SOL]
family = "solana"
rpc_urls = ["{rpc}"]
finality = "finalized"

[tokens.SOL_USDT]
contract = "{usdt}"
decimals = 6

[tokens.SOL_USDC]
contract = "{usdc}"
decimals = 6
"#,
            rpc = self.node.rpc_url,
            usdt = self.usdt(),
            usdc = self.usdc(),
        )
    }

    /// Waits until every transaction confirmed so far is finalized; that slot.
    pub async fn finalize_all(&self) -> u64 {
        let confirmed = self.node.slot("confirmed").await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let finalized = self.node.slot("finalized").await.unwrap();
            if finalized >= confirmed {
                return finalized;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "slot {confirmed} not finalized"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
