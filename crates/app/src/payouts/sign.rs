//! Queued → signed → broadcast: funds and gas are checked against what signed payouts already
//! promised, the nonce is the address's next (never below what the chain or the store has seen;
//! chains whose transactions expire instead have none), and the signed transaction is committed
//! with its nonce or expiration before any node sees it.

use std::collections::HashSet;

use futures::StreamExt;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{Broadcast, RawTx, SendModel, TransferTx};
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::payout::{Payout, PayoutStatus, SignedTx, Signer};
use wcheckout_domain::ports::{ChangeSet, NonceTaken, PayoutChange};
use wcheckout_domain::time::Timestamp;

use super::{PayoutEngine, PayoutError, RoundState};
use crate::error::OrInternal;
use crate::error::{ChangeError, ServiceError};

/// Gas of a plain coin transfer.
const NATIVE_TRANSFER_GAS: u64 = 21_000;
/// The note of a payout whose nonce a node reports as used while none of its transactions is
/// mined; it fails only if that is still so after a wait.
pub(super) const NONCE_USED: &str = "nonce used by another transaction";

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A queued payout whose funds are there, on its way to being signed (owned: a stream of
/// borrowed ones would not be `Send` for every lifetime).
struct Ready {
    payout: Payout,
    tx: TransferTx,
    /// What it adds to its sender's promises, released again if it is not signed this round.
    promise: (Address, Asset),
}

impl PayoutEngine {
    /// Signs, records and broadcasts the due queued payouts; how many were sent and how many
    /// wait. The node is asked once a round for each balance, the fees and each sender's
    /// nonce; gas estimates and broadcasts go out several at once. Nonces are assigned and each
    /// transaction committed one payout at a time, in order, before any of them is broadcast.
    pub(super) async fn send_due(&self, due: &[&Payout], round: &mut RoundState) -> (usize, usize) {
        if due.is_empty() {
            return (0, 0);
        }
        self.prefetch(due, round).await;
        let mut waiting = 0;
        let mut ready = Vec::new();
        for payout in due {
            match self.check_funds(payout, round).await {
                Ok(Some(next)) => ready.push(next),
                Ok(None) => waiting += 1,
                Err(error) => {
                    waiting += 1;
                    tracing::warn!(payout = %payout.id, %error, "could not send payout");
                }
            }
        }
        let concurrency = self.settings.rpc_concurrency.max(1);
        // Unordered: an ordered buffer stops starting calls while the oldest one is slow. The
        // order (which decides the nonces) is restored afterwards.
        let mut estimated: Vec<(usize, Ready, Result<u64, PayoutError>)> =
            futures::stream::iter(ready.into_iter().enumerate())
                .map(|(index, next): (usize, Ready)| async move {
                    let limit = self.gas_limit(&next.payout.from, &next.tx).await;
                    (index, next, limit)
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        estimated.sort_by_key(|(index, _, _)| *index);
        let mut signed = Vec::new();
        for (_, mut next, limit) in estimated {
            let outcome = match limit {
                Ok(limit) => {
                    next.tx.gas_limit = limit;
                    self.sign_and_record(&next, round).await
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok(Some(done)) => signed.push(done),
                Ok(None) => {
                    waiting += 1;
                    release(round, &next);
                }
                Err(error) => {
                    waiting += 1;
                    release(round, &next);
                    tracing::warn!(payout = %next.payout.id, %error, "could not send payout");
                }
            }
        }
        if !signed.is_empty() {
            crate::failpoint::pause_at("payout-signed").await;
        }
        let sent = signed.len();
        // Started in nonce order; a lost broadcast leaves its payout SIGNED, and following it
        // next round sends the same bytes again.
        futures::stream::iter(signed)
            .map(|(payout, raw): (Payout, RawTx)| async move {
                if let Err(error) = self.broadcast(&payout, &raw).await {
                    tracing::warn!(payout = %payout.id, %error, "broadcast failed; sent again next round");
                }
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<()>>()
            .await;
        (sent, waiting)
    }

    /// Asks the node, all at once, what the round will need: the fees, the senders' balances
    /// and their nonces. What fails here is asked again when needed.
    async fn prefetch(&self, due: &[&Payout], round: &mut RoundState) {
        let mut holdings = HashSet::new();
        let mut senders = HashSet::new();
        for payout in due {
            if let (Ok(contract), Ok(payer)) =
                (self.contract_of(&payout.asset), self.fee_payer(payout))
            {
                holdings.insert((payout.from, contract));
                holdings.insert((payer, None));
                senders.insert(payout.from);
            }
        }
        let concurrency = self.settings.rpc_concurrency.max(1);
        let balances = futures::stream::iter(holdings)
            .map(
                |(holder, contract): (Address, Option<Address>)| async move {
                    let held = self.writer.balance(&holder, contract.as_ref()).await;
                    ((holder, contract), held)
                },
            )
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>();
        if !self.nonce_ordered() {
            senders.clear();
        }
        let nonces = futures::stream::iter(senders)
            .map(|sender: Address| async move { (sender, self.writer.nonce(&sender, true).await) })
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>();
        let (balances, nonces, fees) = tokio::join!(balances, nonces, self.fees());
        for (key, held) in balances {
            if let Ok(held) = held {
                round.balances.insert(key, held);
            }
        }
        for (sender, nonce) in nonces {
            if let Ok(nonce) = nonce {
                round.chain_nonces.insert(sender, nonce);
            }
        }
        if let Ok(fees) = fees {
            round.fees = Some(fees);
        }
    }

    /// A balance, read from the node once a round.
    async fn balance_of(
        &self,
        holder: Address,
        contract: Option<Address>,
        round: &mut RoundState,
    ) -> Result<u128, PayoutError> {
        if let Some(held) = round.balances.get(&(holder, contract)) {
            return Ok(*held);
        }
        let held = self.writer.balance(&holder, contract.as_ref()).await?;
        round.balances.insert((holder, contract), held);
        Ok(held)
    }

    /// Whether the sender holds the payout's amount beyond what signed payouts (and those
    /// before it this round) promise, and the fees are within the cap: the transfer to sign,
    /// with the amount added to the promises; `None` when it waits (with a note saying why).
    async fn check_funds(
        &self,
        payout: &Payout,
        round: &mut RoundState,
    ) -> Result<Option<Ready>, PayoutError> {
        let contract = self.contract_of(&payout.asset)?;
        let amount = payout.amount.base_units();
        let key = (payout.from, payout.asset.clone());
        let needed = round.promised(&key).saturating_add(amount);
        let held = self.balance_of(payout.from, contract, round).await?;
        if held < needed {
            if let (Asset::Token(token), Signer::HotWallet) = (&payout.asset, payout.signer) {
                let short = round.shortfalls.tokens.entry(token.clone()).or_default();
                *short = short.saturating_add(needed - held);
            }
            let note = format!(
                "waiting for funds: {} holds {held}, needs {needed} (base units, with payouts in flight)",
                payout.from
            );
            return self.wait(payout, note).await.map(|_| None);
        }
        let Some((max_fee, tip)) = self.round_fees(round).await? else {
            let note = "waiting for network fees to fall below the configured cap".to_owned();
            return self.wait(payout, note).await.map(|_| None);
        };
        *round.promised.entry(key.clone()).or_default() += amount;
        Ok(Some(Ready {
            payout: payout.clone(),
            tx: TransferTx {
                nonce: 0,
                contract,
                to: payout.to,
                amount,
                gas_limit: 0,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
            },
            promise: key,
        }))
    }

    /// Checks the sender's gas (for this transaction and those signed before it this round),
    /// takes the next nonce, signs and commits; the payout as signed with its transaction, or
    /// `None` when it waits or changed meanwhile.
    async fn sign_and_record(
        &self,
        next: &Ready,
        round: &mut RoundState,
    ) -> Result<Option<(Payout, RawTx)>, PayoutError> {
        let (payout, tx) = (&next.payout, &next.tx);
        let gas = u128::from(tx.gas_limit).saturating_mul(tx.max_fee_per_gas);
        // The fee payer's coin: the sender's own, or on Solana the hot wallet's for every
        // transaction (a deposit owner there never needs the coin, and is never topped up).
        let payer = self.fee_payer(payout)?;
        let native = (payer, Asset::Native(self.chain.key.clone()));
        let reserved = round.gas_reserved.get(&payer).copied().unwrap_or(0);
        let gas_needed = gas
            .saturating_add(reserved)
            .saturating_add(round.promised(&native));
        let gas_held = self.balance_of(payer, None, round).await?;
        if gas_held < gas_needed {
            if let Signer::Deposit(_) = payout.signer
                && payer == payout.from
            {
                round.shortfalls.gas.insert(payout.from, gas_needed);
            }
            let note = format!(
                "waiting for gas: {payer} holds {gas_held} (base units of the coin), needs {gas_needed}"
            );
            return self.wait(payout, note).await.map(|_| None);
        }
        let mut tx = tx.clone();
        let nonce = if self.nonce_ordered() {
            let nonce = self.next_nonce(&payout.from, round).await?;
            tx.nonce = nonce;
            Some(nonce)
        } else {
            None
        };
        let raw = self.writer.sign(payout.signer, &tx).await?;
        let Some(signed) = self.record_signed(payout, nonce, &tx, &raw).await? else {
            return Ok(None);
        };
        *round.gas_reserved.entry(payer).or_default() += gas;
        Ok(Some((signed, raw)))
    }

    /// Commits the payout as signed with its transaction and nonce (if the chain has nonces);
    /// `None` when it changed meanwhile (or another payout took the nonce), to be tried again
    /// next round.
    async fn record_signed(
        &self,
        payout: &Payout,
        nonce: Option<u64>,
        tx: &TransferTx,
        raw: &RawTx,
    ) -> Result<Option<Payout>, PayoutError> {
        let now = self.gateway.clock.now();
        let mut signed = payout
            .moved(PayoutStatus::Signed, now)
            .or_internal("recording a signed payout")?;
        signed.nonce = nonce;
        signed.tx_hash = Some(raw.hash.clone());
        signed.note = None;
        let mut changes = ChangeSet::default();
        changes.payouts.push(PayoutChange::Update {
            expected_version: payout.version,
            payout: signed.clone(),
        });
        let fees = (tx.max_fee_per_gas, tx.max_priority_fee_per_gas);
        changes
            .signed_txs
            .push(signed_tx(&payout.id, nonce, fees, raw, now));
        if let Some(nonce) = nonce {
            changes.nonces.push(NonceTaken {
                chain: self.chain.key.clone(),
                address: payout.from,
                nonce,
            });
        }
        match self.gateway.commit(changes).await {
            Ok(()) => Ok(Some(signed)),
            Err(ChangeError::Conflict) => Ok(None),
            Err(ChangeError::Failed(error)) => Err(error.into()),
        }
    }

    /// Hands a recorded transaction to a node and notes what it said; true when refused.
    pub(super) async fn broadcast(
        &self,
        payout: &Payout,
        raw: &RawTx,
    ) -> Result<bool, PayoutError> {
        match self.writer.broadcast(raw).await? {
            Broadcast::Accepted | Broadcast::AlreadyKnown => {
                crate::failpoint::pause_at("payout-broadcast").await;
                if payout.status == PayoutStatus::Signed {
                    self.gateway.payout_sent(payout, &raw.hash).await?;
                    tracing::info!(payout = %payout.id, kind = payout.kind.as_str(), tx = %raw.hash, "payout broadcast");
                }
                Ok(false)
            }
            Broadcast::NonceTooLow => self.nonce_used(payout).await.map(|()| false),
            Broadcast::Refused(reason) => {
                tracing::warn!(payout = %payout.id, %reason, "node refused the payout transaction");
                let note = format!("node refused the transaction: {reason}");
                self.note(payout, note, payout.not_before)
                    .await
                    .map(|()| true)
            }
        }
    }

    /// A node says the payout's nonce is used, and none of its transactions is mined: wait a
    /// replacement period (a lagging node may not show a receipt yet), then fail it.
    async fn nonce_used(&self, payout: &Payout) -> Result<(), PayoutError> {
        let now = self.gateway.clock.now();
        let noted = payout
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with(NONCE_USED));
        if !noted {
            let recheck = Timestamp::from_micros(
                now.micros()
                    .saturating_add(micros(self.settings.replace_after)),
            );
            return self
                .note(
                    payout,
                    format!("{NONCE_USED}; checking again before failing"),
                    recheck,
                )
                .await;
        }
        if payout.not_before > now {
            return Ok(());
        }
        tracing::error!(payout = %payout.id, nonce = ?payout.nonce, "payout nonce taken by a transaction not ours; failing it");
        let reason = format!("{NONCE_USED} from {}; nothing was sent", payout.from);
        self.gateway
            .payout_failed(payout, &reason, None)
            .await
            .map_err(Into::into)
    }

    /// Puts a queued payout back to wait, with why. The note is written only when it changes;
    /// the retry time is kept in memory, so a long wait costs no writes.
    async fn wait(&self, payout: &Payout, note: String) -> Result<bool, PayoutError> {
        let now = self.gateway.clock.now();
        let retry = Timestamp::from_micros(
            now.micros()
                .saturating_add(micros(self.settings.funds_retry)),
        );
        self.defer(&payout.id, retry);
        if payout.note.as_deref() != Some(note.as_str()) {
            tracing::info!(payout = %payout.id, %note, "payout waiting");
            self.save(payout, payout.waiting(note, retry, now)).await?;
        }
        Ok(false)
    }

    /// Notes why an unfinished payout does not progress (unchanged notes are not rewritten).
    pub(super) async fn note(
        &self,
        payout: &Payout,
        note: String,
        not_before: Timestamp,
    ) -> Result<(), PayoutError> {
        if payout.note.as_deref() == Some(note.as_str()) && payout.not_before == not_before {
            return Ok(());
        }
        let now = self.gateway.clock.now();
        self.save(payout, payout.waiting(note, not_before, now))
            .await
    }

    /// Commits a payout's new version; a concurrent change wins (next round reads it).
    pub(super) async fn save(&self, before: &Payout, after: Payout) -> Result<(), PayoutError> {
        let mut changes = ChangeSet::default();
        changes.payouts.push(PayoutChange::Update {
            expected_version: before.version,
            payout: after,
        });
        match self.gateway.commit(changes).await {
            Ok(()) | Err(ChangeError::Conflict) => Ok(()),
            Err(ChangeError::Failed(error)) => Err(error.into()),
        }
    }

    /// The token contract of an asset of this chain (`None` for the native coin).
    pub(super) fn contract_of(&self, asset: &Asset) -> Result<Option<Address>, PayoutError> {
        match asset {
            Asset::Native(chain) if *chain == self.chain.key => Ok(None),
            Asset::Token(id) => match self.gateway.tokens.get(id) {
                Some((token, chain)) if chain.key == self.chain.key => Ok(Some(token.contract)),
                _ => Err(ServiceError::internal(format!(
                    "{id} is not a token of chain {}",
                    self.chain.key
                ))
                .into()),
            },
            Asset::Native(other) => Err(ServiceError::internal(format!(
                "{other} coin paid on chain {}",
                self.chain.key
            ))
            .into()),
        }
    }

    /// This round's fees, asked of the node once per round.
    async fn round_fees(
        &self,
        round: &mut RoundState,
    ) -> Result<Option<(u128, u128)>, PayoutError> {
        if round.fees.is_none() {
            round.fees = Some(self.fees().await?);
        }
        Ok(round.fees.flatten())
    }

    /// Fees: twice the base fee plus the tip, within the cap (EIP-1559: a nonce-ordered
    /// transaction may wait while the base fee grows); on an expiring chain the base fee plus
    /// the tip, since a transaction that does not land is signed again at the fees of then.
    /// `None` when even the base fee and tip exceed the cap.
    pub(super) async fn fees(&self) -> Result<Option<(u128, u128)>, PayoutError> {
        let quote = self.writer.fee_quote().await?;
        let cap = self.settings.max_fee_per_gas;
        if quote.base_fee.saturating_add(quote.priority_fee) > cap {
            return Ok(None);
        }
        let headroom = if self.nonce_ordered() { 2 } else { 1 };
        let max_fee = quote
            .base_fee
            .saturating_mul(headroom)
            .saturating_add(quote.priority_fee)
            .min(cap);
        Ok(Some((max_fee, quote.priority_fee.min(max_fee))))
    }

    /// Gas for a transfer: the node's estimate with a fifth more for tokens (their cost can
    /// shift with storage), exactly 21,000 for the coin on a nonce-ordered (EVM) chain and the
    /// writer's figure elsewhere (TRON: bandwidth, and activation of a new account).
    pub(super) async fn gas_limit(
        &self,
        from: &Address,
        tx: &TransferTx,
    ) -> Result<u64, PayoutError> {
        if tx.contract.is_none() {
            if self.nonce_ordered() {
                return Ok(NATIVE_TRANSFER_GAS);
            }
            return Ok(self.writer.estimate_gas(from, tx).await?);
        }
        let estimate = self.writer.estimate_gas(from, tx).await?;
        Ok(estimate.saturating_add(estimate / 5))
    }

    /// Who pays a payout's fees: its sender, unless the chain's writer names another (the hot
    /// wallet on Solana).
    pub(super) fn fee_payer(&self, payout: &Payout) -> Result<Address, PayoutError> {
        Ok(self.writer.fee_payer(payout.signer)?.unwrap_or(payout.from))
    }

    /// Whether the chain orders transactions by nonce (else they expire).
    pub(super) fn nonce_ordered(&self) -> bool {
        self.writer.send_model() == SendModel::NonceOrdered
    }

    /// The next nonce of an address: past both what the store recorded (this round's
    /// transactions included) and what the chain (with its pending pool) had seen when the
    /// round first asked.
    async fn next_nonce(
        &self,
        address: &Address,
        round: &mut RoundState,
    ) -> Result<u64, PayoutError> {
        let recorded = self
            .gateway
            .store
            .next_nonce(&self.chain.key, address)
            .await?
            .unwrap_or(0);
        let chain = match round.chain_nonces.get(address) {
            Some(nonce) => *nonce,
            None => {
                let nonce = self.writer.nonce(address, true).await?;
                round.chain_nonces.insert(*address, nonce);
                nonce
            }
        };
        Ok(recorded.max(chain))
    }
}

/// Takes back what a payout added to its sender's promises when it is not signed after all.
fn release(round: &mut RoundState, next: &Ready) {
    if let Some(sum) = round.promised.get_mut(&next.promise) {
        *sum = sum.saturating_sub(next.tx.amount);
    }
}

/// The stored form of a signed transaction with its nonce (if any), `(max fee, tip)` per gas
/// and expiration (if any).
pub(super) fn signed_tx(
    payout_id: &str,
    nonce: Option<u64>,
    (max_fee_per_gas, max_priority_fee_per_gas): (u128, u128),
    raw: &RawTx,
    now: Timestamp,
) -> SignedTx {
    SignedTx {
        payout_id: payout_id.to_owned(),
        tx_hash: raw.hash.clone(),
        raw: raw.raw.clone(),
        nonce,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        signed_at: now,
        expires_at: raw.expires_at,
    }
}
