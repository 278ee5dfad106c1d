//! What the domain needs to know about a chain: blocks, transfer logs, and the reader port.

use std::time::Duration;

use async_trait::async_trait;

use crate::address::Address;
use crate::time::Timestamp;

/// A block header as the node reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Height.
    pub number: u64,
    /// Hash, `0x` + 64 lower-case hex digits.
    pub hash: String,
    /// Parent hash.
    pub parent_hash: String,
    /// Timestamp.
    pub time: Timestamp,
}

/// A block remembered by height and hash (the watcher's cursor, reorg checkpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMark {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: String,
}

impl From<&BlockRef> for BlockMark {
    fn from(block: &BlockRef) -> Self {
        BlockMark {
            number: block.number,
            hash: block.hash.clone(),
        }
    }
}

/// An ERC-20 `Transfer(from, to, value)` log of a successful transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferLog {
    /// The token contract that emitted it.
    pub contract: Address,
    /// Transaction hash.
    pub tx_hash: String,
    /// Log index within the block.
    pub log_index: u64,
    /// Block height.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Block timestamp, when the node includes it in logs (saves fetching the header).
    pub block_time: Option<Timestamp>,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Value in base units (`None` when it exceeds 128 bits, which no real payment does).
    pub value: Option<u128>,
}

/// The node's finality tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalityTag {
    /// `safe`.
    Safe,
    /// `finalized`.
    Finalized,
}

/// A chain read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Every endpoint failed or timed out.
    #[error("chain node unavailable: {0}")]
    Unavailable(String),
    /// The node answered something unusable.
    #[error("chain node answered unexpectedly: {0}")]
    Invalid(String),
}

/// Reads one EVM chain (with failover across endpoints inside the adapter).
#[async_trait]
pub trait ChainReader: Send + Sync {
    /// The latest block.
    async fn head(&self) -> Result<BlockRef, ChainError>;
    /// Blocks at these heights (absent heights are left out), in one round trip when possible.
    async fn blocks(&self, numbers: &[u64]) -> Result<Vec<BlockRef>, ChainError>;
    /// The `safe` or `finalized` block.
    async fn tagged(&self, tag: FinalityTag) -> Result<Option<BlockRef>, ChainError>;
    /// `Transfer` logs of these contracts in `from..=to`.
    async fn transfer_logs(
        &self,
        contracts: &[Address],
        from: u64,
        to: u64,
    ) -> Result<Vec<TransferLog>, ChainError>;
    /// Returns when the node announces a new head, or after `max_wait` (polling adapters
    /// simply sleep).
    async fn wait_for_new_head(&self, max_wait: Duration);
}

/// A deposit address a chain adapter must watch, with the token contract (mint) it expects.
/// Chains whose transfers cannot be filtered by contract over a block range (Solana) are read
/// per account, over these only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchedDeposit {
    /// The order's deposit address.
    pub address: Address,
    /// The token contract (on Solana, the mint) the order is paid in.
    pub contract: Address,
}

/// The deposits whose payments would still count: open orders and those within the monitoring
/// window after their payment window.
#[async_trait]
pub trait WatchedDeposits: Send + Sync {
    /// Every such deposit of the adapter's chain, now.
    async fn watched_deposits(&self) -> Result<Vec<WatchedDeposit>, ChainError>;
}

/// An unsigned transfer: a token's `transfer(to, amount)`, or native coin. Its fee is
/// `gas_limit` units at most `max_fee_per_gas` each, in the chain's native base unit: on EVM
/// chains gas and wei (EIP-1559); on chains that price their work otherwise the writer maps its
/// own units onto them (TRON: energy, with bandwidth and account activation counted at the
/// energy price, and sun), so that `gas_limit × max_fee_per_gas` is always the most the sender
/// may burn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferTx {
    /// The sender's nonce ([`SendModel::NonceOrdered`]; ignored by expiring chains).
    pub nonce: u64,
    /// The token contract; `None` sends the native coin.
    pub contract: Option<Address>,
    /// The recipient.
    pub to: Address,
    /// Amount in base units.
    pub amount: u128,
    /// Gas limit (fee units).
    pub gas_limit: u64,
    /// Max fee per gas (per fee unit), in the native coin's base unit.
    pub max_fee_per_gas: u128,
    /// Max priority fee per gas (0 where the chain has no tip).
    pub max_priority_fee_per_gas: u128,
}

/// How a chain orders a sender's transactions, and so how a payout that is not mined is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendModel {
    /// Each transaction carries the sender's next nonce, and can be mined whenever that nonce
    /// is free: a stuck one is replaced by the same transfer at the same nonce with higher
    /// fees, so only one of them can ever be mined (EVM).
    NonceOrdered,
    /// Transactions carry no nonce and expire ([`RawTx::expires_at`]): one not in a block by
    /// then never will be. A payout's transaction is followed until it is mined or dead, and
    /// only then is a fresh one signed (TRON; Solana, whose recent blockhash expires).
    Expiring,
}

/// A signed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTx {
    /// Hash (the chain's transaction id), in the chain's usual text form.
    pub hash: String,
    /// The signed transaction in the writer's stored form: as the node takes it, hex (EVM:
    /// EIP-2718, `0x…`; TRON), or on Solana the slot its blockhash was read at and the base64
    /// wire transaction (`{slot}:{base64}`). Only the writer that made it reads it.
    pub raw: String,
    /// When a [`SendModel::Expiring`] transaction stops being valid: no block after one with
    /// this time or later can hold it (on Solana, which expires by block height, an estimate
    /// for display; see [`ChainWriter::expired`]). `None` on nonce-ordered chains.
    pub expires_at: Option<Timestamp>,
}

/// Current fees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeQuote {
    /// Base fee of the next block, wei per gas.
    pub base_fee: u128,
    /// Suggested priority fee, wei per gas.
    pub priority_fee: u128,
}

/// A mined transaction's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The block it is in.
    pub block_number: u64,
    /// False when it reverted.
    pub success: bool,
    /// All the native coin it cost its fee payer, base units (EVM: gas used × effective price,
    /// wei; Solana: the fee with its priority part, and the rent of any account it created).
    pub fee: u128,
    /// Native coin it gave back to its fee payer (Solana: the rent of a token account it
    /// closed); 0 elsewhere. The fee payer's balance moved by `reclaimed − fee`.
    pub reclaimed: u128,
}

/// What a node said to a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broadcast {
    /// Accepted into the pool (or mined at once).
    Accepted,
    /// The node already has it.
    AlreadyKnown,
    /// The sender's nonce has moved past it: it was mined, or another transaction took the nonce.
    NonceTooLow,
    /// Refused for another reason (underpriced replacement, no funds for gas …).
    Refused(String),
}

/// Signs and sends transfers on one chain, with keys from the operator's seed.
#[async_trait]
pub trait ChainWriter: Send + Sync {
    /// How the chain orders transactions (nonces, or expiry).
    fn send_model(&self) -> SendModel {
        SendModel::NonceOrdered
    }
    /// The address of a signer.
    fn address_of(&self, signer: crate::payout::Signer) -> Result<Address, ChainError>;
    /// Who pays the fees of a transaction `signer` signs, when it is not the signer itself
    /// (Solana: the hot wallet pays every fee, so deposit owners never need the coin and are
    /// never topped up). `None`: the sender pays its own fees (EVM, TRON).
    fn fee_payer(&self, _signer: crate::payout::Signer) -> Result<Option<Address>, ChainError> {
        Ok(None)
    }
    /// Whether an [`SendModel::Expiring`] transaction the node does not know can no longer land,
    /// in the chain's own terms: `Some(true)` once no block to come can hold it, `Some(false)`
    /// while one may. `None`: the chain has no such test and the engine judges by
    /// [`RawTx::expires_at`] against the final block's time (TRON). Solana expires by block
    /// height, not time: its writer answers from the transaction's recent blockhash.
    async fn expired(&self, _raw: &RawTx) -> Result<Option<bool>, ChainError> {
        Ok(None)
    }
    /// Signs a transfer (an expiring chain asks its node for a recent block to anchor it to).
    async fn sign(
        &self,
        signer: crate::payout::Signer,
        tx: &TransferTx,
    ) -> Result<RawTx, ChainError>;
    /// A signed transaction signed again with new fees and nothing else changed (nonce,
    /// recipient, value, data, gas): a replacement that can only ever pay what the original does.
    /// Nonce-ordered chains only.
    fn resign(
        &self,
        signer: crate::payout::Signer,
        original: &RawTx,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> Result<RawTx, ChainError>;
    /// The nonce of `address`, counting pending transactions or only mined ones.
    async fn nonce(&self, address: &Address, pending: bool) -> Result<u64, ChainError>;
    /// Current fees.
    async fn fee_quote(&self) -> Result<FeeQuote, ChainError>;
    /// Gas a transfer from `from` needs (on nonce-ordered chains, token transfers only: a coin
    /// transfer's gas is fixed).
    async fn estimate_gas(&self, from: &Address, tx: &TransferTx) -> Result<u64, ChainError>;
    /// Sends a signed transaction.
    async fn broadcast(&self, raw: &RawTx) -> Result<Broadcast, ChainError>;
    /// The receipt of a mined transaction.
    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError>;
    /// Whether the node knows the transaction (pending or mined).
    async fn known(&self, tx_hash: &str) -> Result<bool, ChainError>;
    /// What `address` holds of a token (`Some(contract)`) or of the native coin.
    async fn balance(
        &self,
        address: &Address,
        contract: Option<&Address>,
    ) -> Result<u128, ChainError>;
    /// The latest block number.
    async fn head_number(&self) -> Result<u64, ChainError>;
    /// The time of the latest block the sending node has: an expiring transaction it does not
    /// know, expiring at or before this, can no longer enter its chain.
    async fn head_time(&self) -> Result<Timestamp, ChainError>;
}

/// A token payment of an order that the payer's own wallet signs and sends (Solana Pay's
/// transaction request, "Pay with wallet" through the wallet standard): the gateway builds it,
/// nothing of the gateway's signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayerPayment {
    /// The payer's wallet: it pays the fee and any rent, and owns the tokens sent.
    pub payer: Address,
    /// The order's deposit address (on Solana, the owner of the receiving token account).
    pub recipient: Address,
    /// The token contract (on Solana, the mint).
    pub contract: Address,
    /// Decimals of the token's base unit.
    pub decimals: u8,
    /// What is sent, in base units: the order's remaining amount.
    pub amount: crate::money::TokenAmount,
    /// A key identifying the order on chain, added to the transfer as a read-only account.
    pub reference: Address,
}

/// An unsigned transaction for the payer's wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedPayment {
    /// The serialized transaction in base64 (on Solana: a legacy transaction, its one
    /// signature, the payer's, left empty).
    pub transaction: String,
    /// The chain as wallets name it (on Solana: `solana:mainnet`, `solana:devnet`,
    /// `solana:testnet` or `solana:localnet`).
    pub wallet_chain: String,
}

/// Builds transactions that payers' wallets sign (Solana's page pays through it).
#[async_trait]
pub trait PayerTransactions: Send + Sync {
    /// The unsigned transaction paying `payment`, anchored to a recent block.
    async fn unsigned_payment(&self, payment: &PayerPayment)
    -> Result<UnsignedPayment, ChainError>;
}
