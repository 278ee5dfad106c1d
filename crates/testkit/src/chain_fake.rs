//! An in-memory chain behind the domain's chain ports ([`ChainReader`] and [`ChainWriter`]), so
//! that the chain watcher and the payout engine can be tested without a node, deterministically
//! and in milliseconds.
//!
//! A [`FakeChain`] is one node's view of one chain. The test scripts it: blocks are mined when
//! it says so ([`FakeChain::mine`], or one per accepted transaction with
//! [`FakeChain::set_automine`]), payments from a payer that is not ours arrive in blocks of
//! their own ([`FakeChain::pay`]), the last blocks can be replaced ([`FakeChain::reorg`]), the
//! `safe` and `finalized` tags follow the head at a depth or are pinned, the node can be down
//! or fail a number of calls, and each transaction it accepts meets the next scripted
//! [`TxFate`] (mined, reverted, dropped, stuck until replaced).
//!
//! What it models: block heights, hashes chaining to their parents, timestamps; `Transfer`
//! logs of token movements (from the outside payer and from our own transactions), with the
//! block hash; balances of tokens and of the coin, per address, recomputed from the canonical
//! blocks (so a reorganisation takes back what its abandoned blocks moved); nonces (mined, and
//! pending with the pool), the pool with replacement at the same nonce (both fees at least 10 %
//! higher), fees (base fee and tip, effective price, gas charged to the sender also when a
//! transaction reverts), `nonce too low`, `already known`, refusals for too low a fee or too
//! little coin for gas. What it does not: contract code (every contract is a plain token with
//! unlimited supply for the outside payer, whose own balance is not tracked), logs of other
//! events, gas other than a fixed use per kind of transfer, per-block gas limits, a
//! transaction's own block-time validity, blocks older than genesis, or several nodes
//! disagreeing. Transactions of ours in abandoned blocks go back to the pool (a node
//! re-injects them), payments of the outside payer vanish with their blocks.
//!
//! Signed transactions are not cryptographic: the fake writer "signs" by encoding the transfer
//! with its sender (see [`fake_signer_address`]), and the hash is Keccak-256 of that encoding.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sha3::{Digest, Keccak256};
use wcheckout_domain::address::{Address, ChainFamily, EvmAddress, SolanaAddress};
use wcheckout_domain::chain::{
    BlockRef, Broadcast, ChainError, ChainReader, ChainWriter, FeeQuote, FinalityTag, RawTx,
    Receipt, TransferLog, TransferTx,
};
use wcheckout_domain::payout::Signer;
use wcheckout_domain::ports::{DepositAddresses, DerivationError};
use wcheckout_domain::time::Timestamp;

/// Gas a token transfer of ours uses when mined.
pub const TOKEN_TRANSFER_GAS: u64 = 52_000;
/// Gas a coin transfer uses.
pub const NATIVE_TRANSFER_GAS: u64 = 21_000;
/// What [`ChainWriter::estimate_gas`] answers for a token transfer (a little above its use).
pub const TOKEN_TRANSFER_ESTIMATE: u64 = 60_000;
/// Default base fee, wei per gas.
pub const DEFAULT_BASE_FEE: u128 = 1_000_000_000;
/// Default priority fee, wei per gas.
pub const DEFAULT_PRIORITY_FEE: u128 = 100_000_000;
/// Timestamp of the genesis block unless another is given (2023-11-14T22:13:20Z).
pub const DEFAULT_GENESIS_SECS: i64 = 1_700_000_000;
/// Seconds between blocks unless set otherwise.
pub const DEFAULT_BLOCK_INTERVAL_SECS: i64 = 12;

/// The payer that is not ours: its payments arrive through [`FakeChain::pay`], and its own
/// balances are not tracked (it can pay any amount of any token).
pub const PAYER: Address = Address::Evm(EvmAddress::from_bytes([0xfa; 20]));

/// What happens to a transaction the node accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxFate {
    /// Mined at the next block, succeeding when the sender holds what it sends.
    Mine,
    /// Mined at the next block, reverted: the gas is paid, nothing else moves.
    Revert,
    /// Accepted, then forgotten at once: never mined, unknown to the node, until sent again.
    Drop,
    /// Kept in the pool and never mined (nor any later nonce of its sender); a replacement at
    /// the same nonce takes its place and is mined.
    Stick,
}

/// Where a finality tag stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagRule {
    /// This many blocks below the head (none while the chain is shorter).
    Depth(u64),
    /// At this height (or the head, while the chain is lower).
    Pinned(u64),
    /// The node has no such block.
    Absent,
}

/// A payment of the outside payer (or, with [`Payment::from`], of any address whose balance is
/// not tracked) in a block the test builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The token contract.
    pub contract: Address,
    /// The sender (default [`PAYER`]).
    pub from: Address,
    /// The recipient.
    pub to: Address,
    /// Base units.
    pub amount: u128,
    /// The transaction hash; `None` makes a new one. Giving the hash of a payment abandoned by a
    /// reorganisation includes the same transaction again in the new branch.
    pub tx_hash: Option<String>,
}

impl Payment {
    /// `amount` of `contract` from [`PAYER`] to `to`, as a new transaction.
    pub fn new(contract: Address, to: Address, amount: u128) -> Payment {
        Payment {
            contract,
            from: PAYER,
            to,
            amount,
            tx_hash: None,
        }
    }

    /// The same payment under an existing transaction hash.
    #[must_use]
    pub fn with_hash(mut self, tx_hash: &str) -> Payment {
        self.tx_hash = Some(tx_hash.to_owned());
        self
    }
}

/// The address the fake writer signs for as `signer`: the hot wallet and each deposit index
/// have a fixed address of their own.
pub fn fake_signer_address(signer: Signer) -> Address {
    let digest = fake_key_digest(signer);
    let mut bytes = [0u8; 20];
    bytes.copy_from_slice(&digest[12..]);
    Address::Evm(EvmAddress::from_bytes(bytes))
}

/// The digest a fake signer's addresses come from: its last 20 bytes on secp256k1 families,
/// all 32 on Solana.
fn fake_key_digest(signer: Signer) -> [u8; 32] {
    let seed = match signer {
        Signer::HotWallet => "wcheckout-fake-key:hot-wallet".to_owned(),
        Signer::Deposit(index) => format!("wcheckout-fake-key:deposit:{index}"),
    };
    Keccak256::digest(seed.as_bytes()).into()
}

/// Deposit addresses matching the fake writer's deposit signers, for a gateway under test.
#[derive(Clone, Copy, Debug, Default)]
pub struct FakeDepositAddresses;

impl DepositAddresses for FakeDepositAddresses {
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError> {
        let digest = fake_key_digest(Signer::Deposit(index));
        let mut account = [0u8; 20];
        account.copy_from_slice(&digest[12..]);
        Ok(Address::from_account_bytes(family, account)
            .unwrap_or(Address::Solana(SolanaAddress::from_bytes(digest))))
    }
}

fn keccak_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(Keccak256::digest(bytes)))
}

/// A transaction of ours as the fake writer signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FakeTx {
    from: Address,
    nonce: u64,
    contract: Option<Address>,
    to: Address,
    amount: u128,
    gas_limit: u64,
    max_fee_per_gas: u128,
    max_priority_fee_per_gas: u128,
}

const ENCODING_TAG: &str = "wcheckout-fake-tx-1";

impl FakeTx {
    fn signed(from: Address, tx: &TransferTx) -> FakeTx {
        FakeTx {
            from,
            nonce: tx.nonce,
            contract: tx.contract,
            to: tx.to,
            amount: tx.amount,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
        }
    }

    fn encode(&self) -> RawTx {
        let contract = self
            .contract
            .map_or_else(|| "-".to_owned(), |c| c.storage_key());
        let text = format!(
            "{ENCODING_TAG};{};{};{contract};{};{};{};{};{}",
            self.from.storage_key(),
            self.nonce,
            self.to.storage_key(),
            self.amount,
            self.gas_limit,
            self.max_fee_per_gas,
            self.max_priority_fee_per_gas
        );
        RawTx {
            hash: keccak_hex(text.as_bytes()),
            raw: format!("0x{}", hex::encode(text.as_bytes())),
            expires_at: None,
        }
    }

    fn decode(raw: &RawTx) -> Result<FakeTx, ChainError> {
        let invalid = |why: &str| ChainError::Invalid(format!("not a fake transaction: {why}"));
        let bytes = hex::decode(raw.raw.trim_start_matches("0x")).map_err(|_| invalid("hex"))?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("text"))?;
        let fields = text.split(';').collect::<Vec<_>>();
        let [tag, from, nonce, contract, to, amount, gas, max_fee, tip] = fields[..] else {
            return Err(invalid("fields"));
        };
        if tag != ENCODING_TAG {
            return Err(invalid("tag"));
        }
        let address =
            |text: &str| Address::parse(ChainFamily::Evm, text).map_err(|_| invalid("address"));
        let number = |text: &str| text.parse::<u128>().map_err(|_| invalid("number"));
        Ok(FakeTx {
            from: address(from)?,
            nonce: nonce.parse().map_err(|_| invalid("nonce"))?,
            contract: match contract {
                "-" => None,
                other => Some(address(other)?),
            },
            to: address(to)?,
            amount: number(amount)?,
            gas_limit: gas.parse().map_err(|_| invalid("gas"))?,
            max_fee_per_gas: number(max_fee)?,
            max_priority_fee_per_gas: number(tip)?,
        })
    }

    /// The coin the sender must hold for the node to accept it: all its gas at the max fee,
    /// and the value of a coin transfer.
    fn upfront_cost(&self) -> u128 {
        let gas = u128::from(self.gas_limit).saturating_mul(self.max_fee_per_gas);
        match self.contract {
            Some(_) => gas,
            None => gas.saturating_add(self.amount),
        }
    }
}

/// What a mined transaction moves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Movement {
    Token {
        contract: Address,
        to: Address,
        amount: u128,
    },
    Native {
        to: Address,
        amount: u128,
    },
    /// Takes a nonce and moves nothing (a transaction of another wallet using our address's
    /// nonce, as a second system sharing the key would).
    Nothing,
}

/// A transaction in a block.
#[derive(Clone, Debug)]
struct Included {
    hash: String,
    from: Address,
    /// Whether it takes the next nonce of `from`.
    takes_nonce: bool,
    /// Whether `from`'s balances are debited (ours: yes; the outside payer's: no).
    tracked_sender: bool,
    movement: Movement,
    success: bool,
    /// Coin paid for gas.
    fee: u128,
    /// A transaction of ours, kept to return it to the pool if its block is abandoned.
    signed: Option<FakeTx>,
}

#[derive(Clone, Debug)]
struct Block {
    number: u64,
    hash: String,
    parent_hash: String,
    time: Timestamp,
    txs: Vec<Included>,
}

impl Block {
    fn header(&self) -> BlockRef {
        BlockRef {
            number: self.number,
            hash: self.hash.clone(),
            parent_hash: self.parent_hash.clone(),
            time: self.time,
        }
    }
}

#[derive(Clone, Debug)]
struct Pooled {
    hash: String,
    tx: FakeTx,
    fate: TxFate,
}

type Holding = (Address, Option<Address>);

#[derive(Debug)]
struct State {
    /// The canonical chain; `blocks[n]` is block `n`.
    blocks: Vec<Block>,
    /// Makes every block and payment hash unique (a replaced block never gets its old hash).
    salt: u64,
    block_interval_secs: i64,
    /// Balances given outside any block (like a genesis allocation): never undone.
    allocations: HashMap<Holding, u128>,
    pool: Vec<Pooled>,
    fates: VecDeque<TxFate>,
    base_fee: u128,
    priority_fee: u128,
    safe: TagRule,
    finalized: TagRule,
    automine: bool,
    logs_carry_time: bool,
    down: bool,
    /// Calls to let through, then calls to fail.
    failing: (u32, u32),
    calls: Vec<&'static str>,
    broadcasts: Vec<RawTx>,
}

impl State {
    fn head(&self) -> &Block {
        // The chain always has its genesis block.
        &self.blocks[self.blocks.len() - 1]
    }

    fn head_number(&self) -> u64 {
        self.head().number
    }

    fn next_salt(&mut self) -> u64 {
        self.salt += 1;
        self.salt
    }

    fn tag_height(&self, rule: TagRule) -> Option<u64> {
        let head = self.head_number();
        match rule {
            TagRule::Depth(depth) => head.checked_sub(depth),
            TagRule::Pinned(height) => Some(height.min(head)),
            TagRule::Absent => None,
        }
    }

    fn included(&self) -> impl Iterator<Item = (&Block, &Included)> {
        self.blocks
            .iter()
            .flat_map(|block| block.txs.iter().map(move |tx| (block, tx)))
    }

    /// A balance after the canonical blocks and then `extra` (transactions of a block being
    /// built).
    fn balance_with(&self, extra: &[Included], holder: Address, contract: Option<Address>) -> u128 {
        let start = self
            .allocations
            .get(&(holder, contract))
            .copied()
            .unwrap_or(0);
        let canonical = self.included().map(|(_, tx)| tx);
        canonical
            .chain(extra)
            .fold(start, |held, tx| apply(held, tx, holder, contract))
    }

    fn balance(&self, holder: Address, contract: Option<Address>) -> u128 {
        self.balance_with(&[], holder, contract)
    }

    /// The next nonce of `address` after the canonical blocks and `extra`.
    fn mined_nonce_with(&self, extra: &[Included], address: Address) -> u64 {
        let canonical = self.included().map(|(_, tx)| tx);
        let count = canonical
            .chain(extra)
            .filter(|tx| tx.takes_nonce && tx.from == address)
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    fn mined_nonce(&self, address: Address) -> u64 {
        self.mined_nonce_with(&[], address)
    }

    /// The next nonce counting the pool's consecutive transactions of `address`.
    fn pending_nonce(&self, address: Address) -> u64 {
        let mut next = self.mined_nonce(address);
        while self
            .pool
            .iter()
            .any(|p| p.tx.from == address && p.tx.nonce == next)
        {
            next += 1;
        }
        next
    }

    fn effective_price(&self, tx: &FakeTx) -> u128 {
        tx.max_fee_per_gas
            .min(self.base_fee.saturating_add(tx.max_priority_fee_per_gas))
    }

    /// Executes a pooled transaction of ours in the block being built after `earlier`.
    fn execute(&self, pooled: Pooled, earlier: &[Included]) -> Included {
        let tx = pooled.tx;
        let price = self.effective_price(&tx);
        let needed_gas = match tx.contract {
            Some(_) => TOKEN_TRANSFER_GAS,
            None => NATIVE_TRANSFER_GAS,
        };
        let out_of_gas = tx.gas_limit < needed_gas;
        let gas_used = if out_of_gas { tx.gas_limit } else { needed_gas };
        let fee = u128::from(gas_used).saturating_mul(price);
        let funded = match tx.contract {
            Some(contract) => self.balance_with(earlier, tx.from, Some(contract)) >= tx.amount,
            None => self.balance_with(earlier, tx.from, None) >= tx.amount.saturating_add(fee),
        };
        let movement = match tx.contract {
            Some(contract) => Movement::Token {
                contract,
                to: tx.to,
                amount: tx.amount,
            },
            None => Movement::Native {
                to: tx.to,
                amount: tx.amount,
            },
        };
        Included {
            hash: pooled.hash,
            from: tx.from,
            takes_nonce: true,
            tracked_sender: true,
            movement,
            success: funded && !out_of_gas && pooled.fate != TxFate::Revert,
            fee,
            signed: Some(tx),
        }
    }

    /// Appends a block holding `first` and then whatever the pool can mine, in nonce order.
    fn mine_block(&mut self, first: Vec<Included>) -> &Block {
        let salt = self.next_salt();
        let (number, parent_hash, parent_time) = {
            let parent = self.head();
            (parent.number + 1, parent.hash.clone(), parent.time)
        };
        let mut txs = first;
        loop {
            let next = self.pool.iter().position(|p| {
                p.fate != TxFate::Stick && p.tx.nonce == self.mined_nonce_with(&txs, p.tx.from)
            });
            let Some(index) = next else { break };
            let pooled = self.pool.remove(index);
            let included = self.execute(pooled, &txs);
            txs.push(included);
        }
        let hash = keccak_hex(format!("fake-block:{number}:{parent_hash}:{salt}").as_bytes());
        self.blocks.push(Block {
            number,
            hash,
            parent_hash,
            time: parent_time.plus_seconds(self.block_interval_secs),
            txs,
        });
        // Transactions whose nonce another one took can never be mined.
        let stale = self
            .pool
            .iter()
            .filter(|p| p.tx.nonce < self.mined_nonce(p.tx.from))
            .map(|p| p.hash.clone())
            .collect::<Vec<_>>();
        self.pool.retain(|p| !stale.contains(&p.hash));
        self.head()
    }

    fn payment(&mut self, payment: &Payment) -> Included {
        let salt = self.next_salt();
        let hash = payment
            .tx_hash
            .clone()
            .unwrap_or_else(|| keccak_hex(format!("fake-payment:{salt}").as_bytes()));
        Included {
            hash,
            from: payment.from,
            takes_nonce: false,
            tracked_sender: false,
            movement: Movement::Token {
                contract: payment.contract,
                to: payment.to,
                amount: payment.amount,
            },
            success: true,
            fee: 0,
            signed: None,
        }
    }

    fn logs(&self, contracts: &[Address], from: u64, to: u64) -> Vec<TransferLog> {
        let mut logs = Vec::new();
        for block in self
            .blocks
            .iter()
            .filter(|b| b.number >= from && b.number <= to)
        {
            let mut index = 0u64;
            for tx in block.txs.iter().filter(|tx| tx.success) {
                let Movement::Token {
                    contract,
                    to,
                    amount,
                } = &tx.movement
                else {
                    continue;
                };
                if contracts.contains(contract) {
                    logs.push(TransferLog {
                        contract: *contract,
                        tx_hash: tx.hash.clone(),
                        log_index: index,
                        block_number: block.number,
                        block_hash: block.hash.clone(),
                        block_time: self.logs_carry_time.then_some(block.time),
                        from: tx.from,
                        to: *to,
                        value: Some(*amount),
                    });
                }
                index += 1;
            }
        }
        logs
    }

    fn receipt(&self, tx_hash: &str) -> Option<Receipt> {
        self.included()
            .find(|(_, tx)| tx.hash == tx_hash)
            .map(|(block, tx)| Receipt {
                block_number: block.number,
                success: tx.success,
                fee: tx.fee,
                reclaimed: 0,
            })
    }

    fn broadcast(&mut self, raw: &RawTx) -> Result<Broadcast, ChainError> {
        let tx = FakeTx::decode(raw)?;
        let hash = tx.encode().hash;
        if hash != raw.hash {
            return Err(ChainError::Invalid(
                "the hash does not match the transaction".into(),
            ));
        }
        self.broadcasts.push(raw.clone());
        if tx.nonce < self.mined_nonce(tx.from) {
            return Ok(Broadcast::NonceTooLow);
        }
        if self.pool.iter().any(|p| p.hash == hash) {
            return Ok(Broadcast::AlreadyKnown);
        }
        if tx.max_fee_per_gas < self.base_fee {
            return Ok(Broadcast::Refused(
                "max fee per gas less than block base fee".into(),
            ));
        }
        if self.balance(tx.from, None) < tx.upfront_cost() {
            return Ok(Broadcast::Refused(
                "insufficient funds for gas * price + value".into(),
            ));
        }
        let same_nonce = self
            .pool
            .iter()
            .position(|p| p.tx.from == tx.from && p.tx.nonce == tx.nonce);
        if let Some(index) = same_nonce {
            let old = &self.pool[index].tx;
            let bumped = |new: u128, old: u128| new.saturating_mul(10) >= old.saturating_mul(11);
            if !bumped(tx.max_fee_per_gas, old.max_fee_per_gas)
                || !bumped(tx.max_priority_fee_per_gas, old.max_priority_fee_per_gas)
            {
                return Ok(Broadcast::Refused(
                    "replacement transaction underpriced".into(),
                ));
            }
            self.pool.remove(index);
        }
        let fate = self.fates.pop_front().unwrap_or(TxFate::Mine);
        if fate != TxFate::Drop {
            self.pool.push(Pooled { hash, tx, fate });
        }
        Ok(Broadcast::Accepted)
    }
}

/// The change `tx` makes to `holder`'s balance of `contract` (`None`: the coin).
fn apply(held: u128, tx: &Included, holder: Address, contract: Option<Address>) -> u128 {
    let mut held = held;
    if tx.tracked_sender && tx.from == holder && contract.is_none() {
        held = held.saturating_sub(tx.fee);
    }
    if !tx.success {
        return held;
    }
    let (moved_contract, to, amount) = match &tx.movement {
        Movement::Token {
            contract,
            to,
            amount,
        } => (Some(*contract), *to, *amount),
        Movement::Native { to, amount } => (None, *to, *amount),
        Movement::Nothing => return held,
    };
    if moved_contract != contract {
        return held;
    }
    if tx.tracked_sender && tx.from == holder {
        held = held.saturating_sub(amount);
    }
    if to == holder {
        held = held.saturating_add(amount);
    }
    held
}

/// One node's view of one in-memory chain; cheap to clone (clones share the chain). It is both
/// the [`ChainReader`] and the [`ChainWriter`] of that chain.
#[derive(Clone)]
pub struct FakeChain {
    state: Arc<Mutex<State>>,
    new_head: Arc<tokio::sync::Notify>,
}

impl Default for FakeChain {
    fn default() -> Self {
        FakeChain::new()
    }
}

impl std::fmt::Debug for FakeChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("FakeChain")
            .field("head", &state.head_number())
            .field("pool", &state.pool.len())
            .finish_non_exhaustive()
    }
}

impl FakeChain {
    /// A chain holding only its genesis block, at [`DEFAULT_GENESIS_SECS`].
    pub fn new() -> FakeChain {
        FakeChain::starting_at(Timestamp::from_micros(DEFAULT_GENESIS_SECS * 1_000_000))
    }

    /// A chain whose genesis block has timestamp `genesis` (whole seconds are kept).
    pub fn starting_at(genesis: Timestamp) -> FakeChain {
        let time = Timestamp::from_micros(genesis.seconds().saturating_mul(1_000_000));
        let genesis = Block {
            number: 0,
            hash: keccak_hex(b"fake-block:0"),
            parent_hash: format!("0x{}", "00".repeat(32)),
            time,
            txs: Vec::new(),
        };
        let state = State {
            blocks: vec![genesis],
            salt: 0,
            block_interval_secs: DEFAULT_BLOCK_INTERVAL_SECS,
            allocations: HashMap::new(),
            pool: Vec::new(),
            fates: VecDeque::new(),
            base_fee: DEFAULT_BASE_FEE,
            priority_fee: DEFAULT_PRIORITY_FEE,
            safe: TagRule::Depth(32),
            finalized: TagRule::Depth(64),
            automine: false,
            logs_carry_time: false,
            down: false,
            failing: (0, 0),
            calls: Vec::new(),
            broadcasts: Vec::new(),
        };
        FakeChain {
            state: Arc::new(Mutex::new(state)),
            new_head: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state for a port call named `method`, or the failure the script wants for it.
    fn call(&self, method: &'static str) -> Result<MutexGuard<'_, State>, ChainError> {
        let mut state = self.lock();
        state.calls.push(method);
        if state.down {
            return Err(ChainError::Unavailable(format!(
                "{method}: the fake node is down"
            )));
        }
        match state.failing {
            (0, 0) => {}
            (0, count) => {
                state.failing = (0, count - 1);
                return Err(ChainError::Unavailable(format!(
                    "{method}: the fake node failed the call"
                )));
            }
            (skip, count) => state.failing = (skip - 1, count),
        }
        Ok(state)
    }

    fn woke(&self) {
        self.new_head.notify_waiters();
    }

    // --- scripting ---------------------------------------------------------------------------

    /// Seconds between the timestamps of consecutive blocks from now on.
    pub fn set_block_interval(&self, seconds: i64) {
        self.lock().block_interval_secs = seconds;
    }

    /// Mines `count` blocks, each taking what the pool can mine.
    pub fn mine(&self, count: u64) {
        {
            let mut state = self.lock();
            for _ in 0..count {
                state.mine_block(Vec::new());
            }
        }
        self.woke();
    }

    /// Mines empty blocks until the head is at `height` (nothing when it is there already).
    pub fn mine_to(&self, height: u64) {
        let head = self.head_number();
        self.mine(height.saturating_sub(head));
    }

    /// A block holding `amount` of `contract` from [`PAYER`] to `to`; the transaction hash.
    pub fn pay(&self, contract: Address, to: Address, amount: u128) -> String {
        let hashes = self.mine_with(&[Payment::new(contract, to, amount)]);
        hashes.into_iter().next().unwrap_or_default()
    }

    /// A block holding these payments (in this order, then what the pool can mine); their
    /// transaction hashes.
    pub fn mine_with(&self, payments: &[Payment]) -> Vec<String> {
        let hashes = {
            let mut state = self.lock();
            let txs = payments
                .iter()
                .map(|p| state.payment(p))
                .collect::<Vec<_>>();
            let hashes = txs.iter().map(|tx| tx.hash.clone()).collect();
            state.mine_block(txs);
            hashes
        };
        self.woke();
        hashes
    }

    /// Replaces the last `depth` blocks by as many new ones (empty but for what the pool
    /// mines): every replaced height gets a new hash.
    pub fn reorg(&self, depth: u64) {
        let empty = (0..depth).map(|_| Vec::new()).collect();
        self.reorg_with(depth, empty);
    }

    /// Replaces the last `depth` blocks by one new block per entry of `branch`, holding its
    /// payments; their transaction hashes. Payments of the abandoned blocks vanish (unless the
    /// branch includes them again, see [`Payment::with_hash`]); our transactions in them go
    /// back to the pool. The genesis block is never replaced.
    pub fn reorg_with(&self, depth: u64, branch: Vec<Vec<Payment>>) -> Vec<Vec<String>> {
        let hashes = {
            let mut state = self.lock();
            let keep = state
                .blocks
                .len()
                .saturating_sub(usize::try_from(depth).unwrap_or(usize::MAX))
                .max(1);
            let abandoned = state.blocks.split_off(keep);
            for tx in abandoned.iter().flat_map(|b| b.txs.iter()) {
                if let Some(signed) = &tx.signed {
                    state.pool.push(Pooled {
                        hash: tx.hash.clone(),
                        tx: signed.clone(),
                        fate: TxFate::Mine,
                    });
                }
            }
            let mut hashes = Vec::with_capacity(branch.len());
            for payments in branch {
                let txs = payments
                    .iter()
                    .map(|p| state.payment(p))
                    .collect::<Vec<_>>();
                hashes.push(txs.iter().map(|tx| tx.hash.clone()).collect());
                state.mine_block(txs);
            }
            hashes
        };
        self.woke();
        hashes
    }

    /// Where the `safe` or `finalized` tag stands (default: 32 and 64 blocks below the head).
    pub fn set_tag(&self, tag: FinalityTag, rule: TagRule) {
        let mut state = self.lock();
        match tag {
            FinalityTag::Safe => state.safe = rule,
            FinalityTag::Finalized => state.finalized = rule,
        }
    }

    /// Whether logs carry their block's timestamp (some nodes do; the default is not, so the
    /// reader of logs fetches headers).
    pub fn set_logs_carry_block_time(&self, carry: bool) {
        self.lock().logs_carry_time = carry;
    }

    /// Gives `holder` `amount` of `contract` (`None`: the coin) outside any block, as a genesis
    /// allocation would: no reorganisation takes it back, and no log announces it.
    pub fn fund(&self, holder: Address, contract: Option<Address>, amount: u128) {
        let mut state = self.lock();
        let held = state.allocations.entry((holder, contract)).or_default();
        *held = held.saturating_add(amount);
    }

    /// The fees quoted from now on (base fee, priority fee), wei per gas.
    pub fn set_fees(&self, base_fee: u128, priority_fee: u128) {
        let mut state = self.lock();
        state.base_fee = base_fee;
        state.priority_fee = priority_fee;
    }

    /// Whether each accepted transaction is mined at once in a block of its own.
    pub fn set_automine(&self, on: bool) {
        self.lock().automine = on;
    }

    /// What happens to the next transactions the node accepts, in order (afterwards: mined).
    pub fn script_fates(&self, fates: &[TxFate]) {
        self.lock().fates.extend(fates.iter().copied());
    }

    /// Makes the node forget a pooled transaction; false when it had none with this hash.
    pub fn drop_tx(&self, tx_hash: &str) -> bool {
        let mut state = self.lock();
        let before = state.pool.len();
        state.pool.retain(|p| p.hash != tx_hash);
        state.pool.len() != before
    }

    /// Lets stuck transactions be mined again (the network's fees came down to theirs).
    pub fn release_stuck(&self) {
        let mut state = self.lock();
        for pooled in &mut state.pool {
            if pooled.fate == TxFate::Stick {
                pooled.fate = TxFate::Mine;
            }
        }
    }

    /// A block holding a transaction of another wallet that takes `address`'s next nonce and
    /// moves nothing: what a second system sharing our key would do. Its hash.
    pub fn take_nonce_elsewhere(&self, address: Address) -> String {
        let hash = {
            let mut state = self.lock();
            let salt = state.next_salt();
            let hash = keccak_hex(format!("fake-foreign:{salt}").as_bytes());
            let tx = Included {
                hash: hash.clone(),
                from: address,
                takes_nonce: true,
                tracked_sender: false,
                movement: Movement::Nothing,
                success: true,
                fee: 0,
                signed: None,
            };
            state.mine_block(vec![tx]);
            hash
        };
        self.woke();
        hash
    }

    /// Takes the node down (every port call fails as unavailable) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Lets the next `skip` port calls through, then fails the `count` after them.
    pub fn fail_calls(&self, skip: u32, count: u32) {
        self.lock().failing = (skip, count);
    }

    // --- inspection --------------------------------------------------------------------------

    /// The head block.
    pub fn head_block(&self) -> BlockRef {
        self.lock().head().header()
    }

    /// The head's height.
    pub fn head_number(&self) -> u64 {
        self.lock().head_number()
    }

    /// Block `number` of the canonical chain.
    pub fn block_at(&self, number: u64) -> Option<BlockRef> {
        let state = self.lock();
        let index = usize::try_from(number).ok()?;
        state.blocks.get(index).map(Block::header)
    }

    /// What `holder` has of `contract` (`None`: the coin) at the head.
    pub fn balance_of(&self, holder: Address, contract: Option<Address>) -> u128 {
        self.lock().balance(holder, contract)
    }

    /// Hashes of the transactions waiting in the pool.
    pub fn pool(&self) -> Vec<String> {
        self.lock().pool.iter().map(|p| p.hash.clone()).collect()
    }

    /// The mined outcome of a transaction, if it is in a canonical block.
    pub fn receipt_of(&self, tx_hash: &str) -> Option<Receipt> {
        self.lock().receipt(tx_hash)
    }

    /// Every signed transaction handed to the node, in order (decodable or not refused).
    pub fn broadcasts(&self) -> Vec<RawTx> {
        self.lock().broadcasts.clone()
    }

    /// The names of the port calls made so far, in order (failed ones included).
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// How many calls of `method` were made.
    pub fn call_count(&self, method: &str) -> usize {
        self.lock().calls.iter().filter(|m| **m == method).count()
    }

    /// Token movements to `to` mined in canonical blocks: `(tx hash, contract, from, amount)`.
    pub fn transfers_to(&self, to: Address) -> Vec<(String, Address, Address, u128)> {
        let state = self.lock();
        state
            .included()
            .filter(|(_, tx)| tx.success)
            .filter_map(|(_, tx)| match &tx.movement {
                Movement::Token {
                    contract,
                    to: recipient,
                    amount,
                } if *recipient == to => Some((tx.hash.clone(), *contract, tx.from, *amount)),
                Movement::Token { .. } | Movement::Native { .. } | Movement::Nothing => None,
            })
            .collect()
    }
}

#[async_trait]
impl ChainReader for FakeChain {
    async fn head(&self) -> Result<BlockRef, ChainError> {
        Ok(self.call("head")?.head().header())
    }

    async fn blocks(&self, numbers: &[u64]) -> Result<Vec<BlockRef>, ChainError> {
        let state = self.call("blocks")?;
        Ok(numbers
            .iter()
            .filter_map(|n| usize::try_from(*n).ok())
            .filter_map(|n| state.blocks.get(n).map(Block::header))
            .collect())
    }

    async fn tagged(&self, tag: FinalityTag) -> Result<Option<BlockRef>, ChainError> {
        let state = self.call("tagged")?;
        let rule = match tag {
            FinalityTag::Safe => state.safe,
            FinalityTag::Finalized => state.finalized,
        };
        let height = state.tag_height(rule).and_then(|h| usize::try_from(h).ok());
        Ok(height.and_then(|h| state.blocks.get(h)).map(Block::header))
    }

    async fn transfer_logs(
        &self,
        contracts: &[Address],
        from: u64,
        to: u64,
    ) -> Result<Vec<TransferLog>, ChainError> {
        Ok(self.call("transfer_logs")?.logs(contracts, from, to))
    }

    async fn wait_for_new_head(&self, max_wait: Duration) {
        let _ = tokio::time::timeout(max_wait, self.new_head.notified()).await;
    }
}

#[async_trait]
impl ChainWriter for FakeChain {
    fn address_of(&self, signer: Signer) -> Result<Address, ChainError> {
        Ok(fake_signer_address(signer))
    }

    async fn sign(&self, signer: Signer, tx: &TransferTx) -> Result<RawTx, ChainError> {
        Ok(FakeTx::signed(fake_signer_address(signer), tx).encode())
    }

    fn resign(
        &self,
        signer: Signer,
        original: &RawTx,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> Result<RawTx, ChainError> {
        let mut tx = FakeTx::decode(original)?;
        if tx.from != fake_signer_address(signer) {
            return Err(ChainError::Invalid(
                "the transaction was signed by another key".into(),
            ));
        }
        tx.max_fee_per_gas = max_fee_per_gas;
        tx.max_priority_fee_per_gas = max_priority_fee_per_gas;
        Ok(tx.encode())
    }

    async fn nonce(&self, address: &Address, pending: bool) -> Result<u64, ChainError> {
        let state = self.call("nonce")?;
        Ok(if pending {
            state.pending_nonce(*address)
        } else {
            state.mined_nonce(*address)
        })
    }

    async fn fee_quote(&self) -> Result<FeeQuote, ChainError> {
        let state = self.call("fee_quote")?;
        Ok(FeeQuote {
            base_fee: state.base_fee,
            priority_fee: state.priority_fee,
        })
    }

    async fn estimate_gas(&self, from: &Address, tx: &TransferTx) -> Result<u64, ChainError> {
        let state = self.call("estimate_gas")?;
        match tx.contract {
            None => Ok(NATIVE_TRANSFER_GAS),
            Some(contract) if state.balance(*from, Some(contract)) >= tx.amount => {
                Ok(TOKEN_TRANSFER_ESTIMATE)
            }
            Some(_) => Err(ChainError::Unavailable(
                "eth_estimateGas: execution reverted: transfer amount exceeds balance".into(),
            )),
        }
    }

    async fn broadcast(&self, raw: &RawTx) -> Result<Broadcast, ChainError> {
        let answer = {
            let mut state = self.call("broadcast")?;
            let answer = state.broadcast(raw)?;
            if answer == Broadcast::Accepted && state.automine {
                state.mine_block(Vec::new());
            }
            answer
        };
        self.woke();
        Ok(answer)
    }

    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError> {
        Ok(self.call("receipt")?.receipt(tx_hash))
    }

    async fn known(&self, tx_hash: &str) -> Result<bool, ChainError> {
        let state = self.call("known")?;
        Ok(state.pool.iter().any(|p| p.hash == tx_hash) || state.receipt(tx_hash).is_some())
    }

    async fn balance(
        &self,
        address: &Address,
        contract: Option<&Address>,
    ) -> Result<u128, ChainError> {
        Ok(self.call("balance")?.balance(*address, contract.copied()))
    }

    async fn head_number(&self) -> Result<u64, ChainError> {
        Ok(self.call("head_number")?.head_number())
    }

    async fn head_time(&self) -> Result<Timestamp, ChainError> {
        Ok(ChainReader::head(self).await?.time)
    }
}
