//! The domain's [`ChainWriter`] on TRON, over the node's HTTP API: TRC-20 and TRX transfers built
//! and signed here ([`crate::transaction`]), broadcast with `/wallet/broadcasthex` and followed
//! with `/wallet/gettransactioninfobyid`.
//!
//! TRON has no nonces: a transaction is valid until its expiration ([`SendModel::Expiring`]),
//! which the writer sets a short while after the node's head block time, and which it reports
//! with the signed transaction for the engine to store. The engine's fee units map onto TRON's
//! resources: `gas_limit` is energy, `max_fee_per_gas` sun per energy, and `fee_limit` (the most
//! TRX the call may burn for energy) their product. The bandwidth a transfer burns when the
//! sender's free allowance is spent, and the activation fee of a TRX transfer to an account that
//! does not exist yet, are added to the estimate as energy at the energy price, so that
//! `gas_limit × max_fee_per_gas` bounds everything the sender burns. A receipt's fee is all the
//! TRX the transaction burned, in sun.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use k256::ecdsa::SigningKey;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{
    Broadcast, ChainError, ChainWriter, FeeQuote, RawTx, Receipt, SendModel, TransferTx,
};
use wcheckout_domain::payout::Signer;
use wcheckout_domain::time::Timestamp;

use crate::address::TronAddress;
use crate::keys::PayoutKeys;
use crate::node::{self, NodeError, Outcome, Prices, RefusalCode, TransactionState, TronNode};
use crate::transaction::{Call, Header, RefBlock, TxId, UnsignedTransaction};

/// How long a transaction stays valid after the head block it is made on (TronWeb's default):
/// long enough to reach a block through a busy node, short enough that a lost one is signed
/// again soon.
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(60);
/// Bytes a node adds to a transaction's size for its result when it counts bandwidth.
const RESULT_BYTES: u64 = 64;
/// The signature field of a `Transaction`: tag, length and 65 bytes.
const SIGNATURE_FIELD_BYTES: u64 = 67;
/// The `raw_data` field's tag and length.
const RAW_DATA_FIELD_BYTES: u64 = 3;

/// Signs with the TRON payout keys and sends through the nodes' HTTP API, trying them in order.
pub struct TronChainWriter {
    nodes: Vec<TronNode>,
    keys: PayoutKeys,
    expiration: Duration,
    /// Passes over the nodes before a call fails, and the pause before the second (doubled
    /// before each later one).
    attempts: u32,
    pause: Duration,
}

impl std::fmt::Debug for TronChainWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TronChainWriter")
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl TronChainWriter {
    /// A writer sending through `nodes` (tried in order while they fail to answer).
    pub fn new(nodes: Vec<TronNode>, keys: PayoutKeys) -> TronChainWriter {
        TronChainWriter {
            nodes,
            keys,
            expiration: DEFAULT_EXPIRATION,
            attempts: 1,
            pause: Duration::ZERO,
        }
    }

    /// The same, passing over the nodes up to `attempts` times while none answers, after a
    /// pause of `pause`, then twice that, and so on. Every call is a read or the broadcast of
    /// signed bytes, so asking again is harmless.
    pub fn with_retries(mut self, attempts: u32, pause: Duration) -> TronChainWriter {
        self.attempts = attempts.max(1);
        self.pause = pause;
        self
    }

    /// The same, with transactions valid this long after the head block they are made on.
    pub fn with_expiration(mut self, expiration: Duration) -> TronChainWriter {
        self.expiration = expiration;
        self
    }

    fn key(&self, signer: Signer) -> Result<SigningKey, ChainError> {
        match signer {
            Signer::HotWallet => Ok(self.keys.hot_wallet()),
            Signer::Deposit(index) => self
                .keys
                .deposit(index)
                .map_err(|e| ChainError::Invalid(e.to_string())),
        }
    }

    /// Asks the nodes in order until one answers; an answer (also a refusal) ends the search.
    /// No answer from any of them: another pass after a pause, as many as configured.
    async fn ask<'a, T, F, Fut>(&'a self, call: F) -> Result<T, ChainError>
    where
        F: Fn(&'a TronNode) -> Fut,
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        let mut last = ChainError::Unavailable("no TRON HTTP API endpoint configured".into());
        let mut pause = self.pause;
        for pass in 0..self.attempts {
            if pass > 0 {
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
            for node in &self.nodes {
                match call(node).await {
                    Ok(answer) => return Ok(answer),
                    Err(error @ (NodeError::Transport { .. } | NodeError::Status { .. })) => {
                        last = ChainError::Unavailable(error.to_string());
                    }
                    Err(error) => return Err(ChainError::Invalid(error.to_string())),
                }
            }
        }
        Err(last)
    }

    async fn prices(&self) -> Result<Prices, ChainError> {
        self.ask(TronNode::prices).await
    }

    /// The sun `owner` would burn for `bytes` of bandwidth: none while its free allowance (or
    /// stake) covers them, all of them at the bandwidth price otherwise. An account that does
    /// not exist yet cannot send before it is activated, and then has its daily allowance.
    async fn bandwidth_burn(
        &self,
        owner: &TronAddress,
        bytes: u64,
        prices: &Prices,
    ) -> Result<u64, ChainError> {
        let resource = self.ask(|node| node.account_resource(owner)).await?;
        match resource {
            Some(resource) if resource.bandwidth_left() < bytes => {
                Ok(bytes.saturating_mul(prices.bandwidth_sun))
            }
            Some(_) | None => Ok(0),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> u64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

fn tron(address: &Address, what: &str) -> Result<TronAddress, ChainError> {
    match address {
        Address::Tron(address) => Ok(*address),
        other @ (Address::Evm(_) | Address::Solana(_)) => Err(ChainError::Invalid(format!(
            "{what} {other} is not a TRON address"
        ))),
    }
}

/// What a transfer does, sent by `owner`.
fn call_of(owner: TronAddress, tx: &TransferTx) -> Result<Call, ChainError> {
    let to = tron(&tx.to, "recipient")?;
    match &tx.contract {
        Some(token) => Ok(Call::Trc20Transfer {
            owner,
            token: tron(token, "token contract")?,
            to,
            amount: tx.amount,
        }),
        None => Ok(Call::TrxTransfer {
            owner,
            to,
            amount_sun: u64::try_from(tx.amount)
                .map_err(|_| ChainError::Invalid("a TRX amount beyond 64 bits".into()))?,
        }),
    }
}

/// `fee_limit`: energy × sun per energy for a contract call, none for a TRX transfer.
fn fee_limit(call: &Call, tx: &TransferTx) -> Result<u64, ChainError> {
    match call {
        Call::TrxTransfer { .. } => Ok(0),
        Call::Trc20Transfer { .. } => u128::from(tx.gas_limit)
            .checked_mul(tx.max_fee_per_gas)
            .and_then(|sun| u64::try_from(sun).ok())
            .ok_or_else(|| ChainError::Invalid("fee_limit beyond 64 bits".into())),
    }
}

/// Bytes of bandwidth a transaction of `call` uses: its encoding with one signature, and the
/// result a node adds.
fn bandwidth_of(call: &Call) -> Result<u64, ChainError> {
    let header = Header {
        ref_block: RefBlock::new(0, &[0; 32]),
        timestamp_ms: now_ms(),
        expiration_ms: now_ms().saturating_add(86_400_000),
        fee_limit_sun: i64::MAX.unsigned_abs(),
    };
    let unsigned =
        UnsignedTransaction::new(call, &header).map_err(|e| ChainError::Invalid(e.to_string()))?;
    let raw = u64::try_from(unsigned.raw_data().len()).unwrap_or(u64::MAX);
    Ok(raw
        .saturating_add(RAW_DATA_FIELD_BYTES)
        .saturating_add(SIGNATURE_FIELD_BYTES)
        .saturating_add(RESULT_BYTES))
}

fn tx_id(hash: &str) -> Result<TxId, ChainError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hash.trim_start_matches("0x"), &mut bytes)
        .map_err(|_| ChainError::Invalid(format!("bad TRON transaction id {hash}")))?;
    Ok(TxId::from_bytes(bytes))
}

fn ms_timestamp(ms: u64) -> Result<Timestamp, ChainError> {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| ms.checked_mul(1000))
        .map(Timestamp::from_micros)
        .ok_or_else(|| ChainError::Invalid(format!("time {ms} ms out of range")))
}

/// A node's answer to a broadcast, in the domain's terms.
fn broadcast_answer(answer: node::Broadcast) -> Result<Broadcast, ChainError> {
    match answer {
        node::Broadcast::Accepted => Ok(Broadcast::Accepted),
        node::Broadcast::Refused { code, message } => match code {
            RefusalCode::Duplicate => Ok(Broadcast::AlreadyKnown),
            // Nothing was decided: the same bytes may be sent again.
            RefusalCode::Busy(code) => Err(ChainError::Unavailable(format!(
                "the node could not take the transaction now: {code}"
            ))),
            other => Ok(Broadcast::Refused(format!("{other:?}: {message}"))),
        },
    }
}

#[async_trait]
impl ChainWriter for TronChainWriter {
    fn send_model(&self) -> SendModel {
        SendModel::Expiring
    }

    fn address_of(&self, signer: Signer) -> Result<Address, ChainError> {
        Ok(Address::Tron(PayoutKeys::address(&self.key(signer)?)))
    }

    async fn sign(&self, signer: Signer, tx: &TransferTx) -> Result<RawTx, ChainError> {
        let key = self.key(signer)?;
        let call = call_of(PayoutKeys::address(&key), tx)?;
        let head = self.ask(TronNode::now_block).await?;
        // Times on the node's clock, or ours if the head is older (a node refuses an
        // expiration that is not ahead of its own now).
        let start = now_ms().max(head.timestamp_ms);
        let lifetime = u64::try_from(self.expiration.as_millis()).unwrap_or(u64::MAX);
        let header = Header {
            ref_block: head.ref_block(),
            timestamp_ms: start,
            expiration_ms: start.saturating_add(lifetime),
            fee_limit_sun: fee_limit(&call, tx)?,
        };
        let signed = UnsignedTransaction::new(&call, &header)
            .and_then(|unsigned| unsigned.sign(&key))
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        Ok(RawTx {
            hash: signed.id().to_string(),
            raw: signed.to_hex(),
            expires_at: Some(ms_timestamp(header.expiration_ms)?),
        })
    }

    fn resign(
        &self,
        _signer: Signer,
        _original: &RawTx,
        _max_fee_per_gas: u128,
        _max_priority_fee_per_gas: u128,
    ) -> Result<RawTx, ChainError> {
        Err(ChainError::Invalid(
            "a TRON transaction is not replaced with higher fees: it expires".into(),
        ))
    }

    async fn nonce(&self, _address: &Address, _pending: bool) -> Result<u64, ChainError> {
        Err(ChainError::Invalid("TRON accounts have no nonce".into()))
    }

    async fn fee_quote(&self) -> Result<FeeQuote, ChainError> {
        let prices = self.prices().await?;
        Ok(FeeQuote {
            base_fee: u128::from(prices.energy_sun),
            priority_fee: 0,
        })
    }

    async fn estimate_gas(&self, from: &Address, tx: &TransferTx) -> Result<u64, ChainError> {
        let owner = tron(from, "sender")?;
        let call = call_of(owner, tx)?;
        let prices = self.prices().await?;
        let mut burn = self
            .bandwidth_burn(&owner, bandwidth_of(&call)?, &prices)
            .await?;
        let energy = match call {
            Call::Trc20Transfer {
                token, to, amount, ..
            } => {
                let data = crate::abi::transfer_call(&to, amount);
                self.ask(|node| node.estimate_energy(&owner, &token, &data))
                    .await?
            }
            Call::TrxTransfer { to, .. } => {
                if !self.ask(|node| node.account_exists(&to)).await? {
                    burn = burn.saturating_add(prices.activation_sun);
                }
                0
            }
        };
        let price = prices.energy_sun.max(1);
        Ok(energy.saturating_add(burn.div_ceil(price)))
    }

    async fn broadcast(&self, raw: &RawTx) -> Result<Broadcast, ChainError> {
        let answer = self.ask(|node| node.broadcast_hex(&raw.raw)).await?;
        broadcast_answer(answer)
    }

    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError> {
        let id = tx_id(tx_hash)?;
        let state = self.ask(|node| node.transaction_info(&id)).await?;
        Ok(match state {
            TransactionState::Pending => None,
            TransactionState::Mined(mined) => Some(Receipt {
                block_number: mined.block,
                success: mined.outcome == Outcome::Success,
                fee: u128::from(mined.fee_sun),
                reclaimed: 0,
            }),
        })
    }

    async fn known(&self, tx_hash: &str) -> Result<bool, ChainError> {
        let id = tx_id(tx_hash)?;
        self.ask(|node| node.transaction_known(&id)).await
    }

    async fn balance(
        &self,
        address: &Address,
        contract: Option<&Address>,
    ) -> Result<u128, ChainError> {
        let owner = tron(address, "holder")?;
        match contract {
            None => {
                let account = self.ask(|node| node.account(&owner)).await?;
                Ok(account.map_or(0, |a| u128::from(a.balance_sun)))
            }
            Some(token) => {
                let token = tron(token, "token contract")?;
                self.ask(|node| node.trc20_balance(&owner, &token)).await
            }
        }
    }

    async fn head_number(&self) -> Result<u64, ChainError> {
        Ok(self.ask(TronNode::now_block).await?.number)
    }

    async fn head_time(&self) -> Result<Timestamp, ChainError> {
        ms_timestamp(self.ask(TronNode::now_block).await?.timestamp_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_onto_the_domain() {
        let refused = |code| node::Broadcast::Refused {
            code,
            message: "m".into(),
        };
        assert_eq!(
            broadcast_answer(node::Broadcast::Accepted).unwrap(),
            Broadcast::Accepted
        );
        assert_eq!(
            broadcast_answer(refused(RefusalCode::Duplicate)).unwrap(),
            Broadcast::AlreadyKnown
        );
        assert!(matches!(
            broadcast_answer(refused(RefusalCode::Busy("SERVER_BUSY".into()))),
            Err(ChainError::Unavailable(_))
        ));
        assert_eq!(
            broadcast_answer(refused(RefusalCode::Expired)).unwrap(),
            Broadcast::Refused("Expired: m".into())
        );
    }

    #[test]
    fn transfers_map_onto_calls_with_their_fee_limit() {
        let owner = TronAddress::from_bytes([1; 20]);
        let token = Address::Tron(TronAddress::from_bytes([2; 20]));
        let to = Address::Tron(TronAddress::from_bytes([3; 20]));
        let tx = TransferTx {
            nonce: 0,
            contract: Some(token),
            to,
            amount: 5,
            gas_limit: 78_000,
            max_fee_per_gas: 210,
            max_priority_fee_per_gas: 0,
        };
        let call = call_of(owner, &tx).unwrap();
        assert!(matches!(call, Call::Trc20Transfer { amount: 5, .. }));
        assert_eq!(fee_limit(&call, &tx).unwrap(), 16_380_000);
        let size = bandwidth_of(&call).unwrap();
        assert!((300..400).contains(&size), "{size}");

        let coin = TransferTx {
            contract: None,
            ..tx.clone()
        };
        let call = call_of(owner, &coin).unwrap();
        assert_eq!(fee_limit(&call, &coin).unwrap(), 0);
        let evm = TransferTx {
            to: Address::Evm(wcheckout_domain::address::EvmAddress::from_bytes([3; 20])),
            ..tx.clone()
        };
        assert!(call_of(owner, &evm).is_err());
        let huge = TransferTx {
            gas_limit: u64::MAX,
            max_fee_per_gas: u128::from(u64::MAX),
            ..tx
        };
        assert!(fee_limit(&call_of(owner, &huge).unwrap(), &huge).is_err());
    }

    #[tokio::test]
    async fn a_node_that_does_not_answer_is_asked_again_after_growing_pauses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let phrase = secrecy::SecretString::from(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
             abandon about",
        );
        let keys = crate::keys::payout_keys(&phrase).unwrap();
        let node = TronNode::new(&url, None).unwrap();
        let writer = TronChainWriter::new(vec![node.clone(), node], keys.clone())
            .with_retries(3, Duration::from_millis(40));
        let started = std::time::Instant::now();
        let error = writer.head_number().await.unwrap_err();
        assert!(matches!(error, ChainError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "40 ms, then 80 ms"
        );
        let text = error.to_string();
        assert!(
            text.contains("/wallet/getnowblock") && !text.contains(&url),
            "{text}"
        );
        let none = TronChainWriter::new(Vec::new(), keys);
        assert!(matches!(
            none.head_time().await,
            Err(ChainError::Unavailable(_))
        ));
    }

    #[test]
    fn ids_and_times_parse() {
        let id = "ab".repeat(32);
        assert_eq!(tx_id(&id).unwrap().to_string(), id);
        assert_eq!(tx_id(&format!("0x{id}")).unwrap().to_string(), id);
        assert!(tx_id("abc").is_err());
        assert_eq!(ms_timestamp(1_500).unwrap().micros(), 1_500_000);
        assert!(ms_timestamp(u64::MAX).is_err());
    }
}
