//! Rows of refunds, settlements, payouts and signed transactions.

use sqlx::any::AnyRow;
use wcheckout_domain::address::Address;
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus, SignedTx, Signer};
use wcheckout_domain::ports::StoreError;
use wcheckout_domain::refund::{Refund, RefundSource, RefundStatus};
use wcheckout_domain::settlement::{Destination, Settlement, SettlementStatus};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{ChainKey, TokenId};

use crate::rows::{amount, int, opt_text, text, time};

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("column {column} holds an invalid value '{value}'"))
}

fn parsed<T>(
    row: &AnyRow,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let value = text(row, column)?;
    parse(&value).ok_or_else(|| corrupt(column, &value))
}

fn address(row: &AnyRow, column: &str) -> Result<Address, StoreError> {
    parsed(row, column, Address::parse_any)
}

fn opt_unsigned(row: &AnyRow, column: &str) -> Result<Option<u64>, StoreError> {
    use sqlx::Row;
    let value: Option<i64> = row.try_get(column).map_err(crate::store_error)?;
    value
        .map(|v| u64::try_from(v).map_err(|_| corrupt(column, &v.to_string())))
        .transpose()
}

fn opt_time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    use sqlx::Row;
    let value: Option<i64> = row.try_get(column).map_err(crate::store_error)?;
    Ok(value.map(Timestamp::from_micros))
}

pub(crate) const REFUND_COLUMNS: &str = "sysid, app_id, refund_order_no, order_sysid, order_no, \
    merchant_id, abnormal_payment_no, token, cast(amount as text) as amount, address, remark, \
    status, tx_hash, failure_reason, request_fingerprint, created_at, updated_at, version";

pub(crate) fn refund_from_row(row: &AnyRow) -> Result<Refund, StoreError> {
    let source = match opt_text(row, "abnormal_payment_no")? {
        Some(no) => RefundSource::AbnormalPayment(no),
        None => RefundSource::Order,
    };
    Ok(Refund {
        sysid: text(row, "sysid")?,
        app_id: AppId::new(text(row, "app_id")?),
        refund_order_no: parsed(row, "refund_order_no", IntegratorNo::parse)?,
        order_sysid: text(row, "order_sysid")?,
        order_no: parsed(row, "order_no", IntegratorNo::parse)?,
        merchant_id: text(row, "merchant_id")?,
        source,
        token: parsed(row, "token", TokenId::parse)?,
        amount: amount(row, "amount")?,
        address: address(row, "address")?,
        remark: opt_text(row, "remark")?,
        status: parsed(row, "status", RefundStatus::parse)?,
        tx_hash: opt_text(row, "tx_hash")?,
        failure_reason: opt_text(row, "failure_reason")?,
        request_fingerprint: text(row, "request_fingerprint")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        version: int(row, "version")?,
    })
}

pub(crate) const SETTLEMENT_COLUMNS: &str = "sysid, app_id, settlement_order_no, merchant_id, \
    token, cast(amount as text) as amount, address, fiat, bank_account, order_nos, status, \
    approved, tx_hash, bank_reference, failure_reason, request_fingerprint, created_at, \
    updated_at, version";

pub(crate) fn settlement_from_row(row: &AnyRow) -> Result<Settlement, StoreError> {
    let destination = match opt_text(row, "address")? {
        Some(text) => Destination::OnChain(
            Address::parse_any(&text).ok_or_else(|| corrupt("address", &text))?,
        ),
        None => Destination::Bank {
            fiat: opt_text(row, "fiat")?.unwrap_or_default(),
            account: opt_text(row, "bank_account")?.unwrap_or_default(),
        },
    };
    let order_nos = text(row, "order_nos")?;
    let order_nos: Vec<String> =
        serde_json_lite(&order_nos).ok_or_else(|| corrupt("order_nos", &order_nos))?;
    Ok(Settlement {
        sysid: text(row, "sysid")?,
        app_id: AppId::new(text(row, "app_id")?),
        settlement_order_no: parsed(row, "settlement_order_no", IntegratorNo::parse)?,
        merchant_id: text(row, "merchant_id")?,
        token: parsed(row, "token", TokenId::parse)?,
        amount: amount(row, "amount")?,
        destination,
        order_nos,
        status: parsed(row, "status", SettlementStatus::parse)?,
        approved: int(row, "approved")? != 0,
        tx_hash: opt_text(row, "tx_hash")?,
        bank_reference: opt_text(row, "bank_reference")?,
        failure_reason: opt_text(row, "failure_reason")?,
        request_fingerprint: text(row, "request_fingerprint")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        version: int(row, "version")?,
    })
}

/// `["a","b"]` of integrator numbers (no escapes needed: they are `[A-Za-z0-9_-]`).
fn serde_json_lite(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|item| {
            item.trim()
                .strip_prefix('"')?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .collect()
}

/// `order_nos` as stored.
pub(crate) fn order_nos_text(order_nos: &[String]) -> String {
    let items = order_nos
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>();
    format!("[{}]", items.join(","))
}

/// A signer as stored: `HOT` or `DEPOSIT:{index}`.
pub(crate) fn signer_text(signer: Signer) -> String {
    match signer {
        Signer::HotWallet => "HOT".into(),
        Signer::Deposit(index) => format!("DEPOSIT:{index}"),
    }
}

fn parse_signer(text: &str) -> Option<Signer> {
    match text {
        "HOT" => Some(Signer::HotWallet),
        other => other
            .strip_prefix("DEPOSIT:")?
            .parse()
            .ok()
            .map(Signer::Deposit),
    }
}

/// An asset as stored: the token id, or `{CHAIN}_NATIVE`.
pub(crate) fn asset_text(asset: &Asset) -> String {
    asset.to_string()
}

fn parse_asset(text: &str) -> Option<Asset> {
    match text.strip_suffix("_NATIVE") {
        Some(chain) => ChainKey::parse(chain).map(Asset::Native),
        None => TokenId::parse(text).map(Asset::Token),
    }
}

pub(crate) const PAYOUT_COLUMNS: &str = "id, chain, kind, reference, signer, from_address, \
    to_address, asset, cast(amount as text) as amount, status, nonce, tx_hash, \
    cast(fee as text) as fee, note, not_before, created_at, updated_at, version";

pub(crate) fn payout_from_row(row: &AnyRow) -> Result<Payout, StoreError> {
    let fee = opt_text(row, "fee")?;
    let fee = match fee {
        Some(text) => Some(
            text.parse::<u128>()
                .map(wcheckout_domain::money::TokenAmount::from_base_units)
                .map_err(|_| corrupt("fee", &text))?,
        ),
        None => None,
    };
    Ok(Payout {
        id: text(row, "id")?,
        chain: parsed(row, "chain", ChainKey::parse)?,
        kind: parsed(row, "kind", PayoutKind::parse)?,
        reference: text(row, "reference")?,
        signer: parsed(row, "signer", parse_signer)?,
        from: address(row, "from_address")?,
        to: address(row, "to_address")?,
        asset: parsed(row, "asset", parse_asset)?,
        amount: amount(row, "amount")?,
        status: parsed(row, "status", PayoutStatus::parse)?,
        nonce: opt_unsigned(row, "nonce")?,
        tx_hash: opt_text(row, "tx_hash")?,
        fee,
        note: opt_text(row, "note")?,
        not_before: time(row, "not_before")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        version: int(row, "version")?,
    })
}

pub(crate) const SIGNED_TX_COLUMNS: &str = "tx_hash, payout_id, raw, nonce, \
    cast(max_fee_per_gas as text) as max_fee_per_gas, \
    cast(max_priority_fee_per_gas as text) as max_priority_fee_per_gas, signed_at, expires_at";

pub(crate) fn signed_tx_from_row(row: &AnyRow) -> Result<SignedTx, StoreError> {
    let wei = |column: &str| {
        let value = text(row, column)?;
        value.parse::<u128>().map_err(|_| corrupt(column, &value))
    };
    Ok(SignedTx {
        payout_id: text(row, "payout_id")?,
        tx_hash: text(row, "tx_hash")?,
        raw: text(row, "raw")?,
        nonce: opt_unsigned(row, "nonce")?,
        max_fee_per_gas: wei("max_fee_per_gas")?,
        max_priority_fee_per_gas: wei("max_priority_fee_per_gas")?,
        signed_at: time(row, "signed_at")?,
        expires_at: opt_time(row, "expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_round_trip() {
        let nos = vec!["a-1".to_owned(), "B_2".to_owned()];
        assert_eq!(serde_json_lite(&order_nos_text(&nos)), Some(nos));
        assert_eq!(serde_json_lite("[]"), Some(Vec::new()));
    }

    #[test]
    fn signers_and_assets_round_trip() {
        for signer in [Signer::HotWallet, Signer::Deposit(42)] {
            assert_eq!(parse_signer(&signer_text(signer)), Some(signer));
        }
        let native = Asset::Native(ChainKey::parse("ETH").unwrap());
        assert_eq!(parse_asset(&asset_text(&native)), Some(native));
        let token = Asset::Token(TokenId::parse("ETH_USDT").unwrap());
        assert_eq!(parse_asset(&asset_text(&token)), Some(token));
    }
}
