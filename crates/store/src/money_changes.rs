//! The commit path's money parts: refunds, settlements, payouts, signed transactions and
//! nonces, each with its compare-and-set or uniqueness guard (ledger postings: `ledger.rs`).

use sqlx::{Any, Transaction};
use wcheckout_domain::payout::{Payout, SignedTx};
use wcheckout_domain::ports::{
    CommitError, NonceTaken, PayoutChange, RefundChange, SettlementChange, StoreError,
};
use wcheckout_domain::refund::{Refund, RefundSource};
use wcheckout_domain::settlement::{Destination, Settlement};

use crate::money_rows::{asset_text, order_nos_text, signer_text};
use crate::rows::to_i64;
use crate::{SqlStore, store_error};

type Tx = Transaction<'static, Any>;

fn expect_one(rows: u64) -> Result<(), CommitError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(CommitError::Conflict)
    }
}

fn advances(expected: i64, version: i64) -> Result<(), CommitError> {
    if version == expected.saturating_add(1) {
        Ok(())
    } else {
        Err(StoreError::Internal("version must advance by one".into()).into())
    }
}

impl SqlStore {
    pub(crate) async fn change_refund(
        &self,
        tx: &mut Tx,
        change: &RefundChange,
    ) -> Result<(), CommitError> {
        match change {
            RefundChange::Create(refund) => self.insert_refund(tx, refund).await,
            RefundChange::Update {
                expected_version,
                refund,
            } => {
                advances(*expected_version, refund.version)?;
                let done = sqlx::query(
                    "update refunds set status = $1, tx_hash = $2, failure_reason = $3, \
                     updated_at = $4, version = $5 where sysid = $6 and version = $7",
                )
                .bind(refund.status.as_str())
                .bind(refund.tx_hash.as_deref())
                .bind(refund.failure_reason.as_deref())
                .bind(refund.updated_at.micros())
                .bind(refund.version)
                .bind(refund.sysid.as_str())
                .bind(*expected_version)
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
                expect_one(done.rows_affected())
            }
        }
    }

    async fn insert_refund(&self, tx: &mut Tx, refund: &Refund) -> Result<(), CommitError> {
        let abnormal = match &refund.source {
            RefundSource::Order => None,
            RefundSource::AbnormalPayment(no) => Some(no.as_str()),
        };
        let sql = self.engine.sql(
            "insert into refunds (sysid, app_id, refund_order_no, order_sysid, order_no, merchant_id, \
             abnormal_payment_no, token, amount, address, remark, status, tx_hash, failure_reason, \
             request_fingerprint, created_at, updated_at, version) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18) on conflict (app_id, refund_order_no) do nothing",
        );
        let done = sqlx::query(&sql)
            .bind(refund.sysid.as_str())
            .bind(refund.app_id.as_str())
            .bind(refund.refund_order_no.as_str())
            .bind(refund.order_sysid.as_str())
            .bind(refund.order_no.as_str())
            .bind(refund.merchant_id.as_str())
            .bind(abnormal)
            .bind(refund.token.as_str())
            .bind(refund.amount.to_string())
            .bind(refund.address.storage_key())
            .bind(refund.remark.as_deref())
            .bind(refund.status.as_str())
            .bind(refund.tx_hash.as_deref())
            .bind(refund.failure_reason.as_deref())
            .bind(refund.request_fingerprint.as_str())
            .bind(refund.created_at.micros())
            .bind(refund.updated_at.micros())
            .bind(refund.version)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        // The number was taken (a concurrent or earlier request): the caller re-reads it.
        expect_one(done.rows_affected())
    }

    pub(crate) async fn change_settlement(
        &self,
        tx: &mut Tx,
        change: &SettlementChange,
    ) -> Result<(), CommitError> {
        match change {
            SettlementChange::Create(settlement) => self.insert_settlement(tx, settlement).await,
            SettlementChange::Update {
                expected_version,
                settlement,
            } => {
                advances(*expected_version, settlement.version)?;
                let done = sqlx::query(
                    "update settlements set status = $1, approved = $2, tx_hash = $3, \
                     bank_reference = $4, failure_reason = $5, updated_at = $6, version = $7 \
                     where sysid = $8 and version = $9",
                )
                .bind(settlement.status.as_str())
                .bind(i64::from(settlement.approved))
                .bind(settlement.tx_hash.as_deref())
                .bind(settlement.bank_reference.as_deref())
                .bind(settlement.failure_reason.as_deref())
                .bind(settlement.updated_at.micros())
                .bind(settlement.version)
                .bind(settlement.sysid.as_str())
                .bind(*expected_version)
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
                expect_one(done.rows_affected())
            }
        }
    }

    async fn insert_settlement(
        &self,
        tx: &mut Tx,
        settlement: &Settlement,
    ) -> Result<(), CommitError> {
        let (address, fiat, bank) = match &settlement.destination {
            Destination::OnChain(address) => (Some(address.storage_key()), None, None),
            Destination::Bank { fiat, account } => {
                (None, Some(fiat.as_str()), Some(account.as_str()))
            }
        };
        let sql = self.engine.sql(
            "insert into settlements (sysid, app_id, settlement_order_no, merchant_id, token, amount, \
             address, fiat, bank_account, order_nos, status, approved, tx_hash, bank_reference, \
             failure_reason, request_fingerprint, created_at, updated_at, version) \
             values ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19) on conflict (app_id, settlement_order_no) do nothing",
        );
        let done = sqlx::query(&sql)
            .bind(settlement.sysid.as_str())
            .bind(settlement.app_id.as_str())
            .bind(settlement.settlement_order_no.as_str())
            .bind(settlement.merchant_id.as_str())
            .bind(settlement.token.as_str())
            .bind(settlement.amount.to_string())
            .bind(address)
            .bind(fiat)
            .bind(bank)
            .bind(order_nos_text(&settlement.order_nos))
            .bind(settlement.status.as_str())
            .bind(i64::from(settlement.approved))
            .bind(settlement.tx_hash.as_deref())
            .bind(settlement.bank_reference.as_deref())
            .bind(settlement.failure_reason.as_deref())
            .bind(settlement.request_fingerprint.as_str())
            .bind(settlement.created_at.micros())
            .bind(settlement.updated_at.micros())
            .bind(settlement.version)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        expect_one(done.rows_affected())
    }

    pub(crate) async fn change_payout(
        &self,
        tx: &mut Tx,
        change: &PayoutChange,
    ) -> Result<(), CommitError> {
        match change {
            PayoutChange::Create(payout) => self.insert_payout(tx, payout).await,
            PayoutChange::Update {
                expected_version,
                payout,
            } => {
                advances(*expected_version, payout.version)?;
                let sql = self.engine.sql(
                    "update payouts set status = $1, nonce = $2, tx_hash = $3, fee = $4::numeric, \
                     note = $5, not_before = $6, updated_at = $7, version = $8 \
                     where id = $9 and version = $10",
                );
                let done = sqlx::query(&sql)
                    .bind(payout.status.as_str())
                    .bind(payout.nonce.map(to_i64).transpose()?)
                    .bind(payout.tx_hash.as_deref())
                    .bind(payout.fee.map(|f| f.to_string()))
                    .bind(payout.note.as_deref())
                    .bind(payout.not_before.micros())
                    .bind(payout.updated_at.micros())
                    .bind(payout.version)
                    .bind(payout.id.as_str())
                    .bind(*expected_version)
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                expect_one(done.rows_affected())
            }
        }
    }

    async fn insert_payout(&self, tx: &mut Tx, payout: &Payout) -> Result<(), CommitError> {
        let sql = self.engine.sql(
            "insert into payouts (id, chain, kind, reference, signer, from_address, to_address, \
             asset, amount, status, nonce, tx_hash, fee, note, not_before, created_at, updated_at, \
             version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10, $11, $12, \
             $13::numeric, $14, $15, $16, $17, $18) on conflict (kind, reference) do nothing",
        );
        let done = sqlx::query(&sql)
            .bind(payout.id.as_str())
            .bind(payout.chain.as_str())
            .bind(payout.kind.as_str())
            .bind(payout.reference.as_str())
            .bind(signer_text(payout.signer))
            .bind(payout.from.storage_key())
            .bind(payout.to.storage_key())
            .bind(asset_text(&payout.asset))
            .bind(payout.amount.to_string())
            .bind(payout.status.as_str())
            .bind(payout.nonce.map(to_i64).transpose()?)
            .bind(payout.tx_hash.as_deref())
            .bind(payout.fee.map(|f| f.to_string()))
            .bind(payout.note.as_deref())
            .bind(payout.not_before.micros())
            .bind(payout.created_at.micros())
            .bind(payout.updated_at.micros())
            .bind(payout.version)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        expect_one(done.rows_affected())
    }

    pub(crate) async fn insert_signed_tx(
        &self,
        tx: &mut Tx,
        signed: &SignedTx,
    ) -> Result<(), CommitError> {
        let sql = self.engine.sql(
            "insert into payout_txs (tx_hash, payout_id, raw, nonce, max_fee_per_gas, \
             max_priority_fee_per_gas, signed_at, expires_at) \
             values ($1, $2, $3, $4, $5::numeric, $6::numeric, $7, $8)",
        );
        sqlx::query(&sql)
            .bind(signed.tx_hash.as_str())
            .bind(signed.payout_id.as_str())
            .bind(signed.raw.as_str())
            .bind(signed.nonce.map(to_i64).transpose()?)
            .bind(signed.max_fee_per_gas.to_string())
            .bind(signed.max_priority_fee_per_gas.to_string())
            .bind(signed.signed_at.micros())
            .bind(signed.expires_at.map(|at| at.micros()))
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Moves an address's next nonce past `nonce`; a first use records it.
    pub(crate) async fn take_nonce(
        &self,
        tx: &mut Tx,
        taken: &NonceTaken,
    ) -> Result<(), CommitError> {
        let address = taken.address.storage_key();
        let next = to_i64(taken.nonce.saturating_add(1))?;
        let inserted = sqlx::query(
            "insert into nonces (chain, address, next_nonce) values ($1, $2, $3) \
             on conflict (chain, address) do nothing",
        )
        .bind(taken.chain.as_str())
        .bind(address.as_str())
        .bind(next)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        if inserted.rows_affected() == 1 {
            return Ok(());
        }
        // Forward only: a nonce below the recorded one was already taken; one above it means
        // transactions were sent from the address outside the gateway.
        let done = sqlx::query(
            "update nonces set next_nonce = $1 where chain = $2 and address = $3 and next_nonce <= $4",
        )
        .bind(next)
        .bind(taken.chain.as_str())
        .bind(address.as_str())
        .bind(to_i64(taken.nonce)?)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        expect_one(done.rows_affected())
    }
}
