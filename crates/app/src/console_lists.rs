//! The console's lists: refunds, abnormal payments, payouts in flight and webhook deliveries
//! (the order and settlement lists live beside their pages), each read newest first a page at a
//! time by keyset through the store's one keyset query, and each also as a CSV export through
//! [`export_pages`]. Every answer is cut to what the operator may see: an app-bound operator
//! gets its own app's rows, and another app asked for by URL is absent (`None`, a 404).

use std::future::Future;
use std::net::IpAddr;

use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::payout::{Payout, PayoutKind, SignedTx};
use wcheckout_domain::ports::{
    AbnormalFilter, ConsoleRefundFilter, ConsoleWebhookFilter, Cursor, Keyset, KeysetPage,
    OutboxEntry, OutboxFilter,
};

use crate::console::actor_of;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::wire::{AbnormalPaymentView, RefundView};

/// Rows per page of the console's lists.
pub const LIST_PAGE_SIZE: u32 = 50;

/// A list page counts the rows matching its filter up to this many (beyond, it says "more
/// than"), so that the count costs at most this many index entries.
pub const LIST_COUNT_CAP: u64 = 10_000;

/// At most this many rows in one CSV export.
pub const EXPORT_LIMIT: u64 = 10_000;

/// Rows per read of an export: ten reads make a full export.
pub(crate) const EXPORT_PAGE: u32 = 1000;

/// What an export holds: the app listed (`None` when there is none yet, or for a list of every
/// app), its rows, and how many matched in all (more than the rows when the export was cut at
/// [`EXPORT_LIMIT`]).
#[derive(Debug, Clone)]
pub struct Export<T> {
    /// The app listed.
    pub app: Option<AppId>,
    /// The rows, newest first.
    pub rows: Vec<T>,
    /// Rows matching the filter.
    pub total: u64,
}

/// A page of one of the console's lists, with the apps the operator may choose from.
#[derive(Debug, Clone)]
pub struct ConsoleList<T> {
    /// The apps the operator sees, oldest first.
    pub apps: Vec<AppId>,
    /// The app listed (`None` when there is no app yet, or for a list of every app).
    pub app: Option<AppId>,
    /// The rows of this page, newest first.
    pub rows: Vec<T>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<Cursor>,
    /// Rows matching the filter in all pages, counted up to [`LIST_COUNT_CAP`].
    pub total: u64,
}

/// The first page's read, or the one after `after`.
pub fn page_keyset(after: Option<Cursor>) -> Keyset {
    Keyset {
        after,
        limit: LIST_PAGE_SIZE,
        count_up_to: Some(LIST_COUNT_CAP),
    }
}

/// Every row `read` gives, [`EXPORT_PAGE`] at a time along the keyset, up to [`EXPORT_LIMIT`],
/// and how many match in all (counted by the first read): the one export loop of every list.
pub async fn export_pages<T, F, Fut>(mut read: F) -> Result<(Vec<T>, u64), ServiceError>
where
    F: FnMut(Keyset) -> Fut,
    Fut: Future<Output = Result<KeysetPage<T>, ServiceError>>,
{
    let mut rows: Vec<T> = Vec::new();
    let mut total = 0;
    let mut after = None;
    let mut count_up_to = Some(u64::MAX);
    loop {
        let room = EXPORT_LIMIT.saturating_sub(rows.len() as u64);
        let limit = u32::try_from(room.min(u64::from(EXPORT_PAGE))).unwrap_or(EXPORT_PAGE);
        if limit == 0 {
            break;
        }
        let page = read(Keyset {
            after,
            limit,
            count_up_to: count_up_to.take(),
        })
        .await?;
        if let Some(counted) = page.total {
            total = counted;
        }
        rows.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok((rows, total))
}

/// A refund as its list shows it, with the order it refunds (for the link).
#[derive(Debug, Clone)]
pub struct ConsoleRefund {
    /// The refund as the API shows it.
    pub view: RefundView,
    /// Its order's sysid.
    pub order_sysid: String,
}

/// An abnormal payment as its list shows it, with its order (for the link).
#[derive(Debug, Clone)]
pub struct ConsoleAbnormal {
    /// The payment as the API shows it.
    pub view: AbnormalPaymentView,
    /// Its order's sysid.
    pub order_sysid: String,
}

/// A payout in flight with its signed transactions.
#[derive(Debug, Clone)]
pub struct ConsolePayout {
    /// The payout.
    pub payout: Payout,
    /// Its amount in its asset's units (`12.50`), or base units for an unknown asset.
    pub amount: String,
    /// Its fee paid, in the chain's native coin, once mined.
    pub fee: Option<String>,
    /// Every transaction signed for it, oldest first.
    pub txs: Vec<SignedTx>,
}

/// The filter of the payouts in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutListFilter {
    /// Only this kind.
    pub kind: Option<PayoutKind>,
}

impl Gateway {
    /// A page of an app-scoped list: `app` chosen as for the order list (the operator's own
    /// when bound to one), read by `read`; `None` when the operator may not see that app or it
    /// does not exist.
    pub(crate) async fn console_app_list<T, F, Fut>(
        &self,
        operator: &Operator,
        app: Option<&str>,
        read: F,
    ) -> Result<Option<ConsoleList<T>>, ServiceError>
    where
        F: FnOnce(AppId) -> Fut,
        Fut: Future<Output = Result<KeysetPage<T>, ServiceError>>,
    {
        let Some((apps, chosen)) = self.console_app_choice(operator, app).await? else {
            return Ok(None);
        };
        let Some(listed) = chosen.clone() else {
            return Ok(Some(ConsoleList {
                apps,
                app: None,
                rows: Vec::new(),
                next: None,
                total: 0,
            }));
        };
        let page = read(listed).await?;
        Ok(Some(ConsoleList {
            apps,
            app: chosen,
            rows: page.records,
            next: page.next,
            total: page.total.unwrap_or(0),
        }))
    }

    /// Every row of an app-scoped list (chosen as for the page) through [`export_pages`].
    pub(crate) async fn console_app_export<T, F, Fut>(
        &self,
        operator: &Operator,
        app: Option<&str>,
        mut read: F,
    ) -> Result<Option<Export<T>>, ServiceError>
    where
        F: FnMut(AppId, Keyset) -> Fut,
        Fut: Future<Output = Result<KeysetPage<T>, ServiceError>>,
    {
        let Some((_, chosen)) = self.console_app_choice(operator, app).await? else {
            return Ok(None);
        };
        let Some(listed) = chosen.clone() else {
            return Ok(Some(Export {
                app: None,
                rows: Vec::new(),
                total: 0,
            }));
        };
        let (rows, total) = export_pages(|keyset| read(listed.clone(), keyset)).await?;
        Ok(Some(Export {
            app: chosen,
            rows,
            total,
        }))
    }

    async fn refund_page(
        &self,
        app: &AppId,
        filter: &ConsoleRefundFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<ConsoleRefund>, ServiceError> {
        let page = self.store.refund_keyset(app, filter, keyset).await?;
        let rows = page
            .records
            .iter()
            .map(|refund| {
                Ok(ConsoleRefund {
                    view: self.refund_view(refund)?,
                    order_sysid: refund.order_sysid.clone(),
                })
            })
            .collect::<Result<_, ServiceError>>()?;
        Ok(KeysetPage {
            records: rows,
            next: page.next,
            total: page.total,
        })
    }

    /// A page of the refunds of `app` matching `filter`, after `after`.
    pub async fn console_refunds(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &ConsoleRefundFilter,
        after: Option<Cursor>,
    ) -> Result<Option<ConsoleList<ConsoleRefund>>, ServiceError> {
        let keyset = page_keyset(after);
        self.console_app_list(operator, app, |app| async move {
            self.refund_page(&app, filter, &keyset).await
        })
        .await
    }

    /// Every refund of `app` matching `filter`, up to [`EXPORT_LIMIT`].
    pub async fn console_export_refunds(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &ConsoleRefundFilter,
    ) -> Result<Option<Export<ConsoleRefund>>, ServiceError> {
        self.console_app_export(operator, app, |app, keyset| async move {
            self.refund_page(&app, filter, &keyset).await
        })
        .await
    }

    async fn abnormal_page(
        &self,
        app: &AppId,
        filter: &AbnormalFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<ConsoleAbnormal>, ServiceError> {
        let page = self.store.abnormal_keyset(app, filter, keyset).await?;
        let rows = page
            .records
            .iter()
            .map(|payment| {
                let (token, _) = self.token_of(&payment.token)?;
                Ok(ConsoleAbnormal {
                    view: AbnormalPaymentView::new(payment, token),
                    order_sysid: payment.order_sysid.clone(),
                })
            })
            .collect::<Result<_, ServiceError>>()?;
        Ok(KeysetPage {
            records: rows,
            next: page.next,
            total: page.total,
        })
    }

    /// A page of the abnormal payments of `app` matching `filter`, after `after`.
    pub async fn console_abnormal_payments(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &AbnormalFilter,
        after: Option<Cursor>,
    ) -> Result<Option<ConsoleList<ConsoleAbnormal>>, ServiceError> {
        let keyset = page_keyset(after);
        self.console_app_list(operator, app, |app| async move {
            self.abnormal_page(&app, filter, &keyset).await
        })
        .await
    }

    /// Every abnormal payment of `app` matching `filter`, up to [`EXPORT_LIMIT`].
    pub async fn console_export_abnormal_payments(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &AbnormalFilter,
    ) -> Result<Option<Export<ConsoleAbnormal>>, ServiceError> {
        self.console_app_export(operator, app, |app, keyset| async move {
            self.abnormal_page(&app, filter, &keyset).await
        })
        .await
    }

    async fn webhook_page(
        &self,
        app: &AppId,
        filter: &ConsoleWebhookFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<OutboxEntry>, ServiceError> {
        Ok(self.store.webhook_keyset(app, filter, keyset).await?)
    }

    /// A page of the webhook events of `app` matching `filter`, after `after`.
    pub async fn console_webhooks(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &ConsoleWebhookFilter,
        after: Option<Cursor>,
    ) -> Result<Option<ConsoleList<OutboxEntry>>, ServiceError> {
        let keyset = page_keyset(after);
        self.console_app_list(operator, app, |app| async move {
            self.webhook_page(&app, filter, &keyset).await
        })
        .await
    }

    /// Every webhook event of `app` matching `filter`, up to [`EXPORT_LIMIT`].
    pub async fn console_export_webhooks(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &ConsoleWebhookFilter,
    ) -> Result<Option<Export<OutboxEntry>>, ServiceError> {
        self.console_app_export(operator, app, |app, keyset| async move {
            self.webhook_page(&app, filter, &keyset).await
        })
        .await
    }

    /// Makes the webhook `event_id` due again now, from the deliveries list, for `operator`
    /// (who must be allowed to, and see its app): the same requeue as the order page's resend
    /// and the `webhooks resend` command, audited as `RESEND_WEBHOOK` with the event id. `None`
    /// when the operator may not see the event or it does not exist.
    pub async fn console_resend_event(
        &self,
        operator: &Operator,
        client: IpAddr,
        event_id: &str,
    ) -> Result<Option<u64>, ServiceError> {
        if !may(operator.role, ConsoleAction::ResendWebhook) {
            let refused = format!("role {} may not resend webhooks", operator.role);
            return Err(ServiceError::rejected(ErrorCode::Conflict, refused));
        }
        let Some(found) = self.console_webhook(operator, event_id).await? else {
            return Ok(None);
        };
        let filter = OutboxFilter {
            app: Some(found.entry.event.app_id.clone()),
            ..OutboxFilter::default()
        };
        let count = self.resend_webhooks(&filter, Some(event_id)).await?;
        let actor = actor_of(operator, client);
        let now = self.clock.now();
        audit(
            &*self.store,
            &actor,
            ConsoleAction::ResendWebhook,
            event_id,
            now,
        )
        .await?;
        Ok(Some(count))
    }

    /// `amount` base units of `asset` in its units: a token's decimals, or the chain family's
    /// for its native coin; base units when the asset is not configured.
    fn asset_amount(&self, asset: &Asset, amount: wcheckout_domain::money::TokenAmount) -> String {
        let decimals = match asset {
            Asset::Token(id) => self.token_of(id).ok().map(|(token, _)| token.decimals),
            Asset::Native(key) => self
                .tokens
                .chains()
                .find(|chain| &chain.key == key)
                .map(|chain| chain.family.native_decimals()),
        };
        match decimals {
            Some(decimals) => amount.to_decimal(decimals).to_string(),
            None => amount.base_units().to_string(),
        }
    }

    async fn payout_page(
        &self,
        operator: &Operator,
        filter: &PayoutListFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<ConsolePayout>, ServiceError> {
        let page = self
            .store
            .open_payout_keyset(operator.app.as_ref(), filter.kind, keyset)
            .await?;
        let ids: Vec<String> = page.records.iter().map(|p| p.id.clone()).collect();
        let mut txs = self.store.signed_txs_of_payouts(&ids).await?;
        let rows = page
            .records
            .into_iter()
            .map(|payout| {
                let (own, rest) = txs.drain(..).partition(|tx| tx.payout_id == payout.id);
                txs = rest;
                let native = Asset::Native(payout.chain.clone());
                ConsolePayout {
                    amount: self.asset_amount(&payout.asset, payout.amount),
                    fee: payout.fee.map(|fee| self.asset_amount(&native, fee)),
                    payout,
                    txs: own,
                }
            })
            .collect();
        Ok(KeysetPage {
            records: rows,
            next: page.next,
            total: page.total,
        })
    }

    /// A page of the payouts not final yet (every app's for an operator who sees them all, an
    /// app's refunds and settlements for one bound to it), newest first, after `after`.
    pub async fn console_payouts(
        &self,
        operator: &Operator,
        filter: &PayoutListFilter,
        after: Option<Cursor>,
    ) -> Result<ConsoleList<ConsolePayout>, ServiceError> {
        let page = self
            .payout_page(operator, filter, &page_keyset(after))
            .await?;
        Ok(ConsoleList {
            apps: Vec::new(),
            app: operator.app.clone(),
            rows: page.records,
            next: page.next,
            total: page.total.unwrap_or(0),
        })
    }

    /// Every payout in flight the operator sees, up to [`EXPORT_LIMIT`].
    pub async fn console_export_payouts(
        &self,
        operator: &Operator,
        filter: &PayoutListFilter,
    ) -> Result<Export<ConsolePayout>, ServiceError> {
        let (rows, total) =
            export_pages(|keyset| async move { self.payout_page(operator, filter, &keyset).await })
                .await?;
        Ok(Export {
            app: operator.app.clone(),
            rows,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wcheckout_domain::time::Timestamp;

    /// A list of `n` numbers read through keysets (the key is the number, newest = largest).
    async fn read_numbers(n: u64, keyset: Keyset) -> Result<KeysetPage<u64>, ServiceError> {
        let start = keyset
            .after
            .map_or(n, |c| u64::try_from(c.created_at.micros()).unwrap());
        let records: Vec<u64> = (0..start).rev().take(keyset.limit as usize + 1).collect();
        let more = records.len() > keyset.limit as usize;
        let records: Vec<u64> = records.into_iter().take(keyset.limit as usize).collect();
        let next = match (more, records.last()) {
            (true, Some(last)) => Some(Cursor {
                created_at: Timestamp::from_micros(i64::try_from(*last).unwrap()),
                key: last.to_string(),
            }),
            _ => None,
        };
        Ok(KeysetPage {
            records,
            next,
            total: keyset.count_up_to.map(|cap| n.min(cap)),
        })
    }

    #[tokio::test]
    async fn an_export_reads_every_row_once_up_to_its_limit() {
        let (rows, total) = export_pages(|k| read_numbers(2_500, k)).await.unwrap();
        assert_eq!(total, 2_500);
        assert_eq!(rows.len(), 2_500);
        assert_eq!(rows.first(), Some(&2_499));
        assert_eq!(rows.last(), Some(&0));
        let (rows, total) = export_pages(|k| read_numbers(12_345, k)).await.unwrap();
        assert_eq!((rows.len() as u64, total), (EXPORT_LIMIT, 12_345));
        let (rows, total) = export_pages(|k| read_numbers(0, k)).await.unwrap();
        assert_eq!((rows.len(), total), (0, 0));
    }
}
