//! The single write path for state changes: a change set is committed in one transaction,
//! each object with compare-and-set, together with the events announcing it.
//!
//! Change sets come in two sizes: one object (an API call, one credit) and a batch (the chain
//! watcher records every transfer of up to a thousand blocks, or credits hundreds of final
//! transfers, in one commit). Statements cost a round trip each, so the batch parts (transfer
//! records and state moves, ledger postings, events, checkpoints) are written with multi-row
//! statements whose outcome is checked exactly as the one-row statements would be: a batch of
//! compare-and-sets must touch every row it names, or the whole commit is a conflict. In SQLite
//! these statements take anonymous parameters ([`Engine::positional`]), which bind in linear
//! time where numbered ones take quadratic time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};
use wcheckout_domain::events::OutboxEvent;
use wcheckout_domain::ledger::Posting;
use wcheckout_domain::payment::{AbnormalPayment, Transfer, TransferKey, TransferState};
use wcheckout_domain::ports::{
    AbnormalChange, ChangeSet, ChangeStore, CommitError, CursorMove, OrderWrite, StoreError,
    TransferChange,
};
use wcheckout_domain::time::Timestamp;

use crate::engine::Engine;
use crate::rows::to_i64;
use crate::{AnyQuery, SqlStore, store_error};

pub(crate) type Tx = Transaction<'static, Any>;

/// Most rows in one multi-row statement: at 13 values a row (a transfer), well under SQLite's
/// 32,766 and PostgreSQL's 65,535 bound parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 200;

/// `($1, $2::numeric), ($3, $4::numeric), …`: `rows` tuples of one parameter per entry of
/// `casts` (each followed by its cast), numbered from `$first`.
pub(crate) fn value_rows(rows: usize, casts: &[&str], first: usize) -> String {
    let width = casts.len();
    let mut text = String::with_capacity(rows * width * 6);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for (column, cast) in casts.iter().enumerate() {
            if column > 0 {
                text.push_str(", ");
            }
            let index = first + row * width + column;
            let _ = write!(text, "${index}{cast}");
        }
        text.push(')');
    }
    text
}

/// An order write must move the version on by exactly one.
fn advances(write: &OrderWrite) -> Result<(), CommitError> {
    if write.order.version == write.expected_version.saturating_add(1) {
        Ok(())
    } else {
        Err(StoreError::Internal("order version must advance by one".into()).into())
    }
}

/// Binds an order write in the order both update statements take it: status, paid and refunded
/// amounts, tx hash, update time, new version, alert, then the key (sysid, expected version).
fn bind_order_write<'q>(query: AnyQuery<'q>, write: &'q OrderWrite) -> AnyQuery<'q> {
    let order = &write.order;
    query
        .bind(order.status.as_str())
        .bind(order.paid_amount.to_string())
        .bind(order.refunded_amount.to_string())
        .bind(order.tx_hash.as_deref())
        .bind(order.updated_at.micros())
        .bind(order.version)
        .bind(order.alert.as_deref())
        .bind(order.sysid.as_str())
        .bind(write.expected_version)
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
        self.lock_ledger_accounts(&mut tx, &changes, now).await?;
        if let Some(cursor) = &changes.cursor {
            self.move_cursor(&mut tx, cursor).await?;
        }
        // Postings of transfers recorded for the first time (or revived), in change order.
        let mut ledger: Vec<(&Posting, Timestamp)> = Vec::new();
        self.change_transfers(&mut tx, &changes.transfers, &mut ledger)
            .await?;
        self.update_orders(&mut tx, &changes.orders).await?;
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
        ledger.extend(changes.postings.iter().map(|posting| (posting, now)));
        self.post_all(&mut tx, &ledger).await?;
        insert_events(&mut tx, self.engine, &changes.events).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }
}

impl SqlStore {
    /// Order writes, compare-and-set on each version; many distinct orders go a hundred per
    /// statement (an `update … from (values …)` that must touch every order it names).
    async fn update_orders(&self, tx: &mut Tx, writes: &[OrderWrite]) -> Result<(), CommitError> {
        let distinct = writes
            .iter()
            .map(|w| w.order.sysid.as_str())
            .collect::<HashSet<_>>();
        if writes.len() < 2 || distinct.len() != writes.len() {
            // One order, or an order written twice in a row (each write sees the previous).
            for write in writes {
                self.update_order(tx, write).await?;
            }
            return Ok(());
        }
        for write in writes {
            advances(write)?;
        }
        for chunk in writes.chunks(ROWS_PER_STATEMENT / 2) {
            let numeric = self.numeric();
            let casts = ["", numeric, numeric, "", "", "", "", "", ""];
            let sql = self.engine.positional(format!(
                "update orders set status = v.column1, paid_amount = v.column2, \
                 refunded_amount = v.column3, tx_hash = v.column4, updated_at = v.column5, \
                 version = v.column6, alert = v.column7 from (values {}) as v \
                 where orders.sysid = v.column8 and orders.version = v.column9",
                value_rows(chunk.len(), &casts, 1)
            ));
            let mut query = sqlx::query(&sql);
            for write in chunk {
                query = bind_order_write(query, write);
            }
            let done = query.execute(&mut **tx).await.map_err(store_error)?;
            if done.rows_affected() != chunk.len() as u64 {
                return Err(CommitError::Conflict);
            }
        }
        Ok(())
    }

    async fn update_order(&self, tx: &mut Tx, write: &OrderWrite) -> Result<(), CommitError> {
        advances(write)?;
        let sql = self.engine.sql(
            "update orders set status = $1, paid_amount = $2::numeric, \
             refunded_amount = $3::numeric, tx_hash = $4, updated_at = $5, version = $6, \
             alert = $7 where sysid = $8 and version = $9",
        );
        let done = bind_order_write(sqlx::query(&sql), write)
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
        // One row per height, the last mark of a height winning (the new cursor last), as
        // one upsert after another would leave it; a statement may not upsert a row twice.
        let mut marks = BTreeMap::new();
        for mark in cursor.checkpoints.iter().chain(std::iter::once(&cursor.to)) {
            marks.insert(mark.number, mark.hash.as_str());
        }
        let marks = marks.into_iter().collect::<Vec<_>>();
        for chunk in marks.chunks(ROWS_PER_STATEMENT) {
            let sql = self.engine.positional(format!(
                "insert into chain_checkpoints (chain, block_number, block_hash) values {} \
                 on conflict (chain, block_number) do update set block_hash = excluded.block_hash",
                value_rows(chunk.len(), &[""; 3], 1)
            ));
            let mut query = sqlx::query(&sql);
            for (number, hash) in chunk {
                query = query.bind(chain).bind(to_i64(*number)?).bind(*hash);
            }
            query.execute(&mut **tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    /// Applies the transfer changes in order; consecutive records and consecutive state moves
    /// go in multi-row statements. The postings of records that turn out new (or revived) are
    /// appended to `ledger`.
    async fn change_transfers<'c>(
        &self,
        tx: &mut Tx,
        changes: &'c [TransferChange],
        ledger: &mut Vec<(&'c Posting, Timestamp)>,
    ) -> Result<(), CommitError> {
        let moved = moved_on_record(changes);
        // Records inserted already in the state their move names: the move is done.
        let mut settled = HashSet::new();
        let mut rest = changes;
        while let Some(first) = rest.first() {
            let run = rest
                .iter()
                .take_while(|c| same_kind(c, first))
                .count()
                .max(1);
            let (batch, after) = rest.split_at(run);
            match first {
                TransferChange::Record { .. } => {
                    let recorded = Recorded {
                        moved: &moved,
                        settled: &mut settled,
                    };
                    self.record_transfers(tx, batch, recorded, ledger).await?;
                }
                TransferChange::SetState { .. } => {
                    set_states(tx, self.engine, batch, &settled).await?;
                }
                TransferChange::ForgetPending(_) => {
                    for change in batch {
                        if let TransferChange::ForgetPending(key) = change {
                            forget_pending(tx, key).await?;
                        }
                    }
                }
            }
            rest = after;
        }
        Ok(())
    }

    /// Records transfers with multi-row inserts; those already known are revived when
    /// reversed (one by one: a rescan only). Each record's postings follow what it did.
    async fn record_transfers<'c>(
        &self,
        tx: &mut Tx,
        batch: &'c [TransferChange],
        recorded: Recorded<'_, 'c>,
        ledger: &mut Vec<(&'c Posting, Timestamp)>,
    ) -> Result<(), CommitError> {
        let records = batch
            .iter()
            .filter_map(|change| match change {
                TransferChange::Record {
                    transfer,
                    if_new,
                    if_revived,
                } => Some((transfer, if_new, if_revived)),
                TransferChange::SetState { .. } | TransferChange::ForgetPending(_) => None,
            })
            .collect::<Vec<_>>();
        let mut inserted = HashSet::new();
        for chunk in records.chunks(ROWS_PER_STATEMENT) {
            let transfers = chunk.iter().map(|(t, _, _)| *t).collect::<Vec<_>>();
            inserted.extend(
                self.insert_transfers(tx, &transfers, recorded.moved)
                    .await?,
            );
        }
        recorded.settled.extend(
            inserted
                .iter()
                .filter(|key| recorded.moved.contains_key(*key))
                .copied(),
        );
        let mut handled = HashSet::new();
        for (transfer, if_new, if_revived) in records {
            let key = key_of(transfer);
            // A key named twice is inserted once: the second record finds it known.
            let first_time = handled.insert(key);
            let postings = if first_time && inserted.contains(&key) {
                if_new
            } else {
                if !self.revive_transfer(tx, transfer).await? {
                    continue;
                }
                if_revived
            };
            ledger.extend(postings.iter().map(|p| (p, transfer.observed_at)));
        }
        Ok(())
    }

    /// Inserts the transfers not recorded yet, each in the state `moved` gives it if any;
    /// returns the keys of those it inserted.
    async fn insert_transfers<'t>(
        &self,
        tx: &mut Tx,
        transfers: &[&'t Transfer],
        moved: &HashMap<Key<'_>, &str>,
    ) -> Result<HashSet<Key<'t>>, CommitError> {
        let sql = self.engine.positional(format!(
            "insert into chain_transfers (chain, tx_hash, log_index, block_number, block_hash, \
             block_time, token, from_address, to_address, amount, order_sysid, state, \
             observed_at) values {} on conflict (chain, tx_hash, log_index) do nothing \
             returning chain, tx_hash, log_index",
            value_rows(transfers.len(), &self.transfer_casts(), 1)
        ));
        let mut query = sqlx::query(&sql);
        for transfer in transfers {
            let state = moved
                .get(&key_of(transfer))
                .copied()
                .unwrap_or(transfer.state.as_str());
            query = query
                .bind(transfer.chain.as_str())
                .bind(transfer.tx_hash.as_str())
                .bind(to_i64(transfer.log_index)?)
                .bind(to_i64(transfer.block_number)?)
                .bind(transfer.block_hash.as_str())
                .bind(transfer.block_time.micros())
                .bind(transfer.token.as_str())
                .bind(transfer.from.storage_key())
                .bind(transfer.to.storage_key())
                .bind(transfer.amount.to_string())
                .bind(transfer.order_sysid.as_str())
                .bind(state)
                .bind(transfer.observed_at.micros());
        }
        let rows = query.fetch_all(&mut **tx).await.map_err(store_error)?;
        let keys = transfers
            .iter()
            .map(|t| {
                let key = key_of(t);
                ((key.0.to_owned(), key.1.to_owned(), key.2), key)
            })
            .collect::<HashMap<_, _>>();
        let mut inserted = HashSet::with_capacity(rows.len());
        for row in &rows {
            let chain: String = row.try_get("chain").map_err(store_error)?;
            let hash: String = row.try_get("tx_hash").map_err(store_error)?;
            let index: i64 = row.try_get("log_index").map_err(store_error)?;
            let index = u64::try_from(index)
                .map_err(|_| StoreError::Internal("negative log index".into()))?;
            if let Some(key) = keys.get(&(chain, hash, index)) {
                inserted.insert(*key);
            }
        }
        Ok(inserted)
    }

    /// The casts of a transfer row's parameters (its amount is the tenth).
    fn transfer_casts(&self) -> [&'static str; 13] {
        let mut casts = [""; 13];
        casts[9] = self.numeric();
        casts
    }

    /// Revives a reversed transfer seen again under the same key (`CREDITED` again, in its
    /// new block); says whether it did. A transfer neither new nor reversed is left as it is.
    async fn revive_transfer(&self, tx: &mut Tx, transfer: &Transfer) -> Result<bool, CommitError> {
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
        Ok(revived.rows_affected() == 1)
    }

    /// The cast a token amount parameter needs (`NUMERIC` on PostgreSQL, text in SQLite).
    pub(crate) fn numeric(&self) -> &'static str {
        self.engine.numeric()
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
            .bind(payment.payer.map(|p| p.storage_key()))
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

/// Moves transfers' states, compare-and-set: every key must be in its expected state, or
/// the commit is a conflict (as the first one-row update touching nothing would make it).
/// Distinct transfers move together, grouped by their move; a transfer named twice (moved on
/// from the state the first move left) is moved one change at a time, in order.
async fn set_states(
    tx: &mut Tx,
    engine: Engine,
    batch: &[TransferChange],
    settled: &HashSet<Key<'_>>,
) -> Result<(), CommitError> {
    let moves = batch
        .iter()
        .filter_map(|change| match change {
            TransferChange::SetState { key, from, to } => {
                Some(((key.chain.as_str(), from.as_str(), to.as_str()), key))
            }
            TransferChange::Record { .. } | TransferChange::ForgetPending(_) => None,
        })
        .filter(|(_, key)| !settled.contains(&key_ref(key)))
        .collect::<Vec<_>>();
    let distinct = moves
        .iter()
        .map(|(_, key)| key_ref(key))
        .collect::<HashSet<_>>();
    if distinct.len() != moves.len() {
        for (movement, key) in moves {
            move_states(tx, engine, movement, &[key]).await?;
        }
        return Ok(());
    }
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&TransferKey>> = BTreeMap::new();
    for (movement, key) in moves {
        groups.entry(movement).or_default().push(key);
    }
    for (movement, keys) in groups {
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            move_states(tx, engine, movement, chunk).await?;
        }
    }
    Ok(())
}

/// Moves the distinct transfers `keys` of `chain` from state `from` to `to`, all or conflict.
async fn move_states(
    tx: &mut Tx,
    engine: Engine,
    (chain, from, to): (&str, &str, &str),
    keys: &[&TransferKey],
) -> Result<(), CommitError> {
    // A join with the keys, not `(tx_hash, log_index) in (…)`: PostgreSQL plans that as one
    // index scan per key, which took longer to plan than to run.
    let last = 2 + 2 * keys.len();
    let sql = engine.positional(format!(
        "update chain_transfers set state = $1 from (values {}) as k \
         where chain_transfers.tx_hash = k.column1 and chain_transfers.log_index = k.column2 \
         and chain_transfers.chain = ${} and chain_transfers.state = ${}",
        value_rows(keys.len(), &["", ""], 2),
        last,
        last + 1
    ));
    let mut query = sqlx::query(&sql).bind(to);
    for key in keys {
        query = query
            .bind(key.tx_hash.as_str())
            .bind(to_i64(key.log_index)?);
    }
    let query = query.bind(chain).bind(from);
    let done = query.execute(&mut **tx).await.map_err(store_error)?;
    if done.rows_affected() == keys.len() as u64 {
        Ok(())
    } else {
        Err(CommitError::Conflict)
    }
}

/// Inserts outbox events, a few hundred per statement.
async fn insert_events(
    tx: &mut Tx,
    engine: Engine,
    events: &[OutboxEvent],
) -> Result<(), CommitError> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let sql = engine.positional(format!(
            "insert into webhook_events (event_id, app_id, event_type, object_key, body, \
             created_at, next_attempt_at) values {}",
            value_rows(chunk.len(), &[""; 7], 1)
        ));
        let mut query = sqlx::query(&sql);
        for event in chunk {
            query = query
                .bind(event.event_id.as_str())
                .bind(event.app_id.as_str())
                .bind(event.event_type.as_str())
                .bind(event.object_key.as_str())
                .bind(event.body.as_str())
                .bind(event.created_at.micros())
                .bind(event.created_at.micros());
        }
        query.execute(&mut **tx).await.map_err(store_error)?;
    }
    Ok(())
}

/// `$first, …, $(first + count - 1)`: the parameters of an `IN (…)` list.
pub(crate) fn placeholders(count: usize, first: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A transfer's key as the commit path compares it: chain, tx hash, log index.
type Key<'a> = (&'a str, &'a str, u64);

fn key_of(transfer: &Transfer) -> Key<'_> {
    (
        transfer.chain.as_str(),
        transfer.tx_hash.as_str(),
        transfer.log_index,
    )
}

fn key_ref(key: &TransferKey) -> Key<'_> {
    (key.chain.as_str(), key.tx_hash.as_str(), key.log_index)
}

/// What recording needs to know of the moves that follow it in the same change set.
struct Recorded<'m, 'c> {
    /// The state each transfer recorded here is moved to by the change set's one later move.
    moved: &'m HashMap<Key<'c>, &'c str>,
    /// Filled with the keys inserted already in that state.
    settled: &'m mut HashSet<Key<'c>>,
}

/// Transfers recorded by a change set and then moved once, from the state they are recorded
/// in, by a later change of the same set (the watcher records a transfer and credits it in
/// one commit): the state each is moved to. A new record can be inserted in that state, which
/// spares updating the row it has just written; a record that finds its transfer already
/// stored still makes the move, compare-and-set. Transfers named by any other change of the
/// set are left out.
fn moved_on_record(changes: &[TransferChange]) -> HashMap<Key<'_>, &str> {
    let mut named: HashMap<Key<'_>, usize> = HashMap::new();
    let mut recorded: HashMap<Key<'_>, &str> = HashMap::new();
    let mut moved = HashMap::new();
    for change in changes {
        let key = match change {
            TransferChange::Record { transfer, .. } => {
                recorded.insert(key_of(transfer), transfer.state.as_str());
                key_of(transfer)
            }
            TransferChange::SetState { key, from, to } => {
                let key = key_ref(key);
                if recorded.get(&key) == Some(&from.as_str()) {
                    moved.insert(key, to.as_str());
                }
                key
            }
            TransferChange::ForgetPending(key) => key_ref(key),
        };
        *named.entry(key).or_default() += 1;
    }
    moved.retain(|key, _| named.get(key) == Some(&2));
    moved
}

/// Whether two transfer changes can share a multi-row statement.
fn same_kind(a: &TransferChange, b: &TransferChange) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
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
