//! What the console reads and does about settlements: one app's list at a time, one settlement,
//! and the operator's approve / reject / mark paid, through the same use cases as the
//! `settlement` command, each audited. A settlement of an app the operator may not see is as
//! absent as one that does not exist.

use std::net::IpAddr;

use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::Decimal;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::ports::{KeysetPage, PageRequest, SettlementFilter};
use wcheckout_domain::settlement::{Destination, Settlement, SettlementStatus};

use crate::console::actor_of;
use crate::console_lists::Export;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::wire::{BankAccount, SettlementView};

/// A page of one app's settlements, with the apps the operator may choose from.
#[derive(Debug, Clone)]
pub struct ConsoleSettlementList {
    /// The apps the operator sees, oldest first.
    pub apps: Vec<AppId>,
    /// The app listed (`None` when there is no app yet).
    pub app: Option<AppId>,
    /// Its settlements on this page, newest first.
    pub settlements: Vec<SettlementView>,
    /// Settlements matching the filter in all pages.
    pub total: u64,
}

/// One settlement as the console shows it, with what may be done to it now.
#[derive(Debug, Clone)]
pub struct ConsoleSettlement {
    /// Its app.
    pub app_id: AppId,
    /// The settlement as the API shows it.
    pub view: SettlementView,
    /// Where the money goes: the bank account of a fiat settlement (as the integrator gave it).
    pub bank: Option<BankAccount>,
    /// Waiting for an operator's approval.
    pub awaits_approval: bool,
    /// Approved and waiting for the wire to be marked paid.
    pub awaits_wire: bool,
    /// Can still be rejected: pending, or an approved fiat settlement not paid yet.
    pub rejectable: bool,
}

impl ConsoleSettlement {
    fn of(settlement: &Settlement, view: SettlementView) -> ConsoleSettlement {
        let pending = settlement.status == SettlementStatus::PendingSettlement;
        let settling = settlement.status == SettlementStatus::Settling;
        let bank = match &settlement.destination {
            Destination::Bank { account, .. } => serde_json::from_str(account).ok(),
            Destination::OnChain(_) => None,
        };
        ConsoleSettlement {
            app_id: settlement.app_id.clone(),
            view,
            bank,
            awaits_approval: pending && !settlement.approved,
            awaits_wire: settling && settlement.is_fiat(),
            // As the reject use case allows; a payout already on its way is refused there (409).
            rejectable: pending || (settling && settlement.is_fiat()),
        }
    }
}

/// What an operator does to a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementDecision {
    /// Approves it; `confirmed_amount` is the amount the confirmation page showed, which must
    /// still be the settlement's.
    Approve {
        /// The amount confirmed.
        confirmed_amount: String,
    },
    /// Rejects it, saying why.
    Reject {
        /// Why (shown to the integrator as `failureReason`).
        reason: String,
    },
    /// Marks the wire of an approved fiat settlement sent.
    MarkPaid {
        /// The bank's reference of the wire.
        bank_reference: String,
    },
}

impl SettlementDecision {
    /// The audit log's name of it.
    pub const fn action(&self) -> ConsoleAction {
        match self {
            SettlementDecision::Approve { .. } => ConsoleAction::ApproveSettlement,
            SettlementDecision::Reject { .. } => ConsoleAction::RejectSettlement,
            SettlementDecision::MarkPaid { .. } => ConsoleAction::MarkSettlementPaid,
        }
    }
}

fn conflict(message: String) -> ServiceError {
    ServiceError::rejected(ErrorCode::Conflict, message)
}

/// The longest reason or bank reference taken.
const MAX_NOTE_CHARS: usize = 200;

/// A reason or bank reference: some text, not too long, without control characters (which
/// PostgreSQL refuses in text, and which no reference has).
fn check_note(field: &str, text: &str) -> Result<(), ServiceError> {
    let text = text.trim();
    if text.is_empty()
        || text.chars().count() > MAX_NOTE_CHARS
        || text.chars().any(char::is_control)
    {
        let rule =
            format!("is required, at most {MAX_NOTE_CHARS} characters without control characters");
        return Err(Rejection::invalid(field, rule).into());
    }
    Ok(())
}

impl Gateway {
    /// A page of the settlements of `app` (chosen as for the order list) matching `filter`;
    /// `None` when the operator may not see that app or it does not exist.
    pub async fn console_list_settlements(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &SettlementFilter,
        page: PageRequest,
    ) -> Result<Option<ConsoleSettlementList>, ServiceError> {
        let Some((apps, chosen)) = self.console_app_choice(operator, app).await? else {
            return Ok(None);
        };
        let Some(listed) = chosen.clone() else {
            return Ok(Some(ConsoleSettlementList {
                apps,
                app: None,
                settlements: Vec::new(),
                total: 0,
            }));
        };
        let found = self.store.list_settlements(&listed, filter, page).await?;
        let settlements = found
            .records
            .iter()
            .map(|s| self.settlement_view(s))
            .collect::<Result<_, _>>()?;
        Ok(Some(ConsoleSettlementList {
            apps,
            app: chosen,
            settlements,
            total: found.total,
        }))
    }

    /// The settlement `sysid`, when `operator` may see it.
    pub async fn console_settlement(
        &self,
        operator: &Operator,
        sysid: &str,
    ) -> Result<Option<ConsoleSettlement>, ServiceError> {
        Ok(match self.visible_settlement(operator, sysid).await? {
            Some(settlement) => {
                let view = self.settlement_view(&settlement)?;
                Some(ConsoleSettlement::of(&settlement, view))
            }
            None => None,
        })
    }

    async fn visible_settlement(
        &self,
        operator: &Operator,
        sysid: &str,
    ) -> Result<Option<Settlement>, ServiceError> {
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
        if !printable(sysid) {
            return Ok(None);
        }
        let found = self.store.settlement(sysid).await?;
        Ok(found.filter(|s| operator.sees_app(&s.app_id)))
    }

    /// Does `decision` to the settlement `sysid` for `operator` (who must be allowed to, and
    /// see its app) through the operator's settlement use cases, and audits it with the
    /// settlement's sysid. `None` when the operator may not see it or it does not exist.
    pub async fn console_decide_settlement(
        &self,
        operator: &Operator,
        client: IpAddr,
        sysid: &str,
        decision: &SettlementDecision,
    ) -> Result<Option<Settlement>, ServiceError> {
        let action = decision.action();
        if !may(operator.role, action) {
            let refused = format!("role {} may not do {action}", operator.role);
            return Err(conflict(refused));
        }
        let Some(settlement) = self.visible_settlement(operator, sysid).await? else {
            return Ok(None);
        };
        let after = match decision {
            SettlementDecision::Approve { confirmed_amount } => {
                let shown = self.settlement_view(&settlement)?.amount;
                // The same number, however written ("30" confirms "30.00").
                let same = |text: &str| Decimal::parse(text.trim()).ok().map(|d| d.normalized());
                if same(&shown).is_none() || same(&shown) != same(confirmed_amount) {
                    return Err(conflict(format!(
                        "the settlement's amount is {shown}, not the {confirmed_amount} confirmed; \
                         look at it again"
                    )));
                }
                self.approve_settlement(sysid).await?
            }
            SettlementDecision::Reject { reason } => {
                check_note("reason", reason)?;
                self.reject_settlement(sysid, reason).await?
            }
            SettlementDecision::MarkPaid { bank_reference } => {
                check_note("bank_reference", bank_reference)?;
                self.mark_settlement_paid(sysid, bank_reference).await?
            }
        };
        let actor = actor_of(operator, client);
        audit(&*self.store, &actor, action, sysid, self.clock.now()).await?;
        Ok(Some(after))
    }
}

impl Gateway {
    /// Every settlement of `app` (chosen as for the list) matching `filter`, newest first, up
    /// to [`EXPORT_LIMIT`](crate::console_lists::EXPORT_LIMIT); `None` when the operator may not
    /// see that app.
    pub async fn console_export_settlements(
        &self,
        operator: &Operator,
        app: Option<&str>,
        filter: &SettlementFilter,
    ) -> Result<Option<Export<SettlementView>>, ServiceError> {
        self.console_app_export(operator, app, |app, keyset| async move {
            let page = self.store.settlement_keyset(&app, filter, &keyset).await?;
            let records = page
                .records
                .iter()
                .map(|s| self.settlement_view(s))
                .collect::<Result<_, _>>()?;
            Ok(KeysetPage {
                records,
                next: page.next,
                total: page.total,
            })
        })
        .await
    }
}
