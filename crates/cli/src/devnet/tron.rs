//! The devnet's TRON chain: a second anvil node with the TRON node stand-in in front of it,
//! offered as `TRX` with `TRX_USDT` and `TRX_USDC` (the same test tokens as the EVM chain's, at
//! the same 20 bytes, written in TRON's form). The gateway reads it through the stand-in's
//! `/jsonrpc` and sends through its `/wallet/*` API, as it would a java-tron node. It needs
//! `node` and tronweb from the source checkout's `node_modules`; without them the devnet runs
//! without TRON and says so.

use std::path::Path;

use anyhow::Context;
use k256::ecdsa::SigningKey;
use serde_json::{Value, json};
use wcheckout_domain::address::{Address, TronAddress};
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{Anvil, AnvilOptions};
use wcheckout_evm::stablecoin;
use wcheckout_tron::node::{Broadcast, TronNode};
use wcheckout_tron::standin::Standin;
use wcheckout_tron::transaction::{Call, Header, UnsignedTransaction};

use super::{ensure_tokens, fund_payers, toml_string};

/// The TRON chain's key in the gateway config.
pub(crate) const TRON_CHAIN_KEY: &str = "TRX";
/// The chain id of the TRON devnet's anvil: a local one, beside the EVM devnet's 31337.
pub(crate) const TRON_DEVNET_CHAIN_ID: u64 = 31_338;
/// The TRON chain's state, kept across restarts beside the EVM chain's.
const TRON_STATE_FILE_NAME: &str = "tron-anvil-state.json";
/// The stand-in counts 1 sun as 10^12 wei of the anvil balance (1 TRX reads as 1 ETH).
const WEI_PER_SUN: u128 = 1_000_000_000_000;
const SUN_PER_TRX: u128 = 1_000_000;
/// TRX given to a hot wallet holding less than [`LOW_TRX`].
const FUNDING_TRX: u128 = 1_000;
const LOW_TRX: u128 = 100;
/// What a payer's transfer may burn for energy, and how long it stays valid.
const PAY_FEE_LIMIT_SUN: u64 = 30_000_000;
const PAY_VALIDITY_MS: u64 = 60_000;

/// The running TRON devnet chain. Field order: the stand-in stops before its anvil.
pub(crate) struct TronDevnet {
    standin: Standin,
    anvil: Anvil,
    usdt: TronAddress,
    usdc: TronAddress,
}

/// Starts the TRON chain in `dir` with the tokens in place and the payers funded; `None`, with a
/// warning, when the stand-in's tools are missing.
pub(crate) async fn launch(dir: &Path) -> anyhow::Result<Option<TronDevnet>> {
    if !Standin::tools_present() {
        eprintln!(
            "warning: TRX_USDT and TRX_USDC are not offered: the TRON node stand-in needs node \
             and tronweb (run `npm ci` in the wcheckout source)"
        );
        return Ok(None);
    }
    let options = AnvilOptions {
        port: 0,
        chain_id: TRON_DEVNET_CHAIN_ID,
        state_file: Some(dir.join(TRON_STATE_FILE_NAME)),
        ..AnvilOptions::default()
    };
    let anvil = Anvil::spawn(&options).context("cannot start the TRON devnet chain")?;
    match set_up(&anvil).await {
        Ok((usdt, usdc, standin)) => Ok(Some(TronDevnet {
            standin,
            anvil,
            usdt,
            usdc,
        })),
        Err(error) => {
            anvil.kill();
            Err(error)
        }
    }
}

async fn set_up(anvil: &Anvil) -> anyhow::Result<(TronAddress, TronAddress, Standin)> {
    let rpc_url = anvil.rpc_url();
    let (tokens, deployed) = ensure_tokens(&rpc_url).await?;
    fund_payers(&rpc_url, &deployed).await?;
    let standin = Standin::spawn(&rpc_url).context("cannot start the TRON node stand-in")?;
    let token = |symbol: &str| {
        tokens
            .iter()
            .find(|(token, _)| token.symbol == symbol)
            .map(|(_, address)| TronAddress::from_evm(*address))
            .with_context(|| format!("no devnet {symbol}"))
    };
    Ok((token("USDT")?, token("USDC")?, standin))
}

impl TronDevnet {
    /// The `[chains.TRX]` and `[tokens.TRX_*]` sections of the devnet's gateway config.
    pub(crate) fn config_sections(&self) -> String {
        format!(
            "\n[chains.{TRON_CHAIN_KEY}]\n\
             family = \"tron\"\n\
             chain_id = {TRON_DEVNET_CHAIN_ID}\n\
             display_name = \"TRON (local devnet)\"\n\
             rpc_urls = [{jsonrpc}]\n\
             api_urls = [{api}]\n\
             finality = \"confirmations\"\n\
             confirmations = 1\n\
             \n[tokens.{TRON_CHAIN_KEY}_USDT]\ncontract = \"{usdt}\"\ndecimals = 6\n\
             \n[tokens.{TRON_CHAIN_KEY}_USDC]\ncontract = \"{usdc}\"\ndecimals = 6\n",
            jsonrpc = toml_string(&self.standin.jsonrpc_url()),
            api = toml_string(self.standin.url()),
            usdt = self.usdt,
            usdc = self.usdc,
        )
    }

    /// The `tron` part of the ready line and devnet.json.
    pub(crate) fn ready_json(&self) -> Value {
        json!({
            "apiUrl": self.standin.url(),
            "jsonRpcUrl": self.standin.jsonrpc_url(),
            "chainId": TRON_DEVNET_CHAIN_ID,
            "tokens": {
                format!("{TRON_CHAIN_KEY}_USDT"): self.usdt.to_string(),
                format!("{TRON_CHAIN_KEY}_USDC"): self.usdc.to_string(),
            },
        })
    }

    /// The summary lines.
    pub(crate) fn announce(&self) {
        println!(
            "  TRON       HTTP API {}   JSON-RPC {}",
            self.standin.url(),
            self.standin.jsonrpc_url()
        );
        println!("  {TRON_CHAIN_KEY}_USDT   {} (6 decimals)", self.usdt);
        println!("  {TRON_CHAIN_KEY}_USDC   {} (6 decimals)", self.usdc);
    }

    /// The anvil node under the stand-in (for funding).
    pub(crate) fn anvil_rpc_url(&self) -> String {
        self.anvil.rpc_url()
    }

    /// Stops the stand-in, then the chain (which writes its state).
    pub(crate) fn stop(self) {
        let TronDevnet { standin, anvil, .. } = self;
        drop(standin);
        anvil.stop();
    }
}

/// Pays `amount` of `token` to `to` from the payer with the hex private key `payer_key`: a
/// TRC-20 transfer built, signed and broadcast as a TRON wallet does. Returns the txID.
pub(crate) async fn pay(
    api_url: &str,
    payer_key: &str,
    token: &Address,
    to: &Address,
    amount: TokenAmount,
) -> anyhow::Result<String> {
    let (Address::Tron(token), Address::Tron(to)) = (token, to) else {
        anyhow::bail!("a TRON payment needs TRON addresses");
    };
    let key_bytes = hex::decode(payer_key.trim_start_matches("0x"))?;
    let key = SigningKey::from_slice(&key_bytes).context("the payer key is not a secp256k1 key")?;
    let node = TronNode::new(api_url, None)?;
    let head = node.now_block().await?;
    let header = Header {
        ref_block: head.ref_block(),
        timestamp_ms: head.timestamp_ms,
        expiration_ms: head.timestamp_ms + PAY_VALIDITY_MS,
        fee_limit_sun: PAY_FEE_LIMIT_SUN,
    };
    let call = Call::Trc20Transfer {
        owner: wcheckout_tron::address::of_public_key(key.verifying_key()),
        token: *token,
        to: *to,
        amount: amount.base_units(),
    };
    let signed = UnsignedTransaction::new(&call, &header)?.sign(&key)?;
    match node.broadcast(&signed).await? {
        Broadcast::Accepted => Ok(signed.id().to_string()),
        Broadcast::Refused { code, message } => {
            anyhow::bail!("the TRON node refused the payment ({code:?}): {message}")
        }
    }
}

/// Gives a devnet gateway's TRON hot wallet TRX when it holds little, and records it in the
/// ledger as operator funding, in sun.
pub(crate) async fn fund_hot_wallet(
    gateway: &wcheckout_app::Gateway,
    chain: &wcheckout_domain::token::Chain,
    anvil_rpc_url: &str,
) -> anyhow::Result<()> {
    let hot_wallet = stablecoin::anvil_account(&gateway.hot_wallet(chain)?);
    let held_sun = stablecoin::native_balance(anvil_rpc_url, hot_wallet).await? / WEI_PER_SUN;
    if held_sun >= LOW_TRX * SUN_PER_TRX {
        return Ok(());
    }
    let sun = FUNDING_TRX * SUN_PER_TRX;
    let key = wcheckout_evm::anvil::DEV_PRIVATE_KEYS[super::FUNDER_KEY_INDEX];
    let wei = sun.checked_mul(WEI_PER_SUN).context("funding amount")?;
    let tx_hash = stablecoin::send_native(anvil_rpc_url, key, hot_wallet, wei).await?;
    let asset = wcheckout_domain::ledger::Asset::Native(chain.key.clone());
    gateway
        .record_funding(chain, asset, TokenAmount::from_base_units(sun), &tx_hash)
        .await?;
    Ok(())
}
