//! Settlement use cases: CreateSettlementOrder (tokens to the merchant's address),
//! CreateFiatSettlementOrder (an operator wires fiat and marks it paid), CancelSettlementOrder,
//! GetSettlementOrder, GetSettlementOrderList, and the operator's approve / reject / mark-paid.
//! A settlement reserves its amount from the merchant's available balance in the commit that
//! creates it; the store refuses the commit (`00422`) when the balance does not cover it.

use wcheckout_domain::app::App;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::{IntegratorNo, SysidKind, compose_sysid};
use wcheckout_domain::ledger::{Account, Bucket};
use wcheckout_domain::money::Decimal;
use wcheckout_domain::payout::{PayoutKind, PayoutStatus};
use wcheckout_domain::ports::{ChangeSet, PayoutChange, SettlementChange, SettlementFilter};
use wcheckout_domain::settlement::{Destination, Settlement, SettlementEvent, SettlementStatus};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{Chain, Token};

use crate::error::{ChangeError, ServiceError, retry_on_conflict};
use crate::gateway::Gateway;
use crate::orders::{
    content_fingerprint, external_id, integrator_no, non_empty, page_request, time_filter,
};
use crate::payouts::reference_of;
use crate::postings;
use crate::refunds::token_amount;
use crate::secrets::sysid_suffix;
use crate::wire::{
    BankAccount, CreateFiatSettlementOrderRequest, CreateSettlementOrderRequest, JsonDecimal,
    ListSettlementsRequest, PageView, SettlementView, settlement_changed_event,
};

/// At most this many `orderNos` on one settlement.
const MAX_ORDER_NOS: usize = 1000;

/// A validated settlement request.
struct SettlementAsk {
    settlement_order_no: IntegratorNo,
    merchant_id: String,
    token: String,
    amount: Decimal,
    destination: AskedDestination,
    order_nos: Vec<String>,
}

enum AskedDestination {
    Address(String),
    Bank { fiat: String, account: BankAccount },
}

impl SettlementAsk {
    fn fingerprint(&self) -> String {
        let amount = self.amount.normalized().to_string();
        let destination = match &self.destination {
            AskedDestination::Address(address) => address.trim().to_ascii_lowercase(),
            AskedDestination::Bank { fiat, account } => format!("{fiat}:{}", bank_text(account)),
        };
        let order_nos = self.order_nos.join(",");
        content_fingerprint(&[
            self.merchant_id.as_str(),
            self.token.as_str(),
            amount.as_str(),
            destination.as_str(),
            order_nos.as_str(),
        ])
    }
}

fn bank_text(account: &BankAccount) -> String {
    serde_json::to_string(account).unwrap_or_default()
}

fn order_nos(value: Option<Vec<String>>) -> Result<Vec<String>, Rejection> {
    let nos = value.unwrap_or_default();
    if nos.len() > MAX_ORDER_NOS {
        return Err(Rejection::invalid(
            "orderNos",
            format!("at most {MAX_ORDER_NOS} order numbers"),
        ));
    }
    nos.iter()
        .try_for_each(|no| integrator_no("orderNos", Some(no)).map(|_| ()))?;
    Ok(nos)
}

fn bank_account(account: BankAccount) -> Result<BankAccount, Rejection> {
    let required = [
        ("bankAccount.accountName", &account.account_name),
        ("bankAccount.accountNumber", &account.account_number),
        ("bankAccount.bankName", &account.bank_name),
    ];
    for (field, value) in required {
        if value.trim().is_empty()
            || value.chars().count() > 128
            || value.chars().any(char::is_control)
        {
            return Err(Rejection::invalid(
                field,
                "is required, at most 128 characters without control characters",
            ));
        }
    }
    Ok(account)
}

fn conflict(error: impl std::fmt::Display) -> Rejection {
    Rejection::new(ErrorCode::Conflict, error.to_string())
}

impl Gateway {
    /// CreateSettlementOrder.
    pub async fn create_settlement(
        &self,
        app: &App,
        body: CreateSettlementOrderRequest,
    ) -> Result<SettlementView, ServiceError> {
        let JsonDecimal(amount) = body.amount;
        let ask = SettlementAsk {
            settlement_order_no: integrator_no(
                "settlementOrderNo",
                Some(&body.settlement_order_no),
            )?,
            merchant_id: merchant(body.merchant_id)?,
            token: non_empty(Some(body.token))
                .ok_or_else(|| Rejection::invalid("token", "is required"))?,
            amount,
            destination: AskedDestination::Address(
                non_empty(Some(body.address))
                    .ok_or_else(|| Rejection::invalid("address", "is required"))?,
            ),
            order_nos: order_nos(body.order_nos)?,
        };
        self.settle(app, ask).await
    }

    /// CreateFiatSettlementOrder: bank details inline, or the id of an account the operator
    /// registered for this app.
    pub async fn create_fiat_settlement(
        &self,
        app: &App,
        body: CreateFiatSettlementOrderRequest,
    ) -> Result<SettlementView, ServiceError> {
        let fiat = match non_empty(body.fiat).as_deref() {
            None | Some("USD") => "USD".to_owned(),
            Some(_) => return Err(Rejection::invalid("fiat", "only USD is supported").into()),
        };
        let account = match (body.bank_account, non_empty(body.bank_account_id)) {
            (Some(account), None) => bank_account(account)?,
            (None, Some(id)) => self.registered_bank_account(app, &id)?,
            (Some(_), Some(_)) => {
                return Err(Rejection::invalid(
                    "bankAccountId",
                    "send bankAccount or bankAccountId, not both",
                )
                .into());
            }
            (None, None) => {
                return Err(Rejection::invalid(
                    "bankAccount",
                    "bankAccount or bankAccountId is required",
                )
                .into());
            }
        };
        let JsonDecimal(amount) = body.amount;
        let ask = SettlementAsk {
            settlement_order_no: integrator_no(
                "settlementOrderNo",
                Some(&body.settlement_order_no),
            )?,
            merchant_id: merchant(body.merchant_id)?,
            token: non_empty(Some(body.token))
                .ok_or_else(|| Rejection::invalid("token", "is required"))?,
            amount,
            destination: AskedDestination::Bank { fiat, account },
            order_nos: order_nos(body.order_nos)?,
        };
        self.settle(app, ask).await
    }

    fn registered_bank_account(&self, app: &App, id: &str) -> Result<BankAccount, Rejection> {
        let found = self
            .settings
            .bank_accounts
            .get(id)
            .filter(|registered| registered.app == app.id);
        found
            .map(|registered| registered.account.clone())
            .ok_or_else(|| Rejection::not_found("bank account", id))
    }

    async fn settle(&self, app: &App, ask: SettlementAsk) -> Result<SettlementView, ServiceError> {
        let fingerprint = ask.fingerprint();
        let settlement = retry_on_conflict(|| async {
            if let Some(existing) = self
                .store
                .settlement_by_no(&app.id, &ask.settlement_order_no)
                .await?
            {
                if existing.request_fingerprint != fingerprint {
                    let message = format!(
                        "settlementOrderNo '{}' already exists with different content",
                        existing.settlement_order_no
                    );
                    return Err(Rejection::new(ErrorCode::Conflict, message).into());
                }
                return Ok(existing);
            }
            self.try_settle(app, &ask, &fingerprint).await
        })
        .await?;
        self.settlement_view(&settlement)
    }

    async fn try_settle(
        &self,
        app: &App,
        ask: &SettlementAsk,
        fingerprint: &str,
    ) -> Result<Settlement, ChangeError> {
        let (token, chain) = self.settlement_token(&ask.token)?;
        let amount = token_amount("amount", &ask.amount, token)?;
        let destination = match &ask.destination {
            AskedDestination::Address(text) => {
                Destination::OnChain(self.payout_address(chain, "address", text).await?)
            }
            AskedDestination::Bank { fiat, account } => Destination::Bank {
                fiat: fiat.clone(),
                account: bank_text(account),
            },
        };
        let approved = match destination {
            Destination::OnChain(_) => self
                .settings
                .settlement_approval_above
                .is_none_or(|limit| ask.amount <= limit),
            Destination::Bank { .. } => false,
        };
        let now = self.clock.now();
        let settlement = Settlement {
            sysid: compose_sysid(SysidKind::Settlement, now, sysid_suffix()),
            app_id: app.id.clone(),
            settlement_order_no: ask.settlement_order_no.clone(),
            merchant_id: ask.merchant_id.clone(),
            token: token.id.clone(),
            amount,
            destination,
            order_nos: ask.order_nos.clone(),
            status: SettlementStatus::PendingSettlement,
            approved,
            tx_hash: None,
            bank_reference: None,
            failure_reason: None,
            request_fingerprint: fingerprint.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut changes = ChangeSet::default();
        changes.postings.push(postings::reserve(
            balance_of(&settlement, Bucket::Available),
            balance_of(&settlement, Bucket::Reserved),
            amount,
            format!("settlement:{}", settlement.sysid),
        ));
        if approved {
            self.queue_settlement_payout(&settlement, chain, now, &mut changes)?;
        }
        let view = self.settlement_view(&settlement)?;
        changes
            .events
            .push(settlement_changed_event(&view, &settlement, now));
        changes
            .settlements
            .push(SettlementChange::Create(settlement.clone()));
        self.commit(changes).await?;
        self.payout_signal.notify_one();
        metrics::counter!("wcheckout_settlements_created_total").increment(1);
        Ok(settlement)
    }

    /// A configured token, even on a disabled chain (its money can still leave).
    fn settlement_token(&self, id: &str) -> Result<(&Token, &Chain), Rejection> {
        let token = wcheckout_domain::token::TokenId::parse(id).and_then(|id| self.tokens.get(&id));
        token
            .ok_or_else(|| Rejection::invalid("token", format!("'{id}' is not a configured token")))
    }

    fn queue_settlement_payout(
        &self,
        settlement: &Settlement,
        chain: &Chain,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        if let Destination::OnChain(address) = settlement.destination {
            let draft = self.token_payout(
                PayoutKind::Settlement,
                &settlement.sysid,
                chain,
                address,
                &settlement.token,
                settlement.amount,
            )?;
            changes
                .payouts
                .push(PayoutChange::Create(draft.queued(now)));
        }
        Ok(())
    }

    /// The API object of a settlement.
    pub fn settlement_view(&self, settlement: &Settlement) -> Result<SettlementView, ServiceError> {
        let (token, _) = self.token_of(&settlement.token)?;
        Ok(SettlementView::new(settlement, token))
    }

    async fn app_settlement(
        &self,
        app: &App,
        no: Option<&str>,
    ) -> Result<Settlement, ServiceError> {
        let no = integrator_no("settlementOrderNo", no)?;
        let found = self.store.settlement_by_no(&app.id, &no).await?;
        found.ok_or_else(|| Rejection::not_found("settlement order", no.as_str()).into())
    }

    /// GetSettlementOrder.
    pub async fn settlement_info(
        &self,
        app: &App,
        no: Option<&str>,
    ) -> Result<SettlementView, ServiceError> {
        self.settlement_view(&self.app_settlement(app, no).await?)
    }

    /// CancelSettlementOrder: only while `PENDING_SETTLEMENT` and nothing was signed.
    /// Cancelling a cancelled settlement answers with it unchanged.
    pub async fn cancel_settlement(
        &self,
        app: &App,
        no: Option<&str>,
    ) -> Result<SettlementView, ServiceError> {
        let settlement = retry_on_conflict(|| async {
            let settlement = self.app_settlement(app, no).await?;
            if settlement.status == SettlementStatus::Cancelled {
                return Ok(settlement);
            }
            self.stop_settlement(&settlement, SettlementEvent::Cancel, None)
                .await
        })
        .await?;
        self.settlement_view(&settlement)
    }

    /// Ends a settlement before it is paid (cancel or reject): its queued payout fails, its
    /// funds go back to the merchant's available balance.
    async fn stop_settlement(
        &self,
        settlement: &Settlement,
        event: SettlementEvent,
        reason: Option<String>,
    ) -> Result<Settlement, ChangeError> {
        let payout = self
            .store
            .payout_by_reference(
                PayoutKind::Settlement,
                &reference_of(PayoutKind::Settlement, &settlement.sysid),
            )
            .await?;
        let stoppable = settlement.status == SettlementStatus::PendingSettlement
            || (event == SettlementEvent::Reject && settlement.is_fiat());
        if !stoppable || payout.as_ref().is_some_and(|p| !p.status.cancellable()) {
            let message = format!(
                "settlement order '{}' is {} and can no longer be stopped",
                settlement.settlement_order_no, settlement.status
            );
            return Err(Rejection::new(ErrorCode::Conflict, message).into());
        }
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        if let Some(payout) = payout {
            let mut failed = payout.moved(PayoutStatus::Failed, now).map_err(conflict)?;
            failed.note = Some(format!(
                "settlement {}",
                if event == SettlementEvent::Cancel {
                    "cancelled"
                } else {
                    "rejected"
                }
            ));
            changes.payouts.push(PayoutChange::Update {
                expected_version: payout.version,
                payout: failed,
            });
        }
        let after = self.end_settlement(settlement, event, reason, now, &mut changes)?;
        self.commit(changes).await?;
        Ok(after)
    }

    /// A settlement that will not be paid: its status moves by `event`, its reserved funds
    /// return to the merchant's available balance.
    pub(crate) fn end_settlement(
        &self,
        settlement: &Settlement,
        event: SettlementEvent,
        reason: Option<String>,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<Settlement, ServiceError> {
        let mut after = settlement.transition(event, now).map_err(conflict)?;
        after.failure_reason = reason;
        changes.postings.push(postings::release(
            balance_of(settlement, Bucket::Available),
            balance_of(settlement, Bucket::Reserved),
            settlement.amount,
            format!("settlement:{}", settlement.sysid),
        ));
        self.settlement_changed(settlement.version, after.clone(), now, changes)?;
        Ok(after)
    }

    /// Records a settlement's change and its `SETTLEMENT_ORDER_CHANGED` event.
    pub(crate) fn settlement_changed(
        &self,
        expected_version: i64,
        settlement: Settlement,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let view = self.settlement_view(&settlement)?;
        changes
            .events
            .push(settlement_changed_event(&view, &settlement, now));
        changes.settlements.push(SettlementChange::Update {
            expected_version,
            settlement,
        });
        Ok(())
    }

    /// GetSettlementOrderList.
    pub async fn list_settlements(
        &self,
        app: &App,
        request: ListSettlementsRequest,
    ) -> Result<PageView<SettlementView>, ServiceError> {
        let page = page_request(request.page_num, request.page_size)?;
        let status = match non_empty(request.settlement_status) {
            Some(text) => Some(SettlementStatus::parse(&text).ok_or_else(|| {
                Rejection::invalid(
                    "settlementStatus",
                    format!("'{text}' is not a settlement status"),
                )
            })?),
            None => None,
        };
        let filter = SettlementFilter {
            merchant_id: non_empty(request.merchant_id),
            token: non_empty(request.token),
            status,
            created_from: time_filter("startTime", request.start_time)?,
            created_to: time_filter("endTime", request.end_time)?,
        };
        let found = self.store.list_settlements(&app.id, &filter, page).await?;
        let records = found
            .records
            .iter()
            .map(|s| self.settlement_view(s))
            .collect::<Result<_, _>>()?;
        Ok(PageView {
            records,
            total: found.total,
            page_no: page.page,
            page_size: page.size,
        })
    }

    /// Operator: approves a settlement waiting for it. On chain, its payout is queued; fiat,
    /// it moves to `SETTLING` until the operator marks the wire paid.
    pub async fn approve_settlement(&self, sysid: &str) -> Result<Settlement, ServiceError> {
        let settlement = retry_on_conflict(|| async {
            let settlement = self.operator_settlement(sysid).await?;
            let now = self.clock.now();
            let after = settlement.approve(now).map_err(|_| {
                conflict(format!(
                    "settlement {sysid} is {} and needs no approval",
                    settlement.status
                ))
            })?;
            let mut changes = ChangeSet::default();
            let (_, chain) = self.token_of(&settlement.token)?;
            self.queue_settlement_payout(&after, chain, now, &mut changes)?;
            self.settlement_changed(settlement.version, after.clone(), now, &mut changes)?;
            self.commit(changes).await?;
            Ok(after)
        })
        .await?;
        self.payout_signal.notify_one();
        Ok(settlement)
    }

    /// Operator: rejects a settlement not paid yet; its funds return to the merchant.
    pub async fn reject_settlement(
        &self,
        sysid: &str,
        reason: &str,
    ) -> Result<Settlement, ServiceError> {
        let reason = non_empty(Some(reason.trim().to_owned()))
            .ok_or_else(|| Rejection::invalid("reason", "is required"))?;
        retry_on_conflict(|| async {
            let settlement = self.operator_settlement(sysid).await?;
            self.stop_settlement(&settlement, SettlementEvent::Reject, Some(reason.clone()))
                .await
        })
        .await
    }

    /// Operator: a fiat settlement's wire was sent; the merchant's reserved tokens become the
    /// operator's, and the settlement is `SETTLED` with the bank's reference.
    pub async fn mark_settlement_paid(
        &self,
        sysid: &str,
        bank_reference: &str,
    ) -> Result<Settlement, ServiceError> {
        let bank_reference = non_empty(Some(bank_reference.trim().to_owned()))
            .ok_or_else(|| Rejection::invalid("bankReference", "is required"))?;
        retry_on_conflict(|| async {
            let settlement = self.operator_settlement(sysid).await?;
            if !settlement.is_fiat() || settlement.status != SettlementStatus::Settling {
                return Err(Rejection::new(
                    ErrorCode::Conflict,
                    format!(
                        "settlement {sysid} is {}; only an approved fiat settlement is marked paid",
                        settlement.status
                    ),
                )
                .into());
            }
            let now = self.clock.now();
            let mut changes = ChangeSet::default();
            let mut after = settlement
                .transition(SettlementEvent::Complete, now)
                .map_err(conflict)?;
            after.bank_reference = Some(bank_reference.clone());
            changes.postings.push(postings::fiat_paid(
                balance_of(&settlement, Bucket::Reserved),
                &settlement.token,
                settlement.amount,
                format!("settlement:{}", settlement.sysid),
            ));
            self.settlement_changed(settlement.version, after.clone(), now, &mut changes)?;
            self.commit(changes).await?;
            Ok(after)
        })
        .await
    }

    /// Operator: settlements waiting for approval or for a fiat wire, oldest first.
    pub async fn settlements_for_operator(
        &self,
        limit: u32,
    ) -> Result<Vec<Settlement>, ServiceError> {
        let mut found = self
            .store
            .settlements_in_status(SettlementStatus::PendingSettlement, limit)
            .await?;
        found.retain(|s| !s.approved);
        let wires = self
            .store
            .settlements_in_status(SettlementStatus::Settling, limit)
            .await?;
        found.extend(wires.into_iter().filter(Settlement::is_fiat));
        Ok(found)
    }

    async fn operator_settlement(&self, sysid: &str) -> Result<Settlement, ServiceError> {
        let found = self.store.settlement(sysid.trim()).await?;
        found.ok_or_else(|| Rejection::not_found("settlement", sysid).into())
    }
}

fn merchant(value: Option<String>) -> Result<String, Rejection> {
    Ok(external_id("merchantId", value)?
        .unwrap_or_else(|| wcheckout_domain::ids::DEFAULT_MERCHANT_ID.to_owned()))
}

/// A settlement's merchant balance bucket.
fn balance_of(settlement: &Settlement, bucket: Bucket) -> Account {
    postings::merchant_account(
        &settlement.app_id,
        &settlement.merchant_id,
        &settlement.token,
        bucket,
    )
}
