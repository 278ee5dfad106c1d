//! Signed payouts until they are final: a mined transaction completes or fails its payout once
//! its block is final; a transaction the node lost is sent again (the same bytes). On a
//! nonce-ordered chain one stuck longer than the replacement period is replaced by the same
//! transfer with the same nonce and higher fees, so at most one of them can ever be mined. On a
//! chain whose transactions expire, a transaction is followed until it is mined or dead (the
//! node does not know it and the final block is past its expiration, so no block to come can
//! hold it); only then is a fresh one signed, recorded and sent (`renew.rs`).

use wcheckout_domain::chain::{RawTx, Receipt};
use wcheckout_domain::payout::{Payout, PayoutStatus, SignedTx, bumped_fee};
use wcheckout_domain::ports::{ChangeSet, PayoutChange};

use super::effects::Mined;
use super::sign::signed_tx;
use super::{FinalPoint, PayoutEngine, PayoutError};
use crate::error::OrInternal;
use crate::error::{ChangeError, ServiceError};

impl PayoutEngine {
    /// Moves a signed or broadcast payout on; true once it is final.
    pub(super) async fn follow(
        &self,
        payout: &Payout,
        final_point: FinalPoint,
    ) -> Result<bool, PayoutError> {
        let final_height = final_point.height;
        let txs = self.gateway.store.signed_txs(&payout.id).await?;
        let Some(latest) = txs.last() else {
            return Err(ServiceError::internal(format!(
                "payout {} is {} without a transaction",
                payout.id, payout.status
            ))
            .into());
        };
        for tx in txs.iter().rev() {
            if let Some(receipt) = self.writer.receipt(&tx.tx_hash).await? {
                return self.mined(payout, tx, receipt, final_height).await;
            }
        }
        if !self.nonce_ordered() {
            return self
                .follow_expiring(payout, latest, final_point)
                .await
                .map(|()| false);
        }
        let age = self
            .gateway
            .clock
            .now()
            .micros()
            .saturating_sub(latest.signed_at.micros());
        let stuck = u128::try_from(age).unwrap_or(0) >= self.settings.replace_after.as_micros();
        let raw = stored_raw(latest);
        // A signed transaction no node accepted (fees now below the base fee, say) and a
        // broadcast one that waits too long are both replaced; a lost one is sent again.
        let in_pool =
            payout.status == PayoutStatus::Broadcast && self.writer.known(&latest.tx_hash).await?;
        let refused = !in_pool && self.broadcast(payout, &raw).await?;
        if stuck && (in_pool || refused) {
            self.replace(payout, latest).await?;
        }
        Ok(false)
    }

    /// A transaction of the payout is mined: final → done; not yet → at least broadcast.
    async fn mined(
        &self,
        payout: &Payout,
        tx: &SignedTx,
        receipt: Receipt,
        final_height: Option<u64>,
    ) -> Result<bool, PayoutError> {
        if final_height.is_none_or(|h| receipt.block_number > h) {
            if payout.status == PayoutStatus::Signed {
                self.gateway.payout_sent(payout, &tx.tx_hash).await?;
            }
            return Ok(false);
        }
        let mined = Mined {
            tx_hash: tx.tx_hash.clone(),
            fee: receipt.fee,
            reclaimed: receipt.reclaimed,
            fee_payer: self.fee_payer(payout)?,
        };
        if receipt.success {
            self.gateway.payout_confirmed(payout, &mined).await?;
            tracing::info!(payout = %payout.id, kind = payout.kind.as_str(), tx = %tx.tx_hash, "payout confirmed");
        } else {
            self.gateway
                .payout_failed(payout, "the transaction reverted", Some(&mined))
                .await?;
            tracing::warn!(payout = %payout.id, tx = %tx.tx_hash, "payout transaction reverted");
        }
        Ok(true)
    }

    /// Replaces a stuck transaction: same nonce and transfer, fees raised past the nodes'
    /// replacement rule (and to the market), never past the cap.
    async fn replace(&self, payout: &Payout, stuck: &SignedTx) -> Result<(), PayoutError> {
        let cap = self.settings.max_fee_per_gas;
        let quote = self.writer.fee_quote().await?;
        let tip = bumped_fee(stuck.max_priority_fee_per_gas, cap).max(quote.priority_fee);
        let market = quote.base_fee.saturating_mul(2).saturating_add(tip);
        let max_fee = bumped_fee(stuck.max_fee_per_gas, cap).max(market).min(cap);
        if max_fee <= stuck.max_fee_per_gas {
            let note = "stuck at the configured fee cap; waiting for the network".to_owned();
            return self.note(payout, note, payout.not_before).await;
        }
        let original = stored_raw(stuck);
        let tip = tip.min(max_fee);
        let raw = self.writer.resign(payout.signer, &original, max_fee, tip)?;
        let now = self.gateway.clock.now();
        let mut after = payout
            .moved(payout.status, now)
            .or_internal("replacing a stuck payout")?;
        after.tx_hash = Some(raw.hash.clone());
        let mut changes = ChangeSet::default();
        changes.payouts.push(PayoutChange::Update {
            expected_version: payout.version,
            payout: after.clone(),
        });
        let fees = (max_fee, tip);
        changes
            .signed_txs
            .push(signed_tx(&payout.id, stuck.nonce, fees, &raw, now));
        match self.gateway.commit(changes).await {
            Ok(()) => {}
            Err(ChangeError::Conflict) => return Ok(()),
            Err(ChangeError::Failed(error)) => return Err(error.into()),
        }
        tracing::info!(payout = %payout.id, old = %stuck.tx_hash, new = %raw.hash, max_fee, "replacing stuck payout transaction");
        metrics::counter!("wcheckout_payout_replacements_total").increment(1);
        self.broadcast(&after, &raw).await.map(|_| ())
    }
}

/// A stored transaction as the writer takes it.
pub(super) fn stored_raw(tx: &SignedTx) -> RawTx {
    RawTx {
        hash: tx.tx_hash.clone(),
        raw: tx.raw.clone(),
        expires_at: tx.expires_at,
    }
}
