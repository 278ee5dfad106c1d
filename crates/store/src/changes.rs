//! The single write path for state changes: a change set is committed in one transaction,
//! each object with compare-and-set, together with the events announcing it.

use async_trait::async_trait;
use sqlx::{Any, Transaction};
use wcheckout_domain::events::OutboxEvent;
use wcheckout_domain::payment::{AbnormalPayment, Transfer, TransferKey, TransferState};
use wcheckout_domain::ports::{
    AbnormalChange, ChangeSet, ChangeStore, CommitError, CursorMove, OrderWrite, StoreError,
    TransferChange,
};

use crate::rows::to_i64;
use crate::{SqlStore, store_error};

type Tx = Transaction<'static, Any>;

/// What recording a transfer did.
enum Recorded {
    /// A new row.
    New,
    /// A reversed transfer is back.
    Revived,
    /// Already there: nothing changed.
    Known,
}

/// Zero rows touched by a compare-and-set: someone changed the object first.
fn expect_one(rows: u64) -> Result<(), CommitError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(CommitError::Conflict)
    }
}

#[async_trait]
impl ChangeStore for SqlStore {
    async fn commit(&self, changes: ChangeSet) -> Result<(), CommitError> {
        let now = changes
            .events
            .first()
            .map_or_else(now_micros, |e| e.created_at);
        let mut tx = self.writer.begin().await.map_err(store_error)?;
        self.lock_accounts(&mut tx, &changes, now).await?;
        if let Some(cursor) = &changes.cursor {
            self.move_cursor(&mut tx, cursor).await?;
        }
        for change in &changes.transfers {
            self.change_transfer(&mut tx, change).await?;
        }
        for write in &changes.orders {
            self.update_order(&mut tx, write).await?;
        }
        for change in &changes.abnormal {
            self.change_abnormal(&mut tx, change).await?;
        }
        for change in &changes.refunds {
            self.change_refund(&mut tx, change).await?;
        }
        for change in &changes.settlements {
            self.change_settlement(&mut tx, change).await?;
        }
        // Nonces first: a nonce already taken is a conflict, before the payout's unique
        // (chain, from, nonce) key could fail on it.
        for taken in &changes.nonces {
            self.take_nonce(&mut tx, taken).await?;
        }
        for change in &changes.payouts {
            self.change_payout(&mut tx, change).await?;
        }
        for signed in &changes.signed_txs {
            self.insert_signed_tx(&mut tx, signed).await?;
        }
        for posting in &changes.postings {
            self.post(&mut tx, posting, now).await?;
        }
        for event in &changes.events {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }
}

impl SqlStore {
    async fn update_order(&self, tx: &mut Tx, write: &OrderWrite) -> Result<(), CommitError> {
        let order = &write.order;
        if order.version != write.expected_version.saturating_add(1) {
            return Err(StoreError::Internal("order version must advance by one".into()).into());
        }
        let sql = self.engine.sql(
            "update orders set status = $1, paid_amount = $2::numeric, \
             refunded_amount = $3::numeric, tx_hash = $4, updated_at = $5, version = $6, \
             alert = $7 where sysid = $8 and version = $9",
        );
        let done = sqlx::query(&sql)
            .bind(order.status.as_str())
            .bind(order.paid_amount.to_string())
            .bind(order.refunded_amount.to_string())
            .bind(order.tx_hash.as_deref())
            .bind(order.updated_at.micros())
            .bind(order.version)
            .bind(order.alert.as_deref())
            .bind(order.sysid.as_str())
            .bind(write.expected_version)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        expect_one(done.rows_affected())
    }

    async fn move_cursor(&self, tx: &mut Tx, cursor: &CursorMove) -> Result<(), CommitError> {
        let chain = cursor.chain.as_str();
        let to_number = to_i64(cursor.to.number)?;
        let done = match &cursor.expected {
            None => {
                sqlx::query(
                    "insert into chain_cursors (chain, block_number, block_hash, updated_at) \
                 values ($1, $2, $3, 0) on conflict (chain) do nothing",
                )
                .bind(chain)
                .bind(to_number)
                .bind(cursor.to.hash.as_str())
                .execute(&mut **tx)
                .await
            }
            Some(expected) => {
                sqlx::query(
                    "update chain_cursors set block_number = $1, block_hash = $2 \
                 where chain = $3 and block_number = $4 and block_hash = $5",
                )
                .bind(to_number)
                .bind(cursor.to.hash.as_str())
                .bind(chain)
                .bind(to_i64(expected.number)?)
                .bind(expected.hash.as_str())
                .execute(&mut **tx)
                .await
            }
        };
        expect_one(done.map_err(store_error)?.rows_affected())?;
        if let Some(above) = cursor.forget_above {
            sqlx::query("delete from chain_checkpoints where chain = $1 and block_number > $2")
                .bind(chain)
                .bind(to_i64(above)?)
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
        }
        for mark in cursor.checkpoints.iter().chain(std::iter::once(&cursor.to)) {
            sqlx::query(
                "insert into chain_checkpoints (chain, block_number, block_hash) values ($1, $2, $3) \
                 on conflict (chain, block_number) do update set block_hash = excluded.block_hash",
            )
            .bind(chain)
            .bind(to_i64(mark.number)?)
            .bind(mark.hash.as_str())
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        }
        Ok(())
    }

    async fn change_transfer(
        &self,
        tx: &mut Tx,
        change: &TransferChange,
    ) -> Result<(), CommitError> {
        match change {
            TransferChange::Record {
                transfer,
                if_new,
                if_revived,
            } => {
                let postings = match self.record_transfer(tx, transfer).await? {
                    Recorded::New => if_new,
                    Recorded::Revived => if_revived,
                    Recorded::Known => return Ok(()),
                };
                for posting in postings {
                    self.post(tx, posting, transfer.observed_at).await?;
                }
                Ok(())
            }
            TransferChange::SetState { key, from, to } => {
                let done = sqlx::query(
                    "update chain_transfers set state = $1 \
                     where chain = $2 and tx_hash = $3 and log_index = $4 and state = $5",
                )
                .bind(to.as_str())
                .bind(key.chain.as_str())
                .bind(key.tx_hash.as_str())
                .bind(to_i64(key.log_index)?)
                .bind(from.as_str())
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
                expect_one(done.rows_affected())
            }
            TransferChange::ForgetPending(key) => forget_pending(tx, key).await,
        }
    }

    /// Inserts a transfer, or revives a reversed one under the same key; says which.
    async fn record_transfer(
        &self,
        tx: &mut Tx,
        transfer: &Transfer,
    ) -> Result<Recorded, CommitError> {
        let sql = self.engine.sql(
            "insert into chain_transfers (chain, tx_hash, log_index, block_number, block_hash, \
             block_time, token, from_address, to_address, amount, order_sysid, state, observed_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11, $12, $13) \
             on conflict (chain, tx_hash, log_index) do nothing",
        );
        let inserted = sqlx::query(&sql)
            .bind(transfer.chain.as_str())
            .bind(transfer.tx_hash.as_str())
            .bind(to_i64(transfer.log_index)?)
            .bind(to_i64(transfer.block_number)?)
            .bind(transfer.block_hash.as_str())
            .bind(transfer.block_time.micros())
            .bind(transfer.token.as_str())
            .bind(transfer.from.to_lower_hex())
            .bind(transfer.to.to_lower_hex())
            .bind(transfer.amount.to_string())
            .bind(transfer.order_sysid.as_str())
            .bind(transfer.state.as_str())
            .bind(transfer.observed_at.micros())
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        if inserted.rows_affected() == 1 {
            return Ok(Recorded::New);
        }
        let revived = sqlx::query(
            "update chain_transfers set block_number = $1, block_hash = $2, block_time = $3, \
             state = 'CREDITED' where chain = $4 and tx_hash = $5 and log_index = $6 \
             and state = 'REVERSED'",
        )
        .bind(to_i64(transfer.block_number)?)
        .bind(transfer.block_hash.as_str())
        .bind(transfer.block_time.micros())
        .bind(transfer.chain.as_str())
        .bind(transfer.tx_hash.as_str())
        .bind(to_i64(transfer.log_index)?)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        Ok(if revived.rows_affected() == 1 {
            Recorded::Revived
        } else {
            Recorded::Known
        })
    }

    async fn change_abnormal(
        &self,
        tx: &mut Tx,
        change: &AbnormalChange,
    ) -> Result<(), CommitError> {
        match change {
            AbnormalChange::Create(payment) => self.insert_abnormal(tx, payment).await,
            AbnormalChange::Update {
                expected_version,
                payment,
            } => {
                if payment.version != expected_version.saturating_add(1) {
                    return Err(StoreError::Internal("version must advance by one".into()).into());
                }
                let sql = self.engine.sql(
                    "update abnormal_payments set pending_amount = $1::numeric, status = $2, \
                     updated_at = $3, version = $4 where abnormal_payment_no = $5 and version = $6",
                );
                let done = sqlx::query(&sql)
                    .bind(payment.pending_amount.to_string())
                    .bind(payment.status.as_str())
                    .bind(payment.updated_at.micros())
                    .bind(payment.version)
                    .bind(payment.abnormal_payment_no.as_str())
                    .bind(*expected_version)
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                expect_one(done.rows_affected())
            }
        }
    }

    async fn insert_abnormal(
        &self,
        tx: &mut Tx,
        payment: &AbnormalPayment,
    ) -> Result<(), CommitError> {
        let sql = self.engine.sql(
            "insert into abnormal_payments (abnormal_payment_no, app_id, order_sysid, order_no, \
             token, kind, amount, pending_amount, tx_hash, payer_address, status, created_at, \
             updated_at, version) \
             values ($1, $2, $3, $4, $5, $6, $7::numeric, $8::numeric, $9, $10, $11, $12, $13, $14)",
        );
        sqlx::query(&sql)
            .bind(payment.abnormal_payment_no.as_str())
            .bind(payment.app_id.as_str())
            .bind(payment.order_sysid.as_str())
            .bind(payment.order_no.as_str())
            .bind(payment.token.as_str())
            .bind(payment.kind.as_str())
            .bind(payment.amount.to_string())
            .bind(payment.pending_amount.to_string())
            .bind(payment.tx_hash.as_deref())
            .bind(payment.payer.map(|p| p.to_lower_hex()))
            .bind(payment.status.as_str())
            .bind(payment.created_at.micros())
            .bind(payment.updated_at.micros())
            .bind(payment.version)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

async fn forget_pending(tx: &mut Tx, key: &TransferKey) -> Result<(), CommitError> {
    let done = sqlx::query(
        "delete from chain_transfers where chain = $1 and tx_hash = $2 and log_index = $3 \
         and state = $4",
    )
    .bind(key.chain.as_str())
    .bind(key.tx_hash.as_str())
    .bind(to_i64(key.log_index)?)
    .bind(TransferState::Pending.as_str())
    .execute(&mut **tx)
    .await
    .map_err(store_error)?;
    expect_one(done.rows_affected())
}

async fn insert_event(tx: &mut Tx, event: &OutboxEvent) -> Result<(), CommitError> {
    sqlx::query(
        "insert into webhook_events (event_id, app_id, event_type, object_key, body, created_at, \
         next_attempt_at) values ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(event.event_id.as_str())
    .bind(event.app_id.as_str())
    .bind(event.event_type.as_str())
    .bind(event.object_key.as_str())
    .bind(event.body.as_str())
    .bind(event.created_at.micros())
    .execute(&mut **tx)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Wall-clock time for ledger rows of a change set that carries no event.
fn now_micros() -> wcheckout_domain::time::Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    wcheckout_domain::time::Timestamp::from_micros(
        i64::try_from(since.as_micros()).unwrap_or(i64::MAX),
    )
}
