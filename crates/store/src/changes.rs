//! The single write path for state changes: a change set is committed in one transaction,
//! each object with compare-and-set on its version, together with the events announcing it.

use async_trait::async_trait;
use sqlx::{Any, Transaction};
use wcheckout_domain::events::OutboxEvent;
use wcheckout_domain::ports::{ChangeSet, ChangeStore, CommitError, OrderWrite, StoreError};

use crate::{SqlStore, store_error};

#[async_trait]
impl ChangeStore for SqlStore {
    async fn commit(&self, changes: ChangeSet) -> Result<(), CommitError> {
        let mut tx = self.writer.begin().await.map_err(store_error)?;
        for write in &changes.orders {
            self.update_order(&mut tx, write).await?;
        }
        for event in &changes.events {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }
}

impl SqlStore {
    async fn update_order(
        &self,
        tx: &mut Transaction<'static, Any>,
        write: &OrderWrite,
    ) -> Result<(), CommitError> {
        let order = &write.order;
        if order.version != write.expected_version.saturating_add(1) {
            return Err(StoreError::Internal("order version must advance by one".into()).into());
        }
        let sql = self.engine.sql(
            "update orders set status = $1, paid_amount = $2::numeric, \
             refunded_amount = $3::numeric, tx_hash = $4, updated_at = $5, version = $6 \
             where sysid = $7 and version = $8",
        );
        let done = sqlx::query(&sql)
            .bind(order.status.as_str())
            .bind(order.paid_amount.to_string())
            .bind(order.refunded_amount.to_string())
            .bind(order.tx_hash.as_deref())
            .bind(order.updated_at.micros())
            .bind(order.version)
            .bind(order.sysid.as_str())
            .bind(write.expected_version)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(CommitError::Conflict);
        }
        Ok(())
    }
}

async fn insert_event(
    tx: &mut Transaction<'static, Any>,
    event: &OutboxEvent,
) -> Result<(), CommitError> {
    sqlx::query(
        "insert into webhook_events (event_id, app_id, event_type, object_key, body, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
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
