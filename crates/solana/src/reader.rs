//! `SolanaChainReader`: the [`ChainReader`] port on Solana. Slots are the watcher's block
//! numbers and every read is made at one commitment (`finalized` by default), so the chain
//! watcher's cursor, ranges, finality and reorganisation checks work unchanged.
//!
//! Solana has no log filter over a range of slots, so a range's transfers are read **per
//! account**, over the watched deposits only (open orders, from [`WatchedDeposits`]):
//!
//! 1. each deposit's associated token account for its order's mint is derived (the mint's
//!    program, Token or Token-2022, read once);
//! 2. `getMultipleAccounts` reads their amounts, 100 a call, at a slot at least the range's
//!    end; an account whose amount differs from the one read before (or that holds tokens when
//!    first seen) is *dirty up to* the slot of that read;
//! 3. only dirty accounts are listed with `getSignaturesForAddress`, and each successful
//!    transaction in the range is read with `getTransaction`: the transfer is the rise of our
//!    account's balance for the mint between `preTokenBalances` and `postTokenBalances`, so a
//!    `transfer`, a `transferChecked` and a transfer inside another program's instruction count
//!    alike, and a failed transaction counts for nothing.
//!
//! An observation's `log_index` is the account's index in the transaction's keys: with the
//! signature it is unique per account, so the store's `(chain, tx_hash, log_index)` key credits
//! a rescan once. An account stays dirty until a range starting past its dirty slot has been
//! read, so a change seen after a range's end is listed again by the next range.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{
    BlockRef, ChainError, ChainReader, FinalityTag, TransferLog, WatchedDeposit, WatchedDeposits,
};
use wcheckout_domain::time::Timestamp;

use crate::address::{ProgramAddresses, SolanaAddress, TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
use crate::rpc::{
    ACCOUNTS_PER_CALL, Commitment, RpcError, SignatureInfo, SolanaRpc, TransactionInfo,
};

/// A block hash standing for a skipped slot (no block): at `finalized` a skipped slot stays
/// skipped, so the watcher's hash comparisons hold.
const SKIPPED: &str = "skipped";

/// What the reader remembers of a watched token account between rounds.
#[derive(Clone, Copy, Debug, Default)]
struct AccountWatch {
    amount: u64,
    /// Ranges starting at or below this slot list the account's signatures.
    dirty_until: Option<u64>,
}

/// A watched deposit with its token account.
#[derive(Clone, Debug)]
struct Watched {
    deposit: WatchedDeposit,
    owner: SolanaAddress,
    mint: SolanaAddress,
    account: SolanaAddress,
}

/// Reads one Solana cluster for the chain watcher and the payout engine.
pub struct SolanaChainReader {
    rpc: Arc<SolanaRpc>,
    commitment: Commitment,
    watch_list: Option<Arc<dyn WatchedDeposits>>,
    /// The gateway's hot wallet, whose transactions (sweeps) may leave a deposit account's
    /// amount as it was while moving tokens in and out of it.
    hot_wallet: Option<SolanaAddress>,
    /// Each mint's token program.
    programs: Mutex<HashMap<SolanaAddress, SolanaAddress>>,
    accounts: Mutex<HashMap<SolanaAddress, AccountWatch>>,
    /// Each watched (owner, mint)'s associated token account, derived once (a program-derived
    /// address costs a SHA-256 and a curve check per bump tried).
    token_accounts: Mutex<HashMap<(SolanaAddress, SolanaAddress), SolanaAddress>>,
    /// Finalized blocks read lately: the watcher asks for the same few slots every round (the
    /// cursor, the range's end twice), and a finalized slot's block never changes.
    finalized_blocks: Mutex<BTreeMap<u64, BlockRef>>,
}

/// Finalized blocks remembered.
const REMEMBERED_BLOCKS: usize = 64;

/// The value behind `mutex`, even if a thread panicked holding it (every value here is valid at
/// any time: a remembered block or amount, a mint's program).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn chain_error(error: RpcError) -> ChainError {
    match error {
        RpcError::Unavailable(reason) => ChainError::Unavailable(reason),
        other => ChainError::Invalid(other.to_string()),
    }
}

fn solana(address: &Address) -> Result<SolanaAddress, ChainError> {
    match address {
        Address::Solana(address) => Ok(*address),
        other => Err(ChainError::Invalid(format!(
            "{other} is not a Solana address"
        ))),
    }
}

impl SolanaChainReader {
    /// A reader at `commitment`; `watch_list` names the deposits to read transfers of (a
    /// reader without one, for payouts, reads blocks only).
    pub fn new(
        rpc: Arc<SolanaRpc>,
        commitment: Commitment,
        watch_list: Option<Arc<dyn WatchedDeposits>>,
    ) -> SolanaChainReader {
        SolanaChainReader {
            rpc,
            commitment,
            watch_list,
            hot_wallet: None,
            programs: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            token_accounts: Mutex::new(HashMap::new()),
            finalized_blocks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Also lists, each range, the transactions of `hot_wallet` (which pays the fee of every
    /// sweep): a watched account one of them touched is listed whatever its amount, so a sweep
    /// and a payment of the swept amount between two amount reads are not missed.
    pub fn with_hot_wallet(mut self, hot_wallet: SolanaAddress) -> SolanaChainReader {
        self.hot_wallet = Some(hot_wallet);
        self
    }

    /// The JSON-RPC client (its call count is what a provider bills).
    pub fn rpc(&self) -> &SolanaRpc {
        &self.rpc
    }

    async fn block_ref(&self, slot: u64) -> Result<BlockRef, ChainError> {
        let remember = self.commitment == Commitment::Finalized;
        if remember && let Some(block) = lock(&self.finalized_blocks).get(&slot) {
            return Ok(block.clone());
        }
        let block = self.read_block(slot).await?;
        if remember {
            let mut blocks = lock(&self.finalized_blocks);
            blocks.insert(slot, block.clone());
            while blocks.len() > REMEMBERED_BLOCKS {
                blocks.pop_first();
            }
        }
        Ok(block)
    }

    async fn read_block(&self, slot: u64) -> Result<BlockRef, ChainError> {
        let header = self
            .rpc
            .block(slot, self.commitment)
            .await
            .map_err(chain_error)?;
        let Some(header) = header else {
            return self.skipped_slot(slot).await;
        };
        // `getBlockTime`, not the block's `blockTime` field, which Surfnet gives in thousands of
        // seconds.
        let time = self.time_of(slot).await?;
        Ok(BlockRef {
            number: slot,
            hash: header.blockhash,
            parent_hash: header.previous_blockhash,
            time,
        })
    }

    /// A slot without a block: it holds nothing; its time is the next block's.
    async fn skipped_slot(&self, slot: u64) -> Result<BlockRef, ChainError> {
        let next = self
            .rpc
            .next_block_slot(slot, self.commitment)
            .await
            .map_err(chain_error)?;
        let time = match next {
            Some(next) => self.time_of(next).await?,
            None => Timestamp::from_micros(0),
        };
        Ok(BlockRef {
            number: slot,
            hash: SKIPPED.to_owned(),
            parent_hash: String::new(),
            time,
        })
    }

    async fn time_of(&self, slot: u64) -> Result<Timestamp, ChainError> {
        let seconds = self.rpc.block_time(slot).await.map_err(chain_error)?;
        Ok(Timestamp::from_micros(
            seconds.unwrap_or(0).saturating_mul(1_000_000),
        ))
    }

    /// The token program of `mint`, read once.
    async fn program_of(&self, mint: SolanaAddress) -> Result<SolanaAddress, ChainError> {
        if let Some(program) = lock(&self.programs).get(&mint) {
            return Ok(*program);
        }
        let owner = self
            .rpc
            .account_owner(&mint, self.commitment)
            .await
            .map_err(chain_error)?
            .ok_or_else(|| ChainError::Invalid(format!("the mint {mint} does not exist")))?;
        if owner != TOKEN_PROGRAM && owner != TOKEN_2022_PROGRAM {
            return Err(ChainError::Invalid(format!(
                "{mint} is not a token mint (owned by {owner})"
            )));
        }
        lock(&self.programs).insert(mint, owner);
        Ok(owner)
    }

    /// The watched deposits paid in these mints, with their token accounts.
    async fn watched(&self, mints: &[SolanaAddress]) -> Result<Vec<Watched>, ChainError> {
        let Some(list) = &self.watch_list else {
            return Ok(Vec::new());
        };
        let mut watched = Vec::new();
        let mut derived = HashMap::new();
        let known = std::mem::take(&mut *lock(&self.token_accounts));
        for deposit in list.watched_deposits().await? {
            let (owner, mint) = (solana(&deposit.address)?, solana(&deposit.contract)?);
            if !mints.contains(&mint) {
                continue;
            }
            let account = match known.get(&(owner, mint)) {
                Some(account) => *account,
                None => {
                    let program = self.program_of(mint).await?;
                    owner
                        .associated_token_account(&mint, &program)
                        .map_err(|e| ChainError::Invalid(e.to_string()))?
                }
            };
            derived.insert((owner, mint), account);
            watched.push(Watched {
                deposit,
                owner,
                mint,
                account,
            });
        }
        // Only the deposits watched now are kept: the map never outgrows the watch list.
        *lock(&self.token_accounts) = derived;
        Ok(watched)
    }

    /// The accounts the hot wallet's successful transactions in `from..=to` touched.
    async fn touched_by_hot_wallet(
        &self,
        from: u64,
        to: u64,
    ) -> Result<HashSet<String>, ChainError> {
        let Some(hot_wallet) = self.hot_wallet else {
            return Ok(HashSet::new());
        };
        let mut touched = HashSet::new();
        for signature in self.signatures_in(&hot_wallet, from, to).await? {
            let info = self.transaction(&signature.signature).await?;
            touched.extend(info.account_keys().into_iter().map(str::to_owned));
        }
        Ok(touched)
    }

    async fn transaction(&self, signature: &str) -> Result<TransactionInfo, ChainError> {
        self.rpc
            .transaction(signature, self.commitment)
            .await
            .map_err(chain_error)?
            .ok_or_else(|| {
                ChainError::Unavailable(format!(
                    "transaction {signature} listed but not served yet"
                ))
            })
    }

    /// Reads the watched accounts' amounts at a slot of at least `to` and marks those that
    /// changed, or that `touched` names; returns the accounts dirty for a range starting at
    /// `from`.
    async fn dirty_accounts(
        &self,
        watched: &[Watched],
        touched: &HashSet<String>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Watched>, ChainError> {
        let mut reads = Vec::with_capacity(watched.len());
        for chunk in watched.chunks(ACCOUNTS_PER_CALL) {
            let accounts = chunk.iter().map(|w| w.account).collect::<Vec<_>>();
            let (slot, amounts) = self
                .rpc
                .token_amounts(&accounts, self.commitment, to)
                .await
                .map_err(chain_error)?;
            reads.extend(accounts.into_iter().zip(amounts).map(|(a, n)| (a, n, slot)));
        }
        let mut known = lock(&self.accounts);
        let mut current = HashMap::with_capacity(reads.len());
        for (account, amount, slot) in reads {
            let before = known.get(&account).copied();
            let changed = match before {
                Some(before) => before.amount != amount,
                None => amount > 0,
            } || touched.contains(&account.to_string());
            let mut watch = before.unwrap_or_default();
            watch.amount = amount;
            if changed {
                watch.dirty_until = Some(watch.dirty_until.map_or(slot, |d| d.max(slot)));
            }
            current.insert(account, watch);
        }
        // Accounts no longer watched are forgotten: their orders' windows are over.
        *known = current;
        Ok(watched
            .iter()
            .filter(|w| {
                known
                    .get(&w.account)
                    .and_then(|watch| watch.dirty_until)
                    .is_some_and(|until| until >= from)
            })
            .cloned()
            .collect())
    }

    /// Successful transactions touching `account` in `from..=to`, oldest first.
    async fn signatures_in(
        &self,
        account: &SolanaAddress,
        from: u64,
        to: u64,
    ) -> Result<Vec<SignatureInfo>, ChainError> {
        let mut found = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let page = self
                .rpc
                .signatures(account, before.as_deref(), self.commitment)
                .await
                .map_err(chain_error)?;
            let full = page.len() >= crate::rpc::SIGNATURES_PER_CALL;
            before = page.last().map(|s| s.signature.clone());
            let reached_start = page.last().is_none_or(|s| s.slot < from);
            found.extend(
                page.into_iter()
                    .filter(|s| s.err.is_none() && (from..=to).contains(&s.slot)),
            );
            if reached_start || !full {
                break;
            }
        }
        found.reverse();
        Ok(found)
    }
}

/// The rise of `watched`'s account in one transaction, as a transfer log.
fn credit_in(
    watched: &Watched,
    signature: &str,
    info: &TransactionInfo,
    block_hash: &str,
) -> Option<TransferLog> {
    let meta = info.meta.as_ref().filter(|meta| meta.err.is_none())?;
    let keys = info.account_keys();
    let account = watched.account.to_string();
    let index = keys.iter().position(|key| *key == account)?;
    let mint = watched.mint.to_string();
    let balance = |balances: &[crate::rpc::TokenBalance], index: usize| -> Option<u128> {
        balances
            .iter()
            .find(|b| b.account_index == index && b.mint == mint)
            .and_then(|b| b.ui_token_amount.amount.parse::<u128>().ok())
    };
    let before = balance(&meta.pre_token_balances, index).unwrap_or(0);
    let after = balance(&meta.post_token_balances, index)?;
    let value = after.checked_sub(before).filter(|v| *v > 0)?;
    Some(TransferLog {
        contract: watched.deposit.contract,
        tx_hash: signature.to_owned(),
        log_index: u64::try_from(index).ok()?,
        block_number: info.slot,
        block_hash: block_hash.to_owned(),
        block_time: info
            .block_time
            .map(|s| Timestamp::from_micros(s.saturating_mul(1_000_000))),
        from: payer(meta, &keys, &mint),
        to: Address::Solana(watched.owner),
        value: Some(value),
    })
}

/// Who paid: the owner of the mint's account whose balance fell the most (the fee payer when
/// no account of the mint fell, as when tokens were minted to us).
fn payer(meta: &crate::rpc::TransactionMeta, keys: &[&str], mint: &str) -> Address {
    let mut largest: Option<(u128, &str)> = None;
    for pre in meta.pre_token_balances.iter().filter(|b| b.mint == mint) {
        let before = pre.ui_token_amount.amount.parse::<u128>().unwrap_or(0);
        let after = meta
            .post_token_balances
            .iter()
            .find(|b| b.account_index == pre.account_index && b.mint == mint)
            .and_then(|b| b.ui_token_amount.amount.parse::<u128>().ok())
            .unwrap_or(0);
        let fell = before.saturating_sub(after);
        if let Some(owner) = pre.owner.as_deref()
            && fell > 0
            && largest.is_none_or(|(most, _)| fell > most)
        {
            largest = Some((fell, owner));
        }
    }
    let text = largest.map_or_else(|| keys.first().copied().unwrap_or_default(), |(_, o)| o);
    SolanaAddress::parse(text).map_or(
        Address::Solana(SolanaAddress::from_bytes([0; 32])),
        Address::Solana,
    )
}

#[async_trait]
impl ChainReader for SolanaChainReader {
    async fn head(&self) -> Result<BlockRef, ChainError> {
        let slot = self.rpc.slot(self.commitment).await.map_err(chain_error)?;
        self.block_ref(slot).await
    }

    async fn blocks(&self, numbers: &[u64]) -> Result<Vec<BlockRef>, ChainError> {
        let mut blocks = Vec::with_capacity(numbers.len());
        for slot in numbers {
            blocks.push(self.block_ref(*slot).await?);
        }
        Ok(blocks)
    }

    async fn tagged(&self, tag: FinalityTag) -> Result<Option<BlockRef>, ChainError> {
        match tag {
            // Solana has no `safe`; `confirmed` is its nearest.
            FinalityTag::Safe => Ok(None),
            FinalityTag::Finalized => {
                let slot = self
                    .rpc
                    .slot(Commitment::Finalized)
                    .await
                    .map_err(chain_error)?;
                self.block_ref(slot).await.map(Some)
            }
        }
    }

    async fn transfer_logs(
        &self,
        contracts: &[Address],
        from: u64,
        to: u64,
    ) -> Result<Vec<TransferLog>, ChainError> {
        let mints = contracts
            .iter()
            .map(solana)
            .collect::<Result<Vec<_>, _>>()?;
        let watched = self.watched(&mints).await?;
        let touched = self.touched_by_hot_wallet(from, to).await?;
        let dirty = self.dirty_accounts(&watched, &touched, from, to).await?;
        let mut logs = Vec::new();
        let mut block_hashes: BTreeMap<u64, String> = BTreeMap::new();
        for account in &dirty {
            for signature in self.signatures_in(&account.account, from, to).await? {
                let info = self.transaction(&signature.signature).await?;
                if let Entry::Vacant(slot) = block_hashes.entry(info.slot) {
                    slot.insert(self.block_ref(info.slot).await?.hash);
                }
                let hash = &block_hashes[&info.slot];
                logs.extend(credit_in(account, &signature.signature, &info, hash));
            }
        }
        logs.sort_by(|a, b| {
            (a.block_number, &a.tx_hash, a.log_index).cmp(&(
                b.block_number,
                &b.tx_hash,
                b.log_index,
            ))
        });
        Ok(logs)
    }

    async fn wait_for_new_head(&self, max_wait: Duration) {
        tokio::time::sleep(max_wait).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A payment made inside another program's instruction: the transaction's one top-level
    /// instruction calls a program (a swap or payment router, say) whose inner instruction is
    /// the token transfer. Its shape is what `getTransaction` answers for such a transaction
    /// (`json` encoding, v0 with an address table): our account gains in the token balances,
    /// and that rise is the credit, whatever the instructions were.
    #[test]
    fn a_transfer_inside_another_programs_instruction_is_credited() {
        let keypair = |byte: u8| crate::keys::Keypair::from_secret(&[byte; 32]).address();
        let (owner, payer, router, mint) = (keypair(1), keypair(2), keypair(3), keypair(4));
        let account = owner
            .associated_token_account(&mint, &TOKEN_PROGRAM)
            .unwrap();
        let source = payer
            .associated_token_account(&mint, &TOKEN_PROGRAM)
            .unwrap();
        let info: TransactionInfo = serde_json::from_value(json!({
            "slot": 321,
            "blockTime": 1_790_000_000,
            "transaction": {"message": {
                "accountKeys": [payer.to_string(), source.to_string(), router.to_string()],
                "instructions": [{"programIdIndex": 2, "accounts": [0, 1, 3, 4], "data": "3Bxs4h24hBtQy9rw"}],
            }},
            "meta": {
                "err": null,
                "loadedAddresses": {"writable": [account.to_string()], "readonly": [mint.to_string(), TOKEN_PROGRAM.to_string()]},
                "innerInstructions": [{"index": 0, "instructions": [
                    {"programIdIndex": 5, "accounts": [1, 4, 3, 0], "data": "hDDqy4KAEGx3J"},
                ]}],
                "preTokenBalances": [
                    {"accountIndex": 1, "mint": mint.to_string(), "owner": payer.to_string(),
                     "uiTokenAmount": {"amount": "50000000", "decimals": 6}},
                    {"accountIndex": 3, "mint": mint.to_string(), "owner": owner.to_string(),
                     "uiTokenAmount": {"amount": "1000000", "decimals": 6}},
                ],
                "postTokenBalances": [
                    {"accountIndex": 1, "mint": mint.to_string(), "owner": payer.to_string(),
                     "uiTokenAmount": {"amount": "37500000", "decimals": 6}},
                    {"accountIndex": 3, "mint": mint.to_string(), "owner": owner.to_string(),
                     "uiTokenAmount": {"amount": "13500000", "decimals": 6}},
                ],
            },
        }))
        .unwrap();
        let watched = Watched {
            deposit: WatchedDeposit {
                address: Address::Solana(owner),
                contract: Address::Solana(mint),
            },
            owner,
            mint,
            account,
        };
        let log = credit_in(&watched, "sig", &info, "hash").unwrap();
        assert_eq!(log.value, Some(12_500_000), "the rise, not the balance");
        assert_eq!(log.from, Address::Solana(payer), "whose balance fell");
        assert_eq!(log.to, Address::Solana(owner));
        assert_eq!(
            log.log_index, 3,
            "the account's index, loaded addresses counted"
        );
        assert_eq!((log.block_number, log.block_hash.as_str()), (321, "hash"));

        // The same transaction failed: nothing, whatever the balances say.
        let mut failed = info.clone();
        if let Some(meta) = failed.meta.as_mut() {
            meta.err = Some(json!({"InstructionError": [0, {"Custom": 1}]}));
        }
        assert!(credit_in(&watched, "sig", &failed, "hash").is_none());
    }
}
