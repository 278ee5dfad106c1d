//! Payouts on chains whose transactions expire instead of carrying a nonce (TRON, Solana). A
//! signed transaction that is not mined is sent again, the same bytes, for as long as it may
//! still land; it is dead once the node that sends does not know it, and no block to come can
//! hold it: on TRON both that node's head and the chain's final block are at or past its
//! expiration (no block that holds it can be undone into one that does); on Solana, which
//! expires by block height rather than time, its writer says so (the transaction's recent
//! blockhash no longer valid at the finalized block, its signature unknown). Only then is the same transfer signed afresh,
//! at the fees and energy of then, recorded before any node sees it, and sent. At most one of a
//! payout's transactions is alive at any time, so it is paid at most once.

use wcheckout_domain::chain::TransferTx;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::payout::{Payout, PayoutStatus, SignedTx};
use wcheckout_domain::ports::{ChangeSet, PayoutChange};

use super::follow::stored_raw;
use super::sign::signed_tx;
use super::{FinalPoint, PayoutEngine, PayoutError};
use crate::error::{ChangeError, OrInternal, ServiceError};

impl PayoutEngine {
    /// Moves on a payout whose latest transaction is not mined: waits while the node has it,
    /// sends it again while it may land, signs a fresh one once it is dead.
    pub(super) async fn follow_expiring(
        &self,
        payout: &Payout,
        latest: &SignedTx,
        final_point: FinalPoint,
    ) -> Result<(), PayoutError> {
        let raw = stored_raw(latest);
        if self.writer.known(&latest.tx_hash).await? {
            // A node has it: a payout still SIGNED learns so from the node's "duplicate".
            if payout.status == PayoutStatus::Signed {
                self.broadcast(payout, &raw).await?;
            }
            return Ok(());
        }
        if !self.dead(payout, latest, &raw, final_point).await? {
            // It may still land: the same bytes again (a node that has them says so).
            self.broadcast(payout, &raw).await?;
            return Ok(());
        }
        self.renew(payout, latest).await
    }

    /// Whether a transaction the node does not know can no longer land: in the chain's own
    /// terms when its writer has them (Solana: its recent blockhash no longer valid at the
    /// final block, and its signature unknown), else by time (TRON: both the final block and
    /// the sending node's head at or past its expiration).
    async fn dead(
        &self,
        payout: &Payout,
        latest: &SignedTx,
        raw: &wcheckout_domain::chain::RawTx,
        final_point: FinalPoint,
    ) -> Result<bool, PayoutError> {
        if let Some(expired) = self.writer.expired(raw).await? {
            return Ok(expired);
        }
        let Some(expires_at) = latest.expires_at else {
            return Err(ServiceError::internal(format!(
                "payout {} has a transaction without expiration on a chain whose transactions expire",
                payout.id
            ))
            .into());
        };
        let final_past = final_point.time.is_some_and(|time| time >= expires_at);
        Ok(final_past && self.writer.head_time().await? >= expires_at)
    }

    /// Signs the payout's transfer afresh after `dead` expired unmined, records it, sends it.
    async fn renew(&self, payout: &Payout, dead: &SignedTx) -> Result<(), PayoutError> {
        let Some((max_fee, tip)) = self.fees().await? else {
            let note = "expired unmined; waiting for network fees to fall below the configured cap"
                .to_owned();
            return self.note(payout, note, payout.not_before).await;
        };
        let mut tx = TransferTx {
            nonce: 0,
            contract: self.contract_of(&payout.asset)?,
            to: payout.to,
            amount: payout.amount.base_units(),
            gas_limit: 0,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
        };
        tx.gas_limit = self.gas_limit(&payout.from, &tx).await?;
        let coin = match payout.asset {
            Asset::Native(_) => tx.amount,
            Asset::Token(_) => 0,
        };
        let needed = u128::from(tx.gas_limit)
            .saturating_mul(max_fee)
            .saturating_add(coin);
        let payer = self.fee_payer(payout)?;
        let needed = if payer == payout.from {
            needed
        } else {
            needed.saturating_sub(coin)
        };
        let held = self.writer.balance(&payer, None).await?;
        if held < needed {
            let note = format!(
                "transaction {} expired unmined; waiting for gas to sign it again: {payer} holds {held} (base units of the coin), needs {needed}",
                dead.tx_hash
            );
            return self.note(payout, note, payout.not_before).await;
        }
        let raw = self.writer.sign(payout.signer, &tx).await?;
        let now = self.gateway.clock.now();
        let mut after = payout
            .moved(payout.status, now)
            .or_internal("signing an expired payout transaction again")?;
        after.tx_hash = Some(raw.hash.clone());
        after.note = None;
        let mut changes = ChangeSet::default();
        changes.payouts.push(PayoutChange::Update {
            expected_version: payout.version,
            payout: after.clone(),
        });
        changes
            .signed_txs
            .push(signed_tx(&payout.id, None, (max_fee, tip), &raw, now));
        match self.gateway.commit(changes).await {
            Ok(()) => {}
            Err(ChangeError::Conflict) => return Ok(()),
            Err(ChangeError::Failed(error)) => return Err(error.into()),
        }
        tracing::info!(payout = %payout.id, old = %dead.tx_hash, new = %raw.hash, "payout transaction expired unmined; signed again");
        metrics::counter!("wcheckout_payout_renewals_total").increment(1);
        self.broadcast(&after, &raw).await.map(|_| ())
    }
}
