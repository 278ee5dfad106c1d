//! Order creation's write, batched: the request signatures and orders of concurrent
//! CreateCheckoutOrder requests are written with one multi-row statement each, in one
//! transaction (see `group_commit`).
//!
//! One statement per batch instead of two per order is what order creation on PostgreSQL, whose
//! cost is the server's CPU per statement rather than its flushes, needed; and the signature
//! riding in the order's own transaction spares a lone client a second durable commit.

use std::collections::HashSet;

use sqlx::AnyConnection;
use wcheckout_domain::order::Order;
use wcheckout_domain::ports::{OrderInsert, SignatureUse, StoreError};

use crate::changes::value_rows;
use crate::engine::Engine;
use crate::group_commit::{BatchWrite, ConnFuture};
use crate::rows::{ORDER_COLUMNS, order_from_row, text, to_i64};
use crate::store_error;

/// One CreateCheckoutOrder's write: the order and, when the request was signed, its signature.
pub(crate) type OrderItem = (Order, Option<SignatureUse>);

/// Writes a batch of new orders and their request signatures.
pub(crate) struct OrderInserts {
    pub(crate) engine: Engine,
}

/// The columns of a new order, in the order `bind_order` binds them.
const INSERT_COLUMNS: &str = "sysid, app_id, order_no, merchant_id, customer_id, token, fiat, \
    order_amount, exchange_rate, paying_amount, min_accepted_amount, paid_amount, \
    refunded_amount, deposit_address, address_index, status, tx_hash, expires_at, \
    pc_callback_url, app_callback_url, page_token, request_fingerprint, created_at, \
    updated_at, version, alert";

impl BatchWrite for OrderInserts {
    type Item = OrderItem;
    type Output = OrderInsert;

    fn write<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        items: &'c [OrderItem],
    ) -> ConnFuture<'c, Result<Vec<OrderInsert>, StoreError>> {
        Box::pin(async move {
            let signatures: Vec<&SignatureUse> =
                items.iter().filter_map(|i| i.1.as_ref()).collect();
            let mut unclaimed = remember_signatures(self.engine, conn, &signatures).await?;
            // Each new signature admits one item: a repeat within the batch is a replay too.
            let admitted: Vec<bool> = items
                .iter()
                .map(|(_, signature)| signature.as_ref().is_none_or(|s| unclaimed.remove(&key(s))))
                .collect();
            let orders: Vec<&Order> = items
                .iter()
                .zip(&admitted)
                .filter_map(|((order, _), admitted)| admitted.then_some(order))
                .collect();
            let inserted = self.insert_orders(conn, &orders).await?;
            let mut outputs = Vec::with_capacity(items.len());
            for ((order, _), admitted) in items.iter().zip(admitted) {
                let output = if !admitted {
                    OrderInsert::Replayed
                } else if inserted.contains(order.sysid.as_str()) {
                    OrderInsert::New(order.clone())
                } else {
                    // The number was taken, possibly by an order of this very batch.
                    OrderInsert::Existing(existing_order(conn, order).await?)
                };
                outputs.push(output);
            }
            Ok(outputs)
        })
    }
}

/// A signature's identity in the replay guard.
fn key(signature: &SignatureUse) -> (String, String) {
    (
        signature.app.as_str().to_owned(),
        signature.signature_hash.clone(),
    )
}

/// Remembers the signatures; returns those not seen before (a repeat within the batch counts
/// as seen).
async fn remember_signatures(
    engine: Engine,
    conn: &mut AnyConnection,
    signatures: &[&SignatureUse],
) -> Result<HashSet<(String, String)>, StoreError> {
    if signatures.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = engine.positional(format!(
        "insert into seen_signatures (app_id, signature_hash, expires_at) values {} \
         on conflict (app_id, signature_hash) do nothing returning app_id, signature_hash",
        value_rows(signatures.len(), &["", "", ""], 1)
    ));
    let mut query = sqlx::query(&sql);
    for signature in signatures {
        query = query
            .bind(signature.app.as_str())
            .bind(signature.signature_hash.as_str())
            .bind(signature.expires_at.micros());
    }
    let rows = query.fetch_all(&mut *conn).await.map_err(store_error)?;
    rows.iter()
        .map(|row| Ok((text(row, "app_id")?, text(row, "signature_hash")?)))
        .collect()
}

impl OrderInserts {
    /// Inserts the orders whose numbers are free; returns the sysids inserted.
    async fn insert_orders(
        &self,
        conn: &mut AnyConnection,
        orders: &[&Order],
    ) -> Result<HashSet<String>, StoreError> {
        if orders.is_empty() {
            return Ok(HashSet::new());
        }
        let mut casts = [""; 26];
        // paying, min accepted, paid and refunded amounts.
        casts[9..13].fill(self.engine.numeric());
        let sql = self.engine.positional(format!(
            "insert into orders ({INSERT_COLUMNS}) values {} \
             on conflict (app_id, order_no) do nothing returning sysid",
            value_rows(orders.len(), &casts, 1)
        ));
        let mut query = sqlx::query(&sql);
        for order in orders {
            query = query
                .bind(order.sysid.as_str())
                .bind(order.app_id.as_str())
                .bind(order.order_no.as_str())
                .bind(order.merchant_id.as_str())
                .bind(order.customer_id.as_str())
                .bind(order.token.as_str())
                .bind(order.fiat.as_str())
                .bind(order.order_amount.to_string())
                .bind(order.exchange_rate.to_string())
                .bind(order.paying_amount.to_string())
                .bind(order.min_accepted_amount.to_string())
                .bind(order.paid_amount.to_string())
                .bind(order.refunded_amount.to_string())
                .bind(order.deposit_address.storage_key())
                .bind(to_i64(order.address_index)?)
                .bind(order.status.as_str())
                .bind(order.tx_hash.as_deref())
                .bind(order.expires_at.micros())
                .bind(order.pc_callback_url.as_deref())
                .bind(order.app_callback_url.as_deref())
                .bind(order.page_token.as_str())
                .bind(order.request_fingerprint.as_str())
                .bind(order.created_at.micros())
                .bind(order.updated_at.micros())
                .bind(order.version)
                .bind(order.alert.as_deref());
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(store_error)?;
        rows.iter().map(|row| text(row, "sysid")).collect()
    }
}

/// The order holding `order`'s number, seen from inside the batch's transaction.
async fn existing_order(conn: &mut AnyConnection, order: &Order) -> Result<Order, StoreError> {
    let sql = format!("select {ORDER_COLUMNS} from orders where app_id = $1 and order_no = $2");
    let row = sqlx::query(&sql)
        .bind(order.app_id.as_str())
        .bind(order.order_no.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
    order_from_row(&row)
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Executor};
    use wcheckout_domain::address::Address;
    use wcheckout_domain::ids::{AppId, IntegratorNo};
    use wcheckout_domain::money::{Decimal, TokenAmount};
    use wcheckout_domain::order::OrderStatus;
    use wcheckout_domain::time::Timestamp;
    use wcheckout_domain::token::TokenId;

    use super::*;

    fn order(no: &str, index: u64) -> Order {
        let at = Timestamp::from_micros(1_700_000_000_000_000);
        Order {
            sysid: format!("OR{index:019}"),
            app_id: AppId::new("app"),
            order_no: IntegratorNo::parse(no).unwrap(),
            merchant_id: "m".into(),
            customer_id: "c".into(),
            token: TokenId::parse("ETH_USDT").unwrap(),
            fiat: "USD".into(),
            order_amount: Decimal::parse("1").unwrap(),
            exchange_rate: Decimal::parse("1").unwrap(),
            paying_amount: TokenAmount::from_base_units(1_000_000),
            min_accepted_amount: TokenAmount::from_base_units(1_000_000),
            paid_amount: TokenAmount::ZERO,
            refunded_amount: TokenAmount::ZERO,
            deposit_address: Address::parse_any(&format!("0x{index:040x}")).unwrap(),
            address_index: index,
            status: OrderStatus::Paying,
            tx_hash: None,
            expires_at: at,
            pc_callback_url: None,
            app_callback_url: None,
            page_token: format!("page{index}"),
            request_fingerprint: "fp".into(),
            alert: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    fn signature(hash: &str) -> Option<SignatureUse> {
        Some(SignatureUse {
            app: AppId::new("app"),
            signature_hash: hash.into(),
            expires_at: Timestamp::from_micros(1),
        })
    }

    /// One batch holding a signature twice and a number twice: the repeats are a replay and
    /// an existing order, whatever the engine's statement returns for duplicate rows.
    #[tokio::test]
    async fn repeats_within_one_batch() {
        let pool = crate::group_commit::tests::memory_pool().await;
        crate::migrate::migrator(Engine::Sqlite)
            .run(&pool)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        conn.execute("pragma foreign_keys = off").await.unwrap();
        let items = vec![
            (order("A", 1), signature("s1")),
            (order("B", 2), signature("s1")),
            (order("A", 3), signature("s2")),
            (order("C", 4), None),
        ];
        let mut tx = conn.begin().await.unwrap();
        let writer = OrderInserts {
            engine: Engine::Sqlite,
        };
        let outputs = writer.write(&mut tx, &items).await.unwrap();
        assert_eq!(outputs[0], OrderInsert::New(items[0].0.clone()));
        assert_eq!(outputs[1], OrderInsert::Replayed);
        assert!(matches!(&outputs[2], OrderInsert::Existing(o) if o.sysid == items[0].0.sysid));
        assert_eq!(outputs[3], OrderInsert::New(items[3].0.clone()));
    }
}
