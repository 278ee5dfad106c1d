//! What the console reads about orders: a search across apps by order number, sysid, deposit
//! address or transaction hash, and one order with its chain transfers. Every answer is cut to
//! what the operator may see: an order of another app is as absent as one that does not exist.

use std::collections::BTreeMap;

use std::net::IpAddr;
use wcheckout_domain::address::Address;
use wcheckout_domain::ids::{AppId, IntegratorNo};

use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::payment::Transfer;
use wcheckout_domain::ports::{Cursor, Keyset, KeysetPage, OrderFilter, PageRequest};

use crate::console::actor_of;
use crate::console_history::OrderHistory;
use crate::console_lists::page_keyset;
pub use crate::console_lists::{ConsoleList, Export, LIST_PAGE_SIZE};
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::wire::OrderView;

/// One order as the console shows it: the integrator's view, its app and its transfers.
#[derive(Debug, Clone)]
pub struct ConsoleOrder {
    /// The order's app.
    pub app_id: String,
    /// The order as the API shows it.
    pub view: OrderView,
    /// Transfers to its deposit address, oldest first.
    pub transfers: Vec<ConsoleTransfer>,
    /// Its timeline, refunds, abnormal payments and webhooks.
    pub history: OrderHistory,
}

/// At most this many orders of one customer found by a search.
pub const SEARCH_CUSTOMER_LIMIT: u32 = 100;

/// A transfer on an order's page: its explorer link (when the chain has an
/// `explorer_tx_url`) and its confirmations by the chain head the watcher last saw.
#[derive(Debug, Clone)]
pub struct ConsoleTransfer {
    /// The transfer.
    pub transfer: Transfer,
    /// Its transaction's page on the chain's explorer.
    pub explorer_url: Option<String>,
    /// Blocks from its block to the head, both counted (`None` before the chain's head is
    /// known).
    pub confirmations: Option<u64>,
}

/// Confirmations of a transfer in `block` under the head `head`: the block itself counts, a
/// head below it (not seen yet) gives none.
pub fn confirmations(block: u64, head: u64) -> u64 {
    head.checked_sub(block)
        .map_or(0, |behind| behind.saturating_add(1))
}

/// The longest text a search looks up (every identifier it finds is far shorter).
const MAX_SEARCH_LEN: usize = 128;

/// Whether `text` could be one of the identifiers searched: short, printable ASCII. Anything
/// else (a control character, which PostgreSQL refuses in text) finds nothing without a query.
fn searchable(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_SEARCH_LEN && text.bytes().all(|b| b.is_ascii_graphic())
}

/// A page of one app's orders, with the apps the operator may choose from.
pub type ConsoleOrderList = ConsoleList<OrderView>;

/// The apps an operator sees, oldest first, and the one a list shows: its own app when it is
/// bound to one, else the one asked for, else the first (`None` when there is no app yet).
pub type AppChoice = (Vec<AppId>, Option<AppId>);

impl Gateway {
    /// The apps `operator` sees and the one chosen from `asked` (empty asks for none); `None`
    /// when the operator may not see the app asked for or it does not exist.
    pub async fn console_app_choice(
        &self,
        operator: &Operator,
        asked: Option<&str>,
    ) -> Result<Option<AppChoice>, ServiceError> {
        let all = self.store.apps().await?.into_iter().map(|a| a.id);
        let apps: Vec<AppId> = all.filter(|id| operator.sees_app(id)).collect();
        let chosen = match asked.filter(|id| !id.is_empty()) {
            Some(id) => match apps.iter().find(|own| own.as_str() == id) {
                Some(found) => Some(found.clone()),
                None => return Ok(None),
            },
            None => apps.first().cloned(),
        };
        Ok(Some((apps, chosen)))
    }

    /// How many orders the operator sees in each status, in the statuses' order: for every app
    /// from the counts kept for metrics, for one app from its indexed list's totals.
    pub async fn console_orders_by_status(
        &self,
        operator: &Operator,
    ) -> Result<Vec<(OrderStatus, u64)>, ServiceError> {
        let mut counts = Vec::with_capacity(OrderStatus::ALL.len());
        match &operator.app {
            None => {
                let all = self.store.count_orders_by_status().await?;
                for status in OrderStatus::ALL {
                    let found = all.iter().find(|(s, _)| *s == status);
                    counts.push((status, found.map_or(0, |(_, n)| *n)));
                }
            }
            Some(app) => {
                let one = PageRequest { page: 1, size: 1 };
                for status in OrderStatus::ALL {
                    let filter = OrderFilter {
                        status: Some(status),
                        ..OrderFilter::default()
                    };
                    counts.push((
                        status,
                        self.store.list_orders(app, &filter, one).await?.total,
                    ));
                }
            }
        }
        Ok(counts)
    }

    /// A page of the orders of `app` (the operator's own app when it is bound to one, else the
    /// first app when none is asked for) matching `filter`, after `after` (a keyset walk of the
    /// store's indexes, the same at any depth); `None` when the operator may not see that app
    /// or it does not exist.
    pub async fn console_list_orders(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &OrderFilter,
        after: Option<Cursor>,
    ) -> Result<Option<ConsoleOrderList>, ServiceError> {
        let keyset = page_keyset(after);
        self.console_app_list(operator, app, |app| async move {
            self.order_page(&app, filter, &keyset).await
        })
        .await
    }

    async fn order_page(
        &self,
        app: &AppId,
        filter: &OrderFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<OrderView>, ServiceError> {
        let page = self.store.order_keyset(app, filter, keyset).await?;
        Ok(KeysetPage {
            records: self.order_views(&page.records).await?,
            next: page.next,
            total: page.total,
        })
    }

    /// Orders `operator` may see whose order number, sysid, deposit address, (chain
    /// transaction) hash or customer id is `text`, newest first (at most
    /// [`SEARCH_CUSTOMER_LIMIT`] of a customer's). Each is one indexed lookup.
    pub async fn console_search_orders(
        &self,
        operator: &Operator,
        text: &str,
    ) -> Result<Vec<(AppId, OrderView)>, ServiceError> {
        let text = text.trim();
        let mut found = BTreeMap::new();
        let mut keep = |orders: Vec<Order>| {
            for order in orders.into_iter().filter(|o| operator.sees_app(&o.app_id)) {
                found.insert((order.created_at, order.sysid.clone()), order);
            }
        };
        if !searchable(text) {
            return Ok(Vec::new());
        }
        if let Some(no) = IntegratorNo::parse(text) {
            keep(self.store.orders_by_no_any_app(&no).await?);
        }
        keep(self.store.order_by_sysid(text).await?.into_iter().collect());
        if let Some(address) = Address::parse_any(text) {
            keep(self.store.orders_by_deposit_addresses(&[address]).await?);
        }
        keep(self.orders_paid_by_tx(text).await?);
        keep(
            self.store
                .orders_of_customer(text, SEARCH_CUSTOMER_LIMIT)
                .await?,
        );
        let newest_first: Vec<Order> = found.into_values().rev().collect();
        let views = self.order_views(&newest_first).await?;
        let apps = newest_first.into_iter().map(|order| order.app_id);
        Ok(apps.zip(views).collect())
    }

    /// Orders with a transfer in the transaction `tx_hash`, on any configured chain.
    async fn orders_paid_by_tx(&self, tx_hash: &str) -> Result<Vec<Order>, ServiceError> {
        let tx_hash = tx_hash.to_ascii_lowercase();
        let is_hash = tx_hash.len() == 66 && tx_hash.starts_with("0x");
        if !is_hash {
            return Ok(Vec::new());
        }
        let mut orders = Vec::new();
        for chain in self.tokens.chains() {
            let transfers = self.store.transfers_of_tx(&chain.key, &tx_hash).await?;
            for transfer in transfers {
                orders.extend(self.store.order_by_sysid(&transfer.order_sysid).await?);
            }
        }
        Ok(orders)
    }

    /// The order `sysid` with its transfers, when `operator` may see it.
    pub async fn console_order(
        &self,
        operator: &Operator,
        sysid: &str,
    ) -> Result<Option<ConsoleOrder>, ServiceError> {
        if !searchable(sysid) {
            return Ok(None);
        }
        let Some(order) = self.store.order_by_sysid(sysid).await? else {
            return Ok(None);
        };
        if !operator.sees_app(&order.app_id) {
            return Ok(None);
        }
        let transfers = self
            .store
            .transfers_of_orders(std::slice::from_ref(&order.sysid))
            .await?;
        let history = self.console_order_history(&order, &transfers).await?;
        let mut heads = BTreeMap::new();
        let mut shown = Vec::with_capacity(transfers.len());
        for transfer in transfers {
            let head = match heads.get(&transfer.chain) {
                Some(head) => *head,
                None => {
                    let cursor = self.store.chain_cursor(&transfer.chain).await?;
                    let head = cursor.map(|c| c.head_number).filter(|head| *head > 0);
                    heads.insert(transfer.chain.clone(), head);
                    head
                }
            };
            let chain = self.tokens.chains().find(|c| c.key == transfer.chain);
            let template = chain.and_then(|c| c.explorer_tx_url.as_deref());
            shown.push(ConsoleTransfer {
                explorer_url: template.map(|t| t.replace("{tx}", &transfer.tx_hash)),
                confirmations: head.map(|head| confirmations(transfer.block_number, head)),
                transfer,
            });
        }
        Ok(Some(ConsoleOrder {
            app_id: order.app_id.to_string(),
            view: self.order_view(&order).await?,
            transfers: shown,
            history,
        }))
    }

    /// Cancels the `PAYING` order `sysid` for `operator` (who must be allowed to, and see its
    /// app), through the integrator's own cancel use case, and audits it. `None` when the
    /// operator may not see the order or it does not exist.
    pub async fn console_cancel_order(
        &self,
        operator: &Operator,
        client: IpAddr,
        sysid: &str,
    ) -> Result<Option<OrderView>, ServiceError> {
        if !may(operator.role, ConsoleAction::CancelOrder) {
            let refused = format!("role {} may not cancel orders", operator.role);
            return Err(ServiceError::rejected(ErrorCode::Conflict, refused));
        }
        let visible = self.console_order(operator, sysid).await?;
        let Some(order) = visible else {
            return Ok(None);
        };
        let app_id = AppId::new(order.app_id);
        let app = self.store.app(&app_id).await?;
        let app = app.ok_or_else(|| ServiceError::internal("an order's app is missing"))?;
        let view = self.cancel_order(&app, Some(&order.view.order_no)).await?;
        let actor = actor_of(operator, client);
        audit(
            &*self.store,
            &actor,
            ConsoleAction::CancelOrder,
            sysid,
            self.clock.now(),
        )
        .await?;
        Ok(Some(view))
    }
}

impl Gateway {
    /// Every order of `app` (chosen as for the list) matching `filter`, newest first, up to
    /// [`EXPORT_LIMIT`](crate::console_lists::EXPORT_LIMIT); `None` when the operator may not
    /// see that app.
    pub async fn console_export_orders(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &OrderFilter,
    ) -> Result<Option<Export<OrderView>>, ServiceError> {
        self.console_app_export(operator, app, |app, keyset| async move {
            self.order_page(&app, filter, &keyset).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::confirmations;

    #[test]
    fn a_transfer_counts_its_own_block() {
        assert_eq!(confirmations(100, 100), 1);
        assert_eq!(confirmations(100, 111), 12);
        assert_eq!(confirmations(100, 99), 0);
    }
}
