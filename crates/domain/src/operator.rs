//! Operators of the console: their accounts, roles, the one rule deciding what a role may do
//! ([`may`]), the one transition function of an account's status, and the audit log's entries.

use std::fmt;

use crate::ids::AppId;
use crate::text_enum::text_enum;
use crate::time::Timestamp;

text_enum! {
    /// What an operator may do, from least to most: each role may do everything the roles
    /// before it may.
    pub enum Role {
        /// Reads.
        Viewer => "viewer",
        /// Also resends webhooks and cancels orders.
        Support => "support",
        /// Also approves, rejects and pays refunds and settlements.
        Finance => "finance",
        /// Also manages apps, credentials and operators.
        Admin => "admin",
    }
}

impl Role {
    /// Its rank: a role may do what every lower rank may.
    const fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Support => 1,
            Role::Finance => 2,
            Role::Admin => 3,
        }
    }
}

text_enum! {
    /// Everything an operator does in the console, as the audit log names it.
    pub enum ConsoleAction {
        /// Signs in.
        SignIn => "SIGN_IN",
        /// Signs out.
        SignOut => "SIGN_OUT",
        /// Ends every session of its own account (signing out everywhere).
        SignOutEverywhere => "SIGN_OUT_EVERYWHERE",
        /// Reads pages (orders, settlements, the overview).
        Read => "READ",
        /// Makes a webhook due again.
        ResendWebhook => "RESEND_WEBHOOK",
        /// Sends a test webhook to an app's endpoint.
        TestWebhook => "TEST_WEBHOOK",
        /// Cancels a paying order.
        CancelOrder => "CANCEL_ORDER",
        /// Approves a settlement.
        ApproveSettlement => "APPROVE_SETTLEMENT",
        /// Rejects a settlement.
        RejectSettlement => "REJECT_SETTLEMENT",
        /// Marks an approved bank settlement paid.
        MarkSettlementPaid => "MARK_SETTLEMENT_PAID",
        /// Opens the apps pages (what may be changed there is each named below).
        ManageApps => "MANAGE_APPS",
        /// Creates an app (its credentials are shown once).
        CreateApp => "CREATE_APP",
        /// Issues an app a new apiSecret and signKey.
        RotateSecret => "ROTATE_SECRET",
        /// Sets or removes an app's webhook URL.
        SetWebhookUrl => "SET_WEBHOOK_URL",
        /// Sets an app's IP allow-list.
        SetIpAllowlist => "SET_IP_ALLOWLIST",
        /// Sets the branding of an app's payment page.
        SetBranding => "SET_BRANDING",
        /// Refunds a paid order.
        CreateRefund => "CREATE_REFUND",
        /// Refunds an abnormal payment.
        RefundAbnormalPayment => "REFUND_ABNORMAL_PAYMENT",
        /// Sees the operator accounts (and, in older audit entries, created or disabled one).
        ManageOperators => "MANAGE_OPERATORS",
        /// Ends another session (any operator's).
        RevokeSession => "REVOKE_SESSION",
        /// Creates an operator account.
        CreateOperator => "CREATE_OPERATOR",
        /// Disables an operator account (its sessions end).
        DisableOperator => "DISABLE_OPERATOR",
        /// Enables a disabled operator account again.
        EnableOperator => "ENABLE_OPERATOR",
        /// Switches another account's second factor off, so that it can enrol again.
        ResetTotp => "RESET_TOTP",
        /// Switches on one's own second factor (TOTP), after a first code.
        EnableTotp => "ENABLE_TOTP",
        /// Switches off one's own second factor, with a current code.
        DisableTotp => "DISABLE_TOTP",
        /// Changes one's own password, given the current one (or, on the command line, sets an
        /// account's password); the account's sessions end.
        ChangePassword => "CHANGE_PASSWORD",
    }
}

impl ConsoleAction {
    /// The least role allowed to do it.
    const fn least_role(self) -> Role {
        match self {
            ConsoleAction::SignIn
            | ConsoleAction::SignOut
            | ConsoleAction::SignOutEverywhere
            | ConsoleAction::Read
            | ConsoleAction::EnableTotp
            | ConsoleAction::DisableTotp
            | ConsoleAction::ChangePassword => Role::Viewer,
            ConsoleAction::ResendWebhook
            | ConsoleAction::TestWebhook
            | ConsoleAction::CancelOrder => Role::Support,
            ConsoleAction::ApproveSettlement
            | ConsoleAction::RejectSettlement
            | ConsoleAction::MarkSettlementPaid
            | ConsoleAction::CreateRefund
            | ConsoleAction::RefundAbnormalPayment => Role::Finance,
            ConsoleAction::ManageApps
            | ConsoleAction::CreateApp
            | ConsoleAction::RotateSecret
            | ConsoleAction::SetWebhookUrl
            | ConsoleAction::SetIpAllowlist
            | ConsoleAction::SetBranding
            | ConsoleAction::ManageOperators
            | ConsoleAction::RevokeSession
            | ConsoleAction::CreateOperator
            | ConsoleAction::DisableOperator
            | ConsoleAction::EnableOperator
            | ConsoleAction::ResetTotp => Role::Admin,
        }
    }
}

/// Whether `role` may do `action`: the one rule every console route asks.
pub const fn may(role: Role, action: ConsoleAction) -> bool {
    role.rank() >= action.least_role().rank()
}

text_enum! {
    /// Whether an account may sign in.
    pub enum OperatorStatus {
        /// It may.
        Active => "ACTIVE",
        /// It may not (its sessions end too), until an admin enables it again.
        Disabled => "DISABLED",
    }
}

/// Something that happens to an operator account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorEvent {
    /// An admin disables it.
    Disable,
    /// An admin enables it again.
    Enable,
}

/// A transition the account's status does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operator account in status {from} cannot take {event:?}")]
pub struct InvalidOperatorTransition {
    /// Status before.
    pub from: OperatorStatus,
    /// What was attempted.
    pub event: OperatorEvent,
}

impl OperatorStatus {
    /// The only way an account changes status.
    pub fn apply(self, event: OperatorEvent) -> Result<OperatorStatus, InvalidOperatorTransition> {
        match (self, event) {
            (OperatorStatus::Active, OperatorEvent::Disable) => Ok(OperatorStatus::Disabled),
            (OperatorStatus::Disabled, OperatorEvent::Enable) => Ok(OperatorStatus::Active),
            (OperatorStatus::Disabled, OperatorEvent::Disable)
            | (OperatorStatus::Active, OperatorEvent::Enable) => {
                Err(InvalidOperatorTransition { from: self, event })
            }
        }
    }
}

/// The longest operator name.
pub const MAX_NAME_LEN: usize = 64;

/// Why a text is not an operator name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters: letters, digits, '.', '_', '-' or '@'")]
pub struct InvalidOperatorName;

/// Checks an operator name (its sign-in name, shown in the audit log).
pub fn check_name(name: &str) -> Result<(), InvalidOperatorName> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(allowed) {
        return Err(InvalidOperatorName);
    }
    Ok(())
}

/// An operator account. `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    /// Sign-in name, unique.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The one app it sees, or every app when `None`.
    pub app: Option<AppId>,
    /// The password's Argon2id hash (PHC string).
    pub password_hash: String,
    /// Whether it may sign in.
    pub status: OperatorStatus,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// The second factor, when switched on.
    pub totp: Option<OperatorTotp>,
    /// The last successful sign-in, when known.
    pub last_sign_in_at: Option<Timestamp>,
}

/// An operator's second factor (RFC 6238 TOTP). `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorTotp {
    /// The shared secret, sealed with the master key (never kept in the clear).
    pub sealed_secret: String,
    /// The time step of the last code accepted: a code of this step or an earlier one is never
    /// accepted again.
    pub last_step: Option<i64>,
}

impl fmt::Debug for OperatorTotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorTotp")
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Whether it may see `app`'s data.
    pub fn sees_app(&self, app: &AppId) -> bool {
        self.app.as_ref().is_none_or(|own| own == app)
    }
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("app", &self.app)
            .field("status", &self.status)
            .field("totp", &self.totp.is_some())
            .field("last_sign_in_at", &self.last_sign_in_at)
            .finish_non_exhaustive()
    }
}

/// A signed-in session of the console. Only the hash of its token is kept; `Debug` leaves even
/// that out.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the session token, hex.
    pub token_hash: String,
    /// The operator's name.
    pub operator: String,
    /// Signed in.
    pub created_at: Timestamp,
    /// Ends.
    pub expires_at: Timestamp,
}

impl fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("operator", &self.operator)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One line of the audit log: who did what to what, when and from where. It is never changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The operator's name (`cli` for the command line).
    pub operator: String,
    /// What was done.
    pub action: ConsoleAction,
    /// What it was done to (an order number, a settlement number, an operator name), or "".
    pub target: String,
    /// When.
    pub at: Timestamp,
    /// The client's address (`local` for the command line).
    pub client: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every role against every action, written out: a change to the rule changes this table.
    #[test]
    fn may_decides_every_role_and_action() {
        use ConsoleAction as A;
        let allowed = |role: Role| -> Vec<ConsoleAction> {
            let reader = vec![
                A::SignIn,
                A::SignOut,
                A::SignOutEverywhere,
                A::Read,
                A::EnableTotp,
                A::DisableTotp,
                A::ChangePassword,
            ];
            let support = [
                reader.clone(),
                vec![A::ResendWebhook, A::TestWebhook, A::CancelOrder],
            ]
            .concat();
            let finance = [
                support.clone(),
                vec![
                    A::ApproveSettlement,
                    A::RejectSettlement,
                    A::MarkSettlementPaid,
                    A::CreateRefund,
                    A::RefundAbnormalPayment,
                ],
            ]
            .concat();
            match role {
                Role::Viewer => reader,
                Role::Support => support,
                Role::Finance => finance,
                Role::Admin => ConsoleAction::ALL.to_vec(),
            }
        };
        for role in Role::ALL {
            for action in ConsoleAction::ALL {
                assert_eq!(
                    may(role, action),
                    allowed(role).contains(&action),
                    "{role} / {action}"
                );
            }
        }
    }

    #[test]
    fn roles_and_actions_round_trip_as_text() {
        assert_eq!(Role::parse("finance"), Some(Role::Finance));
        assert_eq!(Role::parse("Finance"), None);
        assert_eq!(Role::parse("root"), None);
        for action in ConsoleAction::ALL {
            assert_eq!(ConsoleAction::parse(action.as_str()), Some(action));
        }
    }

    #[test]
    fn an_account_is_disabled_once_and_enabled_again() {
        let disabled = OperatorStatus::Active.apply(OperatorEvent::Disable);
        assert_eq!(disabled, Ok(OperatorStatus::Disabled));
        assert_eq!(
            OperatorStatus::Disabled.apply(OperatorEvent::Enable),
            Ok(OperatorStatus::Active)
        );
        assert_eq!(
            OperatorStatus::Active.apply(OperatorEvent::Enable),
            Err(InvalidOperatorTransition {
                from: OperatorStatus::Active,
                event: OperatorEvent::Enable
            })
        );
        assert_eq!(
            OperatorStatus::Disabled.apply(OperatorEvent::Disable),
            Err(InvalidOperatorTransition {
                from: OperatorStatus::Disabled,
                event: OperatorEvent::Disable
            })
        );
    }

    #[test]
    fn names_are_checked() {
        for good in ["alice", "a", "ops.team_1-x@example.com", &"n".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "with space", "tab\t", "ünï", "<b>", &"n".repeat(65)] {
            assert_eq!(check_name(bad), Err(InvalidOperatorName), "{bad}");
        }
    }

    #[test]
    fn debug_leaves_the_password_hash_out() {
        let operator = Operator {
            name: "alice".into(),
            role: Role::Admin,
            app: Some(AppId::new("app_1")),
            password_hash: "$argon2id$v=19$secret-hash".into(),
            status: OperatorStatus::Active,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
            totp: Some(OperatorTotp {
                sealed_secret: "v1.sealed-totp-secret".into(),
                last_step: Some(7),
            }),
            last_sign_in_at: None,
        };
        let shown = format!("{operator:?}");
        assert!(
            shown.contains("alice") && !shown.contains("argon2") && !shown.contains("sealed"),
            "{shown}"
        );
        assert!(shown.contains("totp: true"), "{shown}");
        assert!(operator.sees_app(&AppId::new("app_1")));
        assert!(!operator.sees_app(&AppId::new("app_2")));
        let unbound = Operator {
            app: None,
            ..operator
        };
        assert!(unbound.sees_app(&AppId::new("app_2")));
    }
}
