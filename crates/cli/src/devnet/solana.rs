//! The devnet's Solana cluster: surfpool's Surfnet (the real SVM and token programs behind
//! Solana's JSON-RPC), offered as `SOL` with `SOL_USDT` and `SOL_USDC`. It needs `node` and
//! the Surfnet npm module from the source checkout's `node_modules`; without them the devnet
//! runs without Solana and says so.
//!
//! Surfnet keeps its state in memory: each start is a fresh cluster. Its mints and payers are
//! derived from anvil's public dev mnemonic, so they are the same every start (and a payer can be
//! imported into a Solana wallet by that mnemonic).

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wcheckout_domain::address::Address;
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::DEV_MNEMONIC;
use wcheckout_solana::address::{SolanaAddress, TOKEN_PROGRAM};
use wcheckout_solana::keys::{self, Keypair};
use wcheckout_solana::rpc::{Commitment, SolanaRpc};
use wcheckout_solana::surfnet::{self, MintSpec, Setup, Surfnet};
use wcheckout_solana::transaction::instructions::TokenPayment;
use wcheckout_solana::transaction::{Blockhash, Message};

use super::{PAYER_TOKENS, PAYERS};

/// The Solana chain's key in the gateway config.
pub(crate) const SOLANA_CHAIN_KEY: &str = "SOL";
const DECIMALS: u8 = 6;
/// The mints' accounts under the dev mnemonic (`m/44'/501'/i'/0'`, past any payer's).
const MINTS: [(&str, u64); 2] = [("USDT", 100), ("USDC", 101)];

/// The running Solana devnet cluster.
pub(crate) struct SolanaDevnet {
    node: Surfnet,
}

/// Account `index` of anvil's dev mnemonic, `m/44'/501'/index'/0'` (a wallet's account path).
fn dev_keypair(index: u64) -> anyhow::Result<Keypair> {
    Ok(keys::keys(&SecretString::from(DEV_MNEMONIC))?.deposit(index)?)
}

/// Payer `index` (1..=5).
pub(crate) fn payer(index: u8) -> anyhow::Result<Keypair> {
    dev_keypair(u64::from(index))
}

fn hex_secret(keypair: &Keypair) -> String {
    hex::encode(keypair.secret().expose_secret())
}

/// Starts the cluster with the mints in place and the payers funded; `None`, with a warning,
/// when node or Surfnet is missing.
pub(crate) async fn launch() -> anyhow::Result<Option<SolanaDevnet>> {
    if surfnet::modules_root().is_none() {
        eprintln!(
            "warning: SOL_USDT and SOL_USDC are not offered: the Solana cluster needs node and \
             {} (run `npm ci` in the wcheckout source)",
            surfnet::PACKAGE
        );
        return Ok(None);
    }
    let mints = MINTS
        .iter()
        .map(|(_, index)| {
            Ok(MintSpec {
                decimals: DECIMALS,
                key: Some(hex_secret(&dev_keypair(*index)?)),
                token_2022: false,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let payer_keys = PAYERS
        .map(|index| payer(index).map(|keypair| hex_secret(&keypair)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let setup = Setup {
        mints,
        payers: payer_keys.len(),
        payer_keys,
        balance: (PAYER_TOKENS * 10u128.pow(u32::from(DECIMALS))).to_string(),
        fund: Vec::new(),
    };
    let node = Surfnet::start(&setup)
        .await
        .context("cannot start the Solana devnet cluster")?;
    Ok(Some(SolanaDevnet { node }))
}

impl SolanaDevnet {
    fn tokens(&self) -> impl Iterator<Item = (String, SolanaAddress)> + '_ {
        MINTS
            .iter()
            .zip(&self.node.mints)
            .map(|((asset, _), mint)| (format!("{SOLANA_CHAIN_KEY}_{asset}"), *mint))
    }

    /// The `[chains.SOL]` and `[tokens.SOL_*]` sections of the devnet's gateway config.
    pub(crate) fn config_sections(&self) -> String {
        let mut text = format!(
            "\n[chains.{SOLANA_CHAIN_KEY}]\n\
             family = \"solana\"\n\
             display_name = \"Solana (local devnet)\"\n\
             rpc_urls = [{rpc}]\n\
             finality = \"finalized\"\n",
            rpc = super::toml_string(&self.node.rpc_url),
        );
        for (token, mint) in self.tokens() {
            text.push_str(&format!(
                "\n[tokens.{token}]\ncontract = \"{mint}\"\ndecimals = {DECIMALS}\n"
            ));
        }
        text
    }

    /// The `solana` part of the ready line and devnet.json.
    pub(crate) fn ready_json(&self) -> Value {
        let tokens: serde_json::Map<String, Value> = self
            .tokens()
            .map(|(token, mint)| (token, json!(mint.to_string())))
            .collect();
        json!({"rpcUrl": self.node.rpc_url, "tokens": tokens})
    }

    /// The summary lines.
    pub(crate) fn announce(&self) {
        println!("  Solana     JSON-RPC {}", self.node.rpc_url);
        for (token, mint) in self.tokens() {
            println!("  {token:<10} {mint} ({DECIMALS} decimals)");
        }
    }

    /// Stops the cluster.
    pub(crate) async fn stop(self) {
        self.node.stop().await;
    }
}

/// Pays `amount` of `mint` to the deposit owner `to` from devnet payer `payer`: a
/// `transferChecked` into the owner's associated token account (created in the same
/// transaction if missing), signed and sent as a wallet does. Returns the signature.
pub(crate) async fn pay(
    rpc_url: &str,
    payer: u8,
    mint: &Address,
    to: &Address,
    amount: TokenAmount,
) -> anyhow::Result<String> {
    let (Address::Solana(mint), Address::Solana(to)) = (mint, to) else {
        anyhow::bail!("a Solana payment needs Solana addresses");
    };
    let keypair = self::payer(payer)?;
    let rpc = SolanaRpc::new(&[rpc_url.to_owned()], std::time::Duration::from_secs(10))?;
    let payment = TokenPayment {
        fee_payer: keypair.address(),
        sender: keypair.address(),
        recipient: *to,
        mint: *mint,
        token_program: TOKEN_PROGRAM,
        decimals: DECIMALS,
        amount: u64::try_from(amount.base_units()).context("amount above u64")?,
        compute_unit_limit: None,
        priority_micro_lamports: None,
        create_recipient_account: true,
        close_source: false,
    };
    let blockhash = rpc.latest_blockhash(Commitment::Confirmed).await?;
    let blockhash = Blockhash::parse(&blockhash.blockhash).context("the node's blockhash")?;
    let message = Message::compile(&keypair.address(), &payment.instructions()?, blockhash)?;
    let signed = message.sign(&[&keypair])?;
    Ok(rpc.send_transaction(&signed.to_base64()).await?)
}

/// SOL given to a hot wallet holding less than [`LOW_LAMPORTS`]: it pays every payout's fee and
/// the rent of the token accounts refunds create.
const FUNDING_LAMPORTS: u64 = 100 * LAMPORTS_PER_SOL;
const LOW_LAMPORTS: u64 = 10 * LAMPORTS_PER_SOL;
const LAMPORTS_PER_SOL: u64 = 1_000_000_000;

impl SolanaDevnet {
    /// Gives a devnet gateway's Solana hot wallet SOL (an airdrop, which a local cluster
    /// grants) when it holds little, and records it in the ledger as operator funding, in
    /// lamports.
    pub(crate) async fn fund_hot_wallet(
        &self,
        gateway: &wcheckout_app::Gateway,
        chain: &wcheckout_domain::token::Chain,
    ) -> anyhow::Result<()> {
        let Address::Solana(hot_wallet) = gateway.hot_wallet(chain)? else {
            anyhow::bail!("the Solana hot wallet is not a Solana address");
        };
        let rpc = SolanaRpc::new(
            std::slice::from_ref(&self.node.rpc_url),
            std::time::Duration::from_secs(10),
        )?;
        if rpc.balance(&hot_wallet, Commitment::Confirmed).await? >= LOW_LAMPORTS {
            return Ok(());
        }
        let signature: String = rpc
            .call(
                "requestAirdrop",
                json!([hot_wallet.to_string(), FUNDING_LAMPORTS, {"commitment": "confirmed"}]),
            )
            .await?;
        let asset = wcheckout_domain::ledger::Asset::Native(chain.key.clone());
        let amount = TokenAmount::from_base_units(u128::from(FUNDING_LAMPORTS));
        gateway
            .record_funding(chain, asset, amount, &signature)
            .await?;
        Ok(())
    }
}
