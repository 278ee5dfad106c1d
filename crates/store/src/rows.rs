//! Reading rows back into domain types. A value that does not parse is corrupted data and an
//! internal error, never a silent default.

use sqlx::Row;
use sqlx::any::AnyRow;
use wcheckout_domain::address::Address;
use wcheckout_domain::app::{App, Branding, IpNetwork, UnderpaymentTolerance};
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::payment::{
    AbnormalKind, AbnormalPayment, AbnormalStatus, Transfer, TransferState,
};
use wcheckout_domain::ports::StoreError;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{ChainKey, TokenId};

use crate::store_error;

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("column {column} holds an invalid value '{value}'"))
}

pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(column).map_err(store_error)
}

pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(column)
        .map_err(store_error)
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(column).map_err(store_error)
}

pub(crate) fn time(row: &AnyRow, column: &str) -> Result<Timestamp, StoreError> {
    int(row, column).map(Timestamp::from_micros)
}

pub(crate) fn amount(row: &AnyRow, column: &str) -> Result<TokenAmount, StoreError> {
    let value = text(row, column)?;
    value
        .parse::<u128>()
        .map(TokenAmount::from_base_units)
        .map_err(|_| corrupt(column, &value))
}

pub(crate) fn decimal(row: &AnyRow, column: &str) -> Result<Decimal, StoreError> {
    let value = text(row, column)?;
    Decimal::parse(&value).map_err(|_| corrupt(column, &value))
}

pub(crate) fn parsed<T>(
    row: &AnyRow,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let value = text(row, column)?;
    parse(&value).ok_or_else(|| corrupt(column, &value))
}

/// Columns of `apps`, in the order [`app_from_row`] reads them by name.
pub(crate) const APP_COLUMNS: &str = "id, name, api_key, api_secret_hash, sign_key_sealed, \
    webhook_url, ip_allow, tolerance_percent, tolerance_amount, display_name, logo_url, \
    theme_color, secrets_version, enabled, created_at, updated_at";

pub(crate) fn app_from_row(row: &AnyRow) -> Result<App, StoreError> {
    let ip_allow = parsed(row, "ip_allow", |list| {
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(IpNetwork::parse)
            .collect::<Option<Vec<_>>>()
    })?;
    Ok(App {
        id: AppId::new(text(row, "id")?),
        name: text(row, "name")?,
        api_key: text(row, "api_key")?,
        api_secret_hash: text(row, "api_secret_hash")?,
        sign_key_sealed: text(row, "sign_key_sealed")?,
        webhook_url: opt_text(row, "webhook_url")?,
        ip_allow,
        tolerance: UnderpaymentTolerance {
            percent: decimal(row, "tolerance_percent")?,
            amount: decimal(row, "tolerance_amount")?,
        },
        branding: Branding {
            display_name: opt_text(row, "display_name")?,
            logo_url: opt_text(row, "logo_url")?,
            theme_color: opt_text(row, "theme_color")?,
        },
        secrets_version: int(row, "secrets_version")?,
        enabled: int(row, "enabled")? != 0,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// `ip_allow` as stored: comma-separated networks.
pub(crate) fn ip_allow_text(app: &App) -> String {
    app.ip_allow
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Columns of `orders`, amounts cast to text for the `Any` driver. The cast is standard SQL
/// (`cast(... as text)`, not `::text`) because the statements using these columns are sent to
/// both engines as they are, without [`crate::Engine::sql`].
pub(crate) const ORDER_COLUMNS: &str = "sysid, app_id, order_no, merchant_id, customer_id, token, \
    fiat, order_amount, exchange_rate, cast(paying_amount as text) as paying_amount, \
    cast(min_accepted_amount as text) as min_accepted_amount, \
    cast(paid_amount as text) as paid_amount, cast(refunded_amount as text) as refunded_amount, \
    deposit_address, address_index, status, tx_hash, expires_at, pc_callback_url, \
    app_callback_url, page_token, request_fingerprint, created_at, updated_at, version, alert";

pub(crate) fn order_from_row(row: &AnyRow) -> Result<Order, StoreError> {
    let address_index = int(row, "address_index")?;
    Ok(Order {
        sysid: text(row, "sysid")?,
        app_id: AppId::new(text(row, "app_id")?),
        order_no: parsed(row, "order_no", IntegratorNo::parse)?,
        merchant_id: text(row, "merchant_id")?,
        customer_id: text(row, "customer_id")?,
        token: parsed(row, "token", TokenId::parse)?,
        fiat: text(row, "fiat")?,
        order_amount: decimal(row, "order_amount")?,
        exchange_rate: decimal(row, "exchange_rate")?,
        paying_amount: amount(row, "paying_amount")?,
        min_accepted_amount: amount(row, "min_accepted_amount")?,
        paid_amount: amount(row, "paid_amount")?,
        refunded_amount: amount(row, "refunded_amount")?,
        deposit_address: parsed(row, "deposit_address", Address::parse_any)?,
        address_index: u64::try_from(address_index)
            .map_err(|_| corrupt("address_index", &address_index.to_string()))?,
        status: parsed(row, "status", OrderStatus::parse)?,
        tx_hash: opt_text(row, "tx_hash")?,
        expires_at: time(row, "expires_at")?,
        pc_callback_url: opt_text(row, "pc_callback_url")?,
        app_callback_url: opt_text(row, "app_callback_url")?,
        page_token: text(row, "page_token")?,
        request_fingerprint: text(row, "request_fingerprint")?,
        alert: opt_text(row, "alert")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        version: int(row, "version")?,
    })
}

/// An unsigned count or index as the `bigint` the schema stores.
pub(crate) fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Internal(format!("{value} exceeds bigint")))
}

fn unsigned(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    let value = int(row, column)?;
    u64::try_from(value).map_err(|_| corrupt(column, &value.to_string()))
}

fn address(row: &AnyRow, column: &str) -> Result<Address, StoreError> {
    parsed(row, column, Address::parse_any)
}

/// Columns of `chain_transfers`.
pub(crate) const TRANSFER_COLUMNS: &str = "chain, tx_hash, log_index, block_number, block_hash, \
    block_time, token, from_address, to_address, cast(amount as text) as amount, order_sysid, \
    state, observed_at";

pub(crate) fn transfer_from_row(row: &AnyRow) -> Result<Transfer, StoreError> {
    Ok(Transfer {
        chain: parsed(row, "chain", ChainKey::parse)?,
        tx_hash: text(row, "tx_hash")?,
        log_index: unsigned(row, "log_index")?,
        block_number: unsigned(row, "block_number")?,
        block_hash: text(row, "block_hash")?,
        block_time: time(row, "block_time")?,
        token: parsed(row, "token", TokenId::parse)?,
        from: address(row, "from_address")?,
        to: address(row, "to_address")?,
        amount: amount(row, "amount")?,
        order_sysid: text(row, "order_sysid")?,
        state: parsed(row, "state", TransferState::parse)?,
        observed_at: time(row, "observed_at")?,
    })
}

/// Columns of `abnormal_payments`.
pub(crate) const ABNORMAL_COLUMNS: &str = "abnormal_payment_no, app_id, order_sysid, order_no, \
    token, kind, cast(amount as text) as amount, cast(pending_amount as text) as pending_amount, \
    tx_hash, payer_address, status, created_at, updated_at, version";

pub(crate) fn abnormal_from_row(row: &AnyRow) -> Result<AbnormalPayment, StoreError> {
    let payer = opt_text(row, "payer_address")?;
    let payer = match payer {
        Some(text) => {
            Some(Address::parse_any(&text).ok_or_else(|| corrupt("payer_address", &text))?)
        }
        None => None,
    };
    Ok(AbnormalPayment {
        abnormal_payment_no: text(row, "abnormal_payment_no")?,
        app_id: AppId::new(text(row, "app_id")?),
        order_sysid: text(row, "order_sysid")?,
        order_no: parsed(row, "order_no", IntegratorNo::parse)?,
        token: parsed(row, "token", TokenId::parse)?,
        kind: parsed(row, "kind", AbnormalKind::parse)?,
        amount: amount(row, "amount")?,
        pending_amount: amount(row, "pending_amount")?,
        tx_hash: opt_text(row, "tx_hash")?,
        payer,
        status: parsed(row, "status", AbnormalStatus::parse)?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        version: int(row, "version")?,
    })
}
