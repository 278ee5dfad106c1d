//! Bearer grants and remembered request signatures.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use wcheckout_domain::app::App;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{Grant, GrantKind, SessionStore, StoreError};
use wcheckout_domain::time::Timestamp;

use crate::rows::{APP_COLUMNS, app_from_row, int, text, time};
use crate::{SqlStore, store_error};

fn kind_text(kind: GrantKind) -> &'static str {
    match kind {
        GrantKind::Access => "access",
        GrantKind::Refresh => "refresh",
    }
}

fn kind_from_text(kind: &str) -> Result<GrantKind, StoreError> {
    match kind {
        "access" => Ok(GrantKind::Access),
        "refresh" => Ok(GrantKind::Refresh),
        other => Err(StoreError::Internal(format!("unknown grant kind {other}"))),
    }
}

fn grant_from_row(row: &AnyRow) -> Result<Grant, StoreError> {
    Ok(Grant {
        token_hash: text(row, "token_hash")?,
        app_id: AppId::new(text(row, "app_id")?),
        kind: kind_from_text(&text(row, "kind")?)?,
        secrets_version: int(row, "secrets_version")?,
        expires_at: time(row, "expires_at")?,
    })
}

const GRANT_COLUMNS: &str = "token_hash, app_id, kind, secrets_version, expires_at";

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        sqlx::query(
            "insert into grants (token_hash, app_id, kind, secrets_version, expires_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(grant.token_hash.as_str())
        .bind(grant.app_id.as_str())
        .bind(kind_text(grant.kind))
        .bind(grant.secrets_version)
        .bind(grant.expires_at.micros())
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn grant_with_app(&self, token_hash: &str) -> Result<Option<(Grant, App)>, StoreError> {
        // The grant's columns renamed in a subquery, so that the app's keep their own names.
        let sql = format!(
            "select {APP_COLUMNS}, g.token_hash, g.grant_kind, g.grant_secrets_version, \
             g.grant_expires_at from apps join (select app_id, token_hash, kind as grant_kind, \
             secrets_version as grant_secrets_version, expires_at as grant_expires_at \
             from grants where token_hash = $1) g on g.app_id = apps.id"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let app = app_from_row(&row)?;
        let grant = Grant {
            token_hash: text(&row, "token_hash")?,
            app_id: app.id.clone(),
            kind: kind_from_text(&text(&row, "grant_kind")?)?,
            secrets_version: int(&row, "grant_secrets_version")?,
            expires_at: time(&row, "grant_expires_at")?,
        };
        Ok(Some((grant, app)))
    }

    async fn take_grant(
        &self,
        token_hash: &str,
        kind: GrantKind,
    ) -> Result<Option<Grant>, StoreError> {
        let sql = format!(
            "delete from grants where token_hash = $1 and kind = $2 returning {GRANT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(kind_text(kind))
            .fetch_optional(&self.writer)
            .await;
        row.map_err(store_error)?
            .as_ref()
            .map(grant_from_row)
            .transpose()
    }

    async fn first_use_of_signature(
        &self,
        app: &AppId,
        signature_hash: &str,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let (app, signature_hash) = (app.as_str().to_owned(), signature_hash.to_owned());
        self.group
            .run(move |conn| {
                let (app, signature_hash) = (app.clone(), signature_hash.clone());
                Box::pin(async move {
                    let done = sqlx::query(
                        "insert into seen_signatures (app_id, signature_hash, expires_at) \
                         values ($1, $2, $3) on conflict (app_id, signature_hash) do nothing",
                    )
                    .bind(app)
                    .bind(signature_hash)
                    .bind(expires_at.micros())
                    .execute(conn)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                })
            })
            .await
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut removed = 0;
        for sql in [
            "delete from grants where expires_at < $1",
            "delete from seen_signatures where expires_at < $1",
            "delete from console_sessions where expires_at < $1",
        ] {
            let done = sqlx::query(sql)
                .bind(now.micros())
                .execute(&self.writer)
                .await;
            removed += done.map_err(store_error)?.rows_affected();
        }
        Ok(removed)
    }
}
