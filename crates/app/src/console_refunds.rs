//! Refunds from the console (`finance` and above): a paid order, or one of its abnormal
//! payments, refunded through the integrator's own use cases (CreateRefundOrder,
//! CreateAbnormalPaymentRefund), so the ledger, the payout queue and the webhooks follow as from
//! the API. It takes two steps: [`Gateway::console_refund_confirmation`] checks the request and
//! names what would be sent where (the amount, token and resolved destination), changing
//! nothing; [`Gateway::console_refund`] does it with exactly what was confirmed. The refund number
//! is chosen once by the form, so sending the same request again is answered with the same refund
//! and a changed one under that number is refused.

use std::net::IpAddr;

use wcheckout_domain::abnormal::{AbnormalPayment, AbnormalStatus};
use wcheckout_domain::address::Address;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::IntegratorNo;
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::token::{Chain, Token};

use crate::console::actor_of;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::refunds::token_amount;
use crate::wire::{
    CreateAbnormalPaymentRefundRequest, CreateRefundOrderRequest, JsonDecimal, RefundView,
};

/// What a refund form sends: the refund number it chose, the amount (empty refunds what is
/// left of an abnormal payment), the destination (empty sends to the payer), and, once
/// confirmed, the token the confirmation named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundForm {
    /// The refund number, chosen once when the form was shown.
    pub refund_no: String,
    /// Whole tokens.
    pub amount: String,
    /// Where the refund goes.
    pub address: String,
    /// The token confirmed (empty before the confirmation).
    pub token: String,
}

/// What is refunded: a paid order, or one of its abnormal payments (by number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundOf<'a> {
    /// The order's payment.
    Order,
    /// The abnormal payment of this number.
    Abnormal(&'a str),
}

impl RefundOf<'_> {
    /// The audit log's name of refunding it.
    pub const fn action(&self) -> ConsoleAction {
        match self {
            RefundOf::Order => ConsoleAction::CreateRefund,
            RefundOf::Abnormal(_) => ConsoleAction::RefundAbnormalPayment,
        }
    }
}

/// A refund checked and ready to be confirmed: what goes where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundConfirmation {
    /// The order's sysid.
    pub order_sysid: String,
    /// The order's number.
    pub order_no: String,
    /// Its app.
    pub app_id: String,
    /// The abnormal payment refunded, if one is.
    pub abnormal_payment_no: Option<String>,
    /// The refund number.
    pub refund_no: String,
    /// The amount, in whole tokens, as the token shows it (`12.50`).
    pub amount: String,
    /// The token (`ETH_USDT`).
    pub token: String,
    /// The destination, in its chain's form.
    pub address: String,
}

/// The refund checked: its order, source, amount and destination.
struct Checked {
    order: Order,
    abnormal: Option<AbnormalPayment>,
    refund_no: IntegratorNo,
    amount: TokenAmount,
    amount_shown: Decimal,
    address: Address,
}

fn conflict(message: String) -> ServiceError {
    ServiceError::rejected(ErrorCode::Conflict, message)
}

impl Gateway {
    /// Checks a refund `operator` asks for and names what it would send where, changing
    /// nothing; `None` when the operator may not see the order (or the abnormal payment is not
    /// one of it) or it does not exist.
    pub async fn console_refund_confirmation(
        &self,
        operator: &Operator,
        sysid: &str,
        of: RefundOf<'_>,
        form: &RefundForm,
    ) -> Result<Option<RefundConfirmation>, ServiceError> {
        let Some(checked) = self.check_refund(operator, sysid, of, form).await? else {
            return Ok(None);
        };
        Ok(Some(RefundConfirmation {
            order_sysid: checked.order.sysid.clone(),
            order_no: checked.order.order_no.to_string(),
            app_id: checked.order.app_id.to_string(),
            abnormal_payment_no: checked.abnormal.map(|p| p.abnormal_payment_no),
            refund_no: checked.refund_no.to_string(),
            amount: checked.amount_shown.to_string(),
            token: checked.order.token.to_string(),
            address: checked.address.to_string(),
        }))
    }

    /// Refunds what `form` confirmed through the integrator's use case, and audits it with the
    /// refund's sysid when it is new (the same request again answers the same refund; a changed
    /// one under the same number is refused there). `None` as for the confirmation.
    pub async fn console_refund(
        &self,
        operator: &Operator,
        client: IpAddr,
        sysid: &str,
        of: RefundOf<'_>,
        form: &RefundForm,
    ) -> Result<Option<RefundView>, ServiceError> {
        let Some(checked) = self.check_refund(operator, sysid, of, form).await? else {
            return Ok(None);
        };
        let order = &checked.order;
        if form.token.trim() != order.token.as_str() {
            return Err(conflict(format!(
                "the order is paid in {}, not the {} confirmed; look at it again",
                order.token,
                form.token.trim()
            )));
        }
        let app = self.store.app(&order.app_id).await?;
        let app = app.ok_or_else(|| ServiceError::internal("an order's app is missing"))?;
        let before = self.store.refund_by_no(&app.id, &checked.refund_no).await?;
        let amount = Some(JsonDecimal(
            checked.amount.to_decimal(self.refund_decimals(order)?),
        ));
        let address = Some(checked.address.to_string());
        let refund_order_no = checked.refund_no.to_string();
        let view = match &checked.abnormal {
            None => {
                let body = CreateRefundOrderRequest {
                    refund_order_no,
                    order_no: Some(order.order_no.to_string()),
                    abnormal_payment_no: None,
                    amount,
                    address,
                    remark: None,
                };
                self.create_refund(&app, body).await?
            }
            Some(payment) => {
                let body = CreateAbnormalPaymentRefundRequest {
                    refund_order_no,
                    order_no: Some(order.order_no.to_string()),
                    tx_hash: None,
                    abnormal_payment_no: Some(payment.abnormal_payment_no.clone()),
                    token: Some(order.token.to_string()),
                    amount,
                    address,
                    remark: None,
                };
                self.create_abnormal_refund(&app, body).await?
            }
        };
        if before.is_none() {
            let actor = actor_of(operator, client);
            let now = self.clock.now();
            audit(&*self.store, &actor, of.action(), &view.sysid, now).await?;
        }
        Ok(Some(view))
    }

    fn refund_decimals(&self, order: &Order) -> Result<u8, ServiceError> {
        Ok(self.token_of(&order.token)?.0.decimals)
    }

    /// The order and what the form asks, checked as the use case will; `None` when hidden.
    async fn check_refund(
        &self,
        operator: &Operator,
        sysid: &str,
        of: RefundOf<'_>,
        form: &RefundForm,
    ) -> Result<Option<Checked>, ServiceError> {
        let action = of.action();
        if !may(operator.role, action) {
            return Err(conflict(format!(
                "role {} may not do {action}",
                operator.role
            )));
        }
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
        if !printable(sysid) {
            return Ok(None);
        }
        let order = self.store.order_by_sysid(sysid).await?;
        let Some(order) = order.filter(|o| operator.sees_app(&o.app_id)) else {
            return Ok(None);
        };
        let abnormal = match of {
            RefundOf::Order => None,
            RefundOf::Abnormal(no) if printable(no) => {
                let found = self.store.abnormal_payment(no).await?;
                match found.filter(|p| p.order_sysid == order.sysid) {
                    Some(payment) => Some(payment),
                    None => return Ok(None),
                }
            }
            RefundOf::Abnormal(_) => return Ok(None),
        };
        let refund_no = IntegratorNo::parse(form.refund_no.trim()).ok_or_else(|| {
            Rejection::invalid("refund_no", "must be 1 to 64 letters, digits, '_' or '-'")
        })?;
        // A refund already made under this number is answered by the use case (the same one
        // again, or a refusal if changed), even once nothing is left to refund.
        let made = self.store.refund_by_no(&order.app_id, &refund_no).await?;
        if made.is_none() {
            refundable_now(&order, abnormal.as_ref())?;
        }
        let (token, chain) = self.token_of(&order.token)?;
        let amount = match (form.amount.trim(), &abnormal) {
            ("", Some(payment)) => payment.pending_amount,
            ("", None) => return Err(Rejection::invalid("amount", "is required").into()),
            (text, _) => amount_of(text, token)?,
        };
        let address = self
            .refund_destination(&order, abnormal.as_ref(), chain, &form.address)
            .await?;
        let amount_shown = amount
            .to_decimal(token.decimals)
            .with_min_scale(u32::from(token.payment_scale));
        Ok(Some(Checked {
            order,
            abnormal,
            refund_no,
            amount,
            amount_shown,
            address,
        }))
    }

    /// The address typed (checked as a payout destination), or who paid when none is.
    async fn refund_destination(
        &self,
        order: &Order,
        abnormal: Option<&AbnormalPayment>,
        chain: &Chain,
        typed: &str,
    ) -> Result<Address, ServiceError> {
        if !typed.trim().is_empty() {
            return self.payout_address(chain, "address", typed).await;
        }
        let payer = match (abnormal, &order.tx_hash) {
            (Some(payment), _) => payment.payer,
            (None, Some(tx)) => self
                .store
                .transfers_of_tx(&chain.key, tx)
                .await?
                .iter()
                .find(|t| t.to == order.deposit_address)
                .map(|t| t.from),
            (None, None) => None,
        };
        payer.ok_or_else(|| {
            Rejection::invalid("address", "is required: the payer's address is not known").into()
        })
    }
}

/// Whether the order (or its abnormal payment) can be refunded at all now.
fn refundable_now(order: &Order, abnormal: Option<&AbnormalPayment>) -> Result<(), ServiceError> {
    match abnormal {
        Some(payment)
            if payment.status == AbnormalStatus::Handled || payment.pending_amount.is_zero() =>
        {
            Err(conflict(format!(
                "abnormal payment '{}' is already handled",
                payment.abnormal_payment_no
            )))
        }
        Some(_) => Ok(()),
        None => match order.status {
            OrderStatus::Paid | OrderStatus::PartialRefunded | OrderStatus::Refunding => Ok(()),
            status => Err(conflict(format!(
                "order '{}' is {status} and cannot be refunded",
                order.order_no
            ))),
        },
    }
}

/// An amount typed in whole tokens: a number above zero, no finer than the token's decimals.
fn amount_of(text: &str, token: &Token) -> Result<TokenAmount, ServiceError> {
    let value = Decimal::parse(text)
        .map_err(|_| Rejection::invalid("amount", "must be a number of tokens, e.g. 12.5"))?;
    token_amount("amount", &value, token)
        .map_err(|rejection| Rejection::new(ErrorCode::InvalidParameter, rejection.message).into())
}

/// Whether an order in `status` offers a refund on its page.
pub fn offers_refund(status: &str) -> bool {
    OrderStatus::parse(status).is_some_and(|s| {
        matches!(
            s,
            OrderStatus::Paid | OrderStatus::PartialRefunded | OrderStatus::Refunding
        )
    })
}
