//! The chain conformance suite: what every chain adapter must do through the domain's chain
//! ports ([`ChainReader`], [`ChainWriter`]), written once and run against each adapter, as the
//! store suite runs against both SQL engines. The in-memory [`crate::chain_fake::FakeChain`]
//! passes it (so tests on the fake mean something for real nodes), and so does the EVM adapter
//! on anvil (`crates/evm/tests/evm/conformance.rs`); a new chain family's adapter is added by
//! implementing [`ChainHarness`] for its local node and expanding [`chain_conformance_suite!`].
//!
//! The cases assert only what the ports promise, through the ports' types: heights, hashes
//! chaining to parents, finality tags below the head, transfer logs filtered by contract and
//! range with their block hash, a reorganisation seen as changed hashes with its transfers
//! gone, a transfer signed, sent and followed to its receipt, a replacement at the same nonce of
//! which only one is mined, `nonce too low` for a used nonce, a reverted transfer that moves
//! nothing but its fee, and balances. They never look at a hash's or an address's text format.
//!
//! Each case needs a fresh chain (the harness's constructor makes one), no other activity on it
//! while it runs, and takes a few node round trips.

use std::collections::HashMap;

use async_trait::async_trait;
use wcheckout_domain::address::{Address, EvmAddress};
use wcheckout_domain::chain::{
    BlockRef, Broadcast, ChainReader, ChainWriter, FinalityTag, RawTx, Receipt, TransferLog,
    TransferTx,
};
use wcheckout_domain::payout::Signer;

/// Coin given to our sender for gas in the cases that send (base units of the chain's coin).
pub const GAS_MONEY: u128 = 1_000_000_000_000_000_000;

/// A chain under test: its adapter's ports, and the node controls a case needs (which are the
/// local node's own, never the adapter's).
#[async_trait]
pub trait ChainHarness: Send + Sync {
    /// The adapter's reader.
    fn reader(&self) -> &dyn ChainReader;
    /// The adapter's writer.
    fn writer(&self) -> &dyn ChainWriter;
    /// Two token contracts on the chain.
    fn tokens(&self) -> (Address, Address);
    /// Produces `count` blocks (holding whatever the node has pending).
    async fn mine(&self, count: u64);
    /// A transfer of `amount` base units of `token` to `to` from a payer that is not ours,
    /// mined when this returns; its transaction hash.
    async fn pay(&self, token: Address, to: Address, amount: u128) -> String;
    /// Replaces the last `depth` blocks by as many new ones without their transactions.
    async fn reorg(&self, depth: u64);
    /// Adds `amount` of `token` (`None`: the chain's coin) to what `holder` has.
    async fn fund(&self, holder: Address, token: Option<Address>, amount: u128);
    /// Whether the node mines each transaction it accepts at once (the default) or only when
    /// told to ([`ChainHarness::mine`]).
    async fn set_automine(&self, on: bool);
}

/// A recipient that is neither ours nor the payer's.
fn stranger(n: u8) -> Address {
    let mut bytes = [0x5a; 20];
    bytes[0] = 0x11;
    bytes[19] = n;
    Address::Evm(EvmAddress::from_bytes(bytes))
}

async fn head(chain: &dyn ChainHarness) -> BlockRef {
    chain.reader().head().await.expect("head")
}

/// Blocks by height (the port does not promise an order).
async fn blocks_by_height(chain: &dyn ChainHarness, heights: &[u64]) -> HashMap<u64, BlockRef> {
    let blocks = chain.reader().blocks(heights).await.expect("blocks");
    blocks.into_iter().map(|b| (b.number, b)).collect()
}

async fn token_balance(chain: &dyn ChainHarness, holder: Address, token: Address) -> u128 {
    chain
        .writer()
        .balance(&holder, Some(&token))
        .await
        .expect("token balance")
}

async fn coin_balance(chain: &dyn ChainHarness, holder: Address) -> u128 {
    chain
        .writer()
        .balance(&holder, None)
        .await
        .expect("coin balance")
}

/// Our hot wallet, with coin for gas and `tokens` of the first token.
async fn funded_sender(chain: &dyn ChainHarness, tokens: u128) -> Address {
    let sender = chain
        .writer()
        .address_of(Signer::HotWallet)
        .expect("address of the hot wallet");
    chain.fund(sender, None, GAS_MONEY).await;
    if tokens > 0 {
        chain.fund(sender, Some(chain.tokens().0), tokens).await;
    }
    sender
}

/// A token transfer from `sender` at its next nonce, fees from the node's quote.
async fn transfer(
    chain: &dyn ChainHarness,
    sender: Address,
    to: Address,
    amount: u128,
) -> TransferTx {
    let writer = chain.writer();
    let nonce = writer.nonce(&sender, true).await.expect("nonce");
    let quote = writer.fee_quote().await.expect("fee quote");
    TransferTx {
        nonce,
        contract: Some(chain.tokens().0),
        to,
        amount,
        gas_limit: 0,
        max_fee_per_gas: quote
            .base_fee
            .saturating_mul(2)
            .saturating_add(quote.priority_fee),
        max_priority_fee_per_gas: quote.priority_fee,
    }
}

/// The gas limit our payout engine would give `tx`: the node's estimate and a fifth more.
async fn gas_limit(chain: &dyn ChainHarness, sender: Address, tx: &TransferTx) -> u64 {
    let estimate = chain
        .writer()
        .estimate_gas(&sender, tx)
        .await
        .expect("gas estimate");
    assert!(estimate > 0, "a transfer costs gas");
    estimate.saturating_add(estimate / 5)
}

async fn signed(chain: &dyn ChainHarness, tx: &TransferTx) -> RawTx {
    chain
        .writer()
        .sign(Signer::HotWallet, tx)
        .await
        .expect("signing")
}

async fn receipt(chain: &dyn ChainHarness, tx_hash: &str) -> Option<Receipt> {
    chain.writer().receipt(tx_hash).await.expect("receipt")
}

async fn logs(
    chain: &dyn ChainHarness,
    contracts: &[Address],
    from: u64,
    to: u64,
) -> Vec<TransferLog> {
    chain
        .reader()
        .transfer_logs(contracts, from, to)
        .await
        .expect("transfer logs")
}

/// The head, blocks by height (absent heights left out, parents chained), the finality tags at
/// or below the head and on the canonical chain, and the writer's view of the head.
pub async fn head_blocks_and_finality(chain: &dyn ChainHarness) {
    chain.mine(3).await;
    let head = head(chain).await;
    assert!(head.number >= 3, "three blocks mined: {head:?}");
    let writer_head = chain.writer().head_number().await.expect("head number");
    assert_eq!(
        writer_head, head.number,
        "reader and writer agree on the head"
    );
    let previous = head.number - 1;
    let found = blocks_by_height(chain, &[previous, head.number, head.number + 1_000]).await;
    assert_eq!(
        found.len(),
        2,
        "a height above the head is left out: {found:?}"
    );
    assert_eq!(
        found[&head.number], head,
        "the head read by height is the head"
    );
    assert_eq!(
        found[&head.number].parent_hash, found[&previous].hash,
        "parents chain"
    );
    assert_ne!(found[&previous].hash, head.hash);
    assert!(found[&previous].time <= head.time, "time does not go back");
    assert!(
        chain
            .reader()
            .blocks(&[])
            .await
            .expect("no blocks")
            .is_empty()
    );
    let mut tagged = HashMap::new();
    for tag in [FinalityTag::Safe, FinalityTag::Finalized] {
        let Some(block) = chain.reader().tagged(tag).await.expect("tagged block") else {
            continue;
        };
        assert!(
            block.number <= head.number,
            "{tag:?} above the head: {block:?}"
        );
        let canonical = blocks_by_height(chain, &[block.number]).await;
        assert_eq!(
            canonical.get(&block.number),
            Some(&block),
            "{tag:?} is canonical"
        );
        tagged.insert(format!("{tag:?}"), block.number);
    }
    if let (Some(safe), Some(finalized)) = (tagged.get("Safe"), tagged.get("Finalized")) {
        assert!(finalized <= safe, "finalized {finalized} above safe {safe}");
    }
}

/// Transfer logs of a range: only the contracts asked for, only the heights asked for, each
/// with its transaction, recipient, value and the hash of the block it is in.
pub async fn transfer_logs_in_a_range(chain: &dyn ChainHarness) {
    let (token, other_token) = chain.tokens();
    let (to, elsewhere) = (stranger(1), stranger(2));
    let start = head(chain).await.number + 1;
    let first = chain.pay(token, to, 1_250_000).await;
    let other = chain.pay(other_token, to, 2_000_000).await;
    let third = chain.pay(token, elsewhere, 3_000_000).await;
    let end = head(chain).await.number;
    assert!(end >= start + 2, "each payment in a block of its own");

    let ours = |logs: &[TransferLog]| {
        let mut hashes = logs
            .iter()
            .filter(|l| [&first, &other, &third].contains(&&l.tx_hash))
            .map(|l| l.tx_hash.clone())
            .collect::<Vec<_>>();
        hashes.sort();
        hashes
    };
    let of_token = logs(chain, &[token], start, end).await;
    assert!(of_token.iter().all(|l| l.contract == token), "{of_token:?}");
    let mut expected = vec![first.clone(), third.clone()];
    expected.sort();
    assert_eq!(ours(&of_token), expected, "only the token asked for");
    let both = logs(chain, &[token, other_token], start, end).await;
    let mut all = vec![first.clone(), other.clone(), third.clone()];
    all.sort();
    assert_eq!(ours(&both), all, "both tokens");
    let mut keys = both
        .iter()
        .map(|l| (l.tx_hash.clone(), l.log_index))
        .collect::<Vec<_>>();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), both.len(), "each log once");

    let log = of_token
        .iter()
        .find(|l| l.tx_hash == first)
        .expect("the first payment's log");
    assert_eq!((log.to, log.value), (to, Some(1_250_000)));
    assert_ne!(log.from, to);
    assert!((start..=end).contains(&log.block_number), "{log:?}");
    let block = blocks_by_height(chain, &[log.block_number]).await;
    assert_eq!(
        block[&log.block_number].hash, log.block_hash,
        "the log keeps its block hash"
    );
    if let Some(time) = log.block_time {
        assert_eq!(time, block[&log.block_number].time);
    }

    let first_block_only = logs(
        chain,
        &[token, other_token],
        log.block_number,
        log.block_number,
    )
    .await;
    assert_eq!(
        ours(&first_block_only),
        vec![first.clone()],
        "only the heights asked for"
    );
    let before = logs(chain, &[token, other_token], 0, start - 1).await;
    assert!(
        ours(&before).is_empty(),
        "nothing of ours before the range: {before:?}"
    );
}

/// A reorganisation: the replaced heights get new hashes chaining to the fork point, the block
/// below keeps its hash, the abandoned transfer leaves the logs and the balances.
pub async fn reorg_changes_hashes(chain: &dyn ChainHarness) {
    let (token, _) = chain.tokens();
    let to = stranger(3);
    chain.mine(2).await;
    let base = head(chain).await.number;
    let paid = chain.pay(token, to, 700_000).await;
    chain.mine(1).await;
    assert_eq!(head(chain).await.number, base + 2);
    assert_eq!(token_balance(chain, to, token).await, 700_000);
    let heights = [base, base + 1, base + 2];
    let before = blocks_by_height(chain, &heights).await;

    chain.reorg(2).await;

    let after = blocks_by_height(chain, &heights).await;
    assert_eq!(
        after[&base].hash, before[&base].hash,
        "the fork point stays"
    );
    assert_ne!(
        after[&(base + 1)].hash,
        before[&(base + 1)].hash,
        "replaced"
    );
    assert_ne!(
        after[&(base + 2)].hash,
        before[&(base + 2)].hash,
        "replaced"
    );
    assert_eq!(
        after[&(base + 1)].parent_hash,
        after[&base].hash,
        "the new branch chains"
    );
    assert!(head(chain).await.number >= base + 2);
    let head = head(chain).await.number;
    let gone = logs(chain, &[token], base + 1, head).await;
    assert!(
        gone.iter().all(|l| l.tx_hash != paid),
        "the abandoned transfer is gone: {gone:?}"
    );
    assert_eq!(
        token_balance(chain, to, token).await,
        0,
        "and so is what it moved"
    );
    assert_eq!(
        receipt(chain, &paid).await,
        None,
        "no receipt in the new branch"
    );
}

/// A token transfer signed by our key, estimated, broadcast once, mined: receipt, logs,
/// balances (the sender pays exactly the receipt's fee in coin), nonces; the same bytes or
/// another transaction at a used nonce are not taken again.
pub async fn send_and_follow_to_receipt(chain: &dyn ChainHarness) {
    let (token, _) = chain.tokens();
    let sender = funded_sender(chain, 5_000_000).await;
    let to = stranger(4);
    let writer = chain.writer();
    let nonce = writer.nonce(&sender, false).await.expect("nonce");
    assert_eq!(
        writer.nonce(&sender, true).await.expect("pending nonce"),
        nonce
    );
    let coin_before = coin_balance(chain, sender).await;
    let tokens_before = token_balance(chain, sender, token).await;

    let mut tx = transfer(chain, sender, to, 1_000_000).await;
    tx.gas_limit = gas_limit(chain, sender, &tx).await;
    let raw = signed(chain, &tx).await;
    assert_eq!(signed(chain, &tx).await, raw, "signing is deterministic");
    assert_eq!(
        writer.broadcast(&raw).await.expect("broadcast"),
        Broadcast::Accepted
    );
    chain.mine(1).await;

    let mined = receipt(chain, &raw.hash).await.expect("mined");
    assert!(mined.success, "{mined:?}");
    assert!(mined.fee > 0, "gas is paid");
    assert!(mined.block_number <= head(chain).await.number);
    assert!(writer.known(&raw.hash).await.expect("known"));
    assert_eq!(
        writer.nonce(&sender, false).await.expect("nonce"),
        nonce + 1
    );
    assert_eq!(token_balance(chain, to, token).await, 1_000_000);
    assert_eq!(
        token_balance(chain, sender, token).await,
        tokens_before - 1_000_000
    );
    assert_eq!(
        coin_before - coin_balance(chain, sender).await,
        mined.fee,
        "only the fee in coin"
    );
    let in_block = logs(chain, &[token], mined.block_number, mined.block_number).await;
    let log = in_block
        .iter()
        .find(|l| l.tx_hash == raw.hash)
        .expect("the transfer's log");
    assert_eq!((log.from, log.to, log.value), (sender, to, Some(1_000_000)));

    let resent = writer.broadcast(&raw).await.expect("broadcast again");
    assert!(
        matches!(resent, Broadcast::NonceTooLow | Broadcast::AlreadyKnown),
        "mined bytes sent again: {resent:?}"
    );
    let mut other = tx;
    other.amount = 1;
    other.gas_limit = 100_000;
    let other = signed(chain, &other).await;
    assert_eq!(
        writer.broadcast(&other).await.expect("broadcast"),
        Broadcast::NonceTooLow
    );
    let unknown = format!("0x{}", "ab".repeat(32));
    assert_eq!(receipt(chain, &unknown).await, None);
    assert!(!writer.known(&unknown).await.expect("known"));
}

/// A pending transfer replaced at the same nonce with higher fees: the replacement has another
/// hash and is mined, the original never is, the value moves once, and the original's bytes
/// then meet `nonce too low`.
pub async fn replace_at_the_same_nonce(chain: &dyn ChainHarness) {
    let (token, _) = chain.tokens();
    let sender = funded_sender(chain, 5_000_000).await;
    let to = stranger(5);
    let writer = chain.writer();
    chain.set_automine(false).await;
    let nonce = writer.nonce(&sender, true).await.expect("nonce");
    let mut tx = transfer(chain, sender, to, 2_000_000).await;
    tx.gas_limit = gas_limit(chain, sender, &tx).await;
    let original = signed(chain, &tx).await;
    assert_eq!(
        writer.broadcast(&original).await.expect("broadcast"),
        Broadcast::Accepted
    );
    assert!(
        writer.known(&original.hash).await.expect("known"),
        "pending is known"
    );
    assert_eq!(receipt(chain, &original.hash).await, None, "not mined yet");
    assert_eq!(
        writer.nonce(&sender, true).await.expect("pending nonce"),
        nonce + 1
    );
    assert_eq!(
        writer.nonce(&sender, false).await.expect("mined nonce"),
        nonce
    );

    let bump = |fee: u128| fee.saturating_add(fee.div_ceil(4)).saturating_add(1);
    let replacement = writer
        .resign(
            Signer::HotWallet,
            &original,
            bump(tx.max_fee_per_gas),
            bump(tx.max_priority_fee_per_gas),
        )
        .expect("re-signing");
    assert_ne!(
        replacement.hash, original.hash,
        "a replacement is another transaction"
    );
    assert_eq!(
        writer.broadcast(&replacement).await.expect("broadcast"),
        Broadcast::Accepted
    );
    chain.mine(1).await;
    chain.set_automine(true).await;

    let mined = receipt(chain, &replacement.hash)
        .await
        .expect("the replacement is mined");
    assert!(mined.success, "{mined:?}");
    assert_eq!(
        receipt(chain, &original.hash).await,
        None,
        "the original never is"
    );
    assert_eq!(
        writer.nonce(&sender, false).await.expect("nonce"),
        nonce + 1
    );
    assert_eq!(
        token_balance(chain, to, token).await,
        2_000_000,
        "paid once"
    );
    assert_eq!(
        writer.broadcast(&original).await.expect("broadcast"),
        Broadcast::NonceTooLow
    );
}

/// A transfer of more than the sender holds is mined reverted: the nonce and the fee are
/// spent, no token moves, no log is written.
pub async fn a_transfer_beyond_the_balance_reverts(chain: &dyn ChainHarness) {
    let (token, _) = chain.tokens();
    let sender = funded_sender(chain, 1_000).await;
    let to = stranger(6);
    let writer = chain.writer();
    let coin_before = coin_balance(chain, sender).await;
    let mut tx = transfer(chain, sender, to, 1_000_000).await;
    // No estimate: nodes refuse to estimate a transfer that would fail.
    tx.gas_limit = 100_000;
    let raw = signed(chain, &tx).await;
    assert_eq!(
        writer.broadcast(&raw).await.expect("broadcast"),
        Broadcast::Accepted
    );
    chain.mine(1).await;
    let mined = receipt(chain, &raw.hash).await.expect("mined");
    assert!(!mined.success, "reverted: {mined:?}");
    assert!(mined.fee > 0, "gas is paid for a revert too");
    assert_eq!(coin_before - coin_balance(chain, sender).await, mined.fee);
    assert_eq!(
        writer.nonce(&sender, false).await.expect("nonce"),
        tx.nonce + 1
    );
    assert_eq!(token_balance(chain, sender, token).await, 1_000);
    assert_eq!(token_balance(chain, to, token).await, 0);
    let in_block = logs(chain, &[token], mined.block_number, mined.block_number).await;
    assert!(
        in_block.iter().all(|l| l.tx_hash != raw.hash),
        "{in_block:?}"
    );
}

/// Balances of tokens and of the coin, per token, for an address the chain has never seen and
/// after funds arrive.
pub async fn balances(chain: &dyn ChainHarness) {
    let (token, other_token) = chain.tokens();
    let holder = stranger(7);
    assert_eq!(token_balance(chain, holder, token).await, 0);
    assert_eq!(coin_balance(chain, holder).await, 0);
    chain.fund(holder, Some(token), 4_000_000).await;
    assert_eq!(token_balance(chain, holder, token).await, 4_000_000);
    assert_eq!(
        token_balance(chain, holder, other_token).await,
        0,
        "per token"
    );
    chain.pay(token, holder, 1_000_000).await;
    assert_eq!(token_balance(chain, holder, token).await, 5_000_000);
    chain.fund(holder, None, GAS_MONEY / 10).await;
    assert_eq!(coin_balance(chain, holder).await, GAS_MONEY / 10);
}

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh chain made by
/// `$harness` (an expression giving a future of a [`ChainHarness`], e.g. `start_anvil()`).
#[macro_export]
macro_rules! chain_conformance_suite {
    ($harness:expr) => {
        $crate::chain_conformance_suite!(
            @cases $harness;
            head_blocks_and_finality,
            transfer_logs_in_a_range,
            reorg_changes_hashes,
            send_and_follow_to_receipt,
            replace_at_the_same_nonce,
            a_transfer_beyond_the_balance_reverts,
            balances,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $harness.await;
                $crate::chain_conformance::$case(&harness).await;
            }
        )*
    };
}

/// The in-memory chain as a [`ChainHarness`]: two tokens, mining each accepted transaction at
/// once as a local node does by default.
#[derive(Debug)]
pub struct FakeHarness {
    /// The chain.
    pub chain: crate::chain_fake::FakeChain,
    tokens: (Address, Address),
}

impl FakeHarness {
    /// A fresh chain with two tokens and a few blocks.
    pub async fn start() -> FakeHarness {
        let chain = crate::chain_fake::FakeChain::new();
        chain.set_automine(true);
        chain.set_tag(FinalityTag::Safe, crate::chain_fake::TagRule::Depth(2));
        chain.set_tag(FinalityTag::Finalized, crate::chain_fake::TagRule::Depth(4));
        chain.mine(5);
        let tokens = (
            Address::Evm(EvmAddress::from_bytes([0x70; 20])),
            Address::Evm(EvmAddress::from_bytes([0x71; 20])),
        );
        FakeHarness { chain, tokens }
    }
}

#[async_trait]
impl ChainHarness for FakeHarness {
    fn reader(&self) -> &dyn ChainReader {
        &self.chain
    }

    fn writer(&self) -> &dyn ChainWriter {
        &self.chain
    }

    fn tokens(&self) -> (Address, Address) {
        self.tokens
    }

    async fn mine(&self, count: u64) {
        self.chain.mine(count);
    }

    async fn pay(&self, token: Address, to: Address, amount: u128) -> String {
        self.chain.pay(token, to, amount)
    }

    async fn reorg(&self, depth: u64) {
        self.chain.reorg(depth);
    }

    async fn fund(&self, holder: Address, token: Option<Address>, amount: u128) {
        self.chain.fund(holder, token, amount);
    }

    async fn set_automine(&self, on: bool) {
        self.chain.set_automine(on);
    }
}

#[cfg(test)]
mod the_fake_conforms {
    crate::chain_conformance_suite!(crate::chain_conformance::FakeHarness::start());
}
