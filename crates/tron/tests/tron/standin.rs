//! The node client against the TRON node stand-in on a fresh anvil: the devnet's test stablecoin
//! deployed and minted to the hot wallet, TRC-20 and TRX transfers built and signed by this
//! crate, broadcast, followed until mined, and checked on the chain (balances, the `Transfer`
//! log, the TRX burned); and what a node refuses (expired, bad signature, unknown reference
//! block, duplicate).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k256::ecdsa::SigningKey;
use secrecy::SecretString;
use serde_json::{Value, json};
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{self, Anvil, AnvilOptions, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;
use wcheckout_testkit::node_tools::tools_available;
use wcheckout_tron::address::TronAddress;
use wcheckout_tron::keys::{self, PayoutKeys};
use wcheckout_tron::node::{
    Broadcast, MinedTransaction, NodeError, Outcome, RefusalCode, TransactionState, TronNode,
};
use wcheckout_tron::standin::Standin;
use wcheckout_tron::transaction::{Call, Header, RefBlock, SignedTransaction, UnsignedTransaction};

pub(crate) const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";
/// 1 sun is 10^12 wei on the stand-in: 1 TRX reads as 1 ETH.
const WEI_PER_SUN: u128 = 1_000_000_000_000;
pub(crate) const SUN_PER_TRX: u64 = 1_000_000;
const ENERGY_PRICE_SUN: u64 = 210;
const BANDWIDTH_PRICE_SUN: u64 = 1_000;
const FEE_LIMIT_SUN: u64 = 30 * SUN_PER_TRX;
/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// Whether node, tronweb and anvil are here (skipped with a message otherwise).
pub(crate) fn standin_available() -> bool {
    let anvil = anvil::find_binary().is_ok();
    tools_available("the TRON stand-in tests", &["tronweb"], anvil)
}

/// A fresh anvil with the stand-in in front, a test USDT and a hot wallet holding 1,000 USDT
/// and 100 TRX. Field order: the stand-in stops before its anvil.
pub(crate) struct Chain {
    pub(crate) node: TronNode,
    pub(crate) standin: Standin,
    pub(crate) anvil: Anvil,
    pub(crate) token: TronAddress,
    pub(crate) hot_key: SigningKey,
    pub(crate) hot: TronAddress,
}

pub(crate) async fn chain() -> Chain {
    let anvil = Anvil::spawn(&AnvilOptions::default()).expect("anvil starts");
    let standin = Standin::spawn(&anvil.rpc_url()).expect("the stand-in starts");
    let node = TronNode::new(standin.url(), None).unwrap();
    let rpc = anvil.rpc_url();
    let deployer = DEV_PRIVATE_KEYS[0];
    let token = stablecoin::deploy(&rpc, deployer, "Tether USD", "USDT", 6)
        .await
        .unwrap();
    let hot_key = keys::payout_keys(&SecretString::from(ABANDON))
        .unwrap()
        .hot_wallet();
    let hot = PayoutKeys::address(&hot_key);
    stablecoin::mint(&rpc, deployer, token, hot.to_evm(), usdt(1_000))
        .await
        .unwrap();
    stablecoin::send_native(
        &rpc,
        deployer,
        hot.to_evm(),
        100 * u128::from(SUN_PER_TRX) * WEI_PER_SUN,
    )
    .await
    .unwrap();
    Chain {
        node,
        standin,
        anvil,
        token: TronAddress::from_evm(token),
        hot_key,
        hot,
    }
}

pub(crate) fn usdt(whole: u128) -> TokenAmount {
    TokenAmount::from_base_units(whole * 1_000_000)
}

fn now_ms() -> u64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(elapsed.as_millis()).unwrap()
}

pub(crate) fn stranger(byte: u8) -> TronAddress {
    TronAddress::from_bytes([byte; 20])
}

impl Chain {
    /// A header on the node's head block, valid for a minute from `start_ms`.
    async fn header_from(&self, start_ms: u64) -> Header {
        let head = self.node.now_block().await.unwrap();
        Header {
            ref_block: head.ref_block(),
            timestamp_ms: start_ms,
            expiration_ms: start_ms + 60_000,
            fee_limit_sun: FEE_LIMIT_SUN,
        }
    }

    async fn sign(&self, call: &Call, header: &Header) -> SignedTransaction {
        UnsignedTransaction::new(call, header)
            .unwrap()
            .sign(&self.hot_key)
            .unwrap()
    }

    fn trc20(&self, to: TronAddress, amount: u128) -> Call {
        Call::Trc20Transfer {
            owner: self.hot,
            token: self.token,
            to,
            amount,
        }
    }

    async fn accepted(&self, transaction: &SignedTransaction) {
        assert_eq!(
            self.node.broadcast(transaction).await.unwrap(),
            Broadcast::Accepted
        );
    }

    async fn refused(&self, transaction: &SignedTransaction) -> RefusalCode {
        match self.node.broadcast(transaction).await.unwrap() {
            Broadcast::Refused { code, .. } => code,
            Broadcast::Accepted => panic!("{} was accepted", transaction.id()),
        }
    }

    /// Follows the transaction until it is in a block.
    async fn mined(&self, transaction: &SignedTransaction) -> MinedTransaction {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.node.transaction_info(&transaction.id()).await.unwrap() {
                TransactionState::Mined(mined) => return mined,
                TransactionState::Pending if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                TransactionState::Pending => panic!("{} not mined", transaction.id()),
            }
        }
    }

    pub(crate) async fn token_balance(&self, owner: TronAddress) -> u128 {
        // Through the stand-in's /jsonrpc, as the watcher reads TRON.
        stablecoin::balance_of(
            &self.standin.jsonrpc_url(),
            self.token.to_evm(),
            owner.to_evm(),
        )
        .await
        .unwrap()
        .base_units()
    }

    pub(crate) async fn trx_balance(&self, owner: TronAddress) -> u64 {
        self.node
            .account(&owner)
            .await
            .unwrap()
            .map_or(0, |account| account.balance_sun)
    }

    /// A JSON-RPC call through the stand-in: the whole answer.
    async fn jsonrpc(&self, method: &str, params: Value) -> Value {
        rpc(&self.standin.jsonrpc_url(), method, params).await
    }

    /// One of anvil's own controls, straight to anvil.
    pub(crate) async fn control(&self, method: &str, params: Value) {
        let answer = rpc(&self.anvil.rpc_url(), method, params).await;
        assert!(answer.get("error").is_none(), "{method}: {answer}");
    }

    /// The `Transfer` logs of the token in one block, as TRON's JSON-RPC reports them.
    async fn transfer_logs(&self, block: u64) -> Vec<Value> {
        let at = format!("0x{block:x}");
        let filter = json!([{"fromBlock": at, "toBlock": at,
                             "address": self.token.to_evm().to_lower_hex(),
                             "topics": [format!("0x{TRANSFER_TOPIC}")]}]);
        self.jsonrpc("eth_getLogs", filter).await["result"]
            .as_array()
            .unwrap()
            .clone()
    }
}

async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let client = reqwest::Client::new();
    let answer = client.post(url).json(&body).send().await.unwrap();
    answer.json().await.unwrap()
}

fn word(address: TronAddress) -> String {
    format!("0x{:0>64}", hex::encode(address.as_bytes()))
}

#[tokio::test]
async fn a_trc20_transfer_lands_with_its_log_and_its_fee() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    assert_eq!(chain.anvil.chain_id(), 31337);
    let to = stranger(0x11);
    let amount = 12_500_000u128;
    let call = chain.trc20(to, amount);
    let data = {
        let mut data = hex::decode("a9059cbb").unwrap();
        data.extend_from_slice(&[0; 12]);
        data.extend_from_slice(to.as_bytes());
        data.extend_from_slice(&[0; 16]);
        data.extend_from_slice(&amount.to_be_bytes());
        data
    };
    let estimate = chain
        .node
        .estimate_energy(&chain.hot, &chain.token, &data)
        .await
        .unwrap();
    let trx_before = chain.trx_balance(chain.hot).await;
    assert_eq!(trx_before, 100 * SUN_PER_TRX);

    let transaction = chain.sign(&call, &chain.header_from(now_ms()).await).await;
    chain.accepted(&transaction).await;
    let mined = chain.mined(&transaction).await;

    assert_eq!(mined.outcome, Outcome::Success);
    assert_eq!(chain.token_balance(to).await, amount);
    assert_eq!(
        chain.token_balance(chain.hot).await,
        usdt(1_000).base_units() - amount
    );
    let logs = chain.transfer_logs(mined.block).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["topics"][1], word(chain.hot));
    assert_eq!(logs[0]["topics"][2], word(to));
    assert_eq!(logs[0]["data"], format!("0x{amount:064x}"));
    // Energy burned at 210 sun; the ~345 bytes fit the 600 free bandwidth points.
    assert!(
        mined.energy > 10_000 && mined.energy <= estimate,
        "{mined:?}, estimate {estimate}"
    );
    assert_eq!(mined.energy_fee_sun, mined.energy * ENERGY_PRICE_SUN);
    assert!(mined.bandwidth > 200 && mined.bandwidth < 600, "{mined:?}");
    assert_eq!(mined.bandwidth_fee_sun, 0);
    assert_eq!(mined.fee_sun, mined.energy_fee_sun);
    assert_eq!(
        chain.trx_balance(chain.hot).await,
        trx_before - mined.fee_sun
    );
    let resource = chain
        .node
        .account_resource(&chain.hot)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resource.free_net_used, mined.bandwidth);
    assert_eq!(resource.free_net_limit, 600);

    // The second one no longer fits the free allowance: its bytes are burned at 1,000 sun.
    let again = chain
        .sign(
            &chain.trc20(to, amount),
            &chain.header_from(now_ms() + 1).await,
        )
        .await;
    chain.accepted(&again).await;
    let second = chain.mined(&again).await;
    assert_eq!(second.outcome, Outcome::Success);
    assert_eq!(second.bandwidth, 0);
    assert_eq!(second.bandwidth_fee_sun % BANDWIDTH_PRICE_SUN, 0);
    assert!(
        second.bandwidth_fee_sun >= 200 * BANDWIDTH_PRICE_SUN,
        "{second:?}"
    );
    assert_eq!(
        second.fee_sun,
        second.energy * ENERGY_PRICE_SUN + second.bandwidth_fee_sun
    );
    assert_eq!(
        chain.trx_balance(chain.hot).await,
        trx_before - mined.fee_sun - second.fee_sun
    );
    assert_eq!(chain.token_balance(to).await, 2 * amount);
}

#[tokio::test]
async fn the_node_refuses_expired_forged_unanchored_and_repeated_transactions() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let to = stranger(0x22);
    let now = now_ms();

    let mut expired = chain.header_from(now - 120_000).await;
    expired.expiration_ms = now - 60_000;
    let transaction = chain.sign(&chain.trc20(to, 1), &expired).await;
    assert_eq!(chain.refused(&transaction).await, RefusalCode::Expired);

    let head = chain.node.now_block().await.unwrap();
    let mut other_id = head.id;
    other_id[8] ^= 0xff;
    let unanchored = Header {
        ref_block: RefBlock::new(head.number, &other_id),
        ..chain.header_from(now).await
    };
    let transaction = chain.sign(&chain.trc20(to, 2), &unanchored).await;
    assert_eq!(chain.refused(&transaction).await, RefusalCode::Tapos);
    let ahead = Header {
        ref_block: RefBlock::new(head.number + 5, &head.id),
        ..chain.header_from(now).await
    };
    let transaction = chain.sign(&chain.trc20(to, 3), &ahead).await;
    assert_eq!(chain.refused(&transaction).await, RefusalCode::Tapos);

    // The signature with its recovery byte flipped recovers another key.
    let good = chain
        .sign(&chain.trc20(to, 4), &chain.header_from(now).await)
        .await;
    let mut forged = good.to_bytes();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/wallet/broadcasthex", chain.standin.url()))
        .json(&json!({"transaction": hex::encode(&forged)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"], false, "{answer}");
    assert_eq!(answer["code"], "SIGERROR", "{answer}");
    assert_eq!(answer["txid"], good.id().to_string());

    // TRON's JSON-RPC cannot broadcast, nor can the stand-in's.
    let raw = format!("0x{}", hex::encode(good.to_bytes()));
    let answer = chain.jsonrpc("eth_sendRawTransaction", json!([raw])).await;
    assert_eq!(answer["error"]["code"], -32601, "{answer}");

    // Nothing moved; the genuine one is accepted once, then refused as a duplicate.
    assert_eq!(chain.token_balance(to).await, 0);
    chain.accepted(&good).await;
    assert_eq!(chain.refused(&good).await, RefusalCode::Duplicate);
    assert_eq!(chain.mined(&good).await.outcome, Outcome::Success);
    assert_eq!(chain.token_balance(to).await, 4);
}

#[tokio::test]
async fn a_trx_transfer_activates_the_recipient_for_1_trx() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let to = stranger(0x33);
    assert!(!chain.node.account_exists(&to).await.unwrap());
    assert_eq!(chain.node.account_resource(&to).await.unwrap(), None);
    let call = Call::TrxTransfer {
        owner: chain.hot,
        to,
        amount_sun: 5 * SUN_PER_TRX,
    };
    let header = Header {
        fee_limit_sun: 0,
        ..chain.header_from(now_ms()).await
    };
    let transaction = chain.sign(&call, &header).await;
    chain.accepted(&transaction).await;
    let mined = chain.mined(&transaction).await;

    assert_eq!(mined.outcome, Outcome::Success);
    assert_eq!(mined.energy, 0);
    assert!(mined.bandwidth > 0, "{mined:?}");
    assert_eq!(mined.fee_sun, SUN_PER_TRX);
    assert!(chain.node.account_exists(&to).await.unwrap());
    assert_eq!(chain.trx_balance(to).await, 5 * SUN_PER_TRX);
    assert_eq!(chain.trx_balance(chain.hot).await, 94 * SUN_PER_TRX);

    // More than the balance: refused before it reaches a block.
    let too_much = Call::TrxTransfer {
        owner: chain.hot,
        to,
        amount_sun: 1_000 * SUN_PER_TRX,
    };
    let transaction = chain.sign(&too_much, &header).await;
    assert_eq!(
        chain.refused(&transaction).await,
        RefusalCode::ContractValidate
    );
}

#[tokio::test]
async fn a_reverting_call_is_mined_as_failed_and_still_pays_its_energy() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let to = stranger(0x44);
    let too_much = usdt(2_000).base_units();
    let transaction = chain
        .sign(
            &chain.trc20(to, too_much),
            &chain.header_from(now_ms()).await,
        )
        .await;
    chain.accepted(&transaction).await;
    let mined = chain.mined(&transaction).await;

    assert_eq!(
        mined.outcome,
        Outcome::Failed {
            reason: "REVERT".into(),
            message: "REVERT opcode executed".into()
        }
    );
    assert!(mined.energy > 0);
    assert_eq!(mined.fee_sun, mined.energy * ENERGY_PRICE_SUN);
    assert_eq!(
        chain.trx_balance(chain.hot).await,
        100 * SUN_PER_TRX - mined.fee_sun
    );
    assert_eq!(chain.token_balance(to).await, 0);

    // Energy is estimated for contracts only.
    let error = chain
        .node
        .estimate_energy(&chain.hot, &to, &[0xa9, 0x05, 0x9c, 0xbb])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, NodeError::Call { code, .. } if code == "CONTRACT_VALIDATE_ERROR"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_transaction_is_pending_until_its_block_is_mined() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let to = stranger(0x55);
    let transaction = chain
        .sign(&chain.trc20(to, 7), &chain.header_from(now_ms()).await)
        .await;
    let head = chain.node.now_block().await.unwrap();
    chain.control("evm_setAutomine", json!([false])).await;
    chain.accepted(&transaction).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        chain
            .node
            .transaction_info(&transaction.id())
            .await
            .unwrap(),
        TransactionState::Pending
    );
    assert_eq!(chain.token_balance(to).await, 0);
    chain.control("evm_mine", json!([])).await;
    let mined = chain.mined(&transaction).await;
    assert_eq!(mined.block, head.number + 1);
    assert_eq!(mined.outcome, Outcome::Success);
    assert_eq!(chain.token_balance(to).await, 7);
}
