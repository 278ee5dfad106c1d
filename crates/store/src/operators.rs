//! Operator accounts and the append-only audit log.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::operator::{
    AuditEntry, ConsoleAction, ConsoleSession, Operator, OperatorStatus, OperatorTotp, Role,
};
use wcheckout_domain::ports::{OperatorStore, StoreError};
use wcheckout_domain::time::Timestamp;

use crate::rows::{opt_text, parsed, text, time};
use crate::{SqlStore, store_error};

const OPERATOR_COLUMNS: &str = "name, role, app_id, password_hash, status, created_at, updated_at, \
     totp_secret, totp_last_step, last_sign_in_at";

fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(column).map_err(store_error)
}

fn operator_from_row(row: &AnyRow) -> Result<Operator, StoreError> {
    let totp = opt_text(row, "totp_secret")?.map(|sealed_secret| -> Result<_, StoreError> {
        Ok(OperatorTotp {
            sealed_secret,
            last_step: opt_int(row, "totp_last_step")?,
        })
    });
    Ok(Operator {
        totp: totp.transpose()?,
        last_sign_in_at: opt_int(row, "last_sign_in_at")?.map(Timestamp::from_micros),
        name: text(row, "name")?,
        role: parsed(row, "role", Role::parse)?,
        app: opt_text(row, "app_id")?.map(AppId::new),
        password_hash: text(row, "password_hash")?,
        status: parsed(row, "status", OperatorStatus::parse)?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        operator: text(row, "operator")?,
        action: parsed(row, "action", ConsoleAction::parse)?,
        target: text(row, "target")?,
        at: time(row, "at")?,
        client: text(row, "client")?,
    })
}

#[async_trait]
impl OperatorStore for SqlStore {
    async fn insert_operator(&self, operator: &Operator) -> Result<bool, StoreError> {
        let sql = format!(
            "insert into operators ({OPERATOR_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (name) do nothing"
        );
        let totp = operator.totp.as_ref();
        let done = sqlx::query(&sql)
            .bind(operator.name.as_str())
            .bind(operator.role.as_str())
            .bind(operator.app.as_ref().map(AppId::as_str))
            .bind(operator.password_hash.as_str())
            .bind(operator.status.as_str())
            .bind(operator.created_at.micros())
            .bind(operator.updated_at.micros())
            .bind(totp.map(|t| t.sealed_secret.as_str()))
            .bind(totp.and_then(|t| t.last_step))
            .bind(operator.last_sign_in_at.map(|at| at.micros()))
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn operator(&self, name: &str) -> Result<Option<Operator>, StoreError> {
        let sql = format!("select {OPERATOR_COLUMNS} from operators where name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.reader)
            .await;
        row.map_err(store_error)?
            .as_ref()
            .map(operator_from_row)
            .transpose()
    }

    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        let sql = format!("select {OPERATOR_COLUMNS} from operators order by name");
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await;
        rows.map_err(store_error)?
            .iter()
            .map(operator_from_row)
            .collect()
    }

    async fn set_operator_status(
        &self,
        name: &str,
        from: OperatorStatus,
        to: OperatorStatus,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update operators set status = $1, updated_at = $2 where name = $3 and status = $4",
        )
        .bind(to.as_str())
        .bind(at.micros())
        .bind(name)
        .bind(from.as_str())
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_operator_password(
        &self,
        name: &str,
        expected: &str,
        password_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update operators set password_hash = $1, updated_at = $2 \
             where name = $3 and password_hash = $4",
        )
        .bind(password_hash)
        .bind(at.micros())
        .bind(name)
        .bind(expected)
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn enable_operator_totp(
        &self,
        name: &str,
        sealed_secret: &str,
        last_step: Option<i64>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update operators set totp_secret = $1, totp_last_step = $2, updated_at = $3 \
             where name = $4 and totp_secret is null",
        )
        .bind(sealed_secret)
        .bind(last_step)
        .bind(at.micros())
        .bind(name)
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_operator_totp(
        &self,
        name: &str,
        expected: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update operators set totp_secret = null, totp_last_step = null, updated_at = $1 \
             where name = $2 and totp_secret = $3",
        )
        .bind(at.micros())
        .bind(name)
        .bind(expected)
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_totp_step(
        &self,
        name: &str,
        sealed_secret: &str,
        step: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update operators set totp_last_step = $1 where name = $2 and totp_secret = $3 \
             and (totp_last_step is null or totp_last_step < $4)",
        )
        .bind(step)
        .bind(name)
        .bind(sealed_secret)
        .bind(step)
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_operator_sign_in(&self, name: &str, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("update operators set last_sign_in_at = $1 where name = $2")
            .bind(at.micros())
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn insert_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        sqlx::query(
            "insert into console_sessions (token_hash, operator, created_at, expires_at) \
             values ($1, $2, $3, $4)",
        )
        .bind(session.token_hash.as_str())
        .bind(session.operator.as_str())
        .bind(session.created_at.micros())
        .bind(session.expires_at.micros())
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ConsoleSession, Operator)>, StoreError> {
        // The session's columns renamed, so that the operator's keep their own names.
        let sql = format!(
            "select {OPERATOR_COLUMNS}, s.token_hash, s.session_created_at, s.session_expires_at \
             from operators join (select token_hash, operator, created_at as session_created_at, \
             expires_at as session_expires_at from console_sessions where token_hash = $1) s \
             on s.operator = operators.name"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let operator = operator_from_row(&row)?;
        let session = ConsoleSession {
            token_hash: text(&row, "token_hash")?,
            operator: operator.name.clone(),
            created_at: time(&row, "session_created_at")?,
            expires_at: time(&row, "session_expires_at")?,
        };
        Ok(Some((session, operator)))
    }

    async fn end_console_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from console_sessions where token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_log (operator, action, target, at, client) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(entry.operator.as_str())
        .bind(entry.action.as_str())
        .bind(entry.target.as_str())
        .bind(entry.at.micros())
        .bind(entry.client.as_str())
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "select operator, action, target, at, client from audit_log \
             order by id desc limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.iter().map(audit_from_row).collect()
    }
}
