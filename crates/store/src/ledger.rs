//! Ledger postings of a change set: every account it may touch is locked in name order first,
//! then each posting is checked in order (no guarded account below zero unless the posting is a
//! correction), each account read and written once, and the entries inserted a few hundred
//! rows per statement, so one posting and the chain watcher's thousands take the same path.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;
use wcheckout_domain::ledger::{Posting, Totals};
use wcheckout_domain::ports::{ChangeSet, CommitError, StoreError, TransferChange};
use wcheckout_domain::time::Timestamp;

use crate::changes::{ROWS_PER_STATEMENT, Tx, placeholders, value_rows};
use crate::engine::Engine;
use crate::{SqlStore, store_error};

impl SqlStore {
    /// Locks every ledger account the change set may post to, in name order, a few hundred at a
    /// time, before anything else (PostgreSQL; SQLite has one writer): all commits take account
    /// locks in the same order, so concurrent commits wait for each other instead of
    /// deadlocking.
    pub(crate) async fn lock_ledger_accounts(
        &self,
        tx: &mut Tx,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<(), CommitError> {
        if self.engine != Engine::Postgres {
            return Ok(());
        }
        let accounts = possible_postings(changes)
            .flat_map(|p| [p.debit.key(), p.credit.key()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>();
        for chunk in accounts.chunks(ROWS_PER_STATEMENT) {
            create_accounts(tx, self.engine, chunk, now).await?;
            let sql = self.engine.positional(format!(
                "select account from ledger_accounts where account in ({}) \
                 order by account for update",
                placeholders(chunk.len(), 1)
            ));
            let mut query = sqlx::query(&sql);
            for account in chunk {
                query = query.bind(account.as_str());
            }
            query.fetch_all(&mut **tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    /// Applies postings in order, refusing any that takes a guarded account below zero (unless
    /// it is a correction), reading each account's totals once, then writing
    /// each account's totals once and every entry, a few hundred rows per statement.
    pub(crate) async fn post_all(
        &self,
        tx: &mut Tx,
        postings: &[(&Posting, Timestamp)],
    ) -> Result<(), CommitError> {
        let postings = postings
            .iter()
            .filter(|(p, _)| !p.amount.is_zero())
            .map(|(p, at)| (*p, *at, p.debit.key(), p.credit.key()))
            .collect::<Vec<_>>();
        if postings.is_empty() {
            return Ok(());
        }
        let names = postings
            .iter()
            .flat_map(|(_, _, debit, credit)| [debit.clone(), credit.clone()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>();
        let mut totals = self.read_totals(tx, &names).await?;
        let mut touched: BTreeMap<&str, Timestamp> = BTreeMap::new();
        for (posting, at, debit_key, credit_key) in &postings {
            let amount = posting.amount.base_units();
            let debit = totals
                .get_mut(debit_key)
                .ok_or_else(|| missing(debit_key))?;
            debit.debits = debit.debits.checked_add(amount).ok_or_else(overflow)?;
            if posting.debit.guarded() && !posting.correction && debit.balance(false) < 0 {
                return Err(CommitError::Insufficient(debit_key.clone()));
            }
            let credit = totals
                .get_mut(credit_key)
                .ok_or_else(|| missing(credit_key))?;
            credit.credits = credit.credits.checked_add(amount).ok_or_else(overflow)?;
            touched.insert(debit_key, *at);
            touched.insert(credit_key, *at);
        }
        let written = touched
            .into_iter()
            .map(|(name, at)| (name, totals[name], at))
            .collect::<Vec<_>>();
        for chunk in written.chunks(ROWS_PER_STATEMENT) {
            let casts = ["", self.numeric(), self.numeric(), ""];
            let sql = self.engine.positional(format!(
                "insert into ledger_accounts (account, debits, credits, updated_at) values {} \
                 on conflict (account) do update set debits = excluded.debits, \
                 credits = excluded.credits, updated_at = excluded.updated_at",
                value_rows(chunk.len(), &casts, 1)
            ));
            let mut query = sqlx::query(&sql);
            for (name, sums, at) in chunk {
                query = query
                    .bind(*name)
                    .bind(sums.debits.to_string())
                    .bind(sums.credits.to_string())
                    .bind(at.micros());
            }
            query.execute(&mut **tx).await.map_err(store_error)?;
        }
        for chunk in postings.chunks(ROWS_PER_STATEMENT) {
            let casts = ["", "", self.numeric(), "", "", ""];
            let sql = self.engine.positional(format!(
                "insert into ledger_entries (debit_account, credit_account, amount, kind, \
                 reference, created_at) values {}",
                value_rows(chunk.len(), &casts, 1)
            ));
            let mut query = sqlx::query(&sql);
            for (posting, at, debit_key, credit_key) in chunk {
                query = query
                    .bind(debit_key.as_str())
                    .bind(credit_key.as_str())
                    .bind(posting.amount.base_units().to_string())
                    .bind(posting.kind.as_str())
                    .bind(posting.reference.as_str())
                    .bind(at.micros());
            }
            query.execute(&mut **tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    /// The totals of `names`. In PostgreSQL, `lock_ledger_accounts` has already created and
    /// locked, in this transaction, every account the change set may post to. In SQLite an
    /// account that does not exist yet starts at zero, and the write of the new totals creates
    /// it (its one writer connection runs one commit at a time).
    async fn read_totals(
        &self,
        tx: &mut Tx,
        names: &[String],
    ) -> Result<HashMap<String, Totals>, CommitError> {
        let mut totals = HashMap::with_capacity(names.len());
        if self.engine == Engine::Sqlite {
            totals.extend(names.iter().map(|name| (name.clone(), Totals::default())));
        }
        for chunk in names.chunks(ROWS_PER_STATEMENT) {
            let sql = self.engine.positional(format!(
                "select account, cast(debits as text) as debits, cast(credits as text) as credits \
                 from ledger_accounts where account in ({})",
                placeholders(chunk.len(), 1)
            ));
            let mut query = sqlx::query(&sql);
            for name in chunk {
                query = query.bind(name.as_str());
            }
            for row in query.fetch_all(&mut **tx).await.map_err(store_error)? {
                let parse = |column: &str| -> Result<u128, CommitError> {
                    let value: String = row.try_get(column).map_err(store_error)?;
                    value.parse().map_err(|_| {
                        StoreError::Internal(format!("ledger {column} '{value}'")).into()
                    })
                };
                let sums = Totals {
                    debits: parse("debits")?,
                    credits: parse("credits")?,
                };
                let name: String = row.try_get("account").map_err(store_error)?;
                totals.insert(name, sums);
            }
        }
        Ok(totals)
    }
}

/// Creates the ledger accounts of `names` that do not exist yet.
async fn create_accounts(
    tx: &mut Tx,
    engine: Engine,
    names: &[String],
    now: Timestamp,
) -> Result<(), CommitError> {
    let sql = engine.positional(format!(
        "insert into ledger_accounts (account, updated_at) values {} \
         on conflict (account) do nothing",
        value_rows(names.len(), &["", ""], 1)
    ));
    let mut query = sqlx::query(&sql);
    for name in names {
        query = query.bind(name.as_str()).bind(now.micros());
    }
    query.execute(&mut **tx).await.map_err(store_error)?;
    Ok(())
}

/// Every posting a change set may make: its own and those of transfers it records.
fn possible_postings(changes: &ChangeSet) -> impl Iterator<Item = &Posting> {
    let recorded = changes.transfers.iter().flat_map(|change| match change {
        TransferChange::Record {
            if_new, if_revived, ..
        } => if_new.iter().chain(if_revived.iter()).collect::<Vec<_>>(),
        TransferChange::SetState { .. } | TransferChange::ForgetPending(_) => Vec::new(),
    });
    changes
        .postings
        .iter()
        .chain(recorded)
        .filter(|p| !p.amount.is_zero())
}

fn missing(account: &str) -> CommitError {
    StoreError::Internal(format!("ledger account {account} vanished")).into()
}

fn overflow() -> CommitError {
    StoreError::Internal("ledger totals overflow".into()).into()
}
