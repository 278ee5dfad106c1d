//! A real anvil chain with the three devnet stablecoins, for payment tests.

use std::time::Duration;

use serde_json::{Value, json};
use wcheckout::config::{ChainConfig, Config, TokenConfig};
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{Anvil, AnvilOptions, DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;

use super::process::json_answer;

/// Whole tokens of a 6-decimal stablecoin, in base units.
pub fn usd(whole: &str) -> TokenAmount {
    let decimal = wcheckout_domain::money::Decimal::parse(whole).unwrap();
    TokenAmount::from_decimal(&decimal, 6).unwrap()
}

/// Whole tokens of an 18-decimal stablecoin (WUSD), in base units.
pub fn wusd(whole: &str) -> TokenAmount {
    let decimal = wcheckout_domain::money::Decimal::parse(whole).unwrap();
    TokenAmount::from_decimal(&decimal, 18).unwrap()
}

/// An API amount (a JSON number or a decimal string) in base units.
pub fn units(value: &Value) -> u128 {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    usd(&text).base_units()
}

/// The anvil account of an address of any secp256k1 family (`0x…`, or TRON's `T…`).
pub fn anvil_account(address: &str) -> EvmAddress {
    let parsed = wcheckout_domain::address::Address::parse_any(address);
    stablecoin::anvil_account(&parsed.unwrap_or_else(|| panic!("{address} is not an address")))
}

/// Amount text of base units (6 decimals).
pub fn text(base_units: u128) -> String {
    format!("{}.{:06}", base_units / 1_000_000, base_units % 1_000_000)
}

/// An anvil node with USDT, USDC, WUSD (18 decimals) and an unconfigured fourth token
/// deployed, payers funded. The first three land where the devnet's do.
pub struct TestChain {
    pub anvil: Anvil,
    pub rpc_url: String,
    pub usdt: EvmAddress,
    pub usdc: EvmAddress,
    pub wusd: EvmAddress,
    /// A token the gateway is not configured for.
    pub stranger: EvmAddress,
    http: reqwest::Client,
}

/// Payers are dev accounts 1..=5.
pub const PAYERS: usize = 5;

impl TestChain {
    pub async fn start(chain_id: u64) -> TestChain {
        let options = AnvilOptions {
            chain_id,
            ..AnvilOptions::default()
        };
        TestChain::start_with(&options).await
    }

    /// A chain on a node started with `options` (a fixed port, a state file, …).
    pub async fn start_with(options: &AnvilOptions) -> TestChain {
        let anvil = Anvil::spawn(options).expect("anvil (run `npm ci` first)");
        let rpc_url = anvil.rpc_url();
        let deployer = DEV_PRIVATE_KEYS[0];
        let usdt = stablecoin::deploy(&rpc_url, deployer, "Tether USD", "USDT", 6)
            .await
            .unwrap();
        let usdc = stablecoin::deploy(&rpc_url, deployer, "USD Coin", "USDC", 6)
            .await
            .unwrap();
        let wusd = stablecoin::deploy(&rpc_url, deployer, "Worldwide USD", "WUSD", 18)
            .await
            .unwrap();
        let stranger = stablecoin::deploy(&rpc_url, deployer, "Fake USD", "FUSD", 6)
            .await
            .unwrap();
        let payers = (1..=PAYERS)
            .map(|i| EvmAddress::parse(DEV_ACCOUNTS[i]).unwrap())
            .collect::<Vec<_>>();
        for token in [usdt, usdc, stranger] {
            stablecoin::mint_to_each(&rpc_url, deployer, token, &payers, usd("1000000"))
                .await
                .unwrap();
        }
        stablecoin::mint_to_each(&rpc_url, deployer, wusd, &payers, self::wusd("1000000"))
            .await
            .unwrap();
        TestChain {
            anvil,
            rpc_url,
            usdt,
            usdc,
            wusd,
            stranger,
            http: reqwest::Client::new(),
        }
    }

    /// Stops the node (gracefully: with a state file it writes the chain there) and keeps what
    /// [`StoppedChain::resume`] needs to start it again with the same options.
    pub fn stop(self, options: &AnvilOptions) -> StoppedChain {
        let TestChain {
            anvil,
            rpc_url,
            usdt,
            usdc,
            wusd,
            stranger,
            http,
        } = self;
        let mut options = options.clone();
        options.port = anvil.port();
        anvil.stop();
        StoppedChain {
            options,
            rpc_url,
            usdt,
            usdc,
            wusd,
            stranger,
            http,
        }
    }

    /// Configures `config` to watch this chain as `key` (ETH, BSC, …) with tokens `{key}_USDT`,
    /// `{key}_USDC` and `{key}_WUSD`, `confirmations` deep, polling fast.
    pub fn configure(&self, config: &mut Config, key: &str, confirmations: u32) {
        config.watcher.enabled = true;
        config.watcher.poll_interval_ms = 50;
        config.orders.expiry_interval_ms = 100;
        config.chains.insert(
            key.to_owned(),
            ChainConfig {
                family: "evm".into(),
                network: None,
                chain_id: self.anvil.chain_id(),
                display_name: None,
                rpc_urls: vec![self.rpc_url.clone()],
                api_urls: Vec::new(),
                ws_url: Some(self.anvil.ws_url()),
                confirmations: Some(confirmations),
                finality: Some("confirmations".into()),
                enabled: true,
                explorer_tx_url: None,
                wallet_rpc_url: None,
                start_block: None,
            },
        );
        let tokens = [
            ("USDT", self.usdt, 6),
            ("USDC", self.usdc, 6),
            ("WUSD", self.wusd, 18),
        ];
        for (asset, contract, decimals) in tokens {
            config.tokens.insert(
                format!("{key}_{asset}"),
                TokenConfig {
                    contract: contract.to_checksum(),
                    decimals,
                    payment_scale: 2,
                    enabled: true,
                    rate: "1".into(),
                },
            );
        }
    }

    /// Sends `amount` of `token` from payer `payer` (1..=5) to `to`; returns the tx hash.
    pub async fn pay(
        &self,
        payer: usize,
        token: EvmAddress,
        to: &str,
        amount: TokenAmount,
    ) -> String {
        let to = anvil_account(to);
        stablecoin::transfer(&self.rpc_url, DEV_PRIVATE_KEYS[payer], token, to, amount)
            .await
            .unwrap()
    }

    /// A raw JSON-RPC call.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        rpc(&self.http, &self.rpc_url, method, params).await
    }

    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("{blocks:#x}")]))
            .await;
    }

    pub async fn head(&self) -> u64 {
        let hex = self.rpc("eth_blockNumber", json!([])).await;
        u64::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// Replaces the last `depth` blocks by new ones holding `transactions` (JSON tx requests
    /// from unlocked dev accounts, each with its block offset).
    pub async fn reorg(&self, depth: u64, transactions: Vec<(Value, u64)>) {
        let pairs = transactions
            .into_iter()
            .map(|(tx, offset)| json!([tx, offset]))
            .collect::<Vec<_>>();
        self.rpc("anvil_reorg", json!([depth, pairs])).await;
    }

    /// A transfer as an unsigned tx request from payer `payer` (for `anvil_reorg`).
    pub fn transfer_request(
        &self,
        payer: usize,
        token: EvmAddress,
        to: &str,
        amount: TokenAmount,
    ) -> Value {
        let to = anvil_account(to);
        let data = format!(
            "0xa9059cbb{:0>64}{:064x}",
            hex_of(to.as_bytes()),
            amount.base_units()
        );
        json!({"from": DEV_ACCOUNTS[payer], "to": token.to_checksum(), "data": data, "gas": "0x30000"})
    }

    /// The `[chains.ETH]`, `[tokens.ETH_USDT]` and `[tokens.ETH_USDC]` sections of a gateway's
    /// configuration file that watches this node from `start_block`.
    pub fn config_sections(&self, confirmations: u32, start_block: u64) -> String {
        format!(
            r#"[chains.ETH]
chain_id = {chain_id}
rpc_urls = ["{rpc_url}"]
ws_url = "{ws_url}"
finality = "confirmations"
confirmations = {confirmations}
start_block = {start_block}

[tokens.ETH_USDT]
contract = "{usdt}"
decimals = 6

[tokens.ETH_USDC]
contract = "{usdc}"
decimals = 6
"#,
            chain_id = self.anvil.chain_id(),
            rpc_url = self.rpc_url,
            ws_url = self.anvil.ws_url(),
            usdt = self.usdt.to_checksum(),
            usdc = self.usdc.to_checksum(),
        )
    }

    pub async fn balance(&self, token: EvmAddress, owner: &str) -> TokenAmount {
        stablecoin::balance_of(&self.rpc_url, token, anvil_account(owner))
            .await
            .unwrap()
    }
}

/// A [`TestChain`] whose node is stopped; its tokens stay deployed in the state file.
pub struct StoppedChain {
    options: AnvilOptions,
    rpc_url: String,
    usdt: EvmAddress,
    usdc: EvmAddress,
    wusd: EvmAddress,
    stranger: EvmAddress,
    http: reqwest::Client,
}

impl StoppedChain {
    /// Starts the node again on the same port from its state file.
    pub fn resume(self) -> TestChain {
        let anvil = Anvil::spawn(&self.options).expect("anvil restart");
        assert_eq!(
            anvil.rpc_url(),
            self.rpc_url,
            "the node came back elsewhere"
        );
        TestChain {
            anvil,
            rpc_url: self.rpc_url,
            usdt: self.usdt,
            usdc: self.usdc,
            wusd: self.wusd,
            stranger: self.stranger,
            http: self.http,
        }
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON-RPC call to the node at `url`: its `result` (an error answer fails the test).
pub async fn rpc(http: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer = json_answer(http.post(url).json(&body)).await;
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{method}: no result in {answer}"))
}

/// Polls `probe` every 100 ms until it returns `Some`, at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
