//! Refunds, settlements, payouts and the ledger: queries.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use wcheckout_domain::address::Address;
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::ledger::Totals;
use wcheckout_domain::payment::AbnormalPayment;
use wcheckout_domain::payout::{Payout, PayoutKind, SignedTx};
use wcheckout_domain::ports::{
    LedgerCheck, MoneyStore, Page, PageRequest, RefundFilter, SettlementFilter, StoreError,
};
use wcheckout_domain::reconciliation::AssetReconciliation;
use wcheckout_domain::refund::Refund;
use wcheckout_domain::settlement::{Settlement, SettlementStatus};
use wcheckout_domain::token::ChainKey;

use crate::engine::Engine;
use crate::list::Conditions;
use crate::money_rows::{
    PAYOUT_COLUMNS, REFUND_COLUMNS, SETTLEMENT_COLUMNS, SIGNED_TX_COLUMNS, payout_from_row,
    refund_from_row, settlement_from_row, signed_tx_from_row,
};
use crate::rows::{ABNORMAL_COLUMNS, abnormal_from_row, int, text};
use crate::{SqlStore, store_error};

fn parse_u128(column: &str, value: &str) -> Result<u128, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Internal(format!("column {column} holds '{value}'")))
}

pub(crate) fn totals_from_row(row: &AnyRow) -> Result<(String, Totals), StoreError> {
    Ok((
        text(row, "account")?,
        Totals {
            debits: parse_u128("debits", &text(row, "debits")?)?,
            credits: parse_u128("credits", &text(row, "credits")?)?,
        },
    ))
}

pub(crate) const TOTALS_COLUMNS: &str =
    "account, cast(debits as text) as debits, cast(credits as text) as credits";

/// The `counters` row that holds new payouts while it is 1 (see [`crate::backup`]).
pub(crate) const PAYOUTS_HELD: &str = "payouts_held";

impl SqlStore {
    /// The row `sql` finds with its text arguments, as `T`. On the writer, which sees every
    /// commit, since payouts read what they have just written.
    async fn find_one<T>(
        &self,
        sql: &str,
        args: &[&str],
        from_row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let query = args.iter().fold(sqlx::query(sql), |q, arg| q.bind(*arg));
        let row = query
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every row `sql` finds with its text arguments, as `T` (on the writer, like [`Self::find_one`]).
    async fn find_all<T>(
        &self,
        sql: &str,
        args: &[&str],
        from_row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let query = args.iter().fold(sqlx::query(sql), |q, arg| q.bind(*arg));
        let rows = query.fetch_all(&self.writer).await.map_err(store_error)?;
        rows.iter().map(from_row).collect()
    }
}

#[async_trait]
impl MoneyStore for SqlStore {
    async fn refund_by_no(
        &self,
        app: &AppId,
        no: &IntegratorNo,
    ) -> Result<Option<Refund>, StoreError> {
        let sql = format!(
            "select {REFUND_COLUMNS} from refunds where app_id = $1 and refund_order_no = $2"
        );
        self.find_one(&sql, &[app.as_str(), no.as_str()], refund_from_row)
            .await
    }

    async fn refund(&self, sysid: &str) -> Result<Option<Refund>, StoreError> {
        let sql = format!("select {REFUND_COLUMNS} from refunds where sysid = $1");
        self.find_one(&sql, &[sysid], refund_from_row).await
    }

    async fn refunds_of_order(&self, order_sysid: &str) -> Result<Vec<Refund>, StoreError> {
        let sql = format!(
            "select {REFUND_COLUMNS} from refunds where order_sysid = $1 order by created_at, sysid"
        );
        self.find_all(&sql, &[order_sysid], refund_from_row).await
    }

    async fn list_refunds(
        &self,
        app: &AppId,
        filter: &RefundFilter,
        page: PageRequest,
    ) -> Result<Page<Refund>, StoreError> {
        let mut conditions = Conditions::for_app(app);
        conditions.equals("order_no", filter.order_no.as_deref());
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.created_between(filter.created_from, filter.created_to);
        self.page(
            "refunds",
            REFUND_COLUMNS,
            "sysid",
            &conditions,
            page,
            refund_from_row,
        )
        .await
    }

    async fn settlement_by_no(
        &self,
        app: &AppId,
        no: &IntegratorNo,
    ) -> Result<Option<Settlement>, StoreError> {
        let sql = format!(
            "select {SETTLEMENT_COLUMNS} from settlements where app_id = $1 and settlement_order_no = $2"
        );
        self.find_one(&sql, &[app.as_str(), no.as_str()], settlement_from_row)
            .await
    }

    async fn settlement(&self, sysid: &str) -> Result<Option<Settlement>, StoreError> {
        let sql = format!("select {SETTLEMENT_COLUMNS} from settlements where sysid = $1");
        self.find_one(&sql, &[sysid], settlement_from_row).await
    }

    async fn list_settlements(
        &self,
        app: &AppId,
        filter: &SettlementFilter,
        page: PageRequest,
    ) -> Result<Page<Settlement>, StoreError> {
        let mut conditions = Conditions::for_app(app);
        conditions.equals("merchant_id", filter.merchant_id.as_deref());
        conditions.equals("token", filter.token.as_deref());
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.created_between(filter.created_from, filter.created_to);
        self.page(
            "settlements",
            SETTLEMENT_COLUMNS,
            "sysid",
            &conditions,
            page,
            settlement_from_row,
        )
        .await
    }

    async fn settlements_in_status(
        &self,
        status: SettlementStatus,
        limit: u32,
    ) -> Result<Vec<Settlement>, StoreError> {
        let sql = format!(
            "select {SETTLEMENT_COLUMNS} from settlements where status = $1 \
             order by created_at, sysid limit {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(status.as_str())
            .fetch_all(&self.reader)
            .await;
        rows.map_err(store_error)?
            .iter()
            .map(settlement_from_row)
            .collect()
    }

    async fn abnormal_payment(&self, no: &str) -> Result<Option<AbnormalPayment>, StoreError> {
        let sql = format!(
            "select {ABNORMAL_COLUMNS} from abnormal_payments where abnormal_payment_no = $1"
        );
        self.find_one(&sql, &[no], abnormal_from_row).await
    }

    async fn abnormal_payments_of_order(
        &self,
        order_sysid: &str,
    ) -> Result<Vec<AbnormalPayment>, StoreError> {
        let sql = format!(
            "select {ABNORMAL_COLUMNS} from abnormal_payments where order_sysid = $1 order by created_at, abnormal_payment_no"
        );
        self.find_all(&sql, &[order_sysid], abnormal_from_row).await
    }

    async fn open_payouts(&self, chain: &ChainKey, limit: u32) -> Result<Vec<Payout>, StoreError> {
        let sql = format!(
            "select {PAYOUT_COLUMNS} from payouts where chain = $1 \
             and status in ('QUEUED', 'SIGNED', 'BROADCAST') order by created_at, id limit {limit}"
        );
        self.find_all(&sql, &[chain.as_str()], payout_from_row)
            .await
    }

    async fn payout(&self, id: &str) -> Result<Option<Payout>, StoreError> {
        let sql = format!("select {PAYOUT_COLUMNS} from payouts where id = $1");
        self.find_one(&sql, &[id], payout_from_row).await
    }

    async fn payout_by_reference(
        &self,
        kind: PayoutKind,
        reference: &str,
    ) -> Result<Option<Payout>, StoreError> {
        let sql =
            format!("select {PAYOUT_COLUMNS} from payouts where kind = $1 and reference = $2");
        self.find_one(&sql, &[kind.as_str(), reference], payout_from_row)
            .await
    }

    async fn signed_txs(&self, payout_id: &str) -> Result<Vec<SignedTx>, StoreError> {
        let sql = format!(
            "select {SIGNED_TX_COLUMNS} from payout_txs where payout_id = $1 order by signed_at, tx_hash"
        );
        self.find_all(&sql, &[payout_id], signed_tx_from_row).await
    }

    async fn payouts_held(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("select value from counters where name = $1")
            .bind(PAYOUTS_HELD)
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(row.map(|row| int(&row, "value")).transpose()? == Some(1))
    }

    async fn set_payouts_held(&self, held: bool) -> Result<bool, StoreError> {
        let mut tx = self.begin_read_write().await?;
        let before = sqlx::query("select value from counters where name = $1")
            .bind(PAYOUTS_HELD)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let before = before.map(|row| int(&row, "value")).transpose()? == Some(1);
        sqlx::query(
            "insert into counters (name, value) values ($1, $2) \
             on conflict (name) do update set value = excluded.value",
        )
        .bind(PAYOUTS_HELD)
        .bind(i64::from(held))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(before)
    }

    async fn next_nonce(
        &self,
        chain: &ChainKey,
        address: &Address,
    ) -> Result<Option<u64>, StoreError> {
        let row = sqlx::query("select next_nonce from nonces where chain = $1 and address = $2")
            .bind(chain.as_str())
            .bind(address.storage_key())
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        row.map(|row| {
            u64::try_from(int(&row, "next_nonce")?)
                .map_err(|_| StoreError::Internal("negative nonce".into()))
        })
        .transpose()
    }

    async fn ledger_totals(
        &self,
        accounts: &[String],
    ) -> Result<HashMap<String, Totals>, StoreError> {
        let mut totals = HashMap::new();
        for chunk in accounts.chunks(500) {
            let placeholders = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "select {TOTALS_COLUMNS} from ledger_accounts where account in ({placeholders})"
            );
            let mut query = sqlx::query(&sql);
            for account in chunk {
                query = query.bind(account.as_str());
            }
            for row in query.fetch_all(&self.writer).await.map_err(store_error)? {
                let (account, account_totals) = totals_from_row(&row)?;
                totals.insert(account, account_totals);
            }
        }
        Ok(totals)
    }

    async fn ledger_accounts(
        &self,
        prefix: &str,
        nonzero_only: bool,
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        // Account names contain `_`, a LIKE wildcard: match the prefix exactly with substr,
        // whose length counts characters on both engines (merchant ids may be non-ASCII).
        let nonzero = if nonzero_only {
            " and debits <> credits"
        } else {
            ""
        };
        // Byte order on both engines, whatever PostgreSQL's default collation.
        let order = match self.engine {
            Engine::Postgres => "account collate \"C\"",
            Engine::Sqlite => "account",
        };
        let sql = format!(
            "select {TOTALS_COLUMNS} from ledger_accounts \
             where substr(account, 1, {}) = $1{nonzero} order by {order}",
            prefix.chars().count()
        );
        let rows = sqlx::query(&sql)
            .bind(prefix)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter().map(totals_from_row).collect()
    }

    async fn ledger_check(&self) -> Result<LedgerCheck, StoreError> {
        let accounts = self.ledger_accounts("", false).await?;
        let entries = sqlx::query(
            "select debit_account, credit_account, cast(amount as text) as amount from ledger_entries",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        let mut recomputed: HashMap<String, Totals> = HashMap::new();
        let mut check = LedgerCheck {
            entries: u64::try_from(entries.len()).unwrap_or(u64::MAX),
            ..LedgerCheck::default()
        };
        for row in &entries {
            let amount = parse_u128("amount", &text(row, "amount")?)?;
            check.total = check.total.saturating_add(amount);
            let debit = recomputed.entry(text(row, "debit_account")?).or_default();
            debit.debits = debit.debits.saturating_add(amount);
            let credit = recomputed.entry(text(row, "credit_account")?).or_default();
            credit.credits = credit.credits.saturating_add(amount);
        }
        for (account, totals) in &accounts {
            check.account_debits = check.account_debits.saturating_add(totals.debits);
            check.account_credits = check.account_credits.saturating_add(totals.credits);
            if recomputed.get(account).copied().unwrap_or_default() != *totals {
                check.mismatched_accounts.push(account.clone());
            }
        }
        Ok(check)
    }

    async fn record_reconciliations(
        &self,
        results: &[AssetReconciliation],
    ) -> Result<(), StoreError> {
        self.insert_reconciliations(results).await
    }

    async fn last_reconciliations(&self) -> Result<Vec<AssetReconciliation>, StoreError> {
        self.select_last_reconciliations().await
    }
}
