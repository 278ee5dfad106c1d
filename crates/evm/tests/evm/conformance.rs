//! The chain conformance suite (`wcheckout_testkit::chain_conformance`) against the EVM adapter
//! (`EvmChainReader`, `EvmChainWriter`) on a local anvil node (installed by `npm ci`), with two
//! test stablecoins deployed. Each case gets a node of its own.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::anvil::ReorgOptions;
use async_trait::async_trait;
use secrecy::SecretString;
use wcheckout_domain::address::{Address as ChainAddress, EvmAddress};
use wcheckout_domain::chain::{ChainReader, ChainWriter};
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{Anvil, AnvilOptions, DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::keys::payout_keys;
use wcheckout_evm::reader::EvmChainReader;
use wcheckout_evm::stablecoin::{self, anvil_account};
use wcheckout_evm::writer::EvmChainWriter;
use wcheckout_testkit::chain_conformance::ChainHarness;

/// Not anvil's mnemonic: our hot wallet is not a funded dev account.
const SEED: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
/// Dev account 0 deploys the tokens (and alone may mint them); dev account 1 is the payer.
const DEPLOYER: usize = 0;
const PAYER: usize = 1;

struct AnvilHarness {
    _anvil: Anvil,
    rpc_url: String,
    node: RootProvider,
    reader: Arc<EvmChainReader>,
    writer: EvmChainWriter,
    tokens: (EvmAddress, EvmAddress),
}

fn to_alloy(address: EvmAddress) -> Address {
    Address::from(*address.as_bytes())
}

async fn start_anvil() -> AnvilHarness {
    let anvil = Anvil::spawn(&AnvilOptions::default()).expect("anvil (run `npm ci` first)");
    let rpc_url = anvil.rpc_url();
    let deployer = DEV_PRIVATE_KEYS[DEPLOYER];
    let mut tokens = Vec::new();
    for symbol in ["USDT", "USDC"] {
        let token = stablecoin::deploy(&rpc_url, deployer, symbol, symbol, 6)
            .await
            .unwrap();
        let payer = EvmAddress::parse(DEV_ACCOUNTS[PAYER]).unwrap();
        let plenty = TokenAmount::from_base_units(1_000_000_000_000);
        stablecoin::mint(&rpc_url, deployer, token, payer, plenty)
            .await
            .unwrap();
        tokens.push(token);
    }
    let reader = Arc::new(
        EvmChainReader::new(
            "ETH",
            std::slice::from_ref(&rpc_url),
            None,
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let keys = payout_keys(&SecretString::from(SEED)).unwrap();
    let writer = EvmChainWriter::new(Arc::clone(&reader), keys, anvil.chain_id());
    let node = RootProvider::new_http(rpc_url.parse().unwrap());
    AnvilHarness {
        _anvil: anvil,
        rpc_url,
        node,
        reader,
        writer,
        tokens: (tokens[0], tokens[1]),
    }
}

#[async_trait]
impl ChainHarness for AnvilHarness {
    fn reader(&self) -> &dyn ChainReader {
        self.reader.as_ref()
    }

    fn writer(&self) -> &dyn ChainWriter {
        &self.writer
    }

    fn tokens(&self) -> (ChainAddress, ChainAddress) {
        (self.tokens.0.into(), self.tokens.1.into())
    }

    async fn mine(&self, count: u64) {
        self.node.anvil_mine(Some(count), None).await.unwrap();
    }

    async fn pay(&self, token: ChainAddress, to: ChainAddress, amount: u128) -> String {
        let amount = TokenAmount::from_base_units(amount);
        let (token, to) = (anvil_account(&token), anvil_account(&to));
        stablecoin::transfer(&self.rpc_url, DEV_PRIVATE_KEYS[PAYER], token, to, amount)
            .await
            .unwrap()
    }

    async fn reorg(&self, depth: u64) {
        let options = ReorgOptions {
            depth,
            tx_block_pairs: Vec::new(),
        };
        self.node.anvil_reorg(options).await.unwrap();
    }

    async fn fund(&self, holder: ChainAddress, token: Option<ChainAddress>, amount: u128) {
        let holder = anvil_account(&holder);
        match token.as_ref().map(anvil_account) {
            Some(token) => {
                let amount = TokenAmount::from_base_units(amount);
                stablecoin::mint(
                    &self.rpc_url,
                    DEV_PRIVATE_KEYS[DEPLOYER],
                    token,
                    holder,
                    amount,
                )
                .await
                .unwrap();
            }
            None => {
                let held = self.node.get_balance(to_alloy(holder)).await.unwrap();
                let balance = held + U256::from(amount);
                self.node
                    .anvil_set_balance(to_alloy(holder), balance)
                    .await
                    .unwrap();
            }
        }
    }

    async fn set_automine(&self, on: bool) {
        self.node.anvil_set_auto_mine(on).await.unwrap();
    }
}

wcheckout_testkit::chain_conformance_suite!(start_anvil());
