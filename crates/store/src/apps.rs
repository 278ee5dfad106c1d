//! Apps.

use async_trait::async_trait;
use wcheckout_domain::app::App;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{AppStore, StoreError};

use crate::rows::{APP_COLUMNS, app_from_row, ip_allow_text};
use crate::{AnyQuery, SqlStore, store_error};

#[async_trait]
impl AppStore for SqlStore {
    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        let sql = format!(
            "insert into apps ({APP_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        bind_app(sqlx::query(&sql), app)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn app(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        let sql = format!("select {APP_COLUMNS} from apps where id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await;
        row.map_err(store_error)?
            .as_ref()
            .map(app_from_row)
            .transpose()
    }

    async fn app_by_api_key(&self, api_key: &str) -> Result<Option<App>, StoreError> {
        let sql = format!("select {APP_COLUMNS} from apps where api_key = $1");
        let row = sqlx::query(&sql)
            .bind(api_key)
            .fetch_optional(&self.reader)
            .await;
        row.map_err(store_error)?
            .as_ref()
            .map(app_from_row)
            .transpose()
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        let sql = format!("select {APP_COLUMNS} from apps order by created_at, id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter().map(app_from_row).collect()
    }

    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        let sql = "update apps set id = $1, name = $2, api_key = $3, api_secret_hash = $4, \
            sign_key_sealed = $5, webhook_url = $6, ip_allow = $7, tolerance_percent = $8, \
            tolerance_amount = $9, display_name = $10, logo_url = $11, theme_color = $12, \
            secrets_version = $13, enabled = $14, created_at = $15, updated_at = $16 \
            where id = $1";
        let done = bind_app(sqlx::query(sql), app).execute(&self.writer).await;
        if done.map_err(store_error)?.rows_affected() == 0 {
            return Err(StoreError::Internal(format!(
                "app {} does not exist",
                app.id
            )));
        }
        Ok(())
    }
}

fn bind_app<'q>(query: AnyQuery<'q>, app: &'q App) -> AnyQuery<'q> {
    query
        .bind(app.id.as_str())
        .bind(app.name.as_str())
        .bind(app.api_key.as_str())
        .bind(app.api_secret_hash.as_str())
        .bind(app.sign_key_sealed.as_str())
        .bind(app.webhook_url.as_deref())
        .bind(ip_allow_text(app))
        .bind(app.tolerance.percent.to_string())
        .bind(app.tolerance.amount.to_string())
        .bind(app.branding.display_name.as_deref())
        .bind(app.branding.logo_url.as_deref())
        .bind(app.branding.theme_color.as_deref())
        .bind(app.secrets_version)
        .bind(i64::from(app.enabled))
        .bind(app.created_at.micros())
        .bind(app.updated_at.micros())
}
