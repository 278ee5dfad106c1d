//! Refund use cases: CreateRefundOrder, CreateAbnormalPaymentRefund, CancelRefundOrder,
//! GetRefundOrderInfo, GetRefundOrderList. A refund reserves its amount in the ledger and
//! queues its payout in the same commit; the payout engine sends it.

use wcheckout_domain::app::App;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::{IntegratorNo, SysidKind, compose_sysid};
use wcheckout_domain::ledger::{Account, Bucket};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::order::{Order, OrderEvent, OrderStatus};
use wcheckout_domain::payment::{AbnormalEvent, AbnormalPayment, AbnormalStatus};
use wcheckout_domain::payout::{PayoutKind, PayoutStatus};
use wcheckout_domain::ports::{
    AbnormalChange, ChangeSet, OrderWrite, PayoutChange, RefundChange, RefundFilter,
};
use wcheckout_domain::refund::{Refund, RefundEvent, RefundSource, RefundStatus};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::Token;

use crate::error::OrInternal;
use crate::error::{ChangeError, ServiceError, retry_on_conflict};
use crate::gateway::Gateway;
use crate::orders::{content_fingerprint, integrator_no, non_empty, page_request, time_filter};
use crate::postings;
use crate::secrets::sysid_suffix;
use crate::wire::{
    AbnormalPaymentView, CreateAbnormalPaymentRefundRequest, CreateRefundOrderRequest, JsonDecimal,
    ListRefundsRequest, PageView, RefundView, abnormal_payment_event, order_changed_event,
    refund_changed_event,
};

/// What a validated refund request asks for.
struct RefundAsk {
    refund_order_no: IntegratorNo,
    order_no: Option<IntegratorNo>,
    abnormal_payment_no: Option<String>,
    amount: Option<Decimal>,
    address: Option<String>,
    remark: Option<String>,
}

impl RefundAsk {
    fn fingerprint(&self) -> String {
        let amount = self
            .amount
            .map(|a| a.normalized().to_string())
            .unwrap_or_default();
        let address = self
            .address
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        content_fingerprint(&[
            self.order_no.as_ref().map_or("", IntegratorNo::as_str),
            self.abnormal_payment_no.as_deref().unwrap_or(""),
            amount.as_str(),
            address.as_str(),
            self.remark.as_deref().unwrap_or(""),
        ])
    }
}

/// The source of a refund, resolved.
enum Source {
    Order,
    Abnormal(Box<AbnormalPayment>),
}

fn remark(value: Option<String>) -> Result<Option<String>, Rejection> {
    let value = non_empty(value);
    if value
        .as_ref()
        .is_some_and(|r| r.chars().count() > 256 || r.chars().any(char::is_control))
    {
        return Err(Rejection::invalid(
            "remark",
            "must be at most 256 characters without control characters",
        ));
    }
    Ok(value)
}

/// A token amount from whole tokens: above zero, and no finer than the token's decimals.
pub(crate) fn token_amount(
    field: &str,
    value: &Decimal,
    token: &Token,
) -> Result<TokenAmount, Rejection> {
    let amount = TokenAmount::from_decimal(value, token.decimals).ok_or_else(|| {
        Rejection::new(
            ErrorCode::AmountRule,
            format!(
                "{field}: {} has at most {} decimal places",
                token.id, token.decimals
            ),
        )
    })?;
    if amount.is_zero() {
        return Err(Rejection::new(
            ErrorCode::AmountRule,
            format!("{field}: must be greater than 0"),
        ));
    }
    Ok(amount)
}

fn in_flight(status: RefundStatus) -> bool {
    matches!(
        status,
        RefundStatus::PendingRefund | RefundStatus::Refunding
    )
}

impl Gateway {
    /// CreateRefundOrder.
    pub async fn create_refund(
        &self,
        app: &App,
        body: CreateRefundOrderRequest,
    ) -> Result<RefundView, ServiceError> {
        let order_no = non_empty(body.order_no)
            .map(|no| integrator_no("orderNo", Some(&no)))
            .transpose()?;
        let abnormal_payment_no = non_empty(body.abnormal_payment_no);
        if order_no.is_none() && abnormal_payment_no.is_none() {
            return Err(
                Rejection::invalid("orderNo", "orderNo or abnormalPaymentNo is required").into(),
            );
        }
        if abnormal_payment_no.is_none() && body.amount.is_none() {
            return Err(Rejection::invalid("amount", "is required").into());
        }
        let ask = RefundAsk {
            refund_order_no: integrator_no("refundOrderNo", Some(&body.refund_order_no))?,
            order_no,
            abnormal_payment_no,
            amount: body.amount.map(|JsonDecimal(d)| d),
            address: non_empty(body.address),
            remark: remark(body.remark)?,
        };
        self.refund(app, ask).await
    }

    /// CreateAbnormalPaymentRefund: by `abnormalPaymentNo`, or by the `txHash` of its transfer.
    pub async fn create_abnormal_refund(
        &self,
        app: &App,
        body: CreateAbnormalPaymentRefundRequest,
    ) -> Result<RefundView, ServiceError> {
        let refund_order_no = integrator_no("refundOrderNo", Some(&body.refund_order_no))?;
        let order_no = non_empty(body.order_no)
            .map(|no| integrator_no("orderNo", Some(&no)))
            .transpose()?;
        let number = match (non_empty(body.abnormal_payment_no), non_empty(body.tx_hash)) {
            (Some(no), _) => no,
            (None, Some(tx_hash)) => {
                self.abnormal_by_tx(app, order_no.as_ref(), &tx_hash)
                    .await?
            }
            (None, None) => {
                return Err(Rejection::invalid(
                    "abnormalPaymentNo",
                    "abnormalPaymentNo or txHash is required",
                )
                .into());
            }
        };
        if let Some(token) = non_empty(body.token) {
            let payment = self.app_abnormal_payment(app, &number).await?;
            if payment.token.as_str() != token {
                return Err(Rejection::invalid(
                    "token",
                    format!("the abnormal payment is not in {token}"),
                )
                .into());
            }
        }
        let ask = RefundAsk {
            refund_order_no,
            order_no,
            abnormal_payment_no: Some(number),
            amount: body.amount.map(|JsonDecimal(d)| d),
            address: non_empty(body.address),
            remark: remark(body.remark)?,
        };
        self.refund(app, ask).await
    }

    /// An abnormal payment of `app`: one of another app is exactly as unknown as a number that
    /// does not exist (the same `00404`), so no app learns what another one has.
    async fn app_abnormal_payment(
        &self,
        app: &App,
        no: &str,
    ) -> Result<AbnormalPayment, ServiceError> {
        let payment = self.store.abnormal_payment(no).await?;
        let payment = payment.filter(|p| p.app_id == app.id);
        payment.ok_or_else(|| Rejection::not_found("abnormal payment", no).into())
    }

    /// The abnormal payment a transfer made, for an app (and order, when given).
    async fn abnormal_by_tx(
        &self,
        app: &App,
        order_no: Option<&IntegratorNo>,
        tx_hash: &str,
    ) -> Result<String, ServiceError> {
        let no =
            order_no.ok_or_else(|| Rejection::invalid("orderNo", "is required with txHash"))?;
        let order = self.store.order_by_no(&app.id, no).await?;
        let order = order.ok_or_else(|| Rejection::not_found("order", no.as_str()))?;
        let payments = self.store.abnormal_payments_of_order(&order.sysid).await?;
        let found = payments.iter().rev().find(|p| {
            p.tx_hash
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(tx_hash))
        });
        let found = found
            .ok_or_else(|| Rejection::not_found("abnormal payment of transaction", tx_hash))?;
        Ok(found.abnormal_payment_no.clone())
    }

    async fn refund(&self, app: &App, ask: RefundAsk) -> Result<RefundView, ServiceError> {
        let fingerprint = ask.fingerprint();
        let refund = retry_on_conflict(|| async {
            if let Some(existing) = self
                .store
                .refund_by_no(&app.id, &ask.refund_order_no)
                .await?
            {
                return same_refund(existing, &fingerprint);
            }
            self.try_refund(app, &ask, &fingerprint).await
        })
        .await?;
        self.refund_view(&refund)
    }

    async fn try_refund(
        &self,
        app: &App,
        ask: &RefundAsk,
        fingerprint: &str,
    ) -> Result<Refund, ChangeError> {
        let (order, source) = self.refund_source(app, ask).await?;
        let (token, chain) = self.token_of(&order.token)?;
        let amount = match (&ask.amount, &source) {
            (Some(value), _) => token_amount("amount", value, token)?,
            (None, Source::Abnormal(payment)) => payment.pending_amount,
            (None, Source::Order) => return Err(Rejection::invalid("amount", "is required").into()),
        };
        let refundable = self.refundable(&order, &source).await?;
        if amount > refundable || amount.is_zero() {
            let shown = refundable
                .to_decimal(token.decimals)
                .with_min_scale(u32::from(token.payment_scale));
            return Err(Rejection::new(
                ErrorCode::AmountRule,
                format!("amount: at most {shown} {} can be refunded", token.id),
            )
            .into());
        }
        let address = match &ask.address {
            Some(text) => self.payout_address(chain, "address", text).await?,
            None => self.payer_of(&order, &source).await?,
        };
        let now = self.clock.now();
        let refund = Refund {
            sysid: compose_sysid(SysidKind::Refund, now, sysid_suffix()),
            app_id: app.id.clone(),
            refund_order_no: ask.refund_order_no.clone(),
            order_sysid: order.sysid.clone(),
            order_no: order.order_no.clone(),
            merchant_id: order.merchant_id.clone(),
            source: match &source {
                Source::Order => RefundSource::Order,
                Source::Abnormal(p) => RefundSource::AbnormalPayment(p.abnormal_payment_no.clone()),
            },
            token: order.token.clone(),
            amount,
            address,
            remark: ask.remark.clone(),
            status: RefundStatus::PendingRefund,
            tx_hash: None,
            failure_reason: None,
            request_fingerprint: fingerprint.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut changes = ChangeSet::default();
        let view = self.refund_view(&refund)?;
        changes
            .events
            .push(refund_changed_event(&view, &refund, now));
        changes.refunds.push(RefundChange::Create(refund.clone()));
        changes.payouts.push(PayoutChange::Create(
            self.token_payout(
                PayoutKind::Refund,
                &refund.sysid,
                chain,
                address,
                &refund.token,
                amount,
            )?
            .queued(now),
        ));
        changes.postings.push(postings::reserve(
            self.refund_source_account(&order, &source),
            self.reserved_of(&order),
            amount,
            format!("refund:{}", refund.sysid),
        ));
        match &source {
            Source::Order => self.start_order_refund(&order, now, &mut changes).await?,
            Source::Abnormal(payment) => {
                let after = payment
                    .apply(AbnormalEvent::Reserve(amount), now)
                    .map_err(|e| Rejection::new(ErrorCode::Conflict, e.to_string()))?;
                self.abnormal_changed(payment.version, after, now, &mut changes)?;
            }
        }
        self.commit(changes).await?;
        self.payout_signal.notify_one();
        metrics::counter!("wcheckout_refunds_created_total").increment(1);
        Ok(refund)
    }

    fn reserved_of(&self, order: &Order) -> Account {
        postings::merchant_of(order, Bucket::Reserved)
    }

    fn refund_source_account(&self, order: &Order, source: &Source) -> Account {
        match source {
            Source::Order => postings::merchant_of(order, Bucket::Available),
            Source::Abnormal(_) => postings::abnormal_of(order),
        }
    }

    async fn refund_source(
        &self,
        app: &App,
        ask: &RefundAsk,
    ) -> Result<(Order, Source), ServiceError> {
        let abnormal = match &ask.abnormal_payment_no {
            Some(no) => Some(self.app_abnormal_payment(app, no).await?),
            None => None,
        };
        let order = match (&ask.order_no, &abnormal) {
            (Some(no), _) => self
                .store
                .order_by_no(&app.id, no)
                .await?
                .ok_or_else(|| Rejection::not_found("order", no.as_str()))?,
            (None, Some(payment)) => self
                .store
                .order_by_sysid(&payment.order_sysid)
                .await?
                .ok_or_else(|| ServiceError::internal("abnormal payment without order"))?,
            (None, None) => {
                return Err(Rejection::invalid(
                    "orderNo",
                    "orderNo or abnormalPaymentNo is required",
                )
                .into());
            }
        };
        match abnormal {
            Some(payment) if payment.order_sysid != order.sysid => Err(Rejection::invalid(
                "abnormalPaymentNo",
                format!("is not an abnormal payment of order '{}'", order.order_no),
            )
            .into()),
            Some(payment)
                if payment.status == AbnormalStatus::Handled
                    || payment.pending_amount.is_zero() =>
            {
                Err(Rejection::new(
                    ErrorCode::Conflict,
                    format!(
                        "abnormal payment '{}' is already handled",
                        payment.abnormal_payment_no
                    ),
                )
                .into())
            }
            Some(payment) => Ok((order, Source::Abnormal(Box::new(payment)))),
            None => match order.status {
                OrderStatus::Paid | OrderStatus::PartialRefunded | OrderStatus::Refunding => {
                    Ok((order, Source::Order))
                }
                status => Err(Rejection::new(
                    ErrorCode::Conflict,
                    format!(
                        "order '{}' is {status} and cannot be refunded",
                        order.order_no
                    ),
                )
                .into()),
            },
        }
    }

    /// What is left to refund: the abnormal amount not yet refunded or reserved, or what a paid
    /// order brought (up to the amount due) less its refunds done and in progress. Read before
    /// the commit, it holds at the commit because the commit writes the abnormal payment or the
    /// order read first with compare-and-set (`start_order_refund`).
    async fn refundable(
        &self,
        order: &Order,
        source: &Source,
    ) -> Result<TokenAmount, ServiceError> {
        match source {
            Source::Abnormal(payment) => Ok(payment.pending_amount),
            Source::Order => {
                let counted = order.paid_amount.min(order.paying_amount);
                let refunds = self.store.refunds_of_order(&order.sysid).await?;
                let reserved = refunds
                    .iter()
                    .filter(|r| r.source == RefundSource::Order && in_flight(r.status))
                    .try_fold(TokenAmount::ZERO, |sum, r| sum.checked_add(r.amount))
                    .or_internal("adding the refunds in progress")?;
                Ok(counted
                    .saturating_sub(order.refunded_amount)
                    .saturating_sub(reserved))
            }
        }
    }

    /// Who paid: the sender of the abnormal transfer, or of the transfer that completed the order.
    async fn payer_of(
        &self,
        order: &Order,
        source: &Source,
    ) -> Result<wcheckout_domain::address::Address, ServiceError> {
        let payer = match source {
            Source::Abnormal(payment) => payment.payer,
            Source::Order => {
                let (_, chain) = self.token_of(&order.token)?;
                match &order.tx_hash {
                    Some(tx) => self
                        .store
                        .transfers_of_tx(&chain.key, tx)
                        .await?
                        .iter()
                        .find(|t| t.to == order.deposit_address)
                        .map(|t| t.from),
                    None => None,
                }
            }
        };
        payer.ok_or_else(|| {
            Rejection::invalid("address", "is required: the payer's address is not known").into()
        })
    }

    /// Moves the order to `REFUNDING` (announced when its status changes) and writes it with
    /// compare-and-set even when it is `REFUNDING` already: what is refundable was decided from
    /// this version of the order and the refunds read after it, so of two refunds decided from
    /// the same reads only one commits, and the other decides again from fresh ones.
    async fn start_order_refund(
        &self,
        order: &Order,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let after = order.transition(OrderEvent::RefundStarted, now)?;
        if after.status != order.status {
            let view = self.order_view(&after).await?;
            changes.events.push(order_changed_event(&view, &after, now));
        }
        changes.orders.push(OrderWrite {
            expected_version: order.version,
            order: after,
        });
        Ok(())
    }

    /// Records an abnormal payment's change and its `ABNORMAL_PAYMENT` event.
    pub(crate) fn abnormal_changed(
        &self,
        expected_version: i64,
        payment: AbnormalPayment,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let (token, _) = self.token_of(&payment.token)?;
        let view = AbnormalPaymentView::new(&payment, token);
        changes
            .events
            .push(abnormal_payment_event(&view, &payment, now));
        changes.abnormal.push(AbnormalChange::Update {
            expected_version,
            payment,
        });
        Ok(())
    }

    /// The API object of a refund.
    pub fn refund_view(&self, refund: &Refund) -> Result<RefundView, ServiceError> {
        let (token, _) = self.token_of(&refund.token)?;
        Ok(RefundView::new(refund, token))
    }

    async fn app_refund(&self, app: &App, no: Option<&str>) -> Result<Refund, ServiceError> {
        let no = integrator_no("refundOrderNo", no)?;
        let refund = self.store.refund_by_no(&app.id, &no).await?;
        refund.ok_or_else(|| Rejection::not_found("refund order", no.as_str()).into())
    }

    /// GetRefundOrderInfo.
    pub async fn refund_info(
        &self,
        app: &App,
        no: Option<&str>,
    ) -> Result<RefundView, ServiceError> {
        self.refund_view(&self.app_refund(app, no).await?)
    }

    /// CancelRefundOrder: only before its transaction is signed. Cancelling a cancelled refund
    /// answers with it unchanged.
    pub async fn cancel_refund(
        &self,
        app: &App,
        no: Option<&str>,
    ) -> Result<RefundView, ServiceError> {
        let refund = retry_on_conflict(|| async {
            let refund = self.app_refund(app, no).await?;
            if refund.status == RefundStatus::Cancelled {
                return Ok(refund);
            }
            let payout = self
                .store
                .payout_by_reference(PayoutKind::Refund, &format!("refund:{}", refund.sysid))
                .await?;
            let cancellable = refund.status == RefundStatus::PendingRefund
                && payout.as_ref().is_none_or(|p| p.status.cancellable());
            if !cancellable {
                return Err(Rejection::new(
                    ErrorCode::Conflict,
                    format!(
                        "refund order '{}' is {} and can no longer be cancelled",
                        refund.refund_order_no, refund.status
                    ),
                )
                .into());
            }
            let now = self.clock.now();
            let mut changes = ChangeSet::default();
            if let Some(payout) = payout {
                let mut failed = payout
                    .moved(PayoutStatus::Failed, now)
                    .map_err(|e| Rejection::new(ErrorCode::Conflict, e.to_string()))?;
                failed.note = Some("cancelled by the integrator".into());
                changes.payouts.push(PayoutChange::Update {
                    expected_version: payout.version,
                    payout: failed,
                });
            }
            self.end_refund(&refund, RefundEvent::Cancel, None, now, &mut changes)
                .await
        })
        .await?;
        self.payout_signal.notify_one();
        self.refund_view(&refund)
    }

    /// Ends a refund that will not be paid (cancelled or failed): its funds go back, its order
    /// or abnormal payment reopens, everything in one commit.
    pub(crate) async fn end_refund(
        &self,
        refund: &Refund,
        event: RefundEvent,
        reason: Option<String>,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<Refund, ChangeError> {
        let mut after = refund
            .transition(event, now)
            .map_err(|e| Rejection::new(ErrorCode::Conflict, e.to_string()))?;
        after.failure_reason = reason;
        let order = self
            .store
            .order_by_sysid(&refund.order_sysid)
            .await?
            .ok_or_else(|| ServiceError::internal("refund without order"))?;
        let source = match &refund.source {
            RefundSource::Order => Source::Order,
            RefundSource::AbnormalPayment(no) => Source::Abnormal(Box::new(
                self.store
                    .abnormal_payment(no)
                    .await?
                    .ok_or_else(|| ServiceError::internal("refund without abnormal payment"))?,
            )),
        };
        changes.postings.push(postings::release(
            self.refund_source_account(&order, &source),
            self.reserved_of(&order),
            refund.amount,
            format!("refund:{}", refund.sysid),
        ));
        match source {
            Source::Order => {
                self.settle_order_refunds(&order, refund, TokenAmount::ZERO, now, changes)
                    .await?
            }
            Source::Abnormal(payment) => {
                let reopened = payment
                    .apply(AbnormalEvent::Release(refund.amount), now)
                    .or_internal("releasing an abnormal payment's refund")?;
                self.abnormal_changed(payment.version, reopened, now, changes)?;
            }
        }
        self.refund_changed(refund.version, after.clone(), now, changes)?;
        self.commit(std::mem::take(changes)).await?;
        Ok(after)
    }

    /// Records a refund's change and its `REFUND_ORDER_CHANGED` event.
    pub(crate) fn refund_changed(
        &self,
        expected_version: i64,
        refund: Refund,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let view = self.refund_view(&refund)?;
        changes
            .events
            .push(refund_changed_event(&view, &refund, now));
        changes.refunds.push(RefundChange::Update {
            expected_version,
            refund,
        });
        Ok(())
    }

    /// After a refund of `order` ends (`refunded` more paid out): once no other refund of the
    /// order is in progress, the order leaves `REFUNDING`.
    pub(crate) async fn settle_order_refunds(
        &self,
        order: &Order,
        ended: &Refund,
        refunded: TokenAmount,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let others = self.store.refunds_of_order(&order.sysid).await?;
        let still_running = others.iter().any(|r| {
            r.sysid != ended.sysid && r.source == RefundSource::Order && in_flight(r.status)
        });
        let after = order
            .refund_ended(refunded, still_running, now)
            .or_internal("ending a refund of an order")?;
        let status_changes = after.status != order.status;
        if status_changes || !refunded.is_zero() {
            if status_changes {
                let view = self.order_view(&after).await?;
                changes.events.push(order_changed_event(&view, &after, now));
            }
            changes.orders.push(OrderWrite {
                expected_version: order.version,
                order: after,
            });
        }
        Ok(())
    }

    /// GetRefundOrderList.
    pub async fn list_refunds(
        &self,
        app: &App,
        request: ListRefundsRequest,
    ) -> Result<PageView<RefundView>, ServiceError> {
        let page = page_request(request.page_num, request.page_size)?;
        let status = match non_empty(request.refund_status) {
            Some(text) => Some(RefundStatus::parse(&text).ok_or_else(|| {
                Rejection::invalid("refundStatus", format!("'{text}' is not a refund status"))
            })?),
            None => None,
        };
        let filter = RefundFilter {
            order_no: non_empty(request.order_no),
            status,
            created_from: time_filter("startTime", request.start_time)?,
            created_to: time_filter("endTime", request.end_time)?,
        };
        let found = self.store.list_refunds(&app.id, &filter, page).await?;
        let records = found
            .records
            .iter()
            .map(|r| self.refund_view(r))
            .collect::<Result<_, _>>()?;
        Ok(PageView {
            records,
            total: found.total,
            page_no: page.page,
            page_size: page.size,
        })
    }
}

fn same_refund(existing: Refund, fingerprint: &str) -> Result<Refund, ChangeError> {
    if existing.request_fingerprint != fingerprint {
        return Err(Rejection::new(
            ErrorCode::Conflict,
            format!(
                "refundOrderNo '{}' already exists with different content",
                existing.refund_order_no
            ),
        )
        .into());
    }
    Ok(existing)
}
